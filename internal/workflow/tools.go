package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/wire"
)

// Names of the tools a session agent with workflows enabled is given. The
// service does not publish its own (clients never see the agent's calls
// that start and manage runs); it reserves the ant__ prefix (a custom tool
// named ant__… is refused once workflows are on), so Hangar's tools live
// there too.
const (
	ToolStart = "ant__start_workflow_run"
	ToolGet   = "ant__get_workflow_run"
	ToolStop  = "ant__stop_workflow_run"
)

// IsTool reports whether name is one of the workflow tools.
func IsTool(name string) bool {
	return name == ToolStart || name == ToolGet || name == ToolStop
}

const startDescription = `Start a workflow run: a JavaScript program that runs many agents, each in its own session thread, and combines what they return. The run works in the background; this call returns at once with the run's id. You can keep working or end your turn: when the run ends you get a notice with its result. Use it for work too big for one conversation (many documents, files or sources); do small tasks yourself.

The program is the body of a function: ` + "`return`" + ` its result (any JSON value). It is plain synchronous JavaScript (ES5 and most of ES6+: let/const, arrow functions, classes, template strings, destructuring, Map/Set) with no file system, network, modules, timers or console. Its API:
- agent(prompt) or agent(prompt, {name, description, system}) or agent({prompt, agent: "<predefined agent name>"}): runs one agent on the prompt and returns its final answer as a string; throws if the agent fails.
- parallel(tasks): runs the tasks (each a prompt string or such an object) at the same time and returns their answers in order; throws if one fails.
- parallelSettled(tasks): like parallel, but never throws for a failed agent: returns [{ok: true, result} | {ok: false, error}].
- phase(name, fn): runs fn inside the phase named name (declare it in phases) and returns fn's value; phases show the run's progress.
- input: the input value you passed (or null). log(...values): a line you can read when you check the run.
Agents see none of your conversation: every prompt must carry what its agent needs (paths, rules, the output format). Agents share the session's files. A thread's result comes back to the program only, not to you.`

// Tools returns the tool definitions to add to the session agent's tool
// list when its workflows are enabled. agents names the predefined agents
// the program may run, which the start tool's description lists.
func Tools(agents Agents) []model.Tool {
	desc := startDescription
	if len(agents.Predefined) > 0 {
		desc += "\nPredefined agents: " + strings.Join(agents.Predefined, ", ") + "."
	}
	if !agents.Inline {
		desc += "\nThis session's programs cannot define agents: every task must name a predefined agent."
	}
	return []model.Tool{
		{
			Name:        ToolStart,
			Description: desc,
			InputSchema: json.RawMessage(`{"type":"object","properties":{` +
				`"name":{"type":"string","description":"A short name for the run (cut to 64 characters)."},` +
				`"description":{"type":"string","description":"What the run does (cut to 256 characters)."},` +
				`"phases":{"type":"array","description":"The phases the program enters with phase(name, fn), in order.","items":{"type":"object","properties":{"name":{"type":"string"},"description":{"type":"string"}},"required":["name"]}},` +
				`"program":{"type":"string","description":"The JavaScript program: the body of a function whose return value is the run's result."},` +
				`"input":{"description":"Any JSON value, given to the program as input."},` +
				`"time_limit_seconds":{"type":"integer","minimum":1,"maximum":86400,"description":"The run's lifetime; it ends with a timeout error past it. Default and maximum: 24 hours."}` +
				`},"required":["program"]}`),
		},
		{
			Name:        ToolGet,
			Description: "Check on workflow runs of this session: with workflow_run_id, that run's status, phases, thread counts, log and, once it ended, its result; without, a summary of every run.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"workflow_run_id":{"type":"string","description":"The run to check; omit for all runs."}}}`),
		},
		{
			Name:        ToolStop,
			Description: "Stop a workflow run: its working agents are stopped and it ends with the result stopped.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"workflow_run_id":{"type":"string","description":"The run to stop."}},"required":["workflow_run_id"]}`),
		},
	}
}

// ToolResult is what a workflow tool call returns to the model.
type ToolResult struct {
	Content string
	IsError bool
}

