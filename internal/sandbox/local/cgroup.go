package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const cgroupRoot = "/sys/fs/cgroup"

// v1Controllers are the hierarchies a sandbox joins on cgroup v1.
var v1Controllers = []string{"memory", "pids", "cpu"}

// cgroups is the host's cgroup layout, found once per backend.
type cgroups struct {
	version int // 2, 1, or 0 when neither is usable
	// v2: the parent directory sandboxes are created under.
	parent string
	// v1: per controller, the parent directory and the directory this
	// process lives in (threads return there after starting a sandbox).
	v1Parent map[string]string
	v1Own    map[string]string
}

// detectCgroups finds a usable hierarchy and creates Hangar's parent in it:
// v2 when the unified hierarchy is mounted at /sys/fs/cgroup, else v1 with
// the memory, pids and cpu controllers. parent overrides the v2 parent.
func detectCgroups(parent string) (*cgroups, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		if parent == "" {
			parent = filepath.Join(cgroupRoot, "hangar")
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		// Delegate the controllers down the path from the root, as v2 only
		// lets a cgroup use what its parent enabled in subtree_control.
		rel, err := filepath.Rel(cgroupRoot, parent)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("cgroup parent %s is not under %s", parent, cgroupRoot)
		}
		dir := cgroupRoot
		for _, part := range append([]string{""}, strings.Split(rel, "/")...) {
			dir = filepath.Join(dir, part)
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0); err != nil {
				return nil, fmt.Errorf("cgroup v2: enable controllers in %s: %w", dir, err)
			}
		}
		return &cgroups{version: 2, parent: parent}, nil
	}
	own, err := ownV1Cgroups()
	if err != nil {
		return &cgroups{}, nil
	}
	c := &cgroups{version: 1, v1Parent: map[string]string{}, v1Own: map[string]string{}}
	for _, ctl := range v1Controllers {
		mnt := filepath.Join(cgroupRoot, ctl)
		if _, err := os.Stat(filepath.Join(mnt, "cgroup.procs")); err != nil {
			return &cgroups{}, nil
		}
		rel, ok := own[ctl]
		if !ok {
			return &cgroups{}, nil
		}
		c.v1Own[ctl] = filepath.Join(mnt, rel)
		// Under this process's own cgroup, so whatever limits the server
		// runs under also bound its sandboxes.
		p := filepath.Join(mnt, rel, "hangar")
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup v1 %s: %w", ctl, err)
		}
		c.v1Parent[ctl] = p
	}
	return c, nil
}

// ownV1Cgroups maps each v1 controller to this process's cgroup path.
func ownV1Cgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			out[ctl] = parts[2]
		}
	}
	return out, sc.Err()
}

// group is one sandbox's cgroup(s).
type group struct {
	Version int      `json:"version"`
	Paths   []string `json:"paths"` // v2: one; v1: one per controller, memory first
}

