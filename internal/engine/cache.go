package engine

import (
	"container/list"

	"github.com/hangarhq/hangar/internal/model"
)

// The engine keeps the runtime of each session it touched, so that a busy
// session does not read its log again at every step. Between turns a
// runtime holds little but its conversation, which the log holds too: the
// cache is bounded by the runtimes' estimated size as well as by their
// count, and when either bound is passed the quiet runtimes used least
// recently are dropped first (rebuilt from the log when next needed).

// maxRuns bounds the number of runtimes kept in memory.
const maxRuns = 4096

// defaultCacheBytes is the default of Options.CacheBytes.
const defaultCacheBytes = 64 << 20

// cached is a runtime's place in the engine's cache, guarded by e.mu.
type cached struct {
	// bytes is the runtime's size as last estimated.
	bytes int64
	// elem is its place in e.lru, most recently used at the front.
	elem *list.Element
}

// addLocked puts a freshly built runtime of size bytes in the cache and
// trims the others to the bounds. e.mu is held.
func (e *Engine) addLocked(s *session, bytes int64) {
	e.sessions[s.id] = s
	s.cache = cached{bytes: bytes, elem: e.lru.PushFront(s)}
	e.cacheBytes += bytes
	e.trimLocked(s)
}

// removeLocked takes s out of the cache. e.mu is held.
func (e *Engine) removeLocked(s *session) {
	delete(e.sessions, s.id)
	e.lru.Remove(s.cache.elem)
	e.cacheBytes -= s.cache.bytes
}

// settled records the size of a runtime whose driver just stopped, and
// trims the cache, this runtime included: a session that went quiet is
// dropped if it is the least recently used and the cache is over its
// bounds. s.mu must not be held.
func (e *Engine) settled(s *session, bytes int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions[s.id] != s {
		return // forgotten or evicted meanwhile
	}
	e.cacheBytes += bytes - s.cache.bytes
	s.cache.bytes = bytes
	e.trimLocked(nil)
}

// trimLocked drops quiet runtimes, least recently used first, until the
// cache is within its bounds; keep stays. Over the count bound it drops a
// quarter, so that a full cache is not trimmed at every load. e.mu is held;
// a runtime's own lock is only tried, never waited for.
func (e *Engine) trimLocked(keep *session) {
	maxN := maxRuns
	if len(e.sessions) > maxRuns {
		maxN = maxRuns * 3 / 4
	}
	for el := e.lru.Back(); el != nil && (len(e.sessions) > maxN || e.cacheBytes > e.opt.CacheBytes); {
		s := el.Value.(*session)
		el = el.Prev()
		if s == keep || !s.mu.TryLock() {
			continue
		}
		if !s.driving && len(s.queue) == 0 && !s.threadsDriving() && !s.workflowsOpen() {
			// A caller that loaded s before this sees evicted and
			// reloads, so two runtimes never serve one session.
			s.evicted = true
			e.removeLocked(s)
		}
		s.mu.Unlock()
	}
}

// size estimates the bytes a runtime retains: its conversation and the
// results of the turn's open calls. The rest (the session document, tool
// definitions, the answers to calls, which share their text with the
// conversation) is small or counted already. s.mu is held, or s is not
// shared yet.
func (s *session) size() int64 {
	var n int64
	for _, m := range s.main.history {
		n += blocksSize(m.Content)
	}
	for _, c := range s.main.calls {
		n += blockSize(c.result)
	}
	return n
}

// blockOverhead approximates a block's fixed size (its struct and slice
// headers), which dominates for conversations of many small blocks.
const blockOverhead = 256

func blocksSize(bs []model.Block) int64 {
	var n int64
	for _, b := range bs {
		n += blockSize(b)
	}
	return n
}

func blockSize(b model.Block) int64 {
	n := int64(blockOverhead + len(b.Text) + len(b.Title) + len(b.Context) + len(b.ID) + len(b.Name) +
		len(b.Input) + len(b.ToolUseID) + len(b.Thinking) + len(b.Signature) + len(b.Data))
	if s := b.Source; s != nil {
		n += int64(len(s.MediaType) + len(s.Data) + len(s.URL) + len(s.FileID))
	}
	return n + blocksSize(b.Content)
}

// discard drops a runtime whose state got ahead of the log (a write
// failed after it took input): its driver stops and the next caller
// rebuilds the session from the log. s.mu is held.
func (s *session) discard() {
	s.stopped, s.evicted = true, true
	s.unsaved = nil
	// Its workflow runs stop without ending; the rebuilt runtime resumes
	// them from their saved state.
	s.forgetWorkflows()
	if s.stepCancel != nil {
		s.stepCancel()
	}
	s.e.mu.Lock()
	if s.e.sessions[s.id] == s {
		s.e.removeLocked(s)
	}
	s.e.mu.Unlock()
}
