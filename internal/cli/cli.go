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

// newFlagSet makes a command's flag set, whose -h shows the command's
// synopsis and its own flags only.
func newFlagSet(synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(synopsis, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hangar serve [flags]", stderr)
	var cfg config.Config
	cfg.Register(fs)
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))}
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
	switch args[0] {
	case "create":
		return keysCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return keysList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return keysRevoke(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Errorf("keys: unknown subcommand %q", args[0])}
}

// openData parses a keys command's arguments — its own flags on fs, plus
// --data-dir, which must name the server's data directory — checks that
// exactly nargs arguments remain, and opens the data directory.
func openData(ctx context.Context, fs *flag.FlagSet, args []string, nargs int) (*server.Data, error) {
	var cfg config.Config
	cfg.RegisterData(fs)
	if err := fs.Parse(args); err != nil {
		return nil, parseError(err)
	}
	if fs.NArg() != nargs {
		return nil, usageError{fmt.Errorf("usage: %s", fs.Name())}
	}
	return server.OpenData(ctx, cfg.DataDir, cfg.MasterKey)
}

func keysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hangar keys create [flags]", stderr)
	name := fs.String("name", "", "a name for the key")
	ws := fs.String("workspace", api.DefaultWorkspace, "workspace the key belongs to")
	admin := fs.Bool("admin", false, "administrator key: may act in any workspace")
	envID := fs.String("environment", "", "mint an environment key for this environment's work queue")
	data, err := openData(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	defer data.Close()
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
	return nil
}

func keysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	data, err := openData(ctx, newFlagSet("hangar keys list [flags]", stderr), args, 0)
	if err != nil {
		return err
	}
	defer data.Close()
	list, err := data.Store.ListKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tWORKSPACE\tKIND\tENDS WITH\tCREATED\tREVOKED")
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
}

func keysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hangar keys revoke [flags] KEY_ID", stderr)
	data, err := openData(ctx, fs, args, 1)
	if err != nil {
		return err
	}
	defer data.Close()
	k, err := data.Store.RevokeKey(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s\n", k.ID)
	return nil
}
