package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/testserver"
)

// The scripted multiagent model: the coordinator (system "You coordinate")
// delegates the user's request to the researcher with spawn_agent, follows
// up with send_message when asked to, and answers with what a thread sent
// it; the researcher (system "You research") answers with how many
// messages its conversation has seen, which proves a follow-up reaches the
// thread with its earlier turns.

var threadIDPattern = regexp.MustCompile(`sthr_[0-9A-Za-z]+`)

const (
	coordinatorSystem = "You coordinate."
	researcherSystem  = "You research."
)

// blocksText is the text of blocks, tool results' content included.
func blocksText(bs []model.Block) string {
	var parts []string
	for _, b := range bs {
		switch b.Type {
		case model.BlockText:
			parts = append(parts, b.Text)
		case model.BlockToolResult:
			parts = append(parts, blocksText(b.Content))
		}
	}
	return strings.Join(parts, "\n")
}

// multiagentRule answers both agents; researcher answers the researcher's
// turns when set.
func multiagentRule(researcher func(in modeltest.Input) modeltest.Turn) modeltest.Rule {
	return func(in modeltest.Input) modeltest.Turn {
		last, _ := in.Last()
		lastText := blocksText(last.Content)
		switch {
		case strings.Contains(in.System, researcherSystem):
			if researcher != nil {
				return researcher(in)
			}
			n := 0
			for _, m := range in.Messages {
				if m.Role == model.RoleUser {
					n += strings.Count(blocksText(m.Content), "[Message from session thread")
				}
			}
			return modeltest.Text(fmt.Sprintf("researched %d", n))
		case strings.Contains(in.System, coordinatorSystem):
			if strings.Contains(lastText, "[Message from session thread") {
				return modeltest.Text("Final: " + lastText)
			}
			if len(in.ToolResults()) > 0 {
				return modeltest.Text("Delegated; waiting.")
			}
			if strings.HasPrefix(lastText, "follow up all") {
				// A follow-up to every thread opened so far, at once.
				seen := map[string]bool{}
				var blocks []model.Block
				for _, m := range in.Messages {
					for _, id := range threadIDPattern.FindAllString(blocksText(m.Content), -1) {
						if !seen[id] {
							seen[id] = true
							in, _ := json.Marshal(map[string]any{"session_thread_id": id, "message": "again"})
							blocks = append(blocks, model.ToolUse("", "send_message", in))
						}
					}
				}
				return modeltest.Turn{Content: blocks}
			}
			if strings.Contains(lastText, "follow up") {
				var tid string
				for _, m := range in.Messages {
					if id := threadIDPattern.FindString(blocksText(m.Content)); id != "" {
						tid = id
						break
					}
				}
				return modeltest.ToolCall("", "send_message", map[string]any{"session_thread_id": tid, "message": "more please"})
			}
			if strings.HasPrefix(lastText, "fan out ") {
				var n int
				fmt.Sscanf(lastText, "fan out %d", &n)
				var blocks []model.Block
				for i := 0; i < n; i++ {
					in, _ := json.Marshal(map[string]any{"agent": "researcher", "message": fmt.Sprintf("part %d", i)})
					blocks = append(blocks, model.ToolUse("", "spawn_agent", in))
				}
				return modeltest.Turn{Content: blocks}
			}
			return modeltest.ToolCall("", "spawn_agent", map[string]any{"agent": "researcher", "message": "find out: " + lastText})
		}
		return modeltest.Text("?")
	}
}

// coordinator makes the researcher and a coordinator whose roster it is,
// and returns the coordinator's id.
func (l *loop) coordinator(researcherTools []any) string {
	l.t.Helper()
	body := map[string]any{"name": "researcher", "system": researcherSystem}
	if researcherTools != nil {
		body["tools"] = researcherTools
	}
	rid := l.agent(body)
	return l.agent(map[string]any{"name": "coordinator", "system": coordinatorSystem,
		"multiagent": map[string]any{"type": "coordinator", "agents": []any{map[string]any{"type": "agent", "id": rid}}}})
}

