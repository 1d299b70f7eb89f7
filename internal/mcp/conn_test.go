package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustConnect(t testing.TB, srv ServerConfig, cred Credential) *Conn {
	t.Helper()
	c, err := Connect(ctxT(t), srv, cred)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A static_bearer credential is sent as Authorization:
// Bearer; without it or with a wrong token the server refuses and Connect
// says so with a CredentialError naming the server.
func TestStaticBearerAuth(t *testing.T) {
	srv, h := staticServer(t, "static-token-1")
	cfg := ServerConfig{Name: "docs", URL: srv.URL}
	cases := []struct {
		name   string
		cred   Credential
		reason string
	}{
		{"right token", Credential{Type: "static_bearer", VaultID: "vlt_a", CredentialID: "vcrd_a", Token: "static-token-1"}, ""},
		{"no credential", Credential{}, ReasonMissing},
		{"wrong token", Credential{Type: "static_bearer", VaultID: "vlt_a", CredentialID: "vcrd_a", Token: "nope-token"}, ReasonRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(ctxT(t), cfg, tc.cred)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer c.Close()
				if c.Transport() != TransportStreamable {
					t.Fatalf("transport = %s", c.Transport())
				}
				r, err := c.Call(ctxT(t), "echo", json.RawMessage(`{"msg":"hi"}`))
				if err != nil || r.Text() != `echo:{"msg":"hi"}` || r.IsError {
					t.Fatalf("call = %+v, %v", r, err)
				}
				return
			}
			var ce *CredentialError
			if !errors.As(err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("err = %#v, want CredentialError %s", err, tc.reason)
			}
			if !strings.Contains(err.Error(), "docs ("+srv.URL+")") || (tc.cred.Token != "" && strings.Contains(err.Error(), tc.cred.Token)) {
				t.Fatalf("error %q does not name the server or leaks the token", err)
			}
			if tc.cred.CredentialID != "" && (ce.VaultID != "vlt_a" || !strings.Contains(err.Error(), "vlt_a")) {
				t.Fatalf("error %q does not name the vault", err)
			}
		})
	}
	if h.denied.Load() == 0 {
		t.Fatal("server never refused a request")
	}
}

