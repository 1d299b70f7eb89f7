package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// sandboxTool is `hangar sandbox-tool`: the agent that runs inside every
// local sandbox (the backend bind-mounts this very binary read-only and
// starts it with this command). It serves the control channel the backend
// passes on fds 3 and 4, and refuses to run anywhere else. Wired in Main as
//
//	case "sandbox-tool":
//		return sandboxTool(args[1:])
func sandboxTool(args []string) int {
	_ = args
	// The server's `worker --item` runs in the agent's process: the agent
	// is this binary already, so a second Go program (its start, its heap)
	// would only repeat it.
	agent.RegisterBuiltin("worker", itemWorkerBuiltin)
	return agent.Main()
}

// itemWorkerBuiltin is `hangar worker --item` run inside the sandbox's
// agent (agent.Builtin): the same flags and the same itemWorker as the
// separate process, with the environment a process would have had given
// to the toolset explicitly (the agent's own differs), and the agent's
// persistent shell, which is started with the sandbox, as its bash.
func itemWorkerBuiltin(ctx context.Context, p agent.Process) int {
	stderr := p.Stderr
	fs := flag.NewFlagSet("hangar worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	item := fs.Bool("item", false, "serve the one work item described on stdin")
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
	envMap := make(map[string]string, len(p.Env))
	for _, kv := range p.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := itemWorker(ctx, p.Stdin, *socket, *workdir, envMap, p.Shell, *warm, log); err != nil {
		fmt.Fprintln(stderr, "hangar:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}
