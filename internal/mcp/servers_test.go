package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hangarhq/hangar/internal/vault"
)

// Real MCP servers, built on the official go-sdk, listening on loopback.

// newToolServer is an MCP server with: echo (returns its arguments as
// text), fail (isError result), big (n bytes of text), image, and
// extra tools t00..t{extra-1} to exercise pagination (pageSize > 0).
func newToolServer(extra, pageSize int) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "test", Version: "1"}, &sdk.ServerOptions{PageSize: pageSize})
	obj := json.RawMessage(`{"type":"object"}`)
	s.AddTool(&sdk.Tool{Name: "echo", Description: "echoes", InputSchema: json.RawMessage(`{"type":"object","properties":{"msg":{"type":"string"}}}`)},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "echo:" + string(req.Params.Arguments)}}}, nil
		})
	s.AddTool(&sdk.Tool{Name: "fail", InputSchema: obj},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "it broke"}}}, nil
		})
	s.AddTool(&sdk.Tool{Name: "big", InputSchema: obj},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var in struct{ N int }
			json.Unmarshal(req.Params.Arguments, &in)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.Repeat("line of output\n", in.N/15+1)[:in.N]}}}, nil
		})
	s.AddTool(&sdk.Tool{Name: "image", InputSchema: obj},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.ImageContent{MIMEType: "image/png", Data: []byte{1, 2, 3}}}}, nil
		})
	for i := range extra {
		s.AddTool(&sdk.Tool{Name: fmt.Sprintf("t%02d", i), InputSchema: obj},
			func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
				return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ok"}}}, nil
			})
	}
	return s
}

// authCheck accepts a request when valid(token) holds.
type authCheck func(token string) bool

// requireBearer wraps an MCP handler with bearer auth, counting requests
// and the 401s it sent.
type requireBearer struct {
	next     http.Handler
	valid    authCheck
	requests atomic.Int64
	denied   atomic.Int64
}

func (h *requireBearer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !h.valid(tok) {
		h.denied.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	h.next.ServeHTTP(w, r)
}

func streamable(s *sdk.Server) http.Handler {
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)
}

func sseOnly(s *sdk.Server) http.Handler {
	return sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return s }, nil)
}

// staticServer starts a streamable MCP server requiring one static token.
func staticServer(t testing.TB, token string) (*httptest.Server, *requireBearer) {
	h := &requireBearer{next: streamable(newToolServer(0, 0)), valid: func(tok string) bool { return tok == token }}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// oauthServer is an authorization server plus a protected MCP server: the
// token endpoint issues short-lived access tokens for a rotating refresh
// token, and the MCP endpoint accepts only live access tokens.
type oauthServer struct {
	t        testing.TB
	mu       sync.Mutex
	clientID string
	secret   string
	method   string // client auth the token endpoint insists on
	refresh  string // the one valid refresh token
	access   map[string]time.Time
	ttl      time.Duration
	n        int
	grants   atomic.Int64

	mcp   *httptest.Server
	token *httptest.Server
	auth  *requireBearer
}

func newOAuthServer(t testing.TB, method string) *oauthServer {
	o := &oauthServer{t: t, clientID: "hangar-client", secret: "client-s3cret", method: method, refresh: "refresh-0", access: map[string]time.Time{}, ttl: time.Hour}
	o.token = httptest.NewServer(http.HandlerFunc(o.serveToken))
	o.auth = &requireBearer{next: streamable(newToolServer(0, 0)), valid: o.live}
	o.mcp = httptest.NewServer(o.auth)
	t.Cleanup(o.token.Close)
	t.Cleanup(o.mcp.Close)
	return o
}

func (o *oauthServer) live(tok string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	exp, ok := o.access[tok]
	return ok && time.Now().Before(exp)
}

// issue mints an access token valid for ttl (as if from an earlier grant).
func (o *oauthServer) issue(ttl time.Duration) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	tok := fmt.Sprintf("access-%d", o.n)
	o.access[tok] = time.Now().Add(ttl)
	return tok
}

// revokeAll invalidates every access token (a server-side expiry).
func (o *oauthServer) revokeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.access = map[string]time.Time{}
}

func (o *oauthServer) currentRefresh() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refresh
}

func (o *oauthServer) serveToken(w http.ResponseWriter, r *http.Request) {
	o.grants.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fail := func(code int, e string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":%q}`, e)
	}
	user, pass, basic := r.BasicAuth()
	var ok bool
	switch o.method {
	case "client_secret_basic":
		ok = basic && user == o.clientID && pass == o.secret && !r.PostForm.Has("client_secret")
	case "client_secret_post":
		ok = !basic && r.PostForm.Get("client_id") == o.clientID && r.PostForm.Get("client_secret") == o.secret
	default:
		ok = !basic && r.PostForm.Get("client_id") == o.clientID && !r.PostForm.Has("client_secret")
	}
	if !ok {
		fail(401, "invalid_client")
		return
	}
	o.mu.Lock()
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != o.refresh {
		o.mu.Unlock()
		fail(400, "invalid_grant")
		return
	}
	o.n++
	access := fmt.Sprintf("access-%d", o.n)
	o.access[access] = time.Now().Add(o.ttl)
	o.refresh = fmt.Sprintf("refresh-%d", o.n)
	refresh, ttl := o.refresh, o.ttl
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(ttl / time.Second), "refresh_token": refresh})
}

// credential is an mcp_oauth Credential as Resolve would build it.
func (o *oauthServer) credential(access string, expires time.Time) Credential {
	return Credential{
		Type: "mcp_oauth", VaultID: "vlt_1", CredentialID: "vcrd_1", ServerURL: o.mcp.URL, Token: access, ExpiresAt: &expires,
		Refresh: &vault.RefreshRequest{TokenEndpoint: o.token.URL, AuthMethod: o.method, ClientID: o.clientID, ClientSecret: o.secret, RefreshToken: o.currentRefresh()},
	}
}
