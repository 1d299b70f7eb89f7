package agent

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// FuzzClientDecode feeds the host's decoder arbitrary agent output: what
// comes back over the control channel is written by code inside the
// sandbox, so it must never panic or wedge the host, whatever it says.
func FuzzClientDecode(f *testing.F) {
	for _, s := range []string{
		`{"op":"ready"}` + "\n" + `{"id":1,"op":"started"}` + "\n" + `{"id":1,"op":"stdout","data":"aGk="}` + "\n" + `{"id":1,"op":"exit","code":3}` + "\n",
		`{"op":"ready"}` + "\n" + `{"id":1,"op":"started"}` + "\n" + `{"id":1,"op":"started"}` + "\n" + `{"id":1,"op":"exit"}` + "\n" + `{"id":1,"op":"exit"}` + "\n",
		`{"id":2,"op":"result","text":"x","is_error":true}` + "\n",
		`{"id":18446744073709551615,"op":"done","err":"e"}`,
		"not json\n",
		`{"op":"ready"}` + "\n" + `{"id":1,"op":"stderr","data":"!!"}`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sink bytes.Buffer
		c := NewClient(bytes.NewReader(data), nopCloser{&sink})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = c.Ready(ctx)
		p, err := c.Exec(ctx, sandbox.ExecRequest{Argv: []string{"x"}, Stdout: io.Discard, Stderr: io.Discard}, 0)
		if err == nil {
			_, _ = p.Wait(ctx)
		}
		_, _ = c.RunTool(ctx, "bash", nil)
		_ = c.GetFile(ctx, "/x", io.Discard)
		select {
		case <-c.Dead():
		case <-ctx.Done():
		}
	})
}
