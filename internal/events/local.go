package events

import (
	"log/slog"
	"sync"
)

// Local is the in-process Broker of a single-node server.
//
// Locking: mu guards the session map; each session's mu guards its
// subscribers and every send to them. Sends are non-blocking selects, so a
// lock is never held while waiting on a subscriber. Lock order: Local.mu,
// then session.mu.
type Local struct {
	log *slog.Logger

	mu       sync.RWMutex
	sessions map[string]*session
	closed   bool
}

type session struct {
	id      string
	mu      sync.Mutex
	subs    []*Subscription
	dropped []*Subscription // scratch for Publish, reused to avoid allocating
}

var _ Broker = (*Local)(nil)

// NewLocal returns an empty broker. log may be nil.
func NewLocal(log *slog.Logger) *Local {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Local{log: log, sessions: map[string]*session{}}
}

// Publish implements Broker. It takes the session lock for one pass of
// non-blocking sends and starts no goroutine. A persisted message that does
// not fit a subscriber's queue drops that subscriber (ErrSlowSubscriber).
func (b *Local) Publish(sessionID string, m Message) {
	b.mu.RLock()
	s := b.sessions[sessionID]
	b.mu.RUnlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	for _, sub := range s.subs {
		if !sub.wants(&m) {
			continue
		}
		if m.Preview {
			sub.offerPreview(&m)
			continue
		}
		sub.settle(m.ID)
		select {
		case sub.ch <- m:
		default:
			s.dropped = append(s.dropped, sub)
		}
	}
	n := len(s.dropped)
	for i, sub := range s.dropped {
		s.removeLocked(sub)
		sub.finish(ErrSlowSubscriber)
		s.dropped[i] = nil
	}
	s.dropped = s.dropped[:0]
	empty := len(s.subs) == 0
	s.mu.Unlock()
	if n == 0 {
		return
	}
	b.log.Warn("events: dropped slow stream subscribers", "session_id", sessionID, "dropped", n, "event_id", m.ID, "seq", m.Seq)
	if empty {
		b.forget(s)
	}
}

// Subscribe implements Broker.
func (b *Local) Subscribe(sessionID string, opts SubscribeOptions) *Subscription {
	sub := newSubscription(b, opts)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		sub.finish(ErrBrokerClosed)
		return sub
	}
	s := b.sessions[sessionID]
	if s == nil {
		s = &session{id: sessionID}
		b.sessions[sessionID] = s
	}
	// Joined under Local.mu, so forget cannot remove the session in between.
	s.mu.Lock()
	sub.sess = s
	sub.idx = len(s.subs)
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	return sub
}

// End implements Broker.
func (b *Local) End(sessionID string) {
	b.mu.Lock()
	s := b.sessions[sessionID]
	delete(b.sessions, sessionID)
	b.mu.Unlock()
	if s != nil {
		s.endAll(ErrSessionEnded)
	}
}

// Close ends every subscription with ErrBrokerClosed, so stream handlers
// return during server shutdown; later subscriptions end at once.
func (b *Local) Close() {
	b.mu.Lock()
	sessions := b.sessions
	b.sessions = map[string]*session{}
	b.closed = true
	b.mu.Unlock()
	for _, s := range sessions {
		s.endAll(ErrBrokerClosed)
	}
}

// Subscribers reports how many live subscriptions a session has.
func (b *Local) Subscribers(sessionID string) int {
	b.mu.RLock()
	s := b.sessions[sessionID]
	b.mu.RUnlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (b *Local) leave(sub *Subscription) {
	s := sub.sess
	s.mu.Lock()
	if !sub.closed {
		s.removeLocked(sub)
		sub.finish(ErrClosed)
	}
	empty := len(s.subs) == 0
	s.mu.Unlock()
	if empty {
		b.forget(s)
	}
}

// forget removes a session without subscribers from the map, so the map does
// not grow with every session ever streamed.
func (b *Local) forget(s *session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessions[s.id] != s {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) == 0 {
		delete(b.sessions, s.id)
	}
}

func (s *session) endAll(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sub := range s.subs {
		sub.finish(reason)
		s.subs[i] = nil
	}
	s.subs = nil
}

// removeLocked is an O(1) swap-remove; delivery order between subscribers
// does not matter, only order within each one.
func (s *session) removeLocked(sub *Subscription) {
	last := len(s.subs) - 1
	moved := s.subs[last]
	s.subs[sub.idx] = moved
	moved.idx = sub.idx
	s.subs[last] = nil
	s.subs = s.subs[:last]
}
