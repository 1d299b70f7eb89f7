package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// newWebLoop is newLoop with the web tools configured: a fake SearXNG as
// the search provider and loopback as the operator's exception to the
// internal-address rule, since the pages under test are served on
// 127.0.0.1 — for the egress proxy (cloud sessions' web_fetch with
// sandboxes) and for direct fetches (--sandbox none). env adds settings.
func newWebLoop(t *testing.T, searchURL, sandbox string, env ...string) *loop {
	t.Helper()
	fake := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"})
	s := testserver.Start(t, testserver.WithEnv(append([]string{
		"HANGAR_ANTHROPIC_BASE_URL=" + fake.URL, "HANGAR_ANTHROPIC_API_KEY=upstream-key",
		"HANGAR_WEB_FETCH_ALLOW_INTERNAL=127.0.0.1", "HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.1",
		"HANGAR_WEB_SEARCH_URL=" + searchURL}, env...)...), testserver.WithArgs("--sandbox", sandbox))
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

// testPage is the HTML page the web_fetch tests fetch.
var testPage = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<html><head><title>Hangar test page</title><script>var hidden = "SCRIPT-BODY";</script></head>
<body><h1>Release notes</h1><p>The quick brown fox jumps over the lazy dog. Marker: ZEBRA-4242.</p></body></html>`)
})

// fakeSearx is a SearXNG-shaped search provider.
func fakeSearx(t *testing.T) *httptest.Server {
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
	t.Cleanup(searx.Close)
	return searx
}

// web_fetch and web_search run on
// the server for agents with the built-in toolset; web_fetch obeys the
// tool's domain lists and max_content_tokens, and a cloud session's fetch
// leaves through its egress proxy, so the environment's networking and the
// proxy's internal-address guard (HANGAR_EGRESS_ALLOW_INTERNAL) decide
// where it goes and a refusal is the proxy's readable message. The result
// reaches both the event log and the model.
func TestWebTools(t *testing.T) {
	pages := httptest.NewServer(testPage)
	defer pages.Close()
	// HTTPS through the proxy is a blind tunnel: the server verifies the
	// page's certificate against its system roots (SSL_CERT_FILE).
	tlsPages := httptest.NewTLSServer(testPage)
	defer tlsPages.Close()
	bundle := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(bundle, append(systemBundle(t), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsPages.Certificate().Raw})...), 0o644); err != nil {
		t.Fatal(err)
	}
	searx := fakeSearx(t)
	l := newWebLoop(t, searx.URL+"/search?q={query}&format=json", "local", "SSL_CERT_FILE="+bundle)
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
		{"https", open, toolset, "web_fetch", map[string]any{"url": tlsPages.URL + "/notes"}, false,
			[]string{"Title: Hangar test page", "Marker: ZEBRA-4242."}, nil},
		{"blocked_domains", open, blocked, "web_fetch", map[string]any{"url": page}, true,
			[]string{"web_fetch refused", "blocked by the tool's blocked_domains"}, []string{"ZEBRA"}},
		// Limited networking reaches its allowed hosts (HTTP and
		// HTTPS) and nothing else; the refusal is the egress proxy's.
		{"limited networking, allowed host", closed, toolset, "web_fetch", map[string]any{"url": page}, false,
			[]string{"Marker: ZEBRA-4242."}, nil},
		{"limited networking, allowed host over https", closed, toolset, "web_fetch", map[string]any{"url": tlsPages.URL + "/notes"}, false,
			[]string{"Marker: ZEBRA-4242."}, nil},
		{"limited networking, host not listed", closed, toolset, "web_fetch", map[string]any{"url": "http://example.com/"}, true,
			[]string{"web_fetch refused http://example.com/: hangar egress: example.com is not allowed by this environment's networking policy"}, nil},
		{"limited networking, https host not listed", closed, toolset, "web_fetch", map[string]any{"url": "https://example.com/"}, true,
			[]string{"web_fetch refused https://example.com/: hangar egress: example.com is not allowed by this environment's networking policy"}, nil},
		// Outside the operator's allowlist, loopback stays unreachable.
		{"ssrf", open, toolset, "web_fetch", map[string]any{"url": "http://127.0.0.2:" + u.Port() + "/"}, true,
			[]string{"web_fetch refused", "internal address"}, nil},
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

// Without sandboxes (--sandbox none) there is no egress
// proxy and web_fetch connects itself: the environment's networking is
// checked by the tool, and its own SSRF rule holds, whose exception
// (HANGAR_WEB_FETCH_ALLOW_INTERNAL) opens internal addresses to
// unrestricted environments only.
func TestWebFetchDirect(t *testing.T) {
	pages := httptest.NewServer(testPage)
	defer pages.Close()
	l := newWebLoop(t, fakeSearx(t).URL+"/search?q={query}&format=json", "none")
	page := pages.URL + "/notes"
	open := l.environment("open", map[string]any{"type": "cloud", "networking": map[string]any{"type": "unrestricted"}})
	closed := l.environment("closed", map[string]any{"type": "cloud", "networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1"}}})
	toolset := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}})
	for _, tc := range []struct {
		name, env, url string
		isError        bool
		want           string
	}{
		{"unrestricted, listed internal host", open, page, false, "Marker: ZEBRA-4242."},
		{"limited networking, internal host", closed, page, true, "internal address"},
		{"limited networking, host not listed", closed, "http://example.com/", true, "networking is limited and example.com is not in its allowed_hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.t = t
			res, upstream := l.webCall(tc.env, toolset, "web_fetch", map[string]any{"url": tc.url})
			body, _ := json.Marshal(res["content"])
			if res["is_error"] != tc.isError || !strings.Contains(string(body), jsonEscape(tc.want)) || !strings.Contains(upstream, tc.want) {
				t.Fatalf("is_error = %v, want %v with %q: %s", res["is_error"], tc.isError, tc.want, body)
			}
		})
	}
}