func (l *loop) threads(sid string) []anthropic.BetaManagedAgentsSessionThread {
	l.t.Helper()
	var out []anthropic.BetaManagedAgentsSessionThread
	it := l.c.Beta.Sessions.Threads.ListAutoPaging(context.Background(), sid, anthropic.BetaSessionThreadListParams{})
	for it.Next() {
		out = append(out, it.Current())
	}
	if err := it.Err(); err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *loop) threadEvents(sid, tid string) []anthropic.BetaManagedAgentsSessionEventUnion {
	l.t.Helper()
	var out []anthropic.BetaManagedAgentsSessionEventUnion
	it := l.c.Beta.Sessions.Threads.Events.ListAutoPaging(context.Background(), tid, anthropic.BetaSessionThreadEventListParams{SessionID: sid})
	for it.Next() {
		out = append(out, it.Current())
	}
	if err := it.Err(); err != nil {
		l.t.Fatal(err)
	}
	return out
}

// threadStream reads one thread's stream through the SDK.
func (l *loop) threadStream(sid, tid string) *threadCollector {
	l.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	col := &threadCollector{notify: make(chan struct{}, 1), done: make(chan struct{})}
	st := l.c.Beta.Sessions.Threads.Events.StreamEvents(ctx, tid, anthropic.BetaSessionThreadEventStreamParams{SessionID: sid})
	go func() {
		defer close(col.done)
		for st.Next() {
			col.mu.Lock()
			col.events = append(col.events, st.Current().RawJSON())
			col.mu.Unlock()
			select {
			case col.notify <- struct{}{}:
			default:
			}
		}
	}()
	l.t.Cleanup(func() { cancel(); <-col.done })
	return col
}

type threadCollector struct {
	mu     sync.Mutex
	events []string
	notify chan struct{}
	done   chan struct{}
}

func (c *threadCollector) waitType(t *testing.T, typ string) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		evs := append([]string(nil), c.events...)
		c.mu.Unlock()
		for _, e := range evs {
			var m map[string]any
			_ = json.Unmarshal([]byte(e), &m)
			if m["type"] == typ {
				return m
			}
		}
		select {
		case <-c.notify:
		case <-c.done:
			t.Fatalf("thread stream ended while waiting for %s", typ)
		case <-deadline:
			t.Fatalf("timed out waiting for %s on the thread stream", typ)
		}
	}
}

func countType[E interface{ RawJSON() string }](evs []E, typ string) int {
	n := 0
	for _, e := range evs {
		if raw(e)["type"] == typ {
			n++
		}
	}
	return n
}

