package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// A session's event ids sort as its log does, although a turn logs many
// events within one millisecond, and a tool use followed by text is logged
// with ids announced at different times (the text's at its block's start).
func TestEventIDsFollowLog(t *testing.T) {
	calls := modeltest.Turn{Content: []model.Block{
		model.Text("first"),
		model.ToolUse("", "nope", json.RawMessage(`{}`)),
		model.ToolUse("", "nada", json.RawMessage(`{}`)),
		model.Text("then"),
	}}
	h := newHarness(t, nil, calls, modeltest.Text("done"), calls, modeltest.Text("done again"))
	h.open()
	id := h.session()
	h.send(id, text("go"))
	h.waitIdle(id, "end_turn", 0)
	h.send(id, text("once more"))
	evs := h.waitIdle(id, "end_turn", 1)
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			dumpLog(t, h.st, id)
			t.Fatalf("event %d (%s %s) does not sort after event %d (%s %s)", evs[i].Seq, evs[i].Type, evs[i].ID, evs[i-1].Seq, evs[i-1].Type, evs[i-1].ID)
		}
	}
}
