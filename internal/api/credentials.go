package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// TODO(stub): replaced by the credentials implementation.
func (a *API) createCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listCredentials(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) updateCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) deleteCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) archiveCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) validateCredential(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