// Tool listing follows pagination cursors; calls distinguish success,
// isError results (ToolError, Result kept), JSON-RPC errors (RPCError) and
// bad input (400-class, nothing sent).
func TestListAndCall(t *testing.T) {
	srv := httptest.NewServer(streamable(newToolServer(7, 3)))
	t.Cleanup(srv.Close)
	c := mustConnect(t, ServerConfig{Name: "tools", URL: srv.URL}, Credential{})
	tools, err := c.Tools(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 11 {
		t.Fatalf("got %d tools, want 11 over 4 pages", len(tools))
	}
	byName := map[string]Tool{}
	for _, tl := range tools {
		byName[tl.Name] = tl
	}
	if e := byName["echo"]; e.Description != "echoes" || !strings.Contains(string(e.InputSchema), `"msg"`) {
		t.Fatalf("echo tool = %+v", e)
	}

	cases := []struct {
		name, tool string
		args       string
		check      func(t *testing.T, r Result, err error)
	}{
		{"echo", "echo", `{"msg":"x"}`, func(t *testing.T, r Result, err error) {
			if err != nil || len(r.Content) != 1 || r.Content[0].Type != "text" || r.Content[0].Text != `echo:{"msg":"x"}` {
				t.Fatalf("%+v %v", r, err)
			}
		}},
		{"null args become {}", "echo", `null`, func(t *testing.T, r Result, err error) {
			if err != nil || r.Text() != "echo:{}" {
				t.Fatalf("%+v %v", r, err)
			}
		}},
		{"isError", "fail", ``, func(t *testing.T, r Result, err error) {
			var te *ToolError
			if !errors.As(err, &te) || !r.IsError || r.Text() != "it broke" || te.Tool != "fail" || !strings.Contains(err.Error(), "it broke") {
				t.Fatalf("%+v %#v", r, err)
			}
		}},
		{"image", "image", `{}`, func(t *testing.T, r Result, err error) {
			if err != nil || len(r.Content) != 1 || r.Content[0].Type != "image" || r.Content[0].MediaType != "image/png" || r.Content[0].Data != "AQID" {
				t.Fatalf("%+v %v", r, err)
			}
		}},
		{"unknown tool", "nope", `{}`, func(t *testing.T, r Result, err error) {
			var re *RPCError
			if !errors.As(err, &re) || re.Tool != "nope" || re.Message == "" {
				t.Fatalf("%+v %#v", r, err)
			}
		}},
		{"array args", "echo", `[1]`, func(t *testing.T, r Result, err error) {
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "input") {
				t.Fatalf("%#v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Call(ctxT(t), tc.tool, json.RawMessage(tc.args))
			tc.check(t, r, err)
		})
	}
}

// A server that only speaks the legacy HTTP+SSE transport is reached
// through the fallback, with the credential on both the GET stream and the
// message POSTs.
func TestSSEFallback(t *testing.T) {
	h := &requireBearer{next: sseOnly(newToolServer(0, 0)), valid: func(tok string) bool { return tok == "sse-token" }}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := mustConnect(t, ServerConfig{URL: srv.URL}, Credential{Type: "static_bearer", Token: "sse-token"})
	if c.Transport() != TransportSSE {
		t.Fatalf("transport = %s, want sse", c.Transport())
	}
	tools, err := c.Tools(ctxT(t))
	if err != nil || len(tools) != 4 {
		t.Fatalf("tools = %d, %v", len(tools), err)
	}
	r, err := c.Call(ctxT(t), "echo", json.RawMessage(`{"a":1}`))
	if err != nil || r.Text() != `echo:{"a":1}` {
		t.Fatalf("call = %+v, %v", r, err)
	}
	if _, err := c.Call(ctxT(t), "fail", nil); !errors.As(err, new(*ToolError)) {
		t.Fatalf("fail over sse: %#v", err)
	}
	// Without the token the SSE GET is refused: a credential error, not a
	// transport one.
	_, err = Connect(ctxT(t), ServerConfig{URL: srv.URL}, Credential{})
	var ce *CredentialError
	if !errors.As(err, &ce) || ce.Reason != ReasonMissing {
		t.Fatalf("err = %#v", err)
	}
}

// Transport failures are TransportErrors and do not trigger the SSE
// fallback's second attempt on an unreachable host.
func TestTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Connect(ctxT(t), ServerConfig{Name: "gone", URL: "http://" + addr + "/mcp"}, Credential{})
	var te *TransportError
	if !errors.As(err, &te) || te.Op != "connect" || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("err = %#v", err)
	}

	// A server that dies mid-session: calls fail as transport errors.
	srv := httptest.NewServer(streamable(newToolServer(0, 0)))
	c := mustConnect(t, ServerConfig{URL: srv.URL}, Credential{})
	srv.CloseClientConnections()
	srv.Close()
	if _, err := c.Call(ctxT(t), "echo", nil); !errors.As(err, &te) {
		t.Fatalf("call after server death: %#v", err)
	}
}

// On 401, an access token the server no longer accepts is refreshed
// through the token endpoint (each client auth method) and the request
// retried once; the new tokens reach OnRefresh. Mid-session expiry works
// the same way.
func TestOAuthRefreshOn401(t *testing.T) {
	for _, method := range []string{"none", "client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			o := newOAuthServer(t, method)
			var got []Credential
			cfg := ServerConfig{URL: o.mcp.URL, OnRefresh: func(_ context.Context, c Credential) error { got = append(got, c); return nil }}
			// Server-side the token is dead, though expires_at says it has an hour.
			cred := o.credential("revoked-token", time.Now().Add(time.Hour))
			c := mustConnect(t, cfg, cred)
			if len(got) != 1 || got[0].Token == "revoked-token" || got[0].Refresh.RefreshToken != o.currentRefresh() || got[0].ExpiresAt == nil {
				t.Fatalf("refresh callback got %v", got)
			}
			if r, err := c.Call(ctxT(t), "echo", nil); err != nil || r.Text() != "echo:{}" {
				t.Fatalf("call: %+v %v", r, err)
			}
			o.revokeAll()
			if r, err := c.Call(ctxT(t), "echo", json.RawMessage(`{"again":true}`)); err != nil || r.Text() != `echo:{"again":true}` {
				t.Fatalf("call after revocation: %+v %v", r, err)
			}
			if len(got) != 2 || c.Credential().Token != got[1].Token {
				t.Fatalf("refreshes = %d", len(got))
			}
		})
	}
}

