package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// The outbox: a delivery record is written in the same transaction as the
// change it announces, so a change that committed always has its
// deliveries queued, and a change that rolled back has none. The sender
// learns of them after the commit (the returned func) and, after a
// restart, from the store (Start).

// SessionTypes maps a committed session event to the webhook types it
// fires; thread and stop-reason details are read from the event itself.
func SessionTypes(e *store.Event) (types []string, threadID string) {
	switch e.Type {
	case wire.EventTypeSessionStatusRunning:
		return []string{"session.status_run_started"}, ""
	case wire.EventTypeSessionStatusIdle:
		var doc struct {
			StopReason struct {
				Type string `json:"type"`
			} `json:"stop_reason"`
		}
		_ = json.Unmarshal(e.Data, &doc)
		if doc.StopReason.Type == wire.StopRequiresAction {
			return []string{"session.status_idled", "session.requires_action"}, ""
		}
		return []string{"session.status_idled"}, ""
	case wire.EventTypeSessionStatusTerminated:
		return []string{"session.status_terminated"}, ""
	case wire.EventTypeSessionStatusRescheduled:
		// The spec's table has no webhook for it, but the SDK's payload
		// union has this type: the SDK wins.
		return []string{"session.status_rescheduled"}, ""
	case wire.EventTypeSessionThreadCreated, wire.EventTypeSessionThreadStatusIdle:
		var doc struct {
			SessionThreadID string `json:"session_thread_id"`
		}
		_ = json.Unmarshal(e.Data, &doc)
		if e.Type == wire.EventTypeSessionThreadCreated {
			return []string{"session.thread_created"}, doc.SessionThreadID
		}
		return []string{"session.thread_idled"}, doc.SessionThreadID
	case wire.EventTypeSpanOutcomeEvaluationEnd:
		return []string{"session.outcome_evaluation_ended"}, ""
	}
	return nil, ""
}

// Committing is the engine's hook: inside the transaction that appends a
// session's events, it queues their webhooks; the returned func, run once
// the transaction committed, starts sending them. Only the session's own
// stream counts (a subagent thread's copy of an event is not a second
// change).
func (s *Service) Committing(ctx context.Context, tx store.Tx, workspace, sessionID string, evs []*store.Event) (func(), error) {
	var all []item
	for _, e := range evs {
		if e.ThreadID != "" {
			continue
		}
		types, thread := SessionTypes(e)
		for _, t := range types {
			its, err := s.enqueue(ctx, tx, workspace, Data{Type: t, ID: sessionID, SessionThreadID: thread}, e.CreatedAt)
			if err != nil {
				return nil, err
			}
			all = append(all, its...)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return func() { s.push(all...) }, nil
}

// Batch collects the deliveries one transaction queues, for owners of
// other resources (agents, vaults, deployments) to announce a change in
// the transaction that makes it: Emit inside the transaction, Send after
// it committed. A nil Service's batch queues nothing.
type Batch struct {
	s   *Service
	its []item
}

// Batch starts a batch.
func (s *Service) Batch() *Batch { return &Batch{s: s} }

// Emit queues event d of workspace ws inside tx.
func (b *Batch) Emit(ctx context.Context, tx store.Tx, ws string, d Data) error {
	if b.s == nil {
		return nil
	}
	if !IsEventType(d.Type) {
		return errdefs.Internal(nil, "unknown webhook event type %q", d.Type)
	}
	its, err := b.s.enqueue(ctx, tx, ws, d, wire.Now())
	b.its = append(b.its, its...)
	return err
}

// Send starts sending what the batch queued; call it once the
// transaction committed.
func (b *Batch) Send() {
	if b.s != nil && len(b.its) > 0 {
		b.s.push(b.its...)
	}
	b.its = nil
}

// EmitTx queues event d of workspace ws inside tx; run the returned func
// (nil: nothing was queued) after the commit.
func (s *Service) EmitTx(ctx context.Context, tx store.Tx, ws string, d Data) (func(), error) {
	if s == nil {
		return nil, nil
	}
	if !IsEventType(d.Type) {
		return nil, errdefs.Internal(nil, "unknown webhook event type %q", d.Type)
	}
	its, err := s.enqueue(ctx, tx, ws, d, wire.Now())
	if err != nil || len(its) == 0 {
		return nil, err
	}
	return func() { s.push(its...) }, nil
}

// Emit queues event d of workspace ws in a transaction of its own.
func (s *Service) Emit(ctx context.Context, ws string, d Data) error {
	if s == nil {
		return nil
	}
	var after func()
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		after, err = s.EmitTx(ctx, tx, ws, d)
		return err
	})
	if err == nil && after != nil {
		after()
	}
	return err
}

// enqueue writes one delivery per endpoint that wants the event. The
// envelope is fixed here, so every attempt sends the same id and body.
func (s *Service) enqueue(ctx context.Context, tx store.Tx, ws string, d Data, at time.Time) ([]item, error) {
	s.mu.Lock()
	var targets []string
	for id, c := range s.endpoints {
		if c.wants(ws, d.Type) {
			targets = append(targets, id)
		}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return nil, nil
	}
	d.OrganizationID, d.WorkspaceID = OrganizationID, ws
	ev := Event{ID: newEventID(), Type: "event", CreatedAt: at.UTC(), Data: d}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, errdefs.Internal(err, "encode webhook event")
	}
	now := time.Now()
	its := make([]item, 0, len(targets))
	for _, ep := range targets {
		data, err := json.Marshal(delivery{Endpoint: ep, Body: body, EventID: ev.ID, Type: d.Type, NextAt: now})
		if err != nil {
			return nil, errdefs.Internal(err, "encode webhook delivery")
		}
		id := ids.New(ids.WebhookDelivery)
		if err := tx.Insert(ctx, &store.Record{Kind: KindDelivery, ID: id, Workspace: recordWorkspace, Parent: ep, Data: data}); err != nil {
			return nil, err
		}
		its = append(its, item{id: id, due: now})
	}
	return its, nil
}
