package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Outcomes: a user.define_outcome gives the primary conversation a task and
// a rubric. The agent works on the task as on any input; when its turn
// would end (the session would go idle), a grader grades the work instead:
// one model request of its own, in a context of its own (Hangar's grader
// prompt, the rubric, the task and the artifact: the agent's last
// messages and what it left under /mnt/session/outputs), which answers
// with a structured verdict. needs_revision hands the grader's feedback
// back to the agent as its next input and the session runs on; the last
// allowed evaluation turns needs_revision into max_iterations_reached,
// whose feedback still reaches the agent for one last revision (graded no
// more); satisfied and failed end the outcome and the session goes idle. A
// user.interrupt ends the outcome as interrupted.
//
// Everything is derived from the log, as the rest of the engine: the
// define_outcome echo carries the task, the resolved rubric and the
// outcome id; the span events carry the iteration and the verdict, so a
// rebuilt session knows the active outcome, its iteration, whether an
// evaluation was in flight, and the feedback the agent was given (the
// feedback text is a pure function of the verdict).

// outcome is the session's active outcome.
type outcome struct {
	id          string
	description string
	rubric      string
	maxIter     int64
	// iteration is the evaluation to come, or the one in flight, from 0.
	iteration int64
	// startID is the in-flight evaluation's span.outcome_evaluation_start,
	// "" while the agent works.
	startID string
}

// outcomeHeartbeat is how often span.outcome_evaluation_ongoing is logged
// while the grader works.
const outcomeHeartbeat = 10 * time.Second

// Grader bounds: what of the agent's work the grader is shown.
const (
	graderMaxMessages = 64 << 10
	graderListCommand = `cd /mnt/session/outputs 2>/dev/null || { echo "(no /mnt/session/outputs directory)"; exit 0; }
[ -n "$(find . -type f | head -n 1)" ] || { echo "(no files)"; exit 0; }
find . -type f | LC_ALL=C sort | head -n 50 | while IFS= read -r f; do
  s=$(wc -c < "$f")
  echo "=== ${f#./} ($s bytes)"
  if [ "$s" -eq 0 ]; then :
  elif ! head -c 8192 "$f" | grep -Iq .; then echo "[binary file]"
  elif [ "$s" -le 16384 ]; then cat "$f"; echo
  else head -c 4096 "$f"; echo; echo "[... cut: the file is larger than 16 KiB]"; fi
done`
	graderMaxFiles    = 96 << 10
	graderListTimeout = 30 * time.Second
	graderMaxAttempts = 2
	// graderTimeout bounds one grader request, so a provider that never
	// answers fails the attempt instead of holding the outcome.
	graderTimeout      = 10 * time.Minute
	graderSystemPrompt = "You are the grader of an AI agent's work. You did not do the work and you do not talk to the agent's user. " +
		"You are given a task, a rubric, and the artifact the agent produced for the task: its final messages and the files it left in /mnt/session/outputs. " +
		"Grade the artifact against the rubric criterion by criterion. Be strict and concrete: a criterion is met only when the artifact shows it.\n\n" +
		"Answer with exactly one JSON object and nothing else:\n" +
		`{"result": "satisfied" | "needs_revision" | "failed", "explanation": "..."}` + "\n\n" +
		"- satisfied: every criterion of the rubric is met. The explanation says briefly why.\n" +
		"- needs_revision: some criteria are not met. The explanation lists each unmet criterion and what the agent must change; it is sent to the agent as its feedback.\n" +
		"- failed: the rubric cannot be applied to this task (it contradicts the task or grades something the task does not produce), so no revision can satisfy it. The explanation says why."
)

