package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

// Every request leaves one access log line naming its request id, method,
// path, status and the bytes of its body, the ones an error answered
// included.
func TestAccessLogNamesEachRequest(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()

	var created *http.Response
	if _, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name: "logged", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeOpus4_8},
	}, option.WithResponseInto(&created)); err != nil {
		t.Fatal(err)
	}

	missing := s.Do(t, "GET", "/v1/agents/agent_missing", nil, nil)
	missingBody, _ := io.ReadAll(missing.Body)
	if missing.StatusCode != http.StatusNotFound {
		t.Fatalf("get missing agent: %d %s", missing.StatusCode, missingBody)
	}

	// A graceful stop waits for every handler, so every line is written.
	s.Stop(t)
	for _, want := range []struct {
		resp         *http.Response
		method, path string
		bytes        int64
	}{
		// The SDK has read the body by now; its Content-Length remains.
		{created, "POST", "/v1/agents", created.ContentLength},
		{missing, "GET", "/v1/agents/agent_missing", int64(len(missingBody))},
	} {
		rid := want.resp.Header.Get("request-id")
		line := requestLine(t, s, rid)
		for _, field := range []string{
			"method=" + want.method, "path=" + want.path,
			fmt.Sprintf("status=%d", want.resp.StatusCode), fmt.Sprintf("bytes=%d", want.bytes), "duration=",
		} {
			if !strings.Contains(line, " "+field) {
				t.Errorf("access log line of %s lacks %q: %s", rid, field, line)
			}
		}
	}
}

// requestLine returns the access log line of request rid.
func requestLine(t *testing.T, s *testserver.Server, rid string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(s.Logs(), "\n") {
		if strings.Contains(line, " msg=request ") && strings.Contains(line, " request_id="+rid+" ") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one access log line for %s, got %d:\n%s", rid, len(found), s.Logs())
	}
	return found[0]
}
