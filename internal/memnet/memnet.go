// Package memnet is an in-memory net.Listener: every Dial is a net.Pipe
// pair whose other end Accept returns, so an http.Server and an http.Client
// in one process talk through the real HTTP code without a socket.
package memnet

import (
	"context"
	"net"
	"sync"
)

// Listener hands Accept the connections Dial makes.
type Listener struct {
	name  string
	wrap  func(net.Conn) net.Conn
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewListener returns a listener whose Addr is name. wrap, when set, wraps
// the server's end of each connection (so the server can tell them apart).
func NewListener(name string, wrap func(net.Conn) net.Conn) *Listener {
	return &Listener{name: name, wrap: wrap, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Dial connects to the listener; it fails with net.ErrClosed once the
// listener is closed, or with ctx's error.
func (l *Listener) Dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	var sc net.Conn = server
	if l.wrap != nil {
		sc = l.wrap(server)
	}
	select {
	case l.conns <- sc:
		return client, nil
	case <-l.done:
		_, _ = client.Close(), server.Close()
		return nil, net.ErrClosed
	case <-ctx.Done():
		_, _ = client.Close(), server.Close()
		return nil, ctx.Err()
	}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; it is idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return addr(l.name) }

type addr string

func (addr) Network() string  { return "memory" }
func (a addr) String() string { return string(a) }
