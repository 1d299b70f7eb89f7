// Package deploy runs scheduled deployments: it keeps deployment records,
// decides what each trigger does, and drives the scheduler over the
// deployments that have an active schedule. A trigger (scheduled or
// manual) creates a session exactly as POST /v1/sessions does, through
// Sessions, and records a run either way.
//
// Exactly one fire per scheduled time: a scheduled fire first claims its
// time in one transaction that inserts the run under a name unique per
// (deployment, scheduled time) and moves the deployment's position to
// that time. Only the transaction that commits goes on to create the
// session; a restarted server or a second one sees the claim (or the moved
// position) and does nothing. A claim whose process died before the
// session was linked is closed as failed at the next start, never re-run.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/schedule"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/wire"
)

// Sessions is the session create path of POST /v1/sessions.
type Sessions interface {
	// Check validates p as Create would and resolves its agent, creating
	// nothing.
	Check(ctx context.Context, ws string, p wire.SessionCreateParams) (wire.SessionAgent, error)
	// Create creates the session and sends its initial events.
	Create(ctx context.Context, ws string, p wire.SessionCreateParams, deploymentID string) (wire.Session, error)
}

// Observer hears what deployments do, for webhooks. Each call is made in
// the transaction of the change, so what it records commits or rolls back
// with it; the func it returns (nil for none) runs once the change
// committed, and must not block.
type Observer interface {
	// DeploymentChanged: what is "created", "updated", "paused",
	// "unpaused" or "archived" (by request, or because its agent was).
	DeploymentChanged(ctx context.Context, tx store.Tx, ws, what string, d wire.Deployment) (func(), error)
	// RunStarted is a run claimed, before its session is created;
	// RunFinished the same run with its session or its error. Both are
	// called for scheduled and manual runs alike (the trigger context
	// tells them apart: manual runs send no deployment_run webhooks).
	RunStarted(ctx context.Context, tx store.Tx, ws string, run wire.DeploymentRun) (func(), error)
	RunFinished(ctx context.Context, tx store.Tx, ws string, run wire.DeploymentRun) (func(), error)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) DeploymentChanged(context.Context, store.Tx, string, string, wire.Deployment) (func(), error) {
	return nil, nil
}

func (NopObserver) RunStarted(context.Context, store.Tx, string, wire.DeploymentRun) (func(), error) {
	return nil, nil
}

func (NopObserver) RunFinished(context.Context, store.Tx, string, wire.DeploymentRun) (func(), error) {
	return nil, nil
}

// afterCommit runs a committed change's observer func, if any.
func afterCommit(f func()) {
	if f != nil {
		f()
	}
}

// Options configure a Service.
type Options struct {
	Store    store.Store
	Sessions Sessions
	// Sealer seals each deployment's session template (it may hold
	// repository tokens); nil keeps it in the clear (tests).
	Sealer   *vault.Sealer
	Observer Observer
	Logger   *slog.Logger
	// Clock drives the scheduler; nil is the wall clock.
	Clock schedule.Clock
	// Workers bounds how many fires create sessions at once (default 8).
	Workers int
}

// Service owns deployments and their scheduler.
type Service struct {
	st       store.Store
	sessions Sessions
	sealer   *vault.Sealer
	obs      Observer
	log      *slog.Logger
	clock    schedule.Clock
	sched    *schedule.Scheduler

	syncMu sync.Mutex

	// sem bounds the fires creating sessions at once; wg counts them.
	sem chan struct{}
	wg  sync.WaitGroup

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New returns the service; Start loads the deployments and starts firing.
func New(o Options) *Service {
	s := &Service{st: o.Store, sessions: o.Sessions, sealer: o.Sealer, obs: o.Observer, log: o.Logger, clock: o.Clock}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = schedule.RealClock{}
	}
	w := o.Workers
	if w <= 0 {
		w = 8
	}
	s.sem = make(chan struct{}, w)
	// Claiming is one transaction per batch; two batches at once is
	// enough for times that come due together.
	s.sched = schedule.New(s.clock, 2, s.fire)
	return s
}

// stored is a deployment's record document: the wire object and the
// scheduler's position.
type stored struct {
	wire.Deployment
	// FireFrom is the scheduler's position: the times due are the
	// schedule's times after it. Create, unpause and a new schedule set
	// it to the time of the change (nothing missed before is backfilled);
	// each claimed fire moves it to the claimed time.
	FireFrom *time.Time `json:"fire_from,omitempty"`
}

