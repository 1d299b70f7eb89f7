package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// Client is the host's end of one agent's control channel. It is safe for
// concurrent use; output is delivered to each request's writers from one
// reader goroutine, so a writer must not block for long.
type Client struct {
	w   io.WriteCloser
	wmu sync.Mutex
	// closed is set by Close: from then on every request is refused with
	// exactly sandbox.ErrClosed, whichever backend owns the channel and
	// however far its teardown has got.
	closed atomic.Bool

	mu      sync.Mutex
	nextID  uint64
	calls   map[uint64]*call
	dead    chan struct{}
	deadErr error
	ready   chan struct{}
}

type call struct {
	stdout, stderr io.Writer
	started        chan msg // exec: started
	done           chan msg // exit / result / done
}

// NewClient starts reading replies from r. Requests go to w.
func NewClient(r io.Reader, w io.WriteCloser) *Client {
	c := &Client{w: w, calls: map[uint64]*call{}, dead: make(chan struct{}), ready: make(chan struct{})}
	go c.read(r)
	return c
}

// Ready waits for the agent's first message.
func (c *Client) Ready(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-c.dead:
		return c.err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dead is closed once the channel failed or was closed.
func (c *Client) Dead() <-chan struct{} { return c.dead }

// Close ends the channel; the agent exits when it sees EOF. Requests made
// after it fail with sandbox.ErrClosed.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.w.Close()
}

func (c *Client) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadErr
}

func (c *Client) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineSize)
	readyOnce := sync.Once{}
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			c.fail(fmt.Errorf("%w: bad message from agent: %v", sandbox.ErrClosed, err))
			return
		}
		if m.Op == opReady {
			if m.Version != ProtocolVersion {
				c.fail(fmt.Errorf("%w: the sandbox agent speaks protocol %d, this server %d: it is from another build (rebuild hangar-agent with hangar)", sandbox.ErrClosed, m.Version, ProtocolVersion))
				return
			}
			readyOnce.Do(func() { close(c.ready) })
			continue
		}
		c.mu.Lock()
		k := c.calls[m.ID]
		if k != nil && (m.Op == opExit || m.Op == opResult || m.Op == opDone) {
			delete(c.calls, m.ID)
		}
		c.mu.Unlock()
		if k == nil {
			continue
		}
		switch m.Op {
		case opStdout:
			if k.stdout != nil {
				_, _ = k.stdout.Write(m.Data)
			}
		case opStderr:
			if k.stderr != nil {
				_, _ = k.stderr.Write(m.Data)
			}
		case opStarted:
			deliver(k.started, m)
		default:
			deliver(k.done, m)
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	c.fail(fmt.Errorf("%w: control channel: %v", sandbox.ErrClosed, err))
}

// deliver never blocks the reader: a confused or hostile agent repeating a
// final message must not stall every other call of the sandbox.
func deliver(ch chan msg, m msg) {
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default:
	}
}

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.dead:
		return
	default:
	}
	c.deadErr = err
	close(c.dead)
}

func (c *Client) send(m msg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return sandbox.ErrClosed
	}
	select {
	case <-c.dead:
		return c.err()
	default:
	}
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrClosed, err)
	}
	return nil
}

func (c *Client) register(k *call) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.calls[c.nextID] = k
	return c.nextID
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

// wait returns the final message of a call.
func (c *Client) wait(ctx context.Context, id uint64, ch chan msg) (msg, error) {
	select {
	case m := <-ch:
		return m, nil
	case <-c.dead:
		c.unregister(id)
		return msg{}, c.err()
	case <-ctx.Done():
		_ = c.send(msg{ID: id, Op: opCancel})
		c.unregister(id)
		return msg{}, ctx.Err()
	}
}

// EnvMap reads an environment list (KEY=value) into a map.
func EnvMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// EnvList renders an environment map in a stable order.
func EnvList(env map[string]string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Exec starts a command. The process is killed when ctx ends before it.
func (c *Client) Exec(ctx context.Context, req sandbox.ExecRequest, defTimeout time.Duration) (sandbox.Process, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("argv: required")
	}
	to := req.Timeout
	if to == 0 {
		to = defTimeout
	}
	k := &call{stdout: req.Stdout, stderr: req.Stderr, started: make(chan msg, 1), done: make(chan msg, 1)}
	id := c.register(k)
	m := msg{ID: id, Op: opExec, Argv: req.Argv, Env: EnvList(req.Env), Dir: req.Dir, Stdin: req.Stdin != nil}
	if to > 0 {
		m.TimeoutMS = max(1, to.Milliseconds())
	}
	if err := c.send(m); err != nil {
		c.unregister(id)
		return nil, err
	}
	st, err := c.wait(ctx, id, k.started)
	if err != nil {
		return nil, err
	}
	if st.Err != "" {
		c.unregister(id)
		return nil, fmt.Errorf("exec %s: %s", req.Argv[0], st.Err)
	}
	p := &process{c: c, id: id, k: k, exited: make(chan struct{})}
	go p.watch(ctx)
	if req.Stdin != nil {
		go p.feed(req.Stdin)
	}
	return p, nil
}

