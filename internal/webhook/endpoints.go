package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Spec is what a create or an update sets; nil fields are left as they are.
type Spec struct {
	URL           *string
	Name          *string
	Description   *string
	EnabledEvents []string
	EventsSet     bool
	State         *string
}

// Scope says whose endpoints a caller manages: an administrator manages
// the organization's (Workspace ""), any other key its workspace's.
type Scope struct{ Workspace string }

func (sc Scope) owns(e *Endpoint) bool {
	if sc.Workspace == "" {
		return e.WorkspaceID == nil
	}
	return e.WorkspaceID != nil && *e.WorkspaceID == sc.Workspace
}

// newSecret mints a whsec_ secret of 32 random bytes.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// checkURL refuses what can never be delivered to: not an absolute http(s)
// URL, credentials in it, and, unless private receivers are allowed, plain
// http, a port other than 443 and a literal internal address. A host name
// is resolved at each delivery instead (its addresses may change).
func (s *Service) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errdefs.Invalid("url: must be an absolute https URL, got %q", raw)
	}
	if u.User != nil {
		return errdefs.Invalid("url: must not carry credentials")
	}
	if len(raw) > 2048 {
		return errdefs.Invalid("url: must be at most 2048 characters")
	}
	if s.opts.AllowPrivate {
		return nil
	}
	if u.Scheme != "https" {
		return errdefs.Invalid("url: must use https (start the server with --webhook-allow-private for plain-http receivers on your network)")
	}
	if p := u.Port(); p != "" && p != "443" {
		return errdefs.Invalid("url: must use port 443, got %s", p)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && netpolicy.IsInternal(a.Unmap()) {
		return errdefs.Invalid("url: %s is a private or internal address (start the server with --webhook-allow-private to allow it)", a)
	}
	return nil
}

func checkSpec(sp Spec) error {
	if sp.Name != nil && len(*sp.Name) > 256 {
		return errdefs.Invalid("name: must be at most 256 characters")
	}
	if sp.Description != nil && len(*sp.Description) > 2048 {
		return errdefs.Invalid("description: must be at most 2048 characters")
	}
	if sp.EventsSet {
		if len(sp.EnabledEvents) == 0 {
			return errdefs.Invalid("enabled_events: must name at least one event type")
		}
		for i, t := range sp.EnabledEvents {
			if !IsEventType(t) {
				return errdefs.Invalid("enabled_events[%d]: unknown event type %q", i, t)
			}
		}
	}
	if sp.State != nil && *sp.State != StateEnabled && *sp.State != StateDisabled {
		return errdefs.Invalid("state: must be \"enabled\" or \"disabled\", got %q", *sp.State)
	}
	return nil
}

