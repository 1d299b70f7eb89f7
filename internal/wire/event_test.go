package wire

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
)

func decodeSend(b []byte) (SendEventsParams, error) {
	var p SendEventsParams
	if err := json.Unmarshal(b, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

var png = base64.StdEncoding.EncodeToString([]byte("\x89PNG fake"))

func sdkText(s string) *anthropic.BetaManagedAgentsTextBlockParam {
	return &anthropic.BetaManagedAgentsTextBlockParam{Text: s}
}

// Every client event and content block the Go SDK can send decodes to the
// payload the handler persists.
func TestSendEventsDecodeSDKParams(t *testing.T) {
	userContent := []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{
		{OfText: sdkText("hello")},
		{OfImage: &anthropic.BetaManagedAgentsImageBlockParam{Source: anthropic.BetaManagedAgentsImageBlockSourceUnionParam{OfBase64: &anthropic.BetaManagedAgentsBase64ImageSourceParam{Data: png, MediaType: "image/png"}}}},
		{OfImage: &anthropic.BetaManagedAgentsImageBlockParam{Source: anthropic.BetaManagedAgentsImageBlockSourceUnionParam{OfURL: &anthropic.BetaManagedAgentsURLImageSourceParam{URL: "https://example.com/a.png"}}}},
		{OfImage: &anthropic.BetaManagedAgentsImageBlockParam{Source: anthropic.BetaManagedAgentsImageBlockSourceUnionParam{OfFile: &anthropic.BetaManagedAgentsFileImageSourceParam{FileID: "file_img"}}}},
		{OfDocument: &anthropic.BetaManagedAgentsDocumentBlockParam{Title: anthropic.String("T"), Context: anthropic.String("C"), Source: anthropic.BetaManagedAgentsDocumentBlockSourceUnionParam{OfBase64: &anthropic.BetaManagedAgentsBase64DocumentSourceParam{Data: png, MediaType: "application/pdf"}}}},
		{OfDocument: &anthropic.BetaManagedAgentsDocumentBlockParam{Source: anthropic.BetaManagedAgentsDocumentBlockSourceUnionParam{OfText: &anthropic.BetaManagedAgentsPlainTextDocumentSourceParam{Data: "plain"}}}},
		{OfDocument: &anthropic.BetaManagedAgentsDocumentBlockParam{Source: anthropic.BetaManagedAgentsDocumentBlockSourceUnionParam{OfURL: &anthropic.BetaManagedAgentsURLDocumentSourceParam{URL: "https://example.com/a.pdf"}}}},
		{OfDocument: &anthropic.BetaManagedAgentsDocumentBlockParam{Source: anthropic.BetaManagedAgentsDocumentBlockSourceUnionParam{OfFile: &anthropic.BetaManagedAgentsFileDocumentSourceParam{FileID: "file_doc"}}}},
		{OfRedacted: &anthropic.BetaManagedAgentsRedactedBlockParam{}},
	}
	search := &anthropic.BetaManagedAgentsSearchResultBlockParam{
		Source: "https://example.com/r", Title: "R",
		Content:   []anthropic.BetaManagedAgentsSearchResultContentParam{{Text: "found"}},
		Citations: anthropic.BetaManagedAgentsSearchResultCitationsParam{Enabled: true},
	}
	body := anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{
		{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{Content: userContent}},
		{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}},
		{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{SessionThreadID: anthropic.String("sthr_1")}},
		{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: "sevt_a", Result: "allow"}},
		{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: "sevt_b", Result: "deny", DenyMessage: anthropic.String("use read instead")}},
		{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{Description: "d", Rubric: anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfFile: &anthropic.BetaManagedAgentsFileRubricParams{FileID: "file_rubric"}}}},
		{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{CustomToolUseID: "sevt_c", IsError: anthropic.Bool(true), Content: []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{
			{OfText: sdkText("")}, {OfSearchResult: search},
		}}},
		{OfUserToolResult: &anthropic.BetaManagedAgentsUserToolResultEventParams{ToolUseID: "sevt_d"}},
		{OfUserToolResult: &anthropic.BetaManagedAgentsUserToolResultEventParams{ToolUseID: "sevt_e", IsError: anthropic.Bool(false), Content: []anthropic.BetaManagedAgentsUserToolResultEventParamsContentUnion{{OfText: sdkText("(no output)")}}}},
		{OfSystemMessage: &anthropic.BetaManagedAgentsSystemMessageEventParams{Content: []anthropic.BetaManagedAgentsSystemContentBlockParam{{Text: "be brief"}}}},
	}}
	p, err := decodeSend(mustJSON(t, body))
	if err != nil {
		t.Fatalf("decode %s: %v", mustJSON(t, body), err)
	}
	if len(p.Events) != 10 {
		t.Fatalf("events = %d", len(p.Events))
	}
	m := p.Events[0].(*UserMessageEvent)
	want := []ContentBlock{
		NewTextBlock("hello"),
		{Type: "image", Source: &ContentSource{Type: "base64", MediaType: "image/png", Data: png}},
		{Type: "image", Source: &ContentSource{Type: "url", URL: "https://example.com/a.png"}},
		{Type: "image", Source: &ContentSource{Type: "file", FileID: "file_img"}},
		{Type: "document", Title: ptr("T"), Context: ptr("C"), Source: &ContentSource{Type: "base64", MediaType: "application/pdf", Data: png}},
		{Type: "document", Source: &ContentSource{Type: "text", MediaType: "text/plain", Data: "plain"}},
		{Type: "document", Source: &ContentSource{Type: "url", URL: "https://example.com/a.pdf"}},
		{Type: "document", Source: &ContentSource{Type: "file", FileID: "file_doc"}},
		{Type: "redacted"},
	}
	if !reflect.DeepEqual(m.Content, want) {
		t.Errorf("user.message content:\n got %+v\nwant %+v", m.Content, want)
	}
	if e := p.Events[1].(*UserInterruptEvent); e.SessionThreadID != "" {
		t.Errorf("interrupt = %+v", e)
	}
	if e := p.Events[2].(*UserInterruptEvent); e.SessionThreadID != "sthr_1" {
		t.Errorf("thread interrupt = %+v", e)
	}
	if e := p.Events[3].(*UserToolConfirmationEvent); e.ToolUseID != "sevt_a" || e.Result != ConfirmAllow || e.DenyMessage != nil {
		t.Errorf("allow = %+v", e)
	}
	if e := p.Events[4].(*UserToolConfirmationEvent); e.Result != ConfirmDeny || *e.DenyMessage != "use read instead" {
		t.Errorf("deny = %+v", e)
	}
	if e := p.Events[5].(*UserDefineOutcomeEvent); e.Rubric != (Rubric{Type: "file", FileID: "file_rubric"}) || e.MaxIterations != nil {
		t.Errorf("outcome = %+v", e)
	}
	c := p.Events[6].(*UserCustomToolResultEvent)
	if c.CustomToolUseID != "sevt_c" || !*c.IsError || len(c.Content) != 2 || c.Content[0].Text != "" ||
		!reflect.DeepEqual(c.Content[1].Search, &SearchResult{Source: "https://example.com/r", Title: "R", Content: []string{"found"}, CitationsEnabled: true}) {
		t.Errorf("custom result = %+v", c)
	}
	if e := p.Events[7].(*UserToolResultEvent); e.ToolUseID != "sevt_d" || e.IsError != nil || e.Content != nil {
		t.Errorf("bare tool result = %+v", e)
	}
	if e := p.Events[8].(*UserToolResultEvent); *e.IsError || TextOf(e.Content) != "(no output)" {
		t.Errorf("tool result = %+v", e)
	}
	if e := p.Events[9].(*SystemMessageEvent); TextOf(e.Content) != "be brief" {
		t.Errorf("system = %+v", e)
	}
}

