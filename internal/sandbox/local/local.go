// Package local is the default sandbox backend: bubblewrap with new user,
// mount, PID, IPC, UTS and network namespaces and a cgroup per sandbox. A
// sandbox shows the host's system directories read-only and nothing else of
// the host; its one long-lived process is the Hangar agent (package agent),
// which runs every command and tool call so none pays bubblewrap's start.
//
// Sandboxes die with the server (--die-with-parent); Recover re-provisions
// around the surviving workspace instead of reattaching.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// Name is the backend's name in handles and configuration.
const Name = "local"

// Paths inside the sandbox that belong to the backend.
const agentPath = "/run/hangar/agent"

// Identity of sandbox processes inside: uid/gid 1000 ("agent").
const sandboxUID = 1000

// Config configures the backend.
type Config struct {
	// StateDir holds per-sandbox state (default outputs). Required.
	StateDir string
	// Bwrap is the bubblewrap binary; default: bwrap on PATH.
	Bwrap string
	// AgentPath is the binary run as the in-sandbox agent and AgentArgs its
	// arguments; default: sandbox.DefaultAgent.
	AgentPath string
	AgentArgs []string
	// HostUID/HostGID, when non-zero, run bubblewrap (and so every sandbox
	// process) as that unprivileged host identity instead of the server's.
	// bubblewrap resolves bind sources by path as that user, so every
	// directory above the workspace, outputs and mounts must then be
	// searchable by it; with the default (the server's identity) they need
	// not be. Either way sandbox processes hold no capabilities, run with
	// no_new_privs and see only what is mounted for them.
	HostUID, HostGID int
	// CgroupParent overrides the cgroup v2 parent (default
	// /sys/fs/cgroup/hangar). On v1 sandboxes go under this process's own
	// cgroups.
	CgroupParent string
	// RequireCgroups makes New fail when no cgroup hierarchy is usable
	// instead of running sandboxes without limits.
	RequireCgroups bool
	Logger         *slog.Logger
}

// Backend is the local bubblewrap backend.
type Backend struct {
	cfg   Config
	bwrap string
	agent *os.File // O_PATH handle bound into every sandbox
	etc   *etcCopy
	cg    *cgroups
	log   *slog.Logger

	// The cgroup of the next sandbox, made ahead (spare.go).
	spareMu     sync.Mutex
	spare       *spare
	spareMaking bool
	closed      bool
}

// New checks the host and returns a backend. A missing bwrap or unusable
// namespaces give an error wrapping sandbox.ErrUnavailable.
func New(cfg Config) (*Backend, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("local sandbox: StateDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bw := cfg.Bwrap
	if bw == "" {
		p, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, fmt.Errorf("%w: bubblewrap (bwrap) not found: install the Debian package bubblewrap", sandbox.ErrUnavailable)
		}
		bw = p
	}
	if cfg.AgentPath == "" {
		var err error
		if cfg.AgentPath, cfg.AgentArgs, err = sandbox.DefaultAgent(); err != nil {
			return nil, err
		}
		cfg.Logger.Info("sandbox agent", "program", cfg.AgentPath, "args", cfg.AgentArgs)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, err
	}
	af, err := os.OpenFile(cfg.AgentPath, oPath|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("local sandbox: agent binary: %w", err)
	}
	cg, err := detectCgroups(cfg.CgroupParent)
	if err != nil {
		af.Close()
		return nil, fmt.Errorf("local sandbox: cgroups: %w", err)
	}
	if cg.version == 0 && cfg.RequireCgroups {
		af.Close()
		return nil, fmt.Errorf("%w: no usable cgroup v2 or v1 (memory, pids, cpu) hierarchy", sandbox.ErrUnavailable)
	}
	b := &Backend{cfg: cfg, bwrap: bw, agent: af, cg: cg, log: cfg.Logger, etc: newEtcCopy(cfg.StateDir)}
	b.etc.refresh()
	return b, nil
}

// Close releases the backend's own resources (not its sandboxes).
func (b *Backend) Close() error {
	b.closeSpare()
	return b.agent.Close()
}

// CgroupVersion is 2, 1, or 0 when sandboxes run without limits.
func (b *Backend) CgroupVersion() int { return b.cg.version }

