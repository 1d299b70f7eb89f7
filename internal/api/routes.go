package api

import (
	"net/http"

	"github.com/hangarhq/hangar/internal/api/agents"
	"github.com/hangarhq/hangar/internal/api/deployments"
	"github.com/hangarhq/hangar/internal/api/dreams"
	"github.com/hangarhq/hangar/internal/api/environments"
	"github.com/hangarhq/hangar/internal/api/files"
	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/api/memorystores"
	"github.com/hangarhq/hangar/internal/api/sessions"
	"github.com/hangarhq/hangar/internal/api/skills"
	"github.com/hangarhq/hangar/internal/api/vaults"
	"github.com/hangarhq/hangar/internal/api/webhooks"
	"github.com/hangarhq/hangar/internal/api/work"
	"github.com/hangarhq/hangar/internal/errdefs"
)

// routes registers every endpoint. Go's ServeMux matches against the escaped
// path, so a %2F inside an id stays inside its segment.
func (a *API) routes(o Options) {
	a.mux.Handle("GET /healthz", a.serve(func(w http.ResponseWriter, r *http.Request) error {
		return httpx.OK(w, map[string]string{"status": "ok"})
	}, false))
	// Anything unmatched, including the SDK test harness's GET / probe, gets
	// the standard not-found envelope rather than Go's text/plain 404.
	a.mux.Handle("/", a.serve(func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.NotFound("no route for %s %s", r.Method, r.URL.Path)
	}, false))

	agents.New(o.Store, o.Webhooks).Register(a.handle)
	environments.New(o.Store, environments.WithNotifier(o.Changes)).Register(a.handle)
	vaults.New(o.Store, o.Sealer, a.log, vaults.WithNotifier(o.Changes), vaults.WithWebhooks(o.Webhooks)).Register(a.handle)
	files.New(o.Store, o.Blobs, a.maxUploadBytes, a.log).Register(a.handle)
	skills.New(o.Store, o.Blobs, a.maxUploadBytes, a.log).Register(a.handle)
	memorystores.New(o.Store, memorystores.WithNotifier(o.Changes)).Register(a.handle)
	work.New(o.Store, a.queue).Register(a.handleWorker)
	if o.Deployments != nil {
		deployments.New(o.Deployments).Register(a.handle)
	}
	if o.Dreams != nil {
		dreams.New(o.Store, o.Dreams).Register(a.handle)
	}
	if o.Webhooks != nil {
		webhooks.New(o.Webhooks).Register(a.handle)
	}
	if o.Engine != nil {
		sessions.New(o.Store, o.Engine, o.Broker, a.log, sessions.WithBlobs(o.Blobs), sessions.WithSealer(o.Sealer), sessions.WithNotifier(o.Changes), sessions.WithWebhooks(o.Webhooks)).Register(a.handle)
	}
}