// Bad event batches: 400 naming the field path.
func TestSendEventsInvalid(t *testing.T) {
	msg := `{"type":"user.message","content":[{"type":"text","text":"hi"}]}`
	sys := `{"type":"system.message","content":[{"type":"text","text":"s"}]}`
	img := func(src string) string {
		return `{"events":[{"type":"user.message","content":[{"type":"image","source":` + src + `}]}]}`
	}
	texts := make([]string, 1001)
	for i := range texts {
		texts[i] = `{"type":"text","text":"x"}`
	}
	tests := []struct{ name, body, path, want string }{
		{"events required", `{}`, "events", "field required"},
		{"events null", `{"events":null}`, "events", "field required"},
		{"events empty", `{"events":[]}`, "events", "at least one event"},
		{"events not array", `{"events":{}}`, "events", "expected an array"},
		{"unknown top-level field", `{"events":[` + msg + `],"stream":true}`, "stream", "unknown field"},
		{"event not object", `{"events":["hi"]}`, "events[0]", "expected an object"},
		{"type missing", `{"events":[{"content":[]}]}`, "events[0].type", "field required"},
		{"unknown type", `{"events":[` + msg + `,{"type":"user.poke"}]}`, "events[1].type", `unknown value "user.poke"`},
		{"bare interrupt alias", `{"events":[{"type":"interrupt"}]}`, "events[0].type", "unknown value"},
		{"server event type", `{"events":[{"type":"agent.message","content":[]}]}`, "events[0].type", "emitted by the server"},
		{"unknown event field", `{"events":[{"type":"user.interrupt","reason":"x"}]}`, "events[0].reason", "unknown field"},
		{"content required", `{"events":[{"type":"user.message"}]}`, "events[0].content", "field required"},
		{"content empty", `{"events":[{"type":"user.message","content":[]}]}`, "events[0].content", "at least one block"},
		{"content as string", `{"events":[{"type":"user.message","content":"hi"}]}`, "events[0].content", "expected an array"},
		{"text empty", `{"events":[{"type":"user.message","content":[{"type":"text","text":"  "}]}]}`, "events[0].content[0].text", "non-whitespace"},
		{"text missing", `{"events":[{"type":"user.message","content":[{"type":"text"}]}]}`, "events[0].content[0].text", "field required"},
		{"text wrong type", `{"events":[{"type":"user.message","content":[{"type":"text","text":1}]}]}`, "events[0].content[0].text", "expected a string"},
		{"block unknown", `{"events":[{"type":"user.message","content":[{"type":"video"}]}]}`, "events[0].content[0].type", `unknown value "video"`},
		{"block not allowed in message", `{"events":[{"type":"user.message","content":[{"type":"search_result","source":"s","title":"t","content":[],"citations":{"enabled":true}}]}]}`, "events[0].content[0].type", "not allowed here"},
		{"redacted not allowed in result", `{"events":[{"type":"user.tool_result","tool_use_id":"x","content":[{"type":"redacted"}]}]}`, "events[0].content[0].type", "not allowed here"},
		{"redacted extra field", `{"events":[{"type":"user.message","content":[{"type":"redacted","text":"x"}]}]}`, "events[0].content[0].text", "unknown field"},
		{"image source missing", `{"events":[{"type":"user.message","content":[{"type":"image"}]}]}`, "events[0].content[0].source", "field required"},
		{"image media type", img(`{"type":"base64","media_type":"image/bmp","data":"` + png + `"}`), "events[0].content[0].source.media_type", `unknown value "image/bmp"`},
		{"image media type missing", img(`{"type":"base64","data":"` + png + `"}`), "events[0].content[0].source.media_type", "field required"},
		{"image base64 invalid", img(`{"type":"base64","media_type":"image/png","data":"%%%"}`), "events[0].content[0].source.data", "base64"},
		{"image data empty", img(`{"type":"base64","media_type":"image/png","data":""}`), "events[0].content[0].source.data", "must not be empty"},
		{"image text source", img(`{"type":"text","data":"x"}`), "events[0].content[0].source.type", `unknown value "text"`},
		{"image url scheme", img(`{"type":"url","url":"file:///etc/passwd"}`), "events[0].content[0].source.url", "http or https"},
		{"image file id empty", img(`{"type":"file","file_id":""}`), "events[0].content[0].source.file_id", "must not be empty"},
		{"image source extra", img(`{"type":"url","url":"https://x/y","file_id":"f"}`), "events[0].content[0].source.file_id", "unknown field"},
		{"document pdf only", `{"events":[{"type":"user.message","content":[{"type":"document","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}}]}]}`, "events[0].content[0].source.media_type", "application/pdf"},
		{"document text media type", `{"events":[{"type":"user.message","content":[{"type":"document","source":{"type":"text","media_type":"text/html","data":"x"}}]}]}`, "events[0].content[0].source.media_type", "text/plain"},
		{"document title type", `{"events":[{"type":"user.message","content":[{"type":"document","title":1,"source":{"type":"file","file_id":"f"}}]}]}`, "events[0].content[0].title", "expected a string"},
		{"search result citations missing", `{"events":[{"type":"user.tool_result","tool_use_id":"x","content":[{"type":"search_result","source":"https://a/b","title":"t","content":[{"type":"text","text":"x"}]}]}]}`, "events[0].content[0].citations", "field required"},
		{"search result source url", `{"events":[{"type":"user.tool_result","tool_use_id":"x","content":[{"type":"search_result","source":"nope","title":"t","content":[{"type":"text","text":"x"}],"citations":{"enabled":false}}]}]}`, "events[0].content[0].source", "http or https"},
		{"search result empty", `{"events":[{"type":"user.tool_result","tool_use_id":"x","content":[{"type":"search_result","source":"https://a/b","title":"t","content":[],"citations":{"enabled":false}}]}]}`, "events[0].content[0].content", "at least one"},
		{"tool_use_id required", `{"events":[{"type":"user.tool_confirmation","result":"allow"}]}`, "events[0].tool_use_id", "field required"},
		{"result unknown", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"x","result":"maybe"}]}`, "events[0].result", `unknown value "maybe"`},
		{"result required", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"x"}]}`, "events[0].result", "field required"},
		{"deny_message with allow", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"x","result":"allow","deny_message":"no"}]}`, "events[0].deny_message", "only allowed when result is \"deny\""},
		{"message alias rejected", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"x","result":"deny","message":"no"}]}`, "events[0].message", "unknown field"},
		{"duplicate confirmation", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"x","result":"allow"},{"type":"user.tool_confirmation","tool_use_id":"x","result":"deny"}]}`, "events[1].tool_use_id", "duplicate of events[0]"},
		{"custom id required", `{"events":[{"type":"user.custom_tool_result"}]}`, "events[0].custom_tool_use_id", "field required"},
		{"custom result alias rejected", `{"events":[{"type":"user.custom_tool_result","tool_use_id":"x","result":"ok"}]}`, "events[0].custom_tool_use_id", "field required"},
		{"custom id empty", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":""}]}`, "events[0].custom_tool_use_id", "must not be empty"},
		{"is_error type", `{"events":[{"type":"user.tool_result","tool_use_id":"x","is_error":"yes"}]}`, "events[0].is_error", "expected a boolean"},
		{"duplicate tool result", `{"events":[{"type":"user.tool_result","tool_use_id":"x"},{"type":"user.tool_result","tool_use_id":"x"}]}`, "events[1].tool_use_id", "duplicate"},
		{"interrupt thread empty", `{"events":[{"type":"user.interrupt","session_thread_id":""}]}`, "events[0].session_thread_id", "must not be empty"},
		{"rubric required", `{"events":[{"type":"user.define_outcome","description":"d"}]}`, "events[0].rubric", "field required"},
		{"rubric unknown", `{"events":[{"type":"user.define_outcome","description":"d","rubric":{"type":"url","url":"x"}}]}`, "events[0].rubric.type", `unknown value "url"`},
		{"rubric text empty", `{"events":[{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":""}}]}`, "events[0].rubric.content", "must not be empty"},
		{"rubric text too long", `{"events":[{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"` + strings.Repeat("r", 262145) + `"}}]}`, "events[0].rubric.content", "at most 262144"},
		{"description empty", `{"events":[{"type":"user.define_outcome","description":"","rubric":{"type":"file","file_id":"f"}}]}`, "events[0].description", "must not be empty"},
		{"max_iterations above 20", `{"events":[{"type":"user.define_outcome","description":"d","max_iterations":21,"rubric":{"type":"file","file_id":"f"}}]}`, "events[0].max_iterations", "between 1 and 20"},
		{"max_iterations zero", `{"events":[{"type":"user.define_outcome","description":"d","max_iterations":0,"rubric":{"type":"file","file_id":"f"}}]}`, "events[0].max_iterations", "between 1 and 20"},
		{"max_iterations float", `{"events":[{"type":"user.define_outcome","description":"d","max_iterations":2.5,"rubric":{"type":"file","file_id":"f"}}]}`, "events[0].max_iterations", "expected an integer"},
		{"system empty", `{"events":[` + msg + `,{"type":"system.message","content":[]}]}`, "events[1].content", "1 to 1000"},
		{"system 1001 items", `{"events":[` + msg + `,{"type":"system.message","content":[` + strings.Join(texts, ",") + `]}]}`, "events[1].content", "1 to 1000"},
		{"system image block", `{"events":[` + msg + `,{"type":"system.message","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "events[1].content[0].type", "not allowed here"},
		{"system not last", `{"events":[` + msg + `,` + sys + `,` + msg + `]}`, "events[1].type", "must be the last event"},
		{"system alone", `{"events":[` + sys + `]}`, "events[0].type", "must directly follow"},
		{"system after interrupt", `{"events":[{"type":"user.interrupt"},` + sys + `]}`, "events[1].type", "must directly follow"},
		{"two system messages", `{"events":[` + msg + `,` + sys + `,` + sys + `]}`, "events[1].type", "must be the last event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSend([]byte(tc.body))
			wantInvalid(t, err, tc.path, tc.want)
		})
	}
}

// The SDK's ordering rule accepts a system.message after each of the three
// events it may accompany.
func TestSendEventsSystemMessageAccepted(t *testing.T) {
	sys := `{"type":"system.message","content":[{"type":"text","text":"s"}]}`
	for _, before := range []string{
		`{"type":"user.message","content":[{"type":"text","text":"hi"}]}`,
		`{"type":"user.tool_result","tool_use_id":"x"}`,
		`{"type":"user.custom_tool_result","custom_tool_use_id":"x"}`,
	} {
		if _, err := decodeSend([]byte(`{"events":[{"type":"user.interrupt"},` + before + `,` + sys + `]}`)); err != nil {
			t.Errorf("%s + system.message: %v", before, err)
		}
	}
}

type sdkCheck func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion)

// serverEvents is one of every event the server persists, with the checks
// the SDK's view of it must pass.
func serverEvents() []struct {
	ev    Event
	check sdkCheck
} {
	at := time.Date(2026, 5, 1, 12, 0, 0, 500000000, time.UTC)
	ev := func(p EventPayload) Event {
		e := NewEvent(p)
		e.ProcessedAt = &at
		return e
	}
	queued := func(p EventPayload) Event { return NewEvent(p) }
	f, tr := false, true
	repo := "https://github.com/a/b"
	return []struct {
		ev    Event
		check sdkCheck
	}{
		{ev(&SessionStatusRunningEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "running", u.AsSessionStatusRunning())
		}},
		{ev(&SessionStatusIdleEvent{StopReason: EndTurn()}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionStatusIdle()
			requirePresent(t, "idle", v)
			if v.StopReason.Type != "end_turn" || !isNull(v.JSON.StopDetails) {
				t.Errorf("idle = %s", v.RawJSON())
			}
		}},
		{ev(&SessionStatusIdleEvent{StopReason: RequiresAction("sevt_1", "sevt_2")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionStatusIdle().StopReason.AsRequiresAction()
			requirePresent(t, "requires_action", v)
			if !reflect.DeepEqual(v.EventIDs, []string{"sevt_1", "sevt_2"}) {
				t.Errorf("event_ids = %v", v.EventIDs)
			}
		}},
		{ev(&SessionStatusIdleEvent{StopReason: RequiresAction()}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionStatusIdle().StopReason.AsRequiresAction()
			if !v.JSON.EventIDs.Valid() || len(v.EventIDs) != 0 {
				t.Errorf("empty event_ids = %s", v.RawJSON())
			}
		}},
		{ev(&SessionStatusIdleEvent{StopReason: RetriesExhausted()}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			if u.AsSessionStatusIdle().StopReason.Type != "retries_exhausted" {
				t.Error(u.RawJSON())
			}
		}},
		{ev(&SessionStatusIdleEvent{StopReason: BudgetReached()}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			if u.AsSessionStatusIdle().StopReason.Type != "budget_reached" {
				t.Error(u.RawJSON())
			}
		}},
		{ev(&SessionStatusIdleEvent{StopReason: Refusal(), StopDetails: &RefusalStopDetails{Category: ptr(RefusalCyber)}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionStatusIdle()
			requirePresent(t, "stop_details", v.StopDetails)
			if v.StopReason.Type != "refusal" || v.StopDetails.Type != "refusal" || v.StopDetails.Category != "cyber" || !isNull(v.StopDetails.JSON.Explanation) {
				t.Errorf("refusal = %s", v.RawJSON())
			}
		}},
		{ev(&SessionStatusRescheduledEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "rescheduled", u.AsSessionStatusRescheduled())
		}},
		{ev(&SessionStatusTerminatedEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "terminated", u.AsSessionStatusTerminated())
		}},
		{ev(&SessionDeletedEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "deleted", u.AsSessionDeleted())
		}},
		{ev(&SessionErrorEvent{Error: NewSessionError(ErrModelOverloaded, RetryRetrying, "overloaded")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionError()
			requirePresent(t, "session.error", v)
			e := v.Error.AsModelOverloadedError()
			requirePresent(t, "model_overloaded_error", e)
			if e.Message != "overloaded" || e.RetryStatus.Type != "retrying" {
				t.Errorf("error = %s", v.Error.RawJSON())
			}
		}},
		{ev(&SessionErrorEvent{Error: SessionError{Type: ErrMCPAuthenticationFailed, RetryStatus: RetryExhausted, Message: "401", MCPServerName: "gh"}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			e := u.AsSessionError().Error.AsMCPAuthenticationFailedError()
			requirePresent(t, "mcp error", e)
			if e.MCPServerName != "gh" || e.RetryStatus.Type != "exhausted" {
				t.Errorf("error = %s", e.RawJSON())
			}
		}},
		{ev(&SessionErrorEvent{Error: SessionError{Type: ErrCredentialHostUnreachable, RetryStatus: RetryTerminal, Message: "x", VaultID: "vlt_1", CredentialID: "vcrd_1"}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			e := u.AsSessionError().Error.AsCredentialHostUnreachableError()
			requirePresent(t, "credential error", e)
			if e.VaultID != "vlt_1" || e.CredentialID != "vcrd_1" || e.RetryStatus.Type != "terminal" {
				t.Errorf("error = %s", e.RawJSON())
			}
		}},
		{ev(&SessionErrorEvent{Error: SessionError{Type: ErrRepositoryClone, RetryStatus: RetryRetrying, Message: "x", RepositoryURL: &repo}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			e := u.AsSessionError().Error.AsRepositoryCloneError()
			requirePresent(t, "repo error", e)
			if e.RepositoryURL != repo {
				t.Errorf("error = %s", e.RawJSON())
			}
		}},
		{ev(&SessionErrorEvent{Error: NewSessionError(ErrRepositoryNotFound, RetryRetrying, "x")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			e := u.AsSessionError().Error.AsRepositoryNotFoundError()
			requirePresent(t, "repo error", e)
			if !isNull(e.JSON.RepositoryURL) {
				t.Errorf("repository_url = %s, want null", e.RawJSON())
			}
		}},
		{ev(&SessionUpdatedEvent{Agent: &SessionAgent{ID: "agent_1", Name: "a", Version: 1}, BudgetChanged: true, Metadata: Metadata{"k": "v"}, TitleChanged: true, Title: ptr("T")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionUpdated()
			requirePresent(t, "session.updated", v)
			if v.Agent.ID != "agent_1" || !isNull(v.JSON.Budget) || v.Metadata["k"] != "v" || v.Title != "T" {
				t.Errorf("updated = %s", v.RawJSON())
			}
		}},
		{ev(&SessionUpdatedEvent{TitleChanged: true}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionUpdated()
			if !isNull(v.JSON.Title) || v.JSON.Agent.Raw() != "" || v.JSON.Budget.Raw() != "" || v.JSON.Metadata.Raw() != "" {
				t.Errorf("updated = %s, want only title:null", v.RawJSON())
			}
		}},
		{ev(&SessionUsageEvent{Usage: SessionUsage{InputTokens: 5}, Budget: &BudgetLimit{MaxListCost: MonetaryAmount{"100", "USD"}}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionUsage()
			requirePresent(t, "session.usage", v)
			if v.Usage.InputTokens != 5 || v.Budget.MaxListCost.Amount != "100" {
				t.Errorf("usage = %s", v.RawJSON())
			}
		}},
		{ev(&SessionThreadCreatedEvent{AgentName: "researcher", SessionThreadID: "sthr_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionThreadCreated()
			requirePresent(t, "thread_created", v)
			if v.AgentName != "researcher" || v.SessionThreadID != "sthr_1" || !isNull(v.JSON.WorkflowRunID) {
				t.Errorf("thread created = %s", v.RawJSON())
			}
		}},
		{ev(&SessionThreadStatusRunningEvent{AgentName: "r", SessionThreadID: "sthr_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "thread running", u.AsSessionThreadStatusRunning())
		}},
		{ev(&SessionThreadStatusIdleEvent{AgentName: "r", SessionThreadID: "sthr_1", StopReason: RequiresAction("sevt_9")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSessionThreadStatusIdle()
			requirePresent(t, "thread idle", v)
			if v.StopReason.AsRequiresAction().EventIDs[0] != "sevt_9" || v.SessionThreadID != "sthr_1" {
				t.Errorf("thread idle = %s", v.RawJSON())
			}
		}},
		{ev(&SessionThreadStatusRescheduledEvent{AgentName: "r", SessionThreadID: "sthr_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "thread rescheduled", u.AsSessionThreadStatusRescheduled())
		}},
		{ev(&SessionThreadStatusTerminatedEvent{AgentName: "r", SessionThreadID: "sthr_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "thread terminated", u.AsSessionThreadStatusTerminated())
		}},
		{ev(&SpanModelRequestStartEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "span start", u.AsSpanModelRequestStart())
		}},
		{ev(&SpanModelRequestEndEvent{ModelRequestStartID: "sevt_s", IsError: &f, ModelUsage: SpanModelUsage{InputTokens: 1, OutputTokens: 2, CacheCreationInputTokens: 3, CacheReadInputTokens: 4, Speed: ptr("standard")}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSpanModelRequestEnd()
			requirePresent(t, "span end", v)
			requirePresent(t, "model_usage", v.ModelUsage)
			if v.ModelRequestStartID != "sevt_s" || v.IsError || !v.JSON.IsError.Valid() || v.ModelUsage.CacheReadInputTokens != 4 || v.ModelUsage.Speed != "standard" {
				t.Errorf("span end = %s", v.RawJSON())
			}
		}},
		{ev(&SpanModelRequestEndEvent{ModelRequestStartID: "sevt_s"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSpanModelRequestEnd()
			if !isNull(v.JSON.IsError) || !v.ModelUsage.JSON.InputTokens.Valid() {
				t.Errorf("span end = %s", v.RawJSON())
			}
		}},
		{ev(&SpanOutcomeEvaluationStartEvent{OutcomeID: "outc_1", Iteration: 0}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "outcome start", u.AsSpanOutcomeEvaluationStart())
		}},
		{ev(&SpanOutcomeEvaluationOngoingEvent{OutcomeID: "outc_1", Iteration: 0}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "outcome ongoing", u.AsSpanOutcomeEvaluationOngoing())
		}},
		{ev(&SpanOutcomeEvaluationEndEvent{OutcomeEvaluationStartID: "sevt_o", OutcomeID: "outc_1", Iteration: 1, Result: OutcomeNeedsRevision, Explanation: "missing totals"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSpanOutcomeEvaluationEnd()
			requirePresent(t, "outcome end", v)
			if v.Result != "needs_revision" || v.Iteration != 1 || v.OutcomeEvaluationStartID != "sevt_o" {
				t.Errorf("outcome end = %s", v.RawJSON())
			}
		}},
		{ev(&AgentMessageEvent{Content: []ContentBlock{NewTextBlock("Hello"), {Type: BlockRedacted}}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentMessage()
			requirePresent(t, "agent.message", v)
			if len(v.Content) != 2 || v.Content[0].Text != "Hello" || v.Content[1].Type != "redacted" {
				t.Errorf("agent.message = %s", v.RawJSON())
			}
		}},
		{ev(&AgentMessageEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			if v := u.AsAgentMessage(); !v.JSON.Content.Valid() {
				t.Errorf("empty agent.message content = %s, want []", v.RawJSON())
			}
		}},
		{ev(&AgentThinkingEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "agent.thinking", u.AsAgentThinking())
		}},
		{ev(&AgentToolUseEvent{Name: "bash", Input: RawObject(`{"command":"ls"}`), EvaluatedPermission: PermissionAsk, Evaluation: EvaluationAlwaysAsk()}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentToolUse()
			requirePresent(t, "agent.tool_use", v)
			if v.Name != "bash" || v.Input["command"] != "ls" || v.EvaluatedPermission != "ask" || v.Evaluation.Type != "always_ask" || v.JSON.SessionThreadID.Raw() != "" {
				t.Errorf("tool_use = %s", v.RawJSON())
			}
		}},
		{ev(&AgentToolUseEvent{Name: "bash", EvaluatedPermission: PermissionDeny, Evaluation: EvaluationAuto(PermissionDeny, "high_risk"), SessionThreadID: "sthr_2"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentToolUse()
			a := v.Evaluation.AsAuto()
			requirePresent(t, "auto evaluation", a)
			if !v.JSON.Input.Valid() || a.EvaluatedPermission.Type != "deny" || a.EvaluatedPermission.AsDeny().ReasonCode != "high_risk" || v.SessionThreadID != "sthr_2" {
				t.Errorf("tool_use = %s", v.RawJSON())
			}
		}},
		{ev(&AgentToolUseEvent{Name: "read", Input: RawObject(`{}`), EvaluatedPermission: PermissionAsk, Evaluation: EvaluationAuto(PermissionAsk, "")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			a := u.AsAgentToolUse().Evaluation.AsAuto().EvaluatedPermission.AsAsk()
			requirePresent(t, "ask verdict", a)
			if a.ReasonCode != "indeterminate" {
				t.Errorf("ask = %s", a.RawJSON())
			}
		}},
		{ev(&AgentToolResultEvent{ToolUseID: "sevt_t", Content: []ContentBlock{NewTextBlock("out"), {Type: BlockImage, Source: &ContentSource{Type: SourceBase64, MediaType: "image/png", Data: png}}}, IsError: &f}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentToolResult()
			requirePresent(t, "agent.tool_result", v)
			img := v.Content[1].AsImage().Source.AsBase64()
			if v.ToolUseID != "sevt_t" || v.Content[0].Text != "out" || img.Data != png || img.MediaType != "image/png" || v.IsError {
				t.Errorf("tool_result = %s", v.RawJSON())
			}
		}},
		{ev(&AgentMCPToolUseEvent{Name: "search", MCPServerName: "gh", Input: RawObject(`{"q":1}`), EvaluatedPermission: PermissionAllow, Evaluation: EvaluationAuto(PermissionAllow, "")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentMCPToolUse()
			requirePresent(t, "agent.mcp_tool_use", v)
			if v.MCPServerName != "gh" || v.Evaluation.AsAuto().EvaluatedPermission.Type != "allow" || strings.Contains(v.Evaluation.RawJSON(), "reason_code") {
				t.Errorf("mcp_tool_use = %s", v.RawJSON())
			}
		}},
		{ev(&AgentMCPToolResultEvent{MCPToolUseID: "sevt_m", Content: []ContentBlock{{Type: BlockSearchResult, Search: &SearchResult{Source: "https://a/b", Title: "t", Content: []string{"x"}, CitationsEnabled: true}}}, IsError: &tr}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentMCPToolResult()
			requirePresent(t, "agent.mcp_tool_result", v)
			s := v.Content[0].AsSearchResult()
			requirePresent(t, "search_result", s)
			if v.MCPToolUseID != "sevt_m" || !v.IsError || s.Source != "https://a/b" || s.Content[0].Text != "x" || !s.Citations.Enabled {
				t.Errorf("mcp_tool_result = %s", v.RawJSON())
			}
		}},
		{ev(&AgentCustomToolUseEvent{Name: "lookup", Input: RawObject(`{"id":7}`), EvaluatedPermission: PermissionAsk}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentCustomToolUse()
			requirePresent(t, "agent.custom_tool_use", v)
			// The runner reads evaluated_permission from the union.
			if v.Name != "lookup" || u.EvaluatedPermission != "ask" {
				t.Errorf("custom_tool_use = %s", v.RawJSON())
			}
		}},
		{ev(&AgentThreadContextCompactedEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			requirePresent(t, "compacted", u.AsAgentThreadContextCompacted())
		}},
		{ev(&AgentThreadMessageSentEvent{Content: []ContentBlock{NewTextBlock("go")}, ToSessionThreadID: "sthr_2", ToAgentName: ptr("r")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentThreadMessageSent()
			requirePresent(t, "thread_message_sent", v)
			if v.ToAgentName != "r" || v.Content[0].Text != "go" {
				t.Errorf("sent = %s", v.RawJSON())
			}
		}},
		{ev(&AgentThreadMessageReceivedEvent{Content: []ContentBlock{NewTextBlock("done")}, FromSessionThreadID: "sthr_2"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsAgentThreadMessageReceived()
			requirePresent(t, "thread_message_received", v)
			if v.FromSessionThreadID != "sthr_2" || v.Content[0].Text != "done" {
				t.Errorf("received = %s", v.RawJSON())
			}
		}},
		// Echoes of client events, queued and processed.
		{queued(&UserMessageEvent{Content: []ContentBlock{NewTextBlock("hi"), {Type: BlockDocument, Source: &ContentSource{Type: SourceText, Data: "d"}}}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserMessage()
			requirePresent(t, "user.message", v)
			d := v.Content[1].AsDocument()
			if !isNull(v.JSON.ProcessedAt) || v.Content[0].Text != "hi" || d.Source.AsText().Data != "d" || d.Source.AsText().MediaType != "text/plain" || !isNull(d.JSON.Title) {
				t.Errorf("user.message = %s", v.RawJSON())
			}
		}},
		{ev(&UserMessageEvent{Content: []ContentBlock{NewTextBlock("hi")}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			if v := u.AsUserMessage(); !v.ProcessedAt.Equal(at) {
				t.Errorf("processed echo = %s", v.RawJSON())
			}
		}},
		{ev(&UserInterruptEvent{}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserInterrupt()
			requirePresent(t, "user.interrupt", v)
			if v.ID == "" || !v.ProcessedAt.Equal(at) {
				t.Errorf("interrupt = %s", v.RawJSON())
			}
		}},
		{queued(&UserToolConfirmationEvent{ToolUseID: "sevt_a", Result: ConfirmDeny, DenyMessage: ptr("no")}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserToolConfirmation()
			requirePresent(t, "user.tool_confirmation", v)
			if v.ToolUseID != "sevt_a" || v.Result != "deny" || v.DenyMessage != "no" {
				t.Errorf("confirmation = %s", v.RawJSON())
			}
		}},
		{queued(&UserCustomToolResultEvent{CustomToolUseID: "sevt_c", Content: []ContentBlock{NewTextBlock("42")}, IsError: &f, SessionThreadID: "sthr_3"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserCustomToolResult()
			requirePresent(t, "user.custom_tool_result", v)
			if v.CustomToolUseID != "sevt_c" || v.Content[0].Text != "42" || v.SessionThreadID != "sthr_3" || !v.JSON.IsError.Valid() {
				t.Errorf("custom result = %s", v.RawJSON())
			}
		}},
		{queued(&UserToolResultEvent{ToolUseID: "sevt_d", Content: []ContentBlock{NewTextBlock("ok")}, IsError: &f}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserToolResult()
			requirePresent(t, "user.tool_result", v)
			if v.ToolUseID != "sevt_d" || v.Content[0].Text != "ok" {
				t.Errorf("tool result = %s", v.RawJSON())
			}
		}},
		{ev(&UserDefineOutcomeEvent{Description: "d", Rubric: Rubric{Type: "text", Content: "r"}, MaxIterations: ptr(int64(DefaultOutcomeIterations)), OutcomeID: "outc_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsUserDefineOutcome()
			requirePresent(t, "user.define_outcome", v)
			if v.OutcomeID != "outc_1" || v.MaxIterations != 3 || v.Rubric.AsText().Content != "r" {
				t.Errorf("define outcome = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunCreatedEvent{Name: "review", WorkflowRunID: "wrun_1", Phases: []WorkflowRunPhase{{ID: "wrph_1", Name: "read"}, {ID: "wrph_2", Name: "merge", Description: ptr("combine")}}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunCreated()
			requirePresent(t, "workflow_run.created", v)
			if v.WorkflowRunID != "wrun_1" || !isNull(v.JSON.Description) || len(v.Phases) != 2 || v.Phases[1].Description != "combine" || !isNull(v.Phases[0].JSON.Description) {
				t.Errorf("created = %s", v.RawJSON())
			}
			requirePresent(t, "workflow_run.created phase", v.Phases[0])
		}},
		{ev(&WorkflowRunCreatedEvent{Name: "empty", Description: ptr("d"), WorkflowRunID: "wrun_2"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunCreated()
			requirePresent(t, "workflow_run.created", v)
			if v.Phases == nil || len(v.Phases) != 0 || v.Description != "d" {
				t.Errorf("created = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunStatusRunningEvent{WorkflowRunID: "wrun_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunStatusRunning()
			requirePresent(t, "workflow_run.status_running", v)
		}},
		{ev(&WorkflowRunStatusIdleEvent{WorkflowRunID: "wrun_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunStatusIdle()
			requirePresent(t, "workflow_run.status_idle", v)
		}},
		{ev(&WorkflowRunPhaseStartedEvent{WorkflowRunID: "wrun_1", WorkflowRunPhaseID: "wrph_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunPhaseStarted()
			requirePresent(t, "workflow_run.phase_started", v)
			if v.WorkflowRunPhaseID != "wrph_1" {
				t.Errorf("phase started = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunPhaseEndedEvent{PhaseStartedID: "sevt_p", WorkflowRunID: "wrun_1", WorkflowRunPhaseID: "wrph_1"}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunPhaseEnded()
			requirePresent(t, "workflow_run.phase_ended", v)
			if v.PhaseStartedID != "sevt_p" {
				t.Errorf("phase ended = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunErrorEvent{Error: WorkflowRunError{Type: WorkflowRunMaxWorkflowRunsError, Message: "m"}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunError()
			requirePresent(t, "workflow_run.error", v)
			if !isNull(v.JSON.WorkflowRunID) || v.Error.AsMaxWorkflowRunsError().Message != "m" {
				t.Errorf("error = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunStatusEndedEvent{WorkflowRunID: "wrun_1", Result: WorkflowRunResult{Type: WorkflowRunCompleted}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunStatusEnded()
			requirePresent(t, "workflow_run.status_ended", v)
			if v.Result.Type != "completed" || v.Result.JSON.Error.Valid() {
				t.Errorf("ended = %s", v.RawJSON())
			}
		}},
		{ev(&WorkflowRunStatusEndedEvent{WorkflowRunID: "wrun_1", Result: WorkflowRunResult{Type: WorkflowRunErrored, Error: &WorkflowRunError{Type: WorkflowRunTimeoutError, Message: "late"}}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsWorkflowRunStatusEnded()
			requirePresent(t, "workflow_run.status_ended", v)
			if e := v.Result.AsError(); e.Error.Type != "timeout_error" || e.Error.Message != "late" {
				t.Errorf("ended = %s", v.RawJSON())
			}
		}},
		{queued(&SystemMessageEvent{Content: []ContentBlock{NewTextBlock("terse")}}), func(t *testing.T, u anthropic.BetaManagedAgentsSessionEventUnion) {
			v := u.AsSystemMessage()
			requirePresent(t, "system.message", v)
			if v.Content[0].Text != "terse" || !isNull(v.JSON.ProcessedAt) {
				t.Errorf("system = %s", v.RawJSON())
			}
		}},
	}
}

// Every event the server persists decodes in the SDK's history and stream unions with the
// variant's required fields present, and reads back unchanged.
func TestServerEventsSDKRoundTrip(t *testing.T) {
	for _, tc := range serverEvents() {
		t.Run(tc.ev.EventType(), func(t *testing.T) {
			b := mustJSON(t, tc.ev)
			var u anthropic.BetaManagedAgentsSessionEventUnion
			if err := json.Unmarshal(b, &u); err != nil {
				t.Fatalf("SDK decode %s: %v", b, err)
			}
			if u.Type != tc.ev.EventType() || u.ID != tc.ev.ID || !strings.HasPrefix(u.ID, "sevt_") {
				t.Errorf("envelope = %s", b)
			}
			// processed_at is always sent, null only on queued client events.
			if !u.JSON.ProcessedAt.Valid() && !(IsClientEventType(tc.ev.EventType()) && isNull(u.JSON.ProcessedAt)) {
				t.Errorf("processed_at = %q", u.JSON.ProcessedAt.Raw())
			}
			tc.check(t, u)

			var s anthropic.BetaManagedAgentsStreamSessionEventsUnion
			if err := json.Unmarshal(b, &s); err != nil || s.Type != tc.ev.EventType() || s.ID != tc.ev.ID {
				t.Errorf("stream union: %v %s", err, s.RawJSON())
			}

			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("wire decode: %v", err)
			}
			if b2 := mustJSON(t, back); string(b2) != string(b) {
				t.Errorf("round trip changed the event:\n%s\n%s", b, b2)
			}
			if reflect.TypeOf(back.Payload) != reflect.TypeOf(tc.ev.Payload) {
				t.Errorf("payload type %T, want %T", back.Payload, tc.ev.Payload)
			}
		})
	}
}

// The send response echoes each event with an id and
// processed_at null, in the SDK's SendSessionEvents shape.
func TestSentEventsSDK(t *testing.T) {
	p, err := decodeSend([]byte(`{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]},{"type":"user.interrupt"},{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp SentEvents
	for _, pl := range p.Events {
		resp.Data = append(resp.Data, NewEvent(pl))
	}
	var got anthropic.BetaManagedAgentsSendSessionEvents
	if err := json.Unmarshal(mustJSON(t, resp), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 3 || got.Data[0].AsUserMessage().Content[0].Text != "hi" || got.Data[1].Type != "user.interrupt" || got.Data[2].AsUserDefineOutcome().Description != "d" {
		t.Fatalf("echo = %s", got.RawJSON())
	}
	for i, d := range got.Data {
		if !strings.HasPrefix(d.ID, "sevt_") || !isNull(d.JSON.ProcessedAt) {
			t.Errorf("data[%d] = %s", i, d.RawJSON())
		}
	}
}

// Previews decode in the stream union, and the SDK's
// accumulator rebuilds the message and hands over to the buffered event.
func TestPreviewsSDK(t *testing.T) {
	msg := NewEvent(&AgentMessageEvent{Content: []ContentBlock{NewTextBlock("Hello world"), NewTextBlock("!")}})
	stream := []StreamEvent{
		NewEvent(&SpanModelRequestStartEvent{}),
		EventStart{PreviewType: EventTypeAgentMessage, EventID: msg.ID},
		EventDelta{EventID: msg.ID, Index: 0, Text: "Hello"},
		EventDelta{EventID: msg.ID, Index: 0, Text: " world"},
		EventDelta{EventID: msg.ID, Index: 1, Text: "!"},
	}
	var acc anthropic.BetaManagedAgentsEventAccumulator
	for _, ev := range stream {
		b := mustJSON(t, ev)
		var u anthropic.BetaManagedAgentsStreamSessionEventsUnion
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatal(err)
		}
		if u.Type != ev.EventType() {
			t.Errorf("type = %q, want %q", u.Type, ev.EventType())
		}
		switch e := ev.(type) {
		case EventStart:
			v := u.AsEventStart()
			requirePresent(t, "event_start", v)
			if v.Event.Type != "agent.message" || v.Event.ID != msg.ID || strings.Contains(string(b), "processed_at") {
				t.Errorf("event_start = %s", b)
			}
		case EventDelta:
			v := u.AsEventDelta()
			requirePresent(t, "event_delta", v)
			requirePresent(t, "delta", v.Delta)
			if v.EventID != e.EventID || v.Delta.Type != "content_delta" || v.Delta.Index != e.Index || v.Delta.Content.Type != "text" || v.Delta.Content.Text != e.Text {
				t.Errorf("event_delta = %s", b)
			}
			var back EventDelta
			if err := json.Unmarshal(b, &back); err != nil || back != e {
				t.Errorf("delta round trip = %+v %v", back, err)
			}
		}
		acc.Accumulate(u)
	}
	if got := acc.AgentMessageText(msg.ID); got != "Hello world!" {
		t.Errorf("accumulated preview = %q", got)
	}
	var u anthropic.BetaManagedAgentsStreamSessionEventsUnion
	if err := json.Unmarshal(mustJSON(t, msg), &u); err != nil {
		t.Fatal(err)
	}
	acc.Accumulate(u)
	if err := json.Unmarshal(mustJSON(t, NewEvent(&SpanModelRequestEndEvent{ModelRequestStartID: "x"})), &u); err != nil {
		t.Fatal(err)
	}
	acc.Accumulate(u)
	if got := acc.AgentMessageText(msg.ID); got != "Hello world!" {
		t.Errorf("reconciled message = %q", got)
	}
	var start EventStart
	if err := json.Unmarshal(mustJSON(t, EventStart{PreviewType: EventTypeAgentThinking, EventID: "sevt_t"}), &start); err != nil || start.PreviewType != "agent.thinking" || start.EventID != "sevt_t" {
		t.Errorf("start round trip = %+v %v", start, err)
	}
}

