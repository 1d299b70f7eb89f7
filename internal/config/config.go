// Package config owns the server's settings: every one has a flag and a
// HANGAR_* environment variable, defaults that work on a laptop, and
// validation whose errors name the setting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/pricing"
)

// DefaultListen is where hangar serve listens unless told otherwise.
const DefaultListen = "127.0.0.1:8420"

// Config is the server configuration.
type Config struct {
	Listen         string
	DataDir        string
	APIKey         string
	MasterKey      string
	LogLevel       string
	LogFormat      string
	MaxUploadBytes int64
	// Models routes model names to providers.
	Models model.Settings
	// PermissionModel is the model that judges each call of a tool whose
	// permission policy is auto; empty uses the model of the conversation
	// making the call. PermissionTimeout bounds one judgement: a call not
	// judged in time is held for the user's confirmation.
	PermissionModel   string
	PermissionTimeout time.Duration
	// permissionTimeoutErr keeps a malformed HANGAR_PERMISSION_TIMEOUT for
	// Validate.
	permissionTimeoutErr error
	// DemoModel answers every model request from Hangar's scripted fake
	// upstream, so sessions can be tried without a model key.
	DemoModel bool
	// Sandbox selects where built-in tools run: "local" (a bubblewrap
	// sandbox per session, the default), "none" (they report that no
	// sandbox is available) or "unsafe-host" (directly on this host, without
	// isolation: tests and development only).
	Sandbox string
	// SandboxPool is how many sandboxes are kept started ahead of demand
	// (0: none), so a new session's first tool call does not wait for one.
	SandboxPool int
	// sandboxPoolErr keeps a malformed HANGAR_SANDBOX_POOL for Validate.
	sandboxPoolErr error
	// DebugListen, when set, serves Go's pprof profiles there (keep it on
	// loopback: profiles reveal internals).
	DebugListen string
	// Prices is the path of a JSON prices file adding list prices for
	// models the built-in Anthropic table lacks (OpenAI-compatible ones) or
	// overriding built-in ones; empty for the built-in table alone.
	Prices string
}

// DefaultPermissionTimeout bounds one auto permission verdict: long enough
// for a small model's short answer, short enough that a stuck classifier
// only delays the call before it is held.
const DefaultPermissionTimeout = 10 * time.Second

// maxSandboxPool bounds --sandbox-pool: every pooled sandbox is a process
// tree and a cgroup held while idle.
const maxSandboxPool = 64

// DefaultDataDir is $XDG_DATA_HOME/hangar or ~/.local/share/hangar.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hangar")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "hangar")
	}
	return "hangar-data"
}

// env returns the variable's value or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// RegisterData defines the one flag that locates the server's data
// (--data-dir) and reads the master key, which is all that commands working
// on the data directory without serving (hangar keys) take.
func (c *Config) RegisterData(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", env("HANGAR_DATA_DIR", DefaultDataDir()), "directory for the database, blobs and keys (HANGAR_DATA_DIR)")
	// Secrets come only from the environment so they never show in ps.
	c.MasterKey = os.Getenv("HANGAR_MASTER_KEY")
}

