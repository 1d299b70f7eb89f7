package engine

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/wire"
)

// compactPrompt asks the model for the summary that replaces the early
// conversation when it no longer fits the context window.
const compactPrompt = "The conversation above is about to be truncated because it is too long for your context window. " +
	"Write a summary that lets you continue the work without it: the user's goals and instructions, decisions made, " +
	"facts learned, files and commands involved, what is done and what remains. Reply with the summary only."

// compaction is the private data of agent.thread_context_compacted: the
// summary and how many messages of the conversation it replaced.
type compaction struct {
	Summary  string `json:"summary"`
	Replaced int    `json:"replaced"`
}

// needsCompaction reports whether the last request came close to the
// context window. c.s.mu is held.
func (c *conversation) needsCompaction() bool {
	return c.s.e.opt.ContextWindow > 0 && c.lastPromptTokens > c.s.e.opt.ContextWindow*c.s.e.opt.CompactAt/100
}

// compactSplit returns how many leading messages a compaction replaces: all
// but the tail the next request needs verbatim, which starts at the last
// assistant turn when the last user turn answers its tool calls (results
// must follow their tool_use), else at the last user turn.
func compactSplit(h []model.Message) int {
	n := len(h)
	if n < 2 {
		return 0
	}
	last := n - 1
	for last > 0 && h[last].Role == model.RoleSystem {
		last--
	}
	for _, b := range h[last].Content {
		if b.Type == model.BlockToolResult && last > 0 {
			return last - 1
		}
	}
	return last
}

// applyCompaction replaces the first k messages by the summary.
func applyCompaction(h []model.Message, c compaction) []model.Message {
	k := min(c.Replaced, len(h))
	intro := model.Text("Summary of the earlier part of this conversation, which was compacted to fit the context window:\n\n" + c.Summary)
	tail := h[k:]
	if len(tail) > 0 && tail[0].Role == model.RoleUser {
		first := model.Message{Role: model.RoleUser, Content: append([]model.Block{intro}, tail[0].Content...)}
		return append([]model.Message{first}, tail[1:]...)
	}
	return append([]model.Message{{Role: model.RoleUser, Content: []model.Block{intro}}}, tail...)
}

// compact summarizes the conversation with the model and records the
// compaction; the next request sends the summary and the tail. It reports
// whether it compacted.
func (c *conversation) compact(ctx context.Context) bool {
	c.s.mu.Lock()
	k := compactSplit(c.history)
	if k == 0 {
		c.s.mu.Unlock()
		return false
	}
	req := c.request()
	req.Tools = nil
	req.Messages = append(req.Messages[:k:k], model.Message{Role: model.RoleUser, Content: []model.Block{model.Text(compactPrompt)}})
	// The summary request must end with a user turn: the replaced part
	// may end with one already, which the prompt then joins.
	if k > 0 && req.Messages[k-1].Role == model.RoleUser {
		merged := model.Message{Role: model.RoleUser, Content: append(append([]model.Block(nil), req.Messages[k-1].Content...), model.Text(compactPrompt))}
		req.Messages = append(req.Messages[:k-1:k-1], merged)
	}
	pre := c.lastPromptTokens
	c.s.mu.Unlock()

	resp, _, err := c.stream(ctx, req, false)
	if err != nil || strings.TrimSpace(resp.Text()) == "" {
		c.s.e.log.Warn("compaction failed", "session", c.s.id, "err", err)
		return false
	}
	cp := compaction{Summary: resp.Text(), Replaced: k}
	priv, _ := json.Marshal(cp)
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	p := ev(&wire.AgentThreadContextCompactedEvent{PreCompactionTokens: &pre})
	p.private = priv
	if _, err := c.commit(c.s.e.ctx, "", p); err != nil {
		c.s.e.log.Error("record compaction", "session", c.s.id, "err", err)
		return false
	}
	c.history = applyCompaction(c.history, cp)
	c.lastPromptTokens = 0
	return true
}
