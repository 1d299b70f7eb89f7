package tool

import (
	"encoding/json"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// TOL: the catalogue offers exactly the enabled toolset tools with the
// official names and schemas, and custom tools as given.
func TestCatalog(t *testing.T) {
	ts := &wire.AgentToolset{Type: wire.ToolTypeAgentToolset}
	for _, n := range wire.AgentToolsetTools {
		ts.Configs = append(ts.Configs, wire.AgentToolConfig{Name: n, Enabled: n != "grep", PermissionPolicy: wire.PermissionPolicy{Type: map[bool]string{true: AlwaysAsk, false: AlwaysAllow}[n == "bash"]}})
	}
	custom := &wire.CustomTool{Type: "custom", Name: "lookup", Description: "d", InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}
	defs := Catalog([]wire.AgentTool{{Toolset: ts}, {Custom: custom}})
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
		if len(d.InputSchema) == 0 || d.Description == "" {
			t.Errorf("%s: empty schema or description", d.Name)
		}
	}
	want := []string{"bash", "read", "write", "edit", "glob", "web_fetch", "web_search", "lookup"}
	if len(names) != len(want) {
		t.Fatalf("names = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("names = %v, want %v", names, want)
		}
	}
	if d, _ := Find(defs, "bash"); d.Permission != AlwaysAsk || d.Kind != Builtin {
		t.Errorf("bash = %+v", d)
	}
	if d, _ := Find(defs, "lookup"); d.Kind != Custom || string(d.InputSchema) != string(custom.InputSchema) {
		t.Errorf("lookup = %+v", d)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	d, _ := Find(defs, "bash")
	if err := json.Unmarshal(d.InputSchema, &schema); err != nil || schema.Properties["command"] == nil {
		t.Errorf("bash schema = %s (%v)", d.InputSchema, err)
	}
}
