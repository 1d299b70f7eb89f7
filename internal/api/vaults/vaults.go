// Package vaults serves the vaults endpoints. (stub, to be implemented)
package vaults

import (
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/vault"
)

// Handler serves the vaults endpoints.
type Handler struct{}

// New returns the handler.
func New(st store.Store, sealer *vault.Sealer) *Handler { return &Handler{} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {}