// Capabilities implements sandbox.Backend.
func (b *Backend) Capabilities() sandbox.Capabilities {
	c := sandbox.Capabilities{Backend: Name, NetworkModes: []sandbox.NetworkMode{sandbox.NetworkNone, sandbox.NetworkHost}}
	if b.cg.version != 0 {
		c.Limits = []string{"memory", "pids", "cpu"}
	}
	return c
}

// state is the backend's part of a Handle.
type state struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	Group     *group `json:"cgroup,omitempty"`
	StateDir  string `json:"state_dir"`
}

// Create implements sandbox.Backend.
func (b *Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	// A pool's sandboxes are started ahead of demand: they neither need
	// the spare nor should they have one made (its thread migrations hold
	// up every fork on the host for a moment) while the claim that
	// triggered the refill is being served.
	if !strings.HasPrefix(spec.SessionID, sandbox.PoolIDPrefix) {
		if sp := b.takeSpare(spec.Limits); sp != nil {
			return b.startIn(ctx, sp.id, spec, sp)
		}
	}
	return b.start(ctx, newID(), spec)
}

// Recover implements sandbox.Backend: a local sandbox does not outlive the
// server, so whatever is left of the old one is killed and a new one starts
// around the same workspace, under the same id.
func (b *Backend) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	if err := b.end(h); err != nil {
		return nil, err
	}
	return b.start(ctx, h.ID, h.Spec)
}

func (b *Backend) start(ctx context.Context, id string, spec sandbox.Spec) (sandbox.Sandbox, error) {
	return b.startIn(ctx, id, spec, nil)
}

// Discard implements sandbox.Discarder: whatever is left of the sandbox's
// processes is killed, and its state and workspace are removed.
func (b *Backend) Discard(ctx context.Context, h sandbox.Handle) error {
	if err := b.end(h); err != nil {
		return err
	}
	if g := b.ownGroup(h.ID); g != nil {
		_ = g.remove()
	}
	return errors.Join(os.RemoveAll(h.Spec.WorkspaceDir), os.RemoveAll(filepath.Join(b.cfg.StateDir, h.ID)))
}

// end validates a handle and kills what may be left of its sandbox.
func (b *Backend) end(h sandbox.Handle) error {
	if h.Version != sandbox.HandleVersion {
		return fmt.Errorf("sandbox handle: version %d is not supported (want %d)", h.Version, sandbox.HandleVersion)
	}
	if h.Backend != Name {
		return fmt.Errorf("sandbox handle: backend %q is not %q", h.Backend, Name)
	}
	if err := h.Spec.Validate(); err != nil {
		return fmt.Errorf("sandbox handle: %w", err)
	}
	if !validID(h.ID) {
		return fmt.Errorf("sandbox handle: bad id %q", h.ID)
	}
	var st state
	if len(h.State) > 0 {
		if err := json.Unmarshal(h.State, &st); err != nil {
			return fmt.Errorf("sandbox handle: state: %w", err)
		}
	}
	if st.Pid > 0 && st.StartTime != 0 && procStartTime(st.Pid) == st.StartTime {
		_ = syscall.Kill(st.Pid, syscall.SIGKILL)
	}
	if g := b.ownGroup(h.ID); g != nil {
		_ = g.kill(2 * time.Second)
	}
	return nil
}

func validID(id string) bool {
	return len(id) >= 5 && id[:4] == "sbx_" && filepath.Base(id) == id && id != "." && id != ".."
}

// Sweep implements sandbox.Sweeper. Local sandboxes die with the server
// (--die-with-parent), so what a previous run leaves is state: the
// per-sandbox directories under this backend's StateDir and their cgroups
// (named by the same ids, so never another server's) are removed unless
// keep wants them.
func (b *Backend) Sweep(ctx context.Context, keep func(sandboxID string) bool) error {
	ents, err := os.ReadDir(b.cfg.StateDir)
	if err != nil {
		return err
	}
	b.spareMu.Lock()
	spareID := ""
	if b.spare != nil {
		spareID = b.spare.id
	}
	b.spareMu.Unlock()
	var errs []error
	for _, e := range ents {
		id := e.Name()
		if !validID(id) || keep(id) || id == spareID {
			continue
		}
		if g := b.ownGroup(id); g != nil {
			_ = g.kill(2 * time.Second)
			_ = g.remove()
		}
		errs = append(errs, os.RemoveAll(filepath.Join(b.cfg.StateDir, id)))
	}
	return errors.Join(errs...)
}

