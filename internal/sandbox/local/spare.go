package local

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// spare is the cgroup of the next sandbox, made ahead of demand: creating
// a sandbox's cgroup, and on v1 moving the starting thread into it (a
// migration costs the kernel milliseconds per controller), depends on
// nothing but the limits, so the backend keeps one ready and a new
// sandbox's start goes straight to bubblewrap. On v1 a goroutine holds an
// OS thread parked inside the group; the sandbox is started from that
// thread, which then returns to the server's own cgroups.
type spare struct {
	id string
	// dir is its state directory, the started sandbox's.
	dir    string
	g      *group
	limits sandbox.Limits
	// v1: start runs a function on the thread inside g and answers on
	// done; closing quit instead releases the thread.
	start chan func() error
	done  chan error
	quit  chan struct{}
	// left closes once the thread is back in the server's cgroups.
	left chan struct{}
}

// takeSpare hands over the ready spare when it was made for limits, and
// has the next one made in the background; nil: the caller makes its own
// group.
func (b *Backend) takeSpare(limits sandbox.Limits) *spare {
	if b.cg.version == 0 {
		return nil
	}
	b.spareMu.Lock()
	sp := b.spare
	b.spare = nil
	closed := b.closed
	making := b.spareMaking
	if !closed && !making {
		b.spareMaking = true
	}
	b.spareMu.Unlock()
	if !closed && !making {
		go b.makeSpare(limits)
	}
	if sp != nil && sp.limits != limits {
		sp.discard()
		return nil
	}
	return sp
}

// makeSpare prepares the next spare.
func (b *Backend) makeSpare(limits sandbox.Limits) {
	sp, err := b.newSpare(limits)
	b.spareMu.Lock()
	b.spareMaking = false
	if err != nil || b.closed || b.spare != nil {
		b.spareMu.Unlock()
		if err != nil {
			b.log.Debug("local sandbox: prepare a cgroup ahead", "err", err)
		} else {
			sp.discard()
		}
		return
	}
	b.spare = sp
	b.spareMu.Unlock()
}

func (b *Backend) newSpare(limits sandbox.Limits) (*spare, error) {
	id := newID()
	dir := filepath.Join(b.cfg.StateDir, id)
	// The state directory first: the sweep at the next start finds a spare
	// a crash left by it, and removes it with its cgroup.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	g, err := b.cg.create(id, limits.MemoryBytes, limits.Pids, limits.CPUs)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	sp := &spare{id: id, dir: dir, g: g, limits: limits}
	if g.Version != 1 {
		return sp, nil
	}
	sp.start, sp.done, sp.quit, sp.left = make(chan func() error), make(chan error, 1), make(chan struct{}), make(chan struct{})
	joined := make(chan error, 1)
	go func() {
		defer close(sp.left)
		runtime.LockOSThread()
		tid := strconv.Itoa(syscall.Gettid())
		var err error
		for _, p := range g.Paths {
			if err = os.WriteFile(filepath.Join(p, "tasks"), []byte(tid), 0); err != nil {
				break
			}
		}
		joined <- err
		if err == nil {
			select {
			case fn := <-sp.start:
				sp.done <- fn()
			case <-sp.quit:
			}
		}
		if rerr := b.cg.restoreThread(tid); rerr != nil {
			// Locked, the thread ends with this goroutine rather than
			// serve the server from inside a sandbox's cgroup.
			return
		}
		runtime.UnlockOSThread()
	}()
	if err := <-joined; err != nil {
		_ = g.remove()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return sp, nil
}

// run starts a process inside the spare's group: startFn as for
// cgroups.start.
func (sp *spare) run(startFn func(cgroupFD int) error) error {
	if sp.g.Version == 2 {
		return (&cgroups{}).start(sp.g, startFn)
	}
	sp.start <- func() error { return startFn(-1) }
	return <-sp.done
}

// discard releases a spare nobody will use: its thread goes back, its
// group and state directory are removed.
func (sp *spare) discard() {
	if sp.quit != nil {
		close(sp.quit)
		<-sp.left
	}
	_ = sp.g.remove()
	_ = os.RemoveAll(sp.dir)
}

// closeSpare discards the ready spare and makes no more.
func (b *Backend) closeSpare() {
	b.spareMu.Lock()
	b.closed = true
	sp := b.spare
	b.spare = nil
	b.spareMu.Unlock()
	if sp != nil {
		sp.discard()
	}
}

func newID() string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return "sbx_" + hex.EncodeToString(rnd[:])
}
