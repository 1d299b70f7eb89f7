package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// searxng is a fake SearXNG instance: GET /search?q=…&format=json.
type searxng struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newSearxng(t *testing.T, results string) *searxng {
	s := &searxng{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		if r.URL.Path != "/search" || r.URL.Query().Get("format") != "json" {
			http.Error(w, "bad request", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, results)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *searxng) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

const searxResults = `{"query":"go","number_of_results":3,"results":[
 {"title":"The Go Programming Language","url":"https://go.dev/","content":"Go is an open source\n programming language.","engine":"ddg"},
 {"title":"Go on Wikipedia","url":"https://en.wikipedia.org/wiki/Go_(programming_language)","content":"Go is a statically typed language."},
 {"title":"","link":"https://pkg.go.dev/std","snippet":"Standard library"},
 {"title":"no url","content":"dropped"}]}`

func TestHTTPSearcherSearXNG(t *testing.T) {
	sx := newSearxng(t, searxResults)
	s, err := NewHTTPSearcher(sx.URL+"/search?q={query}&format=json&count={count}&country={country}", "")
	if err != nil {
		t.Fatal(err)
	}
	country := "DE"
	rs, err := s.Search(context.Background(), Query{Text: "go & generics", Count: 5, UserLocation: &wire.UserLocation{Type: "approximate", Country: &country}})
	if err != nil {
		t.Fatal(err)
	}
	q := sx.last().URL.Query()
	if q.Get("q") != "go & generics" || q.Get("count") != "5" || q.Get("country") != "DE" || sx.last().Header.Get("Authorization") != "" {
		t.Fatalf("provider request = %s %v", sx.last().URL, sx.last().Header)
	}
	want := []Result{
		{"The Go Programming Language", "https://go.dev/", "Go is an open source\n programming language."},
		{"Go on Wikipedia", "https://en.wikipedia.org/wiki/Go_(programming_language)", "Go is a statically typed language."},
		{"", "https://pkg.go.dev/std", "Standard library"},
	}
	if fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Fatalf("results = %+v", rs)
	}
}

func TestHTTPSearcherKeyAndErrors(t *testing.T) {
	sx := newSearxng(t, `{"results":[]}`)
	// No {query}: q is added; a key without {key} goes in the header.
	s, _ := NewHTTPSearcher(sx.URL+"/search?format=json", "sekrit")
	if _, err := s.Search(context.Background(), Query{Text: "x y"}); err != nil {
		t.Fatal(err)
	}
	if r := sx.last(); r.URL.Query().Get("q") != "x y" || r.Header.Get("Authorization") != "Bearer sekrit" {
		t.Fatalf("request = %s %v", r.URL, r.Header)
	}
	s, _ = NewHTTPSearcher(sx.URL+"/search?format=json&q={query}&api_key={key}", "k&1")
	if _, err := s.Search(context.Background(), Query{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if r := sx.last(); r.URL.Query().Get("api_key") != "k&1" || r.Header.Get("Authorization") != "" {
		t.Fatalf("request = %s %v", r.URL, r.Header)
	}

	for _, bad := range []string{"", "searx:8080/search", "ftp://x/{query}", "http:///search"} {
		if _, err := NewHTTPSearcher(bad, ""); err == nil || !strings.Contains(err.Error(), "HANGAR_WEB_SEARCH_URL") {
			t.Errorf("NewHTTPSearcher(%q) = %v", bad, err)
		}
	}

	// Failures never echo the key, which may be in the URL.
	s, _ = NewHTTPSearcher(sx.URL+"/wrong?q={query}&key={key}", "sekrit")
	if _, err := s.Search(context.Background(), Query{Text: "x"}); err == nil || !strings.Contains(err.Error(), "HTTP 400") || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("err = %v", err)
	}
	garbage := newSearxng(t, `<html>not json</html>`)
	s, _ = NewHTTPSearcher(garbage.URL+"/search?format=json", "")
	if _, err := s.Search(context.Background(), Query{Text: "x"}); err == nil || !strings.Contains(err.Error(), "expected JSON") {
		t.Fatalf("err = %v", err)
	}
	s, _ = NewHTTPSearcher("http://127.0.0.1:1/search?q={query}&key={key}", "sekrit")
	if _, err := s.Search(context.Background(), Query{Text: "x"}); err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("unreachable err = %v", err)
	}
}

// stubLookup returns a fixed policy.
func stubLookup(p Policy) Lookup {
	return func(context.Context, string, string) (Policy, error) { return p, nil }
}

// recorder is an inner executor that records what reached it.
type recorder struct {
	calls []string
}

func (r *recorder) Execute(_ context.Context, c tool.Call) (tool.Result, error) {
	r.calls = append(r.calls, c.Name)
	return tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock("inner ran " + c.Name)}}, nil
}

func call(name, input string) tool.Call {
	return tool.Call{Workspace: "wrkspc_x", SessionID: "sesn_x", Name: name, Input: json.RawMessage(input)}
}

