package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// recordingSandboxes is the engine's Sandboxes and OutputCapturer, and
// remembers what the engine asked of it, in order.
type recordingSandboxes struct {
	mu  sync.Mutex
	log []string
}

func (r *recordingSandboxes) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *recordingSandboxes) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, "; ")
}

func (r *recordingSandboxes) Provision(_, id string) { r.add("provision " + id) }

func (r *recordingSandboxes) Release(_ context.Context, id string, destroy bool) error {
	r.add(fmt.Sprintf("release %s destroy=%t", id, destroy))
	return nil
}

func (r *recordingSandboxes) Capture(_ context.Context, _, id string) error {
	r.add("capture " + id)
	return nil
}

// The sandbox lifecycle and output capture are the engine's named
// dependencies: a new session whose agent has sandbox tools gets its
// sandbox provisioned, its outputs are captured before a turn ends idle,
// and its sandbox is destroyed when it is forgotten.
func TestSandboxLifecycleAndCapture(t *testing.T) {
	h := newHarness(t, nil, modeltest.Text("done"))
	rec := &recordingSandboxes{}
	h.sandboxes, h.outputs = rec, rec
	h.open()
	id := h.session(bashTool)
	if err := h.eng.Created(context.Background(), ws, id); err != nil {
		t.Fatal(err)
	}
	h.send(id, text("hi"))
	h.waitIdle(id, wire.StopEndTurn, 0)
	h.eng.Forget(id)
	want := fmt.Sprintf("provision %s; capture %s; release %s destroy=true", id, id, id)
	if got := rec.String(); got != want {
		t.Fatalf("the engine asked for\n  %s\nwant\n  %s", got, want)
	}
}

// A session the provider's billing refusal terminated has its sandbox
// stopped but kept (its workspace stays until the session is deleted),
// and Close waits for that to be done.
func TestTerminatedSessionReleasesItsSandbox(t *testing.T) {
	h := newHarness(t, nil, modeltest.Turn{Error: &modeltest.UpstreamError{Status: 402, Type: "billing_error", Message: "credit balance too low"}})
	rec := &recordingSandboxes{}
	h.sandboxes = rec
	h.open()
	id := h.session()
	h.send(id, text("hi"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := h.eng.Status(context.Background(), ws, id); st == store.SessionTerminated {
			break
		}
		if time.Now().After(deadline) {
			dumpLog(t, h.st, id)
			t.Fatal("the session did not terminate")
		}
	}
	h.close()
	if got, want := rec.String(), fmt.Sprintf("release %s destroy=false", id); got != want {
		t.Fatalf("the engine asked for %q, want %q", got, want)
	}
}
