// Package agent owns the small process that lives inside every sandbox and
// the control protocol the host speaks to it. The agent runs commands (so a
// tool call does not pay a sandbox start), moves files (resolving paths
// inside the sandbox, where a symlink cannot reach the host) and runs the
// SDK's agenttoolset itself, so tool results are the reference
// implementation's byte for byte. The protocol is newline-delimited JSON over
// a pair of inherited pipes; the Client half is what backends embed.
package agent

import (
	"encoding/json"
)

// Control channel file descriptors in the agent process: the host passes
// the read end of its request pipe as fd 3 and the write end of its reply
// pipe as fd 4, keeping stdout/stderr free for diagnostics.
const (
	FDIn  = 3
	FDOut = 4
)

// ProtocolVersion is sent with ready: the host refuses an agent of another
// version (a hangar-agent binary left from an older build). Raise it when
// the protocol, or a builtin's arguments, change.
const ProtocolVersion = 1

// Operations. Requests go host → agent; events go back tagged with the
// request id.
const (
	opReady     = "ready"     // agent → host once, when it accepts requests
	opExec      = "exec"      // start a command
	opStdin     = "stdin"     // bytes for a command's stdin
	opStdinEOF  = "stdin_eof" // close a command's stdin
	opSignal    = "signal"    // signal a command's process group
	opCancel    = "cancel"    // abandon a tool call or transfer
	opTool      = "tool"      // run one agenttoolset call
	opPut       = "put"       // open a file for writing
	opPutData   = "put_data"  // bytes of that file
	opPutEnd    = "put_end"   // finish it
	opGet       = "get"       // stream a file back as stdout events
	opStdout    = "stdout"    // output chunk
	opStderr    = "stderr"    // output chunk
	opStarted   = "started"   // exec began (or Err says why not)
	opExit      = "exit"      // exec ended
	opResult    = "result"    // tool answer
	opDone      = "done"      // put/get finished (Err on failure)
	chunkSize   = 64 << 10    // bytes per data message
	maxLineSize = 4*chunkSize + 1<<20
)

// msg is every message of the protocol; unused fields are omitted.
type msg struct {
	ID        uint64          `json:"id,omitempty"`
	Op        string          `json:"op"`
	Argv      []string        `json:"argv,omitempty"`
	Env       []string        `json:"env,omitempty"`
	Dir       string          `json:"dir,omitempty"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
	Stdin     bool            `json:"stdin,omitempty"`
	Data      []byte          `json:"data,omitempty"`
	Sig       int             `json:"sig,omitempty"`
	Path      string          `json:"path,omitempty"`
	Mode      uint32          `json:"mode,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Code      int             `json:"code,omitempty"`
	Signal    string          `json:"signal,omitempty"`
	TimedOut  bool            `json:"timed_out,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Text      string          `json:"text,omitempty"`
	Version   int             `json:"version,omitempty"`
	Err       string          `json:"err,omitempty"`
}
