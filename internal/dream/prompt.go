package dream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// SystemPrompt is what a dream's model is told it does. The answer format
// is strict so that it parses without guessing: one JSON object whose
// memories are the store's complete new content.
const SystemPrompt = `You are the dreaming process of a memory store that AI agents share across sessions.
You are given the store's current memories and the transcripts of past agent sessions.
Reorganise the memories: merge duplicates, correct facts the sessions show to be outdated or wrong, add durable lessons from the sessions (user preferences, conventions, decisions, pitfalls and how they were solved), drop what is no longer useful, and give every memory one clear topic and a descriptive path.

Answer with exactly one JSON object and nothing else:
{"memories": [{"path": "/topic/name.md", "content": "..."}]}
The list is the complete new content of the store: a memory you leave out is deleted, so repeat unchanged memories as they are.
Paths start with "/", separate segments with "/", have no "." or ".." segments, and are unique; a path cannot also be a directory of another path. Each content is at most 100 KB.`

// Limits of what a dream shows the model of one session: a long tool
// input or message is cut, and a transcript keeps its last part.
const (
	maxLineBytes       = 2000
	maxTranscriptBytes = 200_000
)

// dream asks the model for the reorganised memories of d.
func (r *Runner) dream(ctx context.Context, ws string, d wire.Dream) ([]memory.Entry, wire.DreamUsage, error) {
	var usage wire.DreamUsage
	prompt, err := r.prompt(ctx, ws, d)
	if err != nil {
		return nil, usage, err
	}
	req := &model.Request{
		Model:     d.Model.ID,
		System:    []model.Block{model.Text(SystemPrompt)},
		Messages:  []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(prompt)}}},
		MaxTokens: r.maxTokens,
	}
	resp, err := model.Collect(r.models.Stream(ctx, req), nil)
	if resp != nil {
		u := resp.Usage
		usage = wire.DreamUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
			CacheCreationInputTokens: u.CacheCreationInputTokens, CacheReadInputTokens: u.CacheReadInputTokens}
	}
	if err != nil {
		return nil, usage, fmt.Errorf("model request: %w", err)
	}
	var text strings.Builder
	for _, b := range resp.Content {
		if b.Type == model.BlockText {
			text.WriteString(b.Text)
		}
	}
	entries, err := ParseAnswer(text.String())
	return entries, usage, err
}

// prompt is the user message: the instructions, the memories and the
// transcripts, each in a tagged section.
func (r *Runner) prompt(ctx context.Context, ws string, d wire.Dream) (string, error) {
	var b strings.Builder
	if d.Instructions != nil {
		fmt.Fprintf(&b, "<instructions>\n%s\n</instructions>\n\n", *d.Instructions)
	}
	entries, err := memory.Entries(ctx, r.st, ws, inputStore(d))
	if err != nil {
		return "", err
	}
	b.WriteString("<memories>\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "<memory path=%q>\n%s\n</memory>\n", e.Path, e.Content)
	}
	b.WriteString("</memories>\n\n<sessions>\n")
	for _, in := range d.Inputs {
		for _, id := range in.SessionIDs {
			evs, err := r.st.EventsSince(ctx, id, 0, 0)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "<session id=%q>\n%s</session>\n", id, Transcript(evs))
		}
	}
	b.WriteString("</sessions>\n")
	return b.String(), nil
}

// Transcript summarises a session's event log for a dream: what the user
// and the agent said, and each tool call with its input and the start of
// its result, a subagent thread's lines marked with its thread; the rest
// (status, spans) says nothing about what was learned.
func Transcript(evs []store.Event) string {
	var lines []string
	for _, ev := range evs {
		var e struct {
			Type    string          `json:"type"`
			Name    string          `json:"name"`
			Input   json.RawMessage `json:"input"`
			Content json.RawMessage `json:"content"`
			IsError bool            `json:"is_error"`
		}
		if json.Unmarshal(ev.Data, &e) != nil {
			continue
		}
		var line string
		switch e.Type {
		case "user.message":
			line = "user: " + texts(e.Content)
		case "agent.message":
			line = "agent: " + texts(e.Content)
		case "agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use":
			line = fmt.Sprintf("tool call %s: %s", e.Name, e.Input)
		case "agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result":
			line = "tool result: " + texts(e.Content)
			if e.IsError {
				line = "tool error: " + texts(e.Content)
			}
		default:
			continue
		}
		if ev.ThreadID != "" {
			// A multiagent session's log holds its subagents' threads too.
			line = "[subagent thread " + ev.ThreadID + "] " + line
		}
		lines = append(lines, cut(line, maxLineBytes)+"\n")
	}
	// Keep the end of a long session: its conclusions come last.
	out, size := []string{}, 0
	for i := len(lines) - 1; i >= 0 && size+len(lines[i]) <= maxTranscriptBytes; i-- {
		out, size = append(out, lines[i]), size+len(lines[i])
	}
	var b strings.Builder
	if len(out) < len(lines) {
		fmt.Fprintf(&b, "[%d earlier lines left out]\n", len(lines)-len(out))
	}
	for i := len(out) - 1; i >= 0; i-- {
		b.WriteString(out[i])
	}
	return b.String()
}

// texts joins the text blocks of event content (a block list or a string).
func texts(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var parts []string
	for _, bl := range blocks {
		if bl.Type == "text" {
			parts = append(parts, bl.Text)
		} else if bl.Type != "" {
			parts = append(parts, "["+bl.Type+"]")
		}
	}
	return strings.Join(parts, " ")
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + " […]"
}

// ParseAnswer reads the model's answer: the JSON object the system prompt
// asks for, alone or in a ```json fence, and checks its memories as the
// memory endpoints check a write.
func ParseAnswer(text string) ([]memory.Entry, error) {
	body := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(body, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		body = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	var out struct {
		Memories *[]memory.Entry `json:"memories"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, errdefs.Invalid("the model's answer is not the JSON object {\"memories\": [{\"path\", \"content\"}]}: %v", err)
	}
	if dec.More() {
		return nil, errdefs.Invalid("the model's answer has text after its JSON object")
	}
	if out.Memories == nil {
		return nil, errdefs.Invalid("the model's answer has no \"memories\" list")
	}
	return memory.CheckEntries("memories", *out.Memories)
}
