package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// request builds the next model request from the conversation. r.mu is held.
func (r *run) request() *model.Request {
	req := &model.Request{
		Model:     r.doc.Agent.Model.ID,
		MaxTokens: r.e.opt.MaxTokens,
		// The outer slice is copied; blocks are never modified in place and
		// later appends do not touch what this request can see.
		Messages: slices.Clone(r.history),
		Speed:    r.doc.Agent.Model.Speed,
	}
	if r.doc.Agent.Model.Effort != nil {
		req.Effort = r.doc.Agent.Model.Effort.Type
	}
	if r.system != "" {
		req.System = []model.Block{model.Text(r.system)}
	}
	for _, d := range r.allDefs() {
		req.Tools = append(req.Tools, model.Tool{Name: d.Name, Description: d.Description, InputSchema: d.InputSchema})
	}
	return req
}

// modelTurn runs one model request (with retries), records what the model
// produced and registers its tool calls.
func (r *run) modelTurn(ctx context.Context) {
	r.loadMCP(ctx)
	r.mu.Lock()
	needs := r.needsCompaction()
	r.mu.Unlock()
	compacted := false
	if needs {
		compacted = r.compact(ctx)
	}
	r.mu.Lock()
	req := r.request()
	start, err := r.commit(r.e.ctx, "", ev(&wire.SpanModelRequestStartEvent{}))
	r.mu.Unlock()
	if err != nil {
		r.e.log.Error("start model request", "session", r.id, "err", err)
		return
	}
	startID := start[0].ID

	var resp *model.Response
	var previewIDs []string
	for attempt := 0; ; attempt++ {
		resp, previewIDs, err = r.stream(ctx, req, true)
		if err == nil || ctx.Err() != nil {
			break
		}
		if e, ok := model.AsError(err); ok && e.Kind == model.KindContextTooLong && !compacted {
			// The prompt outgrew the window before the usage showed it:
			// compact and try again once.
			compacted = true
			if r.compact(ctx) {
				r.mu.Lock()
				req = r.request()
				r.mu.Unlock()
				attempt--
				continue
			}
		}
		delay, retry := r.e.opt.Backoff.Delay(attempt, err)
		if !retry {
			break
		}
		// A retryable failure reschedules the session until the
		// next try starts.
		r.mu.Lock()
		_, cerr := r.commit(r.e.ctx, store.SessionRescheduling,
			ev(&wire.SessionErrorEvent{Error: wire.NewSessionError(errorType(err), wire.RetryRetrying, err.Error())}),
			ev(&wire.SessionStatusRescheduledEvent{}))
		r.mu.Unlock()
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
		r.mu.Lock()
		_, cerr = r.commit(r.e.ctx, store.SessionRunning, ev(&wire.SessionStatusRunningEvent{}))
		r.mu.Unlock()
		if cerr != nil {
			err = cerr
			break
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || ctx.Err() != nil {
		isErr := true
		evs := []pending{ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr})}
		if ctx.Err() == nil {
			// The model failed for good: report it and stop until new
			// input arrives. A provider that refuses for billing
			// (out of credits, spend limit) is the one terminal error:
			// the session ends for good.
			status, final, next := wire.RetryExhausted, ev(&wire.SessionStatusIdleEvent{StopReason: wire.RetriesExhausted()}), store.SessionIdle
			if me, ok := model.AsError(err); ok && me.Kind == model.KindBilling {
				status, final, next = wire.RetryTerminal, ev(&wire.SessionStatusTerminatedEvent{}), store.SessionTerminated
			}
			evs = append(evs,
				ev(&wire.SessionErrorEvent{Error: wire.NewSessionError(errorType(err), status, err.Error())}),
				final)
			r.halted = true
			_, err = r.commit(r.e.ctx, next, evs...)
			if err == nil && next == store.SessionTerminated {
				r.terminated()
			}
		} else {
			// Interrupted or stopped: next() handles the interrupt.
			_, err = r.commit(r.e.ctx, "", evs...)
		}
		if err != nil {
			r.e.log.Error("end model request", "session", r.id, "err", err)
		}
		return
	}
	r.record(startID, resp, previewIDs)
}

// errorType maps a model failure to a session.error type.
func errorType(err error) string {
	if e, ok := model.AsError(err); ok {
		return e.SessionErrorType()
	}
	return "model_request_failed_error"
}

