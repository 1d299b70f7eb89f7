// Package workqueue owns the self-hosted work queue's domain logic
// (the protocol the self-hosted worker speaks): enqueueing session work, long-poll
// claims with in-process wake-ups, acks, leases kept alive by heartbeats with
// an opaque precondition token, re-queue on lease expiry, stop, stats, and the
// per-claim sessions tokens handed to workers inside the work secret.
//
// Choices where the spec is open:
//   - A queued item stays queued while a poll holds it (pending) until acked;
//     a poll older than reclaim_older_than_ms (default 5 s) lets another poll
//     take it, and every claim mints a new sessions token, so the previous
//     claimant's token stops working.
//   - An expired lease re-queues the item but keeps its token until the next
//     claim, so a stale worker's heartbeat gets 412 (lease lost) rather than
//     401. Expiry is applied lazily, by polls, heartbeats and stats.
//   - Enqueue is idempotent per session: an item that is still queued,
//     starting or active is returned instead of a new one.
//   - Items of sessions that are archived, deleted or terminated are stopped
//     instead of being handed out.
//   - Stop of a stopped item is a 409 (the SDK worker ignores it); a graceful
//     stop of a queued item stops it at once since nobody runs it.
package workqueue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
)

// NoHeartbeat is the expected_last_heartbeat of a lease's first beat.
const NoHeartbeat = "NO_HEARTBEAT"

// TokenPrefix starts every sessions token, so authentication can tell them
// from API keys without a lookup.
const TokenPrefix = "sk-ant-wst01-"

// Data types of work items.
const (
	DataSession     = "session"
	DataHealthcheck = "healthcheck"
)

// Options tune the queue; zero values take the defaults.
type Options struct {
	// DefaultTTL is the lease granted when a heartbeat does not ask for one
	// (default 60 s); MaxTTL caps desired_ttl_seconds (default 1 h).
	DefaultTTL time.Duration
	MaxTTL     time.Duration
	// Reclaim is the default reclaim_older_than_ms (5 s).
	Reclaim time.Duration
	// WorkerWindow is how long a polling worker counts in stats (30 s).
	WorkerWindow time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Queue is the work queue of every environment. It is safe for concurrent
// use; one Queue per process, shared by the API and the engine, so that an
// enqueue wakes the pollers waiting on it.
type Queue struct {
	st   store.Store
	opts Options

	mu      sync.Mutex
	waiters map[string]chan struct{}
	workers map[string]map[string]time.Time
}

// New returns a queue over st.
func New(st store.Store, o Options) *Queue {
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = 60 * time.Second
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = time.Hour
	}
	if o.Reclaim <= 0 {
		o.Reclaim = 5 * time.Second
	}
	if o.WorkerWindow <= 0 {
		o.WorkerWindow = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Queue{st: st, opts: o, waiters: map[string]chan struct{}{}, workers: map[string]map[string]time.Time{}}
}

func (q *Queue) now() time.Time { return q.opts.Now().UTC().Truncate(time.Microsecond) }

func envKey(ws, env string) string { return ws + "/" + env }

// wait returns a channel closed by the next notify of the environment.
// Callers take it before looking at the queue, so no enqueue is missed.
func (q *Queue) wait(ws, env string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := envKey(ws, env)
	c, ok := q.waiters[k]
	if !ok {
		c = make(chan struct{})
		q.waiters[k] = c
	}
	return c
}

func (q *Queue) notify(ws, env string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := envKey(ws, env)
	if c, ok := q.waiters[k]; ok {
		close(c)
		delete(q.waiters, k)
	}
}

func (q *Queue) sawWorker(ws, env, worker string, at time.Time) {
	if worker == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	k := envKey(ws, env)
	m := q.workers[k]
	if m == nil {
		m = map[string]time.Time{}
		q.workers[k] = m
	}
	m[worker] = at
	// Prune here so the map cannot grow with every worker id ever seen.
	for id, t := range m {
		if at.Sub(t) > q.opts.WorkerWindow {
			delete(m, id)
		}
	}
}

func (q *Queue) workersPolling(ws, env string, now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, t := range q.workers[envKey(ws, env)] {
		if now.Sub(t) <= q.opts.WorkerWindow {
			n++
		}
	}
	return n
}

// Enqueue queues a session for a worker of environment env, or returns the
// session's item that is still queued or running.
func (q *Queue) Enqueue(ctx context.Context, ws, env, sessionID string) (store.WorkItem, error) {
	return q.enqueue(ctx, ws, env, DataSession, sessionID)
}

// EnqueueHealthcheck queues a healthcheck item, which workers skip straight
// to stop: it proves a worker is polling.
func (q *Queue) EnqueueHealthcheck(ctx context.Context, ws, env string) (store.WorkItem, error) {
	return q.enqueue(ctx, ws, env, DataHealthcheck, ids.New("hc_"))
}

func (q *Queue) enqueue(ctx context.Context, ws, env, typ, dataID string) (store.WorkItem, error) {
	var w store.WorkItem
	created := false
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		p, err := tx.ListWork(ctx, store.WorkQuery{Workspace: ws, EnvironmentID: env, DataID: dataID,
			States: []string{store.WorkQueued, store.WorkStarting, store.WorkActive}, Limit: 1})
		if err != nil {
			return err
		}
		if len(p.Items) > 0 {
			w = p.Items[0]
			return nil
		}
		now := q.now()
		w = store.WorkItem{ID: ids.New(ids.Work), Workspace: ws, EnvironmentID: env, DataType: typ, DataID: dataID,
			State: store.WorkQueued, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now, QueuedAt: now}
		created = true
		return tx.InsertWork(ctx, &w)
	})
	if err != nil {
		return store.WorkItem{}, err
	}
	if created {
		q.notify(ws, env)
	}
	return w, nil
}

