package engine

import (
	"testing"

	"github.com/hangarhq/hangar/internal/tool"
)

// The engine bounds the tool calls it runs itself by the one tool call
// timeout that the workers' session runner applies to theirs.
func TestToolTimeoutIsTheToolCallTimeout(t *testing.T) {
	var o Options
	o.defaults()
	if o.ToolTimeout != tool.CallTimeout {
		t.Fatalf("default ToolTimeout = %v, want tool.CallTimeout (%v)", o.ToolTimeout, tool.CallTimeout)
	}
}
