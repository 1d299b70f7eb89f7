package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

func TestHealthzAndEnvelope(t *testing.T) {
	s := testserver.Start(t)
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if resp.Header.Get("request-id") == "" {
		t.Fatal("no request-id header on healthz")
	}

	// An unknown route answers the standard envelope with a request id in
	// body and header (GEN conventions, wire-overview §9).
	resp = s.Do(t, "GET", "/v1/nope", nil, nil)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("unknown route: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "error" || body.Error.Type != "not_found_error" || body.RequestID != resp.Header.Get("request-id") || !strings.HasPrefix(body.RequestID, "req_") {
		t.Fatalf("bad envelope: %s (header %q)", b, resp.Header.Get("request-id"))
	}
}

func TestAuthentication(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()

	// No key, and a wrong key: 401 authentication_error.
	resp := s.Do(t, "GET", "/v1/agents", nil, http.Header{"X-Api-Key": {""}})
	req, _ := http.NewRequest("GET", s.URL+"/v1/agents", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no key: status %d", resp.StatusCode)
	}
	c := s.Client("sk-hangar-wrong")
	_, err = c.Beta.Agents.List(ctx, anthropicAgentListParams())
	apiErr(t, err, 401, "authentication_error")

	// The admin key works as Authorization: Bearer (Go SDK) and x-api-key.
	c = s.Client("")
	if _, err := c.Beta.Agents.List(ctx, anthropicAgentListParams()); err != nil {
		t.Fatalf("bearer admin key: %v", err)
	}
	resp = s.Do(t, "GET", "/v1/agents", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("x-api-key admin key: %d", resp.StatusCode)
	}

	// Any anthropic-version and anthropic-beta are accepted, and ?beta=true
	// and unknown query parameters are ignored.
	c = s.Client("", option.WithHeader("anthropic-version", "2023-06-01"), option.WithHeader("anthropic-beta", "made-up-beta-2099-01-01,managed-agents-2026-04-01"),
		option.WithQuery("beta", "true"), option.WithQuery("whatever", "1"))
	if _, err := c.Beta.Agents.List(ctx, anthropicAgentListParams()); err != nil {
		t.Fatalf("extra headers and query: %v", err)
	}
}
