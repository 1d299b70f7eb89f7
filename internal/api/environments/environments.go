// Package environments serves the environments endpoints. (stub, to be implemented)
package environments

import (
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/store"
)

// Handler serves the environments endpoints.
type Handler struct{}

// New returns the handler.
func New(st store.Store) *Handler { return &Handler{} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {}
