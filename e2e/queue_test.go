package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// blockedTool is a bash call that marks that it started, then waits for the
// test to create `release` before it appends a line to `count` (all in the
// tool's working directory), so a test can act while it runs.
const blockedTool = "touch started; while [ ! -e release ]; do sleep 0.05; done; date +%s.%N >> count"

// A user.message sent while a built-in tool call runs waits for it: the
// session stays running, the call runs once and gets exactly one result,
// and the model sees that result before the message. Every path a tool
// takes: the worker in a local or docker sandbox, a self-hosted worker
// (the official SDK's), and a server killed while the call runs.
func TestMessageWaitsForRunningTool(t *testing.T) {
	for _, path := range []string{"local", "docker", "self-hosted", "restart"} {
		t.Run(path, func(t *testing.T) { testMessageWaitsForRunningTool(t, path) })
	}
}

func testMessageWaitsForRunningTool(t *testing.T, path string) {
	backend := "local"
	if path == "docker" {
		backend = "docker"
	}
	l := newLoopOn(t, backend, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": blockedTool}),
		modeltest.Text("saw both"))
	ctx := context.Background()
	var dir string
	if path == "self-hosted" {
		dir = l.selfHostedWorker(ctx)
	}
	sid := l.session(l.agent(toolsetAgent))
	if dir == "" {
		dir = filepath.Join(l.s.DataDir, "workspaces", sid)
	}
	col := l.stream(sid)
	l.send(sid, userMessage("first"))
	use, _ := col.waitType(t, 0, "agent.tool_use")
	waitFile(t, filepath.Join(dir, "started"))

	second := l.send(sid, userMessage("second"))
	// The message waits in the queue; the session goes on running the call.
	if s, err := l.c.Beta.Sessions.Get(ctx, sid, anthropic.BetaSessionGetParams{}); err != nil || s.Status != "running" {
		t.Fatalf("session after the second message: %v %v", s.Status, err)
	}
	for _, e := range l.history(sid, "user.message", "agent.tool_result", "user.tool_result", "session.status_idle") {
		if e.ID == second[0].ID && raw(e)["processed_at"] != nil || e.Type != "user.message" {
			t.Fatalf("while the call runs: %s", e.RawJSON())
		}
	}

	if path == "restart" {
		// The local sandbox, and the command in it, end with the server.
		l.s.Kill()
		l.reopen()
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Read from the log: a restarted server may finish before a new stream
	// would connect.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h := l.history(sid)
		// The reply is the last agent.message (the usage snapshot and the
		// span's end follow it).
		var reply string
		for _, e := range h {
			if e.Type == "agent.message" {
				reply = e.RawJSON()
			}
		}
		if n := len(h); n > 1 && h[n-1].Type == "session.status_idle" && h[n-1].StopReason.Type == "end_turn" && strings.Contains(reply, "saw both") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the turn did not end with the reply to both: %s", types(h))
		}
	}

	// Exactly one result for the call, logged before the message was taken.
	var results []string
	var processed bool
	for _, e := range l.history(sid, "user.message", "agent.tool_result", "user.tool_result") {
		switch {
		case e.Type == "user.message" && e.ID == second[0].ID:
			processed = raw(e)["processed_at"] != nil
		case raw(e)["tool_use_id"] == use.ID:
			results = append(results, e.RawJSON())
		}
	}
	if len(results) != 1 || !processed {
		t.Fatalf("results for the call: %q; second message processed: %v", results, processed)
	}
	if path == "restart" && !strings.Contains(results[0], "server restart") {
		t.Fatalf("result after the restart: %s", results[0])
	}
	// The model got the call's result, then the message, in one user turn.
	req, _ := l.fake.LastRequest()
	last, _ := req.Input.Last()
	if len(last.Content) != 2 || last.Content[0].Type != model.BlockToolResult || last.Content[0].ToolUseID != use.ID || last.Content[1].Text != "second" {
		t.Fatalf("last user turn sent upstream: %+v", last)
	}
	// The command ran once (or, killed with the server, never again).
	want := 1
	if path == "restart" {
		want = 0
		// A new worker would run unanswered calls before this one.
		l.bash(sid, "true")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "count"))
	if n := strings.Count(string(b), "\n"); n != want {
		t.Fatalf("the command ran %d times, want %d: %q", n, want, b)
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

// selfHostedEnv makes the loop's environment a new self-hosted one and
// returns its id with an environment key minted by the CLI.
func (l *loop) selfHostedEnv(ctx context.Context, name string) (envID, key string) {
	l.t.Helper()
	env, err := l.c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name: name, Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.envID = env.ID
	return env.ID, envKey(l.t, l.s, env.ID)
}

// selfHostedWorker makes the loop's environment a self-hosted one served by
// the official SDK's EnvironmentWorker in this process, with an environment
// key from `hangar keys create --environment`; it returns the worker's
// working directory, where its tools run.
func (l *loop) selfHostedWorker(ctx context.Context) string {
	t := l.t
	t.Helper()
	envID, key := l.selfHostedEnv(ctx, "self-hosted")
	dir := t.TempDir()
	wctx, cancel := context.WithCancel(ctx)
	w := environments.NewEnvironmentWorker(anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(key)),
		environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: key, Workdir: dir})
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return dir
}