type process struct {
	c      *Client
	id     uint64
	k      *call
	exited chan struct{}
	st     sandbox.ExitStatus
	err    error
}

func (p *process) watch(ctx context.Context) {
	defer close(p.exited)
	for {
		select {
		case m := <-p.k.done:
			p.st = sandbox.ExitStatus{Code: m.Code, Signal: m.Signal, TimedOut: m.TimedOut}
			return
		case <-p.c.dead:
			p.err = p.c.err()
			return
		case <-ctx.Done():
			_ = p.c.send(msg{ID: p.id, Op: opSignal, Sig: int(syscall.SIGKILL)})
			ctx = context.Background()
		}
	}
}

func (p *process) feed(r io.Reader) {
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if p.c.send(msg{ID: p.id, Op: opStdin, Data: append([]byte(nil), buf[:n]...)}) != nil {
				return
			}
		}
		if err != nil {
			_ = p.c.send(msg{ID: p.id, Op: opStdinEOF})
			return
		}
		select {
		case <-p.exited:
			return
		default:
		}
	}
}

func (p *process) Signal(ctx context.Context, sig syscall.Signal) error {
	select {
	case <-p.exited:
		return errors.New("process already exited")
	default:
	}
	return p.c.send(msg{ID: p.id, Op: opSignal, Sig: int(sig)})
}

func (p *process) Wait(ctx context.Context) (sandbox.ExitStatus, error) {
	select {
	case <-p.exited:
		return p.st, p.err
	case <-ctx.Done():
		return sandbox.ExitStatus{}, ctx.Err()
	}
}

// RunTool runs one agenttoolset call.
func (c *Client) RunTool(ctx context.Context, name string, input json.RawMessage) (sandbox.ToolResult, error) {
	k := &call{done: make(chan msg, 1)}
	id := c.register(k)
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	if err := c.send(msg{ID: id, Op: opTool, Name: name, Input: input}); err != nil {
		c.unregister(id)
		return sandbox.ToolResult{}, err
	}
	m, err := c.wait(ctx, id, k.done)
	if err != nil {
		return sandbox.ToolResult{}, err
	}
	if m.Err != "" {
		return sandbox.ToolResult{}, errors.New(m.Err)
	}
	return sandbox.ToolResult{Text: m.Text, IsError: m.IsError}, nil
}

// PutFile writes a file inside the sandbox.
func (c *Client) PutFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	k := &call{done: make(chan msg, 1)}
	id := c.register(k)
	if err := c.send(msg{ID: id, Op: opPut, Path: path, Mode: uint32(mode.Perm())}); err != nil {
		c.unregister(id)
		return err
	}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := c.send(msg{ID: id, Op: opPutData, Data: buf[:n]}); err != nil {
				c.unregister(id)
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = c.send(msg{ID: id, Op: opPutEnd})
			c.unregister(id)
			return rerr
		}
		if ctx.Err() != nil {
			_ = c.send(msg{ID: id, Op: opPutEnd})
			c.unregister(id)
			return ctx.Err()
		}
	}
	if err := c.send(msg{ID: id, Op: opPutEnd}); err != nil {
		c.unregister(id)
		return err
	}
	m, err := c.wait(ctx, id, k.done)
	if err != nil {
		return err
	}
	if m.Err != "" {
		return fmt.Errorf("put %s: %s", path, m.Err)
	}
	return nil
}

// GetFile copies a regular file out of the sandbox into w.
func (c *Client) GetFile(ctx context.Context, path string, w io.Writer) error {
	k := &call{stdout: w, done: make(chan msg, 1)}
	id := c.register(k)
	if err := c.send(msg{ID: id, Op: opGet, Path: path}); err != nil {
		c.unregister(id)
		return err
	}
	m, err := c.wait(ctx, id, k.done)
	if err != nil {
		return err
	}
	if m.Err != "" {
		return fmt.Errorf("get %s: %s", path, m.Err)
	}
	return nil
}
