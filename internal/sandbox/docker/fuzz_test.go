package docker

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hangarhq/hangar/internal/sandbox"
)

// A persisted handle is the one input Recover takes from storage: whatever
// it holds, checkHandle must not panic, and an id it accepts must be safe as
// a container name and a state directory name.
func FuzzCheckHandle(f *testing.F) {
	for _, seed := range []string{
		`{"version":1,"backend":"docker","id":"sbx_0123456789abcdef","spec":{"session_id":"sesn_1","workspace_dir":"/w","network":"none"}}`,
		`{"version":1,"backend":"docker","id":"../../etc","spec":{"session_id":"s","workspace_dir":"/w","network":"none"}}`,
		`{"version":1,"backend":"docker","id":"sbx_ABC","spec":{}}`,
		`{"version":2,"backend":"local","id":"sbx_00"}`,
		`{"id":"sbx_00/../x","spec":{"mounts":[{"source":"/","target":"/usr"}]}}`,
		`null`, `{`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	safe := regexp.MustCompile(`^sbx_[0-9a-f]{1,60}$`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h sandbox.Handle
		if json.Unmarshal(raw, &h) != nil {
			return
		}
		if checkHandle(h) != nil {
			return
		}
		if !safe.MatchString(h.ID) || filepath.Base(h.ID) != h.ID {
			t.Fatalf("accepted unsafe id %q", h.ID)
		}
		if h.Spec.Validate() != nil {
			t.Fatalf("accepted an invalid spec: %+v", h.Spec)
		}
		_ = specHash(h.Spec)
	})
}
