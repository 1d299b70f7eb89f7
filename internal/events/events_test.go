package events

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

func quiet() *Local { return NewLocal(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func persisted(seq int64, thread string) Message {
	id := "sevt_" + strconv.FormatInt(seq, 10)
	return Message{Seq: seq, ID: id, Type: "agent.message", ThreadID: thread, Data: []byte(`{"id":"` + id + `"}`)}
}

func start(id, typ string) Message {
	return Message{ID: id, Type: TypeEventStart, Preview: true, PreviewType: typ}
}

func delta(id string, i int) Message {
	return Message{ID: id, Type: TypeEventDelta, Preview: true, PreviewType: "agent.message", Data: []byte(strconv.Itoa(i))}
}

// drain reads what is queued now, without waiting.
func drain(sub *Subscription) (got []Message, closed bool) {
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				return got, true
			}
			got = append(got, m)
		default:
			return got, false
		}
	}
}

// readAll reads until the subscription ends, failing the test if it does not.
func readAll(t *testing.T, sub *Subscription) []Message {
	t.Helper()
	var got []Message
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				return got
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("subscription never ended (got %d messages)", len(got))
		}
	}
}

func describe(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type + ":" + m.ID
		if m.Type == TypeEventDelta {
			out[i] += ":" + string(m.Data)
		}
	}
	return out
}

// Every subscriber sees every event once, in publish order,
// including when several goroutines publish to the same session.
func TestOrderPerSubscriber(t *testing.T) {
	b := quiet()
	const subs, publishers, each = 8, 4, 200
	var all []*Subscription
	for range subs {
		all = append(all, b.Subscribe("sesn_1", SubscribeOptions{Buffer: publishers * each}))
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				b.Publish("sesn_1", persisted(int64(p*each+i+1), ""))
			}
		})
	}
	wg.Wait()
	b.End("sesn_1")
	var first []string
	for i, sub := range all {
		got := describe(readAll(t, sub))
		if len(got) != publishers*each {
			t.Fatalf("subscriber %d got %d messages, want %d", i, len(got), publishers*each)
		}
		if i == 0 {
			first = got
		} else if fmt.Sprint(got) != fmt.Sprint(first) {
			t.Fatalf("subscriber %d saw a different order than subscriber 0", i)
		}
		if !errors.Is(sub.Err(), ErrSessionEnded) {
			t.Fatalf("Err = %v, want ErrSessionEnded", sub.Err())
		}
	}
	// Within one publisher, sequence numbers stay increasing.
	seen := map[int]int64{}
	for _, s := range first {
		var seq int64
		fmt.Sscanf(s, "agent.message:sevt_%d", &seq)
		p := int((seq - 1) / each)
		if seq <= seen[p] {
			t.Fatalf("publisher %d: seq %d after %d", p, seq, seen[p])
		}
		seen[p] = seq
	}
}

// A subscriber that stops reading is dropped, keeps the prefix
// it had queued, and never holds up the others or the publisher.
func TestSlowSubscriberDropped(t *testing.T) {
	b := quiet()
	slow := b.Subscribe("sesn_1", SubscribeOptions{Buffer: 4})
	fast := b.Subscribe("sesn_1", SubscribeOptions{Buffer: 4})
	const n = 100
	fastGot := make(chan []Message, 1)
	go func() {
		var got []Message
		for m := range fast.C() {
			got = append(got, m)
		}
		fastGot <- got
	}()
	for i := int64(1); i <= n; i++ {
		b.Publish("sesn_1", persisted(i, ""))
		// Let the fast reader catch up, so only the slow one is ever full.
		for len(fast.ch) > 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber not dropped")
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("slow Err = %v", slow.Err())
	}
	got := readAll(t, slow)
	if len(got) != 4 || got[0].Seq != 1 || got[3].Seq != 4 {
		t.Fatalf("slow subscriber kept %v, want seq 1..4", describe(got))
	}
	if fast.Err() != nil {
		t.Fatalf("fast subscriber ended: %v", fast.Err())
	}
	if c := b.Subscribers("sesn_1"); c != 1 {
		t.Fatalf("Subscribers = %d, want 1", c)
	}
	b.End("sesn_1")
	fg := <-fastGot
	if len(fg) != n || fg[n-1].Seq != n {
		t.Fatalf("fast subscriber got %d messages", len(fg))
	}
}

