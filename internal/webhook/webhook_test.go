package webhook

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

func newService(t *testing.T) (*Service, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := vault.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return New(st, sealer, nil, Options{AllowPrivate: true}), st
}

func pending(t *testing.T, st store.Store) int {
	t.Helper()
	page, err := st.List(context.Background(), store.ListOptions{Workspace: recordWorkspace, Kind: KindDelivery})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Records)
}

// A delivery is queued only by a transaction that commits: the outbox row
// goes with the change it announces, and a rolled-back change leaves none.
func TestOutboxFollowsTheTransaction(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	u, events := "http://127.0.0.1:1/hook", []string{"agent.created"}
	if _, _, err := s.Create(ctx, Scope{}, Spec{URL: &u, EnabledEvents: events, EventsSet: true}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := s.Batch().Emit(ctx, tx, "wrkspc_a", Data{Type: "agent.created", ID: "agent_1"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || pending(t, st) != 0 {
		t.Fatalf("rolled back: err %v, %d deliveries queued", err, pending(t, st))
	}
	b := s.Batch()
	err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := b.Emit(ctx, tx, "wrkspc_a", Data{Type: "agent.created", ID: "agent_1"}); err != nil {
			return err
		}
		// Not subscribed: nothing is queued for it.
		return b.Emit(ctx, tx, "wrkspc_a", Data{Type: "agent.archived", ID: "agent_1"})
	})
	if err != nil || pending(t, st) != 1 {
		t.Fatalf("committed: err %v, %d deliveries queued, want 1", err, pending(t, st))
	}
}

// Committed session events map to the webhook types of the spec's table
// (and a reschedule to the SDK's session.status_rescheduled);
// an idle that waits for the user also fires session.requires_action, and
// a subagent thread's copy of an event fires nothing.
func TestSessionTypes(t *testing.T) {
	for _, c := range []struct {
		typ, data, thread string
		want              []string
		wantThread        string
	}{
		{typ: wire.EventTypeSessionStatusRunning, want: []string{"session.status_run_started"}},
		{typ: wire.EventTypeSessionStatusIdle, data: `{"stop_reason":{"type":"end_turn"}}`, want: []string{"session.status_idled"}},
		{typ: wire.EventTypeSessionStatusIdle, data: `{"stop_reason":{"type":"requires_action","event_ids":["sevt_1"]}}`, want: []string{"session.status_idled", "session.requires_action"}},
		{typ: wire.EventTypeSessionStatusRescheduled, want: []string{"session.status_rescheduled"}},
		{typ: wire.EventTypeSessionStatusTerminated, want: []string{"session.status_terminated"}},
		{typ: wire.EventTypeSessionThreadCreated, data: `{"session_thread_id":"sthr_1"}`, want: []string{"session.thread_created"}, wantThread: "sthr_1"},
		{typ: wire.EventTypeSessionThreadStatusIdle, data: `{"session_thread_id":"sthr_1"}`, want: []string{"session.thread_idled"}, wantThread: "sthr_1"},
		{typ: wire.EventTypeSpanOutcomeEvaluationEnd, want: []string{"session.outcome_evaluation_ended"}},
		{typ: "session.error"},
		{typ: "agent.message"},
	} {
		data := c.data
		if data == "" {
			data = "{}"
		}
		got, thread := SessionTypes(&store.Event{Type: c.typ, Data: []byte(data)})
		if len(got) != len(c.want) || thread != c.wantThread {
			t.Errorf("%s: %v %q, want %v %q", c.typ, got, thread, c.want, c.wantThread)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.typ, got, c.want)
			}
		}
	}
}

// Retries wait 4 times longer each time, up to an hour.
func TestRetryWait(t *testing.T) {
	s := &Service{opts: Options{RetryBase: 5 * time.Second}}
	want := []time.Duration{5 * time.Second, 20 * time.Second, 80 * time.Second, 320 * time.Second, 1280 * time.Second, time.Hour, time.Hour}
	for i, w := range want {
		if got := s.retryWait(i + 1); got != w {
			t.Errorf("wait after attempt %d = %s, want %s", i+1, got, w)
		}
	}
}

// Secrets are sealed at rest: the record holds no plaintext, and reads
// return none.
func TestSecretSealed(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	u := "http://127.0.0.1:1/hook"
	e, secret, err := s.Create(ctx, Scope{Workspace: "wrkspc_a"}, Spec{URL: &u, EnabledEvents: []string{"agent.created"}, EventsSet: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Get(ctx, recordWorkspace, KindEndpoint, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.Data)+string(r.Secret), secret[len("whsec_"):]) || len(r.Secret) == 0 {
		t.Fatal("the signing secret is stored in the clear")
	}
	if _, err := s.Get(ctx, Scope{}, e.ID); err == nil {
		t.Error("the organization scope read a workspace's endpoint")
	}
}