// A message the API accepted is processed after a crash without further
// input: the server is killed right after the send's 200 and restarted on
// the same data, several times over.
func TestAcceptedMessageSurvivesCrash(t *testing.T) {
	l := newLoop(t, modeltest.EchoRule)
	agent := l.agent(map[string]any{})
	for i := range 4 {
		sid := l.session(agent)
		msg := fmt.Sprintf("survive %d", i)
		l.send(sid, userMessage(msg))
		l.s.Kill()
		l.reopen()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			// The kill may land before the turn, during it or after its
			// answer (then the restart only reschedules and ends the turn):
			// in every case the answer is logged once and the session ends
			// idle with the message processed.
			h := l.history(sid)
			n, answers := len(h), 0
			for _, e := range h {
				if e.Type == "agent.message" && strings.Contains(e.RawJSON(), "echo: "+msg) {
					answers++
				}
			}
			if n > 0 && h[n-1].Type == "session.status_idle" && answers > 0 && raw(h[0])["processed_at"] != nil {
				if answers != 1 {
					t.Fatalf("round %d: the message was answered %d times: %s", i, answers, types(h))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the message was not processed after the restart: %s", i, types(h))
			}
		}
	}
}

// A read right after a send's 200 shows the session running: the send
// returns once the session took its input. Every turn is held at the model,
// so nothing but the send can have moved the status.
func TestSendThenGetShowsRunning(t *testing.T) {
	l := newLoop(t, func(modeltest.Input) modeltest.Turn {
		return modeltest.Turn{Content: []model.Block{model.Text("held")}, Stall: true}
	})
	agent := l.agent(map[string]any{})
	ctx := context.Background()
	for i := range 50 {
		sid := l.session(agent)
		l.send(sid, userMessage("hold"))
		s, err := l.c.Beta.Sessions.Get(ctx, sid, anthropic.BetaSessionGetParams{})
		if err != nil || s.Status != "running" {
			t.Fatalf("send %d: session status %q right after the send (%v)", i, s.Status, err)
		}
	}
}

// An interrupt while a self-hosted worker runs a call answers the call in
// the log (is_error, interrupted), and that answer is the call's only one:
// the worker's own result, which comes after, is refused.
func TestSelfHostedInterruptRecordsResult(t *testing.T) {
	l := newLoop(t, nil, modeltest.ToolCall("", "bash", map[string]any{"command": blockedTool}))
	dir := l.selfHostedWorker(context.Background())
	sid := l.session(l.agent(toolsetAgent))
	col := l.stream(sid)
	l.send(sid, userMessage("start"))
	use, at := col.waitType(t, 0, "agent.tool_use")
	waitFile(t, filepath.Join(dir, "started"))
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	res, _ := col.waitType(t, at, "agent.tool_result")
	if raw(res)["tool_use_id"] != use.ID || raw(res)["is_error"] != true || !strings.Contains(res.RawJSON(), "interrupted") {
		t.Fatalf("result of the interrupted call: %s", res.RawJSON())
	}
	if idle, _ := col.waitType(t, at, "session.status_idle"); idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	// Let the command finish; its result is not logged as a second answer.
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l.fake.Push(modeltest.Text("later"))
	l.send(sid, userMessage("later"))
	col.waitFor(t, at, "the next turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "later")
	})
	var n int
	for _, e := range l.history(sid, "agent.tool_result", "user.tool_result") {
		if raw(e)["tool_use_id"] == use.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d results for the interrupted call", n)
	}
}
