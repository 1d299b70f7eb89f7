// Package files serves the files endpoints. (stub, to be implemented)
package files

import (
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/store"
)

// Handler serves the files endpoints.
type Handler struct{}

// New returns the handler.
func New(st store.Store, blobs *blob.FS, maxUpload int64) *Handler { return &Handler{} }

// Register adds the routes.
func (h *Handler) Register(route httpx.Router) {}