// create makes the sandbox's cgroup(s) and applies the limits.
func (c *cgroups) create(name string, mem, pids int64, cpus float64) (*group, error) {
	g := &group{Version: c.version}
	switch c.version {
	case 2:
		p := filepath.Join(c.parent, name)
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		g.Paths = []string{p}
		w := func(file, v string) error { return os.WriteFile(filepath.Join(p, file), []byte(v), 0) }
		var err error
		if mem > 0 {
			err = errors.Join(w("memory.max", strconv.FormatInt(mem, 10)), ignoreMissing(w("memory.swap.max", "0")))
		}
		if err == nil && pids > 0 {
			err = w("pids.max", strconv.FormatInt(pids, 10))
		}
		if err == nil && cpus > 0 {
			err = w("cpu.max", fmt.Sprintf("%d 100000", int64(cpus*100000)))
		}
		if err != nil {
			g.remove()
			return nil, err
		}
		return g, nil
	case 1:
		for _, ctl := range v1Controllers {
			p := filepath.Join(c.v1Parent[ctl], name)
			if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				g.remove()
				return nil, err
			}
			g.Paths = append(g.Paths, p)
		}
		w := func(i int, file, v string) error {
			return os.WriteFile(filepath.Join(g.Paths[i], file), []byte(v), 0)
		}
		var err error
		if mem > 0 {
			// memsw (memory+swap) must not be below the memory limit, so it
			// is written second; it is absent without swap accounting.
			err = errors.Join(w(0, "memory.limit_in_bytes", strconv.FormatInt(mem, 10)),
				ignoreMissing(w(0, "memory.memsw.limit_in_bytes", strconv.FormatInt(mem, 10))))
		}
		if err == nil && pids > 0 {
			err = w(1, "pids.max", strconv.FormatInt(pids, 10))
		}
		if err == nil && cpus > 0 {
			err = errors.Join(w(2, "cpu.cfs_period_us", "100000"), w(2, "cpu.cfs_quota_us", strconv.FormatInt(int64(cpus*100000), 10)))
		}
		if err != nil {
			g.remove()
			return nil, err
		}
		return g, nil
	}
	return nil, errors.New("no usable cgroup hierarchy")
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// start runs startFn so that the process it starts begins life inside g,
// before it can fork: on v2 through clone3(CLONE_INTO_CGROUP) (the caller
// passes the returned fd in SysProcAttr), on v1 by moving the starting
// thread into g for the duration of the fork, since a child inherits the
// cgroups of the thread that forked it.
func (c *cgroups) start(g *group, startFn func(cgroupFD int) error) error {
	if g == nil {
		return startFn(-1)
	}
	if g.Version == 2 {
		fd, err := syscall.Open(g.Paths[0], syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		return startFn(fd)
	}
	runtime.LockOSThread()
	tid := strconv.Itoa(syscall.Gettid())
	for _, p := range g.Paths {
		if err := os.WriteFile(filepath.Join(p, "tasks"), []byte(tid), 0); err != nil {
			c.restoreThread(tid)
			runtime.UnlockOSThread()
			return fmt.Errorf("cgroup v1: join %s: %w", p, err)
		}
	}
	err := startFn(-1)
	if rerr := c.restoreThread(tid); rerr != nil {
		// Leave the thread locked: Go destroys a thread whose goroutine
		// exits locked, so it cannot go on serving the server from inside
		// a sandbox's cgroup.
		return errors.Join(err, rerr)
	}
	runtime.UnlockOSThread()
	return err
}

func (c *cgroups) restoreThread(tid string) error {
	var errs []error
	for _, ctl := range v1Controllers {
		if err := os.WriteFile(filepath.Join(c.v1Own[ctl], "tasks"), []byte(tid), 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setWeight gives the group the lowest CPU weight (low) or the default
// one. Best effort: a weight only orders sandboxes competing for the CPU.
func (g *group) setWeight(low bool) {
	if g == nil || len(g.Paths) == 0 {
		return
	}
	switch g.Version {
	case 2:
		w := "100"
		if low {
			w = "1"
		}
		_ = os.WriteFile(filepath.Join(g.Paths[0], "cpu.weight"), []byte(w), 0)
	case 1:
		w := "1024"
		if low {
			w = "2"
		}
		_ = os.WriteFile(filepath.Join(g.Paths[2], "cpu.shares"), []byte(w), 0)
	}
}

// procsFile lists every process of the group.
func (g *group) procsFile() string {
	if g.Version == 2 {
		return filepath.Join(g.Paths[0], "cgroup.procs")
	}
	return filepath.Join(g.Paths[1], "cgroup.procs") // pids hierarchy
}

// pids returns the processes in the group. This process is never one of
// them: on v1 a thread of it may still be in the group for a moment after
// starting the sandbox from inside (spare.go), and leaves on its own.
func (g *group) pids() []int {
	b, err := os.ReadFile(g.procsFile())
	if err != nil {
		return nil
	}
	var out []int
	self := os.Getpid()
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil && n != self {
			out = append(out, n)
		}
	}
	return out
}

// kill SIGKILLs every process in the group until none is left.
func (g *group) kill(timeout time.Duration) error {
	if g == nil || len(g.Paths) == 0 {
		return nil
	}
	if g.Version == 2 {
		_ = os.WriteFile(filepath.Join(g.Paths[0], "cgroup.kill"), []byte("1"), 0)
	}
	deadline := time.Now().Add(timeout)
	for {
		ps := g.pids()
		if len(ps) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes survived SIGKILL", g.Paths[0], len(ps))
		}
		for _, p := range ps {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// remove deletes the group's directories (they must be empty of processes).
func (g *group) remove() error {
	if g == nil {
		return nil
	}
	var errs []error
	for _, p := range g.Paths {
		if err := syscall.Rmdir(p); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// memory returns the group's current memory charge in bytes.
func (g *group) memory() (int64, error) {
	file := filepath.Join(g.Paths[0], "memory.current")
	if g.Version == 1 {
		file = filepath.Join(g.Paths[0], "memory.usage_in_bytes")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// oomKills reports how many processes the memory limit killed.
func (g *group) oomKills() int64 {
	if g.Version == 2 {
		b, _ := os.ReadFile(filepath.Join(g.Paths[0], "memory.events"))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	b, _ := os.ReadFile(filepath.Join(g.Paths[0], "memory.oom_control"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
