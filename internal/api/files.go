package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// TODO(stub): replaced by the files implementation.
func (a *API) uploadFile(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listFiles(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getFile(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) downloadFile(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) deleteFile(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
