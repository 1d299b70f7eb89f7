package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// TODO(stub): replaced by the skills implementation.
func (a *API) createSkill(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listSkills(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getSkill(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) deleteSkill(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) createSkillVersion(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) listSkillVersions(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) getSkillVersion(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) deleteSkillVersion(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
func (a *API) downloadSkillVersion(w http.ResponseWriter, r *http.Request) error { return errdefs.NotFound("not implemented") }