// PollParams are a poll's inputs. Block 0 means do not wait.
type PollParams struct {
	Block    time.Duration
	Reclaim  *time.Duration
	WorkerID string
}

// Claimed is a polled item plus the secret minted for it.
type Claimed struct {
	Item   store.WorkItem
	Secret string
}

// Poll claims the oldest claimable item of env, waiting up to p.Block for
// one to be enqueued. It returns nil when there is none.
func (q *Queue) Poll(ctx context.Context, ws, env string, p PollParams) (*Claimed, error) {
	q.sawWorker(ws, env, p.WorkerID, q.now())
	reclaim := q.opts.Reclaim
	if p.Reclaim != nil {
		reclaim = *p.Reclaim
	}
	deadline := time.Now().Add(p.Block)
	for {
		woken := q.wait(ws, env)
		c, err := q.claim(ctx, ws, env, reclaim, p.WorkerID)
		if err != nil || c != nil {
			return c, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(left)
		select {
		case <-woken:
			t.Stop()
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// expire applies lease expiry to env: running items go back to the queue
// (keeping their token, see the package doc), stopping ones end.
func (q *Queue) expire(ctx context.Context, tx store.Tx, ws, env string, now time.Time) error {
	items, err := tx.ExpiredWork(ctx, ws, env, now, 100)
	if err != nil {
		return err
	}
	for i := range items {
		w := &items[i]
		if w.State == store.WorkStopping {
			stopItem(w, now)
		} else {
			requeue(w, now)
		}
		w.UpdatedAt = now
		if err := tx.UpdateWork(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

func requeue(w *store.WorkItem, now time.Time) {
	w.State, w.QueuedAt = store.WorkQueued, now
	w.PolledAt, w.AcknowledgedAt, w.StartedAt, w.LeaseUntil = nil, nil, nil, nil
	w.LastHeartbeat, w.WorkerID = "", ""
}

// stopItem ends w. Its token is kept, so that its worker's next heartbeat
// can tell it so (Authenticate reports the item stopped; the API lets such a
// token do nothing else).
func stopItem(w *store.WorkItem, now time.Time) {
	w.State, w.StoppedAt, w.LeaseUntil = store.WorkStopped, &now, nil
	if w.StopRequestedAt == nil {
		w.StopRequestedAt = &now
	}
}

func (q *Queue) claim(ctx context.Context, ws, env string, reclaim time.Duration, worker string) (*Claimed, error) {
	var out *Claimed
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := q.now()
		if err := q.expire(ctx, tx, ws, env, now); err != nil {
			return err
		}
		for range 10 {
			items, err := tx.ClaimableWork(ctx, ws, env, now.Add(-reclaim), 10)
			if err != nil || len(items) == 0 {
				return err
			}
			for i := range items {
				w := &items[i]
				w.UpdatedAt = now
				if ok, err := q.deliverable(ctx, tx, w); err != nil {
					return err
				} else if !ok {
					stopItem(w, now)
					if err := tx.UpdateWork(ctx, w); err != nil {
						return err
					}
					continue
				}
				token, hash := newToken()
				w.PolledAt, w.WorkerID, w.TokenHash = &now, worker, hash
				if err := tx.UpdateWork(ctx, w); err != nil {
					return err
				}
				out = &Claimed{Item: *w, Secret: EncodeSecret(token)}
				return nil
			}
		}
		return nil
	})
	return out, err
}

// deliverable reports whether an item may still go to a worker: its
// session must exist, be live and not archived.
func (q *Queue) deliverable(ctx context.Context, tx store.Tx, w *store.WorkItem) (bool, error) {
	if w.DataType != DataSession {
		return true, nil
	}
	s, err := tx.GetSession(ctx, w.Workspace, w.DataID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.ArchivedAt == nil && s.Status != store.SessionTerminated, nil
}

func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok)
}

// HashToken is how sessions tokens are stored and looked up.
func HashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// EncodeSecret builds the work secret: base64url of {"sessions_token": …}.
func EncodeSecret(token string) string {
	b, _ := json.Marshal(map[string]string{"sessions_token": token})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeSecret extracts the sessions token the way the SDK worker does:
// base64url with or without padding, a JSON object, a non-empty string
// sessions_token; other fields are ignored.
func DecodeSecret(secret string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(secret, "="))
	if err != nil {
		return "", errors.New("secret: not base64url")
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil || v == nil {
		return "", errors.New("secret: not a JSON object")
	}
	var tok string
	if raw, ok := v["sessions_token"]; !ok || json.Unmarshal(raw, &tok) != nil || tok == "" {
		return "", errors.New("secret: no sessions_token")
	}
	return tok, nil
}

// get loads an item of env in ws; items of other environments are not found.
func get(ctx context.Context, tx store.Tx, ws, env, id string) (store.WorkItem, error) {
	w, err := tx.GetWork(ctx, ws, id)
	if err == nil && w.EnvironmentID != env {
		return store.WorkItem{}, errdefs.NotFound("work %s not found", id)
	}
	return w, err
}

// Get returns one item.
func (q *Queue) Get(ctx context.Context, ws, env, id string) (store.WorkItem, error) {
	return get(ctx, q.st, ws, env, id)
}

// Ack moves a polled item to starting and starts its lease. Acking an item
// that is already starting or active answers it unchanged, since the SDK
// retries acks after timeouts and a failed ack makes the poller stop it.
func (q *Queue) Ack(ctx context.Context, ws, env, id string) (store.WorkItem, error) {
	var w store.WorkItem
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if w, err = get(ctx, tx, ws, env, id); err != nil {
			return err
		}
		now := q.now()
		switch {
		case w.State == store.WorkStarting || w.State == store.WorkActive:
			return nil
		case w.State != store.WorkQueued:
			return errdefs.Conflict("work %s is %s and cannot be acknowledged", id, w.State)
		case w.PolledAt == nil:
			return errdefs.Conflict("work %s has not been claimed by a poll", id)
		}
		if w.TTLSeconds == 0 {
			w.TTLSeconds = int64(q.opts.DefaultTTL / time.Second)
		}
		lease := now.Add(time.Duration(w.TTLSeconds) * time.Second)
		w.State, w.AcknowledgedAt, w.PolledAt, w.LeaseUntil, w.UpdatedAt = store.WorkStarting, &now, nil, &lease, now
		return tx.UpdateWork(ctx, &w)
	})
	return w, err
}

// Heartbeat is the heartbeat response.
type Heartbeat struct {
	LastHeartbeat string `json:"last_heartbeat"`
	LeaseExtended bool   `json:"lease_extended"`
	State         string `json:"state"`
	TTLSeconds    int64  `json:"ttl_seconds"`
	Type          string `json:"type"`
}

// HeartbeatParams are a heartbeat's inputs; nil means not given.
type HeartbeatParams struct {
	Expected   *string
	DesiredTTL *int64
}

// Heartbeat extends the lease of an acked item when expected matches its
// last heartbeat token (NO_HEARTBEAT for none). A mismatch, an expired
// lease or an item back in the queue is a 412 heartbeat_precondition_failed
// carrying the current state. Stopping and stopped items are reported
// without comparing, so the worker learns it must end.
func (q *Queue) Heartbeat(ctx context.Context, ws, env, id string, p HeartbeatParams) (Heartbeat, error) {
	var hb Heartbeat
	var lost *store.WorkItem
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		w, err := get(ctx, tx, ws, env, id)
		if err != nil {
			return err
		}
		now := q.now()
		if w.LeaseUntil != nil && w.LeaseUntil.Before(now) {
			if err := q.expire(ctx, tx, ws, env, now); err != nil {
				return err
			}
			if w, err = get(ctx, tx, ws, env, id); err != nil {
				return err
			}
		}
		switch w.State {
		case store.WorkStopping, store.WorkStopped:
			hb = Heartbeat{LastHeartbeat: w.LastHeartbeat, State: w.State, TTLSeconds: w.TTLSeconds}
			return nil
		case store.WorkQueued:
			lost = &w
			return nil
		}
		cur := w.LastHeartbeat
		if cur == "" {
			cur = NoHeartbeat
		}
		if p.Expected != nil && *p.Expected != cur {
			lost = &w
			return nil
		}
		ttl := w.TTLSeconds
		if p.DesiredTTL != nil {
			ttl = *p.DesiredTTL
		}
		if ttl <= 0 {
			ttl = int64(q.opts.DefaultTTL / time.Second)
		}
		ttl = min(ttl, int64(q.opts.MaxTTL/time.Second))
		token := now.Format("2006-01-02T15:04:05.000000Z07:00")
		if token == w.LastHeartbeat {
			// Two beats in one microsecond must still differ, or a stale
			// echo could pass for the current one.
			token = now.Add(time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00")
		}
		lease := now.Add(time.Duration(ttl) * time.Second)
		w.LastHeartbeat, w.LatestHeartbeatAt, w.TTLSeconds, w.LeaseUntil, w.UpdatedAt = token, &now, ttl, &lease, now
		if w.State == store.WorkStarting {
			w.State, w.StartedAt = store.WorkActive, &now
		}
		if err := tx.UpdateWork(ctx, &w); err != nil {
			return err
		}
		hb = Heartbeat{LastHeartbeat: token, LeaseExtended: true, State: w.State, TTLSeconds: ttl}
		return nil
	})
	if err != nil {
		return Heartbeat{}, err
	}
	if lost != nil {
		return Heartbeat{}, preconditionFailed(*lost)
	}
	hb.Type = "work_heartbeat"
	return hb, nil
}

func preconditionFailed(w store.WorkItem) error {
	return errdefs.PreconditionFailed("expected_last_heartbeat: does not match the lease of work %s (state %s); the lease is held elsewhere or expired", w.ID, w.State).
		WithCode("heartbeat_precondition_failed").
		WithDetail("current_state", map[string]any{
			"last_heartbeat": w.LastHeartbeat,
			"lease_extended": false,
			"state":          w.State,
			"ttl_seconds":    w.TTLSeconds,
		})
}

// Stop ends an item: force (or an item nobody runs) stops it at once; else
// a running item goes stopping and its worker learns so on its next beat.
func (q *Queue) Stop(ctx context.Context, ws, env, id string, force bool) (store.WorkItem, error) {
	var w store.WorkItem
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if w, err = get(ctx, tx, ws, env, id); err != nil {
			return err
		}
		now := q.now()
		switch {
		case w.State == store.WorkStopped:
			return errdefs.Conflict("work %s is already stopped", id)
		case force || w.State == store.WorkQueued:
			stopItem(&w, now)
		case w.State == store.WorkStopping:
			return nil
		default:
			w.State, w.StopRequestedAt = store.WorkStopping, &now
		}
		w.UpdatedAt = now
		return tx.UpdateWork(ctx, &w)
	})
	return w, err
}