// ExecuteTool runs one call of a workflow tool against the session's
// registry. Errors the model should read (bad input, an unknown run, a
// refused start) come back as a ToolResult with IsError; a returned error
// is the engine's own failure.
func ExecuteTool(ctx context.Context, g *Registry, name string, input json.RawMessage) (ToolResult, error) {
	switch name {
	case ToolStart:
		var req StartRequest
		if err := decodeStrict(input, &req); err != nil {
			return toolError("invalid input: %v", err), nil
		}
		s, err := g.Start(ctx, req)
		if err != nil {
			if e, ok := AsError(err); ok {
				msg := "The run was not started: " + e.Message
				if e.Detail != "" {
					msg += "\n" + e.Detail
				}
				return ToolResult{Content: msg, IsError: true}, nil
			}
			if errdefs.ClassOf(err) == errdefs.ClassUnavailable {
				return toolError("%v", err), nil
			}
			return ToolResult{}, err
		}
		return toolJSON(map[string]any{
			"workflow_run_id": s.ID,
			"name":            s.Name,
			"status":          s.Status,
			"phases":          s.Phases,
			"note":            "The run works in the background. You get a notice when it ends; check on it with " + ToolGet + ".",
		}), nil
	case ToolGet:
		var req struct {
			WorkflowRunID string `json:"workflow_run_id,omitempty"`
		}
		if err := decodeStrict(input, &req); err != nil {
			return toolError("invalid input: %v", err), nil
		}
		if req.WorkflowRunID == "" {
			runs := g.List()
			out := make([]map[string]any, len(runs))
			for i, s := range runs {
				out[i] = summary(s)
			}
			return toolJSON(map[string]any{"workflow_runs": out}), nil
		}
		s, ok := g.Get(req.WorkflowRunID)
		if !ok {
			return toolError("no workflow run %q in this session", req.WorkflowRunID), nil
		}
		return toolJSON(View(s)), nil
	case ToolStop:
		var req struct {
			WorkflowRunID string `json:"workflow_run_id"`
		}
		if err := decodeStrict(input, &req); err != nil || req.WorkflowRunID == "" {
			return toolError("invalid input: workflow_run_id is required"), nil
		}
		s, err := g.Stop(ctx, req.WorkflowRunID)
		if err != nil {
			if errdefs.ClassOf(err) == errdefs.ClassNotFound {
				return toolError("no workflow run %q in this session", req.WorkflowRunID), nil
			}
			return ToolResult{}, err
		}
		return toolJSON(View(s)), nil
	}
	return toolError("%q is not a workflow tool", name), nil
}

func decodeStrict(input json.RawMessage, v any) error {
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage("{}")
	}
	d := json.NewDecoder(bytes.NewReader(input))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func toolError(format string, args ...any) ToolResult {
	return ToolResult{Content: fmt.Sprintf(format, args...), IsError: true}
}

func toolJSON(v any) ToolResult {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return toolError("encoding the result: %v", err)
	}
	return ToolResult{Content: string(b)}
}

// maxViewOutput bounds the result a check shows the model.
const maxViewOutput = 100_000

func summary(s Snapshot) map[string]any {
	m := map[string]any{"workflow_run_id": s.ID, "name": s.Name, "status": s.Status}
	if s.Result != nil {
		m["result"] = *s.Result
	}
	return m
}

// View is a run as the agent's check shows it.
func View(s Snapshot) map[string]any {
	m := summary(s)
	type phaseView struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	}
	state := map[string]string{}
	for _, p := range s.PhaseStarts {
		if p.Ended {
			if state[p.PhaseID] == "" {
				state[p.PhaseID] = "ended"
			}
		} else {
			state[p.PhaseID] = "open"
		}
	}
	phases := make([]phaseView, 0, len(s.Phases))
	for _, p := range s.Phases {
		st := state[p.ID]
		if st == "" {
			st = "not started"
		}
		phases = append(phases, phaseView{ID: p.ID, Name: p.Name, State: st})
	}
	m["phases"] = phases
	var finished, failed, working int
	for _, t := range s.Threads {
		switch {
		case t.Done && t.Error != "":
			failed++
		case t.Done:
			finished++
		default:
			working++
		}
	}
	threads := map[string]int{"finished": finished, "failed": failed}
	if s.Open() {
		threads["working"] = working
	}
	m["threads"] = threads
	m["deadline"] = s.Deadline
	if len(s.Log) > 0 {
		m["log"] = s.Log
	}
	if s.Failure != "" {
		m["failure"] = s.Failure
	}
	if len(s.Output) > 0 {
		if len(s.Output) > maxViewOutput {
			m["output_truncated"] = strings.ToValidUTF8(string(s.Output[:maxViewOutput]), "")
		} else {
			m["output"] = s.Output
		}
	}
	return m
}

// EndingNotice is the text the engine gives the session's agent when a run
// ended, for the turn it takes on it. It is not an event on any stream.
func EndingNotice(s Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Workflow run %s (%q) ended: ", s.ID, s.Name)
	if s.Result == nil {
		b.WriteString("unknown")
	} else {
		b.WriteString(s.Result.Type)
		if s.Result.Type == wire.WorkflowRunErrored && s.Result.Error != nil {
			fmt.Fprintf(&b, " (%s: %s)", s.Result.Error.Type, s.Result.Error.Message)
		}
	}
	b.WriteString(".\n")
	if s.Failure != "" {
		fmt.Fprintf(&b, "Detail: %s\n", s.Failure)
	}
	if len(s.Output) > 0 {
		out := string(s.Output)
		if len(out) > maxViewOutput {
			out = strings.ToValidUTF8(out[:maxViewOutput], "") + "… (cut; the rest is not shown)"
		}
		fmt.Fprintf(&b, "The program returned:\n%s\n", out)
	}
	return b.String()
}