// The coordinator delegates to a roster agent, which runs in a thread of
// its own; its answer comes back to the coordinator, the session stays
// running until every thread stopped, and the primary stream shows the
// summary, not the subagent's own trace. A follow-up reaches the same
// thread with its earlier turns; the thread API lists, reads, streams and
// archives threads.
func TestThreadsDelegation(t *testing.T) {
	l := newLoop(t, multiagentRule(nil))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	final, _ := col.waitFor(t, 0, "the coordinator's final message", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "researched 1") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	evs := col.snapshot()
	got := types(evs)
	for _, want := range []string{"session.thread_created", "agent.thread_message_sent", "session.thread_status_running", "session.thread_status_idle", "agent.thread_message_received"} {
		if !strings.Contains(got, want) {
			t.Fatalf("primary stream lacks %s: %s", want, got)
		}
	}
	// One idle for the whole turn: not while the subagent worked.
	if n := countType(evs, "session.status_idle"); n != 1 {
		t.Fatalf("%d session.status_idle events: %s", n, got)
	}
	// The subagent's own trace is on its thread, not the primary stream.
	for _, e := range evs {
		if e.Type == "agent.message" && strings.Contains(e.RawJSON(), "researched") && !strings.Contains(e.RawJSON(), "Final:") {
			t.Fatalf("subagent message on the primary stream: %s", e.RawJSON())
		}
	}

	ths := l.threads(sid)
	if len(ths) != 2 {
		t.Fatalf("%d threads", len(ths))
	}
	primary, sub := ths[0], ths[1]
	if raw(primary)["parent_thread_id"] != nil || primary.ID == sub.ID {
		t.Fatalf("primary thread = %s", primary.RawJSON())
	}
	if sub.ParentThreadID != primary.ID || sub.Status != "idle" || sub.Agent.Name != "researcher" || sub.SessionID != sid {
		t.Fatalf("subagent thread = %s", sub.RawJSON())
	}
	created, _ := col.waitType(t, 0, "session.thread_created")
	if raw(created)["session_thread_id"] != sub.ID || raw(created)["agent_name"] != "researcher" {
		t.Fatalf("thread_created = %s", created.RawJSON())
	}
	// Usage: the session's is the sum of its threads'.
	sess, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil || sub.Usage.InputTokens == 0 || primary.Usage.InputTokens == 0 || primary.Usage.InputTokens+sub.Usage.InputTokens != sess.Usage.InputTokens {
		t.Fatalf("usage: session %d, primary %d, subagent %d (%v)", sess.Usage.InputTokens, primary.Usage.InputTokens, sub.Usage.InputTokens, err)
	}
	got1, err := l.c.Beta.Sessions.Threads.Get(context.Background(), sub.ID, anthropic.BetaSessionThreadGetParams{SessionID: sid})
	if err != nil || got1.ID != sub.ID || got1.Agent.Name != "researcher" {
		t.Fatalf("get thread: %v %v", err, got1)
	}
	tevs := l.threadEvents(sid, sub.ID)
	tt := types(tevs)
	if !strings.Contains(tt, "agent.thread_message_received, session.thread_status_running, span.model_request_start, agent.message, span.model_request_end, agent.thread_message_sent, session.thread_status_idle") {
		t.Fatalf("thread events: %s", tt)
	}
	for _, e := range tevs {
		if raw(e)["session_thread_id"] != sub.ID {
			t.Fatalf("thread event without its thread id: %s", e.RawJSON())
		}
	}
	// The session's list is the primary thread's.
	if strings.Contains(types(l.history(sid)), "span.model_request_start, agent.message, span.model_request_end, agent.thread_message_sent") {
		t.Fatalf("subagent trace in the session's list")
	}

	// A follow-up reaches the same thread, which remembers its first turn.
	ts := l.threadStream(sid, sub.ID)
	_, at := col.waitType(t, 0, "session.status_idle")
	l.send(sid, userMessage("follow up"))
	ts.waitType(t, "session.thread_status_running")
	final2, _ := col.waitFor(t, at+1, "the follow-up's answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final2.RawJSON(), "researched 2") {
		t.Fatalf("follow-up answer = %s", final2.RawJSON())
	}
	col.waitFor(t, at+1, "idle after the follow-up", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle"
	})
	if ths := l.threads(sid); len(ths) != 2 {
		t.Fatalf("the follow-up opened a thread: %d threads", len(ths))
	}
	idleOnThread := ts.waitType(t, "session.thread_status_idle")
	if sr, _ := idleOnThread["stop_reason"].(map[string]any); sr["type"] != "end_turn" {
		t.Fatalf("thread idle = %v", idleOnThread)
	}
	// Per-thread streams take no previews.
	res := l.s.Do(t, http.MethodGet, "/v1/sessions/"+sid+"/threads/"+sub.ID+"/stream?event_deltas[]=agent.message", nil, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("thread stream with event_deltas: %d", res.StatusCode)
	}

	// Archiving ends the thread.
	arch, err := l.c.Beta.Sessions.Threads.Archive(context.Background(), sub.ID, anthropic.BetaSessionThreadArchiveParams{SessionID: sid})
	if err != nil || arch.Status != "terminated" || arch.ArchivedAt.IsZero() {
		t.Fatalf("archive: %v %v", err, arch)
	}
	ts.waitType(t, "session.thread_status_terminated")
	if _, err := l.c.Beta.Sessions.Threads.Archive(context.Background(), primary.ID, anthropic.BetaSessionThreadArchiveParams{SessionID: sid}); err == nil {
		t.Fatal("the primary thread was archived on its own")
	}
	// Statuses filter the list.
	page, err := l.c.Beta.Sessions.Threads.List(context.Background(), sid, anthropic.BetaSessionThreadListParams{Statuses: []anthropic.BetaManagedAgentsSessionThreadStatus{"terminated"}})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != sub.ID {
		t.Fatalf("terminated threads: %v %v", err, page)
	}
}

