package sandboxworker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A worker's warnings and errors reach the server log at their own level;
// its other lines stay at debug.
func TestLineLogLevels(t *testing.T) {
	var out bytes.Buffer
	l := &lineLog{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})), session: "sesn_1"}
	_, _ = l.Write([]byte("time=x level=DEBUG msg=request\ntime=x level=WARN msg=\"worker warm-up failed\"\ntime=x level=ERROR msg=boom\npartial"))
	l.flush()
	got := out.String()
	for _, want := range []string{"level=WARN msg=\"sandbox worker\" session=sesn_1", "warm-up failed", "level=ERROR", "boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"msg=request", "partial"} {
		if strings.Contains(got, not) {
			t.Errorf("debug line %q reached an info log:\n%s", not, got)
		}
	}
}
