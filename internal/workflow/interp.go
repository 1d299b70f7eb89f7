package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/wire"
)

// Bounds of the program's log, kept for the agent's status checks.
const (
	maxLogLines    = 50
	maxLogLineSize = 1000
)

// interp is one execution of a run's program. Everything but the agent
// calls happens on the goroutine that called interpret: the interpreter is
// not safe for concurrent use.
type interp struct {
	r   *Run
	ctx context.Context
	vm  *goja.Runtime

	steps      int64
	calls      int // the next agent call's Index
	phaseCalls int // the next phase() call's place in PhaseStarts
	open       []string
	replaying  bool // no agent call or phase has differed from the records yet
	agents     sync.WaitGroup
}

// interpret runs the program until it returns or ctx ends. It returns the
// program's result as JSON, or why it did not finish: an *Error, or ctx's
// cause when ctx was cancelled from outside.
func (r *Run) interpret(ctx context.Context) (json.RawMessage, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(r.limits.MaxCallStackSize)
	seed := r.snap.Seed
	vm.SetRandSource(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64)
	in := &interp{r: r, ctx: ctx, vm: vm, replaying: true}
	if err := in.install(); err != nil {
		return nil, limitError("The workflow could not be prepared.", err.Error())
	}

	// The interpreter checks for an interrupt before each instruction; a
	// host call waiting on agents returns by itself when ctx ends.
	stop := context.AfterFunc(ctx, func() { vm.Interrupt(context.Cause(ctx)) })
	val, err := vm.RunProgram(r.prog)
	stop()
	// No thread may still record into the run once it ends.
	in.agents.Wait()

	if err == nil {
		return in.output(val)
	}
	var interrupted *goja.InterruptedError
	if errors.As(err, &interrupted) {
		if e, ok := interrupted.Value().(*Error); ok {
			return nil, e
		}
		if c := context.Cause(ctx); c != nil {
			if e, ok := AsError(c); ok {
				return nil, e
			}
			return nil, c
		}
		return nil, limitError("The workflow run was interrupted.", fmt.Sprint(interrupted.Value()))
	}
	if c := context.Cause(ctx); c != nil && ctx.Err() != nil {
		// The program failed only because its context ended under it.
		if e, ok := AsError(c); ok {
			return nil, e
		}
		return nil, c
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return nil, programError("The workflow's program failed.", describe(ex))
	}
	var stack *goja.StackOverflowError
	if errors.As(err, &stack) {
		return nil, limitError("The workflow's program went over the call depth limit.",
			fmt.Sprintf("the program went over the call depth limit of %d nested calls", r.limits.MaxCallStackSize))
	}
	return nil, programError("The workflow's program failed.", err.Error())
}

// describe is an uncaught exception as the agent should see it: its message
// and where it was thrown.
func describe(ex *goja.Exception) string {
	s := ex.Error()
	// The wrapper and the step ticks are Hangar's, not the agent's.
	s = strings.ReplaceAll(s, tickName+"();", "")
	return s
}

// output is the program's return value as JSON (JSON.stringify's view of
// it; undefined is null).
func (in *interp) output(val goja.Value) (json.RawMessage, error) {
	// An async program returns a promise; its jobs have run by now, since
	// nothing in the API waits on the host's event loop.
	if p, ok := val.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			val = p.Result()
		case goja.PromiseStateRejected:
			return nil, programError("The workflow's program failed.", "the program's promise was rejected: "+p.Result().String())
		default:
			return nil, programError("The workflow's program failed.", "the program returned a promise that never settled")
		}
	}
	stringify, _ := goja.AssertFunction(in.vm.Get("JSON").ToObject(in.vm).Get("stringify"))
	s, err := stringify(goja.Undefined(), val)
	if err != nil {
		return nil, programError("The workflow's result is not JSON.", err.Error())
	}
	if goja.IsUndefined(s) {
		return json.RawMessage("null"), nil
	}
	out := json.RawMessage(s.String())
	if len(out) > in.r.limits.MaxOutputBytes {
		return nil, limitError("The workflow's result is over the size limit.",
			fmt.Sprintf("the result is %d bytes of JSON; the limit is %d", len(out), in.r.limits.MaxOutputBytes))
	}
	return out, nil
}