// When deltas do not fit, the subscriber gets an
// unbroken prefix and then nothing more for that event; it is not dropped,
// the buffered event still arrives, and the next event previews again.
func TestPreviewGapRule(t *testing.T) {
	b := quiet()
	// Buffer 8: previews may use 6 slots, 2 are kept for persisted events.
	sub := b.Subscribe("sesn_1", SubscribeOptions{Buffer: 8, Previews: []string{"agent.message"}})
	b.Publish("sesn_1", start("sevt_a", "agent.message"))
	for i := range 20 {
		b.Publish("sesn_1", delta("sevt_a", i))
	}
	got, _ := drain(sub)
	want := []string{"event_start:sevt_a", "event_delta:sevt_a:0", "event_delta:sevt_a:1", "event_delta:sevt_a:2", "event_delta:sevt_a:3", "event_delta:sevt_a:4"}
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", describe(got), want)
	}
	// Room again, but the event's deltas stay stopped: a later delta would
	// leave a hole in the text.
	b.Publish("sesn_1", delta("sevt_a", 20))
	if got, _ := drain(sub); len(got) != 0 {
		t.Fatalf("delta after a gap delivered: %v", describe(got))
	}
	// Fill the preview share again; persisted events still fit in the reserve.
	b.Publish("sesn_1", start("sevt_b", "agent.message"))
	for i := range 10 {
		b.Publish("sesn_1", delta("sevt_b", i))
	}
	b.Publish("sesn_1", Message{Seq: 7, ID: "sevt_a", Type: "agent.message", Data: []byte(`{}`)})
	b.Publish("sesn_1", Message{Seq: 8, ID: "sevt_b", Type: "agent.message", Data: []byte(`{}`)})
	if sub.Err() != nil {
		t.Fatalf("subscriber dropped by previews: %v", sub.Err())
	}
	got, _ = drain(sub)
	want = []string{"event_start:sevt_b", "event_delta:sevt_b:0", "event_delta:sevt_b:1", "event_delta:sevt_b:2", "event_delta:sevt_b:3", "event_delta:sevt_b:4", "agent.message:sevt_a", "agent.message:sevt_b"}
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", describe(got), want)
	}
	// Deltas after the buffered event are stale and are not sent.
	b.Publish("sesn_1", delta("sevt_b", 10))
	// A fresh event previews from its start.
	b.Publish("sesn_1", start("sevt_c", "agent.message"))
	b.Publish("sesn_1", delta("sevt_c", 0))
	got, _ = drain(sub)
	want = []string{"event_start:sevt_c", "event_delta:sevt_c:0"}
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", describe(got), want)
	}
}

// A subscriber that joins in the middle of a preview gets no deltas
// for that event (they would not start at the beginning of the text).
func TestPreviewJoinMidEvent(t *testing.T) {
	b := quiet()
	early := b.Subscribe("sesn_1", SubscribeOptions{Previews: []string{"agent.message"}})
	b.Publish("sesn_1", start("sevt_a", "agent.message"))
	b.Publish("sesn_1", delta("sevt_a", 0))
	late := b.Subscribe("sesn_1", SubscribeOptions{Previews: []string{"agent.message"}})
	b.Publish("sesn_1", delta("sevt_a", 1))
	b.Publish("sesn_1", persisted(1, ""))
	e, _ := drain(early)
	l, _ := drain(late)
	if len(e) != 4 {
		t.Fatalf("early got %v", describe(e))
	}
	if fmt.Sprint(describe(l)) != "[agent.message:sevt_1]" {
		t.Fatalf("late got %v, want only the persisted event", describe(l))
	}
}

// Each subscriber gets only the previews it asked for (thinking as a start
// alone) and only its thread.
func TestFilters(t *testing.T) {
	b := quiet()
	cases := []struct {
		name string
		opts SubscribeOptions
		want string
	}{
		{"no previews", SubscribeOptions{}, "[agent.message:sevt_1 agent.message:sevt_3]"},
		{"message previews", SubscribeOptions{Previews: []string{"agent.message"}},
			"[event_start:sevt_m event_delta:sevt_m:0 agent.message:sevt_1 agent.message:sevt_3]"},
		{"thinking previews", SubscribeOptions{Previews: []string{"agent.thinking"}},
			"[event_start:sevt_t agent.message:sevt_1 agent.message:sevt_3]"},
		{"both", SubscribeOptions{Previews: []string{"agent.thinking", "agent.message"}},
			"[event_start:sevt_t event_start:sevt_m event_delta:sevt_m:0 agent.message:sevt_1 agent.message:sevt_3]"},
		{"one thread", SubscribeOptions{Thread: "sthr_x", Previews: []string{"agent.message"}}, "[agent.message:sevt_2]"},
		{"all threads", SubscribeOptions{AllThreads: true}, "[agent.message:sevt_1 agent.message:sevt_2 agent.message:sevt_3]"},
	}
	subs := make([]*Subscription, len(cases))
	for i, c := range cases {
		subs[i] = b.Subscribe("sesn_1", c.opts)
	}
	other := b.Subscribe("sesn_other", SubscribeOptions{AllThreads: true, Previews: []string{"agent.message"}})
	b.Publish("sesn_1", start("sevt_t", "agent.thinking"))
	b.Publish("sesn_1", start("sevt_m", "agent.message"))
	b.Publish("sesn_1", delta("sevt_m", 0))
	b.Publish("sesn_1", persisted(1, ""))
	b.Publish("sesn_1", persisted(2, "sthr_x"))
	b.Publish("sesn_1", persisted(3, ""))
	for i, c := range cases {
		got, _ := drain(subs[i])
		if s := fmt.Sprint(describe(got)); s != c.want {
			t.Errorf("%s: got %s, want %s", c.name, s, c.want)
		}
	}
	if got, _ := drain(other); len(got) != 0 {
		t.Errorf("another session's subscriber got %v", describe(got))
	}
}