// Start closes the runs a previous process left unfinished, registers
// every active schedule and starts firing. Close stops it.
func (s *Service) Start(ctx context.Context) error {
	if err := s.closeUnfinished(ctx); err != nil {
		return err
	}
	var after int64
	n := 0
	for {
		page, err := s.st.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: store.KindDeployment, After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			after = rec.Seq
			d, err := decode(rec)
			if err != nil {
				s.log.Error("deployment unreadable; it will not fire", "deployment", rec.ID, "err", err)
				continue
			}
			if s.sync(rec.Workspace, d) {
				n++
			}
		}
		if !page.More {
			break
		}
	}
	s.log.Info("deployments scheduled", "count", n)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.sched.Run(runCtx)
	}()
	return nil
}

// Close stops firing and waits for the fires under way.
func (s *Service) Close() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
		s.wg.Wait()
	})
}

func key(ws, id string) string { return ws + "/" + id }

// sync registers the deployment's schedule, or removes it when the
// deployment must not fire; it reports whether it is registered.
func (s *Service) sync(ws string, d stored) bool {
	k := key(ws, d.ID)
	if d.ArchivedAt != nil || d.Status == wire.DeploymentPaused || d.Schedule == nil {
		s.sched.Remove(k)
		return false
	}
	spec, err := schedule.Parse(d.Schedule.Expression, d.Schedule.Timezone)
	if err != nil {
		s.log.Error("deployment schedule unreadable; it will not fire", "deployment", d.ID, "err", err)
		s.sched.Remove(k)
		return false
	}
	from := d.CreatedAt
	if d.FireFrom != nil {
		from = *d.FireFrom
	}
	s.sched.Set(k, spec, from)
	return true
}

// resync registers the deployment as stored now. Reading it again under
// syncMu, rather than registering the copy a request wrote, keeps two
// changes finishing out of order from leaving the older state scheduled.
func (s *Service) resync(ctx context.Context, ws, id string) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	rec, err := s.st.Get(context.WithoutCancel(ctx), ws, store.KindDeployment, id)
	if err == nil {
		var d stored
		if d, err = decode(rec); err == nil {
			s.sync(ws, d)
			return
		}
	}
	s.log.Error("deployment not rescheduled after a change", "deployment", id, "err", err)
}

// Render is the wire object: the stored one with upcoming_runs_at as of
// now (none once archived).
func (s *Service) render(d stored) wire.Deployment {
	out := d.Deployment
	if out.Schedule != nil {
		sc := *out.Schedule
		sc.UpcomingRunsAt = []time.Time{}
		if out.ArchivedAt == nil {
			if spec, err := schedule.Parse(sc.Expression, sc.Timezone); err == nil {
				sc.UpcomingRunsAt = spec.Upcoming(s.clock.Now(), wire.MaxDeploymentUpcomingRuns)
			}
		}
		out.Schedule = &sc
	}
	return out
}

func decode(rec store.Record) (stored, error) {
	var d stored
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return d, errdefs.Internal(err, "decode stored deployment")
	}
	return d, nil
}

func decodeRun(rec store.Record) (wire.DeploymentRun, error) {
	var r wire.DeploymentRun
	if err := json.Unmarshal(rec.Data, &r); err != nil {
		return r, errdefs.Internal(err, "decode stored deployment run")
	}
	return r, nil
}

// template is the session a trigger creates, as the body of
// POST /v1/sessions.
func (s *Service) openTemplate(rec store.Record) (map[string]json.RawMessage, error) {
	raw := rec.Secret
	if s.sealer != nil {
		var err error
		if raw, err = s.sealer.Open(rec.Secret, store.DeploymentSecretAAD(rec.ID)); err != nil {
			return nil, errdefs.Internal(err, "open deployment %s session template", rec.ID)
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errdefs.Internal(err, "decode deployment session template")
	}
	return m, nil
}

func (s *Service) sealTemplate(id string, m map[string]json.RawMessage) ([]byte, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, errdefs.Internal(err, "encode deployment session template")
	}
	if s.sealer == nil {
		return raw, nil
	}
	return s.sealer.Seal(raw, store.DeploymentSecretAAD(id)), nil
}

// ---- triggers --------------------------------------------------------------

// errSkip: the fire is not to run (already claimed, paused, archived).
var errSkip = errors.New("skip fire")

// claimBatch bounds one claiming transaction, which must stay short.
const claimBatch = 250

// claimed is a run recorded and not yet finished.
type claimed struct {
	ws, id string
	run    wire.DeploymentRun
	tmpl   map[string]json.RawMessage
	// started is the observer's func for the committed claim.
	started func()
}

