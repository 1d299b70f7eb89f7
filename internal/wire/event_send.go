package wire

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/hangarhq/hangar/internal/jsonobj"
)

// ---- POST …/events ---------------------------------------------------------

// SendEventsParams is the body of POST /v1/sessions/{id}/events. Events
// holds *UserMessageEvent, *UserInterruptEvent, *UserToolConfirmationEvent,
// *UserCustomToolResultEvent, *UserDefineOutcomeEvent, *UserToolResultEvent
// or *SystemMessageEvent, in request order. UnmarshalJSON checks the shape
// (types, required fields, unknown fields and discriminators); Validate
// checks the values and the batch rules that need no session state.
type SendEventsParams struct {
	Events []EventPayload
}

// SentEvents is the response of POST …/events: the echo of each event.
type SentEvents struct {
	Data []Event `json:"data"`
}

func (p *SendEventsParams) UnmarshalJSON(b []byte) error {
	o, err := jsonobj.New("", b)
	if err != nil {
		return err
	}
	raw, pr := o.Get("events")
	if pr != jsonobj.Present {
		return jsonobj.Invalid("events", "field required")
	}
	items, err := jsonobj.Array("events", raw)
	if err != nil {
		return err
	}
	p.Events = make([]EventPayload, 0, len(items))
	for i, it := range items {
		ev, err := decodeClientEvent(jsonobj.Index("events", i), it, ClientEventTypes)
		if err != nil {
			return err
		}
		p.Events = append(p.Events, ev)
	}
	return o.Finish()
}

// Validate checks every event and the SDK's batch rules: at most one
// system.message, last, right after the user.message,
// user.tool_result or user.custom_tool_result it accompanies.
func (p SendEventsParams) Validate() error {
	if len(p.Events) == 0 {
		return jsonobj.Invalid("events", "must contain at least one event")
	}
	if err := oneOutcome("events", p.Events); err != nil {
		return err
	}
	seen := map[string]int{} // "<type> <target id>" → index
	for i, ev := range p.Events {
		path := jsonobj.Index("events", i)
		if err := validateClientEvent(path, ev); err != nil {
			return err
		}
		if _, ok := ev.(*SystemMessageEvent); ok {
			if i != len(p.Events)-1 {
				return jsonobj.Invalid(jsonobj.Key(path, "type"), "a system.message must be the last event of the request")
			}
			if i == 0 || !slices.Contains([]string{EventTypeUserMessage, EventTypeUserToolResult, EventTypeUserCustomToolResult}, p.Events[i-1].EventType()) {
				return jsonobj.Invalid(jsonobj.Key(path, "type"), "a system.message must directly follow the user.message, user.tool_result or user.custom_tool_result it accompanies")
			}
		}
		// The same answer twice in one request is a client bug; across
		// requests it is a retry and the handler accepts it idempotently.
		if key, field := answerTarget(ev); key != "" {
			k := ev.EventType() + " " + key
			if j, dup := seen[k]; dup {
				return jsonobj.Invalid(jsonobj.Key(path, field), "duplicate of events[%d] for %q", j, key)
			}
			seen[k] = i
		}
	}
	return nil
}

func answerTarget(ev EventPayload) (id, field string) {
	switch e := ev.(type) {
	case *UserToolConfirmationEvent:
		return e.ToolUseID, "tool_use_id"
	case *UserCustomToolResultEvent:
		return e.CustomToolUseID, "custom_tool_use_id"
	case *UserToolResultEvent:
		return e.ToolUseID, "tool_use_id"
	}
	return "", ""
}

// decodeClientEvent reads one client event whose type must be in allowed.
func decodeClientEvent(path string, raw json.RawMessage, allowed []string) (EventPayload, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	typ, err := o.Discriminator()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(allowed, typ) {
		k := kindOf[typ]
		switch {
		case k != nil && k.client:
			return nil, jsonobj.Invalid(o.At("type"), "%q events are not allowed here, expected one of %v", typ, allowed)
		case k != nil && k.server:
			return nil, jsonobj.Invalid(o.At("type"), "%q events are emitted by the server and cannot be sent, expected one of %v", typ, allowed)
		}
		return nil, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", typ, allowed)
	}
	ev, err := kindOf[typ].decode(o)
	if err != nil {
		return nil, err
	}
	return ev, o.Finish()
}

func decodeUserMessage(o *jsonobj.Object) (EventPayload, error) {
	e := &UserMessageEvent{}
	var err error
	e.Content, err = requiredBlocks(o, "content", UserMessageBlocks)
	return e, err
}

func decodeSystemMessage(o *jsonobj.Object) (EventPayload, error) {
	e := &SystemMessageEvent{}
	var err error
	e.Content, err = requiredBlocks(o, "content", SystemBlocks)
	return e, err
}

func decodeUserInterrupt(o *jsonobj.Object) (EventPayload, error) {
	e := &UserInterruptEvent{}
	s, err := o.OptStr("session_thread_id")
	if err != nil {
		return nil, err
	}
	if s != nil {
		if *s == "" {
			return nil, jsonobj.Invalid(o.At("session_thread_id"), "must not be empty")
		}
		e.SessionThreadID = *s
	}
	return e, nil
}

