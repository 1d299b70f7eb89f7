package wire

import "encoding/json"

// ---- live previews (stream only) ----------------------------------------

// StreamEvent is anything written to an event stream: a persisted Event or
// a preview. EventType is the SSE "event:" name.
type StreamEvent interface {
	EventType() string
	json.Marshaler
}

// EventStart is event_start: it announces the type and id of the buffered
// event (agent.message or agent.thinking) that will follow.
type EventStart struct {
	PreviewType string
	EventID     string
}

// EventDelta is event_delta: the next piece of text of content block Index
// of the previewed agent.message.
type EventDelta struct {
	EventID string
	Index   int64
	Text    string
}

func (EventStart) EventType() string { return EventTypeEventStart }
func (EventDelta) EventType() string { return EventTypeEventDelta }

func (s EventStart) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type  string `json:"type"`
		Event struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"event"`
	}{Type: EventTypeEventStart, Event: struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{s.PreviewType, s.EventID}})
}

func (d EventDelta) MarshalJSON() ([]byte, error) {
	type content struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type delta struct {
		Type    string  `json:"type"`
		Index   int64   `json:"index"`
		Content content `json:"content"`
	}
	return json.Marshal(struct {
		Type    string `json:"type"`
		EventID string `json:"event_id"`
		Delta   delta  `json:"delta"`
	}{EventTypeEventDelta, d.EventID, delta{"content_delta", d.Index, content{BlockText, d.Text}}})
}

func (s *EventStart) UnmarshalJSON(b []byte) error {
	var v struct {
		Event struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"event"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = EventStart{v.Event.Type, v.Event.ID}
	return nil
}

func (d *EventDelta) UnmarshalJSON(b []byte) error {
	var v struct {
		EventID string `json:"event_id"`
		Delta   struct {
			Index   int64 `json:"index"`
			Content struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"delta"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = EventDelta{v.EventID, v.Delta.Index, v.Delta.Content.Text}
	return nil
}

// PreviewTypes are the values event_deltas[] accepts.
var PreviewTypes = []string{EventTypeAgentMessage, EventTypeAgentThinking}
