package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/config"
	"github.com/hangarhq/hangar/internal/sandbox"
)

// worker is `hangar worker`: a self-hosted worker for one environment, run
// on the machine where that environment's tools should execute. It is the
// official SDK's EnvironmentWorker (poll, ack, heartbeat, run the toolset,
// post results, stop), pointed at a Hangar server.
//
// With --item it serves one already-claimed work item instead: the mode
// the server uses inside a cloud session's sandbox (see itemWorker).
func worker(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("hangar worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envID := fs.String("environment", os.Getenv("HANGAR_ENVIRONMENT_ID"), "the self_hosted environment to serve (HANGAR_ENVIRONMENT_ID)")
	baseURL := fs.String("server", envOr("HANGAR_SERVER", "http://"+config.DefaultListen), "the Hangar server's URL (HANGAR_SERVER)")
	workdir := fs.String("workdir", "", "base directory for session workspaces (default: the current directory; /workspace with --item)")
	logLevel := fs.String("log-level", envOr("HANGAR_LOG_LEVEL", "info"), "debug, info, warn or error (HANGAR_LOG_LEVEL)")
	item := fs.Bool("item", false, "serve the one work item described on stdin (JSON: work_id, environment_id, session_id, secret) over the sandbox's API socket; what the server runs inside a cloud session's sandbox")
	socket := fs.String("socket", sandbox.APISocketPath, "with --item: the Unix socket of the server's API")
	warm := fs.Bool("warm", false, "with --item: warm the worker's code up (a run against a canned server in memory) while waiting for the item; what a pooled sandbox's worker does")
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if *item {
		var level slog.Level
		if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
			return usageError{fmt.Errorf("worker: --log-level: %w", err)}
		}
		dir := *workdir
		if dir == "" {
			dir = sandbox.WorkspacePath
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		return itemWorker(ctx, stdin, *socket, dir, nil, nil, *warm, log)
	}
	// The key comes only from the environment so it never shows in ps.
	key := os.Getenv("HANGAR_ENVIRONMENT_KEY")
	switch {
	case *envID == "":
		return usageError{errors.New("worker: --environment (HANGAR_ENVIRONMENT_ID) is required")}
	case key == "":
		return usageError{errors.New("worker: HANGAR_ENVIRONMENT_KEY must hold the environment key (hangar keys create --environment ...)")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Errorf("worker: --log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	client := anthropic.NewClient(option.WithBaseURL(*baseURL), option.WithAPIKey(key))
	w := environments.NewEnvironmentWorker(client, environments.EnvironmentWorkerOptions{
		EnvironmentID: *envID, EnvironmentKey: key, Workdir: *workdir, Logger: log,
	})
	log.Info("worker polling", "server", *baseURL, "environment", *envID)
	err := w.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// itemWorker serves one claimed work item with the official SDK's
// EnvironmentWorker.HandleItem: the same heartbeat, stop and
// SessionToolRunner as any self-hosted worker, and the SDK's own
// agenttoolset (which is what makes results byte-identical to the
// reference toolset), over an HTTP client that reaches the server through
// the sandbox's API socket. It stays through follow-up turns for the SDK's
// default idle grace (a minute after the session's last idle), so a
// conversation's next tool call does not pay a worker start. Run inside
// the sandbox's agent (itemWorkerBuiltin), env is the environment of the
// tools' shell (the agent's own is not the sandbox's; nil: this process's),
// and shell, when not nil, is the agent's bash tool, already started, used
// in place of a shell of the worker's own.
func itemWorker(ctx context.Context, stdin io.Reader, socket, workdir string, env map[string]string, shell anthropic.BetaTool, warm bool, log *slog.Logger) error {
	// The toolset is made, and its persistent shell started, before the
	// item arrives: in a pooled sandbox the worker waits here, ready, for
	// the session that adopts it. toolCtx takes HandleItem's per-item
	// context when HandleItem asks for the tools (ToolsFunc below); the
	// tools read it at every call, and the shell was started with what that
	// context would have given it (the workdir, the process environment).
	toolCtx := &agenttoolset.AgentToolContext{Workdir: workdir, Env: env}
	tools := agenttoolset.BetaAgentToolset20260401(toolCtx)
	for i, t := range tools {
		if t.Name() != "bash" {
			continue
		}
		if shell != nil {
			agenttoolset.CloseAll([]anthropic.BetaTool{t}) // never started
			tools[i] = shell
		} else {
			tools[i] = warmBash(ctx, t)
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
		return usageError{fmt.Errorf("worker --item: read the work item from stdin: %w", err)}
	}
	if it.WorkID == "" || it.EnvironmentID == "" || it.SessionID == "" || it.Secret == "" {
		agenttoolset.CloseAll(tools)
		return usageError{errors.New("worker --item: stdin must name work_id, environment_id, session_id and secret")}
	}
	hc, closeClient := workerHTTPClient(ctx, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}, it.SessionID, log)
	defer closeClient()
	client := anthropic.NewClient(option.WithHTTPClient(hc), option.WithBaseURL("http://hangar"))
	w := environments.NewEnvironmentWorker(client, environments.EnvironmentWorkerOptions{
		Workdir: workdir, Logger: log,
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

// workerHTTPClient is the --item worker's HTTP client for session's item:
// one transport to the server's API (dial), kept alive across requests,
// the handshake pipelined (handshakePrefetch), and what the worker reads
// adapted by resultsAsWorkerSees. release drops what the prefetch sent
// and nobody took.
func workerHTTPClient(ctx context.Context, dial func(ctx context.Context) (net.Conn, error), session string, log *slog.Logger) (c *http.Client, release func()) {
	tr := &http.Transport{
		// No proxy: the sandbox's proxy variables are for the agent's
		// tools; the server is at the socket.
		Proxy:               nil,
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	pf := newHandshakePrefetch(ctx, tr, session)
	return &http.Client{Transport: resultsAsWorkerSees{rt: pf, log: log}}, pf.close
}

// resultsAsWorkerSees adapts what the SDK's SessionToolRunner reads to how
// a cloud session logs its tool results. The runner pairs agent.tool_use
// with user.tool_result to know which calls are answered; a cloud session
// logs the worker's result as the agent's own agent.tool_result (the
// official shape of a cloud session's log). So on the event list and
// stream this worker reads, agent.tool_result is presented as the
// user.tool_result it posted: otherwise a new worker (the next item of the
// session) would run every earlier call again.
type resultsAsWorkerSees struct {
	rt  http.RoundTripper
	log *slog.Logger
}

var (
	agentResultJSON  = []byte(`"type":"agent.tool_result"`)
	workerResultJSON = []byte(`"type":"user.tool_result"`)
	agentResultSSE   = []byte("event: agent.tool_result")
	workerResultSSE  = []byte("event: user.tool_result")
)

func (t resultsAsWorkerSees) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(req)
	if t.log.Enabled(req.Context(), slog.LevelDebug) {
		t.log.Debug("request", "method", req.Method, "path", req.URL.Path, "duration", time.Since(start), "err", err)
	}
	if err != nil || req.Method != http.MethodGet {
		return resp, err
	}
	p := req.URL.Path
	if strings.HasPrefix(p, "/v1/sessions/") && (strings.HasSuffix(p, "/events") || strings.HasSuffix(p, "/events/stream")) {
		resp.Body = &lineRewriter{src: bufio.NewReaderSize(resp.Body, 64<<10), body: resp.Body}
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return resp, nil
}

// lineRewriter rewrites agent.tool_result to user.tool_result line by line
// (SSE frames and JSON pages alike; the quoted key only appears unescaped
// as an event's own type).
type lineRewriter struct {
	src  *bufio.Reader
	body io.Closer
	buf  []byte
	err  error
}

func (l *lineRewriter) Read(p []byte) (int, error) {
	for len(l.buf) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		line, err := l.src.ReadBytes('\n')
		l.err = err
		if bytes.HasPrefix(line, agentResultSSE) {
			line = append(append([]byte{}, workerResultSSE...), line[len(agentResultSSE):]...)
		}
		if bytes.Contains(line, agentResultJSON) {
			// Only then: ReplaceAll copies even a line without a match.
			line = bytes.ReplaceAll(line, agentResultJSON, workerResultJSON)
		}
		l.buf = line
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

func (l *lineRewriter) Close() error { return l.body.Close() }

// warmBash starts the persistent shell of the SDK's bash tool now (as the
// in-sandbox agent does its own), so the first bash call does not wait for
// it; calls wait for the warm-up (the shell runs one command at a time) and
// are then the tool's own.
func warmBash(ctx context.Context, t anthropic.BetaTool) anthropic.BetaTool {
	w := &warmedTool{BetaTool: t, ready: make(chan struct{})}
	go func() {
		defer close(w.ready)
		_, _ = t.Execute(ctx, json.RawMessage(`{"command":":"}`))
	}()
	return w
}

type warmedTool struct {
	anthropic.BetaTool
	ready chan struct{}
}

func (w *warmedTool) Execute(ctx context.Context, input json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return w.BetaTool.Execute(ctx, input)
}

// Close closes the tool (agenttoolset.CloseAll) once the warm-up is done.
func (w *warmedTool) Close() error {
	<-w.ready
	if c, ok := w.BetaTool.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
