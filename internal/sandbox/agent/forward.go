package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Variables by which a backend tells the agent to relay the egress proxy:
// listen on EnvEgressListen (an address of the sandbox's own network
// namespace) and splice each connection to the Unix socket EnvEgressSocket.
// The agent removes both from the environment commands get.
const (
	EnvEgressSocket = "HANGAR_EGRESS_SOCKET"
	EnvEgressListen = "HANGAR_EGRESS_LISTEN"
)

// startForwarder starts the relay if env asks for one and returns env
// without the agent's own variables.
func startForwarder(env []string) ([]string, error) {
	var sock, addr string
	out := env[:0:0]
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, EnvEgressSocket+"="):
			sock = kv[len(EnvEgressSocket)+1:]
		case strings.HasPrefix(kv, EnvEgressListen+"="):
			addr = kv[len(EnvEgressListen)+1:]
		default:
			out = append(out, kv)
		}
	}
	if sock == "" && addr == "" {
		return out, nil
	}
	if sock == "" || addr == "" {
		return out, fmt.Errorf("egress forwarder: %s and %s go together", EnvEgressSocket, EnvEgressListen)
	}
	ln, err := listenRetry(addr, 5*time.Second)
	if err != nil {
		return out, fmt.Errorf("egress forwarder: %w", err)
	}
	go Forward(ln, sock)
	return out, nil
}

// listenRetry listens on addr, retrying while it is in use for up to
// wait: an agent exec'd into a sandbox that outlived its server (docker,
// reattached after a restart) can start before the previous agent, whose
// control channel died with that server, has exited and freed the port.
func listenRetry(addr string, wait time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(wait)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Forward accepts connections on ln until it is closed and splices each to
// the Unix socket at sock, dialled per connection (the proxy may come and
// go while the sandbox lives; a connection then fails like a refused one).
func Forward(ln net.Listener, sock string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds or pids: back off rather than spin.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go splice(c, sock)
	}
}

func splice(c net.Conn, sock string) {
	defer c.Close()
	u, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-tool: egress forwarder:", err)
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Pass the EOF on so request/response protocols finish, and let
		// the other direction drain.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go half(u, c)
	go half(c, u)
	wg.Wait()
}