// admitOutcome checks a user.define_outcome against the session (one
// outcome at a time) and completes it as it will be logged: its outcome id
// and its resolved max_iterations. s.mu is held.
func (s *session) admitOutcome(path string, p *wire.UserDefineOutcomeEvent) error {
	active := ""
	if s.oc != nil {
		active = s.oc.id
	}
	for _, q := range append(pendingEvents(s.unsaved), s.queue...) {
		if d, ok := q.Payload.(*wire.UserDefineOutcomeEvent); ok {
			active = d.OutcomeID
		}
	}
	if active != "" {
		return errdefs.Invalid("%s.type: outcome %s is still active on this session; only one outcome can be active at a time, and a new user.define_outcome is accepted once it ends (satisfied, max_iterations_reached, failed or interrupted)", path, active)
	}
	if p.Rubric.Type != wire.BlockText {
		// The API resolves a file rubric to its text before the engine
		// sees it; anything else is a caller's bug.
		return errdefs.Invalid("%s.rubric.type: the rubric must be resolved to text", path)
	}
	p.OutcomeID = ids.New(ids.Outcome)
	n := int64(wire.DefaultOutcomeIterations)
	if p.MaxIterations != nil {
		n = *p.MaxIterations
	}
	p.MaxIterations = &n
	return nil
}

func pendingEvents(ps []pending) []wire.Event {
	out := make([]wire.Event, len(ps))
	for i, p := range ps {
		out[i] = p.ev
	}
	return out
}

// beginOutcome makes a consumed (or replayed) define_outcome the active
// outcome and gives the agent its task. s.mu is held.
func (c *conversation) beginOutcome(p *wire.UserDefineOutcomeEvent) {
	s := c.s
	n := int64(wire.DefaultOutcomeIterations)
	if p.MaxIterations != nil {
		n = *p.MaxIterations
	}
	s.oc = &outcome{id: p.OutcomeID, description: p.Description, rubric: p.Rubric.Content, maxIter: n}
	s.doc.OutcomeEvaluations = withOutcome(s.doc.OutcomeEvaluations, p.OutcomeID, p.Description)
	for i, o := range s.doc.OutcomeEvaluations {
		// A rebuild replays this too: the document (from the row) is
		// already further along then.
		if o.OutcomeID == p.OutcomeID && o.Result == wire.OutcomePending {
			s.doc.OutcomeEvaluations[i].Result = wire.OutcomeRunning
		}
	}
	c.appendUser(model.Text(outcomeTask(p)))
	c.halted = false
}

// outcomeTask is the agent's input for an outcome.
func outcomeTask(p *wire.UserDefineOutcomeEvent) string {
	return "Work on the task below until it is done. When your turn ends, an independent grader grades your work " +
		"(your final message and the files you leave in /mnt/session/outputs/) against the rubric below; " +
		"if criteria are unmet, you get its feedback and revise.\n\n<task>\n" + p.Description + "\n</task>\n\n<rubric>\n" + p.Rubric.Content + "\n</rubric>"
}

// outcomeFeedback is the agent's input after a verdict that asks for a
// revision.
func outcomeFeedback(end *wire.SpanOutcomeEvaluationEndEvent) string {
	head := fmt.Sprintf("The grader evaluated your work (evaluation %d) and it does not meet the rubric yet. Its feedback:\n\n", end.Iteration+1)
	tail := "\n\nRevise your work to address this feedback; it will be graded again when your turn ends."
	if end.Result == wire.OutcomeMaxIterationsReached {
		tail = "\n\nNo more evaluations will run: make one last revision addressing this feedback, then end your turn."
	}
	return head + end.Explanation + tail
}

// withOutcome is list (copied) with an entry for outcome id, added
// pending when missing.
func withOutcome(list []wire.OutcomeEvaluation, id, description string) []wire.OutcomeEvaluation {
	list = append([]wire.OutcomeEvaluation(nil), list...)
	for _, o := range list {
		if o.OutcomeID == id {
			return list
		}
	}
	return append(list, wire.OutcomeEvaluation{OutcomeID: id, Description: description, Result: wire.OutcomePending})
}

