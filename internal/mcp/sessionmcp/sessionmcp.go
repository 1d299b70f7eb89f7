// Package sessionmcp is the engine's MCP client (engine.MCPClient): one
// connection per session and server, connected with the credential the
// session's vaults hold for it (refreshed tokens are stored back sealed),
// and oversized results saved into the session's sandbox with only a
// preview given to the model.
package sessionmcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/mcp"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/wire"
)

// Clients implements engine.MCPClient with internal/mcp.
type Clients struct {
	st     store.Store
	sealer *vault.Sealer
	log    *slog.Logger
	// files writes oversized results into the session's sandbox (with the
	// built-in write tool); nil keeps only the preview.
	files tool.Executor
	// hooks hears of failed OAuth refreshes (vault_credential.refresh_failed);
	// nil: nobody.
	hooks *webhook.Service

	mu    sync.Mutex
	conns map[string]map[string]*mcp.Conn // session → server URL → conn
}

// New returns the MCP clients of the sessions: credentials are read from
// st and opened with sealer; files, when not nil, runs the built-in write
// tool in a session's sandbox, where oversized results are saved.
func New(st store.Store, sealer *vault.Sealer, files tool.Executor, log *slog.Logger, opts ...Option) *Clients {
	m := &Clients{st: st, sealer: sealer, files: files, log: log, conns: map[string]map[string]*mcp.Conn{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Option configures Clients.
type Option func(*Clients)

// WithWebhooks announces every failed refresh of a credential's OAuth
// tokens (vault_credential.refresh_failed).
func WithWebhooks(s *webhook.Service) Option { return func(m *Clients) { m.hooks = s } }

// refreshFailed emits vault_credential.refresh_failed when err, or a
// refresh Resolve tried ahead of expiry, is a failed refresh.
func (m *Clients) refreshFailed(ctx context.Context, ws string, cred mcp.Credential, err error) {
	var ce *mcp.CredentialError
	vaultID, credID := cred.VaultID, cred.CredentialID
	switch {
	case errors.As(err, &ce) && ce.Reason == mcp.ReasonRefreshFailed:
		vaultID, credID = ce.VaultID, ce.CredentialID
	case err == nil && cred.RefreshErr != nil:
	default:
		return
	}
	if credID == "" {
		return
	}
	if err := m.hooks.Emit(context.WithoutCancel(ctx), ws, webhook.Data{Type: "vault_credential.refresh_failed", ID: credID, VaultID: vaultID}); err != nil {
		m.log.Error("queue vault_credential.refresh_failed", "credential", credID, "err", err)
	}
}

// conn returns the session's connection to server, connecting with the
// credential of its vaults.
func (m *Clients) conn(ctx context.Context, ws, sessionID string, vaultIDs []string, server wire.MCPServer) (*mcp.Conn, error) {
	m.mu.Lock()
	if c := m.conns[sessionID][server.URL]; c != nil {
		m.mu.Unlock()
		return c, nil
	}
	m.mu.Unlock()
	cred, err := mcp.Resolve(ctx, m.log, m.st, m.sealer, ws, vaultIDs, server.URL)
	m.refreshFailed(ctx, ws, cred, err)
	if err != nil {
		return nil, classify(server.Name, err)
	}
	c, err := mcp.Connect(ctx, mcp.ServerConfig{Logger: m.log, Name: server.Name, URL: server.URL, OnRefresh: mcp.StoreRefreshed(m.st, m.sealer, ws)}, cred)
	if err != nil {
		m.refreshFailed(ctx, ws, mcp.Credential{}, err)
		return nil, classify(server.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns[sessionID] == nil {
		m.conns[sessionID] = map[string]*mcp.Conn{}
	}
	if existing := m.conns[sessionID][server.URL]; existing != nil {
		_ = c.Close()
		return existing, nil
	}
	m.conns[sessionID][server.URL] = c
	return c, nil
}

func classify(server string, err error) error {
	var ce *mcp.CredentialError
	return &engine.MCPError{Server: server, Auth: errors.As(err, &ce), Err: err}
}

func (m *Clients) Tools(ctx context.Context, ws, sessionID string, vaultIDs []string, server wire.MCPServer, ts *wire.MCPToolset) ([]tool.Def, error) {
	c, err := m.conn(ctx, ws, sessionID, vaultIDs, server)
	if err != nil {
		return nil, err
	}
	tools, err := c.Tools(ctx)
	if err != nil {
		m.drop(sessionID, server.URL)
		return nil, classify(server.Name, err)
	}
	var defs []tool.Def
	for _, t := range tools {
		enabled, policy := mcpPolicy(ts, t.Name)
		if !enabled {
			continue
		}
		defs = append(defs, tool.Def{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, Kind: tool.MCP, Permission: policy, MCPServer: server.Name})
	}
	return defs, nil
}

// mcpPolicy applies an mcp_toolset's default_config and per-tool configs.
func mcpPolicy(ts *wire.MCPToolset, name string) (bool, string) {
	enabled, policy := ts.DefaultConfig.Enabled, ts.DefaultConfig.PermissionPolicy.Type
	for _, c := range ts.Configs {
		if c.Name == name {
			enabled, policy = c.Enabled, c.PermissionPolicy.Type
		}
	}
	if policy != tool.AlwaysAsk && policy != tool.Auto {
		policy = tool.AlwaysAllow
	}
	return enabled, policy
}

func (m *Clients) Call(ctx context.Context, ws, sessionID string, vaultIDs []string, server wire.MCPServer, name string, input json.RawMessage) (tool.Result, error) {
	c, err := m.conn(ctx, ws, sessionID, vaultIDs, server)
	if err != nil {
		return tool.Result{}, err
	}
	res, err := c.Call(ctx, name, input)
	var te *mcp.ToolError
	if err != nil && !errors.As(err, &te) {
		m.refreshFailed(ctx, ws, mcp.Credential{}, err)
		var tr *mcp.TransportError
		if errors.As(err, &tr) {
			m.drop(sessionID, server.URL)
		}
		return tool.Result{}, err
	}
	if spill, big := mcp.SpillLarge(res, 0); big {
		res = m.spill(ctx, ws, sessionID, server.Name, name, spill, res.IsError)
	}
	out := tool.Result{IsError: res.IsError}
	for _, b := range res.Content {
		switch b.Type {
		case "image":
			out.Content = append(out.Content, wire.ContentBlock{Type: wire.BlockImage, Source: &wire.ContentSource{Type: wire.SourceBase64, MediaType: b.MediaType, Data: b.Data}})
		default:
			out.Content = append(out.Content, wire.NewTextBlock(b.Text))
		}
	}
	if len(out.Content) == 0 {
		out.Content = []wire.ContentBlock{wire.NewTextBlock("(no output)")}
	}
	return out, nil
}

// spill writes an oversized result to a file in the session's sandbox and
// returns the preview the model gets instead.
func (m *Clients) spill(ctx context.Context, ws, sessionID, server, name string, s *mcp.Spill, isError bool) mcp.Result {
	rel := ".hangar/mcp-results/" + server + "-" + name + "-" + ids.Random(8) + ".txt"
	path := "/workspace/" + rel
	if m.files != nil {
		input, _ := json.Marshal(map[string]string{"file_path": rel, "content": s.Full})
		res, err := m.files.Execute(ctx, tool.Call{Workspace: ws, SessionID: sessionID, Name: "write", Input: input})
		if err == nil && !res.IsError {
			return s.Preview(path, isError)
		}
		m.log.Warn("could not save an oversized MCP result in the sandbox", "session", sessionID, "server", server, "err", err)
	}
	return s.Preview("(nowhere: no sandbox could store it)", isError)
}

func (m *Clients) drop(sessionID, url string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.conns[sessionID][url]; c != nil {
		_ = c.Close()
		delete(m.conns[sessionID], url)
	}
}

func (m *Clients) Close(sessionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns[sessionID] {
		_ = c.Close()
	}
	delete(m.conns, sessionID)
}
