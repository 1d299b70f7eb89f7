// Package dream runs dreams: background jobs that read one memory store
// and the transcripts of past sessions, ask the dream's model for a
// reorganised set of memories, and write that set to a memory store (a new
// one, or the input store itself).
//
// A dream is a store record of Kind whose document is the wire dream plus
// the key that created it. Its life is pending → running → completed,
// failed or canceled; every transition is a transaction that first checks
// the status it expects, so a cancel that lands while the model is
// answering wins and the dream then writes nothing more.
package dream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/memory"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Kind is the store record kind of a dream.
const Kind = "dream"

// Error types of a failed dream.
const (
	// ErrorInvalidOutput: the model's answer was not a valid set of
	// memories (unparseable, a bad path, content over the limit).
	ErrorInvalidOutput = "invalid_output"
	// ErrorInternal: Hangar could not finish the dream (the server
	// stopped while it ran, a store write failed).
	ErrorInternal = "internal_error"
)

// Stored is a dream's record document: the wire object and the id of the
// API key that created it, the actor of the memory versions it writes
// (a Hangar dream runs no session of its own to name instead).
type Stored struct {
	wire.Dream
	KeyID string `json:"hangar_key_id"`
}

// Load reads dream id of workspace ws.
func Load(ctx context.Context, tx store.Tx, ws, id string) (store.Record, Stored, error) {
	var s Stored
	rec, err := tx.Get(ctx, ws, Kind, id)
	if err != nil {
		return rec, s, err
	}
	if err := json.Unmarshal(rec.Data, &s); err != nil {
		return rec, s, errdefs.Internal(err, "decode dream %s", id)
	}
	return rec, s, nil
}

// Save writes s back to its record.
func Save(ctx context.Context, tx store.Tx, rec *store.Record, s Stored) error {
	data, err := json.Marshal(s)
	if err != nil {
		return errdefs.Internal(err, "encode dream")
	}
	rec.Data, rec.UpdatedAt, rec.ArchivedAt = data, wire.Now(), s.ArchivedAt
	return tx.Update(ctx, rec)
}

// Runner runs dreams in the background until Close.
type Runner struct {
	st     store.Store
	models model.Provider
	log    *slog.Logger
	// maxTokens is the output budget of a dream's model request: the
	// answer is a whole store, so it is larger than a session turn's.
	maxTokens int

	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[string]context.CancelFunc
}

// New returns a runner whose dreams call models.
func New(st store.Store, models model.Provider, log *slog.Logger) *Runner {
	ctx, stop := context.WithCancel(context.Background())
	return &Runner{st: st, models: models, log: log, maxTokens: 32000, ctx: ctx, stop: stop, active: map[string]context.CancelFunc{}}
}

// Start recovers the dreams of an earlier process. A dream that was
// running when that process stopped is failed rather than resumed: its
// model request is gone, and with create_new its output store may hold a
// partial copy that a rerun would have to reason about; the caller can
// simply create a new dream. A pending dream had done nothing yet, so it
// starts now.
func (r *Runner) Start(ctx context.Context) error {
	page, err := r.st.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: Kind, IncludeArchived: true})
	if err != nil {
		return err
	}
	for _, rec := range page.Records {
		var s Stored
		if err := json.Unmarshal(rec.Data, &s); err != nil {
			return errdefs.Internal(err, "decode dream %s", rec.ID)
		}
		switch s.Status {
		case wire.DreamPending:
			r.Run(rec.Workspace, rec.ID)
		case wire.DreamRunning:
			r.failed(rec.Workspace, rec.ID, wire.DreamRunning, errors.New("the server stopped while the dream was running; create a new dream to run it again"))
		}
	}
	return nil
}

// Run starts pending dream id in the background.
func (r *Runner) Run(ws, id string) {
	ctx, cancel := context.WithCancel(r.ctx)
	r.mu.Lock()
	r.active[id] = cancel
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.active, id)
			r.mu.Unlock()
			cancel()
		}()
		r.run(ctx, ws, id)
	}()
}

