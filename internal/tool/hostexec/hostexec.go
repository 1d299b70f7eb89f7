// Package hostexec runs the built-in toolset directly on the host, in one
// directory per session, with NO isolation: bash runs as the server's user.
// It exists for tests and local development until sandboxes run the tools
// (a later issue); the server enables it only when asked to explicitly.
package hostexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// Executor runs tools with the SDK's reference implementation of
// agent_toolset_20260401, so results match the official toolset exactly.
type Executor struct {
	root string

	mu    sync.Mutex
	tools map[string]map[string]anthropic.BetaTool // session → name → tool
}

// New returns an executor keeping session directories under root.
func New(root string) (*Executor, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	return &Executor{root: root, tools: map[string]map[string]anthropic.BetaTool{}}, nil
}

func (x *Executor) toolset(sessionID string) (map[string]anthropic.BetaTool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ts, ok := x.tools[sessionID]; ok {
		return ts, nil
	}
	dir := filepath.Join(x.root, filepath.Base(sessionID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Env replaces the inherited environment: the server's own variables
	// (keys among them) never reach the shell.
	env := &agenttoolset.AgentToolContext{Workdir: dir, Env: map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": dir}}
	ts := map[string]anthropic.BetaTool{}
	for _, t := range agenttoolset.BetaAgentToolset20260401(env) {
		ts[t.Name()] = t
	}
	x.tools[sessionID] = ts
	return ts, nil
}

// Execute runs one call.
func (x *Executor) Execute(ctx context.Context, call tool.Call) (tool.Result, error) {
	ts, err := x.toolset(call.SessionID)
	if err != nil {
		return tool.Result{}, err
	}
	t, ok := ts[call.Name]
	if !ok {
		return tool.Result{}, fmt.Errorf("tool %s is not available on this host", call.Name)
	}
	blocks, err := t.Execute(ctx, call.Input)
	var te *agenttoolset.ToolError
	if errors.As(err, &te) {
		return tool.Result{Content: []wire.ContentBlock{wire.NewTextBlock(te.Content)}, IsError: true}, nil
	}
	if err != nil {
		return tool.Result{}, err
	}
	var out []wire.ContentBlock
	for _, b := range blocks {
		if b.OfText != nil {
			out = append(out, wire.NewTextBlock(b.OfText.Text))
		}
	}
	return tool.Result{Content: out}, nil
}

// Close ends every session's persistent shell.
func (x *Executor) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, ts := range x.tools {
		for _, t := range ts {
			agenttoolset.CloseAll([]anthropic.BetaTool{t})
		}
		delete(x.tools, id)
	}
}
