package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// routes registers every endpoint. Go's ServeMux matches against the escaped
// path, so a %2F inside an id stays inside its segment.
func (a *API) routes() {
	a.mux.Handle("GET /healthz", a.serve(func(w http.ResponseWriter, r *http.Request) error {
		return ok(w, map[string]string{"status": "ok"})
	}, false))
	// Anything unmatched, including the SDK test harness's GET / probe, gets
	// the standard not-found envelope rather than Go's text/plain 404.
	a.mux.Handle("/", a.serve(func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.NotFound("no route for %s %s", r.Method, r.URL.Path)
	}, false))

	// Agents.
	a.handle("POST /v1/agents", a.createAgent)
	a.handle("GET /v1/agents", a.listAgents)
	a.handle("GET /v1/agents/{agent_id}", a.getAgent)
	a.handle("POST /v1/agents/{agent_id}", a.updateAgent)
	a.handle("POST /v1/agents/{agent_id}/archive", a.archiveAgent)
	a.handle("GET /v1/agents/{agent_id}/versions", a.listAgentVersions)

	// Environments.
	a.handle("POST /v1/environments", a.createEnvironment)
	a.handle("GET /v1/environments", a.listEnvironments)
	a.handle("GET /v1/environments/{environment_id}", a.getEnvironment)
	a.handle("POST /v1/environments/{environment_id}", a.updateEnvironment)
	a.handle("DELETE /v1/environments/{environment_id}", a.deleteEnvironment)
	a.handle("POST /v1/environments/{environment_id}/archive", a.archiveEnvironment)

	// Vaults and credentials.
	a.handle("POST /v1/vaults", a.createVault)
	a.handle("GET /v1/vaults", a.listVaults)
	a.handle("GET /v1/vaults/{vault_id}", a.getVault)
	a.handle("POST /v1/vaults/{vault_id}", a.updateVault)
	a.handle("DELETE /v1/vaults/{vault_id}", a.deleteVault)
	a.handle("POST /v1/vaults/{vault_id}/archive", a.archiveVault)
	a.handle("POST /v1/vaults/{vault_id}/credentials", a.createCredential)
	a.handle("GET /v1/vaults/{vault_id}/credentials", a.listCredentials)
	a.handle("GET /v1/vaults/{vault_id}/credentials/{credential_id}", a.getCredential)
	a.handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}", a.updateCredential)
	a.handle("DELETE /v1/vaults/{vault_id}/credentials/{credential_id}", a.deleteCredential)
	a.handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive", a.archiveCredential)
	a.handle("POST /v1/vaults/{vault_id}/credentials/{credential_id}/mcp_oauth_validate", a.validateCredential)

	// Files.
	a.handle("POST /v1/files", a.uploadFile)
	a.handle("GET /v1/files", a.listFiles)
	a.handle("GET /v1/files/{file_id}", a.getFile)
	a.handle("GET /v1/files/{file_id}/content", a.downloadFile)
	a.handle("DELETE /v1/files/{file_id}", a.deleteFile)

	// Skills and skill versions.
	a.handle("POST /v1/skills", a.createSkill)
	a.handle("GET /v1/skills", a.listSkills)
	a.handle("GET /v1/skills/{skill_id}", a.getSkill)
	a.handle("DELETE /v1/skills/{skill_id}", a.deleteSkill)
	a.handle("POST /v1/skills/{skill_id}/versions", a.createSkillVersion)
	a.handle("GET /v1/skills/{skill_id}/versions", a.listSkillVersions)
	a.handle("GET /v1/skills/{skill_id}/versions/{version}", a.getSkillVersion)
	a.handle("DELETE /v1/skills/{skill_id}/versions/{version}", a.deleteSkillVersion)
	a.handle("GET /v1/skills/{skill_id}/versions/{version}/content", a.downloadSkillVersion)
}