// install defines the program's API (see docs/workflows.md).
func (in *interp) install() error {
	vm := in.vm
	g := vm.GlobalObject()
	tick := vm.ToValue(func(goja.FunctionCall) goja.Value {
		in.steps++
		if in.steps > in.r.limits.MaxSteps {
			vm.Interrupt(limitError("The workflow's program went over its step budget.",
				fmt.Sprintf("the program went over its step budget of %d steps (loop iterations and function calls)", in.r.limits.MaxSteps)))
		}
		return goja.Undefined()
	})
	if err := g.DefineDataProperty(tickName, tick, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
		return err
	}
	if _, err := vm.RunString(prelude); err != nil {
		return err
	}
	input := goja.Null()
	if len(in.r.snap.Input) > 0 {
		parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
		v, err := parse(goja.Undefined(), vm.ToValue(string(in.r.snap.Input)))
		if err != nil {
			return err
		}
		input = v
	}
	for name, v := range map[string]any{
		"input":           input,
		"agent":           in.jsAgent,
		"parallel":        in.jsParallel(false),
		"parallelSettled": in.jsParallel(true),
		"phase":           in.jsPhase,
		"log":             in.jsLog,
	} {
		if err := g.DefineDataProperty(name, vm.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
			return err
		}
	}
	return nil
}

// prelude closes the ways to compile code from strings at run time (eval,
// the Function constructors): such code would not be instrumented, so it
// could spin past the step budget until the run's time limit.
const prelude = `(function () {
	"use strict";
	const refuse = function () { throw new EvalError("code from strings is not available in workflows"); };
	for (const f of [function () {}, function* () {}, async function () {}]) {
		Object.defineProperty(Object.getPrototypeOf(f), "constructor", {value: refuse, writable: false, enumerable: false, configurable: false});
	}
	refuse.prototype = Function.prototype;
	Object.defineProperty(globalThis, "Function", {value: refuse, writable: false, enumerable: false, configurable: false});
	Object.defineProperty(globalThis, "eval", {value: refuse, writable: false, enumerable: false, configurable: false});
})();`

// task is one agent call the program asked for.
type task struct {
	agent  AgentSpec
	prompt string
}

// outcome is how one agent call ended.
type outcome struct {
	answer string
	err    string
}

func (in *interp) jsAgent(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		panic(in.vm.NewTypeError("agent() needs a prompt or a task object"))
	}
	t := in.parseTask(call.Argument(0).Export(), call.Argument(1).Export(), "agent()")
	res := in.runTasks([]task{t})
	if res == nil {
		return goja.Undefined()
	}
	if res[0].err != "" {
		panic(in.agentError(t, res[0].err))
	}
	return in.vm.ToValue(res[0].answer)
}

func (in *interp) jsParallel(settled bool) func(goja.FunctionCall) goja.Value {
	name := "parallel()"
	if settled {
		name = "parallelSettled()"
	}
	return func(call goja.FunctionCall) goja.Value {
		list, ok := call.Argument(0).Export().([]any)
		if !ok {
			panic(in.vm.NewTypeError("%s needs an array of tasks", name))
		}
		tasks := make([]task, len(list))
		for i, v := range list {
			tasks[i] = in.parseTask(v, nil, fmt.Sprintf("%s task %d", name, i))
		}
		res := in.runTasks(tasks)
		if res == nil {
			return goja.Undefined()
		}
		vals := make([]any, len(res))
		for i, o := range res {
			if !settled {
				if o.err != "" {
					panic(in.agentError(tasks[i], o.err))
				}
				vals[i] = o.answer
				continue
			}
			obj := in.vm.NewObject()
			if o.err != "" {
				_ = obj.Set("ok", false)
				_ = obj.Set("error", o.err)
			} else {
				_ = obj.Set("ok", true)
				_ = obj.Set("result", o.answer)
			}
			vals[i] = obj
		}
		return in.vm.NewArray(vals...)
	}
}