// Create stores a new endpoint and returns it with its signing secret,
// which no later read returns.
func (s *Service) Create(ctx context.Context, sc Scope, sp Spec) (Endpoint, string, error) {
	if sp.URL == nil {
		return Endpoint{}, "", errdefs.Invalid("url: is required")
	}
	if !sp.EventsSet {
		return Endpoint{}, "", errdefs.Invalid("enabled_events: is required")
	}
	if err := s.checkURL(*sp.URL); err != nil {
		return Endpoint{}, "", err
	}
	if err := checkSpec(sp); err != nil {
		return Endpoint{}, "", err
	}
	now := wire.Now()
	e := Endpoint{
		ID: ids.New(ids.WebhookEndpoint), Type: "webhook_endpoint", URL: *sp.URL,
		EnabledEvents: dedupe(sp.EnabledEvents), State: StateEnabled, CreatedAt: now, UpdatedAt: now,
	}
	if sp.Name != nil {
		e.Name = *sp.Name
	}
	if sp.Description != nil {
		e.Description = *sp.Description
	}
	if sp.State != nil {
		e.State = *sp.State
	}
	if sc.Workspace != "" {
		ws := sc.Workspace
		e.WorkspaceID = &ws
	}
	secret := newSecret()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		n, err := tx.Count(ctx, recordWorkspace, KindEndpoint, "", true)
		if err != nil {
			return err
		}
		if n >= MaxEndpoints {
			return errdefs.Invalid("url: at most %d webhook endpoints may exist; delete one first", MaxEndpoints)
		}
		data, err := json.Marshal(e)
		if err != nil {
			return errdefs.Internal(err, "encode webhook endpoint")
		}
		return tx.Insert(ctx, &store.Record{Kind: KindEndpoint, ID: e.ID, Workspace: recordWorkspace, Data: data,
			Secret: s.sealer.Seal([]byte(secret), secretAAD(e.ID)), CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	s.mu.Lock()
	s.cache(e, secret)
	s.mu.Unlock()
	return e, secret, nil
}

func dedupe(ts []string) []string {
	out := []string{}
	for _, t := range ts {
		if !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func contains(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Get returns an endpoint the scope owns.
func (s *Service) Get(ctx context.Context, sc Scope, id string) (Endpoint, error) {
	r, err := s.st.Get(ctx, recordWorkspace, KindEndpoint, id)
	if err != nil {
		return Endpoint{}, notFound(id, err)
	}
	e, err := endpointOf(r)
	if err != nil {
		return Endpoint{}, errdefs.Internal(err, "decode webhook endpoint %s", id)
	}
	if !sc.owns(&e) {
		return Endpoint{}, errdefs.NotFound("webhook endpoint %s not found", id)
	}
	return e, nil
}

func notFound(id string, err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound("webhook endpoint %s not found", id)
	}
	return err
}

// List returns the scope's endpoints, oldest first.
func (s *Service) List(ctx context.Context, sc Scope) ([]Endpoint, error) {
	page, err := s.st.List(ctx, store.ListOptions{Workspace: recordWorkspace, Kind: KindEndpoint, IncludeArchived: true})
	if err != nil {
		return nil, err
	}
	out := []Endpoint{}
	for _, r := range page.Records {
		e, err := endpointOf(r)
		if err != nil {
			return nil, errdefs.Internal(err, "decode webhook endpoint %s", r.ID)
		}
		if sc.owns(&e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Update changes the fields sp sets. Enabling a disabled endpoint clears
// its disabled reason and its failure count.
func (s *Service) Update(ctx context.Context, sc Scope, id string, sp Spec) (Endpoint, error) {
	if sp.URL != nil {
		if err := s.checkURL(*sp.URL); err != nil {
			return Endpoint{}, err
		}
	}
	if err := checkSpec(sp); err != nil {
		return Endpoint{}, err
	}
	return s.modify(ctx, sc, id, func(e *Endpoint, _ *store.Record) {
		if sp.URL != nil {
			e.URL = *sp.URL
		}
		if sp.Name != nil {
			e.Name = *sp.Name
		}
		if sp.Description != nil {
			e.Description = *sp.Description
		}
		if sp.EventsSet {
			e.EnabledEvents = dedupe(sp.EnabledEvents)
		}
		if sp.State != nil && *sp.State != e.State {
			e.State = *sp.State
			e.DisabledReason = ""
			if e.State == StateEnabled {
				e.ConsecutiveFailures = 0
			}
		}
	})
}

// RegenerateSecret replaces the signing secret; the old one stops working
// at once.
func (s *Service) RegenerateSecret(ctx context.Context, sc Scope, id string) (string, error) {
	secret := newSecret()
	_, err := s.modify(ctx, sc, id, func(e *Endpoint, r *store.Record) {
		r.Secret = s.sealer.Seal([]byte(secret), secretAAD(id))
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Delete removes an endpoint and its pending deliveries.
func (s *Service) Delete(ctx context.Context, sc Scope, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		r, err := tx.Get(ctx, recordWorkspace, KindEndpoint, id)
		if err != nil {
			return notFound(id, err)
		}
		e, err := endpointOf(r)
		if err != nil {
			return errdefs.Internal(err, "decode webhook endpoint %s", id)
		}
		if !sc.owns(&e) {
			return errdefs.NotFound("webhook endpoint %s not found", id)
		}
		return tx.Delete(ctx, recordWorkspace, KindEndpoint, id)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.endpoints, id)
	s.mu.Unlock()
	return nil
}

// modify applies f to an endpoint the scope owns (a nil scope pointer is
// the sender, which owns all) and stores it, keeping the cache in step.
func (s *Service) modify(ctx context.Context, sc Scope, id string, f func(*Endpoint, *store.Record)) (Endpoint, error) {
	return s.modifyAs(ctx, &sc, id, f)
}

func (s *Service) modifyAs(ctx context.Context, sc *Scope, id string, f func(*Endpoint, *store.Record)) (Endpoint, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var e Endpoint
	var rec store.Record
	err := s.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		r, err := tx.Get(ctx, recordWorkspace, KindEndpoint, id)
		if err != nil {
			return notFound(id, err)
		}
		if e, err = endpointOf(r); err != nil {
			return errdefs.Internal(err, "decode webhook endpoint %s", id)
		}
		if sc != nil && !sc.owns(&e) {
			return errdefs.NotFound("webhook endpoint %s not found", id)
		}
		f(&e, &r)
		e.UpdatedAt = wire.Now()
		if r.Data, err = json.Marshal(e); err != nil {
			return errdefs.Internal(err, "encode webhook endpoint")
		}
		r.UpdatedAt = e.UpdatedAt
		rec = r
		return tx.Update(ctx, &r)
	})
	if err != nil {
		return Endpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The secret as stored now: a regenerated one replaces the old at once.
	plain, err := s.sealer.Open(rec.Secret, secretAAD(id))
	if err != nil {
		return Endpoint{}, fmt.Errorf("open the signing secret of webhook endpoint %s: %w", id, err)
	}
	s.endpoints[id] = cached{Endpoint: e, secret: string(plain)}
	return e, nil
}
