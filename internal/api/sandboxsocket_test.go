package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// The sessions token of an item claimed for a worker inside a session's
// sandbox is good only on that session's sandbox socket: refused on the
// network listener and on another session's socket; and a sandbox socket
// accepts nothing but such a token. (The e2e suite cannot take the token
// out of a sandbox any more, so this is checked here, on the real handler.)
func TestSandboxSocketTokens(t *testing.T) {
	ctx := context.Background()
	x := newHarness(t)
	q, h := x.q, x.h
	const admin = testAdminKey
	// socket serves h as a session's sandbox socket does.
	socket := func(sessionID string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(api.WithSandboxSocket(r.Context(), sessionID)))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	client := func(url string, opt option.RequestOption) anthropic.Client {
		return anthropic.NewClient(option.WithBaseURL(url), opt, option.WithMaxRetries(0))
	}
	c := client(x.url, option.WithAPIKey(admin))

	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "cloud-" + time.Now().Format("150405.000000")})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "a", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"}})
	if err != nil {
		t.Fatal(err)
	}
	var sessions []string
	for range 2 {
		s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: param.NewOpt(ag.ID)}, EnvironmentID: env.ID})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s.ID)
	}
	// claim queues and claims an item of sid as the dispatcher does (in
	// process), and returns its sessions token.
	claim := func(sid string, sandboxed bool) string {
		t.Helper()
		if _, err := q.Enqueue(ctx, api.DefaultWorkspace, env.ID, sid); err != nil {
			t.Fatal(err)
		}
		cl, err := q.Poll(ctx, api.DefaultWorkspace, env.ID, workqueue.PollParams{WorkerID: "test"})
		if err != nil || cl == nil || cl.Item.DataID != sid {
			t.Fatalf("claim: %+v, %v", cl, err)
		}
		if sandboxed {
			x.claimForSandbox(cl.Item.ID, sid)
		}
		tok, err := workqueue.DecodeSecret(cl.Secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	get := func(url, sid string, opt option.RequestOption) int {
		cl := client(url, opt)
		_, err := cl.Beta.Sessions.Get(ctx, sid, anthropic.BetaSessionGetParams{})
		var ae *anthropic.Error
		switch {
		case err == nil:
			return 200
		case errors.As(err, &ae):
			return ae.StatusCode
		}
		t.Fatalf("get: %v", err)
		return 0
	}
	a, b := sessions[0], sessions[1]
	sandboxTok := claim(a, true)
	for _, c := range []struct {
		name     string
		url, sid string
		opt      option.RequestOption
		want     int
	}{
		{"sandbox token on its own socket", socket(a), a, option.WithAuthToken(sandboxTok), 200},
		{"sandbox token on the network", x.url, a, option.WithAuthToken(sandboxTok), 403},
		{"sandbox token on another session's socket", socket(b), a, option.WithAuthToken(sandboxTok), 403},
		{"sandbox token for another session on its own socket", socket(a), b, option.WithAuthToken(sandboxTok), 403},
		{"admin key on a sandbox socket", socket(a), a, option.WithAPIKey(admin), 403},
		{"no key on a sandbox socket", socket(a), a, option.WithAPIKey(""), 403},
		{"admin key on the network", x.url, a, option.WithAPIKey(admin), 200},
	} {
		if got := get(c.url, c.sid, c.opt); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.name, got, c.want)
		}
	}
	// An item claimed by an outside worker (self-hosted style) keeps its
	// token usable on the network and useless on a sandbox socket.
	outsideTok := claim(b, false)
	if got := get(x.url, b, option.WithAuthToken(outsideTok)); got != 200 {
		t.Errorf("outside worker's token on the network: HTTP %d", got)
	}
	if got := get(socket(b), b, option.WithAuthToken(outsideTok)); got != 403 {
		t.Errorf("outside worker's token on a sandbox socket: HTTP %d", got)
	}
}
