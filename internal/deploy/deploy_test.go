package deploy

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

// fakeSessions stands in for the session create path and counts what it
// creates.
type fakeSessions struct{ created atomic.Int64 }

func (f *fakeSessions) Check(context.Context, string, wire.SessionCreateParams) (wire.SessionAgent, error) {
	return wire.SessionAgent{ID: "agent_1", Version: 1}, nil
}

func (f *fakeSessions) Create(_ context.Context, _ string, _ wire.SessionCreateParams, _ string) (wire.Session, error) {
	f.created.Add(1)
	return wire.Session{ID: "sesn_x"}, nil
}

// clock is a fake clock shared by the services of a test.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer
}

type timer struct {
	at time.Time
	c  chan time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, timer{c.now.Add(d), ch})
	return ch, func() {}
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(t) {
			kept = append(kept, tm)
		} else {
			tm.c <- t
		}
	}
	c.timers = kept
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const createBody = `{"name":"n","agent":"agent_1","environment_id":"env_1",
	"initial_events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}],
	"schedule":{"type":"cron","expression":"0 * * * *","timezone":"UTC"}}`

// settled waits until the service's scheduler has moved past now and
// every fire it started has finished.
func settled(t *testing.T, s *Service, key string, now time.Time) {
	t.Helper()
	for i := 0; ; i++ {
		n, ok := s.sched.Next(key)
		if (!ok || n.After(now)) && s.sched.Pending() == 0 {
			break
		}
		if i > 1e7 {
			t.Fatalf("scheduler never moved past %s", now)
		}
		time.Sleep(time.Microsecond)
	}
}

// Two servers on one database, both scheduling the same deployment: each
// hourly time fires once between them.
func TestTwoNodesFireOnce(t *testing.T) {
	st := openStore(t)
	start := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	ca, cb := &clock{now: start}, &clock{now: start}
	fs := &fakeSessions{}
	a := New(Options{Store: st, Sessions: fs, Clock: ca})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := a.Create(context.Background(), "ws", json.RawMessage(createBody))
	if err != nil {
		t.Fatal(err)
	}
	b := New(Options{Store: st, Sessions: fs, Clock: cb})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	k := key("ws", d.ID)
	for h := 1; h <= 3; h++ {
		at := start.Add(time.Duration(h) * time.Hour)
		ca.set(at)
		cb.set(at)
		settled(t, a, k, at)
		settled(t, b, k, at)
	}
	a.Close()
	b.Close()
	if n := fs.created.Load(); n != 3 {
		t.Fatalf("%d sessions for 3 scheduled times on two nodes, want 3", n)
	}
	runs, _, err := a.ListRuns(context.Background(), store.ListOptions{Workspace: "ws", Limit: 10}, RunFilter{})
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs: %v %d", err, len(runs))
	}
}

// Times that pass while a deployment is paused are not fired on unpause.
func TestUnpauseDoesNotBackfill(t *testing.T) {
	st := openStore(t)
	start := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	c := &clock{now: start}
	fs := &fakeSessions{}
	s := New(Options{Store: st, Sessions: fs, Clock: c})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := s.Create(ctx, "ws", json.RawMessage(createBody))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(ctx, "ws", d.ID); err != nil {
		t.Fatal(err)
	}
	c.set(start.Add(3 * time.Hour))
	if _, err := s.Unpause(ctx, "ws", d.ID); err != nil {
		t.Fatal(err)
	}
	k := key("ws", d.ID)
	settled(t, s, k, c.Now())
	at := start.Add(3*time.Hour + 30*time.Minute) // 14:00, the next time
	c.set(at)
	settled(t, s, k, at)
	s.Close()
	if n := fs.created.Load(); n != 1 {
		t.Fatalf("%d sessions, want 1 (the time after unpausing, none missed while paused)", n)
	}
}
