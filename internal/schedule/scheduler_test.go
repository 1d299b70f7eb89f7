package schedule

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	return ch, func() {}
}

// set moves the clock to t and fires the timers due by then.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(t) {
			tm.c <- t
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
}

type fires struct {
	mu  sync.Mutex
	got []time.Time
}

func (f *fires) fire(_ context.Context, batch []Fire) {
	f.mu.Lock()
	for _, b := range batch {
		f.got = append(f.got, b.At)
	}
	f.mu.Unlock()
}

// settle waits until the scheduler has taken in the clock's time: the
// key's next fire is after it.
func settle(t *testing.T, s *Scheduler, key string, now time.Time) {
	t.Helper()
	for i := 0; ; i++ {
		if n, ok := s.Next(key); (!ok || n.After(now)) && s.inflight.Load() == 0 {
			return
		}
		if i > 1e7 {
			t.Fatalf("scheduler never moved past %s", now)
		}
		time.Sleep(time.Microsecond)
	}
}

// drive runs a scheduler over a fake clock through the given times, one
// step at a time, and returns every fire.
func drive(t *testing.T, spec *Spec, from time.Time, steps ...time.Time) []time.Time {
	t.Helper()
	clock := &fakeClock{now: from}
	var f fires
	s := New(clock, 2, f.fire)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	s.Set("k", spec, from)
	settle(t, s, "k", from)
	for _, at := range steps {
		clock.set(at)
		settle(t, s, "k", at)
	}
	cancel()
	<-done
	return f.got
}

// minutes returns every minute from a to b inclusive.
func minutes(a, b time.Time) []time.Time {
	var out []time.Time
	for t := a; !t.After(b); t = t.Add(time.Minute) {
		out = append(out, t)
	}
	return out
}

func TestSchedulerFallBackFiresTwice(t *testing.T) {
	spec := mustParse(t, "30 1 * * *", "America/New_York")
	from := utc("2026-11-01T04:00:00Z")
	got := drive(t, spec, from, minutes(from, utc("2026-11-01T08:00:00Z"))...)
	sameTimes(t, sorted(got), "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z")
}

func TestSchedulerSpringForwardSkips(t *testing.T) {
	spec := mustParse(t, "30 2 * * *", "America/New_York")
	from := utc("2026-03-08T05:00:00Z")
	got := drive(t, spec, from, minutes(from, utc("2026-03-08T12:00:00Z"))...)
	sameTimes(t, got)
}

func TestSchedulerCatchesUpOnce(t *testing.T) {
	// Registered three days late (the process was down): the latest
	// missed time fires once, the older ones not at all, and the schedule
	// then goes on as usual.
	spec := mustParse(t, "0 12 * * *", "UTC")
	from := utc("2026-12-01T13:00:00Z")
	got := drive(t, spec, from, utc("2026-12-04T13:00:00Z"), utc("2026-12-04T13:01:00Z"), utc("2026-12-05T12:00:00Z"))
	sameTimes(t, sorted(got), "2026-12-04T12:00:00Z", "2026-12-05T12:00:00Z")
}

func sorted(ts []time.Time) []time.Time {
	out := append([]time.Time(nil), ts...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Before(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
