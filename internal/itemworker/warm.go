package itemworker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"

	"github.com/hangarhq/hangar/internal/memnet"
)

// warmUp runs the SDK worker once, in full, against a canned server in
// memory, so that the item's real handshake runs on warm code: in a fresh
// process (or a builtin whose code never ran) the first heartbeat, session
// lookup, event stream, event list and result post each pay for their
// first use — the SDK's reflection-built JSON codecs of those types, the
// HTTP client's, the SSE decoder's — several milliseconds in all on a
// small machine, all of it on the path to a new session's first tool call.
// A pooled sandbox's worker does it while it waits for its item (`worker
// --item --warm`); it ends early when ctx does (the item arrived). Nothing
// leaves the process: the canned server is reached over net.Pipe, its
// session has no skills or memory, and the one tool call it makes is to a
// tool of its own.
func warmUp(ctx context.Context, workdir string) error {
	return warmUpWith(ctx, workdir, &warmHandler{posted: make(chan struct{}, 1)})
}

func warmUpWith(ctx context.Context, workdir string, h *warmHandler) error {
	ln := memnet.NewListener("warm-up", nil)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	quiet := slog.New(slog.DiscardHandler)
	hc, closeClient := httpClient(ctx, ln.Dial, warmSessionID, quiet)
	defer closeClient()
	client := anthropic.NewClient(
		option.WithHTTPClient(hc),
		option.WithBaseURL("http://hangar"),
		// A failed request is not retried: the warm-up is best-effort.
		option.WithMaxRetries(0))
	noMemory := time.Duration(-1)
	w := environments.NewEnvironmentWorker(client, environments.EnvironmentWorkerOptions{
		Workdir: workdir, Logger: quiet, MemorySyncInterval: noMemory,
		ToolsFunc: func(*agenttoolset.AgentToolContext) []anthropic.BetaTool {
			return []anthropic.BetaTool{warmTool{}}
		},
	})
	err := w.HandleItem(ctx, environments.HandleItemOptions{
		WorkID: warmWorkID, EnvironmentID: warmEnvID, SessionID: warmSessionID,
		WorkSecret: base64.RawURLEncoding.EncodeToString([]byte(`{"sessions_token":"warm"}`)),
	})
	_ = srv.Close()
	<-done
	// What the warm-up allocated is garbage now; the pooled sandbox's
	// idle heap stays what it was.
	runtime.GC()
	return err
}

const (
	warmWorkID    = "work_warm"
	warmEnvID     = "env_warm"
	warmSessionID = "sesn_warm"
	warmToolUseID = "sevt_warm_use"
)

// warmTool is the canned session's one tool: it returns a text block, as
// the toolset's tools do.
type warmTool struct{}

func (warmTool) Name() string        { return "warm_up" }
func (warmTool) Description() string { return "warm-up" }
func (warmTool) InputSchema() anthropic.BetaToolInputSchemaParam {
	return anthropic.BetaToolInputSchemaParam{Properties: map[string]any{}}
}
func (warmTool) Execute(context.Context, json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	return []anthropic.BetaToolResultBlockParamContentUnion{{OfText: &anthropic.BetaTextBlockParam{Text: "ok"}}}, nil
}

// The canned server's responses, in the shapes Hangar's API gives.
var (
	warmSession = `{"id":"` + warmSessionID + `","type":"session","status":"running","title":null,"metadata":{},` +
		`"agent":{"id":"agent_warm","type":"agent","name":"warm","version":1,"model":{"id":"claude-warm","speed":"standard"},"system":null,"description":null,` +
		`"tools":[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}],"mcp_servers":[],"skills":[]},` +
		`"environment_id":"` + warmEnvID + `","resources":[],"vault_ids":[],"stats":{"active_seconds":0,"duration_seconds":0},` +
		`"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},` +
		`"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","archived_at":null}`
	warmHeartbeat = `{"last_heartbeat":"2026-01-01T00:00:00.000001Z","lease_extended":true,"state":"active","ttl_seconds":60,"type":"work_heartbeat"}`
	warmWork      = `{"id":"` + warmWorkID + `","type":"work","environment_id":"` + warmEnvID + `","state":"stopped","data":{"type":"session","id":"` + warmSessionID + `"},` +
		`"metadata":{},"secret":null,"created_at":"2026-01-01T00:00:00Z","acknowledged_at":null,"started_at":null,"latest_heartbeat_at":null,"stop_requested_at":null,"stopped_at":null}`
	warmEvents = []string{
		`{"id":"sevt_warm_1","type":"session.status_running","processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_2","type":"user.message","content":[{"type":"text","text":"warm"}],"processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_3","type":"span.model_request_start","processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_4","type":"agent.message","content":[{"type":"text","text":"warm"}],"processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_5","type":"agent.tool_use","name":"warm_up","input":{},"evaluated_permission":"allow","processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_6","type":"agent.tool_result","tool_use_id":"sevt_warm_5","content":[{"type":"text","text":"ok"}],"is_error":false,"processed_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"sevt_warm_7","type":"session.status_idle","stop_reason":{"type":"end_turn"},"processed_at":"2026-01-01T00:00:00Z"}`,
	}
	warmToolUse    = `{"id":"` + warmToolUseID + `","type":"agent.tool_use","name":"warm_up","input":{},"evaluated_permission":"allow","processed_at":"2026-01-01T00:00:00Z"}`
	warmTerminated = `{"id":"sevt_warm_end","type":"session.status_terminated","processed_at":"2026-01-01T00:00:00Z"}`
)

// warmHandler serves the requests of one item's life: the claiming
// heartbeat, the session (the worker's lookup and the runner's status),
// the event list (a finished turn), the event stream (a tool call, then,
// once its result is posted, the session's end) and the force-stop.
type warmHandler struct {
	// posted signals the call's result: the session ends only after it,
	// so every run warms that path.
	posted chan struct{}
	// seen counts the requests by method and URI, when not nil (tests).
	mu   sync.Mutex
	seen map[string]int
}

func (h *warmHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.mu.Lock()
	if h.seen != nil {
		h.seen[r.Method+" "+r.URL.RequestURI()]++
	}
	h.mu.Unlock()
	p := r.URL.Path
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(p, "/heartbeat"):
		_, _ = io.WriteString(w, warmHeartbeat)
	case strings.HasSuffix(p, "/stop"):
		_, _ = io.WriteString(w, warmWork)
	case p == "/v1/sessions/"+warmSessionID:
		_, _ = io.WriteString(w, warmSession)
	case strings.HasSuffix(p, "/events/stream"):
		w.Header().Set("Content-Type", "text/event-stream")
		f, _ := w.(http.Flusher)
		_, _ = io.WriteString(w, "event: agent.tool_use\ndata: "+warmToolUse+"\n\n")
		if f != nil {
			f.Flush()
		}
		// The session ends once the call's result is in (or the warm-up
		// is called off).
		select {
		case <-h.posted:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "event: agent.tool_result\ndata: "+strings.Replace(warmEvents[5], "sevt_warm_5", warmToolUseID, 1)+"\n\n"+
			"event: session.status_terminated\ndata: "+warmTerminated+"\n\n")
	case strings.HasSuffix(p, "/events") && r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"data":[`+strings.Join(warmEvents, ",")+`],"next_page":null}`)
	case strings.HasSuffix(p, "/events") && r.Method == http.MethodPost:
		select {
		case h.posted <- struct{}{}:
		default:
		}
		_, _ = io.WriteString(w, `{"data":[]}`)
	default:
		http.NotFound(w, r)
	}
}
