// Package mcp owns Hangar's MCP client layer: connecting to an agent's
// remote MCP servers (Streamable HTTP, falling back to the legacy SSE
// transport), injecting the matching vault credential outside the sandbox,
// refreshing mcp_oauth tokens before expiry and on 401, listing and calling
// tools, and splitting oversized tool results into a preview plus the full
// text. It is built on the official MCP Go SDK; the engine decides what the
// model sees and which events are emitted.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/vault"
)

// Transport names reported by Conn.Transport.
const (
	TransportStreamable = "streamable_http"
	TransportSSE        = "sse"
)

// DefaultConnectTimeout bounds Connect when the caller's context has no
// deadline, so an unresponsive server cannot stall a session's start.
const DefaultConnectTimeout = 30 * time.Second

// clientInfo is how Hangar introduces itself to MCP servers.
var clientInfo = &sdk.Implementation{Name: "hangar", Version: "1"}

// ServerConfig is one MCP server of an agent plus how to reach it.
type ServerConfig struct {
	// Logger receives failed token refreshes; nil discards them.
	Logger *slog.Logger
	// Name is the agent's name for the server (mcp_servers[].name); it is
	// used in errors only.
	Name string
	// URL is the server's Streamable-HTTP endpoint. For the SSE
	// fallback the same URL is used as the SSE endpoint.
	URL string
	// Transport is the HTTP path to the server (the egress proxy, later);
	// nil means http.DefaultTransport.
	Transport http.RoundTripper
	// OAuth performs refresh-token grants; nil uses a shared default client.
	OAuth *vault.OAuthClient
	// OnRefresh receives the credential with its new tokens after every
	// refresh this connection performs, so the caller can store them
	// sealed (StoreRefreshed does that). Its error is logged, not fatal:
	// the new token is already in use.
	OnRefresh func(ctx context.Context, c Credential) error
	// ForceTransport, when set to TransportSSE or TransportStreamable,
	// skips the other transport. Empty tries Streamable HTTP then SSE.
	ForceTransport string
}

func (s ServerConfig) label() string {
	if s.Name != "" {
		return fmt.Sprintf("%s (%s)", s.Name, s.URL)
	}
	return s.URL
}

// Conn is an initialized MCP session with one server. It is safe for
// concurrent use.
type Conn struct {
	server    ServerConfig
	session   *sdk.ClientSession
	transport string
	auth      *authTransport
}

// Connect opens an MCP session with server, authenticating with cred (a
// zero Credential means no Authorization header). Streamable HTTP is tried
// first; if the server answers its POST with a 4xx other than 401/403 (a
// server that predates Streamable HTTP, per the MCP backwards-compatibility
// guidance), the legacy SSE transport is tried against the same URL.
//
// Errors: *CredentialError when the server refuses the credential (or
// demands one that is missing), *TransportError otherwise.
func Connect(ctx context.Context, server ServerConfig, cred Credential) (*Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultConnectTimeout)
		defer cancel()
	}
	at := newAuthTransport(server, cred)
	hc := &http.Client{Transport: at}

	try := func(kind string) (*sdk.ClientSession, *callState, error) {
		st := &callState{}
		cctx := withCallState(ctx, st)
		var t sdk.Transport
		if kind == TransportSSE {
			t = &sdk.SSEClientTransport{Endpoint: server.URL, HTTPClient: hc}
		} else {
			// Hangar only calls tools and lists them; it has no use for
			// server-initiated messages, and the extra GET stream would
			// double the connections through the egress proxy.
			t = &sdk.StreamableClientTransport{Endpoint: server.URL, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}
		}
		cs, err := sdk.NewClient(clientInfo, nil).Connect(cctx, t, nil)
		return cs, st, err
	}

	kinds := []string{TransportStreamable, TransportSSE}
	if server.ForceTransport != "" {
		kinds = []string{server.ForceTransport}
	}
	var firstErr error
	for i, kind := range kinds {
		cs, st, err := try(kind)
		if err == nil {
			return &Conn{server: server, session: cs, transport: kind, auth: at}, nil
		}
		if cerr := at.authFailure(st); cerr != nil {
			return nil, cerr
		}
		if ctx.Err() != nil {
			return nil, &TransportError{Server: server.label(), Op: "connect", Err: ctx.Err()}
		}
		if firstErr == nil {
			firstErr = err
		}
		status := int(st.status.Load())
		if i == 0 && len(kinds) > 1 && !(status >= 400 && status < 500) {
			// Unreachable, 5xx or a protocol failure: SSE would not help.
			break
		}
	}
	return nil, &TransportError{Server: server.label(), Op: "connect", Err: firstErr}
}

// Transport says which transport the session uses.
func (c *Conn) Transport() string { return c.transport }

// Credential returns the credential in use, with any tokens refreshed since
// Connect.
func (c *Conn) Credential() Credential { return c.auth.current() }

// Close ends the session.
func (c *Conn) Close() error { return c.session.Close() }

