package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tokenServer is a token endpoint speaking RFC 6749 §6: it checks the
// form-encoded refresh_token grant and the client authentication, then
// answers with respond.
type tokenServer struct {
	t       *testing.T
	method  string // expected client auth method
	id, sec string
	refresh string
	got     chan map[string][]string
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad request shape", 400)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	ts.got <- r.PostForm
	fail := func(code int, e string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":%q,"error_description":"refresh token %s rejected"}`, e, r.PostForm.Get("refresh_token"))
	}
	user, pass, basic := r.BasicAuth()
	// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
	user, _ = url.QueryUnescape(user)
	pass, _ = url.QueryUnescape(pass)
	switch ts.method {
	case AuthClientSecretBasic:
		if !basic || user != ts.id || pass != ts.sec || r.PostForm.Has("client_secret") {
			fail(401, "invalid_client")
			return
		}
	case AuthClientSecretPost:
		if basic || r.PostForm.Get("client_id") != ts.id || r.PostForm.Get("client_secret") != ts.sec {
			fail(401, "invalid_client")
			return
		}
	case AuthNone:
		if basic || r.PostForm.Get("client_id") != ts.id || r.PostForm.Has("client_secret") {
			fail(401, "invalid_client")
			return
		}
	}
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != ts.refresh {
		fail(400, "invalid_grant")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": "new-access-" + ts.method, "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rotated-refresh",
	})
}

func TestRefreshClientAuthMethods(t *testing.T) {
	for _, method := range []string{AuthNone, AuthClientSecretBasic, AuthClientSecretPost} {
		t.Run(method, func(t *testing.T) {
			ts := &tokenServer{t: t, method: method, id: "client:1", sec: "s3cr3t&=+", refresh: "refresh-abc", got: make(chan map[string][]string, 1)}
			srv := httptest.NewServer(ts)
			defer srv.Close()
			c := NewOAuthClient()
			now := time.Now()
			req := RefreshRequest{TokenEndpoint: srv.URL, AuthMethod: method, ClientID: ts.id, RefreshToken: ts.refresh, Scope: "read write", Resource: "https://mcp.example.com"}
			if method != AuthNone {
				req.ClientSecret = ts.sec
			}
			tok, err := c.Refresh(context.Background(), req)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			form := <-ts.got
			if form["scope"][0] != "read write" || form["resource"][0] != "https://mcp.example.com" {
				t.Fatalf("scope/resource not sent: %v", form)
			}
			if tok.AccessToken != "new-access-"+method || tok.RefreshToken != "rotated-refresh" || tok.TokenType != "Bearer" {
				t.Fatalf("token = %+v", tok)
			}
			if tok.Expiry == nil || tok.Expiry.Before(now.Add(3590*time.Second)) || tok.Expiry.After(now.Add(3610*time.Second)) {
				t.Fatalf("expiry = %v", tok.Expiry)
			}
		})
	}
}

func TestRefreshFailures(t *testing.T) {
	const rt, cs = "refresh-token-value", "client-secret-value"
	cases := []struct {
		name        string
		handler     http.HandlerFunc
		connect     bool
		status      int
		bodyHas     string
		bodyHasNot  []string
		truncated   bool
		contentType string
	}{
		{
			name: "invalid_grant echoes secrets",
			handler: func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"error":"invalid_grant","token":"abcd-leaked-value","detail":"bad %s / %s"}`, r.PostForm.Get("refresh_token"), r.PostForm.Get("client_secret"))
			},
			status: 400, bodyHas: "invalid_grant", bodyHasNot: []string{rt, cs, "abcd-leaked-value"}, contentType: "application/json",
		},
		{
			name: "server error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(503)
				w.Write([]byte("down for maintenance"))
			},
			status: 503, bodyHas: "maintenance", contentType: "text/plain",
		},
		{
			name: "long body is truncated",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				w.Write([]byte(strings.Repeat("é", MaxCapturedBody)))
			},
			status: 400, truncated: true,
		},
		{
			name: "200 without access_token",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"refresh_token":"zzzz-new-refresh"}`))
			},
			status: 200, bodyHasNot: []string{"zzzz-new-refresh"},
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
			},
			status: 307,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			_, err := NewOAuthClient().Refresh(context.Background(), RefreshRequest{TokenEndpoint: srv.URL, AuthMethod: AuthClientSecretPost, ClientID: "c", ClientSecret: cs, RefreshToken: rt})
			var re *RefreshError
			if !errors.As(err, &re) || re.ConnectError || re.Response == nil {
				t.Fatalf("err = %#v", err)
			}
			resp := re.Response
			if resp.StatusCode != tc.status || resp.BodyTruncated != tc.truncated || !strings.Contains(resp.Body, tc.bodyHas) {
				t.Fatalf("response = %+v", resp)
			}
			if tc.contentType != "" && resp.ContentType != tc.contentType {
				t.Fatalf("content type = %q", resp.ContentType)
			}
			if tc.truncated && (len(resp.Body) > MaxCapturedBody || !strings.HasPrefix(resp.Body, "é")) {
				t.Fatalf("truncated body has %d bytes", len(resp.Body))
			}
			for _, s := range append(tc.bodyHasNot, rt, cs) {
				if strings.Contains(resp.Body, s) || strings.Contains(err.Error(), s) {
					t.Fatalf("secret %q leaked: body %q, err %q", s, resp.Body, err)
				}
			}
		})
	}
}

