package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

var toolsetAgent = map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}

// One execution path: a cloud session's tool call is a work
// item of its environment, handled by `hangar worker --item` running inside
// the session's sandbox, which reaches the server over the API socket in
// its egress directory (the sandbox has no network) and holds its work
// secret in neither argv nor environment. The worker runs in the process
// of the sandbox's agent (the same binary; an agent builtin).
func TestSandboxWorkerPath(t *testing.T) {
	for _, sb := range []string{"local", "docker"} {
		t.Run(sb, func(t *testing.T) { testSandboxWorkerPath(t, sb) })
	}
}

func testSandboxWorkerPath(t *testing.T, backend string) {
	l := newLoopOn(t, backend, nil)
	sid := l.session(l.agent(toolsetAgent))
	// Every process's command line and environment, as the agent's bash
	// sees them inside the sandbox.
	out := toolText(t, l.bash(sid, `for p in /proc/[0-9]*; do echo "PROC $(tr '\0' ' ' < $p/cmdline)"; done; ls /run/hangar/egress; env`))
	// The agent is hangar-agent, installed beside the server (the
	// server's own binary would be `/run/hangar/agent sandbox-tool`).
	if !strings.Contains(out, "PROC /run/hangar/agent \n") || strings.Contains(out, "/run/hangar/agent worker") {
		t.Fatalf("the sandbox's agent (hangar-agent) should run the worker in its own process:\n%s", out)
	}
	if !strings.Contains(out, "api.sock") {
		t.Fatalf("no API socket in the sandbox's egress directory:\n%s", out)
	}
	if strings.Contains(out, "sk-ant-wst01-") || strings.Contains(out, "ANTHROPIC_WORK") {
		t.Fatalf("the work secret is visible in the sandbox:\n%s", out)
	}
	ctx := context.Background()
	page, err := l.c.Beta.Environments.Work.List(ctx, l.envID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range page.Data {
		if w.Data.ID == sid {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no work item for session %s: %s", sid, page.RawJSON())
	}
	// The log keeps the cloud shape: the worker's result is the agent's
	// agent.tool_result, never a user.tool_result.
	if e := l.history(sid, "user.tool_result"); len(e) > 0 {
		t.Fatalf("cloud session logged %s", e[0].RawJSON())
	}
	// A second turn is served too (the worker stays, or a new one starts)
	// and does not run the first call again. The sandbox has one tool
	// shell, the agent's, started with the sandbox and used by every
	// worker: not one of the worker's own for the session's thread.
	if out := toolText(t, l.bash(sid, "echo second-turn; pgrep -c -f -x '/bin/bash --noprofile --norc'")); out != "second-turn\n1" {
		t.Fatalf("second turn (want one tool shell): %q", out)
	}
	if uses := len(l.history(sid, "agent.tool_result")); uses != 2 {
		t.Fatalf("%d tool results after two calls", uses)
	}
}

// A sandbox reaches only its own session's API socket,
// and only with its own worker's token. Inside the sandbox the agent tries
// the socket with the administrator key, without a key, and every other
// session's socket by its host path.
func TestSandboxWorkerSocketAttack(t *testing.T) {
	l := newLoopOn(t, "local", nil)
	victim := l.session(l.agent(toolsetAgent))
	l.bash(victim, "echo victim-ready")
	attacker := l.session(l.agent(toolsetAgent))
	l.bash(attacker, "true")

	hostSocks, _ := filepath.Glob(filepath.Join(l.s.DataDir, "egress", "*", "api.sock"))
	if tmp, _ := filepath.Glob(filepath.Join(os.TempDir(), "hangar-egress-*", "*", "api.sock")); len(tmp) > 0 {
		hostSocks = append(hostSocks, tmp...)
	}
	if len(hostSocks) < 2 {
		t.Fatalf("expected the sessions' API sockets on the host, found %v", hostSocks)
	}
	var cmd strings.Builder
	sock := "/run/hangar/egress/api.sock"
	cmd.WriteString("curl -sS --unix-socket " + sock + " -o /dev/null -w 'admin=%{http_code}\\n' -H 'x-api-key: " + testserver.AdminKey + "' http://hangar/v1/sessions/" + victim + "; ")
	cmd.WriteString("curl -sS --unix-socket " + sock + " -o /dev/null -w 'admin-own=%{http_code}\\n' -H 'x-api-key: " + testserver.AdminKey + "' http://hangar/v1/sessions/" + attacker + "; ")
	cmd.WriteString("curl -sS --unix-socket " + sock + " -o /dev/null -w 'nokey=%{http_code}\\n' http://hangar/v1/sessions/" + attacker + "; ")
	for _, hs := range hostSocks {
		cmd.WriteString("curl -sS --max-time 2 --unix-socket " + hs + " -o /dev/null -w 'other=%{http_code}\\n' http://hangar/v1/sessions 2>/dev/null || echo other=unreachable; ")
	}
	cmd.WriteString("find / -xdev -name api.sock 2>/dev/null; find /run -name '*.sock' 2>/dev/null; echo done")
	out := toolText(t, l.bash(attacker, cmd.String()))
	for _, want := range []string{"admin=403", "admin-own=403", "nokey=403", "done"} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "other=unreachable") != len(hostSocks) {
		t.Fatalf("a host socket path was reachable from the sandbox:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, ".sock") && !strings.HasPrefix(line, "/run/hangar/egress/") {
			t.Fatalf("a socket outside the sandbox's own directory is visible: %s\n%s", line, out)
		}
	}
}

// Interrupt through the worker path: an interrupt while the sandbox's
// worker runs a long bash call ends the turn at once and kills the command
// (the SDK runner cancels the call once the log answers it); the log has
// the interrupted call's result. As in the reference toolset, the
// cancellation ends the shell too, and the next call restarts it.
func TestSandboxWorkerInterruptKillsBash(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "sleep 37; echo late > /workspace/late"}))
	sid := l.session(l.agent(toolsetAgent))
	col := l.stream(sid)
	l.send(sid, userMessage("start"))
	use, at := col.waitType(t, 0, "agent.tool_use")
	// The sleep is running in the sandbox before the interrupt is sent.
	waitSandboxProcess(t, l, sid, "sleep 37")
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	idle, _ := col.waitType(t, at, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	col.cancel()
	results := l.history(sid, "agent.tool_result")
	if len(results) != 1 || raw(results[0])["tool_use_id"] != use.ID || raw(results[0])["is_error"] != true || !strings.Contains(results[0].RawJSON(), "interrupted") {
		t.Fatalf("results of the interrupted call: %s", types(results))
	}
	l.fake.Push(modeltest.ToolCall("", "bash", map[string]any{"restart": true,
		"command": `for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline; echo; done | grep -c '^sleep 37' || true; ls /workspace`}), modeltest.Text("ok"))
	col = l.stream(sid)
	l.send(sid, userMessage("check"))
	res, _ := col.waitType(t, 0, "agent.tool_result")
	out := toolText(t, res.RawJSON())
	if !strings.HasPrefix(strings.TrimSpace(out), "0") || strings.Contains(out, "late") {
		t.Fatalf("the interrupted command survived:\n%s", out)
	}
}

