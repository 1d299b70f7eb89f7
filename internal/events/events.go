// Package events owns live fan-out of session events to stream subscribers:
// the Broker contract, the message that travels through it, subscriptions
// with their drop rules, and the in-process implementation (Local).
//
// The event log in the store is the source of truth; the broker
// only carries events that are already committed, plus the stream-only
// previews (event_start / event_delta). It never persists, replays or waits:
//
//   - Publish-after-commit is the caller's job. Publish a persisted event
//     only once its transaction has committed, and publish a session's
//     persisted events in Seq order (for example under the same per-session
//     lock that appends them). The broker keeps publish order per
//     subscriber; it does not reorder by Seq.
//   - A subscriber that cannot keep up is dropped, never waited on. Its
//     stream ends and the client reconnects and catches up from the event
//     list, so a persisted event is never silently skipped on a live stream.
//   - Previews are best effort: a subscriber may lose the tail of an
//     event's deltas, never a piece in the middle.
//
// Scale-out (PostgreSQL LISTEN/NOTIFY) is meant to be another Broker whose
// Publish sends a NOTIFY and whose listener feeds what it receives into a
// Local on every node, so Subscription stays the one subscriber type.
package events

import (
	"errors"
	"slices"
)

// Stream-only preview event types.
const (
	TypeEventStart = "event_start"
	TypeEventDelta = "event_delta"
)

// Message is one event on its way to subscribers. Data is encoded once by
// the publisher and shared by every subscriber: nobody may modify it.
type Message struct {
	// Seq is the per-session sequence of a persisted event; 0 for previews.
	// Stream handlers use it to drop duplicates after replaying from the store.
	Seq int64
	// ID is the event id. For a preview it is the id of the previewed event
	// (event_start.event.id, event_delta.event_id): they always match.
	ID string
	// Type is the wire type, the SSE event name: "agent.message",
	// "event_start", "event_delta", ...
	Type string
	// ThreadID is the thread whose stream carries the event; "" is the
	// primary thread, i.e. the session-level stream.
	ThreadID string
	// Data is the event's one-line JSON encoding, exactly as sent.
	Data []byte
	// Preview marks event_start / event_delta, which are never persisted.
	Preview bool
	// PreviewType is the previewed event's type ("agent.message" or
	// "agent.thinking") when Preview is set.
	PreviewType string
}

// Broker fans events of a session out to its live subscribers.
//
// Implementations never block Publish on a subscriber. A Subscribe that races
// with End is resolved by the caller: subscribe first, then check in the store
// that the session still exists; End is called after the deletion commits, so
// either End closes the subscription or the check sees the deletion.
type Broker interface {
	// Publish delivers m to the session's matching subscribers, see Message.
	Publish(sessionID string, m Message)
	// Subscribe starts buffering the session's events from this moment.
	// The subscription ends by Close, End, or a drop.
	Subscribe(sessionID string, opts SubscribeOptions) *Subscription
	// End closes every subscription of the session, after whatever was
	// already published (publish `session.deleted` first) has been queued.
	End(sessionID string)
}

// DefaultBuffer is the queue length of a subscription when none is given: a
// few seconds of a busy turn, so a reader that briefly pages history
// or a short network stall does not get dropped.
const DefaultBuffer = 256

// maxOpenPreviews bounds how many previewed events a subscriber tracks at once.
// Previews come from the primary thread one event at a time; forgetting the
// oldest only ends its deltas early, which best-effort previews allow.
const maxOpenPreviews = 8

// SubscribeOptions selects what a subscription receives.
type SubscribeOptions struct {
	// Buffer is the queue length; <= 0 means DefaultBuffer.
	Buffer int
	// Previews lists the previewed event types this subscriber asked for
	// with event_deltas[] ("agent.message", "agent.thinking"). Empty: none.
	// The API layer validates the values.
	Previews []string
	// Thread selects messages whose ThreadID equals it; "" is the
	// session-level stream (the primary thread).
	Thread string
	// AllThreads delivers every thread's messages and ignores Thread, for
	// in-process consumers that watch a whole session.
	AllThreads bool
}

