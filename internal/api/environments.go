package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// TODO(stub): replaced by the environments implementation.
func (a *API) createEnvironment(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listEnvironments(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getEnvironment(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) updateEnvironment(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) deleteEnvironment(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) archiveEnvironment(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
