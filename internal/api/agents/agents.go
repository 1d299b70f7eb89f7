// Package agents serves the agents endpoints. (stub, to be implemented)
package agents

import (
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/store"
)

// Handler serves the agents endpoints.
type Handler struct{}

// New returns the handler.
func New(st store.Store) *Handler { return &Handler{} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {}