// NewEvent mints non-empty sevt_ ids and leaves
// client events unprocessed.
func TestNewEvent(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []EventPayload{&UserInterruptEvent{}, &UserMessageEvent{}, &SystemMessageEvent{}, &AgentThinkingEvent{}, &SessionStatusIdleEvent{StopReason: EndTurn()}} {
		e := NewEvent(p)
		if !strings.HasPrefix(e.ID, "sevt_") || seen[e.ID] {
			t.Errorf("id = %q", e.ID)
		}
		seen[e.ID] = true
		if client := IsClientEventType(p.EventType()); client != (e.ProcessedAt == nil) {
			t.Errorf("%s: processed_at = %v", p.EventType(), e.ProcessedAt)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.FixedZone("x", 3600))
		if got := e.Processed(at); got.ProcessedAt.Location() != time.UTC || got.ProcessedAt.Nanosecond() != 678912000 || got.ID != e.ID {
			t.Errorf("Processed = %v", got.ProcessedAt)
		}
	}
	if _, err := json.Marshal(Event{ID: "sevt_x"}); err == nil {
		t.Error("event without payload marshalled")
	}
}

// Events of types this version does not know survive a read and write.
func TestUnknownEventRoundTrip(t *testing.T) {
	in := `{"id":"sevt_1","type":"future.event","processed_at":"2026-05-01T12:00:00Z","name":"w","phases":[]}`
	var e Event
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatal(err)
	}
	if e.EventType() != "future.event" {
		t.Fatalf("type = %q", e.EventType())
	}
	var a, b map[string]any
	_ = json.Unmarshal([]byte(in), &a)
	_ = json.Unmarshal(mustJSON(t, e), &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip = %v, want %v", b, a)
	}
}

