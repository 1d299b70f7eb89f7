package wire

// ---- spans --------------------------------------------------------------

// SpanModelRequestStartEvent is span.model_request_start.
type SpanModelRequestStartEvent struct{}

// SpanModelRequestEndEvent is span.model_request_end. It also closes any
// preview left without its buffered event.
type SpanModelRequestEndEvent struct {
	ModelRequestStartID string         `json:"model_request_start_id"`
	IsError             *bool          `json:"is_error"`
	ModelUsage          SpanModelUsage `json:"model_usage"`
}

// SpanModelUsage is the token usage of one model request.
type SpanModelUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	// Speed is "standard" or "fast" when known.
	Speed *string `json:"speed,omitempty"`
}

// Outcome evaluation results.
const (
	OutcomePending              = "pending"
	OutcomeRunning              = "running"
	OutcomeEvaluating           = "evaluating"
	OutcomeNeedsRevision        = "needs_revision"
	OutcomeSatisfied            = "satisfied"
	OutcomeMaxIterationsReached = "max_iterations_reached"
	OutcomeFailed               = "failed"
	OutcomeInterrupted          = "interrupted"
)

// SpanOutcomeEvaluationStartEvent is span.outcome_evaluation_start.
type SpanOutcomeEvaluationStartEvent struct {
	OutcomeID string `json:"outcome_id"`
	Iteration int64  `json:"iteration"`
}

// SpanOutcomeEvaluationOngoingEvent is span.outcome_evaluation_ongoing.
type SpanOutcomeEvaluationOngoingEvent struct {
	OutcomeID string `json:"outcome_id"`
	Iteration int64  `json:"iteration"`
}

// SpanOutcomeEvaluationEndEvent is span.outcome_evaluation_end.
type SpanOutcomeEvaluationEndEvent struct {
	OutcomeEvaluationStartID string         `json:"outcome_evaluation_start_id"`
	OutcomeID                string         `json:"outcome_id"`
	Iteration                int64          `json:"iteration"`
	Result                   string         `json:"result"`
	Explanation              string         `json:"explanation"`
	Usage                    SpanModelUsage `json:"usage"`
}

func (*SpanModelRequestStartEvent) EventType() string { return EventTypeSpanModelRequestStart }
func (*SpanModelRequestEndEvent) EventType() string   { return EventTypeSpanModelRequestEnd }
func (*SpanOutcomeEvaluationStartEvent) EventType() string {
	return EventTypeSpanOutcomeEvaluationStart
}
func (*SpanOutcomeEvaluationOngoingEvent) EventType() string {
	return EventTypeSpanOutcomeEvaluationOngoing
}
func (*SpanOutcomeEvaluationEndEvent) EventType() string   { return EventTypeSpanOutcomeEvaluationEnd }
func (*SpanModelRequestStartEvent) isEventPayload()        {}
func (*SpanModelRequestEndEvent) isEventPayload()          {}
func (*SpanOutcomeEvaluationStartEvent) isEventPayload()   {}
func (*SpanOutcomeEvaluationOngoingEvent) isEventPayload() {}
func (*SpanOutcomeEvaluationEndEvent) isEventPayload()     {}
