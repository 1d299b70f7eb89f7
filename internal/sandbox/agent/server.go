package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// Main is the agent's entry point inside a sandbox (`hangar sandbox-tool`).
// It serves the control channel on fds 3/4 until the host closes it.
func Main() int {
	// The agent idles most of its life next to up to hundreds of others: a
	// small heap target keeps its share of the sandbox memory low.
	debug.SetGCPercent(25)
	debug.SetMemoryLimit(16 << 20)
	// Non-dumpable: processes of the sandbox run as the same uid, and must
	// not reach the control pipes through /proc/<agent>/fd or ptrace.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0)
	in := os.NewFile(FDIn, "control-in")
	out := os.NewFile(FDOut, "control-out")
	if in == nil || out == nil {
		fmt.Fprintln(os.Stderr, "sandbox-tool: control channel fds 3/4 missing; this command runs only inside a Hangar sandbox")
		return 2
	}
	syscall.CloseOnExec(FDIn)
	syscall.CloseOnExec(FDOut)
	reserveThreads(12)
	env, err := startForwarder(os.Environ())
	if err != nil {
		// Without its relay the sandbox has no way out at all: say so
		// rather than start a sandbox whose network silently fails.
		fmt.Fprintln(os.Stderr, "sandbox-tool:", err)
		return 1
	}
	// Builtins (the in-sandbox worker) run in this process, and tools that
	// read its environment must see the sandbox's, as commands do.
	_ = os.Unsetenv(EnvEgressSocket)
	_ = os.Unsetenv(EnvEgressListen)
	if err := Serve(in, out, env); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-tool:", err)
		return 1
	}
	return 0
}

// reserveThreads makes the runtime create n OS threads now and keep them
// idle. The Go runtime aborts when it cannot create a thread, and a fork
// bomb in the sandbox exhausts the pids limit the agent shares with it: with
// threads in reserve the agent rides the bomb out and reports the timeout.
func reserveThreads(n int) {
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	for range n {
		go func() {
			// A locked goroutine holds its thread; unlocking hands the
			// thread back to the runtime's idle pool, where it stays.
			runtime.LockOSThread()
			started.Done()
			release.Wait()
			runtime.UnlockOSThread()
		}()
	}
	started.Wait()
	release.Done()
}

// Serve answers requests read from r on w. env is the sandbox's environment
// (commands without their own and the toolset's shell get exactly this).
func Serve(r io.Reader, w io.Writer, env []string) error {
	s := &server{
		w:       w,
		env:     env,
		procs:   map[uint64]*proc{},
		puts:    map[uint64]*putFile{},
		cancels: map[uint64]context.CancelFunc{},
	}
	envMap := EnvMap(env)
	s.tools = map[string]anthropic.BetaTool{}
	for _, t := range agenttoolset.BetaAgentToolset20260401(&agenttoolset.AgentToolContext{Workdir: sandbox.WorkspacePath, Env: envMap}) {
		s.tools[t.Name()] = t
	}
	defer func() {
		s.mu.Lock()
		for _, p := range s.procs {
			p.signal(syscall.SIGKILL)
		}
		s.mu.Unlock()
		for name, t := range s.tools {
			// The tool shell is not closed here: when this process ends,
			// the toolset's watchdog kills the shell's process group (the
			// shell and its jobs, nohup'd ones too), and only a job
			// started with setsid outlives it. Only a sandbox that
			// outlives its agent sees that: docker's, which a restarted
			// server reattaches to.
			if name != "bash" {
				agenttoolset.CloseAll([]anthropic.BetaTool{t})
			}
		}
	}()
	// Start the persistent shell now, under the tool lock, so the first bash
	// call finds it ready; requests are served meanwhile.
	s.toolMu.Lock()
	go func() {
		defer s.toolMu.Unlock()
		if _, err := os.Stat(sandbox.WorkspacePath); err == nil {
			_, _ = s.tools["bash"].Execute(context.Background(), json.RawMessage(`{"command":":"}`))
		}
	}()
	s.send(msg{Op: opReady, Version: ProtocolVersion})

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineSize)
	for sc.Scan() {
		var m msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("bad request: %w", err)
		}
		s.handle(m)
	}
	return sc.Err()
}

