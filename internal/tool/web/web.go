// Package web owns the two server-side tools of agent_toolset_20260401,
// web_fetch and web_search: Hangar runs them itself, outside any
// sandbox and for self_hosted environments too (self-hosted workers leave
// them unanswered). web_fetch obeys the agent's allowed_domains /
// blocked_domains, the environment's networking and an SSRF rule that keeps
// it off the server's own host and private networks; web_search asks a
// search provider the operator configures.
//
// The SSRF rule: web_fetch never connects to loopback, private (RFC 1918,
// ULA), link-local (including cloud metadata at 169.254.169.254),
// multicast, unspecified or otherwise reserved addresses, whatever name
// resolved to them and checked at connect time so DNS rebinding cannot slip
// one in after the check. The one exception is an address or host name the
// operator lists in HANGAR_WEB_FETCH_ALLOW_INTERNAL, and then only for
// sessions whose environment is unrestricted. Agent and environment
// configuration alone can never open internal addresses: any API user can
// write those, and the server's network is the operator's to share.
//
// That is the direct path (self_hosted sessions, servers without
// sandboxes). When Policy.Via names the session's egress proxy (cloud
// sessions on a server with sandboxes), the fetch leaves through it and
// the proxy's policy and internal-address guard apply instead of the
// networking check and the SSRF rule here, the same as for the sandbox;
// the scheme and the tool's domain lists are still checked here first.
package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// Tool names handled here.
const (
	FetchTool  = "web_fetch"
	SearchTool = "web_search"
)

// Lookup returns the policy of a session at the time of a call.
type Lookup func(ctx context.Context, ws, sessionID string) (Policy, error)

// Deps are what the executor needs.
type Deps struct {
	Lookup  Lookup
	Fetcher *Fetcher
	// Searcher is nil when no provider is configured; web_search then
	// answers with ErrSearchNotConfigured.
	Searcher Searcher
	// SearchResults is how many results web_search returns (10).
	SearchResults int
	// NoSandbox, when inner is nil, says why no sandbox is available and
	// what fixes it; the tool results of other tools carry it, so the model
	// and the client see the cause and not only the server's log.
	NoSandbox string
	Logger    *slog.Logger
}

// Executor runs web_fetch and web_search and hands every other tool to the
// inner executor (the sandbox).
type Executor struct {
	inner tool.Executor
	d     Deps
}

// Wrap returns an executor for web_fetch/web_search in front of inner,
// which may be nil when no sandbox is available.
func Wrap(inner tool.Executor, d Deps) tool.Executor {
	if d.Fetcher == nil {
		d.Fetcher = NewFetcher(FetchOptions{})
	}
	if d.SearchResults <= 0 {
		d.SearchResults = 10
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{inner: inner, d: d}
}

func (x *Executor) Execute(ctx context.Context, call tool.Call) (tool.Result, error) {
	switch call.Name {
	case FetchTool:
		return x.fetch(ctx, call), nil
	case SearchTool:
		return x.search(ctx, call), nil
	}
	if x.inner == nil {
		msg := "No sandbox is available to run " + call.Name + " in this session"
		if x.d.NoSandbox != "" {
			return errResult(msg + ": " + x.d.NoSandbox), nil
		}
		return errResult(msg + "."), nil
	}
	return x.inner.Execute(ctx, call)
}

func (x *Executor) policy(ctx context.Context, call tool.Call) (Policy, error) {
	if x.d.Lookup == nil {
		return Policy{}, fmt.Errorf("no policy source")
	}
	return x.d.Lookup(ctx, call.Workspace, call.SessionID)
}

func (x *Executor) fetch(ctx context.Context, call tool.Call) tool.Result {
	u, err := DecodeFetchInput(call.Input)
	if err != nil {
		return errResult("web_fetch: " + err.Error())
	}
	p, err := x.policy(ctx, call)
	if err != nil {
		x.d.Logger.Error("web_fetch policy", "session", call.SessionID, "err", err)
		return errResult("web_fetch could not read this session's configuration; try again later.")
	}
	page, err := x.d.Fetcher.Fetch(ctx, p, u)
	if err != nil {
		x.d.Logger.Debug("web_fetch failed", "session", call.SessionID, "host", hostOf(u), "err", err)
		if _, ok := err.(*PolicyError); ok {
			return errResult("web_fetch refused " + u + ": " + err.Error())
		}
		return errResult("web_fetch: " + err.Error())
	}
	x.d.Logger.Debug("web_fetch", "session", call.SessionID, "host", hostOf(page.URL), "status", page.Status, "type", page.ContentType)
	return formatPage(u, page)
}

func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// formatPage renders a fetched page for the model: a short header, then
// the text or the document.
func formatPage(requested string, p *Page) tool.Result {
	var b strings.Builder
	fmt.Fprintf(&b, "URL: %s\n", p.URL)
	if p.URL != requested {
		fmt.Fprintf(&b, "Requested URL: %s\n", requested)
	}
	fmt.Fprintf(&b, "Status: %d\nContent-Type: %s\n", p.Status, p.ContentType)
	if p.Title != "" {
		fmt.Fprintf(&b, "Title: %s\n", p.Title)
	}
	b.WriteString("\n")
	switch {
	case p.Text != "":
		b.WriteString(p.Text)
	case p.Note != "":
		b.WriteString(p.Note)
	default:
		b.WriteString("(the page has no text)")
	}
	if p.Truncated && p.Text != "" {
		fmt.Fprintf(&b, "\n\n[Content truncated: web_fetch returns at most about %d tokens of a page (max_content_tokens).]", p.MaxTokens)
	}
	res := tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock(b.String())}}
	if p.Block != nil {
		res.Content = append(res.Content, *p.Block)
	}
	res.IsError = p.Status >= 400
	return res
}

