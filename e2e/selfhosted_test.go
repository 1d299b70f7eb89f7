package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// Self-hosted: the official SDK's
// EnvironmentWorker, with an environment key minted by `hangar keys
// create --environment`, claims the session's work item, runs the bash tool
// the model asked for, and posts user.tool_result; the turn then finishes.
func TestSelfHostedEnvironmentWorker(t *testing.T) {
	for _, kind := range []string{"sdk", "hangar-worker"} {
		t.Run(kind, func(t *testing.T) { testSelfHosted(t, kind) })
	}
}

// testSelfHosted runs the scenario with the SDK's worker in this process, or
// with `hangar worker` (which wraps it) as a separate process.
func testSelfHosted(t *testing.T, kind string) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo from-the-worker"}),
		modeltest.Text("The worker said hello."))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted")
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}))
	col := l.stream(sid)

	done := make(chan error, 1)
	if kind == "sdk" {
		workerClient := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey))
		w := environments.NewEnvironmentWorker(workerClient, environments.EnvironmentWorkerOptions{
			EnvironmentID: envID, EnvironmentKey: envKey, Workdir: t.TempDir(),
		})
		go func() { done <- w.Run(ctx) }()
	} else {
		cmd := exec.CommandContext(ctx, testserver.Binary(t), "worker", "--environment", envID, "--server", l.s.URL, "--workdir", t.TempDir())
		cmd.Env = append(os.Environ(), "HANGAR_ENVIRONMENT_KEY="+envKey)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		var logs strings.Builder
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("hangar worker log:\n%s", logs.String())
			}
		})
	}

	l.send(sid, userMessage("say hello from the worker"))
	res, _ := col.waitType(t, 0, "user.tool_result")
	if !strings.Contains(res.RawJSON(), "from-the-worker") {
		t.Fatalf("user.tool_result = %s", res.RawJSON())
	}
	use, _ := col.waitType(t, 0, "agent.tool_use")
	if raw(res)["tool_use_id"] != use.ID {
		t.Fatalf("result for %v, tool_use %s", raw(res)["tool_use_id"], use.ID)
	}
	col.waitFor(t, 0, "final reply", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "worker said hello")
	})
	idle, _ := col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	_ = idle
	req, _ := l.fake.LastRequest()
	results := req.Input.ToolResults()
	if len(results) != 1 || results[0].ToolUseID != use.ID {
		t.Fatalf("tool results upstream = %+v", results)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
	}
}

// A call gated by always_ask is not run by the worker
// before its confirmation; after allow it runs and the turn finishes.
func TestSelfHostedAlwaysAsk(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "echo gated-run"}),
		modeltest.Text("Done."))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-ask")
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	}}}))
	col := l.stream(sid)
	workerClient := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey))
	w := environments.NewEnvironmentWorker(workerClient, environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: t.TempDir()})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	l.send(sid, userMessage("run the gated thing"))
	use, _ := col.waitType(t, 0, "agent.tool_use")
	_, at := col.waitFor(t, 0, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action"
	})
	time.Sleep(1500 * time.Millisecond) // give a misbehaving worker time to run it
	for _, e := range col.snapshot() {
		if e.Type == "user.tool_result" {
			t.Fatalf("the worker ran a gated call before its confirmation: %s", e.RawJSON())
		}
	}
	l.send(sid, confirm(use.ID, true, ""))
	res, _ := col.waitType(t, at, "user.tool_result")
	if !strings.Contains(res.RawJSON(), "gated-run") {
		t.Fatalf("user.tool_result = %s", res.RawJSON())
	}
	col.waitFor(t, at, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	cancel()
	<-done
}
