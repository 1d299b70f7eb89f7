package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/agentcfg"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// resolveAgent pins the referenced agent version (the latest one
// unless a version is named) and applies the overrides of
// agent_with_overrides, giving the session's effective agent.
func resolveAgent(ctx context.Context, tx store.Tx, ws string, ref wire.AgentRef) (wire.SessionAgent, error) {
	idField := "agent.id"
	if ref.Bare {
		idField = "agent"
	}
	rec, err := tx.Get(ctx, ws, store.KindAgent, ref.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return wire.SessionAgent{}, errdefs.NotFound("%s: agent %s not found", idField, ref.ID)
	}
	if err != nil {
		return wire.SessionAgent{}, err
	}
	if rec.ArchivedAt != nil {
		// Sessions already on it keep running; new ones may not start.
		return wire.SessionAgent{}, errdefs.Invalid("agent: agent %s is archived", ref.ID)
	}
	a, err := decodeAgent(rec.Data)
	if err != nil {
		return wire.SessionAgent{}, err
	}
	if ref.Version != 0 && ref.Version != a.Version {
		if ref.Version > a.Version {
			return wire.SessionAgent{}, errdefs.NotFound("agent.version: agent %s has no version %d (latest is %d)", ref.ID, ref.Version, a.Version)
		}
		vrec, err := tx.Get(ctx, ws, store.KindAgentVersion, store.AgentVersionID(ref.ID, ref.Version))
		if errors.Is(err, errdefs.ErrNotFound) {
			return wire.SessionAgent{}, errdefs.NotFound("agent.version: agent %s has no version %d", ref.ID, ref.Version)
		}
		if err != nil {
			return wire.SessionAgent{}, err
		}
		if a, err = decodeAgent(vrec.Data); err != nil {
			return wire.SessionAgent{}, err
		}
	}
	sa, err := applyOverrides(wire.SessionAgentFrom(a), ref)
	if err != nil {
		return sa, err
	}
	if ref.Skills.Set && !ref.Skills.Null {
		if err := checkSkills(ctx, tx, ws, sa.Skills); err != nil {
			return sa, err
		}
	}
	return sa, nil
}

func decodeAgent(data []byte) (wire.Agent, error) {
	var a wire.Agent
	if err := json.Unmarshal(data, &a); err != nil {
		return a, errdefs.Internal(err, "decode stored agent")
	}
	return a, nil
}

// applyOverrides applies agent_with_overrides to the referenced version:
// an omitted field inherits, null or [] clears, a value
// replaces wholesale, parsed and checked exactly as on agent create.
// The agent's id and version are kept.
func applyOverrides(sa wire.SessionAgent, ref wire.AgentRef) (wire.SessionAgent, error) {
	if !ref.HasOverrides() {
		return sa, nil
	}
	if raw, ok := ref.Model.Value(); ok {
		m, err := agentcfg.ParseModel("agent.model", raw)
		if err != nil {
			return sa, err
		}
		if sa.Model, err = m.Config("agent.model", nil); err != nil {
			return sa, err
		}
	} else if ref.Model.Set {
		// The model can never be cleared; wire's Validate reports it first, this keeps the rule
		// local to whoever applies overrides.
		return sa, errdefs.Invalid("agent.model: cannot be null; a session always has a model").WithCode("agent_model_required")
	}
	if ref.System.Set {
		sa.System = nil
		if v, ok := ref.System.Value(); ok && v != "" {
			sa.System = &v
		}
	}
	var err error
	if ref.Tools.Set {
		sa.Tools = nil
		if raw, ok := ref.Tools.Value(); ok {
			if sa.Tools, err = agentcfg.ParseTools("agent.tools", raw); err != nil {
				return sa, err
			}
		}
	}
	if ref.MCPServers.Set {
		sa.MCPServers = nil
		if raw, ok := ref.MCPServers.Value(); ok {
			if sa.MCPServers, err = agentcfg.ParseMCPServers("agent.mcp_servers", raw); err != nil {
				return sa, err
			}
		}
	}
	if ref.Skills.Set {
		sa.Skills = nil
		if raw, ok := ref.Skills.Value(); ok {
			if sa.Skills, err = agentcfg.ParseSkills("agent.skills", raw); err != nil {
				return sa, err
			}
		}
	}
	if wire.OverrideClears(ref.Tools) && len(sa.Skills) > 0 {
		return sa, errSkillsNeedTools()
	}
	if ref.Tools.Set || ref.MCPServers.Set {
		// Checked on the effective result: clearing mcp_servers strands
		// the inherited mcp_toolsets that name them.
		if err := agentcfg.Validate("agent.", sa.Tools, sa.MCPServers); err != nil {
			return sa, err
		}
	}
	return sa, nil
}

// errSkillsNeedTools refuses clearing tools while skills remain: skills
// are read through the read tool.
func errSkillsNeedTools() error {
	return errdefs.Invalid("agent.tools: cannot be cleared while the session has skills, which need the read tool; clear agent.skills too or keep a toolset")
}

