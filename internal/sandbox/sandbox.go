// Package sandbox owns the contract between Hangar and the places a session's
// tools run: a Backend creates isolated Sandboxes from a Spec, and every
// Sandbox can run commands with streaming output, move files in and out, run
// the built-in agent toolset, persist a Handle and be destroyed without
// leaving a process behind. Implementations live in subpackages (local, and
// later docker); sandboxtest is the one conformance suite they all pass.
package sandbox

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// Fixed paths inside every sandbox, whatever the backend.
const (
	WorkspacePath = "/workspace"
	OutputsPath   = "/mnt/session/outputs"
	// MemoryPath holds the session's memory store mounts.
	MemoryPath = "/mnt/memory"
)

// HandleVersion is the version of the Handle layout this build writes. A
// handle of another version is refused by Recover rather than misread.
const HandleVersion = 1

// NetworkMode says what network a sandbox sees.
type NetworkMode string

const (
	// NetworkNone: a private network namespace with only loopback.
	NetworkNone NetworkMode = "none"
	// NetworkHost: the host's network. The server no longer uses it for
	// sessions (they leave through the egress proxy); it stays for
	// operators and tests.
	NetworkHost NetworkMode = "host"
)

// The egress contract (Spec.EgressDir): the host directory is shown
// read-only at EgressPath; the server keeps the egress proxy's Unix socket
// in it (EgressSocketName) and the CA bundle the sandbox trusts
// (EgressCABundleName). The agent relays TCP connections to EgressProxyAddr,
// inside the sandbox's own network namespace, to the socket, so with
// network none the proxy is the only way out.
const (
	EgressPath         = "/run/hangar/egress"
	EgressSocketName   = "egress.sock"
	EgressCABundleName = "ca-bundle.pem"
	EgressSocketPath   = EgressPath + "/" + EgressSocketName
	EgressCABundlePath = EgressPath + "/" + EgressCABundleName
	EgressProxyAddr    = "127.0.0.1:3128"
)

// The worker contract: the server also keeps, in the same per-session
// directory, a Unix socket serving the Hangar API to the one worker it
// starts inside the session's sandbox (`hangar worker --item`); with
// network none it is the worker's only way to the server, and only that
// session's work token is accepted on it.
const (
	APISocketName = "api.sock"
	APISocketPath = EgressPath + "/" + APISocketName
	// AgentBinaryPath is where every backend shows the agent binary.
	AgentBinaryPath = "/run/hangar/agent"
	// AgentProgram is the name of the agent's own program (cmd/hangar-agent).
	AgentProgram = "hangar-agent"
)

// DefaultAgent is the agent binary a backend binds into its sandboxes, and
// its arguments, unless configured otherwise: hangar-agent beside the
// running executable when it is installed there and was built from the
// same source (sameBuild), else the running executable itself as
// `sandbox-tool`, which is the same agent in a bigger program that takes a
// few milliseconds longer to start.
func DefaultAgent() (path string, args []string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	own := filepath.Join(filepath.Dir(exe), AgentProgram)
	if fi, err := os.Stat(own); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 && sameBuild(own) {
		return own, []string{}, nil
	}
	return exe, []string{"sandbox-tool"}, nil
}

// sameBuild says whether the program at path was built by the same Go from
// the same module version and commit as the running one, by their build
// information: a hangar-agent left from another build is not used. (Two
// builds of one modified checkout look alike; the agent's protocol version,
// checked when it starts, still tells incompatible ones apart.)
func sameBuild(path string) bool {
	theirs, err := buildinfo.ReadFile(path)
	if err != nil {
		return false
	}
	ours, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	vcs := func(bi *debug.BuildInfo) string {
		var s []string
		for _, kv := range bi.Settings {
			if strings.HasPrefix(kv.Key, "vcs.") {
				s = append(s, kv.Key+"="+kv.Value)
			}
		}
		return strings.Join(s, " ")
	}
	return theirs.GoVersion == ours.GoVersion && theirs.Main.Path == ours.Main.Path &&
		theirs.Main.Version == ours.Main.Version && vcs(theirs) == vcs(ours)
}

