package engine

import (
	"context"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// The thread endpoints' view of a session's threads.

// Threads returns a session's threads: the primary one first, then the
// subagent threads in the order they were created, then the advisor's
// consultations.
func (e *Engine) Threads(ctx context.Context, ws, id string) ([]wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []wire.SessionThread{s.primaryDoc()}
	if s.mt != nil {
		for _, t := range s.mt.threads {
			out = append(out, s.threadDoc(t))
		}
	}
	for _, a := range s.advisors {
		out = append(out, s.advisorDoc(a))
	}
	return out, nil
}

// Thread returns one thread of a session.
func (e *Engine) Thread(ctx context.Context, ws, id, threadID string) (wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.SessionThread{}, err
	}
	defer s.mu.Unlock()
	return s.threadByID(threadID)
}

func (s *session) threadByID(threadID string) (wire.SessionThread, error) {
	if threadID == primaryThreadID(s.id) {
		return s.primaryDoc(), nil
	}
	if s.mt != nil {
		if t := s.mt.byID[threadID]; t != nil {
			return s.threadDoc(t), nil
		}
	}
	for _, a := range s.advisors {
		if a.id == threadID {
			return s.advisorDoc(a), nil
		}
	}
	return wire.SessionThread{}, errdefs.NotFound("session thread %s not found", threadID)
}

// ThreadLog returns the thread id a thread's events are logged under (""
// for the primary thread), or not-found.
func (e *Engine) ThreadLog(ctx context.Context, ws, id, threadID string) (string, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if _, err := s.threadByID(threadID); err != nil {
		return "", err
	}
	if threadID == primaryThreadID(s.id) {
		return "", nil
	}
	return threadID, nil
}

// ArchiveThread ends a subagent thread for good: its work is cancelled, its
// calls answered, and it is terminated. The primary thread is the session
// itself: archive the session instead.
func (e *Engine) ArchiveThread(ctx context.Context, ws, id, threadID string) (wire.SessionThread, error) {
	s, err := e.lock(ctx, ws, id)
	if err != nil {
		return wire.SessionThread{}, err
	}
	defer s.mu.Unlock()
	if threadID == primaryThreadID(s.id) {
		return wire.SessionThread{}, errdefs.Invalid("thread_id: %s is the session's primary thread, which cannot be archived on its own; archive the session instead", threadID)
	}
	doc, err := s.threadByID(threadID)
	if err != nil {
		return wire.SessionThread{}, err
	}
	if doc.Agent.Type == "advisor" {
		return wire.SessionThread{}, errdefs.Invalid("thread_id: %s is a consultation of the advisor, which ends by itself and cannot be archived", threadID)
	}
	t := s.mt.byID[threadID]
	if t.archivedAt != nil {
		return s.threadDoc(t), nil
	}
	const why = "The thread was archived before this tool call completed."
	if t.stepCancel != nil {
		t.stepCancel()
	}
	var evs []pending
	for _, cl := range t.conv.calls {
		if cl.state != callDone && cl.kind == tool.Builtin {
			p := failedCall(cl.id, why)
			p.thread = t.id
			evs = append(evs, p)
		}
	}
	prev := t.status
	if prev != wire.ThreadTerminated {
		term := s.threadStatus(t, wire.ThreadTerminated, nil)
		// The thread's own copy remembers that it was archived.
		term[0].private = []byte(`{"archived":true}`)
		evs = append(evs, term...)
	}
	if _, err := s.commit(ctx, "", evs...); err != nil {
		t.status = prev
		return wire.SessionThread{}, err
	}
	now := wire.Now()
	t.archivedAt, t.updated = &now, now
	t.conv.cancelCalls(why)
	t.inbox = nil
	for cid, cp := range s.mt.crossed {
		if r, ok := s.mt.routes[cp]; ok && r.th == t {
			delete(s.mt.routes, cp)
			delete(s.mt.crossed, cid)
		}
	}
	s.main.announced = false
	s.checkWorkflowThread(t)
	// The session may have been waiting on this thread.
	s.kick()
	return s.threadDoc(t), nil
}

// primaryDoc is the primary thread as an API object.
func (s *session) primaryDoc() wire.SessionThread {
	status := s.sess.Status
	if s.mt != nil && s.mt.primaryStatus != "" && status != store.SessionTerminated {
		status = s.mt.primaryStatus
	}
	stats := s.doc.Stats
	// The session's usage sums every thread's; the primary thread's is
	// what is left once the subagents' are taken out.
	usage := s.doc.Usage
	own := s.spend.total
	if s.mt != nil {
		for _, t := range s.mt.threads {
			usage.InputTokens -= t.usage.InputTokens
			usage.OutputTokens -= t.usage.OutputTokens
			usage.CacheReadInputTokens -= t.usage.CacheReadInputTokens
			usage.CacheCreation.Ephemeral5mInputTokens -= t.usage.CacheCreation.Ephemeral5mInputTokens
			usage.CacheCreation.Ephemeral1hInputTokens -= t.usage.CacheCreation.Ephemeral1hInputTokens
			own = own.Sub(s.spend.threads[t.id])
		}
	}
	usage.ListCost = s.listCost(own)
	return wire.SessionThread{
		ID: primaryThreadID(s.id), Agent: wire.ThreadAgentFrom(s.doc.Agent), ArchivedAt: s.doc.ArchivedAt,
		CreatedAt: s.doc.CreatedAt, SessionID: s.id, Status: status, UpdatedAt: s.doc.UpdatedAt, Stats: &stats, Usage: &usage,
	}
}

// threadDoc is a subagent thread as an API object.
func (s *session) threadDoc(t *thread) wire.SessionThread {
	parent := s.mt.primaryID
	stats := t.stats
	end := time.Now()
	if t.archivedAt != nil {
		end = *t.archivedAt
	}
	stats.DurationSeconds = end.Sub(t.created).Seconds()
	usage := t.usage
	if _, ok := s.spend.threads[t.id]; ok || len(s.spend.unpriced) > 0 {
		usage.ListCost = s.listCost(s.spend.threads[t.id])
	}
	return wire.SessionThread{
		ID: t.id, Agent: wire.ThreadAgentFrom(t.agent), ArchivedAt: t.archivedAt, CreatedAt: t.created,
		ParentThreadID: &parent, SessionID: s.id, Status: t.status, UpdatedAt: t.updated, Stats: &stats, Usage: &usage,
		WorkflowRunID: t.workflowRunID(),
	}
}