// A subagent's always_ask call is copied onto the primary thread with the
// thread's id, the session waits for the client (requires_action naming
// the copy), and the client's answer on the session's events endpoint,
// without session_thread_id, reaches the thread.
func TestThreadsCrossPostedConfirmation(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text("tool said: " + blocksText(rs))
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "rm -rf /data"})
	}))
	sid := l.session(l.coordinator([]any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	}}))
	col := l.stream(sid)
	l.send(sid, userMessage("clean up"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	ths := l.threads(sid)
	if len(ths) != 2 {
		t.Fatalf("%d threads", len(ths))
	}
	copyID := idle.StopReason.EventIDs[0]
	var copied anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, e := range col.snapshot() {
		if e.ID == copyID {
			copied = e
		}
	}
	if copied.Type != "agent.tool_use" || raw(copied)["session_thread_id"] != ths[1].ID || copied.Name != "bash" || raw(copied)["evaluated_permission"] != "ask" {
		t.Fatalf("cross-posted call = %s", copied.RawJSON())
	}
	echo := l.send(sid, confirm(copyID, false, "not that"))
	if raw(echo[0])["session_thread_id"] != ths[1].ID {
		t.Fatalf("echo = %s", echo[0].RawJSON())
	}
	final, _ := col.waitFor(t, at, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "denied") || !strings.Contains(final.RawJSON(), "not that") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	idle, _ = col.waitType(t, at+1, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	// A second answer to the same call is refused.
	if _, err := l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{confirm(copyID, true, "")}}); err == nil {
		t.Fatal("a second confirmation was accepted")
	}
}

