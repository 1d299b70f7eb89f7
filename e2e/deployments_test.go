package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// deplFix is a server with an environment and an agent for deployments.
type deplFix struct {
	t     *testing.T
	s     *testserver.Server
	c     anthropic.Client
	env   string
	agent string
}

func newDeplFix(t *testing.T, opts ...testserver.Option) *deplFix {
	t.Helper()
	f := newSesnFix(t, opts...)
	return &deplFix{t: t, s: f.s, c: f.c, env: f.env, agent: f.agent}
}

func (f *deplFix) restart(sig syscall.Signal) {
	f.t.Helper()
	stop(f.t, f.s, sig)
	f.s = testserver.Start(f.t, testserver.WithDataDir(f.s.DataDir))
	f.c = f.s.Client("")
}

// stop ends the server gracefully (SIGTERM) or as a crash would (SIGKILL).
func stop(t *testing.T, s *testserver.Server, sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		s.Kill()
		return
	}
	s.StopWith(t, sig)
}

func deplMessage(text string) anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion {
	return anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{
		OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{
				OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text},
			}},
		},
	}
}

func (f *deplFix) params(sched *anthropic.BetaManagedAgentsScheduleParams) anthropic.BetaDeploymentNewParams {
	p := anthropic.BetaDeploymentNewParams{
		Name:          "nightly",
		Agent:         anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(f.agent)},
		EnvironmentID: f.env,
		InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deplMessage("hello")},
	}
	if sched != nil {
		p.Schedule = *sched
	}
	return p
}