// WorkerItem is what the server writes on the stdin of `hangar worker
// --item` in a sandbox: the claimed work item and its secret, kept out of
// argv and the environment, where other processes could read them.
type WorkerItem struct {
	WorkID        string `json:"work_id"`
	EnvironmentID string `json:"environment_id"`
	SessionID     string `json:"session_id"`
	Secret        string `json:"secret"`
}

// EgressEnv is the environment that points the usual tools at the egress
// proxy and its CA bundle (system roots plus the session CA: SSL_CERT_FILE
// replaces the roots rather than adding to them, hence a bundle).
func EgressEnv() map[string]string {
	proxy := "http://" + EgressProxyAddr
	env := map[string]string{"NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1",
		// A git request the proxy lets through unauthenticated (a host
		// without repository credentials) fails at once instead of
		// waiting at a username prompt no one will answer.
		"GIT_TERMINAL_PROMPT": "0"}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		env[k] = proxy
	}
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE"} {
		env[k] = EgressCABundlePath
	}
	return env
}

// Limits bound a sandbox's resources. Zero means no limit of that kind.
type Limits struct {
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	Pids        int64 `json:"pids,omitempty"`
	// CPUs is a quota in cores (1.5 = one and a half cores).
	CPUs float64 `json:"cpus,omitempty"`
}

// Mount is a host file or directory shown at Target, read-only unless
// Writable. A writable mount is a directory the backend gives to the
// sandbox identity (its tree owned by it, as the workspace is), so the
// agent can change what the server put there.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Writable bool   `json:"writable,omitempty"`
	// KeepOwners: the server made the tree writable by the sandbox's
	// identity, whatever it is, and the backend must not chown it (the
	// tree is an overlay, where a chown copies every file up).
	KeepOwners bool `json:"keep_owners,omitempty"`
}

// ChownTree gives dir and everything below it to uid:gid without
// following a symlink (a link the agent planted is changed itself, never
// its target).
func ChownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// Spec describes a sandbox to create.
type Spec struct {
	SessionID string `json:"session_id"`
	// WorkspaceDir is the host directory shown read-write at /workspace; it
	// outlives Stop (so a re-provisioned sandbox finds its files) and is
	// removed by Destroy.
	WorkspaceDir string `json:"workspace_dir"`
	// OutputDir is the host directory shown read-write at
	// /mnt/session/outputs. Empty gives the sandbox a private one under the
	// backend's state.
	OutputDir string      `json:"output_dir,omitempty"`
	Mounts    []Mount     `json:"mounts,omitempty"`
	Network   NetworkMode `json:"network"`
	// EgressDir, when set, is a host directory shown read-only at
	// EgressPath and the agent relays EgressProxyAddr to the socket in it
	// (see EgressPath). It requires network none.
	EgressDir string `json:"egress_dir,omitempty"`
	Limits    Limits `json:"limits"`
	// Env is the complete environment of commands and tools; nothing of the
	// server's environment is added to it.
	Env map[string]string `json:"env,omitempty"`
	// Timeout bounds one command when its ExecRequest sets none.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// reserved are sandbox paths a Mount may not cover or sit under: they are
// the backend's own, and a mount under a writable directory would be
// created through paths the sandbox controls (symlinks).
var reserved = []string{"/", "/proc", "/dev", "/tmp", "/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin", "/run/hangar", WorkspacePath, OutputsPath}

// Validate checks a Spec before anything is created; messages name the field.
func (s Spec) Validate() error {
	if s.SessionID == "" {
		return errors.New("session_id: required")
	}
	if strings.ContainsAny(s.SessionID, "/\x00") || s.SessionID == "." || s.SessionID == ".." {
		return errors.New("session_id: must not contain '/'")
	}
	if s.WorkspaceDir == "" || !path.IsAbs(s.WorkspaceDir) {
		return errors.New("workspace_dir: must be an absolute path")
	}
	if s.OutputDir != "" && !path.IsAbs(s.OutputDir) {
		return errors.New("output_dir: must be an absolute path")
	}
	switch s.Network {
	case NetworkNone, NetworkHost:
	case "":
		return errors.New("network: required (none or host)")
	default:
		return fmt.Errorf("network: unknown mode %q", s.Network)
	}
	if s.EgressDir != "" {
		if !path.IsAbs(s.EgressDir) || strings.ContainsRune(s.EgressDir, 0) {
			return errors.New("egress_dir: must be an absolute path")
		}
		if s.Network != NetworkNone {
			return errors.New("egress_dir: requires network none")
		}
	}
	if s.Limits.MemoryBytes < 0 || s.Limits.Pids < 0 || s.Limits.CPUs < 0 {
		return errors.New("limits: must not be negative")
	}
	for i, m := range s.Mounts {
		if !path.IsAbs(m.Source) {
			return fmt.Errorf("mounts[%d].source: must be an absolute path", i)
		}
		if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target || strings.ContainsRune(m.Target, 0) {
			return fmt.Errorf("mounts[%d].target: must be a clean absolute path", i)
		}
		for _, r := range reserved {
			if m.Target == r || (r != "/" && strings.HasPrefix(m.Target, r+"/")) || strings.HasPrefix(r, m.Target+"/") {
				return fmt.Errorf("mounts[%d].target: %s is reserved", i, r)
			}
		}
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: invalid name %q", k)
		}
	}
	return nil
}