func (in *interp) agentError(t task, msg string) *goja.Object {
	who := t.agent.Predefined
	if who == "" {
		who = t.agent.Name
	}
	return in.vm.NewGoError(fmt.Errorf("agent %q failed: %s", who, msg))
}

// parseTask reads a task: a prompt string (an inline agent), or an object
// {prompt, agent} (a predefined agent) or {prompt, name, description,
// system} (an inline agent). opts, for agent(prompt, opts), adds the
// object's other fields to a string prompt.
func (in *interp) parseTask(v, opts any, where string) task {
	var fields map[string]any
	switch v := v.(type) {
	case string:
		fields = map[string]any{"prompt": v}
		if o, ok := opts.(map[string]any); ok {
			for k, x := range o {
				fields[k] = x
			}
		} else if opts != nil {
			panic(in.vm.NewTypeError("%s: the second argument must be an object", where))
		}
	case map[string]any:
		fields = v
	default:
		panic(in.vm.NewTypeError("%s: a task is a prompt string or an object with a prompt", where))
	}
	str := func(k string) string {
		x, ok := fields[k]
		if !ok || x == nil {
			return ""
		}
		s, ok := x.(string)
		if !ok {
			panic(in.vm.NewTypeError("%s: %s must be a string", where, k))
		}
		return s
	}
	for k := range fields {
		switch k {
		case "prompt", "agent", "name", "description", "system":
		default:
			panic(in.vm.NewTypeError("%s: unknown field %q (a task has prompt, agent, name, description, system)", where, k))
		}
	}
	t := task{prompt: str("prompt")}
	if strings.TrimSpace(t.prompt) == "" {
		panic(in.vm.NewTypeError("%s: prompt is empty", where))
	}
	agents := in.r.cfg.Agents
	if name := str("agent"); name != "" {
		if str("name") != "" || str("system") != "" || str("description") != "" {
			panic(in.vm.NewTypeError("%s: a predefined agent (agent) takes no name, description or system", where))
		}
		if !slices.Contains(agents.Predefined, name) {
			panic(in.vm.NewTypeError("%s: no predefined agent is named %q (%s)", where, name, in.roster()))
		}
		t.agent = AgentSpec{Predefined: name}
		return t
	}
	if !agents.Inline {
		panic(in.vm.NewTypeError("%s: this session's workflows cannot define agents; name one with agent (%s)", where, in.roster()))
	}
	t.agent = AgentSpec{Name: cut(str("name"), MaxNameChars), Description: cut(str("description"), MaxDescriptionChars), System: str("system")}
	if t.agent.Name == "" {
		t.agent.Name = "agent"
	}
	return t
}

func (in *interp) roster() string {
	if len(in.r.cfg.Agents.Predefined) == 0 {
		return "there are no predefined agents"
	}
	return "predefined agents: " + strings.Join(in.r.cfg.Agents.Predefined, ", ")
}