// outcomeDoc applies a logged event to the session document being
// committed: the outcome_evaluations entry it changes, and the grader's
// usage. s.mu is held.
func outcomeDoc(doc *wire.Session, e wire.Event, at time.Time) {
	switch p := e.Payload.(type) {
	case *wire.UserDefineOutcomeEvent:
		doc.OutcomeEvaluations = withOutcome(doc.OutcomeEvaluations, p.OutcomeID, p.Description)
	case *wire.SpanOutcomeEvaluationStartEvent:
		setOutcome(doc, p.OutcomeID, func(o *wire.OutcomeEvaluation) {
			o.Iteration, o.Result = p.Iteration, wire.OutcomeEvaluating
		})
	case *wire.SpanOutcomeEvaluationEndEvent:
		// The grader's usage was counted as its requests ended (grade).
		setOutcome(doc, p.OutcomeID, func(o *wire.OutcomeEvaluation) {
			endOutcome(o, p, at)
		})
	}
}

func setOutcome(doc *wire.Session, id string, f func(*wire.OutcomeEvaluation)) {
	// The list is copied: the document being committed must not share it
	// with the runtime's until the commit succeeds.
	doc.OutcomeEvaluations = append([]wire.OutcomeEvaluation(nil), doc.OutcomeEvaluations...)
	for i := range doc.OutcomeEvaluations {
		if doc.OutcomeEvaluations[i].OutcomeID == id {
			f(&doc.OutcomeEvaluations[i])
		}
	}
}

func endOutcome(o *wire.OutcomeEvaluation, p *wire.SpanOutcomeEvaluationEndEvent, at time.Time) {
	expl := p.Explanation
	o.Iteration, o.Result, o.Explanation = p.Iteration, p.Result, &expl
	if p.Result != wire.OutcomeNeedsRevision {
		o.CompletedAt = &at
	}
}

// outcomeTerminal reports whether a result ends its outcome.
func outcomeTerminal(result string) bool {
	switch result {
	case wire.OutcomeSatisfied, wire.OutcomeMaxIterationsReached, wire.OutcomeFailed, wire.OutcomeInterrupted:
		return true
	}
	return false
}

// applyOutcomeEnd applies a committed or replayed verdict to the runtime:
// the outcome ends, or the agent gets its feedback. s.mu is held.
func (s *session) applyOutcomeEnd(p *wire.SpanOutcomeEvaluationEndEvent) {
	if s.oc == nil || s.oc.id != p.OutcomeID {
		return
	}
	switch p.Result {
	case wire.OutcomeNeedsRevision:
		s.oc.iteration, s.oc.startID = p.Iteration+1, ""
	default:
		s.oc = nil
	}
	if p.Result == wire.OutcomeNeedsRevision || p.Result == wire.OutcomeMaxIterationsReached {
		s.main.appendUser(model.Text(outcomeFeedback(p)))
		s.main.halted = false
	}
}

// replayOutcome folds the outcome's logged events into a rebuilt session
// (the define_outcome itself joins the conversation where it was
// processed, as turn input does). s.mu is held or the session is private.
func (s *session) replayOutcome(se store.Event, e wire.Event) {
	switch p := e.Payload.(type) {
	case *wire.SpanOutcomeEvaluationStartEvent:
		if s.oc != nil && s.oc.id == p.OutcomeID {
			s.oc.iteration, s.oc.startID = p.Iteration, e.ID
		}
	case *wire.SpanOutcomeEvaluationEndEvent:
		s.applyOutcomeEnd(p)
	case *wire.UserInterruptEvent:
		if e.ProcessedAt != nil && se.ThreadID == "" && (p.SessionThreadID == "" || p.SessionThreadID == primaryThreadID(s.id)) {
			s.oc = nil
		}
	}
}

