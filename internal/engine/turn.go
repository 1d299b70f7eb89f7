package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// A conversation's loop: a model turn (compacting first when the context
// is nearly full), the tool calls it makes, their results (tools.go), and
// the next turn. The session's driver takes the steps (session.go).

// modelTurn runs one model request (with retries), records what the model
// produced and registers its tool calls.
func (c *conversation) modelTurn(ctx context.Context) {
	c.loadMCP(ctx)
	c.s.mu.Lock()
	needs := c.needsCompaction()
	c.s.mu.Unlock()
	compacted := false
	if needs {
		compacted = c.compact(ctx)
	}
	c.s.mu.Lock()
	req := c.request()
	start, err := c.commit(c.s.e.ctx, "", c.spanStart())
	c.s.mu.Unlock()
	if err != nil {
		c.s.e.log.Error("start model request", "session", c.s.id, "err", err)
		return
	}
	startID := start[0].ID

	var resp *model.Response
	var previewIDs []string
	for attempt := 0; ; attempt++ {
		resp, previewIDs, err = c.stream(ctx, req, true)
		if err == nil || ctx.Err() != nil {
			break
		}
		if e, ok := model.AsError(err); ok && e.Kind == model.KindContextTooLong && !compacted {
			// The prompt outgrew the window before the usage showed it:
			// compact and try again once.
			compacted = true
			if c.compact(ctx) {
				c.s.mu.Lock()
				req = c.request()
				c.s.mu.Unlock()
				attempt--
				continue
			}
		}
		delay, retry := c.s.e.opt.Backoff.Delay(attempt, err)
		if !retry {
			break
		}
		// A retryable failure reschedules the session until the next try
		// starts.
		c.s.mu.Lock()
		_, cerr := c.commit(c.s.e.ctx, store.SessionRescheduling,
			ev(&wire.SessionErrorEvent{Error: wire.NewSessionError(errorType(err), wire.RetryRetrying, err.Error())}),
			ev(&wire.SessionStatusRescheduledEvent{}))
		c.s.mu.Unlock()
		if cerr != nil {
			err = cerr
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		if ctx.Err() != nil {
			break
		}
		c.s.mu.Lock()
		_, cerr = c.commit(c.s.e.ctx, store.SessionRunning, ev(&wire.SessionStatusRunningEvent{}))
		c.s.mu.Unlock()
		if cerr != nil {
			err = cerr
			break
		}
	}

	// Calls of auto tools are judged before they are logged (autoperm.go).
	var verdicts map[int]autoVerdict
	if err == nil && ctx.Err() == nil {
		verdicts = c.judgeCalls(ctx, resp)
	}

	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err != nil || ctx.Err() != nil {
		isErr := true
		evs := []pending{ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr})}
		if ctx.Err() == nil {
			// The model failed for good: report it and stop until new
			// input arrives. A provider that refuses for billing (out of
			// credits, spend limit) is the one terminal error: the
			// session ends for good.
			status, final, next := wire.RetryExhausted, ev(&wire.SessionStatusIdleEvent{StopReason: wire.RetriesExhausted()}), store.SessionIdle
			if me, ok := model.AsError(err); ok && me.Kind == model.KindBilling {
				status, final, next = wire.RetryTerminal, ev(&wire.SessionStatusTerminatedEvent{}), store.SessionTerminated
			}
			evs = append(evs,
				ev(&wire.SessionErrorEvent{Error: wire.NewSessionError(errorType(err), status, err.Error())}),
				final)
			c.halted = true
			// Committing the terminated status ends what the session
			// runs (session.terminated).
			_, err = c.commit(c.s.e.ctx, next, evs...)
		} else {
			// Interrupted or stopped: next() handles the interrupt.
			_, err = c.commit(c.s.e.ctx, "", evs...)
		}
		if err != nil {
			c.s.e.log.Error("end model request", "session", c.s.id, "err", err)
		}
		return
	}
	c.record(startID, resp, previewIDs, verdicts)
}

// errorType maps a model failure to a session.error type.
func errorType(err error) string {
	if e, ok := model.AsError(err); ok {
		return e.SessionErrorType()
	}
	return "model_request_failed_error"
}

