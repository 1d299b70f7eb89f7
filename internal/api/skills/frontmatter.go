package skills

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Limits of the SKILL.md front matter, as the reference service documents
// them for custom skills.
const (
	maxNameLen        = 64
	maxDescriptionLen = 1024
	// maxFrontMatter bounds how far into SKILL.md the front matter may
	// reach, so a huge SKILL.md is never read whole.
	maxFrontMatter = 64 << 10
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	xmlTag = regexp.MustCompile(`</?[A-Za-z][^<>]*>`)
	// reservedWords may not appear in a custom skill's name.
	reservedWords = []string{"anthropic", "claude"}
)

// frontMatter is what Hangar reads from SKILL.md. Other keys (license,
// allowed-tools, metadata …) are the skill's business and are kept in the
// archive untouched.
type frontMatter struct {
	Name        string
	HasName     bool
	Description string
}

// parseFrontMatter reads the YAML block between the leading "---" line and
// the next "---" (or "...") line of a SKILL.md.
func parseFrontMatter(b []byte) (frontMatter, error) {
	var fm frontMatter
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		return fm, errdefs.Invalid("SKILL.md: must be UTF-8 text")
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	if string(bytes.TrimRight(first, " \t\r")) != "---" {
		return fm, errdefs.Invalid("SKILL.md: must begin with YAML front matter (a line \"---\", the name and description, then \"---\")")
	}
	var block []byte
	closed := false
	for off := 0; off <= len(rest); {
		line, _, found := bytes.Cut(rest[off:], []byte("\n"))
		if t := string(bytes.TrimRight(line, " \t\r")); t == "---" || t == "..." {
			block, closed = rest[:off], true
			break
		}
		if !found {
			break
		}
		off += len(line) + 1
	}
	if !closed {
		return fm, errdefs.Invalid("SKILL.md: front matter is not closed by a \"---\" line")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(block, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if strings.Contains(msg, "cannot unmarshal") {
			return fm, errdefs.Invalid("SKILL.md: front matter must be a YAML mapping of keys to values")
		}
		return fm, errdefs.Invalid("SKILL.md: invalid YAML front matter: %s", msg)
	}
	if v, ok := doc["name"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return fm, errdefs.Invalid("SKILL.md: front matter name: must be a string")
		}
		fm.Name, fm.HasName = strings.TrimSpace(s), true
	}
	if v, ok := doc["description"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return fm, errdefs.Invalid("SKILL.md: front matter description: must be a string")
		}
		fm.Description = strings.TrimSpace(s)
	}
	if fm.Description == "" {
		return fm, errdefs.Invalid("SKILL.md: front matter description: field required")
	}
	if n := utf8.RuneCountInString(fm.Description); n > maxDescriptionLen {
		return fm, errdefs.Invalid("SKILL.md: front matter description: must be at most %d characters, got %d", maxDescriptionLen, n)
	}
	if xmlTag.MatchString(fm.Description) {
		return fm, errdefs.Invalid("SKILL.md: front matter description: must not contain XML tags")
	}
	return fm, nil
}

// checkName validates a skill name: the kebab-case slug that becomes the
// skill's directory on a worker. from says where the name came from.
func checkName(name, from string) error {
	switch {
	case name == "":
		return errdefs.Invalid("%s: must not be empty", from)
	case utf8.RuneCountInString(name) > maxNameLen:
		return errdefs.Invalid("%s: must be at most %d characters, got %d", from, maxNameLen, utf8.RuneCountInString(name))
	case !nameRE.MatchString(name):
		return errdefs.Invalid("%s: must be lowercase letters, digits and single hyphens (kebab-case), got %q", from, name)
	}
	for _, w := range reservedWords {
		if strings.Contains(name, w) {
			return errdefs.Invalid("%s: must not contain the reserved word %q, got %q", from, w, name)
		}
	}
	return nil
}