// runTasks runs the tasks as threads, at most MaxConcurrentThreads of the
// run's at once, and waits for all of them. It returns nil when the run
// must stop (ctx ended or a limit was hit): the interpreter is then
// interrupted and the caller returns at once.
func (in *interp) runTasks(tasks []task) []outcome {
	r := in.r
	if in.calls+len(tasks) > r.limits.MaxThreads {
		in.vm.Interrupt(&Error{
			Type:    wire.WorkflowRunThreadLimitError,
			Message: "The workflow run went over its thread limit.",
			Detail:  fmt.Sprintf("the program asked for thread %d; a run may create %d", in.calls+len(tasks), r.limits.MaxThreads),
		})
		return nil
	}
	phaseID := ""
	if n := len(in.open); n > 0 {
		phaseID = in.open[n-1]
	}
	res := make([]outcome, len(tasks))
	dones := make([]chan struct{}, len(tasks))
	for i, t := range tasks {
		idx := in.calls
		in.calls++
		dones[i] = make(chan struct{})
		if o, ok := in.replayed(idx, t); ok {
			res[i] = o
			close(dones[i])
			continue
		}
		rec := ThreadRecord{Index: idx, PhaseID: phaseID, Agent: t.agent, Prompt: t.prompt}
		req := ThreadRequest{RunID: r.snap.ID, PhaseID: phaseID, Index: idx, Agent: t.agent, Prompt: t.prompt}
		in.agents.Add(1)
		go func(i int) {
			defer in.agents.Done()
			defer close(dones[i])
			res[i] = in.runThread(rec, req)
		}(i)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-in.ctx.Done():
			in.vm.Interrupt(context.Cause(in.ctx))
			return nil
		}
	}
	for _, o := range res {
		if o.err == errCancelled {
			in.vm.Interrupt(context.Cause(in.ctx))
			return nil
		}
	}
	return res
}

// errCancelled marks an outcome cut short by the run's end, not a failure.
const errCancelled = "\x00cancelled"

// runThread waits for a place, runs one thread and records it.
func (in *interp) runThread(rec ThreadRecord, req ThreadRequest) outcome {
	r := in.r
	if err := r.waitRunnable(in.ctx); err != nil {
		return outcome{err: errCancelled}
	}
	select {
	case r.sem <- struct{}{}:
	case <-in.ctx.Done():
		return outcome{err: errCancelled}
	}
	defer func() { <-r.sem }()
	r.update(in.ctx, func(s *Snapshot) { s.setThread(rec) })
	answer, err := r.cfg.Runner.RunAgent(in.ctx, req)
	if in.ctx.Err() != nil {
		// The run ended under the thread: not the thread's failure, and
		// a resumed run will run it again.
		return outcome{err: errCancelled}
	}
	rec.Done = true
	if err != nil {
		rec.Error = err.Error()
		if rec.Error == "" {
			rec.Error = "the agent failed"
		}
	} else {
		rec.Answer = answer
	}
	r.update(in.ctx, func(s *Snapshot) { s.setThread(rec) })
	return outcome{answer: rec.Answer, err: rec.Error}
}

// replayed returns the recorded outcome of agent call idx when the run is
// replaying after a restart and the record is of the same call.
func (in *interp) replayed(idx int, t task) (outcome, bool) {
	if !in.replaying {
		return outcome{}, false
	}
	r := in.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if idx >= len(r.snap.Threads) {
		in.replaying = false
		return outcome{}, false
	}
	rec := r.snap.Threads[idx]
	if rec.Index != idx || rec.Agent != t.agent || rec.Prompt != t.prompt {
		// The program went another way this time: what was recorded
		// from here on belongs to the other way.
		r.snap.Threads = r.snap.Threads[:idx]
		in.replaying = false
		return outcome{}, false
	}
	if !rec.Done {
		return outcome{}, false
	}
	return outcome{answer: rec.Answer, err: rec.Error}, true
}

// setThread stores rec at its index.
func (s *Snapshot) setThread(rec ThreadRecord) {
	for len(s.Threads) <= rec.Index {
		s.Threads = append(s.Threads, ThreadRecord{Index: len(s.Threads)})
	}
	s.Threads[rec.Index] = rec
}

// jsPhase is phase(name, fn): it enters the phase, calls fn, leaves the
// phase (also when fn throws) and returns fn's value.
func (in *interp) jsPhase(call goja.FunctionCall) goja.Value {
	name, ok := call.Argument(0).Export().(string)
	if !ok || strings.TrimSpace(name) == "" {
		panic(in.vm.NewTypeError("phase() needs a phase name"))
	}
	fn, ok := goja.AssertFunction(call.Argument(1))
	if !ok {
		panic(in.vm.NewTypeError("phase(%q, fn): fn must be a function", name))
	}
	k := in.enterPhase(name)
	v, err := fn(goja.Undefined())
	var interrupted *goja.InterruptedError
	if !errors.As(err, &interrupted) {
		// An interrupted run closes its open phases as it ends.
		in.leavePhase(k)
	}
	if err != nil {
		panic(err)
	}
	return v
}

