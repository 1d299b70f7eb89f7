package egress

// In-process clients: the server's own requests on behalf of a session
// (web_fetch) leave through that session's proxy session, so the one
// policy, the internal-address guard and the readable denials apply to
// them exactly as to the sandbox.
//
// Session.Dial hands the caller one end of an in-memory connection whose
// other end the session's http.Server serves like any sandbox connection:
// no socket file (which a pooled sandbox may have moved), no port, no
// kernel round trip. The caller speaks ordinary forward-proxy HTTP over it
// (absolute-URI requests, CONNECT for HTTPS), which *http.Transport does
// when its Proxy is set and its DialContext returns this connection.
//
// Such connections differ from the sandbox's in one way: the proxy never
// substitutes a credential into them and never intercepts their TLS. The
// server's own requests carry no placeholders, so there is nothing to
// substitute, and a blind tunnel lets the client verify the real upstream
// certificate end to end instead of trusting the session CA.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/hangarhq/hangar/internal/memnet"
)

// RefusalHeader marks a response the proxy wrote itself (a denial, a bad
// request, an upstream that could not be reached) rather than one from the
// destination; the proxy strips it from upstream responses so a
// destination cannot pose as the proxy.
const RefusalHeader = "X-Hangar-Egress"

// Denied is a request the proxy refused by policy or by its
// internal-address guard; Error is the proxy's readable message.
type Denied struct{ Msg string }

func (e *Denied) Error() string { return e.Msg }

// Refusal reports whether resp was written by the proxy rather than the
// destination; it returns a *Denied for a refusal (403) and a plain error
// for any other failure, reading at most 4 KiB of the body for the
// message. It returns nil for a response from the destination.
func Refusal(resp *http.Response) error {
	if resp == nil || resp.Header.Get(RefusalHeader) == "" {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = "hangar egress: " + resp.Status
	}
	if resp.StatusCode == http.StatusForbidden {
		return &Denied{Msg: msg}
	}
	return errors.New(msg)
}

// serverKey marks the context of requests that arrived over Session.Dial.
type serverKey struct{}

// fromServer reports whether a request came from the server itself (over
// Session.Dial) rather than from the sandbox.
func fromServer(ctx context.Context) bool {
	v, _ := ctx.Value(serverKey{}).(bool)
	return v
}

// connContext is the session http.Server's ConnContext.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if _, ok := c.(*serverConn); ok {
		return context.WithValue(ctx, serverKey{}, true)
	}
	return ctx
}

// serverConn is the proxy's end of a Session.Dial connection.
type serverConn struct{ net.Conn }

// Dial returns a connection to this session's proxy, for the server's own
// requests on the session's behalf. Close it when done.
func (s *Session) Dial(ctx context.Context) (net.Conn, error) {
	ln, err := s.memListener()
	if err != nil {
		return nil, err
	}
	c, err := ln.Dial(ctx)
	if errors.Is(err, net.ErrClosed) {
		return nil, fmt.Errorf("egress: session %s is closed", s.id)
	}
	return c, err
}

// memListener starts, once, the in-memory listener Dial feeds. It is not
// one of the session's listeners (Addr names the sandbox's), but
// srv.Close closes it with the others.
func (s *Session) memListener() (*memnet.Listener, error) {
	s.mem.once.Do(func() {
		ln := memnet.NewListener("hangar-server", func(c net.Conn) net.Conn { return &serverConn{c} })
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		s.mem.ln = ln
		go func() {
			_ = s.srv.Serve(ln)
			ln.Close()
		}()
	})
	if s.mem.ln == nil {
		return nil, fmt.Errorf("egress: session %s is closed", s.id)
	}
	return s.mem.ln, nil
}

type memState struct {
	once sync.Once
	ln   *memnet.Listener
}
