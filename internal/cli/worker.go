package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/config"
)

// worker is `hangar worker`: a self-hosted worker for one environment, run
// on the machine where that environment's tools should execute. It is the
// official SDK's EnvironmentWorker (poll, ack, heartbeat, run the toolset,
// post results, stop), pointed at a Hangar server. (A cloud session's
// sandbox runs `worker --item` for the one item the server claimed: the
// in-sandbox agent's builtin, package itemworker.)
func worker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("hangar worker --environment ENV_ID [flags]", stderr)
	envID := fs.String("environment", os.Getenv("HANGAR_ENVIRONMENT_ID"), "the self_hosted environment to serve (HANGAR_ENVIRONMENT_ID)")
	baseURL := fs.String("server", envOr("HANGAR_SERVER", "http://"+config.DefaultListen), "the Hangar server's URL (HANGAR_SERVER)")
	workdir := fs.String("workdir", "", "base directory for session workspaces (default: the current directory)")
	logLevel := fs.String("log-level", envOr("HANGAR_LOG_LEVEL", "info"), "debug, info, warn or error (HANGAR_LOG_LEVEL)")
	maxIdle := fs.Duration("max-idle", anthropic.DefaultMaxIdle, "how long a session's work item is kept after its turn ends, for follow-up turns; memory files still to upload are flushed when it ends")
	maxCalls := fs.Int("max-concurrent-calls", 1, "how many tool calls of a session may run at once; the calls of one session thread always run one at a time, so more than 1 lets a multiagent session's threads work in parallel (negative: no limit)")
	if err := fs.Parse(args); err != nil {
		return parseError(err)
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
		EnvironmentID: *envID, EnvironmentKey: key, Workdir: *workdir, Logger: log, MaxIdle: maxIdle,
		MaxConcurrentCalls: *maxCalls,
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
