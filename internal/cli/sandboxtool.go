package cli

import "github.com/hangarhq/hangar/internal/sandbox/agent"

// sandboxTool is `hangar sandbox-tool`: the agent that runs inside every
// local sandbox (the backend bind-mounts this very binary read-only and
// starts it with this command). It serves the control channel the backend
// passes on fds 3 and 4, and refuses to run anywhere else. Wired in Main as
//
//	case "sandbox-tool":
//		return sandboxTool(args[1:])
func sandboxTool(args []string) int {
	_ = args
	return agent.Main()
}