// waitSandboxProcess waits until the host sees a process with cmd in its
// command line (the sandbox's processes are host processes too).
func waitSandboxProcess(t *testing.T, l *loop, sid, cmd string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), cmd) {
				return
			}
		}
	}
	t.Fatalf("no process %q appeared in session %s's sandbox", cmd, sid)
}

// Confirmation through the worker path: an always_ask bash
// call is not run before its confirmation; denied, it never runs; allowed,
// it runs in the sandbox and the turn ends.
func TestSandboxWorkerAlwaysAsk(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch /workspace/denied-ran"}),
		modeltest.Text("denied"),
		modeltest.ToolCall("", "bash", map[string]any{"command": "touch /workspace/allowed-ran; echo allowed-output"}),
		modeltest.Text("allowed"))
	ask := map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401",
		"default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}}}}}
	sid := l.session(l.agent(ask))
	col := l.stream(sid)
	for _, allow := range []bool{false, true} {
		l.send(sid, userMessage("go"))
		use, _ := col.waitFor(t, 0, "a new tool_use", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
			return e.Type == "agent.tool_use" && strings.Contains(e.RawJSON(), map[bool]string{false: "denied-ran", true: "allowed-ran"}[allow])
		})
		_, at := col.waitFor(t, 0, "requires_action", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
			return e.Type == "session.status_idle" && e.StopReason.Type == "requires_action" && strings.Contains(e.RawJSON(), use.ID)
		})
		time.Sleep(300 * time.Millisecond) // a worker that ran it early would have by now
		if _, err := os.Stat(filepath.Join(l.s.DataDir, "workspaces", sid, map[bool]string{false: "denied-ran", true: "allowed-ran"}[allow])); err == nil {
			t.Fatal("the worker ran an always_ask call before its confirmation")
		}
		l.send(sid, confirm(use.ID, allow, ""))
		col.waitFor(t, at, "end_turn", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
			return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
		})
		// A denied call is answered to the model only; an allowed one has
		// the worker's result.
		var res string
		for _, e := range col.snapshot()[at:] {
			if e.Type == "agent.tool_result" && raw(e)["tool_use_id"] == use.ID {
				res = e.RawJSON()
			}
		}
		if allow != strings.Contains(res, "allowed-output") {
			t.Fatalf("allow=%v: result %q", allow, res)
		}
	}
	ws := filepath.Join(l.s.DataDir, "workspaces", sid)
	if _, err := os.Stat(filepath.Join(ws, "denied-ran")); err == nil {
		t.Fatal("a denied call ran")
	}
	if _, err := os.Stat(filepath.Join(ws, "allowed-ran")); err != nil {
		t.Fatalf("the allowed call did not run: %v", err)
	}
}

