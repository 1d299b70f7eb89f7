package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"

	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// DepsFromEnv configures the server-side web tools from the environment:
// HANGAR_WEB_SEARCH_URL / HANGAR_WEB_SEARCH_KEY pick the search provider,
// HANGAR_WEB_FETCH_ALLOW_INTERNAL the operator's SSRF exceptions for
// direct fetches. A bad value disables only the feature it configures,
// loudly. lookup gives each session's policy (SessionPolicy).
func DepsFromEnv(lookup Lookup, log *slog.Logger) Deps {
	d := Deps{Lookup: lookup, Logger: log}
	allow, err := ParseInternalAllowlist(os.Getenv("HANGAR_WEB_FETCH_ALLOW_INTERNAL"))
	if err != nil {
		log.Error("HANGAR_WEB_FETCH_ALLOW_INTERNAL ignored: web_fetch reaches public addresses only", "err", err)
		allow = InternalAllowlist{}
	}
	d.Fetcher = NewFetcher(FetchOptions{AllowInternal: allow})
	if tpl := os.Getenv("HANGAR_WEB_SEARCH_URL"); tpl != "" {
		s, err := NewHTTPSearcher(tpl, os.Getenv("HANGAR_WEB_SEARCH_KEY"))
		if err != nil {
			log.Error("web_search disabled", "err", err)
		} else {
			d.Searcher = s
		}
	}
	return d
}

// Proxies connects the server's own requests for a session to the
// session's egress proxy (the live egress configuration does).
type Proxies interface {
	DialFetch(ctx context.Context, ws, sessionID string) (net.Conn, error)
}

// SessionPolicy reads a session's web tool configs and its environment's
// networking from st at call time, so updates apply to the next call. A
// cloud session's fetch goes through the session's egress proxy when the
// server has proxies (the proxy then decides on networking and internal
// addresses); self_hosted sessions, and servers without sandboxes
// (--sandbox none or unsafe-host, or a backend that failed to start; nil
// proxies), fetch directly.
func SessionPolicy(st store.Store, proxies Proxies) Lookup {
	return func(ctx context.Context, ws, sessionID string) (Policy, error) {
		var p Policy
		sess, err := st.GetSession(ctx, ws, sessionID)
		if err != nil {
			return p, err
		}
		var doc wire.Session
		if err := json.Unmarshal(sess.Data, &doc); err != nil {
			return p, err
		}
		for _, t := range doc.Agent.Tools {
			if t.Toolset == nil {
				continue
			}
			for _, c := range t.Toolset.Configs {
				switch c.Name {
				case FetchTool:
					p.Fetch = c
				case SearchTool:
					p.Search = c
				}
			}
		}
		env, err := st.Get(ctx, sess.Workspace, store.KindEnvironment, doc.EnvironmentID)
		if err != nil {
			return p, err
		}
		var e wire.Environment
		if err := json.Unmarshal(env.Data, &e); err != nil {
			return p, err
		}
		p.Networking = netpolicy.Effective(e.Config)
		if proxies != nil && e.Config.Type == wire.EnvironmentConfigCloud {
			p.Via = proxyDialer{p: proxies, ws: sess.Workspace, sessionID: sessionID}
		}
		return p, nil
	}
}

// proxyDialer connects web_fetch to a session's egress proxy; the proxy
// session is looked up (or started) on the first dial only, so a policy
// lookup for web_search starts nothing.
type proxyDialer struct {
	p             Proxies
	ws, sessionID string
}

func (d proxyDialer) Dial(ctx context.Context) (net.Conn, error) {
	return d.p.DialFetch(ctx, d.ws, d.sessionID)
}
