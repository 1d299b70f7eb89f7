package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

// The host takes an agent of its own protocol version and refuses another
// (a hangar-agent binary left from another build), naming both versions.
func TestReadyProtocolVersion(t *testing.T) {
	for _, v := range []int{ProtocolVersion, ProtocolVersion + 1, 0} {
		r, w := io.Pipe()
		c := NewClient(r, discard{})
		go fmt.Fprintf(w, `{"op":"ready","version":%d}`+"\n", v)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Ready(ctx)
		cancel()
		switch {
		case v == ProtocolVersion && err != nil:
			t.Errorf("version %d refused: %v", v, err)
		case v != ProtocolVersion && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("protocol %d, this server %d", v, ProtocolVersion))):
			t.Errorf("version %d: %v", v, err)
		}
		_ = w.Close()
	}
}
