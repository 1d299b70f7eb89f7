package engine

import (
	"context"
	"github.com/hangarhq/hangar/internal/pricing"
	"log/slog"
	"time"

	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
)

// The tool execution contract lives in package tool; these names are kept
// for the engine's callers.
type (
	ToolCall     = tool.Call
	ToolResult   = tool.Result
	ToolExecutor = tool.Executor
)

// Workers hands sessions of self_hosted environments to the customer's
// workers (the work queue). Enqueue is idempotent while an item is live.
type Workers interface {
	Enqueue(ctx context.Context, ws, environmentID, sessionID string) error
}

// Sandboxes keeps a sandbox per session: the engine provisions it eagerly
// when a session whose agent has sandbox tools is created, so that it is
// ready by the first tool call, and releases it when the session goes away.
type Sandboxes interface {
	Provision(ws, sessionID string)
	Release(ctx context.Context, sessionID string, destroy bool) error
}

// OutputCapturer files what the agent wrote under /mnt/session/outputs
// into the Files API; the engine calls it before a turn ends with
// session.status_idle end_turn, so the files are there when the client
// sees the session idle.
type OutputCapturer interface {
	Capture(ctx context.Context, ws, sessionID string) error
}

// MemorySyncer saves what the agent changed in a session's writable memory
// store mounts as memory versions; it returns what the agent must be told
// (changes the API's concurrent writes won, files that cannot be
// memories). The engine calls it when a sandbox tool call's result
// arrives, before logging it, so the change is in the store before the
// agent.tool_result is, and it is told in that result.
type MemorySyncer interface {
	SyncMemory(ctx context.Context, ws, sessionID string) []string
}

// Deps are the engine's collaborators.
type Deps struct {
	Store  store.Store
	Models model.Provider
	// Broker fans committed events and previews out to live streams.
	Broker events.Broker
	// Tools runs built-in tools; nil means no sandbox is available and
	// built-in calls fail with an explanatory tool error.
	Tools ToolExecutor
	// Sandboxes provisions and releases the sandboxes of cloud sessions;
	// nil when there are none (no sandbox backend, or --sandbox
	// unsafe-host).
	Sandboxes Sandboxes
	// Outputs captures a cloud session's outputs at the end of a turn;
	// nil captures nothing.
	Outputs OutputCapturer
	// Memory syncs cloud sessions' memory mounts; nil syncs nothing.
	Memory MemorySyncer
	// MCP reaches the agent's MCP servers; nil offers no MCP tools.
	MCP MCPClient
	// Workers queues self_hosted sessions for their workers; nil leaves
	// their built-in tool calls waiting for a worker nobody calls.
	Workers Workers
	// SandboxWorkers, when set, serves cloud sessions the same way: their
	// sandbox tool calls (bash, read, write, edit, glob, grep) go to a
	// worker that Hangar starts inside the session's sandbox, queued
	// here. Nil runs them through Tools directly (no sandbox backend, or
	// --sandbox unsafe-host).
	SandboxWorkers Workers
	// Prices is the list-price table every model request is priced with
	// (usage.list_cost, budgets); nil prices nothing, so list_cost is null
	// and a budget stops the session at its first request.
	Prices *pricing.Table
	// Outbox, when set, is told of every commit's events inside its
	// transaction (webhooks queue their deliveries there, so a committed
	// change always has them and a rolled-back one never does).
	Outbox Outbox
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
}

// Outbox records, in the transaction that appends a session's events,
// what must be sent about them. The returned func (nil: nothing) runs once
// the transaction committed.
type Outbox interface {
	Committing(ctx context.Context, tx store.Tx, workspace, sessionID string, evs []*store.Event) (func(), error)
}

// Options tune the loop. Zero values take the defaults.
type Options struct {
	// MaxTokens is the output budget of one model request.
	MaxTokens int
	// Backoff decides the delay between tries of a model request, and
	// when to give up.
	Backoff model.Backoff
	// RunTimeout bounds one uninterrupted stretch of work (the watchdog):
	// a session still running after it is stopped with a session.error.
	RunTimeout time.Duration
	// ToolTimeout bounds one tool call; tool.CallTimeout by default.
	ToolTimeout time.Duration
	// ContextWindow is the model context size in tokens, and CompactAt the
	// percentage of it at which the conversation is compacted (summarized
	// by the model, agent.thread_context_compacted).
	ContextWindow int64
	CompactAt     int64
	// CacheBytes bounds the estimated size of the session runtimes kept
	// in memory between turns (see cache.go).
	CacheBytes int64
	// AutoModel is the model that judges calls of tools whose permission
	// policy is auto ("": the conversation's own model), and AutoTimeout
	// bounds one judgement (a call not judged in time is held for
	// confirmation); see autoperm.go.
	AutoModel   string
	AutoTimeout time.Duration
}

func (o *Options) defaults() {
	if o.MaxTokens == 0 {
		o.MaxTokens = 16384
	}
	if o.Backoff == (model.Backoff{}) {
		o.Backoff = model.DefaultBackoff
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = time.Hour
	}
	if o.ToolTimeout == 0 {
		o.ToolTimeout = tool.CallTimeout
	}
	if o.ContextWindow == 0 {
		o.ContextWindow = 200000
	}
	if o.CompactAt == 0 {
		o.CompactAt = 80
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.AutoTimeout == 0 {
		o.AutoTimeout = defaultAutoTimeout
	}
}
