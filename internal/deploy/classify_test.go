package deploy

import (
	"errors"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

// A session create failure becomes the run error type of the field it
// names, as the session create path words it.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errdefs.Invalid("agent: agent agent_1 is archived"), wire.RunErrAgentArchived},
		{errdefs.NotFound("agent: agent agent_1 not found"), wire.RunErrAgentArchived},
		{errdefs.Invalid("environment_id: environment env_1 is archived"), wire.RunErrEnvironmentArchived},
		{errdefs.NotFound("environment_id: environment env_1 not found"), wire.RunErrEnvironmentNotFound},
		{errdefs.NotFound("vault_ids[0]: vault vlt_1 not found"), wire.RunErrVaultNotFound},
		{errdefs.Invalid("vault_ids[1]: vault vlt_1 is archived"), wire.RunErrVaultArchived},
		{errdefs.NotFound("resources[0].file_id: file file_1 not found"), wire.RunErrFileNotFound},
		{errdefs.Invalid("resources[2].memory_store_id: memory store m is archived and cannot be attached to a new session"), wire.RunErrMemoryStoreArchived},
		{errdefs.NotFound("agent.skills[0].skill_id: skill s not found"), wire.RunErrSkillNotFound},
		{errdefs.Invalid("budget: no list prices").WithCode("model_not_budgetable"), wire.RunErrSessionCreationRejected},
		{errdefs.Internal(errors.New("disk"), "write"), wire.RunErrUnknown},
		{errors.New("plain"), wire.RunErrUnknown},
	} {
		if got := classify(c.err); got.Type != c.want {
			t.Errorf("classify(%v) = %s, want %s", c.err, got.Type, c.want)
		}
	}
}