// A server killed while a subagent works resumes the delegation after the
// restart: the thread runs again and answers, and nothing is lost or
// logged twice.
func TestThreadsRestartMidDelegation(t *testing.T) {
	var calls atomic.Int32
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if calls.Add(1) == 1 {
			return modeltest.Turn{Content: []model.Block{model.Text("lost")}, Stall: true}
		}
		return modeltest.Text("researched after restart")
	}))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("survive"))
	col.waitFor(t, 0, "the subagent running", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_running" && raw(e)["agent_name"] == "researcher"
	})
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subagent's model request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.s.Kill()
	l.reopen(testserver.WithArgs("--sandbox", "local"))
	hist := waitIdleHistory(t, l, sid)
	got := types(hist)
	for typ, n := range map[string]int{"session.thread_created": 1, "agent.thread_message_sent": 1, "agent.thread_message_received": 1, "session.status_idle": 1} {
		if c := countType(hist, typ); c != n {
			t.Fatalf("%d %s, want %d: %s", c, typ, n, got)
		}
	}
	last := ""
	for _, e := range hist {
		if e.Type == "agent.message" {
			last = e.RawJSON()
		}
	}
	if !strings.Contains(last, "Final:") || !strings.Contains(last, "researched after restart") {
		t.Fatalf("final message = %s", last)
	}
	ths := l.threads(sid)
	if len(ths) != 2 || ths[1].Status != "idle" {
		t.Fatalf("threads after restart: %v", ths)
	}
	tevs := l.threadEvents(sid, ths[1].ID)
	tt := types(tevs)
	if countType(tevs, "agent.thread_message_received") != 1 || countType(tevs, "agent.thread_message_sent") != 1 || !strings.Contains(tt, "session.thread_status_rescheduled") {
		t.Fatalf("thread events after restart: %s", tt)
	}
	seen := map[string]bool{}
	for _, e := range append(hist, tevs...) {
		if seen[e.ID] {
			t.Fatalf("event %s logged twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// A subagent's built-in tools run in the session's one sandbox: what the
// subagent writes, the coordinator reads.
func TestThreadsShareTheSandbox(t *testing.T) {
	l := newLoop(t, func(in modeltest.Input) modeltest.Turn {
		last, _ := in.Last()
		lastText := blocksText(last.Content)
		if strings.Contains(in.System, researcherSystem) {
			if len(in.ToolResults()) > 0 {
				return modeltest.Text("written")
			}
			return modeltest.ToolCall("", "bash", map[string]any{"command": "echo made-by-researcher > shared.txt"})
		}
		switch {
		case strings.Contains(lastText, "[Message from session thread"):
			return modeltest.ToolCall("", "bash", map[string]any{"command": "cat shared.txt"})
		case strings.Contains(lastText, "made-by-researcher"):
			return modeltest.Text("Final: " + lastText)
		case len(in.ToolResults()) > 0:
			return modeltest.Text("Delegated; waiting.")
		}
		return modeltest.ToolCall("", "spawn_agent", map[string]any{"agent": "researcher", "message": "write the file"})
	})
	rid := l.agent(map[string]any{"name": "researcher", "system": researcherSystem, "tools": []any{map[string]any{"type": "agent_toolset_20260401"}}})
	cid := l.agent(map[string]any{"name": "coordinator", "system": coordinatorSystem, "tools": []any{map[string]any{"type": "agent_toolset_20260401"}},
		"multiagent": map[string]any{"type": "coordinator", "agents": []any{map[string]any{"type": "agent", "id": rid}}}})
	sid := l.session(cid)
	col := l.stream(sid)
	l.send(sid, userMessage("go"))
	final, _ := col.waitFor(t, 0, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "made-by-researcher") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	ths := l.threads(sid)
	tevs := l.threadEvents(sid, ths[1].ID)
	if countType(tevs, "agent.tool_use") != 1 || countType(tevs, "agent.tool_result") != 1 {
		t.Fatalf("thread events: %s", types(tevs))
	}
}

// A session holds at most 25 open threads, its primary one included: the
// coordinator's 25th spawn_agent is refused with a tool error, the others
// run. Archiving the session ends its threads.
func TestThreadsLimitAndSessionArchive(t *testing.T) {
	l := newLoop(t, multiagentRule(nil))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("fan out 25"))
	col.waitFor(t, 0, "idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle"
	})
	evs := col.snapshot()
	refused := 0
	for _, e := range evs {
		if e.Type == "agent.tool_result" && raw(e)["is_error"] == true {
			if !strings.Contains(e.RawJSON(), "25 open threads") {
				t.Fatalf("tool error = %s", e.RawJSON())
			}
			refused++
		}
	}
	if refused != 1 || countType(evs, "session.thread_created") != 24 {
		t.Fatalf("%d refused, %d threads created: %s", refused, countType(evs, "session.thread_created"), types(evs))
	}
	ths := l.threads(sid)
	if len(ths) != 25 {
		t.Fatalf("%d threads", len(ths))
	}
	for _, th := range ths {
		if th.Status != "idle" {
			t.Fatalf("thread %s is %s after the session went idle", th.ID, th.Status)
		}
	}
	// The list pages.
	page, err := l.c.Beta.Sessions.Threads.List(context.Background(), sid, anthropic.BetaSessionThreadListParams{Limit: anthropic.Int(10)})
	if err != nil || len(page.Data) != 10 || page.NextPage == "" || page.Data[0].ID != ths[0].ID {
		t.Fatalf("first page: %v %v", err, page)
	}
	if _, err := l.c.Beta.Sessions.Archive(context.Background(), sid, anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	for _, th := range l.threads(sid)[1:] {
		if th.Status != "terminated" {
			t.Fatalf("thread %s is %s after the session was archived", th.ID, th.Status)
		}
	}
}

// A subagent's custom tool call is copied onto the primary thread; the
// client's result, sent on the session without session_thread_id, reaches
// the thread. After a restart the thread list still says which threads
// the archived session ended.
func TestThreadsCrossPostedCustomTool(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text("lookup said: " + blocksText(rs))
		}
		return modeltest.ToolCall("", "lookup", map[string]any{"q": "weather"})
	}))
	sid := l.session(l.coordinator([]any{map[string]any{"type": "custom", "name": "lookup", "description": "Look it up.",
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}}))
	col := l.stream(sid)
	l.send(sid, userMessage("weather?"))
	idle, at := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	copyID := idle.StopReason.EventIDs[0]
	use, _ := col.waitType(t, 0, "agent.custom_tool_use")
	if use.ID != copyID || raw(use)["session_thread_id"] == nil || use.Name != "lookup" {
		t.Fatalf("cross-posted call = %s", use.RawJSON())
	}
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: copyID,
		Content:         []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}}},
	}})
	final, _ := col.waitFor(t, at, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "lookup said: sunny") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	col.waitFor(t, at+1, "idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.status_idle" && e.StopReason.Type == "end_turn"
	})
	if _, err := l.c.Beta.Sessions.Archive(context.Background(), sid, anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	l.s.Stop(t)
	l.restart("local")
	ths := l.threads(sid)
	if len(ths) != 2 || ths[1].Status != "terminated" {
		t.Fatalf("threads after restart: %v", ths)
	}
}