// ownGroup is the cgroup sandbox id has under this backend, if it exists.
// Paths come from the backend's layout, never from a handle, so a forged
// handle cannot make Recover kill another cgroup's processes.
func (b *Backend) ownGroup(id string) *group {
	g := &group{Version: b.cg.version}
	switch b.cg.version {
	case 2:
		g.Paths = []string{filepath.Join(b.cg.parent, id)}
	case 1:
		for _, ctl := range v1Controllers {
			g.Paths = append(g.Paths, filepath.Join(b.cg.v1Parent[ctl], id))
		}
	default:
		return nil
	}
	if _, err := os.Stat(g.Paths[0]); err != nil {
		return nil
	}
	return g
}

// procStartTime is field 22 of /proc/pid/stat, to tell a pid from a reuse.
func procStartTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := lastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	var fields []string
	cur := []byte{}
	for _, c := range b[i+2:] {
		if c == ' ' {
			fields = append(fields, string(cur))
			cur = cur[:0]
			continue
		}
		cur = append(cur, c)
	}
	fields = append(fields, string(cur))
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// mkdirOwned makes dir (and parents) and hands dir itself to the sandbox's
// host identity. It refuses a symlink: the directory is bound by handle, and
// a link planted in its place must not redirect the bind.
func (b *Backend) mkdirOwned(dir string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	f, err := os.OpenFile(dir, oPath|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if b.cfg.HostUID == 0 && b.cfg.HostGID == 0 {
		return f, nil
	}
	// Through the handle, so the ownership lands on what will be bound.
	if err := os.Chown("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), b.cfg.HostUID, b.cfg.HostGID); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// startIn starts a sandbox under id; sp, when not nil, is the spare made
// for it (id is the spare's), whose cgroup it starts in.
func (b *Backend) startIn(ctx context.Context, id string, spec sandbox.Spec, sp *spare) (_ sandbox.Sandbox, err error) {
	defer func() {
		if sp != nil {
			// Not used: an error before the cgroup stage.
			sp.discard()
		}
	}()
	stateDir := filepath.Join(b.cfg.StateDir, id)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	var files []*os.File // passed to bwrap; fd = 3 + index
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	addFile := func(f *os.File) string {
		files = append(files, f)
		return strconv.Itoa(2 + len(files))
	}
	// Control channel first, at fds 3 and 4 in bwrap; bwrap keeps inherited
	// fds, so the agent finds them at the same numbers.
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	addFile(reqR)
	addFile(repW)
	defer func() {
		if err != nil {
			reqW.Close()
			repR.Close()
		}
	}()

	ws, err := b.mkdirOwned(spec.WorkspaceDir)
	if err != nil {
		return nil, fmt.Errorf("workspace_dir: %w", err)
	}
	wsFD := addFile(ws)
	outDir := spec.OutputDir
	if outDir == "" {
		outDir = filepath.Join(stateDir, "outputs")
	}
	out, err := b.mkdirOwned(outDir)
	if err != nil {
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	outFD := addFile(out)

	args := []string{
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--die-with-parent", "--new-session",
		"--uid", strconv.Itoa(sandboxUID), "--gid", strconv.Itoa(sandboxUID),
		"--cap-drop", "ALL",
		"--hostname", "sandbox",
	}
	if spec.Network == sandbox.NetworkHost {
		args = append(args, "--share-net")
	}
	args = append(args, "--ro-bind", "/usr", "/usr")
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", t, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	etc, etcDirs, err := b.etc.current()
	if err != nil {
		return nil, err
	}
	args = append(args, "--ro-bind", etc, "/etc")
	for _, d := range etcDirs {
		args = append(args, "--ro-bind", filepath.Join("/etc", d), filepath.Join("/etc", d))
	}
	if spec.Network == sandbox.NetworkHost {
		if rc, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			// Small enough for the pipe buffer, so writing before bwrap
			// reads cannot block.
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			_, werr := w.Write(rc)
			w.Close()
			if werr != nil {
				r.Close()
				return nil, werr
			}
			args = append(args, "--perms", "0644", "--ro-bind-data", addFile(r), "/etc/resolv.conf")
		}
	}
	args = append(args,
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/var/tmp",
		"--bind-fd", wsFD, sandbox.WorkspacePath,
		"--bind-fd", outFD, sandbox.OutputsPath,
	)
	for i, m := range spec.Mounts {
		// O_NOFOLLOW on the source: a resource path that is a symlink (a
		// planted link to /etc/shadow, say) is refused, not followed; the
		// parents are the server's own directories.
		f, err := os.OpenFile(m.Source, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
		}
		fi, err := f.Stat()
		if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
			f.Close()
			return nil, fmt.Errorf("mounts[%d].source: not a regular file or directory", i)
		}
		if m.Writable {
			if !fi.IsDir() {
				f.Close()
				return nil, fmt.Errorf("mounts[%d].source: a writable mount must be a directory", i)
			}
			if (b.cfg.HostUID != 0 || b.cfg.HostGID != 0) && !m.KeepOwners {
				if err := sandbox.ChownTree(m.Source, b.cfg.HostUID, b.cfg.HostGID); err != nil {
					f.Close()
					return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
				}
			}
			args = append(args, "--bind-fd", addFile(f), m.Target)
			continue
		}
		args = append(args, "--ro-bind-fd", addFile(f), m.Target)
	}
	if spec.EgressDir != "" {
		// Read-only: connecting to the socket needs no write access to
		// the mount, and the sandbox must not swap its socket or CA.
		f, err := os.OpenFile(spec.EgressDir, oPath|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("egress_dir: %w", err)
		}
		args = append(args, "--ro-bind-fd", addFile(f), sandbox.EgressPath)
	}
	ag, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(b.agent.Fd())), oPath|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("agent binary: %w", err)
	}
	args = append(args, "--ro-bind-fd", addFile(ag), agentPath, "--chdir", sandbox.WorkspacePath, "--", agentPath)
	args = append(args, b.cfg.AgentArgs...)

	env := map[string]string{
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME": sandbox.WorkspacePath,
		"USER": "agent",
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	if spec.EgressDir != "" {
		env[agent.EnvEgressSocket] = sandbox.EgressSocketPath
		env[agent.EnvEgressListen] = sandbox.EgressProxyAddr
	}

	var g *group
	startIn := b.cg.start
	// threadOut closes once no thread of the server is in g (a spare's
	// thread returns after the start): g cannot be removed before.
	var threadOut <-chan struct{}
	if sp != nil {
		used := sp
		g = used.g
		startIn = func(_ *group, fn func(int) error) error { return used.run(fn) }
		threadOut = used.left
		sp = nil // the group's fate is this start's now
	} else if b.cg.version != 0 {
		g, err = b.cg.create(id, spec.Limits.MemoryBytes, spec.Limits.Pids, spec.Limits.CPUs)
		if err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	} else if spec.Limits != (sandbox.Limits{}) {
		return nil, errors.New("limits: this host has no usable cgroups to enforce them")
	}
	if strings.HasPrefix(spec.SessionID, sandbox.PoolIDPrefix) {
		// Filling the pool is background work: under contention it yields
		// the CPU to the sessions' sandboxes (a claim is often followed by
		// the refill it triggers, which would otherwise compete with the
		// claimant's first tool call). Adopt restores the normal weight.
		g.setWeight(true)
	}
	defer func() {
		if err != nil && g != nil {
			_ = g.kill(time.Second)
			waitClosed(threadOut)
			_ = g.remove()
		}
	}()

	stderr := sandbox.NewTailBuffer(8 << 10)
	cmd := exec.Command(b.bwrap, args...)
	cmd.Env = agent.EnvList(env) // exactly the sandbox's: never the server's
	cmd.ExtraFiles = files
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if b.cfg.HostUID != 0 || b.cfg.HostGID != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(b.cfg.HostUID), Gid: uint32(b.cfg.HostGID), Groups: []uint32{}}
	}
	if err := startIn(g, func(fd int) error {
		if fd >= 0 {
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = fd
		}
		return cmd.Start()
	}); err != nil {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return nil, fmt.Errorf("start bwrap: %w", err)
	}
	reqR.Close()
	repW.Close()
	for _, f := range files[2:] {
		f.Close()
	}
	files = nil

	s := &localSandbox{
		b: b, id: id, spec: spec, cmd: cmd, group: g, threadOut: threadOut, stateDir: stateDir, stderr: stderr,
		client: agent.NewClient(repR, reqW), exited: make(chan struct{}),
	}
	s.st = state{Pid: cmd.Process.Pid, StartTime: procStartTime(cmd.Process.Pid), Group: g, StateDir: stateDir}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
		_ = s.client.Close()
	}()
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case <-s.exited:
		err = fmt.Errorf("sandbox exited during start (%v): %s", s.waitErr, stderr.String())
	default:
		if rerr := s.client.Ready(readyCtx); rerr != nil {
			err = fmt.Errorf("sandbox did not start: %v: %s", rerr, stderr.String())
		}
	}
	if err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