func decodeUserToolConfirmation(o *jsonobj.Object) (EventPayload, error) {
	e := &UserToolConfirmationEvent{}
	var err error
	if e.ToolUseID, err = o.RequiredStr("tool_use_id"); err != nil {
		return nil, err
	}
	if e.Result, err = o.RequiredStr("result"); err != nil {
		return nil, err
	}
	if e.Result != ConfirmAllow && e.Result != ConfirmDeny {
		return nil, jsonobj.Invalid(o.At("result"), "unknown value %q, expected one of [allow deny]", e.Result)
	}
	if e.DenyMessage, err = o.OptStr("deny_message"); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeUserCustomToolResult(o *jsonobj.Object) (EventPayload, error) {
	e := &UserCustomToolResultEvent{}
	var err error
	if e.CustomToolUseID, err = o.RequiredStr("custom_tool_use_id"); err != nil {
		return nil, err
	}
	if e.Content, e.IsError, err = resultBody(o); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeUserToolResult(o *jsonobj.Object) (EventPayload, error) {
	e := &UserToolResultEvent{}
	var err error
	if e.ToolUseID, err = o.RequiredStr("tool_use_id"); err != nil {
		return nil, err
	}
	if e.Content, e.IsError, err = resultBody(o); err != nil {
		return nil, err
	}
	return e, nil
}

// oneOutcome refuses a second user.define_outcome in one list: one outcome
// is active at a time.
func oneOutcome(field string, evs []EventPayload) error {
	first := -1
	for i, ev := range evs {
		if _, ok := ev.(*UserDefineOutcomeEvent); !ok {
			continue
		}
		if first >= 0 {
			return jsonobj.Invalid(jsonobj.Key(jsonobj.Index(field, i), "type"), "only one outcome can be active at a time; %s already defines one", jsonobj.Index(field, first))
		}
		first = i
	}
	return nil
}

func decodeUserDefineOutcome(o *jsonobj.Object) (EventPayload, error) {
	e := &UserDefineOutcomeEvent{}
	var err error
	if e.Description, err = o.RequiredStr("description"); err != nil {
		return nil, err
	}
	raw, p := o.Get("rubric")
	if p != jsonobj.Present {
		return nil, jsonobj.Invalid(o.At("rubric"), "field required")
	}
	if e.Rubric, err = decodeRubric(o.At("rubric"), raw); err != nil {
		return nil, err
	}
	if e.MaxIterations, err = o.OptInt("max_iterations"); err != nil {
		return nil, err
	}
	return e, nil
}

func requiredBlocks(o *jsonobj.Object, key string, allowed []string) ([]ContentBlock, error) {
	raw, p := o.Get(key)
	if p != jsonobj.Present {
		return nil, jsonobj.Invalid(o.At(key), "field required")
	}
	return decodeBlocks(o.At(key), raw, allowed)
}

func resultBody(o *jsonobj.Object) ([]ContentBlock, *bool, error) {
	var content []ContentBlock
	if raw, p := o.Get("content"); p == jsonobj.Present {
		var err error
		if content, err = decodeBlocks(o.At("content"), raw, ToolResultBlocks); err != nil {
			return nil, nil, err
		}
	}
	isErr, err := o.Bool("is_error")
	return content, isErr, err
}

func decodeRubric(path string, raw json.RawMessage) (Rubric, error) {
	var r Rubric
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return r, err
	}
	if r.Type, err = o.Discriminator(); err != nil {
		return r, err
	}
	switch r.Type {
	case BlockText:
		if r.Content, err = o.RequiredStr("content"); err != nil {
			return r, err
		}
	case SourceFile:
		if r.FileID, err = o.RequiredStr("file_id"); err != nil {
			return r, err
		}
	default:
		return r, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of [file text]", r.Type)
	}
	return r, o.Finish()
}

// maxSystemBlocks bounds a system.message.
const maxSystemBlocks = 1000

func validateClientEvent(path string, ev EventPayload) error {
	switch e := ev.(type) {
	case *UserMessageEvent:
		if len(e.Content) == 0 {
			return jsonobj.Invalid(jsonobj.Key(path, "content"), "must contain at least one block")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, true)
	case *SystemMessageEvent:
		if n := len(e.Content); n == 0 || n > maxSystemBlocks {
			return jsonobj.Invalid(jsonobj.Key(path, "content"), "must contain 1 to %d text blocks, got %d", maxSystemBlocks, n)
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, true)
	case *UserInterruptEvent:
		return nil
	case *UserToolConfirmationEvent:
		if strings.TrimSpace(e.ToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "tool_use_id"), "must not be empty")
		}
		if e.DenyMessage != nil && e.Result != ConfirmDeny {
			return jsonobj.Invalid(jsonobj.Key(path, "deny_message"), "only allowed when result is %q", ConfirmDeny)
		}
		return nil
	case *UserCustomToolResultEvent:
		if strings.TrimSpace(e.CustomToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "custom_tool_use_id"), "must not be empty")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, false)
	case *UserToolResultEvent:
		if strings.TrimSpace(e.ToolUseID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "tool_use_id"), "must not be empty")
		}
		return validateBlocks(jsonobj.Key(path, "content"), e.Content, false)
	case *UserDefineOutcomeEvent:
		if strings.TrimSpace(e.Description) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "description"), "must not be empty")
		}
		switch e.Rubric.Type {
		case BlockText:
			if strings.TrimSpace(e.Rubric.Content) == "" {
				return jsonobj.Invalid(jsonobj.Key(path, "rubric.content"), "must not be empty")
			}
			if err := checkLen(jsonobj.Key(path, "rubric.content"), e.Rubric.Content, 1, maxRubricText); err != nil {
				return err
			}
		case SourceFile:
			if strings.TrimSpace(e.Rubric.FileID) == "" {
				return jsonobj.Invalid(jsonobj.Key(path, "rubric.file_id"), "must not be empty")
			}
		}
		if n := e.MaxIterations; n != nil && (*n < 1 || *n > MaxOutcomeIterations) {
			return jsonobj.Invalid(jsonobj.Key(path, "max_iterations"), "must be between 1 and %d, got %d", MaxOutcomeIterations, *n)
		}
		return nil
	}
	return jsonobj.Invalid(path, "unsupported event %T", ev)
}