func (f *deplFix) create(sched *anthropic.BetaManagedAgentsScheduleParams) *anthropic.BetaManagedAgentsDeployment {
	f.t.Helper()
	d, err := f.c.Beta.Deployments.New(context.Background(), f.params(sched))
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *deplFix) runs(deploymentID string) []anthropic.BetaManagedAgentsDeploymentRun {
	f.t.Helper()
	page, err := f.c.Beta.DeploymentRuns.List(context.Background(), anthropic.BetaDeploymentRunListParams{
		DeploymentID: anthropic.String(deploymentID), Limit: anthropic.Int(100),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return page.Data
}

// waitRuns polls until the deployment has n finished runs (each with its
// session or its error). The deadline only ends
// a test that would otherwise hang; nothing asserts on how long it took.
func (f *deplFix) waitRuns(deploymentID string, n int) []anthropic.BetaManagedAgentsDeploymentRun {
	f.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		runs := f.runs(deploymentID)
		done := 0
		for _, r := range runs {
			if r.SessionID != "" || r.Error.Type != "" {
				done++
			}
		}
		if done >= n {
			return runs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("deployment %s has %d runs, waiting for %d", deploymentID, len(runs), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// onceAt is a cron schedule that matches one minute of the year: the
// first minute boundary at least lead ahead of now, in UTC.
func onceAt(lead time.Duration) (*anthropic.BetaManagedAgentsScheduleParams, time.Time) {
	at := time.Now().UTC().Add(lead).Truncate(time.Minute).Add(time.Minute)
	return &anthropic.BetaManagedAgentsScheduleParams{
		Expression: fmt.Sprintf("%d %d %d %d *", at.Minute(), at.Hour(), at.Day(), int(at.Month())),
		Timezone:   "UTC",
	}, at
}

// A deployment whose schedule comes due fires once: one run, triggered by
// the schedule at the scheduled minute, linking a session created from
// the deployment (which carries its id).
func TestDeploymentsScheduledFire(t *testing.T) {
	t.Parallel()
	f := newDeplFix(t)
	ctx := context.Background()
	sched, at := onceAt(3 * time.Second)
	d := f.create(sched)
	if d.Status != "active" || len(d.Schedule.UpcomingRunsAt) == 0 || !d.Schedule.UpcomingRunsAt[0].Equal(at) {
		t.Fatalf("new deployment: status %q, upcoming %v, want first %s", d.Status, d.Schedule.UpcomingRunsAt, at)
	}
	if d.Agent.Version != 2 || d.Agent.ID != f.agent {
		t.Fatalf("agent = %+v, want %s pinned at version 2", d.Agent, f.agent)
	}
	runs := f.waitRuns(d.ID, 1)
	r := runs[0]
	if r.TriggerContext.Type != "schedule" || !r.TriggerContext.ScheduledAt.Equal(at) {
		t.Fatalf("trigger = %s, want schedule at %s", r.TriggerContext.RawJSON(), at)
	}
	if r.SessionID == "" || r.Error.Type != "" {
		t.Fatalf("run: session %q, error %s", r.SessionID, r.Error.RawJSON())
	}
	sess, err := f.c.Beta.Sessions.Get(ctx, r.SessionID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if sess.DeploymentID != d.ID || sess.Agent.Version != 2 {
		t.Fatalf("session deployment_id %q agent version %d", sess.DeploymentID, sess.Agent.Version)
	}
	got, err := f.c.Beta.DeploymentRuns.Get(ctx, r.ID, anthropic.BetaDeploymentRunGetParams{})
	if err != nil || got.SessionID != r.SessionID {
		t.Fatalf("get run: %v %+v", err, got)
	}
	d, err = f.c.Beta.Deployments.Get(ctx, d.ID, anthropic.BetaDeploymentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Schedule.LastRunAt.IsZero() {
		t.Fatalf("last_run_at not set: %s", d.Schedule.RawJSON())
	}
	// Restarting after the fire does not fire the same time again.
	f.restart(syscall.SIGTERM)
	if n := len(f.runs(d.ID)); n != 1 {
		t.Fatalf("after restart: %d runs, want 1", n)
	}
}

// A fire that comes due while the server is down (stopped gracefully, or
// killed) runs once when it is back, and a kill after that fire never
// fires it twice.
func TestDeploymentsRestartAcrossDueTime(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			f := newDeplFix(t)
			// Ten seconds at least between create and the due time: the
			// server is down well before it.
			sched, at := onceAt(10 * time.Second)
			d := f.create(sched)
			stop(t, f.s, sig)
			for time.Now().Before(at.Add(time.Second)) {
				time.Sleep(100 * time.Millisecond)
			}
			f.s = testserver.Start(t, testserver.WithDataDir(f.s.DataDir))
			f.c = f.s.Client("")
			runs := f.waitRuns(d.ID, 1)
			if !runs[0].TriggerContext.ScheduledAt.Equal(at) || runs[0].SessionID == "" {
				t.Fatalf("catch-up run: %s", runs[0].RawJSON())
			}
			f.restart(syscall.SIGKILL)
			if n := len(f.runs(d.ID)); n != 1 {
				t.Fatalf("after a second restart: %d runs, want 1", n)
			}
		})
	}
}

// Pause stops the schedule but not manual runs; unpause resumes; archive
// is final. Runs list by trigger and by error.
func TestDeploymentsLifecycle(t *testing.T) {
	t.Parallel()
	f := newDeplFix(t)
	ctx := context.Background()
	d := f.create(&anthropic.BetaManagedAgentsScheduleParams{Expression: "0 9 * * 1-5", Timezone: "America/New_York"})
	if n := len(d.Schedule.UpcomingRunsAt); n != 5 {
		t.Fatalf("upcoming_runs_at has %d times, want 5", n)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range d.Schedule.UpcomingRunsAt {
		l := at.In(ny)
		if l.Hour() != 9 || l.Minute() != 0 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday {
			t.Fatalf("upcoming %s is %s in New York, want 09:00 on a weekday", at, l)
		}
	}
	p, err := f.c.Beta.Deployments.Pause(ctx, d.ID, anthropic.BetaDeploymentPauseParams{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "paused" || p.PausedReason.Type != "manual" {
		t.Fatalf("paused: %s %s", p.Status, p.PausedReason.RawJSON())
	}
	list, err := f.c.Beta.Deployments.List(ctx, anthropic.BetaDeploymentListParams{Status: "paused"})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != d.ID {
		t.Fatalf("list paused: %v %+v", err, list)
	}
	run, err := f.c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	if err != nil {
		t.Fatal(err)
	}
	if run.TriggerContext.Type != "manual" || run.SessionID == "" {
		t.Fatalf("manual run while paused: %s", run.RawJSON())
	}
	u, err := f.c.Beta.Deployments.Unpause(ctx, d.ID, anthropic.BetaDeploymentUnpauseParams{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != "active" || u.PausedReason.Type != "" || !strings.Contains(u.RawJSON(), `"paused_reason":null`) {
		t.Fatalf("unpaused: %s", u.RawJSON())
	}
	up, err := f.c.Beta.Deployments.Update(ctx, d.ID, anthropic.BetaDeploymentUpdateParams{
		Name:     anthropic.String("renamed"),
		Metadata: map[string]string{"team": "ops"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != "renamed" || up.Metadata["team"] != "ops" || up.Agent.Version != 2 {
		t.Fatalf("updated: %s", up.RawJSON())
	}
	// A pinned agent stays pinned until an agent is given again: a bare
	// id re-pins to the latest version. A null schedule makes the
	// deployment manual-only.
	if _, err := f.c.Beta.Agents.Update(ctx, f.agent, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(2), System: anthropic.String("v3")}); err != nil {
		t.Fatal(err)
	}
	up, err = f.c.Beta.Deployments.Update(ctx, d.ID, anthropic.BetaDeploymentUpdateParams{
		InitialEvents: []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{deplMessage("one"), deplMessage("two")},
	})
	if err != nil || up.Agent.Version != 2 || len(up.InitialEvents) != 2 {
		t.Fatalf("update events: %v %s", err, up.RawJSON())
	}
	up, err = f.c.Beta.Deployments.Update(ctx, d.ID, anthropic.BetaDeploymentUpdateParams{
		Agent: anthropic.BetaDeploymentUpdateParamsAgentUnion{OfString: anthropic.String(f.agent)},
	})
	if err != nil || up.Agent.Version != 3 {
		t.Fatalf("re-pin: %v %s", err, up.RawJSON())
	}
	st, m := (&sesnFix{t: t, s: f.s}).raw("POST", "/v1/deployments/"+d.ID, `{"schedule":null}`)
	if st != 200 || m["schedule"] != nil {
		t.Fatalf("clear schedule: %d %v", st, m)
	}
	manual, err := f.c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{DeploymentID: anthropic.String(d.ID), TriggerType: "manual"})
	if err != nil || len(manual.Data) != 1 {
		t.Fatalf("manual runs: %v %+v", err, manual)
	}
	failed, err := f.c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{DeploymentID: anthropic.String(d.ID), HasError: anthropic.Bool(true)})
	if err != nil || len(failed.Data) != 0 {
		t.Fatalf("failed runs: %v %+v", err, failed)
	}
	a, err := f.c.Beta.Deployments.Archive(ctx, d.ID, anthropic.BetaDeploymentArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if a.ArchivedAt.IsZero() || len(a.Schedule.UpcomingRunsAt) != 0 {
		t.Fatalf("archived: %s", a.RawJSON())
	}
	_, err = f.c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	apiErr(t, err, 409, "")
	_, err = f.c.Beta.Deployments.Update(ctx, d.ID, anthropic.BetaDeploymentUpdateParams{Name: anthropic.String("x")})
	apiErr(t, err, 409, "")
	list, err = f.c.Beta.Deployments.List(ctx, anthropic.BetaDeploymentListParams{})
	if err != nil || len(list.Data) != 0 {
		t.Fatalf("default list shows archived: %v %+v", err, list.Data)
	}
	list, err = f.c.Beta.Deployments.List(ctx, anthropic.BetaDeploymentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil || len(list.Data) != 1 {
		t.Fatalf("include_archived: %v %+v", err, list.Data)
	}
}

// A deployment whose agent is archived records an agent_archived run and
// is archived itself.
func TestDeploymentsAgentArchived(t *testing.T) {
	t.Parallel()
	f := newDeplFix(t)
	ctx := context.Background()
	d := f.create(nil)
	if _, err := f.c.Beta.Agents.Archive(ctx, f.agent, anthropic.BetaAgentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	run, err := f.c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	if err != nil {
		t.Fatal(err)
	}
	if run.SessionID != "" || run.Error.Type != "agent_archived_error" {
		t.Fatalf("run: %s", run.RawJSON())
	}
	got, err := f.c.Beta.Deployments.Get(ctx, d.ID, anthropic.BetaDeploymentGetParams{})
	if err != nil || got.ArchivedAt.IsZero() {
		t.Fatalf("deployment not archived: %v %s", err, got.RawJSON())
	}
	failed, err := f.c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{HasError: anthropic.Bool(true)})
	if err != nil || len(failed.Data) != 1 {
		t.Fatalf("has_error: %v %+v", err, failed)
	}
}

// Bad input is a 400 (404 for an object that does not exist, as on
// session create) whose message names the field.
func TestDeploymentsValidation(t *testing.T) {
	t.Parallel()
	f := newDeplFix(t)
	ctx := context.Background()
	many := make([]anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion, 51)
	for i := range many {
		many[i] = deplMessage("hi")
	}
	for _, c := range []struct {
		name   string
		edit   func(p *anthropic.BetaDeploymentNewParams)
		status int
		field  string
	}{
		{"bad cron", func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "61 * * * *", Timezone: "UTC"}
		}, 400, "schedule.expression"},
		{"six fields", func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "0 * * * * *", Timezone: "UTC"}
		}, 400, "schedule.expression"},
		{"bad timezone", func(p *anthropic.BetaDeploymentNewParams) {
			p.Schedule = anthropic.BetaManagedAgentsScheduleParams{Expression: "* * * * *", Timezone: "Mars/Olympus_Mons"}
		}, 400, "schedule.timezone"},
		{"no events", func(p *anthropic.BetaDeploymentNewParams) {
			p.InitialEvents = []anthropic.BetaManagedAgentsDeploymentInitialEventParamsUnion{}
		}, 400, "initial_events"},
		{"51 events", func(p *anthropic.BetaDeploymentNewParams) { p.InitialEvents = many }, 400, "initial_events"},
		{"unknown agent", func(p *anthropic.BetaDeploymentNewParams) {
			p.Agent = anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String("agent_nope")}
		}, 404, "agent"},
		{"unknown environment", func(p *anthropic.BetaDeploymentNewParams) { p.EnvironmentID = "env_nope" }, 404, "environment_id"},
		{"no name", func(p *anthropic.BetaDeploymentNewParams) { p.Name = "" }, 400, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := f.params(nil)
			c.edit(&p)
			_, err := f.c.Beta.Deployments.New(ctx, p)
			e := apiErr(t, err, c.status, "")
			if !strings.Contains(e.RawJSON(), c.field) {
				t.Fatalf("error does not name %s: %s", c.field, e.RawJSON())
			}
		})
	}
	_, err := f.c.Beta.Deployments.Get(ctx, "depl_nope", anthropic.BetaDeploymentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = f.c.Beta.DeploymentRuns.List(ctx, anthropic.BetaDeploymentRunListParams{TriggerType: "cron"})
	apiErr(t, err, 400, "")
}

// A deployment's budget is checked as session create checks it (a model
// without a list price is refused) and passes to every session it runs.
func TestDeploymentsBudget(t *testing.T) {
	t.Parallel()
	sf := newSesnFix(t)
	f := &deplFix{t: t, s: sf.s, c: sf.c, env: sf.env, agent: sf.agent}
	ctx := context.Background()
	p := f.params(nil)
	p.Budget = budgetParam("250")
	d, err := f.c.Beta.Deployments.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	run, err := f.c.Beta.Deployments.Run(ctx, d.ID, anthropic.BetaDeploymentRunParams{})
	if err != nil || run.SessionID == "" {
		t.Fatalf("run: %v %s", err, run.RawJSON())
	}
	s, err := f.c.Beta.Sessions.Get(ctx, run.SessionID, anthropic.BetaSessionGetParams{})
	if err != nil || s.Budget.MaxListCost.Amount != "250" {
		t.Fatalf("session budget: %v %s", err, s.RawJSON())
	}

	p.Agent = anthropic.BetaDeploymentNewParamsAgentUnion{OfString: anthropic.String(sf.newAgent(map[string]any{"model": "claude-unpriced-test"}))}
	_, err = f.c.Beta.Deployments.New(ctx, p)
	if code := errorCode(t, err); code != "model_not_budgetable" {
		t.Fatalf("unpriced model under a budget: %s (%v)", code, err)
	}
}