// Handle is what a caller persists to find a sandbox again after a restart.
// State is the backend's own, opaque to everyone else.
type Handle struct {
	Version int             `json:"version"`
	Backend string          `json:"backend"`
	ID      string          `json:"id"`
	Spec    Spec            `json:"spec"`
	State   json.RawMessage `json:"state,omitempty"`
}

// Capabilities describe what a backend can do.
type Capabilities struct {
	Backend string `json:"backend"`
	// Reattach: Recover can reconnect to a sandbox still running after the
	// server restarted. When false, Recover re-provisions it around the
	// surviving workspace.
	Reattach     bool          `json:"reattach"`
	NetworkModes []NetworkMode `json:"network_modes"`
	// Limits are the kinds of Limits enforced.
	Limits []string `json:"limits"`
}

// Backend creates sandboxes.
type Backend interface {
	Create(ctx context.Context, spec Spec) (Sandbox, error)
	// Recover returns the sandbox a handle names: reattached if the backend
	// can and it still runs, otherwise re-provisioned with the same Spec.
	Recover(ctx context.Context, h Handle) (Sandbox, error)
	Capabilities() Capabilities
}

// Adopter is implemented by backends whose running sandboxes can take on
// another session: a sandbox started ahead of demand (a warm pool) becomes
// the sandbox of spec, its workspace and outputs moved to spec's
// directories and its Handle, Stop and Destroy referring to them from then
// on. spec must differ from the sandbox's own only as CanAdopt allows, and
// its workspace and output directories must be absent or empty. On error the
// sandbox is left as it was (or is no longer running).
type Adopter interface {
	Adopt(ctx context.Context, sb Sandbox, spec Spec) (Sandbox, error)
}

// Detacher is implemented by sandboxes that outlive the server
// (Capabilities().Reattach): Detach lets go of the sandbox without stopping
// it — its processes, /tmp and container filesystem stay — so a restarted
// server Recovers it from its Handle. The Sandbox is unusable afterwards.
type Detacher interface {
	Detach() error
}

// Discarder is implemented by backends that can remove what is left of a
// sandbox from its Handle alone, without starting it first: its processes,
// container and state, and its workspace (as Destroy does). A sandbox that
// is already gone is no error.
type Discarder interface {
	Discard(ctx context.Context, h Handle) error
}

// Sweeper is implemented by backends that can find the sandboxes they
// started under their own state (this server's, never another's on the same
// host): Sweep removes every one whose id keep refuses — what a crash left
// behind, sandboxes of deleted sessions, a previous run's pool. Workspaces
// are not touched (they belong to sessions, not to sandboxes).
type Sweeper interface {
	Sweep(ctx context.Context, keep func(sandboxID string) bool) error
}

