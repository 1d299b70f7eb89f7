package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

// An http.Server on the listener answers a client dialling it; after Close,
// Dial fails with net.ErrClosed and Serve returns.
func TestHTTPOverListener(t *testing.T) {
	ln := NewListener("test", nil)
	served := make(chan error, 1)
	go func() {
		served <- http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	}()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.Dial(ctx) }}}
	resp, err := c.Get("http://test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("body %q", b)
	}
	ln.Close()
	if _, err := ln.Dial(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial after close: %v", err)
	}
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("serve: %v", err)
	}
}