// interruptOutcome ends the active outcome on an interrupt of the primary
// conversation: with span.outcome_evaluation_end interrupted when an
// evaluation was in flight; otherwise only its entry says so (no
// evaluation span was open to close). s.mu is held.
func (s *session) interruptOutcome(ctx context.Context) []pending {
	oc := s.oc
	if oc == nil {
		return nil
	}
	s.oc = nil
	if oc.startID != "" {
		return []pending{ev(&wire.SpanOutcomeEvaluationEndEvent{
			OutcomeEvaluationStartID: oc.startID, OutcomeID: oc.id, Iteration: oc.iteration,
			Result: wire.OutcomeInterrupted, Explanation: "The user interrupted the session while the outcome was being evaluated.",
		})}
	}
	now := wire.Now()
	expl := "The user interrupted the session before the outcome was evaluated."
	s.doc.OutcomeEvaluations = withOutcome(s.doc.OutcomeEvaluations, oc.id, oc.description)
	for i := range s.doc.OutcomeEvaluations {
		if o := &s.doc.OutcomeEvaluations[i]; o.OutcomeID == oc.id {
			o.Iteration, o.Result, o.Explanation, o.CompletedAt = oc.iteration, wire.OutcomeInterrupted, &expl, &now
		}
	}
	if s.sess.Status == store.SessionIdle {
		// An idle session logs nothing for the interrupt: the entry is
		// saved now.
		if _, err := s.commit(ctx, ""); err != nil {
			s.e.log.Error("end interrupted outcome", "session", s.id, "err", err)
		}
	}
	return nil
}

// outcomeNext is the outcome's step when the agent's turn has ended and
// the session would go idle: the evaluation of the work, its start logged
// here (or resumed, when the server stopped while the grader worked). nil
// when there is no active outcome. s.mu is held.
func (s *session) outcomeNext(ctx context.Context) action {
	oc := s.oc
	if oc == nil {
		return nil
	}
	if !s.ensureRunning(ctx) {
		return nil
	}
	if oc.startID == "" {
		rows, err := s.commit(ctx, "", ev(&wire.SpanOutcomeEvaluationStartEvent{OutcomeID: oc.id, Iteration: oc.iteration}))
		if err != nil {
			s.e.log.Error("start outcome evaluation", "session", s.id, "err", err)
			return nil
		}
		oc.startID = rows[0].ID
	}
	in := graderInput{
		outcomeID: oc.id, startID: oc.startID, iteration: oc.iteration, maxIter: oc.maxIter,
		description: oc.description, rubric: oc.rubric, messages: s.main.finalMessages(),
		modelID: s.doc.Agent.Model.ID, listFiles: !s.selfHosted && s.e.tools != nil && s.hasSandboxTools(),
	}
	return func(ctx context.Context) { s.evaluate(ctx, in) }
}

// graderInput is what one evaluation needs, taken under the lock.
type graderInput struct {
	outcomeID, startID  string
	iteration, maxIter  int64
	description, rubric string
	messages            string
	modelID             string
	listFiles           bool
}

// finalMessages is the agent's text since the last input it was given
// (the task, the feedback or a user message): the artifact's message part.
// c.s.mu is held.
func (c *conversation) finalMessages() string {
	var parts []string
	for i := len(c.history) - 1; i >= 0; i-- {
		m := c.history[i]
		if m.Role == model.RoleUser && hasText(m) {
			break
		}
		if m.Role != model.RoleAssistant {
			continue
		}
		var texts []string
		for _, b := range m.Content {
			if b.Type == model.BlockText && b.Text != "" && b.Text != "(no response)" {
				texts = append(texts, b.Text)
			}
		}
		if len(texts) > 0 {
			parts = append([]string{strings.Join(texts, "\n")}, parts...)
		}
	}
	out := strings.Join(parts, "\n\n")
	if len(out) > graderMaxMessages {
		out = "[… earlier text cut]\n" + out[len(out)-graderMaxMessages:]
	}
	return out
}

func hasText(m model.Message) bool {
	for _, b := range m.Content {
		if b.Type == model.BlockText {
			return true
		}
	}
	return false
}

