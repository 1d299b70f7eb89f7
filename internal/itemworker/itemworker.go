// Package itemworker is the worker of a cloud session's sandbox: `worker
// --item`, run by the in-sandbox agent as a builtin (agent.Builtin). It
// serves one work item the server claimed, with the official SDK's
// EnvironmentWorker.HandleItem — the same heartbeat, stop and
// SessionToolRunner as any self-hosted worker, and the SDK's own
// agenttoolset, which is what makes results byte-identical to the
// reference toolset — over the session's API socket.
//
// It is a package of its own, apart from the CLI, so that the sandbox's
// agent binary (cmd/hangar-agent) links only it, the agent and the SDK: a
// sandbox starts that program, and its start is on the path to a new
// session's first tool call.
package itemworker

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// name is the builtin's name: the server execs `AgentBinaryPath worker
// --item ...` in the sandbox.
const name = "worker"

// Register makes the agent run `worker --item` in its own process.
func Register() { agent.RegisterBuiltin(name, builtin) }

// builtin is `worker --item` run inside the sandbox's agent: the item on
// stdin, the environment of the tools' shell given to the toolset
// explicitly (the agent's own differs), and the agent's persistent shell,
// which is started with the sandbox, as its bash.
func builtin(ctx context.Context, p agent.Process) int {
	stderr := p.Stderr
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	item := fs.Bool("item", false, "serve the one work item described on stdin (JSON: work_id, environment_id, session_id, secret)")
	workdir := fs.String("workdir", sandbox.WorkspacePath, "base directory for the session's workspace")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	socket := fs.String("socket", sandbox.APISocketPath, "the Unix socket of the server's API")
	warm := fs.Bool("warm", false, "warm the worker's code up while waiting for the item (a pooled sandbox's worker)")
	err := fs.Parse(p.Args)
	if err == nil && !*item {
		err = errors.New("worker: only --item runs inside a sandbox's agent")
	}
	var level slog.Level
	if err == nil {
		if err = level.UnmarshalText([]byte(*logLevel)); err != nil {
			err = fmt.Errorf("worker: --log-level: %w", err)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hangar:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := run(ctx, p.Stdin, *socket, *workdir, agent.EnvMap(p.Env), p.Shell, *warm, log); err != nil {
		fmt.Fprintln(stderr, "hangar:", err)
		if errors.As(err, new(badItem)) {
			return 2
		}
		return 1
	}
	return 0
}

// badItem is an unusable item on stdin.
type badItem struct{ error }

// run serves one claimed work item. It stays through follow-up turns for
// the SDK's default idle grace (a minute after the session's last idle), so
// a conversation's next tool call does not pay a worker start. env is the
// environment of the tools' shell, and shell, when not nil, is the agent's
// bash tool, already started, used in place of a shell of the worker's own.
func run(ctx context.Context, stdin io.Reader, socket, workdir string, env map[string]string, shell anthropic.BetaTool, warm bool, log *slog.Logger) error {
	// The toolset is made before the item arrives: in a pooled sandbox the
	// worker waits here, ready, for the session that adopts it. toolCtx
	// takes HandleItem's per-item context when HandleItem asks for the
	// tools (ToolsFunc below); the tools read it at every call, and the
	// shell was started with what that context would have given it (the
	// workdir, the sandbox's environment).
	toolCtx := &agenttoolset.AgentToolContext{Workdir: workdir, Env: env}
	tools := agenttoolset.BetaAgentToolset20260401(toolCtx)
	for i, t := range tools {
		if t.Name() == "bash" && shell != nil {
			agenttoolset.CloseAll([]anthropic.BetaTool{t}) // never started
			tools[i] = shell
		}
	}
	var it sandbox.WorkerItem
	var warmed sync.WaitGroup
	warmCtx, stopWarm := context.WithCancel(ctx)
	if warm {
		// Called off when the item arrives: its handshake then runs on
		// whatever the warm-up warmed so far, not behind it.
		warmed.Go(func() {
			if err := warmUp(warmCtx, workdir); err != nil && warmCtx.Err() == nil {
				log.Warn("worker warm-up failed", "err", err)
			}
		})
	}
	err := json.NewDecoder(io.LimitReader(stdin, 1<<16)).Decode(&it)
	stopWarm()
	warmed.Wait()
	if err != nil {
		agenttoolset.CloseAll(tools)
		return badItem{fmt.Errorf("worker --item: read the work item from stdin: %w", err)}
	}
	if it.WorkID == "" || it.EnvironmentID == "" || it.SessionID == "" || it.Secret == "" {
		agenttoolset.CloseAll(tools)
		return badItem{errors.New("worker --item: stdin must name work_id, environment_id, session_id and secret")}
	}
	hc, closeClient := httpClient(ctx, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}, it.SessionID, log)
	defer closeClient()
	client := anthropic.NewClient(option.WithHTTPClient(hc), option.WithBaseURL("http://hangar"))
	w := environments.NewEnvironmentWorker(client, environments.EnvironmentWorkerOptions{
		Workdir: workdir, Logger: log,
		// A cloud session's memory stores are mounted by the server at
		// /mnt/memory and synced from the host after each tool call; the
		// worker's own download and upload is for self-hosted sessions.
		MemorySyncInterval: -1,
		// The toolset EnvironmentWorker builds by default
		// (agenttoolset.BetaAgentToolset20260401 on the item's context),
		// made ahead of time; HandleItem closes it when the item ends.
		ToolsFunc: func(ic *agenttoolset.AgentToolContext) []anthropic.BetaTool {
			c := *ic
			if c.Env == nil {
				// A shell restarted later (after a timeout) gets what the
				// first one got.
				c.Env = env
			}
			*toolCtx = c
			return tools
		},
	})
	err = w.HandleItem(ctx, environments.HandleItemOptions{
		WorkID: it.WorkID, EnvironmentID: it.EnvironmentID, SessionID: it.SessionID, WorkSecret: it.Secret,
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// httpClient is the --item worker's HTTP client for session's item:
// one transport to the server's API (dial), kept alive across requests,
// the handshake pipelined (handshakePrefetch), each request logged at
// debug level. release drops what the prefetch sent and nobody took.
//
// A cloud session logs the worker's results as the agent's own
// agent.tool_result (the official shape of a cloud session's log), not as
// the user.tool_result the worker posts; the SDK's runner takes either as
// the answer to a call, so a new worker does not run earlier calls again.
func httpClient(ctx context.Context, dial func(ctx context.Context) (net.Conn, error), session string, log *slog.Logger) (c *http.Client, release func()) {
	tr := &http.Transport{
		// No proxy: the sandbox's proxy variables are for the agent's
		// tools; the server is at the socket.
		Proxy:               nil,
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	pf := newHandshakePrefetch(ctx, tr, session)
	return &http.Client{Transport: loggedRequests{rt: pf, log: log}}, pf.close
}

// loggedRequests logs each request at debug level.
type loggedRequests struct {
	rt  http.RoundTripper
	log *slog.Logger
}

func (t loggedRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.log.Enabled(req.Context(), slog.LevelDebug) {
		return t.rt.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.rt.RoundTrip(req)
	t.log.Debug("request", "method", req.Method, "path", req.URL.Path, "duration", time.Since(start), "err", err)
	return resp, err
}
