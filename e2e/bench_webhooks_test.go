package e2e

import (
	"context"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// BenchmarkWebhookDelivery measures what webhooks add after a commit: from
// the event's created_at (stamped just before the transaction that commits
// it and queues its delivery) to the first attempt's arrival at a local
// receiver, for session.status_idled, one session turn at a time on the
// demo model. The receiver verifies each delivery with the SDK's Unwrap.
func BenchmarkWebhookDelivery(b *testing.B) {
	s := testserver.Start(b, testserver.WithArgs("--demo-model", "--sandbox", "none", "--webhook-allow-private"))
	c := s.Client("")
	ctx := context.Background()
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "bench", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-test-1"}})
	if err != nil {
		b.Fatal(err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: env.ID})
	if err != nil {
		b.Fatal(err)
	}
	rc := newReceiverTB(b)
	ep, err := c.Beta.Organization.Webhooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{URL: rc.srv.URL, EnabledEvents: []string{"session.status_idled"}})
	if err != nil {
		b.Fatal(err)
	}
	rc.set(func(rc *receiver) { rc.secret = ep.SigningSecret })
	l := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Beta.Sessions.Events.Send(ctx, sess.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello")}}); err != nil {
			b.Fatal(err)
		}
		got := rc.await("an idle delivery", func(got []delivered) bool { return len(okOf(got, "session.status_idled", sess.ID)) == i+1 })
		d := okOf(got, "session.status_idled", sess.ID)[i]
		l = append(l, d.at.Sub(d.createdAt))
	}
	b.StopTimer()
	l.report(b)
}
