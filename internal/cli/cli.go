// Package cli owns Hangar's command line: serve, keys and version.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/config"
	"github.com/hangarhq/hangar/internal/keys"
	"github.com/hangarhq/hangar/internal/server"
)

// Version is set at build time with -ldflags.
var Version = "dev"

const usage = `hangar — a self-hosted Managed Agents server

Usage:
  hangar serve [flags]                 run the server
  hangar keys create [flags]           mint an API key (printed once)
  hangar keys list [flags]             list API keys
  hangar keys revoke [flags] KEY_ID    revoke an API key
  hangar worker --environment ENV_ID   serve a self_hosted environment from this machine
                                       (key in HANGAR_ENVIRONMENT_KEY)
  hangar version                       print the version

Run 'hangar COMMAND -h' for a command's flags.
`

// Main runs the command in args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "keys":
		err = keysCmd(ctx, args[1:], stdout, stderr)
	case "worker":
		err = worker(ctx, args[1:], stderr)
	case "sandbox-tool":
		// Runs inside a sandbox as its agent; see internal/sandbox/agent.
		return sandboxTool(args[1:])
	case "version", "--version":
		fmt.Fprintln(stdout, "hangar", Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hangar: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue usageError
		fmt.Fprintln(stderr, "hangar:", err)
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

// parseError makes a flag parsing failure a usage error (exit 2); -h stays
// a request for help.
func parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hangar serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Config
	cfg.Register(fs)
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	return server.Run(ctx, cfg, stdout, log)
}

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("keys: expected create, list or revoke")}
	}
	fs := flag.NewFlagSet("hangar keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Config
	cfg.Register(fs)
	name := fs.String("name", "", "a name for the key (create)")
	ws := fs.String("workspace", api.DefaultWorkspace, "workspace the key belongs to (create)")
	admin := fs.Bool("admin", false, "administrator key: may act in any workspace (create)")
	envID := fs.String("environment", "", "mint an environment key for this environment's work queue (create)")
	if err := fs.Parse(args[1:]); err != nil {
		return parseError(err)
	}
	data, err := server.OpenData(ctx, cfg.DataDir, cfg.MasterKey)
	if err != nil {
		return err
	}
	defer data.Close()
	switch args[0] {
	case "create":
		if *admin && *envID != "" {
			return usageError{errors.New("keys create: --admin and --environment exclude each other")}
		}
		if *envID != "" {
			env, err := data.Store.Get(ctx, *ws, "environment", *envID)
			if err != nil {
				return fmt.Errorf("keys create: --environment: %w", err)
			}
			*ws = env.Workspace
		}
		plain, k, err := keys.Mint(ctx, data.Store, keys.Spec{Name: *name, Workspace: *ws, Admin: *admin, EnvironmentID: *envID})
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %s in %s (the key is shown only once)\n", k.ID, k.Workspace)
		fmt.Fprintln(stdout, plain)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tWORKSPACE\tKIND\tENDS WITH\tCREATED\tREVOKED")
		list, err := data.Store.ListKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range list {
			kind := "api"
			switch {
			case k.Admin:
				kind = "admin"
			case k.EnvironmentID != "":
				kind = "environment:" + k.EnvironmentID
			}
			revoked := "-"
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t…%s\t%s\t%s\n", k.ID, k.Name, k.Workspace, kind, k.Hint, k.CreatedAt.Format("2006-01-02T15:04:05Z"), revoked)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return usageError{errors.New("keys revoke: expected one KEY_ID")}
		}
		k, err := data.Store.RevokeKey(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", k.ID)
	default:
		return usageError{fmt.Errorf("keys: unknown subcommand %q", args[0])}
	}
	return nil
}
