package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// newWebLoop is newLoop with the web tools configured: a fake SearXNG as
// the search provider and loopback as the operator's SSRF exception, since
// the pages under test are served on 127.0.0.1.
func newWebLoop(t *testing.T, searchURL string) *loop {
	t.Helper()
	fake := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"})
	s := testserver.Start(t, testserver.WithEnv(
		"HANGAR_ANTHROPIC_BASE_URL="+fake.URL, "HANGAR_ANTHROPIC_API_KEY=upstream-key",
		"HANGAR_WEB_FETCH_ALLOW_INTERNAL=127.0.0.1",
		"HANGAR_WEB_SEARCH_URL="+searchURL))
	return &loop{t: t, s: s, c: s.Client(""), fake: fake}
}

func (l *loop) environment(name string, config map[string]any) string {
	l.t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "config": config})
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{}, option.WithRequestBody("application/json", b))
	if err != nil {
		l.t.Fatal(err)
	}
	return env.ID
}

// webCall runs one turn in which the model calls a web tool, and returns
// the agent.tool_result's raw JSON and the text the model got back.
func (l *loop) webCall(envID, agentID, toolName string, input map[string]any) (map[string]any, string) {
	l.t.Helper()
	l.fake.Push(modeltest.ToolCall("", toolName, input), modeltest.Text("done"))
	l.envID = envID
	sid := l.session(agentID)
	col := l.stream(sid)
	l.send(sid, userMessage("use the web"))
	use, _ := col.waitType(l.t, 0, "agent.tool_use")
	if use.Name != toolName || raw(use)["evaluated_permission"] != "allow" {
		l.t.Fatalf("tool_use = %s", use.RawJSON())
	}
	res, _ := col.waitType(l.t, 0, "agent.tool_result")
	if raw(res)["tool_use_id"] != use.ID {
		l.t.Fatalf("tool_result answers %v, want %s", raw(res)["tool_use_id"], use.ID)
	}
	if idle, _ := col.waitType(l.t, 0, "session.status_idle"); idle.StopReason.Type != "end_turn" {
		l.t.Fatalf("idle = %s", idle.RawJSON())
	}
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) != 1 || results[0].ToolUseID != use.ID {
		l.t.Fatalf("tool results sent upstream = %+v", results)
	}
	return raw(res), fmt.Sprint(results[0].Content)
}

// TOL-02, TOL-05, ENV-05: web_fetch and web_search run on the server for
// agents with the built-in toolset; web_fetch obeys the tool's domain
// lists, max_content_tokens, the environment's networking and the SSRF
// rule, and its result reaches both the event log and the model.
func TestWebTools(t *testing.T) {
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>Hangar test page</title><script>var hidden = "SCRIPT-BODY";</script></head>
<body><h1>Release notes</h1><p>The quick brown fox jumps over the lazy dog. Marker: ZEBRA-4242.</p></body></html>`)
	}))
	defer pages.Close()
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") != "json" {
			http.Error(w, "want format=json", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{
			{"title": "Result for " + r.URL.Query().Get("q"), "url": "https://example.org/answer", "content": "The answer is forty-two."},
		}})
	}))
	defer searx.Close()
	l := newWebLoop(t, searx.URL+"/search?q={query}&format=json")
	page := pages.URL + "/notes"
	u, _ := url.Parse(pages.URL)

	open := l.environment("open", map[string]any{"type": "cloud", "networking": map[string]any{"type": "unrestricted"}})
	closed := l.environment("closed", map[string]any{"type": "cloud", "networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1"}}})
	toolset := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}})
	short := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401",
		"configs": []any{map[string]any{"name": "web_fetch", "max_content_tokens": 5}}}}})
	blocked := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401",
		"configs": []any{map[string]any{"name": "web_fetch", "blocked_domains": []string{u.Hostname()}}}}}})

	for _, tc := range []struct {
		name, env, agent, tool string
		input                  map[string]any
		isError                bool
		want, notWant          []string
	}{
		{"fetch", open, toolset, "web_fetch", map[string]any{"url": page}, false,
			[]string{"Title: Hangar test page", "# Release notes", "Marker: ZEBRA-4242.", "Status: 200"}, []string{"SCRIPT-BODY"}},
		{"max_content_tokens", open, short, "web_fetch", map[string]any{"url": page}, false,
			[]string{"# Release", "[Content truncated", "about 5 tokens"}, []string{"ZEBRA"}},
		{"blocked_domains", open, blocked, "web_fetch", map[string]any{"url": page}, true,
			[]string{"web_fetch refused", "blocked by the tool's blocked_domains"}, []string{"ZEBRA"}},
		// Limited networking never reaches internal addresses, even when
		// listed: the SSRF exception needs an unrestricted environment.
		{"limited networking, internal host", closed, toolset, "web_fetch", map[string]any{"url": page}, true,
			[]string{"internal address"}, []string{"ZEBRA"}},
		{"limited networking, host not listed", closed, toolset, "web_fetch", map[string]any{"url": "http://example.com/"}, true,
			[]string{"networking is limited and example.com is not in its allowed_hosts"}, nil},
		// Outside the operator's allowlist, loopback stays unreachable.
		{"ssrf", open, toolset, "web_fetch", map[string]any{"url": "http://127.0.0.2:" + u.Port() + "/"}, true,
			[]string{"internal address"}, nil},
		{"scheme", open, toolset, "web_fetch", map[string]any{"url": "file:///etc/passwd"}, true,
			[]string{"only http and https"}, []string{"root:"}},
		{"search", closed, toolset, "web_search", map[string]any{"query": "meaning of life"}, false,
			[]string{`Web results for "meaning of life"`, "Result for meaning of life", "https://example.org/answer", "forty-two"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.t = t
			res, upstream := l.webCall(tc.env, tc.agent, tc.tool, tc.input)
			body, _ := json.Marshal(res["content"])
			if res["is_error"] != tc.isError {
				t.Fatalf("is_error = %v, want %v: %s", res["is_error"], tc.isError, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), jsonEscape(w)) || !strings.Contains(upstream, w) {
					t.Errorf("result lacks %q:\n event: %s\n model: %s", w, body, upstream)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(body), w) {
					t.Errorf("result contains %q: %s", w, body)
				}
			}
		})
	}
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
