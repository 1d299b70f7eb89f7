package model

import (
	"encoding/json"
	"fmt"
	"iter"
	"sort"
	"strings"
)

// EventType discriminates Event. The sequence of one turn is
//
//	MessageStart (BlockStart BlockDelta* BlockStop)* MessageDelta MessageStop
//
// Blocks are numbered by Index from 0. Several tool_use blocks may be open at
// once (OpenAI-compatible servers interleave parallel calls), so a delta names
// its block by Index rather than relying on order.
type EventType uint8

// Event types, mirroring the Messages API stream.
const (
	EventMessageStart EventType = iota + 1
	EventBlockStart
	EventBlockDelta
	EventBlockStop
	EventMessageDelta
	EventMessageStop
)

var eventTypeNames = [...]string{
	EventMessageStart: "message_start",
	EventBlockStart:   "content_block_start",
	EventBlockDelta:   "content_block_delta",
	EventBlockStop:    "content_block_stop",
	EventMessageDelta: "message_delta",
	EventMessageStop:  "message_stop",
}

func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && eventTypeNames[t] != "" {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", t)
}

// DeltaType says what a BlockDelta appends to.
type DeltaType uint8

// Delta types.
const (
	DeltaText      DeltaType = iota + 1 // Block.Text
	DeltaThinking                       // Block.Thinking
	DeltaSignature                      // Block.Signature
	DeltaInputJSON                      // a fragment of the tool_use input JSON
)

var deltaTypeNames = [...]string{
	DeltaText:      "text_delta",
	DeltaThinking:  "thinking_delta",
	DeltaSignature: "signature_delta",
	DeltaInputJSON: "input_json_delta",
}

func (t DeltaType) String() string {
	if int(t) < len(deltaTypeNames) && deltaTypeNames[t] != "" {
		return deltaTypeNames[t]
	}
	return fmt.Sprintf("DeltaType(%d)", t)
}

// Event is one step of a streamed turn. Which fields are set depends on Type:
//
//	MessageStart  MessageID, Model, Usage (prompt tokens, when known up front)
//	BlockStart    Index, Block (type and fixed fields: tool_use ID and Name,
//	              redacted_thinking Data; text fields empty)
//	BlockDelta    Index, DeltaType, Delta
//	BlockStop     Index
//	MessageDelta  StopReason, StopSequence, Usage (cumulative so far)
//	MessageStop   nothing
type Event struct {
	Type         EventType
	Index        int
	Block        *Block
	DeltaType    DeltaType
	Delta        string
	MessageID    string
	Model        string
	StopReason   StopReason
	StopSequence string
	Usage        Usage
}

// Accumulator builds a Response from a turn's events. The loop feeds it every
// event it also forwards as a live preview, then takes the authoritative
// Response once the stream has ended.
type Accumulator struct {
	resp    Response
	blocks  map[int]*accBlock
	started bool
	stopped bool
}

type accBlock struct {
	block Block
	// text gathers the block's text or thinking, sig its signature and
	// input its tool input JSON: adding each delta to a string would copy
	// all that came before, quadratic in a long answer.
	text, sig, input strings.Builder
	hasJSON          bool
	closed           bool
}