func TestRefreshConnectError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = NewOAuthClient().Refresh(context.Background(), RefreshRequest{TokenEndpoint: "http://" + addr + "/token", AuthMethod: AuthNone, ClientID: "c", RefreshToken: "rt-secret"})
	var re *RefreshError
	if !errors.As(err, &re) || !re.ConnectError || re.Response != nil {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), "rt-secret") {
		t.Fatalf("secret in error: %v", err)
	}
}

func TestParseTokenVariants(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name, ct, body string
		wantErr        bool
		access         string
		expiry         *time.Time
	}{
		{"json", "application/json", `{"access_token":"a","expires_in":60}`, false, "a", ptr(now.Add(time.Minute))},
		{"json string expires_in", "application/json; charset=utf-8", `{"access_token":"a","expires_in":"60"}`, false, "a", ptr(now.Add(time.Minute))},
		{"json no expiry", "application/json", `{"access_token":"a"}`, false, "a", nil},
		{"form", "application/x-www-form-urlencoded", `access_token=a&expires_in=60`, false, "a", ptr(now.Add(time.Minute))},
		{"missing access_token", "application/json", `{"token_type":"bearer"}`, true, "", nil},
		{"not json", "application/json", `<html>`, true, "", nil},
		{"negative expiry", "application/json", `{"access_token":"a","expires_in":-5}`, true, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := parseToken(tc.ct, []byte(tc.body), now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if tok.AccessToken != tc.access || (tok.Expiry == nil) != (tc.expiry == nil) || (tok.Expiry != nil && !tok.Expiry.Equal(*tc.expiry)) {
				t.Fatalf("token = %+v expiry %v", tok, tok.Expiry)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestScrub(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"access_token":"abcdef","token_type":"Bearer"}`, `{"access_token":"[REDACTED]","token_type":"Bearer"}`},
		{`{"nested":{"client_secret":"xyz123"}}`, `{"nested":{"client_secret":"[REDACTED]"}}`},
		{`refresh_token=qwerty&error=bad`, `refresh_token=[REDACTED]&error=bad`},
		{`plain text with known-secret inside`, `plain text with [REDACTED] inside`},
		{`{"error":"invalid_grant"}`, `{"error":"invalid_grant"}`},
	}
	for _, tc := range cases {
		if got := Scrub(tc.in, "known-secret"); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretRoundTripAndRedaction(t *testing.T) {
	s, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sec := Secret{AccessToken: "plaintext-access", ClientSecret: "plaintext-client"}
	sealed, err := s.SealSecret("vcrd_1", sec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "plaintext") {
		t.Fatal("sealed secret holds plaintext")
	}
	if _, err := s.OpenSecret("vcrd_2", sealed); err == nil {
		t.Fatal("secret opened under another credential id")
	}
	got, err := s.OpenSecret("vcrd_1", sealed)
	if err != nil || got != sec {
		t.Fatalf("open = %v, %v", got, err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, sec); strings.Contains(out, "plaintext") {
			t.Fatalf("%s prints the secret: %s", f, out)
		}
	}
}

// A refresh request that reaches a formatter or a logger by mistake prints
// none of its secrets.
func TestRefreshRequestRedacted(t *testing.T) {
	r := RefreshRequest{TokenEndpoint: "https://auth.example/token", ClientSecret: "cs-secret", RefreshToken: "rt-secret"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("refresh", "req", r)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", r, r, r, r), fmt.Sprint(&r), buf.String()} {
		if strings.Contains(s, "cs-secret") || strings.Contains(s, "rt-secret") {
			t.Errorf("secret printed: %s", s)
		}
	}
}