// Register defines every flag of hangar serve on fs, with defaults taken
// from the environment so that a flag overrides its variable.
func (c *Config) Register(fs *flag.FlagSet) {
	c.RegisterData(fs)
	fs.StringVar(&c.Listen, "listen", env("HANGAR_LISTEN", DefaultListen), "address to listen on (HANGAR_LISTEN)")
	fs.StringVar(&c.LogLevel, "log-level", env("HANGAR_LOG_LEVEL", "info"), "debug, info, warn or error (HANGAR_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("HANGAR_LOG_FORMAT", "text"), "text or json (HANGAR_LOG_FORMAT)")
	maxUpload, _ := strconv.ParseInt(env("HANGAR_MAX_UPLOAD_BYTES", "536870912"), 10, 64)
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", maxUpload, "largest file or skill upload in bytes (HANGAR_MAX_UPLOAD_BYTES)")
	c.Models.RegisterFlags(fs, os.LookupEnv)
	fs.StringVar(&c.PermissionModel, "permission-model", env("HANGAR_PERMISSION_MODEL", ""),
		"model that judges calls of tools whose permission policy is auto; empty: the agent's own model (HANGAR_PERMISSION_MODEL)")
	c.PermissionTimeout, c.permissionTimeoutErr = time.ParseDuration(env("HANGAR_PERMISSION_TIMEOUT", DefaultPermissionTimeout.String()))
	fs.Var(permissionTimeoutFlag{c}, "permission-timeout",
		"longest wait for an auto permission verdict; a call not judged in time is held for confirmation (HANGAR_PERMISSION_TIMEOUT)")
	fs.BoolVar(&c.DemoModel, "demo-model", env("HANGAR_DEMO_MODEL", "") == "true",
		"answer every model request from a built-in scripted model instead of a real one (HANGAR_DEMO_MODEL)")
	fs.StringVar(&c.Sandbox, "sandbox", env("HANGAR_SANDBOX", "local"),
		"where built-in tools run: local (bubblewrap), docker, none, or unsafe-host (no isolation; tests only) (HANGAR_SANDBOX)")
	c.SandboxPool, c.sandboxPoolErr = strconv.Atoi(env("HANGAR_SANDBOX_POOL", "2"))
	fs.Var(sandboxPoolFlag{c}, "sandbox-pool",
		"sandboxes kept started ahead of demand for new sessions, 0 for none (local backend) (HANGAR_SANDBOX_POOL)")
	fs.StringVar(&c.DebugListen, "debug-listen", env("HANGAR_DEBUG_LISTEN", ""),
		"serve pprof profiles on this address, e.g. 127.0.0.1:6060 (HANGAR_DEBUG_LISTEN)")
	fs.StringVar(&c.Prices, "prices", env("HANGAR_PRICES", ""),
		"JSON file of model list prices adding to or overriding the built-in Anthropic prices (HANGAR_PRICES; see docs/pricing.md)")
	c.APIKey = os.Getenv("HANGAR_API_KEY")
}

// LoadPrices builds the price table: the built-in Anthropic list prices
// with the --prices file on top. Errors name the setting, the file and the
// field.
func (c *Config) LoadPrices() (*pricing.Table, error) {
	t, err := pricing.Load(c.Prices)
	if err != nil {
		return nil, fmt.Errorf("--prices (HANGAR_PRICES): %w", err)
	}
	return t, nil
}

// Validate checks the settings, naming the one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil && !strings.HasPrefix(c.Listen, "unix:") {
		errs = append(errs, fmt.Errorf("--listen (HANGAR_LISTEN): %q is not host:port: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir (HANGAR_DATA_DIR): must not be empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level (HANGAR_LOG_LEVEL): unknown level %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format (HANGAR_LOG_FORMAT): unknown format %q", c.LogFormat))
	}
	switch c.Sandbox {
	case "local", "docker", "none", "unsafe-host":
	default:
		errs = append(errs, fmt.Errorf("--sandbox (HANGAR_SANDBOX): unknown sandbox %q, expected local, docker, none or unsafe-host", c.Sandbox))
	}
	switch {
	case c.sandboxPoolErr != nil:
		errs = append(errs, fmt.Errorf("--sandbox-pool (HANGAR_SANDBOX_POOL): %q is not a whole number", os.Getenv("HANGAR_SANDBOX_POOL")))
	case c.SandboxPool < 0 || c.SandboxPool > maxSandboxPool:
		errs = append(errs, fmt.Errorf("--sandbox-pool (HANGAR_SANDBOX_POOL): %d is not between 0 and %d", c.SandboxPool, maxSandboxPool))
	}
	switch {
	case c.permissionTimeoutErr != nil:
		errs = append(errs, fmt.Errorf("--permission-timeout (HANGAR_PERMISSION_TIMEOUT): %q is not a duration such as 10s", os.Getenv("HANGAR_PERMISSION_TIMEOUT")))
	case c.PermissionTimeout <= 0:
		errs = append(errs, fmt.Errorf("--permission-timeout (HANGAR_PERMISSION_TIMEOUT): %s is not positive", c.PermissionTimeout))
	}
	if c.Prices != "" {
		if _, err := c.LoadPrices(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxUploadBytes <= 0 {
		errs = append(errs, errors.New("--max-upload-bytes (HANGAR_MAX_UPLOAD_BYTES): must be positive"))
	}
	return errors.Join(errs...)
}

// sandboxPoolFlag sets SandboxPool; given on the command line it overrides
// a malformed HANGAR_SANDBOX_POOL instead of failing on it.
type sandboxPoolFlag struct{ c *Config }

func (f sandboxPoolFlag) String() string {
	if f.c == nil {
		return ""
	}
	return strconv.Itoa(f.c.SandboxPool)
}

func (f sandboxPoolFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	f.c.SandboxPool, f.c.sandboxPoolErr = n, nil
	return nil
}

// permissionTimeoutFlag is --permission-timeout: setting it replaces a
// malformed HANGAR_PERMISSION_TIMEOUT instead of failing on it.
type permissionTimeoutFlag struct{ c *Config }

func (f permissionTimeoutFlag) String() string {
	if f.c == nil {
		return ""
	}
	return f.c.PermissionTimeout.String()
}

func (f permissionTimeoutFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration such as 10s")
	}
	f.c.PermissionTimeout, f.c.permissionTimeoutErr = d, nil
	return nil
}