// fire is the scheduler's callback: it claims the batch's times in as
// few transactions as it can, then creates their sessions on the bounded
// workers.
func (s *Service) fire(ctx context.Context, fires []schedule.Fire) {
	// Every claim goes first: session creation competes for the one
	// database writer, and a fire is on time when its claim is.
	var all []claimed
	for len(fires) > 0 {
		chunk := fires[:min(len(fires), claimBatch)]
		fires = fires[len(chunk):]
		cs, err := s.claimAll(ctx, chunk)
		if err != nil {
			// One bad fire must not hold back the rest: claim one by one.
			s.log.Warn("batch claim failed; claiming one by one", "fires", len(chunk), "err", err)
			cs = nil
			for _, f := range chunk {
				c, err := s.claimAll(ctx, []schedule.Fire{f})
				if err != nil {
					s.log.Error("deployment fire not claimed", "key", f.Key, "scheduled_at", f.At, "err", err)
					continue
				}
				cs = append(cs, c...)
			}
		}
		all = append(all, cs...)
	}
	for _, c := range all {
		afterCommit(c.started)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sem <- struct{}{}
			defer func() { <-s.sem }()
			// A claimed run is finished even while shutting down: its
			// time will not fire again.
			if _, err := s.complete(context.WithoutCancel(ctx), c); err != nil {
				s.log.Error("deployment run not recorded", "deployment", c.id, "run", c.run.ID, "err", err)
			}
		}()
	}
}

// claimAll claims the fires in one transaction, skipping those that must
// not run.
func (s *Service) claimAll(ctx context.Context, fires []schedule.Fire) ([]claimed, error) {
	var out []claimed
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		out = out[:0]
		for _, f := range fires {
			ws, id, _ := strings.Cut(f.Key, "/")
			at := f.At
			c, err := s.claim(ctx, tx, ws, id, &at)
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// Run fires a manual run now: it works while paused, not once archived.
func (s *Service) Run(ctx context.Context, ws, id string) (wire.DeploymentRun, error) {
	var c claimed
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		c, err = s.claim(ctx, tx, ws, id, nil)
		return err
	})
	if err != nil {
		return wire.DeploymentRun{}, err
	}
	afterCommit(c.started)
	return s.complete(ctx, c)
}

// claim records a run of the deployment in tx. scheduledAt is nil for a
// manual run; a scheduled one also moves the deployment's position to
// its time, and is skipped (errSkip) when that time is already claimed or
// the deployment must not fire.
func (s *Service) claim(ctx context.Context, tx store.Tx, ws, id string, scheduledAt *time.Time) (claimed, error) {
	c := claimed{ws: ws, id: id}
	rec, err := s.get(ctx, tx, ws, id)
	if err != nil {
		if scheduledAt != nil && errors.Is(err, errdefs.ErrNotFound) {
			return c, errSkip
		}
		return c, err
	}
	d, err := decode(rec)
	if err != nil {
		return c, err
	}
	now := s.now()
	c.run = wire.DeploymentRun{
		ID: ids.New(ids.DeployRun), Type: wire.TypeDeploymentRun, Agent: d.Agent,
		CreatedAt: now, DeploymentID: id, TriggerContext: wire.TriggerContext{Type: wire.TriggerManual},
	}
	name := ""
	if scheduledAt != nil {
		at := scheduledAt.UTC()
		if d.ArchivedAt != nil || d.Status == wire.DeploymentPaused || d.Schedule == nil ||
			(d.FireFrom != nil && !at.After(*d.FireFrom)) {
			return c, errSkip
		}
		name = store.ScheduleClaimName(at)
		// The unique name is the guard; looking first keeps a batch's
		// transaction from failing on a time another process took.
		if _, err := tx.GetByName(ctx, ws, store.KindDeploymentRun, id, name); err == nil {
			return c, errSkip
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return c, err
		}
		c.run.TriggerContext = wire.TriggerContext{Type: wire.TriggerSchedule, ScheduledAt: &at}
		d.FireFrom = &at
		d.Schedule.LastRunAt = &now
	} else if d.ArchivedAt != nil {
		return c, errdefs.Conflict("deployment %s is archived and cannot run", id)
	}
	if c.tmpl, err = s.openTemplate(rec); err != nil {
		return c, err
	}
	data, err := json.Marshal(c.run)
	if err != nil {
		return c, errdefs.Internal(err, "encode deployment run")
	}
	rr := store.Record{Kind: store.KindDeploymentRun, ID: c.run.ID, Workspace: ws, Parent: id, Name: name, Data: data, CreatedAt: now, UpdatedAt: now}
	if err := tx.Insert(ctx, &rr); err != nil {
		return c, err
	}
	if scheduledAt != nil {
		if rec.Data, err = json.Marshal(d); err != nil {
			return c, errdefs.Internal(err, "encode deployment")
		}
		if err := tx.Update(ctx, &rec); err != nil {
			return c, err
		}
	}
	c.started, err = s.obs.RunStarted(ctx, tx, ws, c.run)
	return c, err
}