// End closes the session's subscriptions after what was queued (the last
// one being session.deleted), leaves other sessions alone, and a later
// Subscribe starts fresh.
func TestEnd(t *testing.T) {
	b := quiet()
	a1 := b.Subscribe("sesn_a", SubscribeOptions{})
	a2 := b.Subscribe("sesn_a", SubscribeOptions{Previews: []string{"agent.message"}})
	other := b.Subscribe("sesn_b", SubscribeOptions{})
	b.Publish("sesn_a", persisted(1, ""))
	b.Publish("sesn_a", Message{Seq: 2, ID: "sevt_2", Type: "session.deleted", Data: []byte(`{}`)})
	b.End("sesn_a")
	b.End("sesn_a") // idempotent
	for _, sub := range []*Subscription{a1, a2} {
		got := readAll(t, sub)
		if len(got) != 2 || got[1].Type != "session.deleted" {
			t.Fatalf("got %v", describe(got))
		}
		if !errors.Is(sub.Err(), ErrSessionEnded) {
			t.Fatalf("Err = %v", sub.Err())
		}
		sub.Close() // after End: harmless
	}
	if b.Subscribers("sesn_a") != 0 {
		t.Fatal("ended session still has subscribers")
	}
	b.Publish("sesn_a", persisted(3, "")) // nobody left; must not panic
	if other.Err() != nil || b.Subscribers("sesn_b") != 1 {
		t.Fatalf("other session affected: %v", other.Err())
	}
	again := b.Subscribe("sesn_a", SubscribeOptions{})
	b.Publish("sesn_a", persisted(4, ""))
	if got, _ := drain(again); len(got) != 1 || got[0].Seq != 4 {
		t.Fatalf("fresh subscription got %v", describe(got))
	}
}

// Close ends one subscription (idempotently) and frees the session entry
// when it was the last; the broker's Close ends everything.
func TestClose(t *testing.T) {
	b := quiet()
	s1 := b.Subscribe("sesn_1", SubscribeOptions{})
	s2 := b.Subscribe("sesn_1", SubscribeOptions{})
	s1.Close()
	s1.Close()
	if !errors.Is(s1.Err(), ErrClosed) {
		t.Fatalf("Err = %v", s1.Err())
	}
	if _, closed := drain(s1); !closed {
		t.Fatal("C not closed")
	}
	b.Publish("sesn_1", persisted(1, ""))
	if got, _ := drain(s2); len(got) != 1 {
		t.Fatalf("remaining subscriber got %v", describe(got))
	}
	s2.Close()
	b.mu.RLock()
	n := len(b.sessions)
	b.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d session entries left after every subscriber closed", n)
	}
	s3 := b.Subscribe("sesn_2", SubscribeOptions{})
	b.Close()
	if !errors.Is(s3.Err(), ErrBrokerClosed) {
		t.Fatalf("Err after broker Close = %v", s3.Err())
	}
	s4 := b.Subscribe("sesn_2", SubscribeOptions{})
	if !errors.Is(s4.Err(), ErrBrokerClosed) {
		t.Fatalf("Subscribe after Close: Err = %v", s4.Err())
	}
	s4.Close()
	b.Publish("sesn_2", persisted(1, ""))
}

