package cli

import (
	"github.com/hangarhq/hangar/internal/itemworker"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

// sandboxTool is `hangar sandbox-tool`: the in-sandbox agent when no
// hangar-agent binary (cmd/hangar-agent, the same agent in a smaller
// program that starts faster) is installed beside the server. It serves
// the control channel the backend passes on fds 3 and 4, and refuses to run
// anywhere else.
func sandboxTool(args []string) int {
	_ = args
	itemworker.Register()
	return agent.Main()
}