type localSandbox struct {
	b     *Backend
	id    string
	spec  sandbox.Spec
	cmd   *exec.Cmd
	group *group
	// threadOut: see startIn.
	threadOut <-chan struct{}
	stateDir  string
	stderr    *sandbox.TailBuffer
	client    *agent.Client
	st        state
	exited    chan struct{}
	waitErr   error

	mu        sync.Mutex
	stopped   bool
	destroyed bool
}

func (s *localSandbox) ID() string { return s.id }

func (s *localSandbox) Handle() sandbox.Handle {
	raw, _ := json.Marshal(s.st)
	s.mu.Lock() // Adopt may have changed the spec
	defer s.mu.Unlock()
	return sandbox.Handle{Version: sandbox.HandleVersion, Backend: Name, ID: s.id, Spec: s.spec, State: raw}
}

// Exec, PutFile, GetFile and RunTool go over the agent's control channel,
// which refuses them with sandbox.ErrClosed once Stop or Destroy closed it.
func (s *localSandbox) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.Process, error) {
	return s.client.Exec(ctx, req, s.spec.Timeout)
}

func (s *localSandbox) PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	return s.client.PutFile(ctx, path, r, mode)
}

func (s *localSandbox) GetFile(ctx context.Context, path string, w io.Writer) error {
	return s.client.GetFile(ctx, path, w)
}

