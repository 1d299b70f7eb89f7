package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// A self-hosted session's memory stores, through the official SDK's worker
// (in this process, and as `hangar worker`): the worker sees each attached
// store's memories as files at the store's mount path; what bash changes
// in a read_write store becomes memory versions by the session once the
// turn ends; what it writes into a read_only store's folder changes
// nothing on the server.
func TestSelfHostedMemory(t *testing.T) {
	for _, kind := range []string{"sdk", "hangar-worker"} {
		t.Run(kind, func(t *testing.T) { testSelfHostedMemory(t, kind) })
	}
}

func testSelfHostedMemory(t *testing.T, kind string) {
	l := newLoop(t, modeltest.DemoRule)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	envID, envKey := l.selfHostedEnv(ctx, "self-hosted-memory")
	// The worker makes each store's folder at its mount path on this
	// machine, which must not exist yet: names no other test uses.
	suffix := fmt.Sprintf("%s-%d", kind, time.Now().UnixNano())
	newStore := func(name, path, content string) string {
		ms, err := l.c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: name + "-" + suffix})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.c.Beta.MemoryStores.Memories.New(ctx, ms.ID, anthropic.BetaMemoryStoreMemoryNewParams{
			Path: path, Content: param.NewOpt(content)}); err != nil {
			t.Fatal(err)
		}
		return ms.ID
	}
	rw := newStore("notes", "/notes.md", "remember the milk\n")
	ro := newStore("rules", "/rules.md", "be kind\n")
	agentID := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}})
	s, err := l.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: param.NewOpt(agentID)},
		EnvironmentID: envID,
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{
			{OfMemoryStore: &anthropic.BetaManagedAgentsMemoryStoreResourceParam{MemoryStoreID: rw}},
			{OfMemoryStore: &anthropic.BetaManagedAgentsMemoryStoreResourceParam{MemoryStoreID: ro, Access: "read_only"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, r := range s.Resources {
		ms := r.AsMemoryStore()
		if ms.MountPath == "" {
			t.Fatalf("memory store resource without a mount path: %s", r.RawJSON())
		}
		mounts[ms.MemoryStoreID] = ms.MountPath
		// The worker removes its folders when its item ends; this is for
		// a test that failed before that, and for the parent the worker
		// made (removed only when empty: another test's may be in it).
		t.Cleanup(func() { os.RemoveAll(ms.MountPath); os.Remove(filepath.Dir(ms.MountPath)) })
	}
	col := l.stream(s.ID)

	// The SDK's worker uploads when it sees the session go idle, but skips
	// that when the idle event reaches its stream before it has recorded the
	// end of its own tool call (a turn as fast as the fake model's); the
	// upload then happens when its item ends, after this idle grace.
	maxIdle := 2 * time.Second
	done := make(chan error, 1)
	if kind == "sdk" {
		w := environments.NewEnvironmentWorker(anthropic.NewClient(option.WithBaseURL(l.s.URL), option.WithAPIKey(envKey)),
			environments.EnvironmentWorkerOptions{EnvironmentID: envID, EnvironmentKey: envKey, Workdir: t.TempDir(), MaxIdle: &maxIdle})
		go func() { done <- w.Run(ctx) }()
	} else {
		cmd := exec.CommandContext(ctx, testserver.Binary(t), "worker", "--environment", envID, "--server", l.s.URL, "--workdir", t.TempDir(), "--max-idle", maxIdle.String())
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

	rwDir, roDir := mounts[rw], mounts[ro]
	script := fmt.Sprintf("cat %s %s; echo 'buy eggs' >> %s; echo 'call mum' > %s; echo 'be rude' > %s",
		filepath.Join(rwDir, "notes.md"), filepath.Join(roDir, "rules.md"),
		filepath.Join(rwDir, "notes.md"), filepath.Join(rwDir, "todo", "today.md"), filepath.Join(roDir, "rules.md"))
	script = fmt.Sprintf("mkdir -p %s; %s", filepath.Join(rwDir, "todo"), script)
	input, _ := json.Marshal(map[string]string{"command": script})
	l.send(s.ID, userMessage("tool: bash "+string(input)))
	res, _ := col.waitType(t, 0, "user.tool_result")
	if out := res.RawJSON(); !strings.Contains(out, "remember the milk") || !strings.Contains(out, "be kind") {
		t.Fatalf("the worker did not see the stores' memories as files: %s", out)
	}
	col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})

	// The worker uploads what changed once the session is idle.
	want := map[string]string{"/notes.md": "remember the milk\nbuy eggs\n", "/todo/today.md": "call mum\n"}
	var got map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = memories(t, l.c, rw)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read_write store after the turn: %v, want %v", got, want)
		}
	}
	vs, err := l.c.Beta.MemoryStores.MemoryVersions.List(ctx, rw, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	bySession := map[string]string{}
	for _, v := range vs.Data {
		if v.CreatedBy.Type == "session_actor" {
			if v.CreatedBy.SessionID != s.ID {
				t.Errorf("version %s by session %q, want %q", v.ID, v.CreatedBy.SessionID, s.ID)
			}
			bySession[v.Path] = string(v.Operation)
		}
	}
	if fmt.Sprint(bySession) != fmt.Sprint(map[string]string{"/notes.md": "modified", "/todo/today.md": "created"}) {
		t.Errorf("versions by the session: %v", bySession)
	}
	if got := memories(t, l.c, ro); fmt.Sprint(got) != fmt.Sprint(map[string]string{"/rules.md": "be kind\n"}) {
		t.Errorf("read_only store changed: %v", got)
	}
	rvs, err := l.c.Beta.MemoryStores.MemoryVersions.List(ctx, ro, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil || len(rvs.Data) != 1 {
		t.Errorf("read_only store versions: %v, %s", err, rvs.RawJSON())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("worker did not stop")
	}
}

// memories is a store's memories, path → content.
func memories(t *testing.T, c anthropic.Client, storeID string) map[string]string {
	t.Helper()
	page, err := c.Beta.MemoryStores.Memories.List(context.Background(), storeID,
		anthropic.BetaMemoryStoreMemoryListParams{View: anthropic.BetaManagedAgentsMemoryViewFull, Limit: param.NewOpt(int64(20))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range page.Data {
		m := it.AsMemory()
		out[m.Path] = m.Content
	}
	return out
}

// A cloud session's stores are the server's to mount and sync: the worker
// in its sandbox leaves them alone (the server refuses it the memory
// routes), so a session with a store attached runs its tools as any other.
func TestCloudSessionWorkerLeavesMemory(t *testing.T) {
	l := newLoop(t, modeltest.DemoRule)
	ms := newMemStore(t, l.c, "cloud notes")
	agentID := l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}})
	s := l.sessionWith(agentID, memResource(ms.ID, "", ""))
	col := l.stream(s.ID)
	l.send(s.ID, userMessage(`tool: bash {"command":"echo from-the-sandbox"}`))
	res, _ := col.waitType(t, 0, "agent.tool_result")
	if out := res.RawJSON(); !strings.Contains(out, "from-the-sandbox") || raw(res)["is_error"] == true {
		t.Fatalf("tool result = %s", out)
	}
	col.waitFor(t, 0, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
}