// A follow-up the coordinator sent while the subagent was busy is still on
// its way when the server is killed: after the restart the subagent gets it
// once (the turn the crash cut short is taken up again with it).
func TestThreadsRestartWithMessageInFlight(t *testing.T) {
	var calls atomic.Int32
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if calls.Add(1) == 1 {
			return modeltest.Turn{Content: []model.Block{model.Text("lost")}, Stall: true}
		}
		n := 0
		for _, m := range in.Messages {
			if m.Role == model.RoleUser {
				n += strings.Count(blocksText(m.Content), "[Message from session thread")
			}
		}
		return modeltest.Text(fmt.Sprintf("researched %d", n))
	}))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("first"))
	col.waitFor(t, 0, "the subagent running", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_running" && raw(e)["agent_name"] == "researcher"
	})
	// The follow-up comes once the coordinator ended its turn, so that it
	// is a turn of its own.
	primary := l.threads(sid)[0].ID
	_, at := col.waitFor(t, 0, "the coordinator waiting", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_idle" && raw(e)["session_thread_id"] == primary
	})
	l.send(sid, userMessage("follow up"))
	col.waitFor(t, at, "the follow-up sent", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.thread_message_sent" && strings.Contains(e.RawJSON(), "more please")
	})
	tid := l.threads(sid)[1].ID
	if n := countType(l.threadEvents(sid, tid), "agent.thread_message_received"); n != 1 {
		t.Fatalf("the follow-up reached the busy thread: %d received", n)
	}
	l.s.Kill()
	l.restart("local")
	deadline := time.Now().Add(30 * time.Second)
	var tevs []anthropic.BetaManagedAgentsSessionEventUnion
	for {
		tevs = l.threadEvents(sid, tid)
		if h := l.history(sid); len(h) > 0 && h[len(h)-1].Type == "session.status_idle" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread after restart: %s", types(tevs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	received := 0
	for _, e := range tevs {
		if e.Type == "agent.thread_message_received" {
			received++
			if received == 2 && !strings.Contains(e.RawJSON(), "more please") {
				t.Fatalf("second message = %s", e.RawJSON())
			}
		}
	}
	if received != 2 || !strings.Contains(types(tevs), "session.thread_status_rescheduled") {
		t.Fatalf("thread events after restart: %s", types(tevs))
	}
	var answers []string
	for _, e := range tevs {
		if e.Type == "agent.thread_message_sent" {
			answers = append(answers, e.RawJSON())
		}
	}
	if len(answers) != 1 || !strings.Contains(answers[0], "researched 2") {
		t.Fatalf("answers = %v", answers)
	}
	if n := strings.Count(types(l.history(sid)), "session.status_idle"); n != 1 {
		t.Fatalf("%d idles on the session: %s", n, types(l.history(sid)))
	}
}

// A subagent whose model fails for good goes idle (retries_exhausted); the
// coordinator is told, answers, and the session ends its turn instead of
// waiting for an answer that never comes.
func TestThreadsSubagentFailure(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		return modeltest.Turn{Error: &modeltest.UpstreamError{Status: 400, Type: "invalid_request_error", Message: "bad request"}}
	}))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("try"))
	idle, _ := col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	final, _ := col.waitFor(t, 0, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "model requests kept failing") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	ths := l.threads(sid)
	tevs := l.threadEvents(sid, ths[1].ID)
	var stop string
	for _, e := range tevs {
		if e.Type == "session.thread_status_idle" {
			stop = e.StopReason.Type
		}
	}
	if stop != "retries_exhausted" || countType(tevs, "session.error") != 1 {
		t.Fatalf("thread events: %s (stop %s)", types(tevs), stop)
	}
}

