package api_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// Once the server stops a work item (its session was deleted, say), the
// item's worker learns it from its next heartbeat, as the SDK's worker
// expects (state stopped, lease not extended), instead of an
// authentication error it would take for a broken credential; the token
// opens nothing else any more.
func TestStoppedItemTokenHeartbeats(t *testing.T) {
	ctx := context.Background()
	x := newHarness(t)
	admin := anthropic.NewClient(option.WithBaseURL(x.url), option.WithAPIKey(testAdminKey), option.WithMaxRetries(0))
	env, err := admin.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "self-hosted",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := admin.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "a", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-x"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := admin.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)}, EnvironmentID: env.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.q.Enqueue(ctx, api.DefaultWorkspace, env.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	cl, err := x.q.Poll(ctx, api.DefaultWorkspace, env.ID, workqueue.PollParams{WorkerID: "test"})
	if err != nil || cl == nil {
		t.Fatalf("claim: %+v %v", cl, err)
	}
	if _, err := x.q.Ack(ctx, api.DefaultWorkspace, env.ID, cl.Item.ID); err != nil {
		t.Fatal(err)
	}
	tok, err := workqueue.DecodeSecret(cl.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.q.Stop(ctx, api.DefaultWorkspace, env.ID, cl.Item.ID, true); err != nil {
		t.Fatal(err)
	}

	w := anthropic.NewClient(option.WithBaseURL(x.url), option.WithAuthToken(tok), option.WithMaxRetries(0))
	hb, err := w.Beta.Environments.Work.Heartbeat(ctx, cl.Item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{EnvironmentID: env.ID})
	if err != nil || hb.LeaseExtended || hb.State != "stopped" {
		t.Fatalf("heartbeat of a stopped item: %+v %v, want state stopped, lease not extended", hb, err)
	}
	_, err = w.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a stopped item's token on its session: %v, want 401", err)
	}
}
