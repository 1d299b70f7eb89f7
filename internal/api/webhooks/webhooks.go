// Package webhooks serves the webhook endpoint management the official
// SDK's Beta.Organization.Webhooks speaks (/v1/organizations/webhooks):
// create (the only response, with regenerate's, that carries the signing
// secret), get, update, list, delete and regenerate_signing_secret.
//
// Hangar's keys decide the scope: an administrator key manages the
// organization's endpoints, which receive every workspace's events; any
// other API key manages its own workspace's endpoints, which receive only
// that workspace's events.
package webhooks

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/webhook"
)

// Handler serves the webhook endpoints.
type Handler struct{ svc *webhook.Service }

// New returns the handler.
func New(svc *webhook.Service) *Handler { return &Handler{svc: svc} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/organizations/webhooks", h.create)
	route("GET /v1/organizations/webhooks", h.list)
	route("GET /v1/organizations/webhooks/{webhook_endpoint_id}", h.get)
	route("POST /v1/organizations/webhooks/{webhook_endpoint_id}", h.update)
	route("DELETE /v1/organizations/webhooks/{webhook_endpoint_id}", h.delete)
	route("POST /v1/organizations/webhooks/{webhook_endpoint_id}/regenerate_signing_secret", h.regenerate)
}

func scope(r *http.Request) webhook.Scope {
	p := httpx.PrincipalOf(r)
	if p.Admin {
		return webhook.Scope{}
	}
	return webhook.Scope{Workspace: p.Workspace}
}

// body is a create or update request.
type body struct {
	URL           *string   `json:"url"`
	Name          *string   `json:"name"`
	Description   *string   `json:"description"`
	EnabledEvents *[]string `json:"enabled_events"`
	State         *string   `json:"state"`
}

func (b body) spec() webhook.Spec {
	sp := webhook.Spec{URL: b.URL, Name: b.Name, Description: b.Description, State: b.State}
	if b.EnabledEvents != nil {
		sp.EnabledEvents, sp.EventsSet = *b.EnabledEvents, true
	}
	return sp
}

// created is the create response: the endpoint and its secret.
type created struct {
	webhook.Endpoint
	SigningSecret string `json:"signing_secret"`
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var b body
	if err := httpx.DecodeJSONWith(r, &b, func() error {
		if b.URL == nil {
			return errdefs.Invalid("url: is required")
		}
		if b.EnabledEvents == nil {
			return errdefs.Invalid("enabled_events: is required")
		}
		return nil
	}); err != nil {
		return err
	}
	e, secret, err := h.svc.Create(r.Context(), scope(r), b.spec())
	if err != nil {
		return err
	}
	return httpx.OK(w, created{Endpoint: e, SigningSecret: secret})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	e, err := h.svc.Get(r.Context(), scope(r), r.PathValue("webhook_endpoint_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, e)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	var b body
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return err
	}
	e, err := h.svc.Update(r.Context(), scope(r), r.PathValue("webhook_endpoint_id"), b.spec())
	if err != nil {
		return err
	}
	return httpx.OK(w, e)
}

// page is the list response, in the shape of the SDK's pagination.Page.
type page struct {
	Data    []webhook.Endpoint `json:"data"`
	HasMore bool               `json:"has_more"`
	FirstID *string            `json:"first_id"`
	LastID  *string            `json:"last_id"`
}

// list returns every endpoint of the caller's scope in one page: there are
// at most webhook.MaxEndpoints of them.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	es, err := h.svc.List(r.Context(), scope(r))
	if err != nil {
		return err
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
			es[i], es[j] = es[j], es[i]
		}
	default:
		return errdefs.Invalid("order: must be \"asc\" or \"desc\", got %q", q.Get("order"))
	}
	if after := q.Get("after_id"); after != "" {
		es = from(es, after)
	}
	p := page{Data: es}
	if len(es) > 0 {
		p.FirstID, p.LastID = &es[0].ID, &es[len(es)-1].ID
	}
	return httpx.OK(w, p)
}

// from is what follows id in es (all of es when id is not in it).
func from(es []webhook.Endpoint, id string) []webhook.Endpoint {
	for i, e := range es {
		if e.ID == id {
			return es[i+1:]
		}
	}
	return es
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_endpoint_id")
	if err := h.svc.Delete(r.Context(), scope(r), id); err != nil {
		return err
	}
	return httpx.OK(w, map[string]string{"id": id, "type": "webhook_endpoint_deleted"})
}

func (h *Handler) regenerate(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	secret, err := h.svc.RegenerateSecret(r.Context(), scope(r), r.PathValue("webhook_endpoint_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string]string{"signing_secret": secret})
}