// Why a subscription ended, as reported by Subscription.Err.
var (
	ErrSlowSubscriber = errors.New("events: subscriber too slow, dropped")
	ErrSessionEnded   = errors.New("events: session ended")
	ErrClosed         = errors.New("events: subscription closed")
	ErrBrokerClosed   = errors.New("events: broker closed")
)

// Subscription is one subscriber's queue. Read C until it is closed: after a
// drop or End the messages queued before it are still delivered (End's last
// one is typically session.deleted), then Err says why it ended.
type Subscription struct {
	ch   chan Message
	done chan struct{}

	// Fixed at Subscribe.
	owner        *Local
	sess         *session
	previews     []string
	thread       string
	allThreads   bool
	previewLimit int

	// Guarded by sess.mu (or, before joining a session, owned by Subscribe).
	idx    int
	closed bool
	err    error
	// open lists previewed event ids whose event_start this subscriber got
	// and whose deltas have all been queued so far; only these get deltas.
	open []string
}

func newSubscription(owner *Local, opts SubscribeOptions) *Subscription {
	n := opts.Buffer
	if n <= 0 {
		n = DefaultBuffer
	}
	// Previews may not fill the whole queue: the last quarter is kept for
	// persisted events, so a burst of deltas cannot get an otherwise healthy
	// subscriber dropped when the buffered event arrives.
	reserve := n / 4
	if reserve == 0 && n > 1 {
		reserve = 1
	}
	return &Subscription{
		ch:           make(chan Message, n),
		done:         make(chan struct{}),
		owner:        owner,
		previews:     slices.Clone(opts.Previews),
		thread:       opts.Thread,
		allThreads:   opts.AllThreads,
		previewLimit: n - reserve,
	}
}

// C delivers the messages in publish order. It is closed when the
// subscription ends.
func (s *Subscription) C() <-chan Message { return s.ch }

// Done is closed when the subscription ends, together with C.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is nil while the subscription is live, then the reason it ended:
// ErrSlowSubscriber, ErrSessionEnded, ErrClosed or ErrBrokerClosed.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err // written before done was closed
	default:
		return nil
	}
}

// Close ends the subscription. It is idempotent and safe to call
// concurrently with Publish and End.
func (s *Subscription) Close() {
	if s.sess == nil {
		return // never joined: ended at Subscribe
	}
	s.owner.leave(s)
}

// finish ends the subscription. Callers hold the session lock, which is also
// what every send holds, so no send can race with the close.
func (s *Subscription) finish(reason error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = reason
	s.open = nil
	// done first: a reader that sees C closed must also see Err.
	close(s.done)
	close(s.ch)
}

func (s *Subscription) wants(m *Message) bool {
	if !s.allThreads && m.ThreadID != s.thread {
		return false
	}
	return !m.Preview || slices.Contains(s.previews, m.PreviewType)
}

// offerPreview queues a preview if there is room, keeping previews an
// unbroken prefix: deltas
// flow only for an event whose event_start was queued, and the first delta
// that does not fit ends that event's deltas for this subscriber.
func (s *Subscription) offerPreview(m *Message) {
	if m.Type == TypeEventStart {
		if slices.Contains(s.open, m.ID) || len(s.ch) >= s.previewLimit {
			return
		}
		select {
		case s.ch <- *m:
			if len(s.open) == maxOpenPreviews {
				s.open = slices.Delete(s.open, 0, 1)
			}
			s.open = append(s.open, m.ID)
		default:
		}
		return
	}
	i := slices.Index(s.open, m.ID)
	if i < 0 {
		return
	}
	if len(s.ch) < s.previewLimit {
		select {
		case s.ch <- *m:
			return
		default:
		}
	}
	s.open = slices.Delete(s.open, i, i+1)
}

// settle forgets the preview of a persisted event: the buffered event
// replaces it, and late deltas for it must not follow.
func (s *Subscription) settle(id string) {
	if len(s.open) == 0 {
		return
	}
	if i := slices.Index(s.open, id); i >= 0 {
		s.open = slices.Delete(s.open, i, i+1)
	}
}
