package openai

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sort"

	"github.com/hangarhq/hangar/internal/model"
)

// maxLine bounds one SSE line; a chunk carrying a whole tool call's
// arguments (some servers do not stream them) can be large.
const maxLine = 8 << 20

// sseReader yields the data payloads of a text/event-stream.
type sseReader struct {
	r    *bufio.Reader
	data bytes.Buffer
	line []byte
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// Next returns the next event's data (the data: lines joined by "\n"), or
// io.EOF at the end of the stream. Comments, event names and ids are
// skipped: OpenAI-compatible servers put everything in data.
func (s *sseReader) Next() ([]byte, error) {
	s.data.Reset()
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				return s.data.Bytes(), nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if hasData {
				return s.data.Bytes(), nil
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if string(name) != "data" {
			continue
		}
		if hasData {
			s.data.WriteByte('\n')
		}
		s.data.Write(value)
		hasData = true
	}
}

// readLine returns one line without its terminator (\n, \r\n or \r).
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		frag, err := s.r.ReadSlice('\n')
		s.line = append(s.line, frag...)
		if len(s.line) > maxLine {
			return nil, errors.New("openai: SSE line too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(s.line) > 0 {
				break
			}
			return nil, err
		}
		break
	}
	return bytes.TrimRight(s.line, "\r\n"), nil
}

// chunk is a chat.completion.chunk, with the fields any of vLLM, Ollama,
// llama.cpp or OpenAI send that matter here.
type chunk struct {
	ID      string        `json:"id"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *chunkUsage   `json:"usage"`
	Error   *apiError     `json:"error"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Content *string `json:"content"`
	// vLLM (older) and llama.cpp call the reasoning text reasoning_content;
	// Ollama, newer vLLM and OpenRouter call it reasoning.
	ReasoningContent *string         `json:"reasoning_content"`
	Reasoning        *string         `json:"reasoning"`
	ToolCalls        []chunkToolCall `json:"tool_calls"`
}

type chunkToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chunkUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (u *chunkUsage) toModel() model.Usage {
	var cached int64
	if u.PromptTokensDetails != nil {
		cached = u.PromptTokensDetails.CachedTokens
	}
	input := u.PromptTokens - cached
	if input < 0 {
		input = 0
	}
	return model.Usage{InputTokens: input, OutputTokens: u.CompletionTokens, CacheReadInputTokens: cached}
}

// apiError is the error object of an error response or of an error chunk
// sent inside a 200 stream. Servers disagree on its shape: code is a string
// (OpenAI), a number (vLLM, OpenRouter) or absent; Ollama sends a bare
// string instead of an object.
type apiError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

func (e *apiError) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &e.Message)
	}
	type plain apiError
	return json.Unmarshal(data, (*plain)(e))
}

// codeString returns code when it is a string.
func (e *apiError) codeString() string {
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	return ""
}

// codeStatus returns code when it is an HTTP status number.
func (e *apiError) codeStatus() int {
	var n int
	if json.Unmarshal(e.Code, &n) == nil && n >= 400 && n < 600 {
		return n
	}
	return 0
}

// translator turns chunks into model events. Text and reasoning each become
// one block at a time (a switch between them closes the open one); every
// tool call becomes a tool_use block that stays open until the turn ends,
// because servers may interleave the argument deltas of parallel calls.
type translator struct {
	emit func(model.Event) bool

	started   bool
	nextIndex int
	// open is the index of the open text or thinking block, -1 if none.
	open     int
	openType model.BlockType
	// tools maps a tool call's index in the chunk to its block index.
	tools    map[int]int
	toolList []int
	// lastTool is the block of the most recent tool call, for servers that
	// omit the index on continuation deltas.
	lastTool int

	finish string
	usage  model.Usage
	done   bool
}

func newTranslator(emit func(model.Event) bool) *translator {
	return &translator{emit: emit, open: -1, lastTool: -1}
}

// start emits message_start once.
func (t *translator) start(id, modelName string) bool {
	if t.started {
		return true
	}
	t.started = true
	return t.emit(model.Event{Type: model.EventMessageStart, MessageID: id, Model: modelName})
}

// chunk handles one chunk; false means the consumer stopped.
func (t *translator) chunk(c *chunk) bool {
	if !t.start(c.ID, c.Model) {
		return false
	}
	if c.Usage != nil {
		t.usage = c.Usage.toModel()
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			// n > 1 is never requested; ignore stray alternatives.
			continue
		}
		d := &ch.Delta
		// Some servers fill both reasoning fields with the same text; one
		// is enough.
		reasoning := d.ReasoningContent
		if reasoning == nil || *reasoning == "" {
			reasoning = d.Reasoning
		}
		if !t.text(model.BlockThinking, reasoning) {
			return false
		}
		if !t.text(model.BlockText, d.Content) {
			return false
		}
		for j := range d.ToolCalls {
			if !t.toolCall(&d.ToolCalls[j]) {
				return false
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			t.finish = *ch.FinishReason
		}
	}
	return true
}

func (t *translator) closeOpen() bool {
	if t.open < 0 {
		return true
	}
	i := t.open
	t.open = -1
	return t.emit(model.Event{Type: model.EventBlockStop, Index: i})
}

