package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// rebuild loads a session's state from its row and its whole event log.
func rebuild(ctx context.Context, e *Engine, sess store.Session) (*session, error) {
	s := &session{e: e, id: sess.ID, ws: sess.Workspace, sess: sess, answers: map[string]wire.Event{}}
	if err := json.Unmarshal(sess.Data, &s.doc); err != nil {
		return nil, errdefs.Internal(err, "decode session %s", sess.ID)
	}
	if env, err := e.st.Get(ctx, sess.Workspace, store.KindEnvironment, s.doc.EnvironmentID); err == nil {
		var w wire.Environment
		if json.Unmarshal(env.Data, &w) == nil {
			s.selfHosted = w.Config.Type == wire.EnvironmentConfigSelfHosted
		}
	}
	s.viaWorker = s.selfHosted || e.sandboxWorkers != nil
	mt, err := loadMulti(ctx, e.st, s)
	if err != nil {
		return nil, err
	}
	s.mt = mt
	if mt != nil {
		mt.inFlight = map[string]inFlight{}
	}
	if err := s.initWorkflows(ctx); err != nil {
		return nil, err
	}
	s.main = &conversation{s: s, defs: s.mainDefs()}
	if s.doc.Agent.System != nil {
		s.main.system = *s.doc.Agent.System
	}
	var after int64
	for {
		evs, err := e.st.EventsSince(ctx, sess.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			after = ev.Seq
			if err := s.replay(ev); err != nil {
				return nil, errdefs.Internal(err, "replay event %s of session %s", ev.ID, sess.ID)
			}
		}
		if len(evs) < 1000 {
			break
		}
	}
	if err := s.loadSpend(ctx); err != nil {
		return nil, err
	}
	s.applyHeld(nil)
	if s.mt != nil {
		s.settleInFlight(s.mt.flightOrder)
	}
	if sess.Status == store.SessionRunning || sess.Status == store.SessionRescheduling {
		s.runningSince = time.Now()
	}
	return s, nil
}

// replay folds one logged event into the state.
func (s *session) replay(se store.Event) error {
	var ev wire.Event
	if err := json.Unmarshal(se.Data, &ev); err != nil {
		return err
	}
	ev.ProcessedAt = se.ProcessedAt
	s.applyHeld(&se.CreatedAt)
	defer s.replayWorkflow(se, ev)
	// The advisor's consultations are thread events of the primary
	// conversation's, never a delegated thread's.
	if s.main.replayAdvisor(ev, se.Private) {
		return nil
	}
	s.replayOutcome(se, ev)
	if s.mt != nil {
		if handled, err := s.replayMulti(se, ev); handled {
			return err
		}
	}
	if t := answerTarget(ev.Payload); t != "" {
		s.answers[answerKey(ev.EventType(), t)] = ev
	}
	if wire.IsClientEventType(ev.EventType()) && ev.ProcessedAt == nil {
		s.queue = append(s.queue, ev)
		return nil
	}
	switch ev.Payload.(type) {
	case *wire.UserMessageEvent, *wire.SystemMessageEvent, *wire.UserDefineOutcomeEvent:
		// Logged when sent, taken when the session got to it (after the
		// tool calls then open, say): it joins the conversation there.
		s.replayHeld = append(s.replayHeld, ev)
		return nil
	}
	return s.main.replayEvent(se, ev)
}

// replayEvent folds one logged event of a conversation into it.
func (c *conversation) replayEvent(se store.Event, ev wire.Event) error {
	switch p := ev.Payload.(type) {
	case *wire.AgentThinkingEvent:
		var b model.Block
		if len(se.Private) > 0 {
			if err := json.Unmarshal(se.Private, &b); err != nil {
				return err
			}
			c.appendAssistant(b)
		}
	case *wire.AgentMessageEvent:
		for _, cb := range p.Content {
			if cb.Type == wire.BlockText {
				c.appendAssistant(model.Text(cb.Text))
			}
		}
	case *wire.AgentToolUseEvent:
		state := replayState(p.EvaluatedPermission, c.runnableState(p.Name))
		cl := c.addCall(ev.ID, p.Name, tool.Builtin, json.RawMessage(p.Input), state)
		cl.perm, cl.eval = p.EvaluatedPermission, p.Evaluation
	case *wire.AgentCustomToolUseEvent:
		c.addCall(ev.ID, p.Name, tool.Custom, json.RawMessage(p.Input), callClient)
	case *wire.AgentMCPToolUseEvent:
		state := replayState(p.EvaluatedPermission, callReady)
		cl := c.addCall(ev.ID, p.Name, tool.MCP, json.RawMessage(p.Input), state)
		cl.server, cl.perm, cl.eval = p.MCPServerName, p.EvaluatedPermission, p.Evaluation
	case *wire.AgentMCPToolResultEvent:
		c.resolve(p.MCPToolUseID, toolResult(p.MCPToolUseID, p.Content, p.IsError))
	case *wire.UserToolConfirmationEvent:
		c.applyConfirmation(p)
	case *wire.AgentToolResultEvent:
		c.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
	case *wire.UserCustomToolResultEvent:
		c.resolve(p.CustomToolUseID, toolResult(p.CustomToolUseID, p.Content, p.IsError))
	case *wire.UserToolResultEvent:
		c.resolve(p.ToolUseID, toolResult(p.ToolUseID, p.Content, p.IsError))
	case *wire.UserInterruptEvent:
		c.cancelCalls("The user interrupted the session before this tool call completed.")
		c.halted = true
	case *wire.SpanModelRequestEndEvent:
		u := p.ModelUsage
		if u.InputTokens+u.OutputTokens > 0 {
			c.lastPromptTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens + u.OutputTokens
		}
	case *wire.AgentThreadContextCompactedEvent:
		var cp compaction
		if err := json.Unmarshal(se.Private, &cp); err != nil {
			return err
		}
		c.history = applyCompaction(c.history, cp)
		c.lastPromptTokens = 0
	case *wire.SessionStatusIdleEvent:
		c.announced = p.StopReason.Type == wire.StopRequiresAction
		if p.StopReason.Type == wire.StopRetriesExhausted {
			c.halted = true
		}
	}
	return nil
}

// applyHeld applies the held turn input processed before the event created
// at before (all of it when before is nil), in log order.
func (s *session) applyHeld(before *time.Time) {
	n := 0
	for _, h := range s.replayHeld {
		if before != nil && !h.ProcessedAt.Before(*before) {
			break
		}
		s.main.applyInput(h)
		n++
	}
	s.replayHeld = s.replayHeld[n:]
}
