package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/moby/moby/client"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/testserver"
)

// A session's sandbox handle is persisted, so a restarted
// server reattaches to a docker sandbox that outlived it — after a crash
// (SIGKILL) and after a graceful stop alike — with its files outside
// /workspace and the processes started in the background with setsid still
// there, and without a second container. Deleting the session removes the
// container, the handle and the workspace.
func TestSandboxReattachAfterRestart(t *testing.T) {
	for _, how := range []string{"kill", "stop"} {
		t.Run(how, func(t *testing.T) {
			l := newLoopOn(t, "docker", nil)
			sid := l.session(l.agent(toolset))
			out := l.bash(sid, "echo marker-"+how+" > /tmp/marker; setsid sleep 1234 >/dev/null 2>&1 < /dev/null & for i in $(seq 100); do pgrep -f '^sleep 1234' >/dev/null && break; sleep 0.02; done; echo started")
			if !strings.Contains(out, "started") {
				t.Fatalf("first bash call: %s", out)
			}
			before := sessionContainers(t, sid)
			if len(before) != 1 {
				t.Fatalf("containers of the session before the restart: %v", before)
			}
			if how == "kill" {
				l.s.Kill()
			} else {
				l.s.Stop(t)
			}
			if h, ok := storedHandle(t, l.s.DataDir, sid); !ok || h.Backend != "docker" || h.Spec.SessionID != sid {
				t.Fatalf("persisted handle: %+v %v", h, ok)
			}
			if got := sessionContainers(t, sid); len(got) != 1 || got[0] != before[0] {
				t.Fatalf("the container did not outlive the server: %v, was %v", got, before)
			}
			l.restart("docker")

			out = l.bash(sid, "cat /tmp/marker; pgrep -c -f 'sleep 1234'")
			if !strings.Contains(out, `marker-`+how+`\n1"`) {
				t.Fatalf("after the restart the sandbox was not reattached: %s", out)
			}
			if got := sessionContainers(t, sid); len(got) != 1 || got[0] != before[0] {
				t.Fatalf("containers of the session after the restart: %v, was %v", got, before)
			}

			if _, err := l.c.Beta.Sessions.Delete(context.Background(), sid, anthropic.BetaSessionDeleteParams{}); err != nil {
				t.Fatal(err)
			}
			if got := sessionContainers(t, sid); len(got) != 0 {
				t.Fatalf("containers after the session was deleted: %v", got)
			}
			l.s.Stop(t)
			if h, ok := storedHandle(t, l.s.DataDir, sid); ok {
				t.Fatalf("handle after the session was deleted: %+v", h)
			}
			if _, err := os.Stat(filepath.Join(l.s.DataDir, "workspaces", sid)); !os.IsNotExist(err) {
				t.Fatalf("workspace after the session was deleted: %v", err)
			}
		})
	}
}

// On local, bubblewrap sandboxes die with the server, so the
// restarted server re-provisions the session's sandbox (same id) around the
// workspace, which survives; /tmp does not.
func TestSandboxReprovisionAfterRestartLocal(t *testing.T) {
	l := newLoopOn(t, "local", nil)
	sid := l.session(l.agent(toolset))
	if out := l.bash(sid, "echo kept > /workspace/kept.txt; echo gone > /tmp/marker; echo ok"); !strings.Contains(out, "ok") {
		t.Fatalf("first bash call: %s", out)
	}
	l.s.Kill()
	h1, ok := storedHandle(t, l.s.DataDir, sid)
	if !ok || h1.Backend != "local" {
		t.Fatalf("persisted handle: %+v %v", h1, ok)
	}
	l.restart("local")
	out := l.bash(sid, "cat /workspace/kept.txt; cat /tmp/marker 2>/dev/null || echo fresh-tmp")
	if !strings.Contains(out, `kept\nfresh-tmp"`) {
		t.Fatalf("after the restart: %s", out)
	}
	l.s.Stop(t)
	if h2, ok := storedHandle(t, l.s.DataDir, sid); !ok || h2.ID != h1.ID {
		t.Fatalf("handle after re-provisioning: %+v, was %+v", h2, h1)
	}
}

// Orphans: at start, a container of this server whose session
// was deleted while it was down (its handle left behind), or that no handle
// names, is removed; a live session's is kept.
func TestSandboxOrphansSweptAtStart(t *testing.T) {
	l := newLoopOn(t, "docker", nil)
	agent := l.agent(toolset)
	live, deleted, unnamed := l.session(agent), l.session(agent), l.session(agent)
	for _, sid := range []string{live, deleted, unnamed} {
		l.bash(sid, "true")
	}
	l.s.Stop(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(l.s.DataDir, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between the session's delete and its sandbox's destroy
	// leaves, and a sandbox whose handle was never saved.
	for _, step := range []func() error{
		func() error { return st.DeleteSession(ctx, "wrkspc_default", deleted) },
		func() error {
			return st.Delete(ctx, "wrkspc_default", store.KindSandbox, store.SandboxRecordID(unnamed))
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	l.restart("docker")
	for sid, want := range map[string]int{live: 1, deleted: 0, unnamed: 0} {
		if got := sessionContainers(t, sid); len(got) != want {
			t.Errorf("session %s: %d containers, want %d", sid, len(got), want)
		}
	}
	if _, ok := storedHandle(t, l.s.DataDir, deleted); ok {
		t.Error("the deleted session's handle survived the sweep")
	}
	if _, err := os.Stat(filepath.Join(l.s.DataDir, "workspaces", deleted)); !os.IsNotExist(err) {
		t.Errorf("the deleted session's workspace survived the sweep: %v", err)
	}
	if out := l.bash(live, "echo still-here"); !strings.Contains(out, "still-here") {
		t.Fatalf("live session after the sweep: %s", out)
	}
}

// restart starts a new server on the same data directory (the old one has
// been killed or stopped) and points the loop at it.
func (l *loop) restart(backend string) {
	l.t.Helper()
	l.reopen(testserver.WithArgs("--sandbox", backend, "--log-level", "debug"))
}

// sessionContainers lists the ids of the docker containers (running or
// not) labelled with the session.
func sessionContainers(t *testing.T, sessionID string) []string {
	t.Helper()
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "dev.hangar.session="+sessionID)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

// storedHandle reads a session's persisted sandbox handle from a server's
// data directory (SQLite in WAL mode lets it read while the server runs).
func storedHandle(t *testing.T, dataDir, sessionID string) (sandbox.Handle, bool) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return handleIn(t, st, sessionID)
}

func handleIn(t *testing.T, st store.Store, sessionID string) (sandbox.Handle, bool) {
	t.Helper()
	p, err := st.List(context.Background(), store.ListOptions{AllWorkspaces: true, Kind: store.KindSandbox,
		IDs: []string{store.SandboxRecordID(sessionID)}, IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) == 0 {
		return sandbox.Handle{}, false
	}
	var h sandbox.Handle
	if err := json.Unmarshal(p.Records[0].Data, &h); err != nil {
		t.Fatal(err)
	}
	return h, true
}
