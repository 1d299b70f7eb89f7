// Package workflow runs dynamic workflows: programs that a multiagent
// session's agent writes to run many agents in phases and combine what they
// return. One execution of a program is a workflow run.
//
// The program is JavaScript, run by an embedded interpreter (goja) with no
// host access: no file system, network, processes, modules, timers or code
// compiled from strings. Its API is agent, parallel, parallelSettled, phase,
// input and log (docs/workflows.md). Each run has a lifetime (timeout_error
// past it), a step budget for the program's own computation, a thread limit
// (thread_limit_error) and a bound on threads working at once; a session
// has a bound on open runs (max_workflow_runs_error).
//
// The package does not know the engine. It needs:
//
//   - an AgentRunner, which runs one agent on a prompt in a new session
//     thread of the run and returns its final answer;
//   - an EventSink, which appends the workflow_run.* events to the session's
//     primary thread;
//   - optionally a Store, which keeps each run's Snapshot so a restart can
//     resume it, and an Ended hook, for the agent's turn on a run's end.
//
// How the engine wires it, per session whose agent has workflows enabled
// (multiagent_20261001 with workflows.type "enabled"):
//
//  1. NewRegistry(Config{Runner, Events, Store, Ended, Logger, Limits,
//     Agents{Predefined: names of workflows.predefined_agents, Inline:
//     workflows.inline_agents enabled}}).
//  2. Add Tools(agents) to the primary thread's tool list. When the model
//     calls a tool for which IsTool(name) holds, answer it with
//     ExecuteTool(ctx, registry, name, input): its Content (IsError when
//     the model's call failed) is the tool result.
//  3. RunAgent creates a session thread whose workflow_run_id is the
//     request's RunID (session.thread_created carries it too), with the
//     predefined agent's own configuration or, for an inline agent, the
//     session agent's model, tools, MCP servers and skills under the given
//     name and system prompt; such threads do not count toward the session's
//     child-thread limit.
//  4. Ended: give the agent EndingNotice(snapshot) as input and a turn on it
//     (not an event on any stream); the session does not report an end_turn
//     idle before that turn. A run stopped because the session was archived
//     gets no turn.
//  5. While Running() > 0 the session stays running. At the session budget,
//     Pause; when the budget is raised or removed, Resume. On archive,
//     StopAll. Updating the session's agent while Open() > 0 is refused.
//  6. On shutdown, Suspend; on start, Restore with the saved snapshots of
//     the session's runs.
package workflow