// The lists derived from the one table of event types keep the SDK's order
// (error messages list them), and every payload the table makes reports
// the type it was made for.
func TestEventKindsTable(t *testing.T) {
	wantClient := []string{
		EventTypeUserMessage, EventTypeUserInterrupt, EventTypeUserToolConfirmation,
		EventTypeUserCustomToolResult, EventTypeUserDefineOutcome, EventTypeUserToolResult,
		EventTypeSystemMessage,
	}
	if !slices.Equal(ClientEventTypes, wantClient) {
		t.Errorf("ClientEventTypes = %v, want %v", ClientEventTypes, wantClient)
	}
	wantListable := []string{
		EventTypeUserMessage, EventTypeUserInterrupt, EventTypeUserToolConfirmation, EventTypeUserCustomToolResult,
		EventTypeAgentCustomToolUse, EventTypeAgentMessage, EventTypeAgentThinking, EventTypeAgentMCPToolUse,
		EventTypeAgentMCPToolResult, EventTypeAgentToolUse, EventTypeAgentToolResult, EventTypeAgentThreadMessageReceived,
		EventTypeAgentThreadMessageSent, EventTypeAgentThreadContextCompacted, EventTypeSessionError,
		EventTypeSessionStatusRescheduled, EventTypeSessionStatusRunning, EventTypeSessionStatusIdle,
		EventTypeSessionStatusTerminated, EventTypeSessionThreadCreated, EventTypeSpanOutcomeEvaluationStart,
		EventTypeSpanOutcomeEvaluationEnd, EventTypeSpanModelRequestStart, EventTypeSpanModelRequestEnd,
		EventTypeSpanOutcomeEvaluationOngoing, EventTypeUserDefineOutcome, EventTypeSessionThreadStatusRunning,
		EventTypeSessionThreadStatusIdle, EventTypeSessionThreadStatusTerminated, EventTypeUserToolResult,
		EventTypeSessionThreadStatusRescheduled, EventTypeSessionUpdated, EventTypeSystemMessage, EventTypeSessionUsage,
		"workflow_run.created", "workflow_run.status_running", "workflow_run.status_idle", "workflow_run.status_ended",
		"workflow_run.error", "workflow_run.phase_started", "workflow_run.phase_ended",
	}
	if !slices.Equal(ListableEventTypes, wantListable) {
		t.Errorf("ListableEventTypes = %v, want %v", ListableEventTypes, wantListable)
	}
	for _, k := range eventKinds {
		if k.new != nil && k.new().EventType() != k.typ {
			t.Errorf("%s makes a %s payload", k.typ, k.new().EventType())
		}
		if k.client != (k.decode != nil) || (k.client && k.server) {
			t.Errorf("%s: client %v, decode %v, server %v", k.typ, k.client, k.decode != nil, k.server)
		}
	}
	for _, typ := range []string{EventTypeSessionDeleted, EventTypeEventStart, EventTypeEventDelta} {
		if slices.Contains(ListableEventTypes, typ) {
			t.Errorf("%s is listable", typ)
		}
	}
}

// Every listable type is modelled,
// and thread ids are found wherever an event carries one.
func TestEventTypeTables(t *testing.T) {
	for _, typ := range ListableEventTypes {
		if newPayload(typ) == nil {
			t.Errorf("%s has no payload type", typ)
		}
	}
	for _, typ := range ClientEventTypes {
		if !slices.Contains(ListableEventTypes, typ) {
			t.Errorf("client type %s not listable", typ)
		}
	}
	for _, tc := range []struct {
		p    EventPayload
		want string
	}{
		{&UserInterruptEvent{SessionThreadID: "sthr_1"}, "sthr_1"},
		{&AgentCustomToolUseEvent{SessionThreadID: "sthr_2"}, "sthr_2"},
		{&SessionThreadStatusIdleEvent{SessionThreadID: "sthr_3"}, "sthr_3"},
		{&AgentMessageEvent{}, ""},
	} {
		if got := NewEvent(tc.p).SessionThreadID(); got != tc.want {
			t.Errorf("%s: thread = %q, want %q", tc.p.EventType(), got, tc.want)
		}
	}
}
