package engine

import (
	"fmt"
	"strings"

	"github.com/hangarhq/hangar/internal/wire"
)

// memoryNote is the part of the system prompt that tells the agent about
// the memory stores mounted in its sandbox: where each is, whether it may
// write there, what the store holds and how this session should use it.
// Name and description are those snapshotted when the store was attached.
func memoryNote(rs []wire.SessionResource) string {
	var b strings.Builder
	for _, r := range rs {
		if r.Type != wire.ResourceMemoryStore {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("# Memory stores\n\nThese memory stores are mounted as directories in your sandbox, one file per memory. " +
				"Read them with your file tools; files you create, change or delete in a read_write store are saved back to it.\n")
		}
		access := wire.AccessReadWrite
		if r.Access != nil {
			access = *r.Access
		}
		fmt.Fprintf(&b, "\n## %s\n- path: %s/\n- access: %s\n", deref(r.Name), r.MountPath, access)
		if d := deref(r.Description); d != "" {
			fmt.Fprintf(&b, "- description: %s\n", d)
		}
		if in := deref(r.Instructions); in != "" {
			fmt.Fprintf(&b, "- instructions: %s\n", in)
		}
	}
	return b.String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