// stream runs one model request, publishing live previews of the text as
// it arrives. It returns, with the response, the event id
// announced for each content block (by position), which the buffered events
// then carry.
func (r *run) stream(ctx context.Context, req *model.Request, previews bool) (*model.Response, []string, error) {
	byIndex := map[int]string{}
	resp, err := model.Collect(r.e.mdl.Stream(ctx, req), func(e model.Event) {
		if !previews {
			return
		}
		switch e.Type {
		case model.EventBlockStart:
			id := ids.New(ids.Event)
			byIndex[e.Index] = id
			switch e.Block.Type {
			case model.BlockText:
				r.preview(id, wire.EventTypeAgentMessage, wire.EventStart{PreviewType: wire.EventTypeAgentMessage, EventID: id})
			case model.BlockThinking, model.BlockRedactedThinking:
				r.preview(id, wire.EventTypeAgentThinking, wire.EventStart{PreviewType: wire.EventTypeAgentThinking, EventID: id})
			}
		case model.EventBlockDelta:
			if e.DeltaType == model.DeltaText && e.Delta != "" {
				r.preview(byIndex[e.Index], wire.EventTypeAgentMessage, wire.EventDelta{EventID: byIndex[e.Index], Index: 0, Text: e.Delta})
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// Response orders blocks by index, so positions follow sorted indexes.
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	previewIDs := make([]string, len(resp.Content))
	for pos := range previewIDs {
		if pos < len(idx) {
			previewIDs[pos] = byIndex[idx[pos]]
		}
	}
	return resp, previewIDs, nil
}

// preview publishes a stream-only event_start or event_delta.
func (r *run) preview(eventID, previewType string, v wire.StreamEvent) {
	if r.e.pub == nil || eventID == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	r.e.pub.Publish(r.id, events.Message{ID: eventID, Type: v.EventType(), Data: b, Preview: true, PreviewType: previewType})
}

// record persists what the model produced, in its order: agent.thinking,
// agent.message and tool-use events, closed by span.model_request_end.
// r.mu is held.
func (r *run) record(startID string, resp *model.Response, previewIDs []string) {
	var evs []pending
	type newCall struct {
		id, name string
		kind     tool.Kind
		input    json.RawMessage
		state    callState
		server   string
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
			def, known := tool.Find(r.allDefs(), b.Name)
			var p pending
			// The event takes the id announced for the block, so that it
			// sorts among the turn's other events as it is logged.
			switch {
			case known && def.Kind == tool.MCP:
				perm, eval := evaluate(def.Permission)
				p = ev(&wire.AgentMCPToolUseEvent{Name: b.Name, MCPServerName: def.MCPServer, Input: wire.RawObject(input), EvaluatedPermission: perm, Evaluation: eval})
				p.ev.ID = id
				calls = append(calls, newCall{id, b.Name, tool.MCP, input, gated(perm, callReady), def.MCPServer})
			case known && def.Kind == tool.Custom:
				p = ev(&wire.AgentCustomToolUseEvent{Name: b.Name, Input: wire.RawObject(input), EvaluatedPermission: wire.PermissionAllow})
				p.ev.ID = id
				calls = append(calls, newCall{id, b.Name, tool.Custom, input, callClient, ""})
			default:
				// Unknown tools are recorded like allowed built-in calls;
				// executing them reports the unknown name to the model.
				perm, eval := wire.PermissionAllow, wire.EvaluationAlwaysAllow()
				state := callReady
				if known {
					perm, eval = evaluate(def.Permission)
					state = gated(perm, r.runnableState(b.Name))
				}
				p = ev(&wire.AgentToolUseEvent{Name: b.Name, Input: wire.RawObject(input), EvaluatedPermission: perm, Evaluation: eval})
				p.ev.ID = id
				calls = append(calls, newCall{id, b.Name, tool.Builtin, input, state, ""})
			}
			evs = append(evs, p)
			// The model sees the event id as the tool_use id from now on,
			// which is the id results and confirmations name.
			blocks = append(blocks, model.ToolUse(p.ev.ID, b.Name, input))
		}
	}
	isErr := false
	evs = append(evs, ev(&wire.SpanModelRequestEndEvent{ModelRequestStartID: startID, IsError: &isErr, ModelUsage: spanUsage(resp.Usage)}))
	if _, err := r.commit(r.e.ctx, "", evs...); err != nil {
		r.e.log.Error("record model response", "session", r.id, "err", err)
		r.halted = true
		return
	}
	r.lastPromptTokens = resp.Usage.ContextTokens()
	for _, b := range blocks {
		if b.Type != model.BlockToolUse {
			r.appendAssistant(b)
		}
	}
	for _, c := range calls {
		r.addCall(c.id, c.name, c.kind, c.input, c.state)
		r.calls[len(r.calls)-1].server = c.server
	}
	if len(blocks) == 0 {
		// An empty answer still closes the assistant turn, so the next
		// request alternates roles correctly.
		r.appendAssistant(model.Text("(no response)"))
	}
}

// evaluate applies a tool's permission policy to a call: its
// evaluated_permission and the evaluation logged with it. An auto policy has
// no classifier here, so its verdict is always indeterminate and the call is
// held for the user's confirmation; it never runs unasked.
func evaluate(policy string) (string, *wire.ToolEvaluation) {
	switch policy {
	case tool.AlwaysAsk:
		return wire.PermissionAsk, wire.EvaluationAlwaysAsk()
	case tool.Auto:
		return wire.PermissionAsk, wire.EvaluationAuto(wire.PermissionAsk, wire.ReasonIndeterminate)
	}
	return wire.PermissionAllow, wire.EvaluationAlwaysAllow()
}

// gated is the state a call with evaluated permission perm starts in:
// waiting for confirmation, or allowed (where an allowed call goes).
func gated(perm string, allowed callState) callState {
	if perm == wire.PermissionAsk {
		return callConfirm
	}
	return allowed
}

func spanUsage(u model.Usage) wire.SpanModelUsage {
	return wire.SpanModelUsage{
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationInputTokens: u.CacheCreationInputTokens, CacheReadInputTokens: u.CacheReadInputTokens,
	}
}

// execute runs allowed built-in calls one after another and records each
// result as agent.tool_result.
func (r *run) execute(ctx context.Context, calls []*call) {
	for _, c := range calls {
		if ctx.Err() != nil {
			return
		}
		res := r.runTool(ctx, c)
		if ctx.Err() != nil {
			// Interrupted: the interrupt answers the call.
			return
		}
		isErr := res.IsError
		r.mu.Lock()
		if c.state != callReady {
			r.mu.Unlock()
			continue
		}
		result := ev(&wire.AgentToolResultEvent{ToolUseID: c.id, Content: res.Content, IsError: &isErr})
		if c.kind == tool.MCP {
			result = ev(&wire.AgentMCPToolResultEvent{MCPToolUseID: c.id, Content: res.Content, IsError: &isErr})
		}
		_, err := r.commit(r.e.ctx, "", result)
		if err != nil {
			r.e.log.Error("record tool result", "session", r.id, "tool", c.name, "err", err)
			r.mu.Unlock()
			return
		}
		r.resolve(c.id, toolResult(c.id, res.Content, &isErr))
		r.mu.Unlock()
	}
}

func (r *run) runTool(ctx context.Context, c *call) ToolResult {
	if c.kind == tool.MCP {
		return r.runMCP(ctx, c)
	}
	if _, ok := tool.Find(r.defs, c.name); !ok {
		return errorResult("Unknown tool " + c.name + ": it is not among the tools available in this session.")
	}
	if r.e.tools == nil {
		return errorResult("No sandbox is available to run " + c.name + " in this session.")
	}
	ctx, cancel := context.WithTimeout(ctx, r.e.opt.ToolTimeout)
	defer cancel()
	r.mu.Lock()
	call := ToolCall{Workspace: r.ws, SessionID: r.id, EnvironmentID: r.doc.EnvironmentID, ToolUseID: c.id, Name: c.name, Input: c.input}
	r.mu.Unlock()
	res, err := r.e.tools.Execute(ctx, call)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errorResult("The tool call timed out after " + r.e.opt.ToolTimeout.String() + ".")
		}
		return errorResult("The tool could not run: " + err.Error())
	}
	return res
}

func errorResult(msg string) ToolResult {
	return ToolResult{Content: []wire.ContentBlock{wire.NewTextBlock(msg)}, IsError: true}
}