// Crash recovery through the worker path: the server is killed while the
// sandbox's worker runs a call; after the restart the call is reported
// failed (it may or may not have run), the turn goes on, and the next
// call gets a new worker (the dead one's work item is stopped, not waited
// out).
func TestSandboxWorkerCrashRecovery(t *testing.T) {
	l := newLoop(t, nil,
		modeltest.ToolCall("", "bash", map[string]any{"command": "sleep 38"}),
		modeltest.Text("after restart"))
	sid := l.session(l.agent(toolsetAgent))
	l.send(sid, userMessage("start"))
	waitSandboxProcess(t, l, sid, "sleep 38")
	l.s.Kill()
	l.reopen()
	var res string
	for deadline := time.Now().Add(20 * time.Second); res == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rs := l.history(sid, "agent.tool_result"); len(rs) > 0 {
			res = rs[len(rs)-1].RawJSON()
		}
	}
	if !strings.Contains(res, "server restart") {
		t.Fatalf("tool result after restart: %q", res)
	}
	start := time.Now()
	if out := toolText(t, l.bash(sid, "echo new-worker")); !strings.Contains(out, "new-worker") {
		t.Fatalf("bash after restart: %s", out)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the next call waited %s (the dead worker's lease?)", d)
	}
}

// The work token is in no file, argv or environment of
// the sandbox, and code in the sandbox cannot read it from memory either:
// the worker runs in the sandbox's agent, which is non-dumpable, so its
// /proc/<pid>/mem is refused to the sandbox's processes although they run
// as the same user. (A worker of its own process, as before, was readable.)
// Were it read anyway, it is refused on the server's TCP listener and good
// only for its own session on the sandbox's socket (api.Options.SandboxWork).
func TestSandboxWorkerTokenStaysInSandbox(t *testing.T) {
	l := newLoopOn(t, "local", nil)
	sid := l.session(l.agent(toolsetAgent))
	script := `import re,os
found=False
for pid in os.listdir('/proc'):
    if not pid.isdigit(): continue
    try:
        cmd=open('/proc/%s/cmdline'%pid,'rb').read()
        if not cmd.startswith(b'/run/hangar/agent'): continue
        found=True
        mem=open('/proc/%s/mem'%pid,'rb')
        for line in open('/proc/%s/maps'%pid):
            a,perm=line.split()[:2]
            if 'rw' not in perm: continue
            lo,hi=[int(x,16) for x in a.split('-')]
            try:
                mem.seek(lo); m=re.search(rb'sk-ant-wst01-[A-Za-z0-9_-]{43}',mem.read(hi-lo))
            except Exception: continue
            if m: print('TOKEN='+m.group().decode()); raise SystemExit
    except PermissionError as e: print('REFUSED', e)
    except FileNotFoundError: pass
print('FOUND' if found else 'NOPROC')
print('NOTOKEN')`
	out := toolText(t, l.bash(sid, "python3 - <<'PY'\n"+script+"\nPY"))
	if strings.Contains(out, "TOKEN=sk-ant-wst01-") || !strings.Contains(out, "FOUND") || !strings.Contains(out, "REFUSED") {
		t.Fatalf("the worker's memory, and its token, should be out of the sandbox's reach: %s", out)
	}
}

// A session's next worker (after the previous one ended) does not run the
// calls earlier workers answered: the log records their results as
// agent.tool_result, which the worker's transport shows the SDK runner as
// the user.tool_result it pairs with agent.tool_use.
func TestSandboxWorkerNewWorkerDoesNotRerun(t *testing.T) {
	l := newLoopOn(t, "local", nil)
	sid := l.session(l.agent(toolsetAgent))
	l.bash(sid, "echo x >> /workspace/count")
	// The worker runs in the sandbox's agent: it ends with the sandbox,
	// which a local sandbox does with the server. The restarted server
	// starts a new sandbox around the same workspace, and a new worker.
	l.s.Stop(t)
	l.reopen()
	out := toolText(t, l.bash(sid, "cat /workspace/count"))
	if strings.Count(out, "x") != 1 {
		t.Fatalf("the first call ran again: %q", out)
	}
}

// A normal Ctrl-C after a cloud session ran a tool logs nothing alarming:
// the in-sandbox worker, ended by the shutdown, does not ask the server
// for what the server then refuses, and nothing else goes wrong.
func TestSandboxWorkerShutdownLogsNoWarning(t *testing.T) {
	l := newLoop(t, nil)
	sid := l.session(l.agent(toolsetAgent))
	if out := toolText(t, l.bash(sid, "echo before-shutdown")); !strings.Contains(out, "before-shutdown") {
		t.Fatalf("tool result: %s", out)
	}
	l.s.StopWith(t, syscall.SIGINT)
	for _, line := range strings.Split(l.s.Logs(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("shutdown logged: %s", line)
		}
	}
}
