package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Send queues client events (POST …/events): it checks them against the
// session's state, appends their echoes (processed_at null) to the
// log, wakes the session and returns the echoes. An interrupt also cancels
// whatever the session is doing at once.
//
// replayKey identifies the request body; when retry is set (the SDK marks
// retried requests) and the same body was accepted recently, the events
// the first request logged are returned and nothing is queued twice.
func (e *Engine) Send(ctx context.Context, ws, id string, events []wire.EventPayload, replayKey string, retry bool) ([]wire.Event, error) {
	if retry && replayKey != "" {
		if prev, ok := e.replays.get(id + "\x00" + replayKey); ok {
			return e.logged(ctx, id, prev)
		}
	}
	e.syncMemory(ctx, ws, id, events)
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if s.sess.ArchivedAt != nil {
		return nil, errdefs.Conflict("session %s is archived and accepts no events", id)
	}
	if s.sess.Status == store.SessionTerminated {
		return nil, errdefs.Conflict("session %s is terminated and accepts no events", id)
	}
	echoes := make([]wire.Event, 0, len(events))
	var fresh []pending
	interrupt := false
	for i, p := range events {
		path := fmt.Sprintf("events[%d]", i)
		if echo, ok, err := s.interruptThread(e.ctx, path, p); err != nil {
			return nil, err
		} else if ok {
			// An interrupt of one subagent's thread stops it at once and
			// leaves the rest of the session alone.
			echoes = append(echoes, echo)
			continue
		}
		if echo, routed, err := s.routeAnswer(e.ctx, path, p); err != nil {
			return nil, err
		} else if routed {
			// An answer to a subagent's call is taken at once by its
			// thread.
			echoes = append(echoes, echo)
			continue
		}
		if prev, dup, err := s.check(ctx, path, p); err != nil {
			return nil, err
		} else if dup {
			echoes = append(echoes, prev)
			continue
		}
		if res, ok := p.(*wire.UserToolResultEvent); ok && !s.selfHosted {
			// The in-sandbox worker's result of a cloud session is the
			// agent's own tool result (as when the server ran the tool):
			// logged as agent.tool_result and applied at once.
			pe := ev(&wire.AgentToolResultEvent{ToolUseID: res.ToolUseID, Content: res.Content, IsError: res.IsError})
			fresh = append(fresh, pe)
			echoes = append(echoes, pe.ev)
			continue
		}
		pe := ev(p)
		fresh = append(fresh, pe)
		echoes = append(echoes, pe.ev)
		if p.EventType() == wire.EventTypeUserInterrupt {
			interrupt = true
		}
	}
	// With no step in flight the queue is taken now, under this lock, so
	// the send returns with the session already running when its input
	// gave it work, and that status is logged in the transaction that
	// logs the input (a crash right after the response cannot strand it).
	// A step in flight takes the queue when it ends; the session is
	// running meanwhile.
	now := s.stepCancel == nil && !s.stopped && e.ctx.Err() == nil
	if len(fresh) > 0 {
		if now {
			s.unsaved = fresh
		} else if _, err := s.commit(e.ctx, "", fresh...); err != nil {
			return nil, err
		}
		for _, p := range fresh {
			if res, ok := p.ev.Payload.(*wire.AgentToolResultEvent); ok {
				s.answers[answerKey(wire.EventTypeUserToolResult, res.ToolUseID)] = p.ev
				s.main.resolve(res.ToolUseID, toolResult(res.ToolUseID, res.Content, res.IsError))
				continue
			}
			s.queue = append(s.queue, p.ev)
			if t := answerTarget(p.ev.Payload); t != "" {
				s.answers[answerKey(p.ev.EventType(), t)] = p.ev
			}
		}
	}
	if interrupt && s.stepCancel != nil {
		s.stepCancel()
	}
	if now {
		err := s.consume(e.ctx)
		if err == nil && len(s.unsaved) > 0 {
			_, err = s.commit(e.ctx, "")
		}
		if err != nil {
			if len(s.unsaved) > 0 {
				// Nothing was logged, but the runtime took the input:
				// it is dropped, to be rebuilt from the log.
				s.discard()
				return nil, err
			}
			// The input is logged; the driver takes up what is left.
			e.log.Error("consume events", "session", id, "err", err)
		}
	}
	s.kick()
	if !isSandboxWorker(ctx) {
		// New input may need a worker; the worker's own results do not.
		s.callWorkers()
	}
	if replayKey != "" {
		e.replays.put(id+"\x00"+replayKey, echoes)
	}
	return echoes, nil
}

// logged reads the events eventIDs of a session back from its log, as they
// stand now: a client event may have been processed since it was sent.
func (e *Engine) logged(ctx context.Context, sessionID string, eventIDs []string) ([]wire.Event, error) {
	out := make([]wire.Event, len(eventIDs))
	for i, eid := range eventIDs {
		se, err := e.st.GetEvent(ctx, sessionID, eid)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(se.Data, &out[i]); err != nil {
			return nil, errdefs.Internal(err, "decode event %s", eid)
		}
		out[i].ProcessedAt = se.ProcessedAt
	}
	return out, nil
}

// check validates one client event against the session state (the rules
// that need no state are wire.SendEventsParams.Validate). dup reports a
// repeated user.tool_result, which is accepted idempotently with the echo
// of the first one. s.mu is held.
func (s *session) check(ctx context.Context, path string, p wire.EventPayload) (prev wire.Event, dup bool, err error) {
	switch p := p.(type) {
	case *wire.UserToolConfirmationEvent:
		return wire.Event{}, false, s.checkAnswer(path+".tool_use_id", p.EventType(), p.ToolUseID, callConfirm, "confirmation")
	case *wire.UserCustomToolResultEvent:
		return wire.Event{}, false, s.checkAnswer(path+".custom_tool_use_id", p.EventType(), p.CustomToolUseID, callClient, "custom tool result")
	case *wire.UserToolResultEvent:
		if prev, ok := s.answers[answerKey(wire.EventTypeUserToolResult, p.ToolUseID)]; ok {
			return prev, true, nil
		}
		if !s.selfHosted && !(s.viaWorker && isSandboxWorker(ctx)) {
			return wire.Event{}, false, errdefs.Invalid("%s.type: user.tool_result is only accepted for sessions of self_hosted environments", path)
		}
		return wire.Event{}, false, s.checkAnswer(path+".tool_use_id", p.EventType(), p.ToolUseID, callWorker, "tool result")
	case *wire.SystemMessageEvent:
		if s.main.announced {
			return wire.Event{}, false, errdefs.Invalid("%s: a system.message cannot be sent while the session waits on requires_action; answer the pending tool calls first", path)
		}
	case *wire.UserDefineOutcomeEvent:
		return wire.Event{}, false, s.admitOutcome(path, p)
	}
	return wire.Event{}, false, nil
}

// checkAnswer requires that the named call exists and waits for this kind
// of answer, and that no answer is already queued for it.
func (s *session) checkAnswer(field, kind, target string, want callState, what string) error {
	if _, ok := s.answers[answerKey(kind, target)]; ok {
		return errdefs.Conflict("%s: tool call %s was already answered", field, target)
	}
	c := s.main.findCall(target)
	if c == nil {
		return errdefs.Invalid("%s: no tool call %s is waiting for a %s in this session", field, target, what)
	}
	if c.state != want {
		return errdefs.Invalid("%s: tool call %s (%s) does not take a %s", field, target, c.name, what)
	}
	return nil
}
