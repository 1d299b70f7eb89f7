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

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
	"github.com/hangarhq/hangar/internal/workqueue"
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
// reach their own queue only, an empty poll is 200 null,
// stats are zero, and bad input is a 400 naming the parameter.
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

// A worker's credentials — the environment key and a work item's sessions
// token — read their sessions and answer the calls the worker ran, and
// nothing more: steering a session (a message, an interrupt, a
// confirmation) is refused with 403 naming what they may send.
func TestWorkerCredentialsSendOnlyToolResults(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi"}),
		modeltest.Text("The worker answered."))
	ctx := context.Background()
	env, err := l.c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "least-privilege",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	key := envKey(t, l.s, env.ID)
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("run it"))
	use, _ := col.waitType(t, 0, "agent.tool_use")

	ec := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAuthToken(key), option.WithMaxRetries(0))
	var item *anthropic.BetaSelfHostedWork
	for i := 0; item == nil && i < 30; i++ {
		if item, err = ec.Beta.Environments.Work.Poll(ctx, env.ID, anthropic.BetaEnvironmentWorkPollParams{BlockMs: anthropic.Int(999)}); err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	if item == nil {
		t.Fatal("no work item for the session")
	}
	token, err := workqueue.DecodeSecret(item.Secret)
	if err != nil {
		t.Fatal(err)
	}
	tc := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAuthToken(token), option.WithMaxRetries(0))

	for name, c := range map[string]anthropic.Client{"environment key": ec, "sessions token": tc} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Beta.Sessions.Get(ctx, sid, anthropic.BetaSessionGetParams{}); err != nil {
				t.Fatalf("get session: %v", err)
			}
			if _, err := c.Beta.Sessions.Events.List(ctx, sid, anthropic.BetaSessionEventListParams{}); err != nil {
				t.Fatalf("list events: %v", err)
			}
			for _, ev := range []anthropic.BetaManagedAgentsEventParamsUnion{
				userMessage("not the worker's to say"),
				{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}},
				confirm(use.ID, true, ""),
			} {
				_, err := c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{ev}})
				e := apiErr(t, err, 403, "permission_error")
				if !strings.Contains(e.RawJSON(), "user.tool_result") {
					t.Fatalf("the refusal does not say what a worker may send: %s", e.RawJSON())
				}
			}
			_, err := c.Beta.Sessions.Update(ctx, sid, anthropic.BetaSessionUpdateParams{Title: anthropic.String("renamed")})
			apiErr(t, err, 403, "permission_error")
		})
	}
	if got := len(l.history(sid, "user.message")); got != 1 {
		t.Fatalf("%d user.message events logged, want only the API key's one", got)
	}

	// The environment key answers the call it ran.
	_, err = ec.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{
		{OfUserToolResult: &anthropic.BetaManagedAgentsUserToolResultEventParams{ToolUseID: use.ID,
			Content: []anthropic.BetaManagedAgentsUserToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "hi"}}}}},
	}})
	if err != nil {
		t.Fatalf("tool result with the environment key: %v", err)
	}
	col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
}
