// Package deployments serves /v1/deployments and /v1/deployment_runs on
// internal/deploy, which owns the rules and the scheduler.
package deployments

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/deploy"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

const (
	listDefault = 20
	listMax     = 100
	runListMax  = 1000
)

// Handler serves the deployment endpoints.
type Handler struct{ svc *deploy.Service }

// New returns the handler.
func New(svc *deploy.Service) *Handler { return &Handler{svc: svc} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {
	route("POST /v1/deployments", h.create)
	route("GET /v1/deployments", h.list)
	route("GET /v1/deployments/{deployment_id}", h.get)
	route("POST /v1/deployments/{deployment_id}", h.update)
	route("POST /v1/deployments/{deployment_id}/archive", h.archive)
	route("POST /v1/deployments/{deployment_id}/pause", h.pause)
	route("POST /v1/deployments/{deployment_id}/unpause", h.unpause)
	route("POST /v1/deployments/{deployment_id}/run", h.run)
	route("GET /v1/deployment_runs", h.listRuns)
	route("GET /v1/deployment_runs/{deployment_run_id}", h.getRun)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var raw json.RawMessage
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return err
	}
	d, err := h.svc.Create(r.Context(), httpx.Workspace(r), raw)
	if err != nil {
		return err
	}
	return httpx.OK(w, d)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	d, err := h.svc.Get(r.Context(), httpx.Workspace(r), r.PathValue("deployment_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, d)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	var raw json.RawMessage
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return err
	}
	d, err := h.svc.Update(r.Context(), httpx.Workspace(r), r.PathValue("deployment_id"), raw)
	if err != nil {
		return err
	}
	return httpx.OK(w, d)
}

// action serves the bodiless state changes.
func (h *Handler) action(w http.ResponseWriter, r *http.Request, fn func(*deploy.Service) func(ctx context.Context, ws, id string) (wire.Deployment, error)) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	d, err := fn(h.svc)(r.Context(), httpx.Workspace(r), r.PathValue("deployment_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, d)
}

func (h *Handler) archive(w http.ResponseWriter, r *http.Request) error {
	return h.action(w, r, func(s *deploy.Service) func(context.Context, string, string) (wire.Deployment, error) {
		return s.Archive
	})
}

func (h *Handler) pause(w http.ResponseWriter, r *http.Request) error {
	return h.action(w, r, func(s *deploy.Service) func(context.Context, string, string) (wire.Deployment, error) { return s.Pause })
}

func (h *Handler) unpause(w http.ResponseWriter, r *http.Request) error {
	return h.action(w, r, func(s *deploy.Service) func(context.Context, string, string) (wire.Deployment, error) {
		return s.Unpause
	})
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request) error {
	if err := httpx.DecodeEmpty(r); err != nil {
		return err
	}
	run, err := h.svc.Run(r.Context(), httpx.Workspace(r), r.PathValue("deployment_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, run)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lq, err := httpx.ParseListQuery(q, listDefault, listMax)
	if err != nil {
		return err
	}
	lp, err := lq.Params(true)
	if err != nil {
		return err
	}
	f := deploy.ListFilter{AgentID: q.Get("agent_id"), Status: q.Get("status")}
	switch f.Status {
	case "", wire.DeploymentActive, wire.DeploymentPaused:
	default:
		return errdefs.Invalid("status: must be %q or %q, got %q", wire.DeploymentActive, wire.DeploymentPaused, f.Status)
	}
	if f.Status != "" && q.Get("include_archived") != "" {
		return errdefs.Invalid("status: cannot be combined with include_archived")
	}
	o := store.ListOptions{Workspace: httpx.Workspace(r)}
	lq.Filter(&o)
	lp.Apply(&o)
	ds, page, err := h.svc.ListDeployments(r.Context(), o, f)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []wire.Deployment{}
	}
	return httpx.OK(w, wire.Page[wire.Deployment]{Data: ds, NextPage: httpx.NextPage(page, lp.Desc)})
}

func (h *Handler) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := h.svc.GetRun(r.Context(), httpx.Workspace(r), r.PathValue("deployment_run_id"))
	if err != nil {
		return err
	}
	return httpx.OK(w, run)
}

func (h *Handler) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lq, err := httpx.ParseListQuery(q, listDefault, runListMax)
	if err != nil {
		return err
	}
	lp, err := lq.Params(true)
	if err != nil {
		return err
	}
	var f deploy.RunFilter
	if v := q.Get("has_error"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errdefs.Invalid("has_error: must be true or false, got %q", v)
		}
		f.HasError = &b
	}
	switch f.TriggerType = q.Get("trigger_type"); f.TriggerType {
	case "", wire.TriggerSchedule, wire.TriggerManual:
	default:
		return errdefs.Invalid("trigger_type: must be %q or %q, got %q", wire.TriggerSchedule, wire.TriggerManual, f.TriggerType)
	}
	o := store.ListOptions{Workspace: httpx.Workspace(r)}
	if v := q.Get("deployment_id"); v != "" {
		o.Parent, o.ParentSet = v, true
	}
	lq.Filter(&o)
	lp.Apply(&o)
	runs, page, err := h.svc.ListRuns(r.Context(), o, f)
	if err != nil {
		return err
	}
	return httpx.OK(w, wire.Page[wire.DeploymentRun]{Data: runs, NextPage: httpx.NextPage(page, lp.Desc)})
}
