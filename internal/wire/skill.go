package wire

import "time"

// Skill object, version and receipt types.
const (
	SkillType               = "skill"
	SkillVersionType        = "skill_version"
	SkillDeletedType        = "skill_deleted"
	SkillVersionDeletedType = "skill_version_deleted"

	SkillSourceCustom           = "custom"
	SkillSourceAnthropic        = "anthropic"
	SkillSourceAnthropicExample = "anthropic_example"
	SkillSourcePlugin           = "plugin"

	// SkillVersionLatest is the alias a version path segment or an agent's
	// skill reference may use for the newest version.
	SkillVersionLatest = "latest"
)

// Skill is the skill object.
type Skill struct {
	ID              string      `json:"id"`
	CreatedAt       time.Time   `json:"created_at"`
	DisplayName     string      `json:"display_name"`
	LatestVersionID string      `json:"latest_version_id"`
	Source          SkillSource `json:"source"`
	Type            string      `json:"type"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

// SkillSource says where a skill comes from.
type SkillSource struct {
	Type string `json:"type"`
}

// SkillVersion is one immutable upload of a skill. ID is the version string
// used in paths and agent references.
type SkillVersion struct {
	ID          string    `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	Description string    `json:"description"`
	Name        string    `json:"name"`
	SkillID     string    `json:"skill_id"`
	Type        string    `json:"type"`
}