// enterPhase starts the phase named name and returns its place in
// PhaseStarts.
func (in *interp) enterPhase(name string) int {
	r := in.r
	r.mu.Lock()
	id := ""
	started := map[string]bool{}
	for _, p := range r.snap.PhaseStarts[:min(in.phaseCalls, len(r.snap.PhaseStarts))] {
		started[p.PhaseID] = true
	}
	for _, p := range r.snap.Phases {
		if p.Name == name && !started[p.ID] {
			id = p.ID
			break
		}
	}
	if id == "" {
		for _, p := range r.snap.Phases {
			if p.Name == name {
				id = p.ID // a declared phase entered again
				break
			}
		}
	}
	if id == "" {
		// A phase the plan did not declare: it gets an id of its own, and
		// readers look it up in vain in the created event's list, as the
		// service allows.
		id = ids.New(PhasePrefix)
	}
	k := in.phaseCalls
	in.phaseCalls++
	in.open = append(in.open, id)
	if k < len(r.snap.PhaseStarts) && in.replaying {
		rec := r.snap.PhaseStarts[k]
		if rec.PhaseID == id || !isDeclared(r.snap, rec.PhaseID) && !isDeclared(r.snap, id) {
			in.open[len(in.open)-1] = rec.PhaseID
			r.mu.Unlock()
			return k
		}
	}
	if k < len(r.snap.PhaseStarts) {
		r.snap.PhaseStarts = r.snap.PhaseStarts[:k]
	}
	r.snap.PhaseStarts = append(r.snap.PhaseStarts, PhaseRecord{PhaseID: id})
	r.mu.Unlock()
	evs := r.emit(in.ctx, &wire.WorkflowRunPhaseStartedEvent{WorkflowRunID: r.snap.ID, WorkflowRunPhaseID: id})
	r.update(in.ctx, func(s *Snapshot) { s.PhaseStarts[k].StartedEventID = evs[0].ID })
	return k
}

func isDeclared(s Snapshot, id string) bool {
	_, ok := s.phase(id)
	return ok
}

// leavePhase ends the k-th phase entry, unless it has ended already.
func (in *interp) leavePhase(k int) {
	r := in.r
	if n := len(in.open); n > 0 {
		in.open = in.open[:n-1]
	}
	r.mu.Lock()
	rec := &r.snap.PhaseStarts[k]
	if rec.Ended {
		r.mu.Unlock()
		return
	}
	rec.Ended = true
	ev := &wire.WorkflowRunPhaseEndedEvent{PhaseStartedID: rec.StartedEventID, WorkflowRunID: r.snap.ID, WorkflowRunPhaseID: rec.PhaseID}
	s := r.snap.clone()
	r.mu.Unlock()
	r.emit(in.ctx, ev)
	r.save(in.ctx, s)
}

// jsLog is log(...values): a line for the agent's status checks.
func (in *interp) jsLog(call goja.FunctionCall) goja.Value {
	parts := make([]string, len(call.Arguments))
	for i, a := range call.Arguments {
		if o, ok := a.(*goja.Object); ok && o.ClassName() != "Function" {
			if b, err := json.Marshal(o.Export()); err == nil {
				parts[i] = string(b)
				continue
			}
		}
		parts[i] = a.String()
	}
	line := cut(strings.Join(parts, " "), maxLogLineSize)
	in.r.mu.Lock()
	in.r.snap.Log = append(in.r.snap.Log, line)
	if n := len(in.r.snap.Log); n > maxLogLines {
		in.r.snap.Log = slices.Clone(in.r.snap.Log[n-maxLogLines:])
	}
	in.r.mu.Unlock()
	return goja.Undefined()
}
