package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

// envKey mints an environment key the way an operator does:
// `hangar keys create --environment env_…` against the server's data dir.
func envKey(t *testing.T, s *testserver.Server, envID string) string {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), "keys", "create", "--data-dir", s.DataDir, "--environment", envID, "--name", "worker")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hangar keys create --environment: %v", err)
	}
	key := strings.TrimSpace(string(out))
	if !strings.HasPrefix(key, "sk-ant-oat01-") {
		t.Fatalf("environment key %q lacks the sk-ant-oat01- prefix", key)
	}
	return key
}

// Work queue through a real `hangar serve`: environment keys from the CLI
// reach their own queue only (SHS-04), an empty poll is 200 null (SHS-06),
// stats are zero (SHS-09), and bad input is a 400 naming the parameter.
// Claiming, leases and token scoping are covered against the real handler
// in internal/workqueue until the engine enqueues self-hosted sessions.
func TestWorkQueueEndpoints(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	mkEnv := func(name string) string {
		env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: name,
			Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
		if err != nil {
			t.Fatal(err)
		}
		return env.ID
	}
	envID, otherEnv := mkEnv("work-a"), mkEnv("work-b")
	key := envKey(t, s, envID)
	ec := anthropic.NewClient(option.WithBaseURL(s.URL), option.WithAuthToken(key), option.WithMaxRetries(0))

	w, err := ec.Beta.Environments.Work.Poll(ctx, envID, anthropic.BetaEnvironmentWorkPollParams{
		BlockMs: anthropic.Int(1), AnthropicWorkerID: anthropic.String("e2e-worker")})
	if err != nil || w != nil {
		t.Fatalf("empty poll: %+v %v", w, err)
	}
	st, err := c.Beta.Environments.Work.Stats(ctx, envID, anthropic.BetaEnvironmentWorkStatsParams{})
	if err != nil || st.Depth != 0 || st.Pending != 0 || st.WorkersPolling != 1 || st.JSON.OldestQueuedAt.Raw() != "null" || st.Type != "work_queue_stats" {
		t.Fatalf("stats %+v %v", st, err)
	}
	page, err := ec.Beta.Environments.Work.List(ctx, envID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil || len(page.Data) != 0 || page.JSON.Data.Raw() != "[]" {
		t.Fatalf("list %+v %v", page, err)
	}

	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		typ    string
	}{
		{"other environment's queue", func() error {
			_, err := ec.Beta.Environments.Work.Poll(ctx, otherEnv, anthropic.BetaEnvironmentWorkPollParams{})
			return err
		}, 403, "permission_error"},
		{"control-plane route", func() error {
			_, err := ec.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
			return err
		}, 403, "permission_error"},
		{"work get wants an API key", func() error {
			_, err := ec.Beta.Environments.Work.Get(ctx, "work_x", anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
			return err
		}, 403, "permission_error"},
		{"unknown work item", func() error {
			_, err := c.Beta.Environments.Work.Get(ctx, "work_missing", anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
			return err
		}, 404, "not_found_error"},
		{"unknown environment", func() error {
			_, err := c.Beta.Environments.Work.Stats(ctx, "env_missing", anthropic.BetaEnvironmentWorkStatsParams{})
			return err
		}, 404, "not_found_error"},
		{"bad sessions token", func() error {
			bc := anthropic.NewClient(option.WithBaseURL(s.URL), option.WithAuthToken("sk-ant-wst01-nope"), option.WithMaxRetries(0))
			_, err := bc.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{})
			return err
		}, 401, "authentication_error"},
	} {
		t.Run(tc.name, func(t *testing.T) { apiErr(t, tc.call(), tc.status, tc.typ) })
	}

	for _, q := range []string{"block_ms=0", "block_ms=1000", "reclaim_older_than_ms=x"} {
		resp := s.Do(t, "GET", "/v1/environments/"+envID+"/work/poll?"+q, nil, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), strings.SplitN(q, "=", 2)[0]+":") {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
	}
}
