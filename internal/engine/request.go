package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/wire"
)

// request builds the next model request from the conversation. c.s.mu is held.
func (c *conversation) request() *model.Request {
	req := &model.Request{
		Model:     c.agent().Model.ID,
		MaxTokens: c.s.e.opt.MaxTokens,
		// The outer slice is copied; blocks are never modified in place and
		// later appends do not touch what this request can see.
		Messages: slices.Clone(c.history),
		Speed:    c.agent().Model.Speed,
	}
	if c.agent().Model.Effort != nil {
		req.Effort = c.agent().Model.Effort.Type
	}
	system := c.system
	if note := memoryNote(c.s.doc.Resources); note != "" {
		system = strings.TrimLeft(system+"\n\n"+note, "\n")
	}
	if system != "" {
		req.System = []model.Block{model.Text(system)}
	}
	for _, d := range c.allDefs() {
		req.Tools = append(req.Tools, model.Tool{Name: d.Name, Description: d.Description, InputSchema: d.InputSchema})
	}
	return req
}

// stream runs one model request, publishing live previews of the text as
// it arrives. It returns, with the response, the event id announced for
// each content block (by position), which the buffered events then carry,
// so a client can match a preview to the event logged for it.
func (c *conversation) stream(ctx context.Context, req *model.Request, previews bool) (*model.Response, []string, error) {
	byIndex := map[int]string{}
	resp, err := model.Collect(c.s.e.mdl.Stream(ctx, req), func(e model.Event) {
		if !previews {
			return
		}
		switch e.Type {
		case model.EventBlockStart:
			id := ids.New(ids.Event)
			byIndex[e.Index] = id
			switch e.Block.Type {
			case model.BlockText:
				c.preview(id, wire.EventTypeAgentMessage, wire.EventStart{PreviewType: wire.EventTypeAgentMessage, EventID: id})
			case model.BlockThinking, model.BlockRedactedThinking:
				c.preview(id, wire.EventTypeAgentThinking, wire.EventStart{PreviewType: wire.EventTypeAgentThinking, EventID: id})
			}
		case model.EventBlockDelta:
			if e.DeltaType == model.DeltaText && e.Delta != "" {
				c.preview(byIndex[e.Index], wire.EventTypeAgentMessage, wire.EventDelta{EventID: byIndex[e.Index], Index: 0, Text: e.Delta})
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// Every model request counts toward the session's usage and list cost
	// here, priced as the model id the request named (the agent's).
	thread := ""
	if c.th != nil {
		thread = c.th.id
	}
	u := resp.Usage
	if req.Speed == "fast" {
		// Priced as asked when the provider does not say at what speed
		// it ran: an estimate must not fall short of the cost.
		u.Fast = true
	}
	c.s.mu.Lock()
	c.s.chargeModelRequest(thread, req.Model, u)
	c.s.mu.Unlock()
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
func (c *conversation) preview(eventID, previewType string, v wire.StreamEvent) {
	if c.s.e.pub == nil || eventID == "" || c.th != nil {
		// Previews cover the primary thread only.
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.s.e.pub.Publish(c.s.id, events.Message{ID: eventID, Type: v.EventType(), Data: b, Preview: true, PreviewType: previewType})
}
