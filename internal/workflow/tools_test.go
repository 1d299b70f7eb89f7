package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// The tools are well-formed definitions the engine can hand the model.
func TestToolDefinitions(t *testing.T) {
	tools := Tools(Agents{Predefined: []string{"reader"}})
	if len(tools) != 3 {
		t.Fatalf("%d tools", len(tools))
	}
	for i, name := range []string{ToolStart, ToolGet, ToolStop} {
		tl := tools[i]
		if tl.Name != name || !IsTool(name) || tl.Description == "" {
			t.Errorf("tool %d = %+v", i, tl)
		}
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tl.InputSchema, &schema); err != nil || schema.Type != "object" {
			t.Errorf("%s schema: %v %s", name, err, tl.InputSchema)
		}
	}
	if d := tools[0].Description; !strings.Contains(d, "reader") || !strings.Contains(d, "cannot define agents") {
		t.Errorf("start description does not reflect the session's agents")
	}
	if IsTool("bash") {
		t.Error("bash is a workflow tool")
	}
}

// The agent starts a run, checks on it, reads its result, and stops runs;
// bad calls come back as tool errors for the model.
func TestExecuteTool(t *testing.T) {
	ctx := context.Background()
	sink := &recSink{}
	runner := &fakeRunner{answer: func(ctx context.Context, req ThreadRequest) (string, error) {
		if req.Prompt == "wait" {
			return blockUntilCancelled(ctx, req)
		}
		return strings.ToUpper(req.Prompt), nil
	}}
	g := NewRegistry(newConfig(runner, sink))

	res, err := ExecuteTool(ctx, g, ToolStart, json.RawMessage(`{"name":"caps","phases":[{"name":"Shout"}],"input":["a","b"],"program":"return phase('Shout', () => parallel(input))"}`))
	if err != nil || res.IsError {
		t.Fatalf("start: %+v %v", res, err)
	}
	var started struct {
		ID     string `json:"workflow_run_id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(res.Content), &started); err != nil || started.Status != StatusRunning || !strings.HasPrefix(started.ID, RunPrefix) {
		t.Fatalf("start result = %s", res.Content)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	res, err = ExecuteTool(ctx, g, ToolGet, json.RawMessage(`{"workflow_run_id":"`+started.ID+`"}`))
	if err != nil || res.IsError {
		t.Fatalf("get: %+v %v", res, err)
	}
	var view struct {
		Status string                 `json:"status"`
		Result wire.WorkflowRunResult `json:"result"`
		Output json.RawMessage        `json:"output"`
		Phases []struct{ State string }
		Thread map[string]int `json:"threads"`
	}
	if err := json.Unmarshal([]byte(res.Content), &view); err != nil || view.Status != StatusEnded ||
		view.Result.Type != wire.WorkflowRunCompleted || compact(view.Output) != `["A","B"]` ||
		len(view.Phases) != 1 || view.Phases[0].State != "ended" || view.Thread["finished"] != 2 {
		t.Fatalf("get result = %s", res.Content)
	}

	res, _ = ExecuteTool(ctx, g, ToolStart, json.RawMessage(`{"program":"agent('wait')"}`))
	_ = json.Unmarshal([]byte(res.Content), &started)
	res, err = ExecuteTool(ctx, g, ToolStop, json.RawMessage(`{"workflow_run_id":"`+started.ID+`"}`))
	if err != nil || res.IsError || !strings.Contains(res.Content, `"stopped"`) {
		t.Fatalf("stop: %+v %v", res, err)
	}
	res, _ = ExecuteTool(ctx, g, ToolGet, nil)
	if !strings.Contains(res.Content, `"workflow_runs"`) || strings.Count(res.Content, RunPrefix) != 2 {
		t.Errorf("list = %s", res.Content)
	}

	for _, tc := range []struct {
		name, tool, input, want string
	}{
		{"unknown field", ToolStart, `{"program":"return 1","colour":"red"}`, "invalid input"},
		{"syntax error", ToolStart, `{"program":"return ("}`, "not valid JavaScript"},
		{"unknown run", ToolGet, `{"workflow_run_id":"wrun_nope"}`, "no workflow run"},
		{"stop without id", ToolStop, `{}`, "workflow_run_id is required"},
		{"stop unknown run", ToolStop, `{"workflow_run_id":"wrun_nope"}`, "no workflow run"},
		{"not a workflow tool", "bash", `{}`, "not a workflow tool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ExecuteTool(ctx, g, tc.tool, json.RawMessage(tc.input))
			if err != nil || !res.IsError || !strings.Contains(res.Content, tc.want) {
				t.Errorf("%+v %v, want a tool error mentioning %q", res, err, tc.want)
			}
		})
	}
}

func compact(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}
