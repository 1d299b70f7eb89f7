package wire

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
)

var sendSeeds = []string{
	`{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"document","title":null,"source":{"type":"text","data":"x"}},{"type":"redacted"}]},{"type":"system.message","content":[{"type":"text","text":"s"}]}]}`,
	`{"events":[{"type":"user.interrupt","session_thread_id":"sthr_1"},{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"deny","deny_message":"no"}]}`,
	`{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_2","is_error":true,"content":[{"type":"search_result","source":"https://a/b","title":"t","content":[{"type":"text","text":"x"}],"citations":{"enabled":true}}]}]}`,
	`{"events":[{"type":"user.tool_result","tool_use_id":"sevt_3","content":[{"type":"text","text":""}]}]}`,
	`{"events":[{"type":"user.define_outcome","description":"d","max_iterations":20,"rubric":{"type":"file","file_id":"file_1"}}]}`,
	`{"events":[{"type":"agent.message"}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"text","text":1}]}]}`,
	`{"events":[]}`,
	`{"events":null}`,
	`[]`,
	`{`,
}

// FuzzSendEventsDecode: the POST …/events decoder never panics, rejects
// with a 400 that names a field, and anything it accepts is persisted and
// read back byte for byte.
func FuzzSendEventsDecode(f *testing.F) {
	for _, s := range sendSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p SendEventsParams
		err := json.Unmarshal(body, &p)
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			checkRejection(t, body, err)
			return
		}
		for _, pl := range p.Events {
			if !IsClientEventType(pl.EventType()) {
				t.Fatalf("accepted non-client event %q", pl.EventType())
			}
			roundTrip(t, NewEvent(pl))
		}
	})
}

var createSeeds = []string{
	`{"agent":"agent_1","environment_id":"env_1"}`,
	`{"agent":{"type":"agent","id":"agent_1","version":2},"environment_id":"env_1","title":"t","metadata":{"k":"v"},"vault_ids":["vlt_1"]}`,
	`{"agent":{"type":"agent_with_overrides","id":"agent_1","model":"claude-opus-4-7","system":null,"tools":[],"mcp_servers":[{"type":"url","name":"gh","url":"https://x"}],"skills":null},"environment_id":"env_1"}`,
	`{"agent":"a","environment_id":"e","resources":[{"type":"file","file_id":"file_1","mount_path":"/data/x"},{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"ghp_x","checkout":{"type":"commit","sha":"` + strings.Repeat("a", 40) + `"}},{"type":"memory_store","memory_store_id":"memstore_1","access":"read_only","instructions":"i"}]}`,
	`{"agent":"a","environment_id":"e","initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]},{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"}}],"budget":{"type":"limit","max_list_cost":{"amount":"2500","currency":"USD"}}}`,
	`{"agent":{"type":"agent_with_overrides","id":"a","model":null},"environment_id":"e"}`,
	`{"agent":"a","environment_id":"e","resources":[{"type":"file","file_id":"f","mount_path":"/a/../b"}]}`,
	`{"agent":"a","environment_id":"e","model":"x"}`,
	`{}`,
	`null`,
}

// FuzzSessionCreateDecode: the POST /v1/sessions decoder never panics,
// rejects with a 400 naming a field, and what it accepts satisfies the
// invariants the handler relies on.
func FuzzSessionCreateDecode(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p SessionCreateParams
		err := json.Unmarshal(body, &p)
		if err == nil {
			err = p.Validate()
		}
		if err != nil {
			checkRejection(t, body, err)
			return
		}
		if p.Agent.ID == "" || p.EnvironmentID == "" || (p.Agent.Type != AgentRefAgent && p.Agent.Type != AgentRefWithOverrides) {
			t.Fatalf("accepted agent %+v env %q", p.Agent, p.EnvironmentID)
		}
		if p.Agent.Model.Set && p.Agent.Model.Null {
			t.Fatal("accepted model: null")
		}
		mounts := map[string]bool{}
		for _, r := range p.Resources {
			if r.Type == ResourceMemoryStore {
				continue
			}
			mp := r.EffectiveMountPath()
			if (r.MountPath != "" && checkMountPath("m", mp) != nil) || path.Clean(mp) != mp || !strings.HasPrefix(mp, "/") || mp == "/" {
				t.Fatalf("accepted mount path %q", mp)
			}
			if mounts[mp] {
				t.Fatalf("accepted duplicate mount path %q", mp)
			}
			mounts[mp] = true
			// Output must not depend on the token at all.
			redacted := r
			redacted.AuthorizationToken = ""
			if fmt.Sprintf("%v %#v %s", r, r, mustJSON(t, r)) != fmt.Sprintf("%v %#v %s", redacted, redacted, mustJSON(t, redacted)) {
				t.Fatal("token leaks through fmt or JSON")
			}
		}
		for _, pl := range p.InitialEvents {
			if pl.EventType() != EventTypeUserMessage && pl.EventType() != EventTypeUserDefineOutcome {
				t.Fatalf("accepted initial event %q", pl.EventType())
			}
			roundTrip(t, NewEvent(pl))
		}
	})
}

func checkRejection(t *testing.T, body []byte, err error) {
	t.Helper()
	if e, ok := errdefs.As(err); ok {
		if e.Class != errdefs.ClassInvalid || e.Message == "" {
			t.Fatalf("%q: rejected as %v %q", body, e.Class, e.Message)
		}
		return
	}
	// Only malformed JSON reaches us unclassified (httpx renders that).
	if json.Valid(body) {
		t.Fatalf("%q: unclassified error for valid JSON: %v", body, err)
	}
}

func roundTrip(t *testing.T, ev Event) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal %s: %v", ev.EventType(), err)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	b2, err := json.Marshal(back)
	if err != nil || string(b2) != string(b) {
		t.Fatalf("round trip changed %s into %s (%v)", b, b2, err)
	}
}
