package schedule

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the scheduler's time source; tests drive a fake one.
type Clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a stop
	// function.
	Timer(d time.Duration) (<-chan time.Time, func())
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Fire is one scheduled time of the schedule registered under Key.
type Fire struct {
	Key string
	At  time.Time
}

// FireFunc runs the fires that came due together (a thousand schedules on
// the same minute are one batch, so the caller can claim them in one
// transaction). One Scheduler passes each (key, time) at most once;
// exactly-once across processes is the caller's claim to make. Batches
// run on their own goroutines, at most workers at once.
type FireFunc func(ctx context.Context, fires []Fire)

// Scheduler fires every registered schedule at its times. It keeps one
// timer, for the earliest next fire of a heap holding one entry per
// schedule, so a thousand schedules cost a thousand heap entries, not a
// thousand goroutines. Due fires run in batches on a bounded number of
// workers.
type Scheduler struct {
	clock Clock
	fire  FireFunc
	sem   chan struct{}

	mu      sync.Mutex
	h       fireHeap
	entries map[string]*entry
	wake    chan struct{}
	wg      sync.WaitGroup
	// inflight counts fires dispatched and not yet returned.
	inflight atomic.Int64
}

type entry struct {
	key  string
	spec *Spec
	next time.Time
	idx  int
}

// New returns a scheduler that runs at most workers batches at once.
func New(clock Clock, workers int, fire FireFunc) *Scheduler {
	if clock == nil {
		clock = RealClock{}
	}
	if workers < 1 {
		workers = 1
	}
	return &Scheduler{clock: clock, fire: fire, sem: make(chan struct{}, workers),
		entries: map[string]*entry{}, wake: make(chan struct{}, 1)}
}

// Set registers (or replaces) the schedule under key: its next fire is the
// first of spec's times after from. A from in the past makes the schedule
// due at once; see Run for what fires then.
func (s *Scheduler) Set(key string, spec *Spec, from time.Time) {
	next := spec.Next(from)
	s.mu.Lock()
	if e, ok := s.entries[key]; ok {
		heap.Remove(&s.h, e.idx)
		delete(s.entries, key)
	}
	if !next.IsZero() {
		e := &entry{key: key, spec: spec, next: next}
		s.entries[key] = e
		heap.Push(&s.h, e)
	}
	s.mu.Unlock()
	s.poke()
}

// Remove drops the schedule under key; a fire already started finishes.
func (s *Scheduler) Remove(key string) {
	s.mu.Lock()
	if e, ok := s.entries[key]; ok {
		heap.Remove(&s.h, e.idx)
		delete(s.entries, key)
	}
	s.mu.Unlock()
	s.poke()
}

// Next returns the next fire registered under key.
func (s *Scheduler) Next(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return time.Time{}, false
	}
	return e.next, true
}

// Pending is how many batches are dispatched and not yet finished.
func (s *Scheduler) Pending() int { return int(s.inflight.Load()) }

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends, then waits for the fires under way.
//
// When a schedule's next fire is due, the latest of its times that have
// passed fires once and earlier ones are skipped: after a stop (the
// process down, a paused deployment resumed with an old from), one fire
// catches up, never a burst.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.wg.Wait()
	for {
		now := s.clock.Now()
		var wait time.Duration = -1
		var batch []Fire
		s.mu.Lock()
		for s.h.Len() > 0 {
			e := s.h[0]
			if e.next.After(now) {
				wait = e.next.Sub(now)
				break
			}
			due := e.next
			for {
				n := e.spec.Next(due)
				if n.IsZero() || n.After(now) {
					e.next = n
					break
				}
				due = n
			}
			if e.next.IsZero() {
				heap.Pop(&s.h)
				delete(s.entries, e.key)
			} else {
				heap.Fix(&s.h, e.idx)
			}
			batch = append(batch, Fire{Key: e.key, At: due})
		}
		s.mu.Unlock()
		if len(batch) > 0 {
			s.dispatch(ctx, batch)
		}
		var timer <-chan time.Time
		stop := func() {}
		if wait >= 0 {
			timer, stop = s.clock.Timer(wait)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-s.wake:
		case <-timer:
		}
		stop()
	}
}

// dispatch runs one batch on a worker; the loop never waits for it.
func (s *Scheduler) dispatch(ctx context.Context, batch []Fire) {
	s.wg.Add(1)
	s.inflight.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.inflight.Add(-1)
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.sem }()
		s.fire(ctx, batch)
	}()
}

type fireHeap []*entry

func (h fireHeap) Len() int           { return len(h) }
func (h fireHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h fireHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *fireHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *fireHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