func (t *translator) text(typ model.BlockType, s *string) bool {
	if s == nil || *s == "" {
		return true
	}
	if t.open < 0 || t.openType != typ {
		if !t.closeOpen() {
			return false
		}
		t.open, t.openType = t.nextIndex, typ
		t.nextIndex++
		if !t.emit(model.Event{Type: model.EventBlockStart, Index: t.open, Block: &model.Block{Type: typ}}) {
			return false
		}
	}
	dt := model.DeltaText
	if typ == model.BlockThinking {
		dt = model.DeltaThinking
	}
	return t.emit(model.Event{Type: model.EventBlockDelta, Index: t.open, DeltaType: dt, Delta: *s})
}

func (t *translator) toolCall(tc *chunkToolCall) bool {
	var block int
	known := false
	if tc.Index != nil {
		block, known = t.tools[*tc.Index]
	} else if tc.ID == "" && t.lastTool >= 0 {
		block, known = t.lastTool, true
	}
	if !known {
		if !t.closeOpen() {
			return false
		}
		if t.tools == nil {
			t.tools = make(map[int]int)
		}
		key := len(t.toolList)
		if tc.Index != nil {
			key = *tc.Index
		}
		block = t.nextIndex
		t.nextIndex++
		t.tools[key] = block
		t.toolList = append(t.toolList, block)
		id := tc.ID
		if id == "" {
			// Some servers (older Ollama, llama.cpp) send no id; the
			// result must still name the call it answers.
			id = newCallID()
		}
		if !t.emit(model.Event{Type: model.EventBlockStart, Index: block,
			Block: &model.Block{Type: model.BlockToolUse, ID: id, Name: tc.Function.Name}}) {
			return false
		}
	}
	t.lastTool = block
	if tc.Function.Arguments == "" {
		return true
	}
	return t.emit(model.Event{Type: model.EventBlockDelta, Index: block, DeltaType: model.DeltaInputJSON, Delta: tc.Function.Arguments})
}

// end closes the blocks and emits message_delta and message_stop.
func (t *translator) end() bool {
	if t.done {
		return true
	}
	t.done = true
	if !t.start("", "") || !t.closeOpen() {
		return false
	}
	sort.Ints(t.toolList)
	for _, b := range t.toolList {
		if !t.emit(model.Event{Type: model.EventBlockStop, Index: b}) {
			return false
		}
	}
	if !t.emit(model.Event{Type: model.EventMessageDelta, StopReason: t.stopReason(), Usage: t.usage}) {
		return false
	}
	return t.emit(model.Event{Type: model.EventMessageStop})
}

// stopReason maps finish_reason. A turn with tool calls is a tool_use turn
// whatever the server says: Ollama reports "stop" for them.
func (t *translator) stopReason() model.StopReason {
	switch t.finish {
	case "length":
		return model.StopMaxTokens
	case "content_filter":
		return model.StopRefusal
	}
	if len(t.toolList) > 0 {
		return model.StopToolUse
	}
	switch t.finish {
	case "tool_calls", "function_call":
		return model.StopToolUse
	}
	return model.StopEndTurn
}

func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}

// errIncomplete means the body ended before [DONE] or a finish_reason.
var errIncomplete = errors.New("openai: stream ended before the turn finished")

// decodeStream reads a chat-completions SSE body and emits model events.
// It returns nil after a complete turn, errStopped when emit returned false,
// an *apiError for an error chunk, errIncomplete for a truncated stream, or
// the read error.
func decodeStream(r io.Reader, emit func(model.Event) bool) error {
	t := newTranslator(emit)
	sr := newSSEReader(r)
	for {
		data, err := sr.Next()
		if err == io.EOF {
			// Some servers close without [DONE]; a finish_reason means the
			// turn did finish.
			if t.finish != "" {
				if !t.end() {
					return errStopped
				}
				return nil
			}
			return errIncomplete
		}
		if err != nil {
			return err
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		if string(data) == "[DONE]" {
			if !t.end() {
				return errStopped
			}
			return nil
		}
		var c chunk
		if err := json.Unmarshal(data, &c); err != nil {
			return &malformedError{err: err}
		}
		if c.Error != nil {
			return c.Error
		}
		if !t.chunk(&c) {
			return errStopped
		}
	}
}

var errStopped = errors.New("openai: consumer stopped")

func (e *apiError) Error() string { return "openai: error chunk: " + e.Message }

type malformedError struct{ err error }

func (e *malformedError) Error() string { return "openai: malformed chunk: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// decodeCompletion handles a server that ignored stream=true and answered
// with one chat.completion object: its message becomes a single chunk, so
// the caller sees the same events as for a stream.
func decodeCompletion(r io.Reader, emit func(model.Event) bool) error {
	var c struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Index        int        `json:"index"`
			Message      chunkDelta `json:"message"`
			FinishReason *string    `json:"finish_reason"`
		} `json:"choices"`
		Usage *chunkUsage `json:"usage"`
		Error *apiError   `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(r, maxLine)).Decode(&c); err != nil {
		return &malformedError{err: err}
	}
	if c.Error != nil {
		return c.Error
	}
	ch := chunk{ID: c.ID, Model: c.Model, Usage: c.Usage}
	for _, choice := range c.Choices {
		ch.Choices = append(ch.Choices, chunkChoice{Index: choice.Index, Delta: choice.Message, FinishReason: choice.FinishReason})
	}
	t := newTranslator(emit)
	if !t.chunk(&ch) || !t.end() {
		return errStopped
	}
	return nil
}
