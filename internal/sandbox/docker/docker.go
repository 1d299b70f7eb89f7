// Package docker is the sandbox backend that runs one Docker container per
// session through the Docker Engine API (the moby client). A container shows
// a Debian root filesystem read-only (the image scripts/build-sandbox-image
// makes from Debian packages, no registry needed), /workspace and
// /mnt/session/outputs read-write, file resources and the Hangar agent
// binary read-only, a private /tmp, no capabilities, no_new_privs, and the
// memory, pids and CPU limits of its Spec.
//
// The agent (package agent) is started with `docker exec` and speaks its
// control protocol over the exec's attached stdin/stdout, which a shell
// moves to fds 3/4 before exec'ing it. Nothing of the channel exists in the
// container's filesystem (a socket in a bind-mounted directory would be
// reachable by every sandbox process running as the same uid), and because
// the container's pid 1 is tini, not the agent, the container outlives the
// server: Recover execs a fresh agent into a container that still runs
// (Capabilities().Reattach), keeping /tmp and background processes, and
// re-creates the container around the workspace when it is gone.
package docker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// Name is the backend's name in handles and configuration.
const Name = "docker"

// DefaultImage is what scripts/build-sandbox-image builds.
const DefaultImage = "hangar-sandbox:bookworm"

const (
	agentPath = "/run/hangar/agent"
	// The sandbox identity, as on the local backend; the image names it.
	sandboxUID  = 1000
	sandboxUser = "1000:1000"
	// Labels tie a container to the sandbox it serves; Recover trusts a
	// container only when they match the handle.
	labelSandbox = "dev.hangar.sandbox"
	labelSession = "dev.hangar.session"
	labelSpec    = "dev.hangar.spec"
)

// LabelOwner marks every container with the backend's StateDir, so a server
// sweeps only its own containers, never another server's on the same daemon.
const LabelOwner = "dev.hangar.owner"

// Config configures the backend.
type Config struct {
	// StateDir holds per-sandbox state (default outputs). Required.
	StateDir string
	// Image is the sandbox image; default DefaultImage.
	Image string
	// Host is the Docker daemon address; default: DOCKER_HOST or the
	// local socket.
	Host string
	// AgentPath is the binary run as the in-sandbox agent and AgentArgs its
	// arguments; default: sandbox.DefaultAgent. It must run
	// on the image's libc (the default image is Debian bookworm).
	AgentPath string
	AgentArgs []string
	// Runtime is an OCI runtime other than the daemon's default (runsc…).
	Runtime string
	Logger  *slog.Logger
}

// Backend is the docker backend.
type Backend struct {
	cfg Config
	cli *client.Client
	log *slog.Logger
}

// New connects to the daemon and checks the image. An unreachable daemon or
// a missing image give an error wrapping sandbox.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("docker sandbox: StateDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.AgentPath == "" {
		var err error
		if cfg.AgentPath, cfg.AgentArgs, err = sandbox.DefaultAgent(); err != nil {
			return nil, err
		}
		cfg.Logger.Info("sandbox agent", "program", cfg.AgentPath, "args", cfg.AgentArgs)
	}
	p, err := filepath.EvalSymlinks(cfg.AgentPath)
	if err != nil {
		return nil, fmt.Errorf("docker sandbox: agent binary: %w", err)
	}
	cfg.AgentPath = p
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: docker client: %v", sandbox.ErrUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: docker daemon not reachable (run scripts/start-docker): %v", sandbox.ErrUnavailable, err)
	}
	if _, err := cli.ImageInspect(pctx, cfg.Image); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w: image %s: %v (run scripts/build-sandbox-image)", sandbox.ErrUnavailable, cfg.Image, err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		cli.Close()
		return nil, err
	}
	// The owner label compares paths: one spelling per directory.
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		cli.Close()
		return nil, err
	}
	return &Backend{cfg: cfg, cli: cli, log: cfg.Logger}, nil
}

// Close releases the client (not the sandboxes, which outlive it).
func (b *Backend) Close() error { return b.cli.Close() }

// Capabilities implements sandbox.Backend.
func (b *Backend) Capabilities() sandbox.Capabilities {
	return sandbox.Capabilities{
		Backend:      Name,
		Reattach:     true,
		NetworkModes: []sandbox.NetworkMode{sandbox.NetworkNone, sandbox.NetworkHost},
		Limits:       []string{"memory", "pids", "cpu"},
	}
}

