package engine

import (
	"bytes"
	"encoding/json"
	"github.com/hangarhq/hangar/internal/model"
	"time"

	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Rebuilding a multiagent session's threads from its event log.

// replayMulti folds a multiagent event into the state while rebuilding;
// handled is false for the primary conversation's own events.
func (s *session) replayMulti(se store.Event, e wire.Event) (bool, error) {
	mt := s.mt
	if se.ThreadID != "" {
		t := mt.byID[se.ThreadID]
		if t == nil {
			return true, nil // a thread whose creation is not in the log
		}
		switch p := e.Payload.(type) {
		case *wire.SessionThreadStatusRunningEvent:
			t.replayStatus(wire.ThreadRunning, se.CreatedAt)
		case *wire.SessionThreadStatusRescheduledEvent:
			t.replayStatus(wire.ThreadRescheduling, se.CreatedAt)
		case *wire.SessionThreadStatusTerminatedEvent:
			t.replayStatus(wire.ThreadTerminated, se.CreatedAt)
			if bytes.Contains(se.Private, []byte(`"archived":true`)) {
				at := se.CreatedAt
				t.archivedAt = &at
			}
			t.conv.cancelCalls("The thread was archived before this tool call completed.")
		case *wire.SessionThreadStatusIdleEvent:
			t.replayStatus(wire.ThreadIdle, se.CreatedAt)
			t.conv.announced = p.StopReason.Type == wire.StopRequiresAction
		case *wire.AgentThreadMessageSentEvent:
			mt.inFlight[e.ID] = inFlight{to: p.ToSessionThreadID, msg: threadMsg{sentID: e.ID, from: t.id, fromName: t.agent.Name, content: p.Content}}
			mt.flightOrder = append(mt.flightOrder, e.ID)
		case *wire.AgentThreadMessageReceivedEvent:
			s.received(se)
			name := ""
			if p.FromAgentName != nil {
				name = *p.FromAgentName
			}
			t.conv.appendUser(messageBlocks(p.FromSessionThreadID, name, p.Content)...)
			t.conv.halted = false
		case *wire.SpanModelRequestEndEvent:
			// Tokens as the span has them (cache writes all as 5-minute
			// ones); loadSpend replaces them with the stored split.
			u := p.ModelUsage
			addUsage(&t.usage, model.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
				CacheCreationInputTokens: u.CacheCreationInputTokens, CacheReadInputTokens: u.CacheReadInputTokens})
			return true, t.conv.replayEvent(se, e)
		default:
			// A judged auto call carries its classifier's usage.
			au := autoUsageOf(se)
			addUsage(&t.usage, model.Usage{InputTokens: au.InputTokens, OutputTokens: au.OutputTokens,
				CacheCreationInputTokens: au.CacheCreationInputTokens, CacheReadInputTokens: au.CacheReadInputTokens})
			return true, t.conv.replayEvent(se, e)
		}
		return true, nil
	}
	switch p := e.Payload.(type) {
	case *wire.SessionThreadCreatedEvent:
		var priv threadCreatedPrivate
		if err := json.Unmarshal(se.Private, &priv); err != nil {
			return true, err
		}
		s.newThread(p.SessionThreadID, priv.Agent, se.CreatedAt)
	case *wire.AgentThreadMessageSentEvent:
		mt.inFlight[e.ID] = inFlight{to: p.ToSessionThreadID, msg: threadMsg{sentID: e.ID, from: mt.primaryID, fromName: s.doc.Agent.Name, content: p.Content}}
		mt.flightOrder = append(mt.flightOrder, e.ID)
	case *wire.AgentThreadMessageReceivedEvent:
		s.received(se)
		name := ""
		if p.FromAgentName != nil {
			name = *p.FromAgentName
		}
		s.main.appendUser(messageBlocks(p.FromSessionThreadID, name, p.Content)...)
		s.main.halted = false
	case *wire.SessionThreadStatusRunningEvent:
		if p.SessionThreadID == mt.primaryID {
			mt.primaryStatus = wire.ThreadRunning
		}
	case *wire.SessionThreadStatusIdleEvent:
		if p.SessionThreadID == mt.primaryID {
			mt.primaryStatus = wire.ThreadIdle
		}
	case *wire.SessionThreadStatusTerminatedEvent:
		// Archiving the session logs its threads' ends on the primary
		// thread only.
		if t := mt.byID[p.SessionThreadID]; t != nil && t.status != wire.ThreadTerminated {
			t.replayStatus(wire.ThreadTerminated, se.CreatedAt)
			t.conv.cancelCalls("The session was archived before this tool call completed.")
		}
	case *wire.SessionThreadStatusRescheduledEvent:
	case *wire.UserInterruptEvent:
		if e.ProcessedAt == nil {
			return false, nil
		}
		// The messages on their way when the interrupt was taken were
		// dropped with it.
		only := p.SessionThreadID
		if only == mt.primaryID {
			return false, nil // the coordinator's own
		}
		for id, f := range mt.inFlight {
			if only == "" || f.to == only {
				delete(mt.inFlight, id)
			}
		}
		for _, t := range mt.threads {
			if only == "" || t.id == only {
				t.conv.cancelCalls("The user interrupted the session before this tool call completed.")
				t.conv.halted = true
			}
		}
		return only != "", nil
	default:
		tid := e.SessionThreadID()
		if tid == "" || tid == mt.primaryID {
			return false, nil
		}
		t := mt.byID[tid]
		if t == nil {
			return true, nil
		}
		switch e.Payload.(type) {
		case *wire.AgentToolUseEvent, *wire.AgentMCPToolUseEvent, *wire.AgentCustomToolUseEvent:
			var cp crossPostPrivate
			if json.Unmarshal(se.Private, &cp) == nil && cp.Origin != "" {
				mt.routes[e.ID] = route{th: t, callID: cp.Origin}
				mt.crossed[cp.Origin] = e.ID
			}
		case *wire.UserToolConfirmationEvent, *wire.UserCustomToolResultEvent, *wire.UserToolResultEvent:
			target := answerTarget(e.Payload)
			callID := target
			if r, ok := mt.routes[target]; ok {
				callID = r.callID
			}
			s.applyRouted(t, callID, e)
		default:
			return false, nil
		}
	}
	return true, nil
}

// replayStatus is threadStatus's bookkeeping for a logged status change.
func (t *thread) replayStatus(status string, at time.Time) {
	working := status == wire.ThreadRunning || status == wire.ThreadRescheduling
	if working && t.since.IsZero() {
		t.since = at
	}
	if !working && !t.since.IsZero() {
		t.stats.ActiveSeconds += at.Sub(t.since).Seconds()
		t.usage.ActiveSeconds = t.stats.ActiveSeconds
		t.since = time.Time{}
	}
	t.status, t.updated = status, at
}

// received removes a delivered message from the ones in flight.
func (s *session) received(se store.Event) {
	var priv threadReceivedPrivate
	if json.Unmarshal(se.Private, &priv) == nil {
		delete(s.mt.inFlight, priv.Sent)
	}
}

// settleInFlight puts the messages still in flight after a rebuild back in
// their receivers' inboxes, in the order they were sent.
func (s *session) settleInFlight(order []string) {
	for _, id := range order {
		f, ok := s.mt.inFlight[id]
		if !ok {
			continue
		}
		if f.to == s.mt.primaryID {
			s.mt.inbox = append(s.mt.inbox, f.msg)
		} else if t := s.mt.byID[f.to]; t != nil && t.status != wire.ThreadTerminated {
			t.inbox = append(t.inbox, f.msg)
		}
	}
	s.mt.inFlight = nil
}