// Add folds one event in. It fails on a stream that breaks the event grammar
// (a delta for a block never started, a delta of the wrong kind); providers
// only produce well-formed streams, so such an error is a bug upstream.
func (a *Accumulator) Add(ev Event) error {
	if a.blocks == nil {
		a.blocks = make(map[int]*accBlock)
	}
	switch ev.Type {
	case EventMessageStart:
		a.started = true
		if ev.MessageID != "" {
			a.resp.ID = ev.MessageID
		}
		if ev.Model != "" {
			a.resp.Model = ev.Model
		}
		a.resp.Usage.merge(ev.Usage)
	case EventBlockStart:
		if ev.Block == nil {
			return fmt.Errorf("model: content_block_start %d without a block", ev.Index)
		}
		if _, dup := a.blocks[ev.Index]; dup {
			return fmt.Errorf("model: content block %d started twice", ev.Index)
		}
		b := &accBlock{block: *ev.Block}
		b.block.Content = append([]Block(nil), ev.Block.Content...)
		b.text.WriteString(b.block.Text + b.block.Thinking)
		b.sig.WriteString(b.block.Signature)
		a.blocks[ev.Index] = b
	case EventBlockDelta:
		b := a.blocks[ev.Index]
		if b == nil || b.closed {
			return fmt.Errorf("model: delta for content block %d, which is not open", ev.Index)
		}
		switch {
		case ev.DeltaType == DeltaText && b.block.Type == BlockText,
			ev.DeltaType == DeltaThinking && b.block.Type == BlockThinking:
			b.text.WriteString(ev.Delta)
		case ev.DeltaType == DeltaSignature && b.block.Type == BlockThinking:
			b.sig.WriteString(ev.Delta)
		case ev.DeltaType == DeltaInputJSON && b.block.Type == BlockToolUse:
			b.input.WriteString(ev.Delta)
			b.hasJSON = true
		default:
			return fmt.Errorf("model: %s for a %s block (%d)", ev.DeltaType, b.block.Type, ev.Index)
		}
	case EventBlockStop:
		b := a.blocks[ev.Index]
		if b == nil {
			return fmt.Errorf("model: content_block_stop for block %d, which never started", ev.Index)
		}
		b.closed = true
	case EventMessageDelta:
		if ev.StopReason != "" {
			a.resp.StopReason = ev.StopReason
		}
		if ev.StopSequence != "" {
			a.resp.StopSequence = ev.StopSequence
		}
		a.resp.Usage.merge(ev.Usage)
	case EventMessageStop:
		a.stopped = true
	default:
		return fmt.Errorf("model: unknown event type %d", ev.Type)
	}
	return nil
}

// Done reports whether message_stop was seen.
func (a *Accumulator) Done() bool { return a.stopped }

// Response returns the turn so far: complete after message_stop, partial
// before. Tool inputs are parsed here; an input that is not valid JSON (weak
// models on OpenAI-compatible servers produce some) is kept as a JSON string
// holding the raw text, so the tool reports the bad input back to the model
// instead of the turn failing.
func (a *Accumulator) Response() *Response {
	resp := a.resp
	idx := make([]int, 0, len(a.blocks))
	for i := range a.blocks {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	resp.Content = make([]Block, 0, len(idx))
	for _, i := range idx {
		b := a.blocks[i]
		blk := b.block
		// The texts are copied out of their builders, whose spare
		// capacity the conversation would otherwise keep.
		switch blk.Type {
		case BlockText:
			blk.Text = strings.Clone(b.text.String())
		case BlockThinking:
			blk.Thinking, blk.Signature = strings.Clone(b.text.String()), strings.Clone(b.sig.String())
		case BlockToolUse:
			blk.Input = toolInput(b.hasJSON, b.input.String(), blk.Input)
		}
		resp.Content = append(resp.Content, blk)
	}
	return &resp
}

// toolInput turns the streamed input JSON into the block's input.
func toolInput(streamed bool, raw string, start json.RawMessage) json.RawMessage {
	if !streamed || strings.TrimSpace(raw) == "" {
		if len(start) > 0 && json.Valid(start) {
			return start
		}
		return json.RawMessage(`{}`)
	}
	if json.Valid([]byte(raw)) {
		return json.RawMessage(raw)
	}
	s, _ := json.Marshal(raw)
	return s
}

// Collect drains a stream into a Response, calling fn (if not nil) with each
// event first, so the caller can forward live previews. On error it returns
// the partial response with the error; the partial turn is not authoritative
// and should not be appended to the conversation.
func Collect(stream iter.Seq2[Event, error], fn func(Event)) (*Response, error) {
	var acc Accumulator
	for ev, err := range stream {
		if err != nil {
			return acc.Response(), err
		}
		if fn != nil {
			fn(ev)
		}
		if err := acc.Add(ev); err != nil {
			return acc.Response(), &Error{Kind: KindServer, Message: "malformed model stream", Err: err}
		}
	}
	if !acc.Done() {
		return acc.Response(), &Error{Kind: KindNetwork, Message: "model stream ended before message_stop"}
	}
	return acc.Response(), nil
}