// checkSkills requires every custom skill (and a named version of it) to
// exist in the workspace. Anthropic skills are names Hangar does not host
// and are passed through.
func checkSkills(ctx context.Context, tx store.Tx, ws string, skills []wire.AgentSkill) error {
	for i, s := range skills {
		if s.Type != "custom" {
			continue
		}
		p := fmt.Sprintf("agent.skills[%d]", i)
		if _, err := tx.Get(ctx, ws, store.KindSkill, s.SkillID); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				return errdefs.NotFound("%s.skill_id: skill %s not found", p, s.SkillID)
			}
			return err
		}
		if s.Version == "" || s.Version == wire.SkillVersionLatest {
			continue
		}
		if _, err := tx.GetByName(ctx, ws, store.KindSkillVersion, s.SkillID, s.Version); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				return errdefs.NotFound("%s.version: skill %s has no version %s", p, s.SkillID, s.Version)
			}
			return err
		}
	}
	return nil
}

// checkEnvironment requires a live environment.
func checkEnvironment(ctx context.Context, tx store.Tx, ws, id string) error {
	rec, err := tx.Get(ctx, ws, store.KindEnvironment, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound("environment_id: environment %s not found", id)
	}
	if err != nil {
		return err
	}
	if rec.ArchivedAt != nil {
		return errdefs.Invalid("environment_id: environment %s is archived", id)
	}
	return nil
}

// checkVaults requires every vault to exist in the workspace, unarchived.
func checkVaults(ctx context.Context, tx store.Tx, ws string, vaultIDs []string) error {
	for i, id := range vaultIDs {
		rec, err := tx.Get(ctx, ws, store.KindVault, id)
		if errors.Is(err, errdefs.ErrNotFound) {
			return errdefs.NotFound("vault_ids[%d]: vault %s not found", i, id)
		}
		if err != nil {
			return err
		}
		if rec.ArchivedAt != nil {
			return errdefs.Invalid("vault_ids[%d]: vault %s is archived", i, id)
		}
	}
	return nil
}

// buildResources checks the resources of a create and gives each its
// sesrsc_ id, in the order given. A repository's token never
// reaches the document: create seals it beside it (resources.go).
func buildResources(ctx context.Context, tx store.Tx, ws string, params []wire.ResourceParams, now time.Time) ([]wire.SessionResource, error) {
	out := make([]wire.SessionResource, 0, len(params))
	dirs := map[string]bool{}
	for i, rp := range params {
		p := fmt.Sprintf("resources[%d]", i)
		res := wire.SessionResource{Type: rp.Type, ID: ids.New(ids.Resource), CreatedAt: now, UpdatedAt: now, MountPath: rp.EffectiveMountPath()}
		switch rp.Type {
		case wire.ResourceFile:
			if _, err := tx.Get(ctx, ws, store.KindFile, rp.FileID); err != nil {
				if errors.Is(err, errdefs.ErrNotFound) {
					return nil, errdefs.NotFound("%s.file_id: file %s not found", p, rp.FileID)
				}
				return nil, err
			}
			res.FileID = rp.FileID
		case wire.ResourceGitHubRepository:
			res.URL, res.Checkout = rp.URL, rp.Checkout
		case wire.ResourceMemoryStore:
			if err := attachMemoryStore(ctx, tx, ws, p, rp, &res, dirs); err != nil {
				return nil, err
			}
		default:
			return nil, errdefs.Invalid("%s.type: unknown resource type %q", p, rp.Type)
		}
		out = append(out, res)
	}
	return out, nil
}

// attachMemoryStore fills res from the store rp names, which must exist in
// the workspace unarchived. Name and description are snapshotted, as the
// SDK documents, and the mount directory is derived from the name, made
// unique within the session (dirs holds those already taken).
func attachMemoryStore(ctx context.Context, tx store.Tx, ws, p string, rp wire.ResourceParams, res *wire.SessionResource, dirs map[string]bool) error {
	rec, err := tx.Get(ctx, ws, store.KindMemoryStore, rp.MemoryStoreID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound("%s.memory_store_id: memory store %s not found", p, rp.MemoryStoreID)
	}
	if err != nil {
		return err
	}
	if rec.ArchivedAt != nil {
		return errdefs.Invalid("%s.memory_store_id: memory store %s is archived and cannot be attached to a new session", p, rp.MemoryStoreID)
	}
	var ms wire.MemoryStore
	if err := json.Unmarshal(rec.Data, &ms); err != nil {
		return errdefs.Internal(err, "decode memory store %s", rp.MemoryStoreID)
	}
	dir := memoryDirName(ms.Name, ms.ID)
	for n := 2; dirs[dir]; n++ {
		dir = fmt.Sprintf("%s-%d", memoryDirName(ms.Name, ms.ID), n)
	}
	dirs[dir] = true
	access := rp.AccessMode()
	res.MemoryStoreID, res.Access, res.Instructions = ms.ID, &access, rp.Instructions
	res.Name, res.Description = &ms.Name, &ms.Description
	res.MountPath = wire.MemoryMountRoot + "/" + dir
	return nil
}

// memoryDirName is a store name as one safe path segment: lower case,
// letters, digits, '.', '_' and '-' kept, every other run of characters one
// '-'. A name with nothing left (or only dots) falls back to the store id.
func memoryDirName(name, id string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b.WriteRune(c)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if strings.Trim(s, ".") == "" {
		return id
	}
	return s
}
