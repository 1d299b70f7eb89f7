package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/store"
)

func benchSession(b *testing.B, st store.Store, id string) {
	b.Helper()
	s := &store.Session{ID: id, Workspace: "w", AgentID: "agent_1", AgentVersion: 1, EnvironmentID: "env_1",
		Status: store.SessionRunning, Data: json.RawMessage(`{"id":"` + id + `"}`)}
	if err := st.InsertSession(context.Background(), s); err != nil {
		b.Fatal(err)
	}
}

// A typical agent.message event, so the numbers reflect real row sizes.
var benchEventData = json.RawMessage(`{"type":"agent.message","processed_at":"2026-01-01T00:00:00Z","content":[{"type":"text","text":"` +
	string(bytes.Repeat([]byte("lorem ipsum "), 40)) + `"}]}`)

// BenchmarkAppendEvent is the agent loop's commit path: one event per
// transaction, as each event must be durable before it is fanned out.
func BenchmarkAppendEvent(b *testing.B) {
	st, _ := openTemp(b)
	defer st.Close()
	benchSession(b, st, "sesn_bench")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		ev := &store.Event{ID: fmt.Sprintf("sevt_%d", i), Type: "agent.message", Data: benchEventData}
		if err := st.AppendEvents(ctx, "sesn_bench", []*store.Event{ev}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListEvents1000 is one page of the worker's (re)connect walk:
// limit 1000, oldest first, from a log of several thousand events.
func BenchmarkListEvents1000(b *testing.B) {
	st, _ := openTemp(b)
	defer st.Close()
	benchSession(b, st, "sesn_bench")
	ctx := context.Background()
	for batch := 0; batch < 5; batch++ {
		evs := make([]*store.Event, 1000)
		for i := range evs {
			evs[i] = &store.Event{ID: fmt.Sprintf("sevt_%d_%d", batch, i), Type: "agent.message", Data: benchEventData}
		}
		if err := st.AppendEvents(ctx, "sesn_bench", evs); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		p, err := st.ListEvents(ctx, store.EventQuery{SessionID: "sesn_bench", After: 2000, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Events) != 1000 || !p.More {
			b.Fatalf("page of %d events, More %v", len(p.Events), p.More)
		}
	}
}

// FuzzEventRoundTrip stores events with arbitrary types, threads, documents
// and times and checks they read back unchanged and are found by exactly
// the filters that should find them.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("user.message", "", []byte(`{"a":1}`), int64(1_700_000_000_123_456_789), true)
	f.Add("agent.message", "sthr_1", []byte(`{}`), int64(0), false)
	f.Add("", "\x00", []byte("\x00\xff"), int64(-1), true)
	f.Add("type'; DROP TABLE session_events; --", "名前 😀", []byte(`[1,2]`), int64(253402300799_999_999_999/1000), true)
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, typ, thread string, data []byte, nanos int64, processed bool) {
		ctx := context.Background()
		i := n.Add(1)
		sid := fmt.Sprintf("sesn_%d", i)
		if err := st.InsertSession(ctx, &store.Session{ID: sid, Workspace: "w", Status: store.SessionIdle, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		typ = "t" + typ // the store requires a type; the rest is arbitrary
		doc := append([]byte{'x'}, data...)
		at := time.Unix(0, nanos)
		ev := &store.Event{ID: fmt.Sprintf("sevt_%d", i), Type: typ, ThreadID: thread, CreatedAt: at, Data: doc}
		if processed {
			ev.ProcessedAt = &at
		}
		// A second event of another type and thread, which the filters
		// must leave out.
		other := &store.Event{ID: fmt.Sprintf("sevt_%d_other", i), Type: typ + "x", ThreadID: thread + "x", Data: json.RawMessage(`{}`)}
		if err := st.AppendEvents(ctx, sid, []*store.Event{ev, other}); err != nil {
			t.Fatal(err)
		}
		want := at.Truncate(time.Microsecond).UTC()
		got, err := st.GetEvent(ctx, sid, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != typ || got.ThreadID != thread || !bytes.Equal(got.Data, doc) || !got.CreatedAt.Equal(want) ||
			(got.ProcessedAt != nil) != processed || (processed && !got.ProcessedAt.Equal(want)) || got.Seq != 1 {
			t.Fatalf("round trip:\n got %+v\nwant type %q thread %q data %q at %v processed %v", got, typ, thread, doc, want, processed)
		}
		for _, q := range []store.EventQuery{
			{Types: []string{typ}},
			{ThreadSet: true, ThreadID: thread},
			{Types: []string{typ}, ThreadSet: true, ThreadID: thread},
		} {
			q.SessionID = sid
			p, err := st.ListEvents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) != 1 || p.Events[0].ID != ev.ID {
				t.Fatalf("ListEvents %+v = %d events", q, len(p.Events))
			}
		}
		p, err := st.ListEvents(ctx, store.EventQuery{SessionID: sid, ProcessedGTE: &want, ProcessedLTE: &want})
		if err != nil {
			t.Fatal(err)
		}
		if found := len(p.Events) == 1 && p.Events[0].ID == ev.ID; found != processed {
			t.Fatalf("time filter found the event: %v, processed: %v", found, processed)
		}
	})
}

// FuzzSessionPaging checks ListSessions against a model for arbitrary
// filters, page sizes and cursors, including cursors that match no
// session: the page holds the sessions next to the cursor, HasNext/HasPrev
// say whether any lie beyond, and the links lead to exactly those.
func FuzzSessionPaging(f *testing.F) {
	f.Add(uint8(7), false, uint8(0), int16(0), false, false)
	f.Add(uint8(7), true, uint8(0), int16(20), false, true)
	f.Add(uint8(3), false, uint8(5), int16(30), true, false)
	f.Add(uint8(0), true, uint8(2), int16(10), true, true)
	f.Add(uint8(4), true, uint8(0), int16(1), false, false)
	f.Add(uint8(4), false, uint8(0), int16(1), true, false)
	f.Add(uint8(5), true, uint8(15), int16(-3), true, false)
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ctx := context.Background()
	var all []store.Session // workspace w, in Seq order
	for i := 0; i < 40; i++ {
		for _, ws := range []string{"w", "other"} {
			s := &store.Session{ID: fmt.Sprintf("%s_%d", ws, i), Workspace: ws, Status: store.SessionStatuses[(i*7)%4], Data: json.RawMessage(`{}`)}
			if i%6 == 5 {
				s.ArchivedAt = &time.Time{}
			}
			if err := st.InsertSession(ctx, s); err != nil {
				f.Fatal(err)
			}
			if ws == "w" {
				all = append(all, *s)
			}
		}
	}
	maxSeq := all[len(all)-1].Seq
	f.Fuzz(func(t *testing.T, limit8 uint8, desc bool, statusMask uint8, cursor16 int16, backward bool, archived bool) {
		limit := int(limit8 % 12)
		cursor := int64(cursor16) % (maxSeq + 3)
		q := store.SessionQuery{Workspace: "w", Desc: desc, Limit: limit, IncludeArchived: archived}
		for i, s := range store.SessionStatuses {
			if statusMask&(1<<i) != 0 {
				q.Statuses = append(q.Statuses, s)
			}
		}
		// The model: the matching sessions in listing order.
		var list []store.Session
		for _, s := range all {
			if (archived || s.ArchivedAt == nil) && (len(q.Statuses) == 0 || slices.Contains(q.Statuses, s.Status)) {
				list = append(list, s)
			}
		}
		if desc {
			slices.Reverse(list)
		}
		// past reports whether seq lies past cursor c in listing order.
		past := func(seq, c int64) bool {
			if desc {
				return seq < c
			}
			return seq > c
		}
		before := func(seq, c int64) bool { return seq != c && !past(seq, c) }
		var lo, hi int // the page is list[lo:hi]
		switch {
		case cursor > 0 && backward:
			q.Before = cursor
			hi = 0
			for hi < len(list) && before(list[hi].Seq, cursor) {
				hi++
			}
			lo = 0
			if limit > 0 {
				lo = max(0, hi-limit)
			}
		default:
			if cursor > 0 {
				q.After = cursor
				for lo < len(list) && !past(list[lo].Seq, cursor) {
					lo++
				}
			}
			hi = len(list)
			if limit > 0 {
				hi = min(len(list), lo+limit)
			}
		}
		p, err := st.ListSessions(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs, wantIDs []string
		for _, s := range p.Sessions {
			gotIDs = append(gotIDs, s.ID)
		}
		for _, s := range list[lo:hi] {
			wantIDs = append(wantIDs, s.ID)
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("%+v: page %v, want %v", q, gotIDs, wantIDs)
		}
		wantNext, wantPrev := hi < len(list), lo > 0
		// A descending "before Seq 0" cannot be expressed (Before 0 is no
		// cursor); only a forged After cursor of 1 leads there.
		if desc && q.After == 1 && lo == hi {
			wantPrev = false
		}
		if p.HasNext != wantNext || p.HasPrev != wantPrev {
			t.Fatalf("%+v: HasNext %v HasPrev %v, want %v %v", q, p.HasNext, p.HasPrev, wantNext, wantPrev)
		}
		if limit == 0 {
			return
		}
		if p.HasNext {
			n, err := st.ListSessions(ctx, store.SessionQuery{Workspace: "w", Desc: desc, Limit: limit, IncludeArchived: archived, Statuses: q.Statuses, After: p.NextAfter})
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Sessions) == 0 || n.Sessions[0].ID != list[hi].ID || n.HasPrev != (hi > 0) {
				t.Fatalf("%+v: next page starts %v (HasPrev %v), want %s", q, n.Sessions, n.HasPrev, list[hi].ID)
			}
		}
		if p.HasPrev {
			v, err := st.ListSessions(ctx, store.SessionQuery{Workspace: "w", Desc: desc, Limit: limit, IncludeArchived: archived, Statuses: q.Statuses, Before: p.PrevBefore})
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Sessions) == 0 || v.Sessions[len(v.Sessions)-1].ID != list[lo-1].ID || v.HasNext != (lo < len(list)) {
				t.Fatalf("%+v: previous page ends %v (HasNext %v), want %s", q, v.Sessions, v.HasNext, list[lo-1].ID)
			}
		}
	})
}