// record persists what the model produced, in its order: agent.thinking,
// agent.message and tool-use events, closed by span.model_request_end,
// then the error results of the calls the auto policy denied (verdicts are
// the auto calls' judgements, by block position). c.s.mu is held.
func (c *conversation) record(startID string, resp *model.Response, previewIDs []string, verdicts map[int]autoVerdict) {
	var evs, denied []pending
	type newCall struct {
		id, name string
		kind     tool.Kind
		input    json.RawMessage
		state    callState
		server   string
		perm     string
		eval     *wire.ToolEvaluation
		// denial is a denied call's result.
		denial *model.Block
	}
	var calls []newCall
	var blocks []model.Block
	for i, b := range resp.Content {
		var id string
		if i < len(previewIDs) {
			id = previewIDs[i]
		}
		if id == "" {
			id = ids.New(ids.Event)
		}
		switch b.Type {
		case model.BlockThinking, model.BlockRedactedThinking:
			priv, _ := json.Marshal(b)
			p := ev(&wire.AgentThinkingEvent{})
			p.ev.ID, p.private = id, priv
			evs = append(evs, p)
			blocks = append(blocks, b)
		case model.BlockText:
			if b.Text == "" {
				continue
			}
			p := ev(&wire.AgentMessageEvent{Content: []wire.ContentBlock{wire.NewTextBlock(b.Text)}})
			p.ev.ID = id
			evs = append(evs, p)
			blocks = append(blocks, b)
		case model.BlockToolUse:
			input := b.Input
			if len(input) == 0 {
				input = json.RawMessage(`{}`)
			}
			def, known := tool.Find(c.allDefs(), b.Name)
			var p pending
			// The event takes the id announced for the block, so that it
			// sorts among the turn's other events as it is logged.
			switch {
			case known && def.Kind == kindAdvisor:
				var thread string
				p, thread = advisorCalled(id)
				calls = append(calls, newCall{id: id, name: b.Name, kind: kindAdvisor, input: input, state: callReady, server: thread})
			case known && def.Kind == tool.MCP:
				perm, eval, v := verdictFor(verdicts, i, def.Permission)
				p = ev(&wire.AgentMCPToolUseEvent{Name: b.Name, MCPServerName: def.MCPServer, Input: wire.RawObject(input), EvaluatedPermission: perm, Evaluation: eval})
				p.ev.ID = id
				v.stamp(c, &p)
				nc := newCall{id: id, name: b.Name, kind: tool.MCP, input: input, state: gated(perm, callReady), server: def.MCPServer, perm: perm, eval: eval}
				if perm == wire.PermissionDeny {
					res, block := v.deniedResult(id, tool.MCP)
					denied, nc.denial = append(denied, res), &block
				}
				calls = append(calls, nc)
			case known && def.Kind == tool.Custom:
				p = ev(&wire.AgentCustomToolUseEvent{Name: b.Name, Input: wire.RawObject(input), EvaluatedPermission: wire.PermissionAllow})
				p.ev.ID = id
				calls = append(calls, newCall{id: id, name: b.Name, kind: tool.Custom, input: input, state: callClient})
			default:
				// Unknown tools are recorded like allowed built-in calls;
				// executing them reports the unknown name to the model.
				perm, eval := wire.PermissionAllow, wire.EvaluationAlwaysAllow()
				var v *autoVerdict
				state := callReady
				if known {
					perm, eval, v = verdictFor(verdicts, i, def.Permission)
					state = gated(perm, c.runnableState(b.Name))
				}
				p = ev(&wire.AgentToolUseEvent{Name: b.Name, Input: wire.RawObject(input), EvaluatedPermission: perm, Evaluation: eval})
				p.ev.ID = id
				v.stamp(c, &p)
				nc := newCall{id: id, name: b.Name, kind: tool.Builtin, input: input, state: state, perm: perm, eval: eval}
				if perm == wire.PermissionDeny {
					// Never run: neither a worker's nor the server's; its
					// result is resolved as it is logged.
					res, block := v.deniedResult(id, tool.Builtin)
					denied, nc.state, nc.denial = append(denied, res), callReady, &block
				}
				calls = append(calls, nc)
			}
			evs = append(evs, p)
			// The model sees the event id as the tool_use id from now on,
			// which is the id results and confirmations name.
			blocks = append(blocks, model.ToolUse(p.ev.ID, b.Name, input))
		}
	}
	isErr := false
	evs = append(evs, ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr, ModelUsage: spanUsage(resp.Usage)}))
	evs = append(evs, denied...)
	if _, err := c.commit(c.s.e.ctx, "", evs...); err != nil {
		c.s.e.log.Error("record model response", "session", c.s.id, "err", err)
		c.halted = true
		return
	}
	c.lastPromptTokens = resp.Usage.ContextTokens()
	for _, b := range blocks {
		if b.Type != model.BlockToolUse {
			c.appendAssistant(b)
		}
	}
	for _, cl := range calls {
		added := c.addCall(cl.id, cl.name, cl.kind, cl.input, cl.state)
		added.server, added.perm, added.eval = cl.server, cl.perm, cl.eval
	}
	for _, cl := range calls {
		if cl.denial != nil {
			c.resolve(cl.id, *cl.denial)
		}
	}
	if len(blocks) == 0 {
		// An empty answer still closes the assistant turn, so the next
		// request alternates roles correctly.
		c.appendAssistant(model.Text("(no response)"))
	}
}

func spanUsage(u model.Usage) wire.SpanModelUsage {
	return wire.SpanModelUsage{
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationInputTokens: u.CacheCreationInputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
	}
}
