package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// TODO(stub): replaced by the agents implementation.
func (a *API) createAgent(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listAgents(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getAgent(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) updateAgent(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) archiveAgent(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listAgentVersions(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