// Many subscribers with churn (subscribe, close, drop, end) while several
// goroutines publish: run with -race. Every live reader gets a gap-free,
// ordered run of one publisher's sequence.
func TestManySubscribersChurn(t *testing.T) {
	b := quiet()
	const readers, events = 300, 300
	var wg sync.WaitGroup
	errs := make(chan error, readers+10)
	ready := make(chan struct{})
	for r := range readers {
		wg.Go(func() {
			sub := b.Subscribe("sesn_1", SubscribeOptions{Buffer: 16, Previews: []string{"agent.message"}})
			<-ready
			var last int64
			for m := range sub.C() {
				if m.Preview {
					continue
				}
				if last != 0 && m.Seq != last+1 {
					errs <- fmt.Errorf("reader %d: seq %d after %d", r, m.Seq, last)
					sub.Close()
					return
				}
				last = m.Seq
				if r%10 == 0 && last > int64(r) {
					sub.Close() // leave early; the loop ends when C closes
				}
			}
			if err := sub.Err(); err == nil {
				errs <- fmt.Errorf("reader %d: C closed without a reason", r)
			}
		})
	}
	close(ready)
	var pub sync.WaitGroup
	pub.Go(func() {
		for i := int64(1); i <= events; i++ {
			b.Publish("sesn_1", start("sevt_p"+strconv.FormatInt(i, 10), "agent.message"))
			b.Publish("sesn_1", delta("sevt_p"+strconv.FormatInt(i, 10), 0))
			b.Publish("sesn_1", persisted(i, ""))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	pub.Go(func() { // churn on the same session
		for i := range 200 {
			s := b.Subscribe("sesn_1", SubscribeOptions{Buffer: 1 + i%3})
			if i%2 == 0 {
				s.Close()
			}
		}
	})
	pub.Wait()
	b.End("sesn_1")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzPreviewPrefix drives one subscriber through arbitrary interleavings of
// previews, persisted events and reads, and checks the stream invariants:
// persisted events are never skipped while the subscriber lives (it is
// dropped instead), and each previewed event's deltas are an unbroken prefix
// 0,1,2,... that follows its event_start.
func FuzzPreviewPrefix(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3}, uint8(4))
	f.Add([]byte{0, 1, 3, 1, 1, 2, 0, 1, 1, 1, 3, 3, 3, 3, 3, 1, 2}, uint8(8))
	f.Add([]byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, uint8(3))
	f.Add([]byte{0, 4, 1, 5, 1, 0, 1, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, buf uint8) {
		b := quiet()
		sub := b.Subscribe("s", SubscribeOptions{Buffer: int(buf%16) + 1, Previews: []string{"agent.message"}})
		var (
			seq      int64
			cur      = -1            // index of the event being previewed
			next     = map[int]int{} // next delta index per previewed event
			received []Message
		)
		read := func(all bool) {
			for {
				select {
				case m, ok := <-sub.C():
					if !ok {
						return
					}
					received = append(received, m)
					if !all {
						return
					}
				default:
					return
				}
			}
		}
		for _, op := range ops {
			switch op % 6 {
			case 0: // a new previewed event starts
				cur++
				b.Publish("s", start("p"+strconv.Itoa(cur), "agent.message"))
			case 1: // next delta of the current event
				if cur >= 0 {
					b.Publish("s", delta("p"+strconv.Itoa(cur), next[cur]))
					next[cur]++
				}
			case 2: // a persisted event (the current preview's buffered event half the time)
				seq++
				m := persisted(seq, "")
				if cur >= 0 && op%12 == 2 {
					m.ID = "p" + strconv.Itoa(cur)
				}
				b.Publish("s", m)
			case 3:
				read(false)
			case 4:
				read(true)
			case 5: // a delta for an event that was never started
				b.Publish("s", delta("nostart", 0))
			}
		}
		if sub.Err() == nil {
			b.End("s")
		}
		read(true)
		var lastSeq int64
		started := map[string]int{} // id -> next expected delta index
		for _, m := range received {
			switch m.Type {
			case TypeEventStart:
				if _, dup := started[m.ID]; dup {
					t.Fatalf("event_start %s twice", m.ID)
				}
				started[m.ID] = 0
			case TypeEventDelta:
				want, ok := started[m.ID]
				if !ok {
					t.Fatalf("delta for %s without its event_start", m.ID)
				}
				if got, _ := strconv.Atoi(string(m.Data)); got != want {
					t.Fatalf("delta %d of %s after %d: gap", got, m.ID, want-1)
				}
				started[m.ID] = want + 1
			default:
				if m.Seq != lastSeq+1 {
					t.Fatalf("persisted seq %d after %d", m.Seq, lastSeq)
				}
				lastSeq = m.Seq
			}
		}
		if lastSeq != seq && !errors.Is(sub.Err(), ErrSlowSubscriber) {
			t.Fatalf("got persisted events up to %d of %d but the subscriber ended with %v", lastSeq, seq, sub.Err())
		}
	})
}
