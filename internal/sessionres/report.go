package sessionres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// failure is the session error of a failed clone, waiting to be reported.
type failure struct {
	ws, sessionID, resourceID string
	err                       wire.SessionError
}

// outbox holds failures until the Reporter takes them. Putting never
// blocks: clones fail in the sandboxes' provisioning, which tool calls
// holding their session's lock may be waiting for.
type outbox struct {
	mu    sync.Mutex
	items []failure
	// wake holds one signal while items are waiting.
	wake chan struct{}
}

func (o *outbox) put(f failure) {
	o.mu.Lock()
	o.items = append(o.items, f)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) take() []failure {
	o.mu.Lock()
	defer o.mu.Unlock()
	items := o.items
	o.items = nil
	return items
}

// SessionErrors logs a session.error in a session's log and stream
// (engine.Engine.ReportError).
type SessionErrors interface {
	ReportError(ctx context.Context, ws, sessionID string, se wire.SessionError) error
}

// Reporter reports the failed clones of a Resources to the sessions they
// belong to. It is built after the engine, which needs the sandboxes (and
// so the resources) to be built; failures from before it existed wait in
// the resources' outbox.
type Reporter struct {
	res  *Resources
	to   SessionErrors
	stop chan struct{}
	wg   sync.WaitGroup
}

// NewReporter starts reporting res's failed clones to to.
func NewReporter(res *Resources, to SessionErrors) *Reporter {
	r := &Reporter{res: res, to: to, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.loop()
	return r
}

func (r *Reporter) loop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case <-r.res.failures.wake:
		}
		for _, f := range r.res.failures.take() {
			// Each on its own: a report waits for its session's lock,
			// which one busy session must not hold up for the others.
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.report(f)
			}()
		}
	}
}

func (r *Reporter) report(f failure) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.to.ReportError(ctx, f.ws, f.sessionID, f.err); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		r.res.log.Error("report repository error", "session", f.sessionID, "resource", f.resourceID, "err", err)
	}
}

// Close stops reporting and waits for the reports under way.
func (r *Reporter) Close() {
	close(r.stop)
	r.wg.Wait()
}