// A token about to expire is refreshed before it is sent, without
// a 401 round trip.
func TestOAuthRefreshBeforeExpiry(t *testing.T) {
	o := newOAuthServer(t, "none")
	live := o.issue(20 * time.Second)
	c := mustConnect(t, ServerConfig{URL: o.mcp.URL}, o.credential(live, time.Now().Add(20*time.Second)))
	if c.Credential().Token == live || o.grants.Load() != 1 || o.auth.denied.Load() != 0 {
		t.Fatalf("token %q, grants %d, 401s %d", c.Credential().Token, o.grants.Load(), o.auth.denied.Load())
	}
}

// A refresh that fails (refresh token revoked) leaves the 401 standing and
// is reported as refresh_failed, naming server and vault; no refresh
// block means rejected/expired.
func TestOAuthRefreshFailure(t *testing.T) {
	o := newOAuthServer(t, "client_secret_post")
	cred := o.credential("dead", time.Now().Add(time.Hour))
	cred.Refresh.RefreshToken = "not-the-refresh-token"
	_, err := Connect(ctxT(t), ServerConfig{Name: "oauthy", URL: o.mcp.URL}, cred)
	var ce *CredentialError
	if !errors.As(err, &ce) || ce.Reason != ReasonRefreshFailed || ce.VaultID != "vlt_1" || !strings.Contains(err.Error(), "oauthy") {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), "not-the-refresh-token") || strings.Contains(err.Error(), o.secret) {
		t.Fatalf("error leaks a secret: %v", err)
	}

	expired := time.Now().Add(-time.Minute)
	_, err = Connect(ctxT(t), ServerConfig{URL: o.mcp.URL}, Credential{Type: "mcp_oauth", VaultID: "vlt_9", CredentialID: "vcrd_9", Token: "dead", ExpiresAt: &expired})
	if !errors.As(err, &ce) || ce.Reason != ReasonExpired || ce.VaultID != "vlt_9" {
		t.Fatalf("err = %#v", err)
	}
}

// Results over the limit are split into a preview that names the
// file and the full text; small ones are left alone.
func TestSpillLarge(t *testing.T) {
	srv := httptest.NewServer(streamable(newToolServer(0, 0)))
	t.Cleanup(srv.Close)
	c := mustConnect(t, ServerConfig{URL: srv.URL}, Credential{})
	r, err := c.Call(ctxT(t), "big", json.RawMessage(`{"N":500000}`))
	if err != nil || len(r.Text()) != 500000 {
		t.Fatalf("big call: %d bytes, %v", len(r.Text()), err)
	}
	s, ok := SpillLarge(r, 0)
	if !ok || s.Full != r.Text() {
		t.Fatal("500 KB result not spilled")
	}
	p := s.Preview("/mnt/session/outputs/mcp-result-1.txt", false)
	txt := p.Text()
	if len(txt) > PreviewBytes+400 || !strings.Contains(txt, "/mnt/session/outputs/mcp-result-1.txt") || !strings.Contains(txt, "500000 bytes") || !strings.HasPrefix(txt, "line of output\n") {
		t.Fatalf("preview (%d bytes) = %q…", len(txt), txt[len(txt)-300:])
	}
	small, _ := c.Call(ctxT(t), "big", json.RawMessage(`{"N":1000}`))
	if _, ok := SpillLarge(small, 0); ok {
		t.Fatal("small result spilled")
	}
}
