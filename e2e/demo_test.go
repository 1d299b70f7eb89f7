package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// startDemo starts hangar serve --demo-model with more options, with an
// environment for the loop's sessions.
func startDemo(t *testing.T, options ...testserver.Option) *loop {
	t.Helper()
	s := testserver.Start(t, append([]testserver.Option{testserver.WithArgs("--demo-model")}, options...)...)
	l := &loop{t: t, s: s, c: s.Client("")}
	env, err := l.c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	l.envID = env.ID
	return l
}

// logLine returns the server's log line whose message is msg.
func logLine(t *testing.T, s *testserver.Server, msg string) string {
	t.Helper()
	for _, line := range strings.Split(s.Logs(), "\n") {
		if strings.Contains(line, "msg="+msg+" ") || strings.Contains(line, `msg="`+msg+`"`) {
			return line
		}
	}
	t.Fatalf("no %q line in the server log:\n%s", msg, s.Logs())
	return ""
}

// The README's quickstart: on the demo model, examples/quickstart (the
// official Go SDK) sends a message with a tool line, which runs bash in the
// sandbox, and the turn ends idle; plain text is echoed. The start-up log
// names the sandbox backend in use and says that every model goes to the
// demo model.
func TestDemoModelQuickstart(t *testing.T) {
	l := startDemo(t)
	if line := logLine(t, l.s, "sandbox backend"); !strings.Contains(line, "sandbox=local") {
		t.Errorf("sandbox backend line does not name the local backend: %s", line)
	}
	if line := logLine(t, l.s, "model routes"); !strings.Contains(line, "every model goes to the scripted demo model") || strings.Contains(line, "api.anthropic.com") {
		t.Errorf("demo-mode routes line does not say every model goes to the demo model: %s", line)
	}

	cmd := exec.Command("go", "run", "../examples/quickstart")
	cmd.Env = append(os.Environ(), "ANTHROPIC_BASE_URL="+l.s.URL, "ANTHROPIC_API_KEY="+testserver.AdminKey)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "agent.tool_use bash\n") ||
		!strings.Contains(string(out), `agent.tool_result "hello from the sandbox"`) || !strings.HasSuffix(string(out), "session.status_idle\n") {
		t.Fatalf("examples/quickstart: %v\n%s", err, out)
	}

	sid := l.session(l.agent(map[string]any{}))
	col := l.stream(sid)
	l.send(sid, userMessage("hi"))
	msg, i := col.waitType(t, 0, "agent.message")
	if !strings.Contains(msg.RawJSON(), "echo: hi") {
		t.Errorf("plain text is not echoed: %s", msg.RawJSON())
	}
	col.waitType(t, i, "session.status_idle")
}

// When the sandbox backend cannot start (here: no bwrap on the server's
// PATH), a tool call's result tells the model and the client why and what
// fixes it, and the turn still ends idle.
func TestDemoModelWithoutBubblewrap(t *testing.T) {
	l := startDemo(t, testserver.WithEnv("PATH="+t.TempDir()))
	if line := logLine(t, l.s, "sandbox backend unavailable: built-in tools cannot run"); !strings.Contains(line, "bubblewrap (bwrap) not found") {
		t.Errorf("the unavailable backend's log line does not name the cause: %s", line)
	}
	sid := l.session(l.agent(map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}))
	col := l.stream(sid)
	l.send(sid, userMessage(`tool: bash {"command": "echo hi"}`))
	res, i := col.waitType(t, 0, "agent.tool_result")
	r := res.RawJSON()
	for _, want := range []string{`"is_error":true`, "No sandbox is available to run bash", "--sandbox local", "bubblewrap (bwrap) not found: install the Debian package bubblewrap", "restart the server", "scripts/serve installs bubblewrap", "--sandbox docker"} {
		if !strings.Contains(r, want) {
			t.Errorf("tool result lacks %q: %s", want, r)
		}
	}
	col.waitType(t, i, "session.status_idle")
}