// evaluate runs one evaluation: the grader's request (tried twice), with
// heartbeats while it works, then the verdict logged and applied. An
// interrupt cancels ctx: nothing is logged here then, the interrupt ends
// the outcome (interruptOutcome).
func (s *session) evaluate(ctx context.Context, in graderInput) {
	files := ""
	if in.listFiles {
		files = s.outputsListing(ctx)
	}
	hbCtx, stopHB := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.heartbeats(hbCtx, in)
	}()
	v, usage, err := s.grade(ctx, in, files)
	stopHB()
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil || s.oc == nil || s.oc.startID != in.startID || s.interruptQueued() {
		// Interrupted (or stopped): the interrupt, or the resumed session,
		// decides.
		return
	}
	if err != nil {
		s.e.log.Warn("outcome grader failed", "session", s.id, "outcome", in.outcomeID, "err", err)
		v = verdict{Result: wire.OutcomeFailed, Explanation: "The grader could not produce a verdict (" + err.Error() + "), so the outcome could not be evaluated."}
	}
	if v.Result == wire.OutcomeNeedsRevision && in.iteration+1 >= in.maxIter {
		v.Result = wire.OutcomeMaxIterationsReached
	}
	end := &wire.SpanOutcomeEvaluationEndEvent{
		OutcomeEvaluationStartID: in.startID, OutcomeID: in.outcomeID, Iteration: in.iteration,
		Result: v.Result, Explanation: v.Explanation, Usage: usage,
	}
	if _, err := s.commit(s.e.ctx, "", ev(end)); err != nil {
		s.e.log.Error("record outcome verdict", "session", s.id, "err", err)
		return
	}
	s.applyOutcomeEnd(end)
}

// interruptQueued reports whether an interrupt waits in the queue: a
// verdict arriving then is dropped, so the log says what a rebuild
// replays (the interrupt ends the outcome). s.mu is held.
func (s *session) interruptQueued() bool {
	for _, q := range s.queue {
		if p, ok := q.Payload.(*wire.UserInterruptEvent); ok && (p.SessionThreadID == "" || p.SessionThreadID == primaryThreadID(s.id)) {
			return true
		}
	}
	return false
}

