package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

var partPattern = regexp.MustCompile(`part (\d)`)

// toolResultsIn counts the tool results a conversation has received.
func toolResultsIn(in modeltest.Input) []model.Block {
	var out []model.Block
	for _, m := range in.Messages {
		for _, b := range m.Content {
			if b.Type == model.BlockToolResult {
				out = append(out, b)
			}
		}
	}
	return out
}

// selfHostedThreadsRule scripts a coordinator that fans out to two
// researchers and, once both answered, runs pwd in its own shell; each
// researcher (part i) first moves its shell into d<i> and waits there for
// the other researcher to arrive in its own directory (so both calls must
// be running at the worker at once), then runs pwd, then answers with
// what pwd printed.
func selfHostedThreadsRule(in modeltest.Input) modeltest.Turn {
	last, _ := in.Last()
	lastText := blocksText(last.Content)
	if strings.Contains(in.System, researcherSystem) {
		first := blocksText(in.Messages[0].Content)
		m := partPattern.FindStringSubmatch(first)
		if m == nil {
			return modeltest.Text("no part in " + first)
		}
		i := m[1]
		j := map[string]string{"0": "1", "1": "0"}[i]
		switch res := toolResultsIn(in); len(res) {
		case 0:
			cmd := fmt.Sprintf("mkdir -p d%[1]s && cd d%[1]s && touch ../arrived%[1]s && "+
				"for n in $(seq 1 200); do [ -f ../arrived%[2]s ] && break; sleep 0.05; done; "+
				"if [ -f ../arrived%[2]s ]; then echo met-%[1]s; else echo alone-%[1]s; fi", i, j)
			return modeltest.ToolCall("", "bash", map[string]any{"command": cmd})
		case 1:
			return modeltest.ToolCall("", "bash", map[string]any{"command": "pwd"})
		default:
			return modeltest.Text(fmt.Sprintf("part %s: %s | %s", i, strings.TrimSpace(blocksText(res[0].Content)), strings.TrimSpace(blocksText(res[1].Content))))
		}
	}
	all := ""
	for _, m := range in.Messages {
		all += blocksText(m.Content) + "\n"
	}
	switch {
	case strings.HasPrefix(lastText, "fan out"):
		var blocks []model.Block
		for i := 0; i < 2; i++ {
			in, _ := json.Marshal(map[string]any{"agent": "researcher", "message": fmt.Sprintf("part %d", i)})
			blocks = append(blocks, model.ToolUse("", "spawn_agent", in))
		}
		return modeltest.Turn{Content: blocks}
	case strings.Contains(lastText, "[Message from session thread"):
		if strings.Contains(all, "part 0:") && strings.Contains(all, "part 1:") {
			return modeltest.ToolCall("", "bash", map[string]any{"command": "pwd"})
		}
		return modeltest.Text("Waiting for the other part.")
	case strings.Contains(all, "part 0:") && strings.Contains(all, "part 1:") && len(in.ToolResults()) > 0:
		return modeltest.Text("Final: coordinator in " + strings.TrimSpace(lastText))
	case len(in.ToolResults()) > 0:
		return modeltest.Text("Delegated; waiting.")
	}
	return modeltest.Text("?")
}

// A self_hosted session whose coordinator delegates to two subagents,
// served by the official worker (the SDK's EnvironmentWorker in this
// process, and `hangar worker`) with several calls at once: each
// subagent's bash calls reach the worker on the session's stream with the
// thread's id, run at the worker (in its working directory, not a server
// sandbox), both threads' calls run at the same time, each thread has a
// shell of its own (a cd in one leaves the other's and the coordinator's
// working directory alone), the worker's results (which name no thread)
// reach the right thread, and the session idles once every thread is done.
func TestSelfHostedThreads(t *testing.T) {
	for _, kind := range []string{"sdk", "hangar-worker"} {
		t.Run(kind, func(t *testing.T) { testSelfHostedThreads(t, kind) })
	}
}

