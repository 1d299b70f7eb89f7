// Command hangar-agent is the agent that runs inside every Hangar sandbox
// (package agent) with its one builtin, the sandbox's worker (package
// itemworker). The server binds it into each sandbox it starts when it is
// installed beside the hangar binary; otherwise the server binds itself
// (`hangar sandbox-tool`), which does the same. This program links only
// what the agent needs, so it starts in about half the time: a sandbox's
// start, this program's included, is on the path to a new session's first
// tool call.
package main

import (
	"os"

	"github.com/hangarhq/hangar/internal/itemworker"
	"github.com/hangarhq/hangar/internal/sandbox/agent"
)

func main() {
	itemworker.Register()
	os.Exit(agent.Main())
}