// heartbeats logs span.outcome_evaluation_ongoing when the grader starts
// and then every outcomeHeartbeat until ctx ends.
func (s *session) heartbeats(ctx context.Context, in graderInput) {
	t := time.NewTicker(outcomeHeartbeat)
	defer t.Stop()
	for {
		s.mu.Lock()
		if ctx.Err() == nil && s.oc != nil && s.oc.startID == in.startID {
			if _, err := s.commit(s.e.ctx, "", ev(&wire.SpanOutcomeEvaluationOngoingEvent{OutcomeID: in.outcomeID, Iteration: in.iteration})); err != nil {
				s.e.log.Error("outcome heartbeat", "session", s.id, "err", err)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outputsListing lists the files under /mnt/session/outputs with the
// content of the small text ones, through the sandbox's bash tool. A
// failure leaves the grader without it (it is told so).
func (s *session) outputsListing(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, graderListTimeout)
	defer cancel()
	input, _ := json.Marshal(map[string]string{"command": graderListCommand})
	res, err := s.e.tools.Execute(ctx, ToolCall{Workspace: s.ws, SessionID: s.id, EnvironmentID: s.doc.EnvironmentID, ToolUseID: ids.New(ids.Event), Name: "bash", Input: input})
	if err != nil || res.IsError {
		if err == nil {
			err = errors.New(blocksText(res.Content))
		}
		s.e.log.Warn("list outputs for the grader", "session", s.id, "err", err)
		return "(the files could not be listed)"
	}
	out := blocksText(res.Content)
	if len(out) > graderMaxFiles {
		out = out[:graderMaxFiles] + "\n[… cut]"
	}
	return out
}

func blocksText(bs []wire.ContentBlock) string {
	var parts []string
	for _, b := range bs {
		if b.Type == wire.BlockText {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// verdict is the grader's answer.
type verdict struct {
	Result      string `json:"result"`
	Explanation string `json:"explanation"`
}

// grade asks the grader, once more when its request fails (after the
// model's backoff when the failure is one to retry) or its answer does not
// parse. usage sums every request made.
func (s *session) grade(ctx context.Context, in graderInput, files string) (verdict, wire.SpanModelUsage, error) {
	req := graderRequest(in, files, s.e.opt.MaxTokens)
	var usage wire.SpanModelUsage
	var err error
	for attempt := 0; attempt < graderMaxAttempts && ctx.Err() == nil; attempt++ {
		var resp *model.Response
		rctx, cancel := context.WithTimeout(ctx, graderTimeout)
		resp, err = model.Collect(s.e.mdl.Stream(rctx, req), nil)
		cancel()
		if err != nil {
			if delay, retry := s.e.opt.Backoff.Delay(attempt, err); retry && attempt+1 < graderMaxAttempts {
				select {
				case <-ctx.Done():
				case <-time.After(delay):
				}
			}
			continue
		}
		// Each grader request counts toward the session's usage and list
		// cost as it ends.
		s.mu.Lock()
		s.chargeModelRequest("", req.Model, resp.Usage)
		s.mu.Unlock()
		u := spanUsage(resp.Usage)
		usage.InputTokens += u.InputTokens
		usage.OutputTokens += u.OutputTokens
		usage.CacheCreationInputTokens += u.CacheCreationInputTokens
		usage.CacheReadInputTokens += u.CacheReadInputTokens
		var v verdict
		if v, err = parseVerdict(resp.Text()); err == nil {
			return v, usage, nil
		}
	}
	return verdict{}, usage, err
}

// graderRequest is the grader's own request: Hangar's grader prompt and
// one user message with the rubric, the task and the artifact; nothing of
// the agent's conversation but its final messages.
func graderRequest(in graderInput, files string, maxTokens int) *model.Request {
	var sb strings.Builder
	sb.WriteString("<task>\n" + in.description + "\n</task>\n\n")
	sb.WriteString("<rubric>\n" + in.rubric + "\n</rubric>\n\n")
	sb.WriteString("<agent_final_messages>\n" + in.messages + "\n</agent_final_messages>\n\n")
	if in.listFiles {
		sb.WriteString("<outputs_files>\n" + files + "\n</outputs_files>\n\n")
	} else {
		sb.WriteString("<outputs_files>\n(the agent's files are not available to the grader in this session)\n</outputs_files>\n\n")
	}
	fmt.Fprintf(&sb, "This is evaluation %d of at most %d. Grade the artifact against the rubric and answer with the JSON object.", in.iteration+1, in.maxIter)
	return &model.Request{
		Model:     in.modelID,
		MaxTokens: maxTokens,
		System:    []model.Block{model.Text(graderSystemPrompt)},
		Messages:  []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(sb.String())}}},
	}
}

// parseVerdict reads the grader's answer strictly: exactly the JSON object
// the prompt asks for (alone or in a ```json fence), a known result and an
// explanation.
func parseVerdict(text string) (verdict, error) {
	body := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(body, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		body = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	var v verdict
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return verdict{}, fmt.Errorf("the grader's answer is not the JSON object {\"result\", \"explanation\"}: %w", err)
	}
	if dec.More() {
		return verdict{}, errors.New("the grader's answer has text after its JSON object")
	}
	switch v.Result {
	case wire.OutcomeSatisfied, wire.OutcomeNeedsRevision, wire.OutcomeFailed:
	default:
		return verdict{}, fmt.Errorf("the grader's result %q is not satisfied, needs_revision or failed", v.Result)
	}
	if strings.TrimSpace(v.Explanation) == "" {
		return verdict{}, errors.New("the grader's answer has no explanation")
	}
	return v, nil
}