type server struct {
	w   io.Writer
	wmu sync.Mutex
	env []string

	toolMu sync.Mutex // the toolset runs one call at a time, like the SDK runner
	tools  map[string]anthropic.BetaTool

	mu      sync.Mutex
	procs   map[uint64]*proc
	puts    map[uint64]*putFile
	cancels map[uint64]context.CancelFunc
}

type proc struct {
	// signal signals the command's process group (a builtin: ends it).
	signal func(syscall.Signal)
	stdin  io.WriteCloser

	// Stdin is queued and written by one goroutine: in order, and without
	// a command that does not read its stdin stalling the channel.
	qmu   sync.Mutex
	qcond *sync.Cond
	queue [][]byte
	eof   bool
}

func (p *proc) queueStdin(data []byte, eof bool) {
	p.qmu.Lock()
	if len(data) > 0 {
		p.queue = append(p.queue, data)
	}
	p.eof = p.eof || eof
	p.qmu.Unlock()
	p.qcond.Signal()
}

func (p *proc) writeStdin() {
	defer p.stdin.Close()
	for {
		p.qmu.Lock()
		for len(p.queue) == 0 && !p.eof {
			p.qcond.Wait()
		}
		if len(p.queue) == 0 {
			p.qmu.Unlock()
			return
		}
		data := p.queue[0]
		p.queue = p.queue[1:]
		p.qmu.Unlock()
		if _, err := p.stdin.Write(data); err != nil {
			return
		}
	}
}

type putFile struct {
	f   *os.File
	err error
}

func (s *server) send(m msg) {
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.w.Write(b)
}

func (s *server) handle(m msg) {
	switch m.Op {
	case opExec:
		s.exec(m)
	case opStdin, opStdinEOF:
		s.mu.Lock()
		p := s.procs[m.ID]
		s.mu.Unlock()
		if p == nil || p.stdin == nil {
			return
		}
		p.queueStdin(m.Data, m.Op == opStdinEOF)
	case opSignal:
		s.mu.Lock()
		p := s.procs[m.ID]
		s.mu.Unlock()
		if p != nil {
			p.signal(syscall.Signal(m.Sig))
		}
	case opCancel:
		s.mu.Lock()
		c := s.cancels[m.ID]
		s.mu.Unlock()
		if c != nil {
			c()
		}
	case opTool:
		ctx, cancel := context.WithCancel(context.Background())
		s.mu.Lock()
		s.cancels[m.ID] = cancel
		s.mu.Unlock()
		go func() {
			defer func() {
				cancel()
				s.mu.Lock()
				delete(s.cancels, m.ID)
				s.mu.Unlock()
			}()
			s.send(s.tool(ctx, m))
		}()
	case opPut:
		f, err := os.OpenFile(m.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(m.Mode).Perm())
		s.mu.Lock()
		s.puts[m.ID] = &putFile{f: f, err: err}
		s.mu.Unlock()
	case opPutData:
		s.mu.Lock()
		p := s.puts[m.ID]
		s.mu.Unlock()
		if p != nil && p.err == nil {
			_, p.err = p.f.Write(m.Data)
		}
	case opPutEnd:
		s.mu.Lock()
		p := s.puts[m.ID]
		delete(s.puts, m.ID)
		s.mu.Unlock()
		if p == nil {
			s.send(msg{ID: m.ID, Op: opDone, Err: "no such transfer"})
			return
		}
		if p.f != nil {
			if err := p.f.Close(); p.err == nil {
				p.err = err
			}
		}
		s.send(msg{ID: m.ID, Op: opDone, Err: errText(p.err)})
	case opGet:
		go s.get(m)
	default:
		s.send(msg{ID: m.ID, Op: opDone, Err: "unknown op " + m.Op})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *server) tool(ctx context.Context, m msg) msg {
	t, ok := s.tools[m.Name]
	if !ok {
		return msg{ID: m.ID, Op: opResult, Err: fmt.Sprintf("unknown tool %q", m.Name)}
	}
	s.toolMu.Lock()
	defer s.toolMu.Unlock()
	blocks, err := t.Execute(ctx, m.Input)
	var te *agenttoolset.ToolError
	switch {
	case errors.As(err, &te):
		return msg{ID: m.ID, Op: opResult, Text: te.Content, IsError: true}
	case err != nil:
		// The SDK's runner reports any other tool error as an error result.
		return msg{ID: m.ID, Op: opResult, Text: err.Error(), IsError: true}
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.OfText != nil {
			b.WriteString(bl.OfText.Text)
		}
	}
	return msg{ID: m.ID, Op: opResult, Text: b.String()}
}

func (s *server) get(m msg) {
	f, err := os.Open(m.Path)
	if err != nil {
		s.send(msg{ID: m.ID, Op: opDone, Err: err.Error()})
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		s.send(msg{ID: m.ID, Op: opDone, Err: m.Path + ": not a regular file"})
		return
	}
	buf := make([]byte, chunkSize)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			s.send(msg{ID: m.ID, Op: opStdout, Data: buf[:n]})
		}
		if err == io.EOF {
			s.send(msg{ID: m.ID, Op: opDone})
			return
		}
		if err != nil {
			s.send(msg{ID: m.ID, Op: opDone, Err: err.Error()})
			return
		}
	}
}