func (s *localSandbox) RunTool(ctx context.Context, name string, input json.RawMessage) (sandbox.ToolResult, error) {
	return s.client.RunTool(ctx, name, input)
}

// MemoryUsage is the sandbox's current memory charge (cgroup), in bytes.
func (s *localSandbox) MemoryUsage() (int64, error) {
	if s.group == nil {
		return 0, errors.New("no cgroup")
	}
	return s.group.memory()
}

// OOMKills is how many processes the memory limit killed so far.
func (s *localSandbox) OOMKills() int64 {
	if s.group == nil {
		return 0
	}
	return s.group.oomKills()
}

// Pids lists the host pids of the sandbox's processes.
func (s *localSandbox) Pids() []int {
	if s.group == nil {
		return nil
	}
	return s.group.pids()
}

// kill ends every process: bwrap (its pid namespace dies with it) and then
// anything the cgroup still holds.
func (s *localSandbox) kill() error {
	_ = s.client.Close()
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	var err error
	if s.group != nil {
		err = s.group.kill(5 * time.Second)
	}
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("bwrap did not exit"))
	}
	return err
}

func (s *localSandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	err := s.kill()
	if s.group != nil {
		waitClosed(s.threadOut)
		err = errors.Join(err, s.group.remove())
	}
	return err
}

// waitClosed waits for ch to close; a nil ch is closed.
func waitClosed(ch <-chan struct{}) {
	if ch != nil {
		<-ch
	}
}

func (s *localSandbox) Destroy(ctx context.Context) error {
	err := s.Stop(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return err
	}
	s.destroyed = true
	return errors.Join(err, os.RemoveAll(s.spec.WorkspaceDir), os.RemoveAll(s.stateDir))
}

// oPath is O_PATH (absent from package syscall): a handle that names a file
// without opening it for reading, enough to bind-mount it by descriptor.
const oPath = 0x200000
