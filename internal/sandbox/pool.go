package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// ToolboxOption configures a Toolbox.
type ToolboxOption func(*Toolbox)

// PoolIDPrefix starts the placeholder session id of every pooled sandbox;
// session ids never start with it, so a server can sweep what a crash left
// of its pool by that name.
const PoolIDPrefix = "pool-"

// WithPool keeps size sandboxes started ahead of demand, so a new session's
// first tool call does not wait for a sandbox to start. template gives the
// Spec of a pooled sandbox under a placeholder session id (PoolIDPrefix and
// a random suffix); its workspace and output directories belong to the pool
// until a session adopts them. A session gets a pooled sandbox when its
// Spec differs from the template only as CanAdopt allows and its workspace
// and outputs are still empty; any other session (resources mounted, a
// different network, files already in its workspace) starts its own. Each
// claim is refilled in the background. Size 0, or a backend that is not an
// Adopter, means no pool.
func WithPool(size int, template func(poolID string) Spec) ToolboxOption {
	return func(t *Toolbox) {
		ad, ok := t.backend.(Adopter)
		if size <= 0 || !ok || template == nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.pool = &pool{backend: t.backend, adopter: ad, size: size, template: template,
			ref: template(PoolIDPrefix + "ref"), ctx: ctx, cancel: cancel, onStart: warmUp}
	}
}

// warmUp is the default readying of a pooled sandbox: a sandbox may still
// be warming up after Create (the local one starts its persistent shell
// then); a pooled one is ready only once a tool call would not wait for
// that.
func warmUp(ctx context.Context, sb Sandbox) error {
	res, err := sb.RunTool(ctx, "bash", json.RawMessage(`{"command":":"}`))
	if err == nil && res.IsError {
		err = errors.New("warm-up bash call: " + res.Text)
	}
	return err
}

// WithPoolStart runs start in every pooled sandbox once it was created,
// before it can be claimed, instead of the default warm-up (the agent's
// persistent shell): the server starts the sandbox's worker there ahead of
// demand. An error discards the sandbox. It must follow WithPool.
func WithPoolStart(start func(ctx context.Context, sb Sandbox) error) ToolboxOption {
	return func(t *Toolbox) {
		if t.pool != nil && start != nil {
			t.pool.onStart = start
		}
	}
}

// refillDelay is how long after a claim its refill starts (pool.claim):
// past the claimant's worker handshake and a quick first tool call
// (milliseconds), short against a sandbox's start.
const refillDelay = 50 * time.Millisecond

// pool holds started sandboxes nobody has claimed yet.
type pool struct {
	// onStart readies a created sandbox: warmUp, or WithPoolStart's.
	onStart  func(ctx context.Context, sb Sandbox) error
	backend  Backend
	log      *slog.Logger
	adopter  Adopter
	size     int
	template func(poolID string) Spec
	ref      Spec // what every pooled sandbox is started with but its ids
	// ctx ends with the pool, so Close does not wait out a start.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	idle     []Sandbox
	starting int
	closed   bool
	wg       sync.WaitGroup
}

// fill starts sandboxes until the pool (ready and starting) has size.
func (p *pool) fill() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && len(p.idle)+p.starting < p.size {
		p.starting++
		p.wg.Add(1)
		go p.startOne()
	}
}

func (p *pool) startOne() {
	defer p.wg.Done()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	spec := p.template(PoolIDPrefix + hex.EncodeToString(rnd[:]))
	sb, err := p.backend.Create(p.ctx, spec)
	if err == nil {
		if err = p.onStart(p.ctx, sb); err != nil {
			_ = discard(context.Background(), sb)
			sb = nil
		}
	}
	p.mu.Lock()
	p.starting--
	closed := p.closed
	if err == nil && !closed {
		p.idle = append(p.idle, sb)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err == nil {
		_ = discard(context.Background(), sb)
		return
	}
	// A start that failed may have made the directories; they are the
	// pool's, and nobody else will remove them. The next claim tries again
	// (no retry loop here: a broken backend must not spin).
	removePoolDirs(spec)
	if !closed {
		p.log.Warn("sandbox pool: start failed", "err", err)
	}
}

// discard destroys a pooled sandbox with its directories: Destroy removes
// the workspace, but an OutputDir is the caller's, and here the caller is
// the pool. A sandbox no longer under a pool id is left its directories.
func discard(ctx context.Context, sb Sandbox) error {
	spec := sb.Handle().Spec
	err := sb.Destroy(ctx)
	if strings.HasPrefix(spec.SessionID, PoolIDPrefix) {
		removePoolDirs(spec)
	}
	return err
}

func removePoolDirs(spec Spec) {
	_ = os.RemoveAll(spec.WorkspaceDir)
	if spec.OutputDir != "" {
		_ = os.RemoveAll(spec.OutputDir)
	}
}

// claim hands a pooled sandbox over to spec's session, or returns nil when
// the session needs a sandbox of its own (or none is ready).
func (p *pool) claim(ctx context.Context, spec Spec) Sandbox {
	if p == nil || CanAdopt(p.ref, spec) != nil || !emptyDir(spec.WorkspaceDir) ||
		(spec.OutputDir != "" && !emptyDir(spec.OutputDir)) {
		return nil
	}
	p.mu.Lock()
	var sb Sandbox
	if n := len(p.idle); n > 0 && !p.closed {
		sb = p.idle[n-1]
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	if sb == nil {
		p.fill()
		return nil
	}
	// The refill starts a moment later: a sandbox's start competes for
	// the CPU with the claimant's first moments (its worker's handshake, a
	// first tool call), and on cgroup v1 its thread migrations hold up
	// every fork on the host, that call's included. Only a later claim
	// needs the new sandbox. (Nothing claimed: nobody to yield to.)
	time.AfterFunc(refillDelay, p.fill)
	got, err := p.adopter.Adopt(ctx, sb, spec)
	if err != nil {
		// Its directories may be half-moved or its processes gone: it
		// serves nobody now, and the session starts its own.
		p.log.Debug("sandbox pool: adopt failed", "session", spec.SessionID, "err", err)
		go func() { _ = discard(context.Background(), sb) }()
		return nil
	}
	p.log.Debug("sandbox pool: adopted", "session", spec.SessionID)
	return got
}

// ready is how many pooled sandboxes wait to be claimed.
func (p *pool) ready() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// close destroys every pooled sandbox, waiting for those still starting.
func (p *pool) close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	p.cancel()
	errs := make([]error, len(idle))
	var wg sync.WaitGroup
	for i, sb := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = discard(ctx, sb) }()
	}
	wg.Wait()
	p.wg.Wait()
	return errors.Join(errs...)
}

// emptyDir reports whether dir is absent or an empty directory: only then
// may a pooled workspace take its place.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return err == io.EOF
}