// Tool is one tool a server offers.
type Tool struct {
	Name        string
	Title       string
	Description string
	// InputSchema is the JSON Schema of the tool's arguments as the server
	// sent it; never nil (an object schema with no properties if absent).
	InputSchema json.RawMessage
	// Annotations are the server's hints (read-only, destructive, ...), raw;
	// nil when absent.
	Annotations json.RawMessage
}

// maxToolPages bounds the tools/list walk so a server returning cursors
// forever cannot hold a session.
const maxToolPages = 100

// Tools lists every tool, following pagination cursors.
func (c *Conn) Tools(ctx context.Context) ([]Tool, error) {
	var out []Tool
	cursor := ""
	for page := 0; ; page++ {
		if page == maxToolPages {
			return nil, &TransportError{Server: c.server.label(), Op: "tools/list", Err: fmt.Errorf("more than %d pages of tools", maxToolPages)}
		}
		st := &callState{}
		res, err := c.session.ListTools(withCallState(ctx, st), &sdk.ListToolsParams{Cursor: cursor})
		if err != nil {
			return nil, c.classify("tools/list", st, err)
		}
		for _, t := range res.Tools {
			if t == nil {
				continue
			}
			out = append(out, convertTool(t))
		}
		if res.NextCursor == "" {
			return out, nil
		}
		cursor = res.NextCursor
	}
}

func convertTool(t *sdk.Tool) Tool {
	tool := Tool{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: json.RawMessage(`{"type":"object"}`)}
	if t.InputSchema != nil {
		if b, err := json.Marshal(t.InputSchema); err == nil && string(b) != "null" {
			tool.InputSchema = b
		}
	}
	if t.Annotations != nil {
		if b, err := json.Marshal(t.Annotations); err == nil {
			tool.Annotations = b
		}
	}
	return tool
}

// Call invokes a tool. args must be a JSON object (empty or null means {}).
//
// Errors: *ToolError when the tool ran and reported failure (isError; the
// Result is returned as well, for the model to read); *RPCError when the
// server rejected the call (unknown tool, invalid arguments);
// *CredentialError when the server refused the credential even after a
// refresh; *TransportError when the server could not be reached or the
// session broke. An errdefs invalid error means args was not an object.
func (c *Conn) Call(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	arguments, err := callArguments(args)
	if err != nil {
		return Result{}, err
	}
	st := &callState{}
	res, err := c.session.CallTool(withCallState(ctx, st), &sdk.CallToolParams{Name: name, Arguments: arguments})
	if err != nil {
		var werr *jsonrpc.Error
		// -32005 is the SDK's own "rejected by transport": the request
		// never got a JSON-RPC answer.
		if errors.As(err, &werr) && werr.Code != codeRejectedByTransport && st.status.Load() < 400 {
			return Result{}, &RPCError{Server: c.server.label(), Tool: name, Code: werr.Code, Message: werr.Message}
		}
		return Result{}, c.classify("tools/call "+name, st, err)
	}
	r := convertResult(res)
	if r.IsError {
		return r, &ToolError{Server: c.server.label(), Tool: name, Result: r}
	}
	return r, nil
}

const codeRejectedByTransport = -32005

// callArguments checks a tool input: MCP arguments are a JSON object.
func callArguments(args json.RawMessage) (any, error) {
	t := bytes.TrimSpace(args)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return map[string]any{}, nil
	}
	if t[0] != '{' || !json.Valid(t) {
		return nil, errdefs.Invalid("input: must be a JSON object")
	}
	return json.RawMessage(t), nil
}

// classify turns an SDK failure into a typed error.
func (c *Conn) classify(op string, st *callState, err error) error {
	if cerr := c.auth.authFailure(st); cerr != nil {
		return cerr
	}
	return &TransportError{Server: c.server.label(), Op: op, Err: err}
}

// callState collects what the HTTP layer saw during one SDK operation; it
// rides on the context, which the SDK hands to its HTTP requests.
type callState struct {
	// status is the last HTTP status received.
	status atomic.Int32
	// unauthorized is set when the server answered 401/403 and no refresh
	// could fix it.
	unauthorized atomic.Bool
	// refreshErr is the failed refresh behind unauthorized, if any.
	refreshErr atomic.Pointer[error]
}

type callStateKey struct{}

func withCallState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, st)
}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// TransportError is a failure to reach the server or to keep the session
// alive: connection refused, timeouts, broken streams, malformed replies.
type TransportError struct {
	Server string
	Op     string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("mcp server %s: %s: %v", e.Server, e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// RPCError is a JSON-RPC error the server returned for a call.
type RPCError struct {
	Server  string
	Tool    string
	Code    int64
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("mcp server %s: tool %s: %s (code %d)", e.Server, e.Tool, e.Message, e.Code)
}

// ToolError is a tool result with isError set: the tool ran and failed.
type ToolError struct {
	Server string
	Tool   string
	Result Result
}

func (e *ToolError) Error() string {
	msg := e.Result.Text()
	if len(msg) > 200 {
		msg = truncateUTF8(msg, 200) + "…"
	}
	return fmt.Sprintf("mcp server %s: tool %s reported an error: %s", e.Server, e.Tool, strings.TrimSpace(msg))
}

func (c ServerConfig) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