func testSelfHostedThreads(t *testing.T, kind string) {
	l := newLoop(t, selfHostedThreadsRule)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-threads")
	toolset := []any{map[string]any{"type": "agent_toolset_20260401"}}
	rid := l.agent(map[string]any{"name": "researcher", "system": researcherSystem, "tools": toolset})
	cid := l.agent(map[string]any{"name": "coordinator", "system": coordinatorSystem, "tools": toolset,
		"multiagent": map[string]any{"type": "coordinator", "agents": []any{map[string]any{"type": "agent", "id": rid}}}})
	sid := l.session(cid)
	col := l.stream(sid)

	workdir := t.TempDir()
	done := make(chan error, 1)
	if kind == "sdk" {
		w := environments.NewEnvironmentWorker(anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey)),
			environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: workdir, MaxConcurrentCalls: 4})
		go func() { done <- w.Run(ctx) }()
	} else {
		cmd := exec.CommandContext(ctx, testserver.Binary(t), "worker", "--environment", envID, "--server", l.s.URL,
			"--workdir", workdir, "--max-concurrent-calls", "4")
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

	l.send(sid, userMessage("fan out 2"))
	final, _ := col.waitFor(t, 0, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	// The coordinator's shell never moved: the subagents' cd happened in
	// shells of their own.
	if want := "Final: coordinator in " + workdir; !strings.Contains(final.RawJSON(), want) {
		t.Fatalf("final = %s, want %q", final.RawJSON(), want)
	}
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	evs := col.snapshot()
	if n := countType(evs, "session.status_idle"); n != 1 {
		t.Fatalf("%d session.status_idle events: %s", n, types(evs))
	}

	ths := l.threads(sid)
	if len(ths) != 3 {
		t.Fatalf("%d threads", len(ths))
	}
	// The worker saw each subagent's calls on the session's stream with
	// the thread's id, and its results reached the thread.
	byThread := map[string]int{}
	results := map[string]string{}
	for _, e := range evs {
		m := raw(e)
		tid, _ := m["session_thread_id"].(string)
		switch e.Type {
		case "agent.tool_use":
			byThread[tid]++
		case "user.tool_result":
			results[m["tool_use_id"].(string)] = tid
		}
	}
	for _, th := range ths[1:] {
		if th.Status != "idle" {
			t.Fatalf("thread %s is %s", th.ID, th.Status)
		}
		if byThread[th.ID] != 2 {
			t.Fatalf("thread %s: %d calls on the session stream (%v): %s", th.ID, byThread[th.ID], byThread, types(evs))
		}
		tevs := l.threadEvents(sid, th.ID)
		if n := countType(tevs, "agent.tool_use"); n != 2 {
			t.Fatalf("thread %s events: %s", th.ID, types(tevs))
		}
	}
	for id, tid := range results {
		if tid == "" {
			continue // the coordinator's own call
		}
		if byThread[tid] == 0 {
			t.Fatalf("result for %s routed to unknown thread %s", id, tid)
		}
	}
	// Each researcher met the other (their first calls ran at the worker
	// at the same time) and its shell stayed in its own directory.
	for i := 0; i < 2; i++ {
		want := fmt.Sprintf("part %d: met-%d | %s", i, i, filepath.Join(workdir, fmt.Sprintf("d%d", i)))
		if !strings.Contains(allText(l, sid), want) {
			t.Fatalf("no %q in the coordinator's messages: %s", want, allText(l, sid))
		}
		if _, err := os.Stat(filepath.Join(workdir, fmt.Sprintf("arrived%d", i))); err != nil {
			t.Fatalf("the subagent's call did not run in the worker's directory: %v", err)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
	}
}

// allText is the text of the messages the coordinator received from its
// threads.
func allText(l *loop, sid string) string {
	var b strings.Builder
	for _, e := range l.history(sid) {
		if e.Type == "agent.thread_message_received" {
			b.WriteString(e.RawJSON())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// researcherOneCall makes the researcher run one bash command, then answer
// with its output.
func researcherOneCall(command string) func(in modeltest.Input) modeltest.Turn {
	return func(in modeltest.Input) modeltest.Turn {
		if res := toolResultsIn(in); len(res) > 0 {
			return modeltest.Text("ran: " + strings.TrimSpace(blocksText(res[0].Content)))
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": command})
	}
}

func toolResult(toolUseID, text string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolResult: &anthropic.BetaManagedAgentsUserToolResultEventParams{
		ToolUseID: toolUseID,
		Content:   []anthropic.BetaManagedAgentsUserToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
	}}
}

// A worker that reads a thread's own stream answers the subagent's call by
// its own id (not the copy's on the primary thread), naming no thread: the
// result reaches the thread, is logged on the primary thread with the
// thread's id and on the thread, and a repeat (by either id) gets the first
// echo back, as a retried result of the primary thread's does.
func TestSelfHostedThreadsResultByThreadCallID(t *testing.T) {
	l := newLoop(t, multiagentRule(researcherOneCall("echo never-run-here")))
	ctx := context.Background()
	_, envKey := l.selfHostedEnv(ctx, "self-hosted-no-worker")
	sid := l.session(l.coordinator([]any{map[string]any{"type": "agent_toolset_20260401"}}))
	// The worker's credential reads the session's threads too.
	wc := anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey))
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	cp, _ := col.waitFor(t, 0, "the copy of the subagent's call", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && raw(e)["session_thread_id"] != nil
	})
	tid := raw(cp)["session_thread_id"].(string)
	if cp.EvaluatedPermission != "allow" {
		t.Fatalf("copy = %s", cp.RawJSON())
	}
	var own string
	if _, err := wc.Beta.Sessions.Threads.Get(ctx, tid, anthropic.BetaSessionThreadGetParams{SessionID: sid}); err != nil {
		t.Fatalf("the worker's credential gets the thread: %v", err)
	}
	it := wc.Beta.Sessions.Threads.Events.ListAutoPaging(ctx, tid, anthropic.BetaSessionThreadEventListParams{SessionID: sid})
	for it.Next() {
		if it.Current().Type == "agent.tool_use" {
			own = it.Current().ID
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("the worker's credential lists the thread's events: %v", err)
	}
	if own == "" || own == cp.ID {
		t.Fatalf("thread call %q, copy %s", own, cp.ID)
	}
	echo := l.send(sid, toolResult(own, "answered-by-thread-id"))
	if len(echo) != 1 || raw(echo[0])["session_thread_id"] != tid {
		t.Fatalf("echo = %v", echo)
	}
	final, _ := col.waitFor(t, 0, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "ran: answered-by-thread-id") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	col.waitType(t, 0, "session.status_idle")
	for _, id := range []string{own, cp.ID} {
		again := l.send(sid, toolResult(id, "again"))
		if len(again) != 1 || again[0].ID != echo[0].ID {
			t.Fatalf("repeat naming %s: %v, first %s", id, again, echo[0].ID)
		}
	}
	tevs := l.threadEvents(sid, tid)
	if countType(tevs, "user.tool_result") != 1 {
		t.Fatalf("thread events: %s", types(tevs))
	}
	for _, e := range tevs {
		if e.Type == "user.tool_result" && raw(e)["tool_use_id"] != own {
			t.Fatalf("thread's result = %s", e.RawJSON())
		}
	}
}

// A subagent's always_ask call in a self_hosted session: the worker does
// not run it while it waits for the client; once the client allows it (on
// the session's events endpoint, naming the copy), the worker runs it and
// the thread goes on.
func TestSelfHostedThreadsAlwaysAsk(t *testing.T) {
	l := newLoop(t, multiagentRule(researcherOneCall("echo gated-subagent-run")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-threads-ask")
	sid := l.session(l.coordinator([]any{map[string]any{"type": "agent_toolset_20260401",
		"default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}}}}))
	col := l.stream(sid)
	workdir := t.TempDir()
	w := environments.NewEnvironmentWorker(anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey)),
		environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: workdir, MaxConcurrentCalls: 4})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	l.send(sid, userMessage("the answer"))
	idle, at := col.waitFor(t, 0, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action"
	})
	if len(idle.StopReason.EventIDs) != 1 {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	for _, e := range col.snapshot() {
		if e.Type == "user.tool_result" {
			t.Fatalf("the worker ran a gated call before its confirmation: %s", e.RawJSON())
		}
	}
	l.send(sid, confirm(idle.StopReason.EventIDs[0], true, ""))
	res, _ := col.waitType(t, at, "user.tool_result")
	if !strings.Contains(res.RawJSON(), "gated-subagent-run") || raw(res)["session_thread_id"] == nil {
		t.Fatalf("user.tool_result = %s", res.RawJSON())
	}
	final, _ := col.waitFor(t, at, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "ran: gated-subagent-run") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	col.waitFor(t, at, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	cancel()
	<-done
}

// A subagent's call waiting for the worker survives a server restart: the
// thread still waits on it (it is neither failed nor handed out twice), the
// session is queued for a worker again, and a worker that starts only after
// the restart runs it and the thread goes on.
func TestSelfHostedThreadsCallSurvivesRestart(t *testing.T) {
	l := newLoop(t, multiagentRule(researcherOneCall("echo after-restart")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-threads-restart")
	sid := l.session(l.coordinator([]any{map[string]any{"type": "agent_toolset_20260401"}}))
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	cp, _ := col.waitFor(t, 0, "the copy of the subagent's call", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && raw(e)["session_thread_id"] != nil
	})
	l.s.Kill()
	l.restart("local")

	w := environments.NewEnvironmentWorker(anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey)),
		environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: t.TempDir(), MaxConcurrentCalls: 4})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	col = l.stream(sid)
	final, _ := col.waitFor(t, 0, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "ran: after-restart") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	hist := l.history(sid)
	copies, results := 0, 0
	for _, e := range hist {
		switch {
		case e.Type == "agent.tool_use" && raw(e)["session_thread_id"] != nil:
			copies++
		case e.Type == "user.tool_result" && raw(e)["tool_use_id"] == cp.ID:
			results++
		}
	}
	if copies != 1 || results != 1 {
		t.Fatalf("%d copies, %d results for %s: %s", copies, results, cp.ID, types(hist))
	}
	tevs := l.threadEvents(sid, raw(cp)["session_thread_id"].(string))
	if countType(tevs, "agent.tool_result") != 0 || countType(tevs, "user.tool_result") != 1 {
		t.Fatalf("thread events: %s", types(tevs))
	}
	cancel()
	<-done
}

// Interrupting a subagent whose call waits at the worker answers the call
// with an error on the thread and idles the thread (the runner's sign to
// stop the call); a result the worker still sends is refused, and the
// session goes idle.
func TestSelfHostedThreadsInterruptAtWorker(t *testing.T) {
	l := newLoop(t, multiagentRule(researcherOneCall("sleep 1000")))
	ctx := context.Background()
	l.selfHostedEnv(ctx, "self-hosted-threads-interrupt")
	sid := l.session(l.coordinator([]any{map[string]any{"type": "agent_toolset_20260401"}}))
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	cp, at := col.waitFor(t, 0, "the copy of the subagent's call", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.tool_use" && raw(e)["session_thread_id"] != nil
	})
	tid := raw(cp)["session_thread_id"].(string)
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{SessionThreadID: anthropic.String(tid)}})
	col.waitFor(t, at, "the thread's idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_idle" && raw(e)["session_thread_id"] == tid
	})
	col.waitFor(t, at, "the session's idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	_, err := l.c.Beta.Sessions.Events.Send(ctx, sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{toolResult(cp.ID, "too late")}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("a result after the interrupt: %v", err)
	}
	tevs := l.threadEvents(sid, tid)
	if countType(tevs, "agent.tool_result") != 1 || countType(tevs, "user.tool_result") != 0 {
		t.Fatalf("thread events: %s", types(tevs))
	}
}