// HandleStore persists each session's current sandbox Handle so that a
// restarted server finds the sandbox again (Toolbox, WithHandles).
type HandleStore interface {
	// LoadHandle returns the session's handle; ok is false when it has
	// none.
	LoadHandle(ctx context.Context, sessionID string) (h Handle, ok bool, err error)
	// SaveHandle records h as the session's handle, replacing any other.
	SaveHandle(ctx context.Context, sessionID string, h Handle) error
	// DeleteHandle forgets the session's handle; none is no error.
	DeleteHandle(ctx context.Context, sessionID string) error
}

// CanAdopt says whether a sandbox started with from can become one started
// with to: what is fixed when a sandbox starts (mounts, network, limits,
// environment, command timeout) must be the same; only the session, its
// workspace and its outputs may change. The error names the field.
func CanAdopt(from, to Spec) error {
	switch {
	case len(from.Mounts) != 0 || len(to.Mounts) != 0:
		return errors.New("mounts: a sandbox with mounts cannot be adopted")
	case (from.EgressDir == "") != (to.EgressDir == ""):
		// The egress directory itself is mounted at start; its contents
		// (the session's socket and CA bundle) are moved in on adoption.
		return errors.New("egress_dir: one spec has egress and the other not")
	case from.Network != to.Network:
		return fmt.Errorf("network: %q differs from %q", to.Network, from.Network)
	case from.Limits != to.Limits:
		return errors.New("limits: differ")
	case from.Timeout != to.Timeout:
		return errors.New("timeout: differs")
	case len(from.Env) != len(to.Env):
		return errors.New("env: differs")
	}
	for k, v := range from.Env {
		if w, ok := to.Env[k]; !ok || w != v {
			return errors.New("env: differs")
		}
	}
	return nil
}

// ExecRequest is one command to run in a sandbox.
type ExecRequest struct {
	Argv []string
	// Env nil means the sandbox's Spec.Env.
	Env map[string]string
	// Dir defaults to /workspace.
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Timeout zero means the Spec's; negative means none.
	Timeout time.Duration
}

// ExitStatus is how a command ended.
type ExitStatus struct {
	Code     int    `json:"code"`
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
}

// Process is a running command.
type Process interface {
	// Signal sends sig to the command's whole process group.
	Signal(ctx context.Context, sig syscall.Signal) error
	// Wait returns once the command ended and all its output was delivered.
	Wait(ctx context.Context) (ExitStatus, error)
}

// ToolResult is a built-in tool's answer, as the SDK's agenttoolset gives it.
type ToolResult struct {
	Text    string `json:"text"`
	IsError bool   `json:"is_error"`
}

// Sandbox is one live sandbox.
type Sandbox interface {
	ID() string
	Handle() Handle
	Exec(ctx context.Context, req ExecRequest) (Process, error)
	// PutFile writes a file; paths are resolved inside the sandbox, so a
	// symlink there can never reach the host.
	PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error
	// GetFile copies a file out, resolved inside the sandbox likewise.
	GetFile(ctx context.Context, path string, w io.Writer) error
	// RunTool runs one call of the agent_toolset_20260401 tool name.
	RunTool(ctx context.Context, name string, input json.RawMessage) (ToolResult, error)
	// Stop ends every process; the workspace stays for a later Recover.
	Stop(ctx context.Context) error
	// Destroy ends every process and removes the workspace and state.
	Destroy(ctx context.Context) error
}

// Errors shared by backends.
var (
	// ErrUnavailable: the backend cannot run on this host (missing binary,
	// no namespaces); wraps the reason.
	ErrUnavailable = errors.New("sandbox backend unavailable")
	// ErrClosed: the sandbox was stopped or destroyed, or its processes died.
	ErrClosed = errors.New("sandbox is not running")
)

// Run runs a command to completion.
func Run(ctx context.Context, sb Sandbox, req ExecRequest) (ExitStatus, error) {
	p, err := sb.Exec(ctx, req)
	if err != nil {
		return ExitStatus{}, err
	}
	return p.Wait(ctx)
}

// Output runs a command and returns its stdout and stderr.
func Output(ctx context.Context, sb Sandbox, argv ...string) (stdout, stderr string, st ExitStatus, err error) {
	var o, e strings.Builder
	st, err = Run(ctx, sb, ExecRequest{Argv: argv, Stdout: &o, Stderr: &e})
	return o.String(), e.String(), st, err
}
