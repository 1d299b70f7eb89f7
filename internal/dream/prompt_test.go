package dream

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/store"
)

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct{ name, text, err string }{
		{"bare", `{"memories": [{"path": "/a.md", "content": "x"}]}`, ""},
		{"fenced", "```json\n{\"memories\": [{\"path\": \"/a.md\", \"content\": \"x\"}]}\n```", ""},
		{"empty store", `{"memories": []}`, ""},
		{"prose", "Here you go: {}", "not the JSON object"},
		{"trailing text", `{"memories": []} and more`, "text after its JSON object"},
		{"no list", `{}`, `no "memories" list`},
		{"unknown field", `{"memories": [], "notes": 1}`, "not the JSON object"},
		{"relative path", `{"memories": [{"path": "a.md", "content": "x"}]}`, "memories[0].path"},
		{"same path once normalised", `{"memories": [{"path": "/caf\u00e9", "content": "x"}, {"path": "/cafe\u0301", "content": "y"}]}`, "memories[1].path"},
		{"too large", `{"memories": [{"path": "/a", "content": "` + strings.Repeat("x", 100*1024+1) + `"}]}`, "memories[0].content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAnswer(tc.text)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("ParseAnswer: %v", err)
				}
				if strings.Contains(tc.text, "a.md") && (len(got) != 1 || got[0].Path != "/a.md" || got[0].Content != "x") {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestTranscript(t *testing.T) {
	ev := func(v string) store.Event { return store.Event{Data: json.RawMessage(v)} }
	got := Transcript([]store.Event{
		ev(`{"type":"user.message","content":[{"type":"text","text":"hi"},{"type":"image"}]}`),
		ev(`{"type":"session.status_running"}`),
		ev(`{"type":"agent.tool_use","name":"bash","input":{"command":"ls"}}`),
		ev(`{"type":"agent.tool_result","is_error":true,"content":[{"type":"text","text":"boom"}]}`),
		{ThreadID: "sthr_sub", Data: json.RawMessage(`{"type":"agent.message","content":[{"type":"text","text":"found it"}]}`)},
		ev(`{"type":"agent.message","content":[{"type":"text","text":"` + strings.Repeat("y", 3000) + `"}]}`),
	})
	want := "user: hi [image]\ntool call bash: {\"command\":\"ls\"}\ntool error: boom\n[subagent thread sthr_sub] agent: found it\nagent: " + strings.Repeat("y", maxLineBytes-len("agent: ")) + " […]\n"
	if got != want {
		t.Fatalf("transcript:\n%q\nwant\n%q", got, want)
	}
}
