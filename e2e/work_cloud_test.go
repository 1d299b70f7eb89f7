package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// A cloud environment's work queue is served by
// Hangar's own sandboxes. An environment key or an API key that polls,
// acks, heartbeats, stops or updates its items gets a 400
// invalid_request_error naming the environment (not 401/403/404, which the
// SDK poller reserves for real authentication or missing-environment
// errors), nothing is taken from the session's in-sandbox worker, and the
// session's next tool call still runs. Reads (list, get, stats) stay open.
func TestWorkCloudQueueClosedToOutsideWorkers(t *testing.T) {
	l := newLoop(t, nil)
	ctx := context.Background()
	sid := l.session(l.agent(toolset))
	if out := toolText(t, l.bash(sid, "echo FIRST")); !strings.Contains(out, "FIRST") {
		t.Fatalf("first call: %s", out)
	}
	// The dispatcher's item for the session (its worker stays through the
	// idle grace), read with an API key.
	page, err := l.c.Beta.Environments.Work.List(ctx, l.envID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil || len(page.Data) == 0 {
		t.Fatalf("list: %+v %v", page, err)
	}
	item := page.Data[0]
	if _, err := l.c.Beta.Environments.Work.Get(ctx, item.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: l.envID}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if _, err := l.c.Beta.Environments.Work.Stats(ctx, l.envID, anthropic.BetaEnvironmentWorkStatsParams{}); err != nil {
		t.Fatalf("stats: %v", err)
	}

	key := envKey(t, l.s, l.envID)
	ec := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAuthToken(key), option.WithMaxRetries(0))
	if _, err := ec.Beta.Environments.Work.List(ctx, l.envID, anthropic.BetaEnvironmentWorkListParams{}); err != nil {
		t.Fatalf("list with the environment key: %v", err)
	}
	for _, c := range []struct {
		name string
		cl   anthropic.Client
	}{{"environment key", ec}, {"api key", l.c}} {
		calls := map[string]func() error{
			"poll": func() error {
				_, err := c.cl.Beta.Environments.Work.Poll(ctx, l.envID, anthropic.BetaEnvironmentWorkPollParams{BlockMs: anthropic.Int(1)})
				return err
			},
			"ack": func() error {
				_, err := c.cl.Beta.Environments.Work.Ack(ctx, item.ID, anthropic.BetaEnvironmentWorkAckParams{EnvironmentID: l.envID})
				return err
			},
			"heartbeat": func() error {
				_, err := c.cl.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{EnvironmentID: l.envID})
				return err
			},
			"stop": func() error {
				_, err := c.cl.Beta.Environments.Work.Stop(ctx, item.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: l.envID, BetaSelfHostedWorkStopRequest: anthropic.BetaSelfHostedWorkStopRequestParam{Force: anthropic.Bool(true)}})
				return err
			},
		}
		if c.name == "api key" {
			calls["update"] = func() error {
				_, err := c.cl.Beta.Environments.Work.Update(ctx, item.ID, anthropic.BetaEnvironmentWorkUpdateParams{EnvironmentID: l.envID, BetaSelfHostedWorkUpdateRequest: anthropic.BetaSelfHostedWorkUpdateRequestParam{Metadata: map[string]string{"k": "v"}}})
				return err
			}
		}
		for name, call := range calls {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				e := apiErr(t, call(), 400, "invalid_request_error")
				if !strings.Contains(e.RawJSON(), l.envID+" is a cloud environment") {
					t.Fatalf("message: %s", e.RawJSON())
				}
			})
		}
	}
	after, err := l.c.Beta.Environments.Work.Get(ctx, item.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: l.envID})
	if err != nil || after.State != item.State || after.StopRequestedAt != item.StopRequestedAt || len(after.Metadata) != 0 {
		t.Fatalf("item changed by refused calls: before %s after %s (%v)", item.RawJSON(), after.RawJSON(), err)
	}
	if out := toolText(t, l.bash(sid, "echo SECOND")); !strings.Contains(out, "SECOND") {
		t.Fatalf("call after the refused ones: %s", out)
	}
}
