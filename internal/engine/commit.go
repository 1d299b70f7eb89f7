package engine

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Every change of a session goes through commit: its events are appended
// to the log and its row rewritten in one transaction, then the events are
// published to live streams, in log order because the session's lock is
// held throughout.

// pending is an event about to be appended, with its private data.
type pending struct {
	ev      wire.Event
	private []byte
	// thread is the subagent thread whose log and stream the event goes
	// to; "" is the primary thread (the session-level stream).
	thread string
}

func ev(p wire.EventPayload) pending { return pending{ev: wire.NewEvent(p)} }

// commit appends evs to the log and rewrites the session row (with
// setStatus, when not empty, as its status), in one transaction; then it
// publishes. s.mu must be held.
func (s *session) commit(ctx context.Context, setStatus string, evs ...pending) ([]store.Event, error) {
	// A commit is short and must not be cut off by a shutdown or an
	// interrupt halfway through a step: what happened is recorded.
	ctx = context.WithoutCancel(ctx)
	now := wire.Now()
	doc := s.doc
	sess := s.sess
	was := sess.Status
	if setStatus != "" && setStatus != sess.Status {
		if setStatus == store.SessionRunning && sess.Status != store.SessionRescheduling {
			s.runningSince = now
		}
		if sess.Status == store.SessionRunning && setStatus != store.SessionRescheduling && !s.runningSince.IsZero() {
			active := now.Sub(s.runningSince).Seconds()
			doc.Stats.ActiveSeconds += active
			doc.Usage.ActiveSeconds += active
			s.runningSince = time.Time{}
		}
		sess.Status, doc.Status = setStatus, setStatus
		if setStatus != store.SessionIdle {
			doc.StopReason = nil
		} else if !s.main.mcpLoaded {
			// Failed MCP servers are tried again on the next run.
			s.main.mcpDefs = nil
		}
	}
	if len(s.unsaved) > 0 {
		evs = append(slices.Clip(s.unsaved), evs...)
	}
	// The session.usage snapshot goes out as a turn ends, just before the
	// session reports idle.
	for i := 0; i < len(evs); i++ {
		if idle, ok := evs[i].ev.Payload.(*wire.SessionStatusIdleEvent); ok && idle != nil && evs[i].thread == "" {
			u := s.usageEvent(doc.Usage)
			// The snapshot takes the idle event's place in the log
			// order (ids sort by creation), and the idle event the new
			// one after it.
			u.ev.ID, evs[i].ev.ID = evs[i].ev.ID, u.ev.ID
			u.ev.ProcessedAt, evs[i].ev.ProcessedAt = evs[i].ev.ProcessedAt, u.ev.ProcessedAt
			evs = slices.Insert(slices.Clip(evs), i, u)
			i++
		}
	}
	spendRec, err := s.spendRecord()
	if err != nil {
		return nil, err
	}
	rows := make([]*store.Event, len(evs))
	for i, p := range evs {
		data, err := json.Marshal(p.ev)
		if err != nil {
			return nil, errdefs.Internal(err, "encode %s", p.ev.EventType())
		}
		if p.thread != "" {
			data = withThreadID(data, p.thread)
		}
		rows[i] = &store.Event{ID: p.ev.ID, Type: p.ev.EventType(), ThreadID: p.thread, ProcessedAt: p.ev.ProcessedAt, Data: data, Private: p.private, CreatedAt: now}
		outcomeDoc(&doc, p.ev, now)
		switch pl := p.ev.Payload.(type) {
		case *wire.SessionStatusIdleEvent:
			sr := pl.StopReason
			doc.StopReason = &sr
		case *wire.AgentToolResultEvent:
			if c := s.main.findCall(pl.ToolUseID); c != nil {
				switch c.name {
				case "web_fetch":
					doc.Usage.ServerToolUse.WebFetchRequests++
				case "web_search":
					doc.Usage.ServerToolUse.WebSearchRequests++
				}
			}
		}
	}
	doc.UpdatedAt = now
	doc.Stats.DurationSeconds = now.Sub(doc.CreatedAt).Seconds()
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, errdefs.Internal(err, "encode session")
	}
	sess.Data, sess.UpdatedAt = data, now
	var sent func()
	err = s.e.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if len(rows) > 0 {
			if err := tx.AppendEvents(ctx, s.id, rows); err != nil {
				return err
			}
			if s.e.outbox != nil {
				var err error
				if sent, err = s.e.outbox.Committing(ctx, tx, sess.Workspace, s.id, rows); err != nil {
					return err
				}
			}
		}
		if spendRec != nil {
			if err := saveSpend(ctx, tx, spendRec); err != nil {
				return err
			}
		}
		return tx.UpdateSession(ctx, &sess)
	})
	if err != nil {
		return nil, err
	}
	if sent != nil {
		sent()
	}
	if spendRec != nil {
		s.spend.rev, s.spend.dirty = spendRec.Rev, false
	}
	s.sess, s.doc = sess, doc
	s.unsaved = nil
	out := make([]store.Event, len(rows))
	for i, row := range rows {
		out[i] = *row
		s.publish(*row)
	}
	if sess.Status == store.SessionTerminated && was != store.SessionTerminated {
		s.terminated()
	}
	return out, nil
}

// markProcessed stamps consumed client events processed and publishes
// them again, so that a client sees when its input was taken up.
func (s *session) markProcessed(ctx context.Context, consumed []wire.Event) error {
	if len(consumed) == 0 {
		return nil
	}
	if len(s.unsaved) > 0 {
		// The events are stamped where they are logged.
		if _, err := s.commit(ctx, ""); err != nil {
			return err
		}
	}
	ctx = context.WithoutCancel(ctx)
	now := wire.Now()
	updates := make([]store.Event, len(consumed))
	for i, c := range consumed {
		c = c.Processed(now)
		data, err := json.Marshal(c)
		if err != nil {
			return errdefs.Internal(err, "encode %s", c.EventType())
		}
		updates[i] = store.Event{ID: c.ID, ProcessedAt: c.ProcessedAt, Data: data}
	}
	if err := s.e.st.SetEventsProcessed(ctx, s.id, updates); err != nil {
		return err
	}
	for _, u := range updates {
		s.publish(u)
	}
	return nil
}

// publish hands a committed event to the live streams. Callers hold s.mu,
// which keeps a session's events in log order on the streams.
func (s *session) publish(e store.Event) {
	if s.e.pub == nil {
		return
	}
	s.e.pub.Publish(s.id, events.Message{Seq: e.Seq, ID: e.ID, Type: e.Type, ThreadID: e.ThreadID, Data: e.Data})
}

// terminated runs once the session entered the terminated state, which is
// absorbing: nothing of it runs any more, so its sandbox is stopped (the
// workspace stays until the session is deleted). s.mu is held.
func (s *session) terminated() {
	s.main.cancelCalls("The session was terminated before this tool call completed.")
	s.queue = nil
	s.stopThreads("The session was terminated before this tool call completed.")
	s.archiveWorkflows()
	if sb := s.e.sandboxes; sb != nil {
		s.e.life.Go(func() {
			if err := sb.Release(context.Background(), s.id, false); err != nil {
				s.e.log.Warn("stop sandbox of terminated session", "session", s.id, "err", err)
			}
		})
	}
}
