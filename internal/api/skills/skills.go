// Package skills serves the skills endpoints. (stub, to be implemented)
package skills

import (
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/store"
)

// Handler serves the skills endpoints.
type Handler struct{}

// New returns the handler.
func New(st store.Store, blobs *blob.FS, maxUpload int64) *Handler { return &Handler{} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {}