func (x *Executor) search(ctx context.Context, call tool.Call) tool.Result {
	q, err := DecodeSearchInput(call.Input)
	if err != nil {
		return errResult("web_search: " + err.Error())
	}
	if x.d.Searcher == nil {
		return errResult(ErrSearchNotConfigured.Error())
	}
	p, err := x.policy(ctx, call)
	if err != nil {
		x.d.Logger.Error("web_search policy", "session", call.SessionID, "err", err)
		return errResult("web_search could not read this session's configuration; try again later.")
	}
	// Ask for more than needed when domain lists will drop some.
	want := x.d.SearchResults
	if len(p.Search.AllowedDomains)+len(p.Search.BlockedDomains) > 0 {
		want *= 3
	}
	results, err := x.d.Searcher.Search(ctx, Query{Text: q, Count: want, UserLocation: p.Search.UserLocation})
	if err != nil {
		x.d.Logger.Warn("web_search provider failed", "session", call.SessionID, "err", err)
		return errResult("web_search failed: " + err.Error())
	}
	all := len(results)
	results = filterResults(p.Search, results)
	dropped := all - len(results)
	if len(results) > x.d.SearchResults {
		results = results[:x.d.SearchResults]
	}
	return tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock(formatResults(q, results, dropped))}}
}

func formatResults(q string, rs []Result, dropped int) string {
	var b strings.Builder
	if len(rs) == 0 {
		fmt.Fprintf(&b, "No web results for %s.", strconv.Quote(q))
	} else {
		fmt.Fprintf(&b, "Web results for %s:\n", strconv.Quote(q))
		for i, r := range rs {
			title := r.Title
			if title == "" {
				title = r.URL
			}
			fmt.Fprintf(&b, "\n%d. %s\n   %s\n", i+1, title, r.URL)
			if r.Snippet != "" {
				fmt.Fprintf(&b, "   %s\n", strings.Join(strings.Fields(r.Snippet), " "))
			}
		}
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "\n(%d results outside the tool's allowed_domains/blocked_domains were left out.)", dropped)
	}
	return strings.TrimRight(b.String(), "\n")
}

func errResult(msg string) tool.Result {
	return tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock(msg)}, IsError: true}
}

// maxInputLen bounds a URL or query: anything longer is not a real one.
const maxInputLen = 8192

// DecodeFetchInput reads web_fetch's input {"url": "..."}. Other members
// are ignored: models sometimes add some, and they change nothing.
func DecodeFetchInput(raw json.RawMessage) (string, error) {
	return stringMember(raw, "url")
}

// DecodeSearchInput reads web_search's input {"query": "..."}.
func DecodeSearchInput(raw json.RawMessage) (string, error) {
	return stringMember(raw, "query")
}

func stringMember(raw json.RawMessage, key string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", fmt.Errorf("input: must be a JSON object with a %q string", key)
	}
	v, ok := m[key]
	if !ok {
		return "", fmt.Errorf("input.%s: is required", key)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("input.%s: must be a string", key)
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("input.%s: must not be empty", key)
	case len(s) > maxInputLen:
		return "", fmt.Errorf("input.%s: must be at most %d characters", key, maxInputLen)
	}
	return s, nil
}