// Stop ends the work of dream id, whose record the caller has already
// marked canceled.
func (r *Runner) Stop(id string) {
	r.mu.Lock()
	cancel := r.active[id]
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Close stops every dream and waits for them. Their records stay as they
// are (running ones are failed by the next Start).
func (r *Runner) Close() {
	r.stop()
	r.wg.Wait()
}

// run takes dream id from pending to a final status.
func (r *Runner) run(ctx context.Context, ws, id string) {
	var d Stored
	// Starting records the output store at once: the input store itself,
	// or a new copy of it made in the same transaction.
	err := r.transition(ctx, ws, id, wire.DreamPending, func(ctx context.Context, tx store.Tx, s *Stored) error {
		s.Status = wire.DreamRunning
		out := s.OutputBehavior.MemoryStoreID
		if s.OutputBehavior.Type == wire.DreamCreateNew {
			var err error
			if out, err = copyStore(ctx, tx, ws, inputStore(s.Dream), actorOf(*s)); err != nil {
				return err
			}
		}
		s.Outputs = []wire.DreamOutput{{Type: wire.DreamInputMemoryStore, MemoryStoreID: out}}
		d = *s
		return nil
	})
	if err != nil && r.ctx.Err() == nil {
		r.failed(ws, id, wire.DreamPending, err)
	}
	if err != nil || d.Status != wire.DreamRunning {
		return
	}
	entries, usage, err := r.dream(ctx, ws, d.Dream)
	if err != nil && r.ctx.Err() != nil {
		// The server is stopping: leave the dream running for the next
		// Start to fail, rather than blaming the model. (A pending one
		// whose start was cut short stays pending and starts then.)
		return
	}
	bg := context.WithoutCancel(ctx)
	if err == nil {
		err = r.transition(bg, ws, id, wire.DreamRunning, func(ctx context.Context, tx store.Tx, s *Stored) error {
			if err := memory.Replace(ctx, tx, ws, s.Outputs[0].MemoryStoreID, entries, actorOf(*s)); err != nil {
				return err
			}
			s.Status, s.EndedAt, s.Usage = wire.DreamCompleted, ptr(wire.Now()), usage
			return nil
		})
	}
	if err != nil {
		r.failed(ws, id, wire.DreamRunning, err, usage)
	}
}

// transition applies change to dream id in one transaction if its status
// is still from; a dream canceled meanwhile is left alone.
func (r *Runner) transition(ctx context.Context, ws, id, from string, change func(context.Context, store.Tx, *Stored) error) error {
	return r.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rec, s, err := Load(ctx, tx, ws, id)
		if err != nil || s.Status != from {
			return err
		}
		if err := change(ctx, tx, &s); err != nil {
			return err
		}
		return Save(ctx, tx, &rec, s)
	})
}

// failed records why dream id (still in status from) failed: a model
// error by its type, a result the memory rules refuse as invalid output,
// anything else as internal.
func (r *Runner) failed(ws, id, from string, cause error, usage ...wire.DreamUsage) {
	typ := ErrorInternal
	var me *model.Error
	switch {
	case errors.As(cause, &me):
		typ = me.SessionErrorType()
	case errdefs.ClassOf(cause) == errdefs.ClassInvalid, errdefs.ClassOf(cause) == errdefs.ClassConflict:
		typ = ErrorInvalidOutput
	}
	r.log.Warn("dream failed", "dream_id", id, "type", typ, "err", cause)
	err := r.transition(context.Background(), ws, id, from, func(_ context.Context, _ store.Tx, s *Stored) error {
		for _, u := range usage {
			s.Usage = u
		}
		fail(s, typ, cause.Error())
		return nil
	})
	if err != nil {
		r.log.Error("dream: recording the failure failed", "dream_id", id, "err", err)
	}
}

// copyStore creates the output store of a create_new dream: a new store
// with the input store's name, description and memories.
func copyStore(ctx context.Context, tx store.Tx, ws, inputID string, by *wire.Actor) (string, error) {
	rec, err := tx.Get(ctx, ws, store.KindMemoryStore, inputID)
	if err != nil {
		return "", err
	}
	var in wire.MemoryStore
	if err := json.Unmarshal(rec.Data, &in); err != nil {
		return "", errdefs.Internal(err, "decode memory store %s", inputID)
	}
	ms, err := memory.InsertStore(ctx, tx, ws, in.Name, in.Description)
	if err != nil {
		return "", err
	}
	entries, err := memory.Entries(ctx, tx, ws, inputID)
	if err != nil {
		return "", err
	}
	return ms.ID, memory.Replace(ctx, tx, ws, ms.ID, entries, by)
}

// actorOf is who the dream's memory versions name as their author.
func actorOf(s Stored) *wire.Actor { return &wire.Actor{Type: wire.ActorAPI, APIKeyID: s.KeyID} }

func fail(s *Stored, typ, msg string) {
	s.Status, s.Error, s.EndedAt = wire.DreamFailed, &wire.DreamError{Type: typ, Message: msg}, ptr(wire.Now())
}

func inputStore(d wire.Dream) string {
	for _, in := range d.Inputs {
		if in.Type == wire.DreamInputMemoryStore {
			return in.MemoryStoreID
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
