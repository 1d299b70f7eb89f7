package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/tool/web"
	"github.com/hangarhq/hangar/internal/wire"
)

// webDeps configures the server-side web tools from the environment:
// HANGAR_WEB_SEARCH_URL / HANGAR_WEB_SEARCH_KEY pick the search provider,
// HANGAR_WEB_FETCH_ALLOW_INTERNAL the operator's SSRF exceptions for
// direct fetches. A bad value disables only the feature it configures,
// loudly. eg, when the server runs sandboxes, is their egress proxy: a
// cloud session's web_fetch leaves through its session there.
func webDeps(st store.Store, eg *sessionEgress, log *slog.Logger) web.Deps {
	d := web.Deps{Lookup: webPolicy(st, eg), Logger: log}
	allow, err := web.ParseInternalAllowlist(os.Getenv("HANGAR_WEB_FETCH_ALLOW_INTERNAL"))
	if err != nil {
		log.Error("HANGAR_WEB_FETCH_ALLOW_INTERNAL ignored: web_fetch reaches public addresses only", "err", err)
		allow = web.InternalAllowlist{}
	}
	d.Fetcher = web.NewFetcher(web.FetchOptions{AllowInternal: allow})
	if tpl := os.Getenv("HANGAR_WEB_SEARCH_URL"); tpl != "" {
		s, err := web.NewHTTPSearcher(tpl, os.Getenv("HANGAR_WEB_SEARCH_KEY"))
		if err != nil {
			log.Error("web_search disabled", "err", err)
		} else {
			d.Searcher = s
		}
	}
	return d
}

// egressChanges is the notifier of the API: the egress proxy, or nothing.
func egressChanges(eg *sessionEgress) changes.Notifier {
	if eg == nil {
		return nil
	}
	return eg
}

// webPolicy reads a session's web tool configs and its environment's
// networking at call time, so updates apply to the next call. A cloud
// session's fetch goes through the session's egress proxy when the server
// has one (the proxy then decides on networking and internal addresses);
// self_hosted sessions, and servers without sandboxes (--sandbox none or
// unsafe-host, or a backend that failed to start), fetch directly.
func webPolicy(st store.Store, eg *sessionEgress) web.Lookup {
	return func(ctx context.Context, ws, sessionID string) (web.Policy, error) {
		var p web.Policy
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
				case web.FetchTool:
					p.Fetch = c
				case web.SearchTool:
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
		p.Networking = effectiveNetworking(e.Config)
		if eg != nil && e.Config.Type == wire.EnvironmentConfigCloud {
			p.Via = fetchDialer{e: eg, ws: sess.Workspace, sesID: sessionID}
		}
		return p, nil
	}
}