// complete creates a claimed run's session and records the outcome.
func (s *Service) complete(ctx context.Context, c claimed) (wire.DeploymentRun, error) {
	run := c.run
	p, perr := sessionParams(c.tmpl)
	var sess wire.Session
	if perr == nil {
		sess, perr = s.sessions.Create(ctx, c.ws, p, c.id)
	}
	if perr != nil {
		run.Error = classify(perr)
		s.log.Warn("deployment run failed", "deployment", c.id, "run", run.ID, "error_type", run.Error.Type, "err", perr)
	} else {
		run.SessionID = &sess.ID
	}
	// The outcome is recorded even if the request that asked for it went
	// away.
	finished, err := s.finishRun(context.WithoutCancel(ctx), c.ws, run)
	if err != nil {
		return run, err
	}
	afterCommit(finished)
	if run.Error != nil && run.Error.Type == wire.RunErrAgentArchived {
		// A deployment whose agent is archived is archived with it and
		// creates no more sessions.
		if _, err := s.Archive(context.WithoutCancel(ctx), c.ws, c.id); err != nil {
			s.log.Error("archive deployment of an archived agent", "deployment", c.id, "err", err)
		}
	}
	return run, nil
}

func (s *Service) finishRun(ctx context.Context, ws string, run wire.DeploymentRun) (func(), error) {
	var finished func()
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rec, err := tx.Get(ctx, ws, store.KindDeploymentRun, run.ID)
		if err != nil {
			return err
		}
		if rec.Data, err = json.Marshal(run); err != nil {
			return errdefs.Internal(err, "encode deployment run")
		}
		rec.UpdatedAt = wire.Now()
		if err := tx.Update(ctx, &rec); err != nil {
			return err
		}
		finished, err = s.obs.RunFinished(ctx, tx, ws, run)
		return err
	})
	return finished, err
}

// closeUnfinished fails the runs a stopped process claimed but did not
// finish. They are not re-run: the process may have created the session
// before it stopped, and a scheduled time fires at most once.
func (s *Service) closeUnfinished(ctx context.Context) error {
	var after int64
	for {
		page, err := s.st.List(ctx, store.ListOptions{AllWorkspaces: true, Kind: store.KindDeploymentRun, After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			after = rec.Seq
			run, err := decodeRun(rec)
			if err != nil || run.SessionID != nil || run.Error != nil {
				continue
			}
			run.Error = &wire.RunError{Type: wire.RunErrUnknown, Message: "the server stopped while this run was creating its session"}
			finished, err := s.finishRun(ctx, rec.Workspace, run)
			if err != nil {
				return err
			}
			afterCommit(finished)
		}
		if !page.More {
			return nil
		}
	}
}

// sessionParams decodes a session template exactly as POST /v1/sessions
// decodes its body.
func sessionParams(tmpl map[string]json.RawMessage) (wire.SessionCreateParams, error) {
	var p wire.SessionCreateParams
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return p, errdefs.Internal(err, "encode session template")
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, err
	}
	return p, nil
}

// classify maps a session create failure to the run error type the API
// documents, from the field the failure names.
func classify(err error) *wire.RunError {
	e, ok := errdefs.As(err)
	if !ok {
		return &wire.RunError{Type: wire.RunErrUnknown, Message: "the session could not be created"}
	}
	msg := e.Message
	field, _, _ := strings.Cut(msg, ":")
	archived := strings.Contains(msg, "is archived")
	t := wire.RunErrSessionCreationRejected
	switch {
	case e.Class == errdefs.ClassRateLimited:
		t = wire.RunErrSessionRateLimited
	case strings.Contains(field, "skill"):
		if e.Class == errdefs.ClassNotFound {
			t = wire.RunErrSkillNotFound
		}
	case field == "agent" || strings.HasPrefix(field, "agent."):
		if archived || e.Class == errdefs.ClassNotFound {
			t = wire.RunErrAgentArchived
		}
	case field == "environment_id":
		if archived {
			t = wire.RunErrEnvironmentArchived
		} else if e.Class == errdefs.ClassNotFound {
			t = wire.RunErrEnvironmentNotFound
		}
	case strings.HasPrefix(field, "vault_ids"):
		if archived {
			t = wire.RunErrVaultArchived
		} else if e.Class == errdefs.ClassNotFound {
			t = wire.RunErrVaultNotFound
		}
	case strings.HasPrefix(field, "resources"):
		switch {
		case strings.Contains(field, "memory_store_id") && archived:
			t = wire.RunErrMemoryStoreArchived
		case strings.Contains(field, "file_id") && e.Class == errdefs.ClassNotFound:
			t = wire.RunErrFileNotFound
		case e.Class == errdefs.ClassNotFound:
			t = wire.RunErrSessionResourceNotFound
		}
	case e.Class == errdefs.ClassInternal || e.Class == errdefs.ClassUnavailable || e.Class == errdefs.ClassStorageNotReady:
		t = wire.RunErrUnknown
	}
	return &wire.RunError{Type: t, Message: msg}
}

// now is the service's clock, in the store's precision: the scheduler
// and the positions it compares against must read the same clock.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }
