package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// Builtin is a subcommand of the hangar binary that the agent, being that
// binary, runs in its own process when asked to exec it: `exec
// /run/hangar/agent <name> args...` then costs a goroutine instead of
// starting a second Go program inside the sandbox (about 10 ms on a small
// machine, and its own heap). The server's in-sandbox worker (`worker
// --item`) is one.
//
// It gets what a process would (Process); ctx ends when the command is
// signalled or times out. It returns the exit code. It must not touch
// process-wide state (working directory, environment, signals) and must
// end the goroutines it starts: the agent outlives it.
type Builtin func(ctx context.Context, p Process) int

// Process is what a builtin gets in place of a process's own.
type Process struct {
	Args []string // after the builtin's name
	Env  []string // the environment the command would have had
	// Stdin is nil when the request has none.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Shell, when not nil, is the agent's own bash tool (the toolset's
	// persistent shell, started with the agent and the sandbox's
	// environment, which is then Env), shared one call at a time with the
	// agent's tool calls; closing it is a no-op. A worker that uses it
	// starts no shell of its own, and the sandbox keeps one shell whose
	// state (directory, variables) lasts as long as the sandbox.
	Shell anthropic.BetaTool
}

var (
	builtinMu sync.Mutex
	builtins  = map[string]Builtin{}
	// running counts the builtins running; idleGC, idleLimit and
	// idleProcs are the GC settings and processors the agent had before
	// the first of them started.
	running   int
	idleGC    int
	idleLimit int64
	idleProcs int
)

// builtinGC gives running builtins the runtime's default GC settings, as
// they would have as processes of their own: the agent's small heap target
// and soft memory limit (Main) suit its idle life, but would make the
// collector run again and again through a worker's work, which allocates
// far more (HTTP, JSON) than the agent ever does. Likewise the processors:
// the runtime sizes GOMAXPROCS to the sandbox's CPU limit (one, by
// default), where a process of its own would have had one more; with one,
// a worker's requests wait on the agent's own goroutines and the reverse.
// A burst on all CPUs is what the CPU limit already allows the sandbox's
// processes; it still bounds their sum over time.
func builtinGC(start bool) {
	builtinMu.Lock()
	defer builtinMu.Unlock()
	if start {
		if running++; running == 1 {
			idleGC = debug.SetGCPercent(100)
			idleLimit = debug.SetMemoryLimit(math.MaxInt64)
			if idleProcs = runtime.GOMAXPROCS(0); idleProcs < runtime.NumCPU() {
				runtime.GOMAXPROCS(min(idleProcs+1, runtime.NumCPU()))
			}
		}
		return
	}
	if running--; running == 0 {
		debug.SetGCPercent(idleGC)
		debug.SetMemoryLimit(idleLimit)
		if runtime.GOMAXPROCS(0) != idleProcs {
			runtime.GOMAXPROCS(idleProcs)
		}
	}
}

// RegisterBuiltin makes `AgentBinaryPath name ...` run fn in the agent's
// process. Call it before Main.
func RegisterBuiltin(name string, fn Builtin) {
	builtinMu.Lock()
	defer builtinMu.Unlock()
	builtins[name] = fn
}

// builtinFor is the builtin argv names, if any: argv[0] must be the hangar
// binary as every backend shows it, so any other program of that name is
// still exec'd.
func builtinFor(argv []string) Builtin {
	if len(argv) < 2 || argv[0] != sandbox.AgentBinaryPath {
		return nil
	}
	builtinMu.Lock()
	defer builtinMu.Unlock()
	return builtins[argv[1]]
}

// runBuiltin runs fn as the exec request m would run a process: the same
// started, stdout/stderr, stdin, signal, timeout and exit messages.
func (s *server) runBuiltin(m msg, fn Builtin) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		sigMu sync.Mutex
		sig   syscall.Signal
	)
	p := &proc{signal: func(sg syscall.Signal) {
		switch sg {
		case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
			sigMu.Lock()
			if sig == 0 {
				sig = sg
			}
			sigMu.Unlock()
			cancel()
		}
	}}
	p.qcond = sync.NewCond(&p.qmu)
	var stdin io.Reader
	var stdinR *io.PipeReader
	if m.Stdin {
		r, w := io.Pipe()
		p.stdin, stdin, stdinR = w, r, r
		go p.writeStdin()
	}
	env := m.Env
	var shell anthropic.BetaTool
	if env == nil {
		env = s.env
		if t, ok := s.tools["bash"]; ok {
			shell = &sharedTool{BetaTool: t, mu: &s.toolMu}
		}
	}
	s.mu.Lock()
	s.procs[m.ID] = p
	s.mu.Unlock()
	s.send(msg{ID: m.ID, Op: opStarted})

	go func() {
		defer cancel()
		builtinGC(true)
		defer builtinGC(false)
		timedOut := false
		var timer *time.Timer
		if m.TimeoutMS > 0 {
			timer = time.AfterFunc(time.Duration(m.TimeoutMS)*time.Millisecond, func() {
				sigMu.Lock()
				timedOut = true
				if sig == 0 {
					sig = syscall.SIGKILL
				}
				sigMu.Unlock()
				cancel()
			})
		}
		out := &chunkWriter{s: s, id: m.ID, op: opStdout}
		errw := &chunkWriter{s: s, id: m.ID, op: opStderr}
		code := func() (code int) {
			// A panic ends the command, not the agent and its sandbox.
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(errw, "panic: %v\n%s", r, debug.Stack())
					code = 2
				}
			}()
			return fn(ctx, Process{Args: m.Argv[2:], Env: env, Stdin: stdin, Stdout: out, Stderr: errw, Shell: shell})
		}()
		if timer != nil {
			timer.Stop()
		}
		if stdinR != nil {
			// What the builtin left unread: a write blocked on it fails,
			// and the writer ends.
			_ = stdinR.Close()
			p.queueStdin(nil, true)
		}
		s.mu.Lock()
		delete(s.procs, m.ID)
		s.mu.Unlock()
		ev := msg{ID: m.ID, Op: opExit, Code: code}
		sigMu.Lock()
		if sig != 0 {
			ev.Signal = sig.String()
			ev.Code = 128 + int(sig)
		}
		ev.TimedOut = timedOut
		sigMu.Unlock()
		s.send(ev)
	}()
}

// sharedTool is one of the agent's tools lent to a builtin: its calls take
// turns with the agent's own (toolMu), and it stays open when the builtin
// closes its tools.
type sharedTool struct {
	anthropic.BetaTool
	mu *sync.Mutex
}

func (t *sharedTool) Execute(ctx context.Context, input json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	// The lock is not context-aware: a call of the agent's in progress is
	// waited out, as the agent's own calls wait for each other.
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.BetaTool.Execute(cancelOnly{ctx}, input)
}

// cancelOnly passes on a call's cancellation and deadline but none of its
// values. The SDK's session runner puts in them the exit stack of the
// call's session thread, for which the bash tool keeps a shell of its own
// that the runner's end kills; a sandbox keeps one shell for its session,
// across workers and threads, shared with the agent's own calls.
type cancelOnly struct{ context.Context }

func (cancelOnly) Value(any) any { return nil }

func (t *sharedTool) Close() error { return nil }

// chunkWriter sends what a builtin writes as output messages.
type chunkWriter struct {
	s  *server
	id uint64
	op string
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += chunkSize {
		end := min(off+chunkSize, len(p))
		// send encodes the message before it returns: no copy needed.
		w.s.send(msg{ID: w.id, Op: w.op, Data: p[off:end]})
	}
	return len(p), nil
}