func (s *server) exec(m msg) {
	if len(m.Argv) == 0 {
		s.send(msg{ID: m.ID, Op: opStarted, Err: "argv: required"})
		return
	}
	if fn := builtinFor(m.Argv); fn != nil {
		s.runBuiltin(m, fn)
		return
	}
	cmd := exec.Command(m.Argv[0], m.Argv[1:]...)
	cmd.Dir = m.Dir
	if cmd.Dir == "" {
		cmd.Dir = sandbox.WorkspacePath
	}
	cmd.Env = m.Env
	if m.Env == nil {
		cmd.Env = s.env
	}
	// Its own process group, so a signal or the timeout reaches everything
	// the command started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outR, outW, err := os.Pipe()
	if err != nil {
		s.send(msg{ID: m.ID, Op: opStarted, Err: err.Error()})
		return
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		s.send(msg{ID: m.ID, Op: opStarted, Err: err.Error()})
		return
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	var stdinW *os.File
	if m.Stdin {
		var stdinR *os.File
		if stdinR, stdinW, err = os.Pipe(); err == nil {
			cmd.Stdin = stdinR
			defer stdinR.Close()
		}
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		s.send(msg{ID: m.ID, Op: opStarted, Err: err.Error()})
		return
	}
	p := &proc{signal: func(sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }}
	p.qcond = sync.NewCond(&p.qmu)
	if stdinW != nil {
		// Only then: a nil *os.File would make a non-nil p.stdin.
		p.stdin = stdinW
		go p.writeStdin()
	}
	s.mu.Lock()
	s.procs[m.ID] = p
	s.mu.Unlock()
	s.send(msg{ID: m.ID, Op: opStarted})

	var wg sync.WaitGroup
	pump := func(f *os.File, op string) {
		defer wg.Done()
		buf := make([]byte, chunkSize)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				s.send(msg{ID: m.ID, Op: op, Data: buf[:n]})
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(outR, opStdout)
	go pump(errR, opStderr)

	go func() {
		var timer *time.Timer
		timedOut := make(chan struct{})
		if m.TimeoutMS > 0 {
			timer = time.AfterFunc(time.Duration(m.TimeoutMS)*time.Millisecond, func() {
				close(timedOut)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			})
		}
		ps, _ := cmd.Process.Wait()
		if timer != nil {
			timer.Stop()
		}
		// A background child may hold the pipes open forever; give the
		// output a moment to drain, then stop reading.
		drained := make(chan struct{})
		go func() { wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(100 * time.Millisecond):
			outR.Close()
			errR.Close()
			<-drained
		}
		outR.Close()
		errR.Close()
		if stdinW != nil {
			// Ends the writer, and with it a write blocked on a full pipe.
			p.queueStdin(nil, true)
			stdinW.Close()
		}
		s.mu.Lock()
		delete(s.procs, m.ID)
		s.mu.Unlock()
		ev := msg{ID: m.ID, Op: opExit, Code: -1}
		if ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				ev.Signal = ws.Signal().String()
				ev.Code = 128 + int(ws.Signal())
			} else {
				ev.Code = ps.ExitCode()
			}
		}
		select {
		case <-timedOut:
			ev.TimedOut = true
		default:
		}
		s.send(ev)
	}()
}
