package webhook

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
)

// Defaults of Options.
const (
	// DefaultRetryBase is the wait before the first retry; each later wait
	// is four times the one before, capped at MaxRetryWait.
	DefaultRetryBase = 5 * time.Second
	MaxRetryWait     = time.Hour
	// MaxAttempts is how often one event is tried on one endpoint before
	// it is dropped: about 2.5 hours of retries at the default base.
	MaxAttempts = 8
	// DisableAfter consecutive failed attempts disable an endpoint, as the
	// hosted service documents (about 20).
	DisableAfter = 20
	// AttemptTimeout bounds one attempt, connection to response headers.
	AttemptTimeout = 10 * time.Second
	// maxInFlight bounds concurrent attempts.
	maxInFlight = 16
)

// Options configure the sender.
type Options struct {
	// AllowPrivate lets endpoints use plain http, any port and private or
	// internal addresses (receivers inside the operator's network).
	AllowPrivate bool
	// RetryBase is the first retry's wait; 0 takes DefaultRetryBase.
	RetryBase time.Duration
	// Resolver resolves endpoint hosts; nil uses net.DefaultResolver.
	Resolver netpolicy.Resolver
}

// cached is an endpoint with its opened secret, as the sender needs it.
type cached struct {
	Endpoint
	secret string
}

// Service manages endpoints and delivers their events.
type Service struct {
	st     store.Store
	sealer *vault.Sealer
	log    *slog.Logger
	opts   Options
	client *http.Client

	// wmu serializes endpoint writes in this process; it is taken before
	// a transaction, never inside one. mu guards the endpoint cache only,
	// and is never held across a store call: other writers' transactions
	// (a commit queueing its deliveries) take it while they hold the
	// store's one writer connection.
	wmu       sync.Mutex
	mu        sync.Mutex
	endpoints map[string]cached

	// qmu guards the queue of deliveries waiting for their time.
	qmu   sync.Mutex
	queue dueHeap
	wake  chan struct{}
	slots chan struct{}
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

// New returns the service; Start loads endpoints and pending deliveries
// and starts sending.
func New(st store.Store, sealer *vault.Sealer, log *slog.Logger, o Options) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	s := &Service{st: st, sealer: sealer, log: log, opts: o, endpoints: map[string]cached{},
		wake: make(chan struct{}, 1), slots: make(chan struct{}, maxInFlight)}
	dialer := &net.Dialer{Timeout: AttemptTimeout}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netpolicy.DialChecked(ctx, network, addr, o.Resolver, dialer.DialContext, s.refuse)
		},
		TLSHandshakeTimeout:   AttemptTimeout,
		ResponseHeaderTimeout: AttemptTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   AttemptTimeout,
		// A redirect is a failed delivery, never followed: following it
		// would let a receiver point the server anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// errInternalAddress marks a refused dial to an internal address.
var errInternalAddress = errors.New("internal address")

func (s *Service) refuse(host string, a netip.Addr) error {
	if s.opts.AllowPrivate || !netpolicy.IsInternal(a) {
		return nil
	}
	return fmt.Errorf("%s resolves to %s: %w (start the server with --webhook-allow-private to allow it)", host, a, errInternalAddress)
}

func (s *Service) cache(e Endpoint, secret string) {
	s.endpoints[e.ID] = cached{Endpoint: e, secret: secret}
}

// Start loads the endpoints and the deliveries left pending by the last
// run, and sends until Close.
func (s *Service) Start(ctx context.Context) error {
	page, err := s.st.List(ctx, store.ListOptions{Workspace: recordWorkspace, Kind: KindEndpoint, IncludeArchived: true})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, r := range page.Records {
		e, err := endpointOf(r)
		if err != nil {
			s.mu.Unlock()
			return errdefs.Internal(err, "decode webhook endpoint %s", r.ID)
		}
		plain, err := s.sealer.Open(r.Secret, secretAAD(r.ID))
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("open the signing secret of webhook endpoint %s: %w", r.ID, err)
		}
		s.cache(e, string(plain))
	}
	s.mu.Unlock()
	pending, err := s.st.List(ctx, store.ListOptions{Workspace: recordWorkspace, Kind: KindDelivery, IncludeArchived: true})
	if err != nil {
		return err
	}
	for _, r := range pending.Records {
		var d delivery
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return errdefs.Internal(err, "decode webhook delivery %s", r.ID)
		}
		s.push(item{id: r.ID, due: d.NextAt})
	}
	if n := len(pending.Records); n > 0 {
		s.log.Info("webhook deliveries resumed", "pending", n)
	}
	ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(1)
	go s.run(ctx)
	return nil
}

// Close stops sending and waits for attempts under way. Pending deliveries
// stay in the store for the next start.
func (s *Service) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// item is a delivery waiting for its time.
type item struct {
	id  string
	due time.Time
}

type dueHeap []item

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (s *Service) push(its ...item) {
	s.qmu.Lock()
	for _, it := range its {
		heap.Push(&s.queue, it)
	}
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run starts each delivery when it is due.
func (s *Service) run(ctx context.Context) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []item
		next := time.Hour
		s.qmu.Lock()
		for s.queue.Len() > 0 {
			if d := s.queue[0].due.Sub(now); d > 0 {
				next = d
				break
			}
			due = append(due, heap.Pop(&s.queue).(item))
		}
		s.qmu.Unlock()
		for _, it := range due {
			select {
			case s.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s.wg.Add(1)
			go func(id string) {
				defer s.wg.Done()
				defer func() { <-s.slots }()
				s.attempt(ctx, id)
			}(it.id)
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

// retryWait is the wait after attempt n (1-based) failed.
func (s *Service) retryWait(n int) time.Duration {
	w := s.opts.RetryBase
	for i := 1; i < n && w < MaxRetryWait; i++ {
		w *= 4
	}
	return min(w, MaxRetryWait)
}

// newEventID mints an envelope id.
func newEventID() string { return ids.New(ids.WebhookEvent) }