// A subagent's request for the client survives a restart: after it the
// session still waits on the copy, and the answer still reaches the thread.
func TestThreadsCrossPostSurvivesRestart(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text("tool said: " + blocksText(rs))
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "rm -rf /data"})
	}))
	sid := l.session(l.coordinator([]any{map[string]any{
		"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	}}))
	col := l.stream(sid)
	l.send(sid, userMessage("clean up"))
	idle, _ := col.waitType(t, 0, "session.status_idle")
	copyID := idle.StopReason.EventIDs[0]
	l.s.Kill()
	l.restart("local")
	s, err := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{})
	if err != nil || s.Status != "idle" {
		t.Fatalf("session after restart: %v %v", err, s)
	}
	col = l.stream(sid)
	l.send(sid, confirm(copyID, false, "no"))
	final, _ := col.waitFor(t, 0, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "denied") {
		t.Fatalf("final = %s", final.RawJSON())
	}
	idle, _ = col.waitType(t, 0, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
}

// The multiagent_20261001 form: its subagents' predefined agents are the
// roster, "self" included (the coordinator's own configuration); the
// coordinator is offered them by name, a subagent is offered no thread
// tools, and each thread's requests use its own agent's system prompt.
func TestThreadsMultiagent20261001(t *testing.T) {
	l := newLoop(t, multiagentRule(nil))
	rid := l.agent(map[string]any{"name": "researcher", "system": researcherSystem, "model": "claude-test-2"})
	cid := l.agent(map[string]any{"name": "coordinator", "system": coordinatorSystem,
		"multiagent": map[string]any{"type": "multiagent_20261001", "subagents": map[string]any{"type": "enabled",
			"predefined_agents": []any{map[string]any{"type": "agent", "id": rid}, map[string]any{"type": "self"}}}}})
	sid := l.session(cid)
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	col.waitFor(t, 0, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	var coordTools, subTools []string
	var subModel string
	for _, r := range l.fake.Requests() {
		var names []string
		for _, tl := range r.Input.Tools {
			names = append(names, tl.Name)
			if tl.Name == "spawn_agent" && !strings.Contains(string(tl.InputSchema), `"enum":["researcher","coordinator"]`) {
				t.Fatalf("spawn_agent schema = %s", tl.InputSchema)
			}
		}
		if strings.Contains(r.Input.System, coordinatorSystem) {
			coordTools = names
		} else {
			subTools, subModel = names, r.Input.Model
		}
	}
	// Workflows are on by default in this form: their tools follow.
	if strings.Join(coordTools, ",") != "spawn_agent,send_message,ant__start_workflow_run,ant__get_workflow_run,ant__stop_workflow_run" || len(subTools) != 0 || subModel != "claude-test-2" {
		t.Fatalf("coordinator tools %v, subagent tools %v, subagent model %q", coordTools, subTools, subModel)
	}
}

// An interrupt naming a subagent's thread stops that thread only; the
// session, with nothing else to do, goes idle. A session-wide interrupt
// stops every thread.
func TestThreadsInterrupt(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		return modeltest.Turn{Content: []model.Block{model.Text("never")}, Stall: true}
	}))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("fan out 2"))
	_, at := col.waitFor(t, 0, "two subagents running", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		if e.Type != "session.thread_status_running" || raw(e)["agent_name"] != "researcher" {
			return false
		}
		n := 0
		for _, x := range col.snapshot() {
			if x.Type == "session.thread_status_running" && raw(x)["agent_name"] == "researcher" {
				n++
			}
		}
		return n >= 2
	})
	ths := l.threads(sid)
	if len(ths) != 3 {
		t.Fatalf("%d threads", len(ths))
	}
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{SessionThreadID: anthropic.String(ths[1].ID)}})
	col.waitFor(t, at, "the first thread idle", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "session.thread_status_idle" && raw(e)["session_thread_id"] == ths[1].ID
	})
	if th, err := l.c.Beta.Sessions.Threads.Get(context.Background(), ths[2].ID, anthropic.BetaSessionThreadGetParams{SessionID: sid}); err != nil || th.Status != "running" {
		t.Fatalf("the other thread: %v %v", err, th)
	}
	if s, _ := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{}); s.Status != "running" {
		t.Fatalf("session %s while a thread runs", s.Status)
	}
	// Interrupting the primary thread stops the coordinator only.
	echo := l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{SessionThreadID: anthropic.String(ths[0].ID)}})
	col.waitFor(t, at, "the primary interrupt taken", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.ID == echo[0].ID && raw(e)["processed_at"] != nil
	})
	if th, err := l.c.Beta.Sessions.Threads.Get(context.Background(), ths[2].ID, anthropic.BetaSessionThreadGetParams{SessionID: sid}); err != nil || th.Status != "running" {
		t.Fatalf("the other thread after the coordinator's interrupt: %v %v", err, th)
	}
	if s, _ := l.c.Beta.Sessions.Get(context.Background(), sid, anthropic.BetaSessionGetParams{}); s.Status != "running" {
		t.Fatalf("session %s after the coordinator's interrupt, while a thread runs", s.Status)
	}
	if countType(col.snapshot(), "session.status_idle") != 0 {
		t.Fatalf("session idle while a thread runs: %s", types(col.snapshot()))
	}
	// An unknown thread is refused.
	if _, err := l.c.Beta.Sessions.Events.Send(context.Background(), sid, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{
		{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{SessionThreadID: anthropic.String("sthr_nope")}}}}); err == nil {
		t.Fatal("an interrupt of an unknown thread was accepted")
	}
	l.send(sid, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	idle, _ := col.waitType(t, at, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		t.Fatalf("idle = %s", idle.RawJSON())
	}
	for _, th := range l.threads(sid) {
		if th.Status != "idle" {
			t.Fatalf("thread %s is %s after the interrupt", th.ID, th.Status)
		}
	}
}