// state is the backend's part of a Handle. Recover does not trust it: the
// container is found by the name derived from the sandbox id.
type state struct {
	ContainerID string `json:"container_id"`
	StateDir    string `json:"state_dir"`
}

func containerName(id string) string { return "hangar-" + id }

// specHash names a Spec in a container label, so Recover re-attaches only to
// a container made for exactly that Spec.
func specHash(s sandbox.Spec) string {
	raw, _ := json.Marshal(s)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// Create implements sandbox.Backend.
func (b *Backend) Create(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return b.start(ctx, "sbx_"+hex.EncodeToString(rnd[:]), spec)
}

// checkHandle validates a handle before anything it names is touched.
func checkHandle(h sandbox.Handle) error {
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
	return nil
}

// validID accepts only ids this backend mints: they name a container and a
// state directory, so nothing else may get through.
func validID(id string) bool {
	if len(id) < 5 || !strings.HasPrefix(id, "sbx_") || len(id) > 64 {
		return false
	}
	for _, c := range id[4:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Recover implements sandbox.Backend: a container still running for this
// sandbox and spec gets a fresh agent; otherwise whatever is left is removed
// and a new container starts around the same workspace, under the same id.
func (b *Backend) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	if err := checkHandle(h); err != nil {
		return nil, err
	}
	name := containerName(h.ID)
	ins, err := b.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	switch {
	case err == nil:
		c := ins.Container
		if c.State != nil && c.State.Running && c.Config != nil &&
			c.Config.Labels[labelSandbox] == h.ID && c.Config.Labels[labelSpec] == specHash(h.Spec) {
			s := b.newSandbox(h.ID, h.Spec, c.ID, filepath.Join(b.cfg.StateDir, h.ID))
			if err := s.attach(ctx); err == nil {
				return s, nil
			} else {
				b.log.Warn("docker sandbox: reattach failed; re-creating", "sandbox", h.ID, "err", err)
			}
		}
	case cerrdefs.IsNotFound(err):
	default:
		return nil, fmt.Errorf("docker sandbox: inspect %s: %w", name, err)
	}
	return b.start(ctx, h.ID, h.Spec)
}

// Discard implements sandbox.Discarder: the container the handle names (if
// it is this sandbox's), its state and its workspace are removed.
func (b *Backend) Discard(ctx context.Context, h sandbox.Handle) error {
	if err := checkHandle(h); err != nil {
		return err
	}
	name := containerName(h.ID)
	ins, err := b.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("docker sandbox: inspect %s: %w", name, err)
	case ins.Container.Config != nil && ins.Container.Config.Labels[labelSandbox] == h.ID:
		s := b.newSandbox(h.ID, h.Spec, ins.Container.ID, filepath.Join(b.cfg.StateDir, h.ID))
		if err := s.removeContainer(ctx); err != nil {
			return err
		}
	}
	return errors.Join(os.RemoveAll(h.Spec.WorkspaceDir), os.RemoveAll(filepath.Join(b.cfg.StateDir, h.ID)))
}

// Sweep implements sandbox.Sweeper: containers this backend started (its
// StateDir in their owner label) and per-sandbox state directories whose
// sandbox keep refuses are removed. Containers of other servers on the same
// daemon carry another owner and are never touched.
func (b *Backend) Sweep(ctx context.Context, keep func(sandboxID string) bool) error {
	list, err := b.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", LabelOwner+"="+b.cfg.StateDir)})
	if err != nil {
		return fmt.Errorf("docker sandbox: list containers: %w", err)
	}
	var errs []error
	for _, c := range list.Items {
		if c.Labels[LabelOwner] != b.cfg.StateDir || keep(c.Labels[labelSandbox]) {
			continue
		}
		b.log.Info("docker sandbox: removing orphaned container", "sandbox", c.Labels[labelSandbox], "session", c.Labels[labelSession])
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := b.cli.ContainerRemove(rctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("docker sandbox: remove %s: %w", c.ID, err))
		}
	}
	ents, err := os.ReadDir(b.cfg.StateDir)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range ents {
		if validID(e.Name()) && !keep(e.Name()) {
			errs = append(errs, os.RemoveAll(filepath.Join(b.cfg.StateDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// RemoveOwned removes every container that a backend with this StateDir
// started, whatever its sandbox: for tests, whose servers stop gracefully
// (leaving their containers for a restart that will not come) and whose
// data directories then go away.
func RemoveOwned(ctx context.Context, stateDir string) error {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	b := &Backend{cfg: Config{StateDir: abs}, cli: cli, log: slog.New(slog.DiscardHandler)}
	return b.Sweep(ctx, func(string) bool { return false })
}

// openDir makes dir (and parents) for the sandbox identity and opens it
// without following a symlink, so a link planted in its place is refused.
func openDir(dir string) (*os.File, error) {
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
	// Container processes are uid 1000 on the host too (no user namespace).
	if os.Geteuid() == 0 {
		if err := os.Chown(fdPath(f), sandboxUID, sandboxUID); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// bindSource is the path the daemon binds for an open file: its canonical
// path as the kernel resolved it at open time, free of symlinks. (The
// /proc/<pid>/fd magic link itself cannot be bound: runc mounts from the
// container's mount namespace, where it names a foreign mount.) The files
// are opened O_NOFOLLOW and their parents are the server's own directories,
// so a link planted by a sandbox cannot redirect the bind.
func bindSource(f *os.File) (string, error) {
	p, err := os.Readlink(fdPath(f))
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) || strings.HasSuffix(p, " (deleted)") {
		return "", fmt.Errorf("%s: not a bindable path (%s)", f.Name(), p)
	}
	return p, nil
}

// readableBySandbox: can uid/gid 1000 read the file?
func readableBySandbox(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	m := fi.Mode().Perm()
	return m&0o004 != 0 || st.Uid == sandboxUID && m&0o400 != 0 || st.Gid == sandboxUID && m&0o040 != 0
}

// privateCopy copies the open file f to dst, readable by the sandbox only.
func privateCopy(f *os.File, dst string) (string, error) {
	src, err := os.Open(fdPath(f))
	if err != nil {
		return "", err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o711); err != nil {
		return "", err
	}
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o400)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, src)
	if err == nil && os.Geteuid() == 0 {
		err = out.Chown(sandboxUID, sandboxUID)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return dst, nil
}

func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

func (b *Backend) start(ctx context.Context, id string, spec sandbox.Spec) (_ sandbox.Sandbox, err error) {
	stateDir := filepath.Join(b.cfg.StateDir, id)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	var files []*os.File // kept open until the container started
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	ws, err := openDir(spec.WorkspaceDir)
	if err != nil {
		return nil, fmt.Errorf("workspace_dir: %w", err)
	}
	files = append(files, ws)
	outDir := spec.OutputDir
	if outDir == "" {
		outDir = filepath.Join(stateDir, "outputs")
	}
	out, err := openDir(outDir)
	if err != nil {
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	files = append(files, out)
	wsSrc, err := bindSource(ws)
	if err != nil {
		return nil, fmt.Errorf("workspace_dir: %w", err)
	}
	outSrc, err := bindSource(out)
	if err != nil {
		return nil, fmt.Errorf("output_dir: %w", err)
	}
	mounts := []mount.Mount{
		{Type: mount.TypeBind, Source: wsSrc, Target: sandbox.WorkspacePath},
		{Type: mount.TypeBind, Source: outSrc, Target: sandbox.OutputsPath},
		{Type: mount.TypeBind, Source: b.cfg.AgentPath, Target: agentPath, ReadOnly: true},
		// Docker mounts the host's sysfs (read-only) by default; the local
		// backend shows none, so neither does this one.
		{Type: mount.TypeTmpfs, Target: "/sys", ReadOnly: true, TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 4096, Mode: 0o555}},
	}
	for i, m := range spec.Mounts {
		// O_NOFOLLOW: a resource that is a symlink (to /etc/shadow, say)
		// is refused, not followed; its parents are the server's own.
		f, err := os.OpenFile(m.Source, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
		}
		files = append(files, f)
		fi, err := f.Stat()
		if err != nil || !(fi.Mode().IsRegular() || fi.IsDir()) {
			return nil, fmt.Errorf("mounts[%d].source: not a regular file or directory", i)
		}
		src, err := bindSource(f)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
		}
		if fi.Mode().IsRegular() && !readableBySandbox(fi) {
			// Without a user namespace the sandbox reads as host uid 1000;
			// a file only the server may read is shown as a private copy
			// rather than by loosening the server's own file.
			if src, err = privateCopy(f, filepath.Join(stateDir, "mounts", strconv.Itoa(i))); err != nil {
				return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
			}
		}
		if m.Writable {
			if !fi.IsDir() {
				return nil, fmt.Errorf("mounts[%d].source: a writable mount must be a directory", i)
			}
			// Container processes are uid 1000 on the host too.
			if os.Geteuid() == 0 && !m.KeepOwners {
				if err := sandbox.ChownTree(m.Source, sandboxUID, sandboxUID); err != nil {
					return nil, fmt.Errorf("mounts[%d].source: %w", i, err)
				}
			}
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: m.Target, ReadOnly: !m.Writable,
			BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}})
	}

	if spec.EgressDir != "" {
		// Not openDir: the directory stays the server's (uid 1000 only
		// needs to search it and connect to the socket).
		f, err := os.OpenFile(spec.EgressDir, oPath|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("egress_dir: %w", err)
		}
		files = append(files, f)
		src, err := bindSource(f)
		if err != nil {
			return nil, fmt.Errorf("egress_dir: %w", err)
		}
		// Read-only: connecting to the socket needs no write access to
		// the mount, and the sandbox must not swap its socket or CA.
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: sandbox.EgressPath, ReadOnly: true,
			BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}})
	}

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
	res := container.Resources{}
	if spec.Limits.MemoryBytes > 0 {
		res.Memory = spec.Limits.MemoryBytes
		res.MemorySwap = spec.Limits.MemoryBytes // no swap beyond the limit
	}
	if spec.Limits.Pids > 0 {
		p := spec.Limits.Pids
		res.PidsLimit = &p
	}
	if spec.Limits.CPUs > 0 {
		res.NanoCPUs = int64(spec.Limits.CPUs * 1e9)
	}
	netMode := container.NetworkMode("none")
	if spec.Network == sandbox.NetworkHost {
		netMode = "host"
	}
	name := containerName(id)
	// A container of this name is a leftover of the same sandbox (an
	// earlier run, a failed start): the new one replaces it.
	if _, err := b.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("docker sandbox: remove old %s: %w", name, err)
	}
	created, err := b.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:      b.cfg.Image,
			User:       sandboxUser,
			Hostname:   "sandbox",
			Env:        agent.EnvList(env),
			WorkingDir: sandbox.WorkspacePath,
			// tini reaps what commands orphan; its child only idles (and is
			// not `sleep`, which commands in the sandbox may look for).
			Entrypoint: []string{"/usr/bin/tini", "--"},
			Cmd:        []string{"/usr/bin/tail", "-f", "/dev/null"},
			Labels:     map[string]string{labelSandbox: id, labelSession: spec.SessionID, labelSpec: specHash(spec), LabelOwner: b.cfg.StateDir},
		},
		HostConfig: &container.HostConfig{
			Mounts:         mounts,
			NetworkMode:    netMode,
			IpcMode:        container.IPCModePrivate,
			ReadonlyRootfs: true,
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777"},
			Resources:      res,
			// The control channel and command output would otherwise be
			// logged by the daemon, unbounded.
			LogConfig: container.LogConfig{Type: "none"},
			Runtime:   b.cfg.Runtime,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("docker sandbox: create: %w", err)
	}
	s := b.newSandbox(id, spec, created.ID, stateDir)
	defer func() {
		if err != nil {
			_ = s.removeContainer(context.WithoutCancel(ctx))
		}
	}()
	if _, err := b.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("docker sandbox: start: %w", err)
	}
	if err := s.attach(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (b *Backend) newSandbox(id string, spec sandbox.Spec, containerID, stateDir string) *dockerSandbox {
	return &dockerSandbox{b: b, id: id, spec: spec, containerID: containerID, stateDir: stateDir, stderr: sandbox.NewTailBuffer(8 << 10)}
}

type dockerSandbox struct {
	b           *Backend
	id          string
	spec        sandbox.Spec
	containerID string
	stateDir    string
	stderr      *sandbox.TailBuffer
	client      *agent.Client
	conn        io.Closer

	mu        sync.Mutex
	stopped   bool
	destroyed bool
}

// agentCmd moves the exec's stdin/stdout to the agent's control fds 3/4 and
// sends its own stdout to stderr, which stays a diagnostics stream.
func (b *Backend) agentCmd() []string {
	return append([]string{"/bin/sh", "-c", `exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2`, agentPath}, b.cfg.AgentArgs...)
}

// attach starts an agent in the running container and waits until it
// answers.
func (s *dockerSandbox) attach(ctx context.Context) error {
	b := s.b
	ex, err := b.cli.ExecCreate(ctx, s.containerID, client.ExecCreateOptions{
		User: sandboxUser, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		WorkingDir: sandbox.WorkspacePath, Cmd: b.agentCmd(),
	})
	if err != nil {
		return fmt.Errorf("docker sandbox: exec agent: %w", err)
	}
	hj, err := b.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("docker sandbox: attach agent: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, s.stderr, hj.Reader)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	s.conn = hjCloser{hj.HijackedResponse}
	s.client = agent.NewClient(pr, hjWriter{hj.HijackedResponse})
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.client.Ready(rctx); err != nil {
		_ = s.client.Close()
		hj.Close()
		return fmt.Errorf("docker sandbox: agent did not start: %v: %s", err, s.stderr.String())
	}
	return nil
}

// hjWriter writes requests to the exec's stdin; Close half-closes, so the
// agent reads EOF (and ends its commands) while replies still drain.
type hjWriter struct{ h client.HijackedResponse }

func (w hjWriter) Write(p []byte) (int, error) { return w.h.Conn.Write(p) }
func (w hjWriter) Close() error                { return w.h.CloseWrite() }

type hjCloser struct{ h client.HijackedResponse }

func (c hjCloser) Close() error { c.h.Close(); return nil }

func (s *dockerSandbox) ID() string { return s.id }

func (s *dockerSandbox) Handle() sandbox.Handle {
	raw, _ := json.Marshal(state{ContainerID: s.containerID, StateDir: s.stateDir})
	return sandbox.Handle{Version: sandbox.HandleVersion, Backend: Name, ID: s.id, Spec: s.spec, State: raw}
}

// Exec, PutFile, GetFile and RunTool go over the agent's control channel,
// which refuses them with sandbox.ErrClosed once Stop, Detach or Destroy
// closed it.
func (s *dockerSandbox) Exec(ctx context.Context, req sandbox.ExecRequest) (sandbox.Process, error) {
	return s.client.Exec(ctx, req, s.spec.Timeout)
}

func (s *dockerSandbox) PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	return s.client.PutFile(ctx, path, r, mode)
}

func (s *dockerSandbox) GetFile(ctx context.Context, path string, w io.Writer) error {
	return s.client.GetFile(ctx, path, w)
}

func (s *dockerSandbox) RunTool(ctx context.Context, name string, input json.RawMessage) (sandbox.ToolResult, error) {
	return s.client.RunTool(ctx, name, input)
}

// Pids lists the host pids of the container's processes.
func (s *dockerSandbox) Pids() []int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	top, err := s.b.cli.ContainerTop(ctx, s.containerID, client.ContainerTopOptions{})
	if err != nil {
		return nil
	}
	col := -1
	for i, t := range top.Titles {
		if t == "PID" {
			col = i
		}
	}
	if col < 0 {
		return nil
	}
	var pids []int
	for _, p := range top.Processes {
		if col < len(p) {
			if n, err := strconv.Atoi(p[col]); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// removeContainer kills every process of the sandbox (its pid namespace
// dies with the container) and removes the container.
func (s *dockerSandbox) removeContainer(ctx context.Context) error {
	if s.client != nil {
		_ = s.client.Close()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := s.b.cli.ContainerRemove(ctx, s.containerID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker sandbox: remove %s: %w", s.containerID, err)
	}
	return nil
}

func (s *dockerSandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	return s.removeContainer(ctx)
}

// Detach implements sandbox.Detacher: the control channel closes (the
// agent ends with it, and with it the commands it runs and its tool shell)
// but the container keeps running with its /tmp, files and the processes
// started in the background, for a later Recover to reattach to.
func (s *dockerSandbox) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	if s.client != nil {
		_ = s.client.Close()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	return nil
}

func (s *dockerSandbox) Destroy(ctx context.Context) error {
	err := s.Stop(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return err
	}
	s.destroyed = true
	return errors.Join(err, os.RemoveAll(s.spec.WorkspaceDir), os.RemoveAll(s.stateDir))
}

// oPath is O_PATH (absent from package syscall): names a file without
// opening it for reading, enough for the daemon to bind it.
const oPath = 0x200000