// UpdateMetadata applies a metadata patch (nil deletes a key) with check
// validating the result before anything is written.
func (q *Queue) UpdateMetadata(ctx context.Context, ws, env, id string, patch map[string]*string, check func(map[string]string) error) (store.WorkItem, error) {
	var w store.WorkItem
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if w, err = get(ctx, tx, ws, env, id); err != nil {
			return err
		}
		m := map[string]string{}
		for k, v := range w.Metadata {
			m[k] = v
		}
		for k, v := range patch {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = *v
			}
		}
		if check != nil {
			if err := check(m); err != nil {
				return err
			}
		}
		w.Metadata, w.UpdatedAt = m, q.now()
		return tx.UpdateWork(ctx, &w)
	})
	return w, err
}

// List lists an environment's items.
func (q *Queue) List(ctx context.Context, wq store.WorkQuery) (store.WorkPage, error) {
	return q.st.ListWork(ctx, wq)
}

// Stats is the work_queue_stats object.
type Stats struct {
	Depth          int        `json:"depth"`
	OldestQueuedAt *time.Time `json:"oldest_queued_at"`
	Pending        int        `json:"pending"`
	Type           string     `json:"type"`
	WorkersPolling int        `json:"workers_polling"`
}

// Stats counts env's queue after applying lease expiry.
func (q *Queue) Stats(ctx context.Context, ws, env string) (Stats, error) {
	var c store.WorkCounts
	now := q.now()
	err := q.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := q.expire(ctx, tx, ws, env, now); err != nil {
			return err
		}
		var err error
		c, err = tx.CountWork(ctx, ws, env)
		return err
	})
	if err != nil {
		return Stats{}, err
	}
	return Stats{Depth: c.Depth, Pending: c.Pending, OldestQueuedAt: c.OldestQueuedAt, Type: "work_queue_stats",
		WorkersPolling: q.workersPolling(ws, env, now)}, nil
}

// TokenOwner is what a sessions token authorizes: its item and session.
type TokenOwner struct {
	Workspace     string
	EnvironmentID string
	WorkID        string
	SessionID     string
	// Stopped: the item is stopped, and its token good only to learn so
	// from its own heartbeat (or stop).
	Stopped bool
}

// Authenticate resolves a sessions token. Tokens replaced by a later claim
// are unknown; a stopped item's token is reported as such.
func (q *Queue) Authenticate(ctx context.Context, token string) (TokenOwner, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return TokenOwner{}, errdefs.Unauthenticated("invalid API key")
	}
	w, err := q.st.WorkByTokenHash(ctx, HashToken(token))
	if errors.Is(err, errdefs.ErrNotFound) || (err == nil && w.DataType != DataSession) {
		return TokenOwner{}, errdefs.Unauthenticated("invalid API key")
	}
	if err != nil {
		return TokenOwner{}, err
	}
	return TokenOwner{Workspace: w.Workspace, EnvironmentID: w.EnvironmentID, WorkID: w.ID, SessionID: w.DataID, Stopped: w.State == store.WorkStopped}, nil
}
