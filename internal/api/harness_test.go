package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/store/sqlstore"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// testAdminKey is the administrator key of a harness's API.
const testAdminKey = "sk-ant-admin-test"

// harness is the real API handler on real SQLite with an engine and work
// queue, served on a loopback listener, for what the e2e suite cannot
// reach from outside a sandbox (sandbox sockets, claimed tokens).
type harness struct {
	st  *sqlstore.DB
	q   *workqueue.Queue
	h   http.Handler
	url string

	mu        sync.Mutex
	sandboxed map[string]string // work id → session, as the dispatcher claims
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	broker := events.NewLocal(nil)
	t.Cleanup(func() { broker.Close() })
	eng := engine.New(engine.Deps{Store: st, Broker: broker}, engine.Options{})
	t.Cleanup(eng.Close)
	x := &harness{st: st, q: workqueue.New(st, workqueue.Options{}), sandboxed: map[string]string{}}
	x.h = api.New(api.Options{Store: st, AdminKey: testAdminKey, Engine: eng, Broker: broker, WorkQueue: x.q,
		SandboxWork: func(workID string) (string, bool) {
			x.mu.Lock()
			defer x.mu.Unlock()
			s, ok := x.sandboxed[workID]
			return s, ok
		}})
	tcp := httptest.NewServer(x.h)
	t.Cleanup(tcp.Close)
	x.url = tcp.URL
	return x
}

// claimForSandbox marks work item workID as claimed for a worker inside
// session's sandbox.
func (x *harness) claimForSandbox(workID, session string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sandboxed[workID] = session
}