// A thread's stream resumed with Last-Event-ID replays that thread's
// events after the given one, and only that thread's.
func TestThreadsStreamResume(t *testing.T) {
	l := newLoop(t, multiagentRule(nil))
	sid := l.session(l.coordinator(nil))
	col := l.stream(sid)
	l.send(sid, userMessage("the answer"))
	col.waitType(t, 0, "session.status_idle")
	tid := l.threads(sid)[1].ID
	tevs := l.threadEvents(sid, tid)
	h := http.Header{}
	h.Set("Last-Event-ID", tevs[0].ID)
	res := l.s.Do(t, http.MethodGet, "/v1/sessions/"+sid+"/threads/"+tid+"/stream", nil, h)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	var ids []string
	for len(ids) < len(tevs)-1 && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		if id != tevs[i+1].ID {
			t.Fatalf("replayed %v, want the thread's events after %s", ids, tevs[0].ID)
		}
	}
}

// A coordinator without sandbox tools still gets a sandbox for its
// subagents' calls, on first use.
func TestThreadsSandboxForSubagentOnly(t *testing.T) {
	l := newLoop(t, multiagentRule(func(in modeltest.Input) modeltest.Turn {
		if rs := in.ToolResults(); len(rs) > 0 {
			return modeltest.Text("tool said: " + blocksText(rs))
		}
		return modeltest.ToolCall("", "bash", map[string]any{"command": "echo hi-from-$((40+2))"})
	}))
	sid := l.session(l.coordinator([]any{map[string]any{"type": "agent_toolset_20260401"}}))
	col := l.stream(sid)
	l.send(sid, userMessage("run it"))
	final, _ := col.waitFor(t, 0, "the final answer", func(e anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return e.Type == "agent.message" && strings.Contains(e.RawJSON(), "Final:")
	})
	if !strings.Contains(final.RawJSON(), "hi-from-42") {
		t.Fatalf("final = %s", final.RawJSON())
	}
}