func TestExecutorSearch(t *testing.T) {
	sx := newSearxng(t, searxResults)
	s, _ := NewHTTPSearcher(sx.URL+"/search?q={query}&format=json", "")
	p := unrestricted()
	x := Wrap(nil, Deps{Lookup: stubLookup(p), Searcher: s})
	res, err := x.Execute(context.Background(), call("web_search", `{"query":"golang"}`))
	if err != nil {
		t.Fatal(err)
	}
	txt := wire.TextOf(res.Content)
	want := "Web results for \"golang\":\n\n1. The Go Programming Language\n   https://go.dev/\n   Go is an open source programming language.\n\n2. Go on Wikipedia"
	if res.IsError || !strings.HasPrefix(txt, want) || !strings.Contains(txt, "3. https://pkg.go.dev/std\n   https://pkg.go.dev/std\n   Standard library") {
		t.Fatalf("result = %q", txt)
	}

	// Domain lists filter the results and say how many were left out.
	p.Search.AllowedDomains = []string{"go.dev"}
	x = Wrap(nil, Deps{Lookup: stubLookup(p), Searcher: s})
	res, _ = x.Execute(context.Background(), call("web_search", `{"query":"golang"}`))
	txt = wire.TextOf(res.Content)
	if strings.Contains(txt, "wikipedia") || !strings.Contains(txt, "pkg.go.dev") || !strings.Contains(txt, "(1 results outside") {
		t.Fatalf("filtered result = %q", txt)
	}
	p.Search = wire.AgentToolConfig{BlockedDomains: []string{"go.dev", "wikipedia.org"}}
	x = Wrap(nil, Deps{Lookup: stubLookup(p), Searcher: s})
	res, _ = x.Execute(context.Background(), call("web_search", `{"query":"golang"}`))
	if txt = wire.TextOf(res.Content); !strings.HasPrefix(txt, `No web results for "golang".`) || !strings.Contains(txt, "3 results outside") {
		t.Fatalf("all blocked = %q", txt)
	}

	// Without a provider: a clear tool error naming the setting.
	x = Wrap(nil, Deps{Lookup: stubLookup(p)})
	res, _ = x.Execute(context.Background(), call("web_search", `{"query":"golang"}`))
	if txt = wire.TextOf(res.Content); !res.IsError || !strings.Contains(txt, "web_search is not configured on this server") || !strings.Contains(txt, "HANGAR_WEB_SEARCH_URL") {
		t.Fatalf("unconfigured = %+v", res)
	}
}

func TestExecutorDelegatesAndDecodes(t *testing.T) {
	inner := &recorder{}
	x := Wrap(inner, Deps{Lookup: stubLookup(unrestricted())})
	res, err := x.Execute(context.Background(), call("bash", `{"command":"true"}`))
	if err != nil || wire.TextOf(res.Content) != "inner ran bash" {
		t.Fatalf("bash = %+v, %v", res, err)
	}
	for _, tc := range []struct{ name, input, want string }{
		{"web_fetch", `{}`, "web_fetch: input.url: is required"},
		{"web_fetch", `{"url":5}`, "web_fetch: input.url: must be a string"},
		{"web_fetch", `{"url":"  "}`, "web_fetch: input.url: must not be empty"},
		{"web_fetch", `[]`, "web_fetch: input: must be a JSON object"},
		{"web_fetch", `{"url":"file:///etc/passwd"}`, "web_fetch refused file:///etc/passwd: only http and https URLs can be fetched"},
		{"web_search", `{"q":"x"}`, "web_search: input.query: is required"},
		{"web_search", `{"query":"` + strings.Repeat("a", maxInputLen+1) + `"}`, "must be at most 8192 characters"},
	} {
		res, err := x.Execute(context.Background(), call(tc.name, tc.input))
		if err != nil || !res.IsError || !strings.Contains(wire.TextOf(res.Content), tc.want) {
			t.Errorf("%s %s = %+v, %v; want %q", tc.name, tc.input, res, err, tc.want)
		}
	}
	if len(inner.calls) != 1 {
		t.Fatalf("web calls reached the sandbox: %v", inner.calls)
	}
	// No sandbox: other tools say so, web tools still run.
	x = Wrap(nil, Deps{Lookup: stubLookup(unrestricted())})
	res, _ = x.Execute(context.Background(), call("read", `{"file_path":"/x"}`))
	if !res.IsError || !strings.Contains(wire.TextOf(res.Content), "No sandbox is available to run read") {
		t.Fatalf("no sandbox = %+v", res)
	}
	// A failing lookup is a tool error that leaks nothing.
	x = Wrap(nil, Deps{Lookup: func(context.Context, string, string) (Policy, error) { return Policy{}, fmt.Errorf("db on fire") }})
	res, _ = x.Execute(context.Background(), call("web_fetch", `{"url":"https://example.com"}`))
	if !res.IsError || strings.Contains(wire.TextOf(res.Content), "fire") {
		t.Fatalf("lookup failure = %+v", res)
	}
}

func TestExecutorFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<title>Hi</title><p>page body</p>")
	}))
	defer srv.Close()
	u := "http://good.test:" + port(srv) + "/p"
	x := Wrap(nil, Deps{Lookup: stubLookup(unrestricted()), Fetcher: localFetcher(t, FetchOptions{})})
	res, err := x.Execute(context.Background(), call("web_fetch", `{"url":"`+u+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "URL: " + u + "\nStatus: 200\nContent-Type: text/html\nTitle: Hi\n\npage body"
	if res.IsError || wire.TextOf(res.Content) != want {
		t.Fatalf("result = %q", wire.TextOf(res.Content))
	}
	x = Wrap(nil, Deps{Lookup: stubLookup(limited("example.com")), Fetcher: localFetcher(t, FetchOptions{})})
	res, _ = x.Execute(context.Background(), call("web_fetch", `{"url":"`+u+`"}`))
	if !res.IsError || !strings.Contains(wire.TextOf(res.Content), "web_fetch refused "+u+": host good.test is not reachable from this session") {
		t.Fatalf("limited = %q", wire.TextOf(res.Content))
	}
}
