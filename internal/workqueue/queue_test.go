package workqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/keys"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/testserver"
	"github.com/hangarhq/hangar/internal/workqueue"
)

const adminKey = "sk-ant-admin-test"

// harness is a real SQLite store and the real API handler on a real socket,
// with a clock the test can move forward to expire leases.
type harness struct {
	t      *testing.T
	st     store.Store
	q      *workqueue.Queue
	srv    *httptest.Server
	offset atomic.Int64
	c      anthropic.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st}
	h.q = workqueue.New(st, workqueue.Options{Now: func() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) }})
	broker := events.NewLocal(nil)
	t.Cleanup(func() { broker.Close() })
	eng := engine.New(engine.Deps{Store: st, Broker: broker}, engine.Options{})
	t.Cleanup(eng.Close)
	h.srv = httptest.NewServer(api.New(api.Options{Store: st, AdminKey: adminKey, Engine: eng, Broker: broker, WorkQueue: h.q}))
	t.Cleanup(h.srv.Close)
	h.c = h.client(adminKey)
	return h
}

func (h *harness) advance(d time.Duration) { h.offset.Add(int64(d)) }

func (h *harness) client(key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(h.srv.URL), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// bearer is a client that authenticates the way the SDK worker does.
func (h *harness) bearer(tok string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(h.srv.URL), option.WithAuthToken(tok), option.WithMaxRetries(0))
}

// env creates a self_hosted environment, an agent and n sessions in it, and
// an environment key for it.
func (h *harness) env(n int) (envID, envKey string, sessions []string) {
	h.t.Helper()
	ctx := context.Background()
	env, err := h.c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name:   "sh-" + time.Now().Format("150405.000000000"),
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ag, err := h.c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "a",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for range n {
		s, err := h.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: param.NewOpt(ag.ID)},
			EnvironmentID: env.ID,
		})
		if err != nil {
			h.t.Fatal(err)
		}
		sessions = append(sessions, s.ID)
	}
	key, _, err := keys.Mint(ctx, h.st, keys.Spec{Name: "env", Workspace: api.DefaultWorkspace, EnvironmentID: env.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	return env.ID, key, sessions
}

func (h *harness) enqueue(env, sess string) store.WorkItem {
	h.t.Helper()
	w, err := h.q.Enqueue(context.Background(), api.DefaultWorkspace, env, sess)
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

func wantStatus(t *testing.T, err error, status int, code string) *anthropic.Error {
	t.Helper()
	var ae *anthropic.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want HTTP %d, got %v", status, err)
	}
	if ae.StatusCode != status {
		t.Fatalf("want HTTP %d, got %d: %s", status, ae.StatusCode, ae.RawJSON())
	}
	if code != "" && !strings.Contains(ae.RawJSON(), `"error_code":"`+code+`"`) {
		t.Fatalf("want error_code %s in %s", code, ae.RawJSON())
	}
	return ae
}

// The SDK poller claims and acks an item with the environment key; its
// secret carries a sessions token that heartbeats (412 on a wrong
// precondition), reads its own session and nothing else, and dies with the
// item.
func TestPollerSecretHeartbeatAndTokenScope(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	envID, envKey, sess := h.env(2)
	_, otherKey, _ := h.env(0)
	item := h.enqueue(envID, sess[0])
	if again := h.enqueue(envID, sess[0]); again.ID != item.ID {
		t.Fatalf("enqueue of a queued session made a second item %s", again.ID)
	}

	p := environments.NewWorkPoller(ctx, h.client(envKey), environments.WorkPollerOptions{
		EnvironmentID: envID, EnvironmentKey: envKey, WorkerID: "w1", AutoStop: param.NewOpt(false),
		RequestOptions: []option.RequestOption{option.WithMaxRetries(0)},
	})
	defer p.Close()
	if !p.Next() {
		t.Fatalf("poller: %v", p.Err())
	}
	work := p.Current()
	if work.ID != item.ID || work.Data.ID != sess[0] || work.EnvironmentID != envID || work.Secret == "" {
		t.Fatalf("polled %+v", work)
	}
	tok, err := workqueue.DecodeSecret(work.Secret)
	if err != nil || !strings.HasPrefix(tok, workqueue.TokenPrefix) {
		t.Fatalf("secret: %q %v", tok, err)
	}
	got, err := h.c.Beta.Environments.Work.Get(ctx, item.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
	if err != nil || got.State != "starting" || got.AcknowledgedAt == "" || got.Secret != "" || got.JSON.Secret.Raw() != "null" {
		t.Fatalf("after ack: %+v %v", got, err)
	}

	wc := h.bearer(tok)
	hb, err := wc.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(workqueue.NoHeartbeat)})
	if err != nil || !hb.LeaseExtended || hb.State != "active" || hb.TTLSeconds != 60 || hb.LastHeartbeat == "" {
		t.Fatalf("first heartbeat %+v %v", hb, err)
	}
	// The token is opaque but must come back exactly as stored.
	hb2, err := wc.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(hb.LastHeartbeat), DesiredTTLSeconds: param.NewOpt[int64](10)})
	if err != nil || hb2.TTLSeconds != 10 || hb2.LastHeartbeat == hb.LastHeartbeat {
		t.Fatalf("second heartbeat %+v %v", hb2, err)
	}
	_, err = wc.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(hb.LastHeartbeat)})
	ae := wantStatus(t, err, 412, "heartbeat_precondition_failed")
	var env struct {
		Error struct {
			Details struct {
				CurrentState map[string]any `json:"current_state"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(ae.RawJSON()), &env)
	if cs := env.Error.Details.CurrentState; cs["last_heartbeat"] != hb2.LastHeartbeat || cs["lease_extended"] != false || cs["state"] != "active" || cs["ttl_seconds"] != float64(10) {
		t.Fatalf("current_state %v", cs)
	}

	// Token scope: its own session, nothing else.
	if s, err := wc.Beta.Sessions.Get(ctx, sess[0], anthropic.BetaSessionGetParams{}); err != nil || s.ID != sess[0] {
		t.Fatalf("own session: %v", err)
	}
	if _, err := wc.Beta.Sessions.Events.List(ctx, sess[0], anthropic.BetaSessionEventListParams{}); err != nil {
		t.Fatalf("own events: %v", err)
	}
	_, err = wc.Beta.Sessions.Get(ctx, sess[1], anthropic.BetaSessionGetParams{})
	wantStatus(t, err, 403, "")
	_, err = wc.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{})
	wantStatus(t, err, 403, "")
	_, err = wc.Beta.Sessions.Archive(ctx, sess[0], anthropic.BetaSessionArchiveParams{})
	wantStatus(t, err, 403, "")
	_, err = wc.Beta.Environments.Work.Get(ctx, item.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
	wantStatus(t, err, 403, "")
	_, err = wc.Beta.Environments.Work.Stats(ctx, envID, anthropic.BetaEnvironmentWorkStatsParams{})
	wantStatus(t, err, 403, "")
	_, err = wc.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	wantStatus(t, err, 403, "")

	// Environment keys: own environment's queue, never other routes or
	// other environments; get/update want an API key (SDK docs).
	ec := h.bearer(envKey)
	if st, err := ec.Beta.Environments.Work.Stats(ctx, envID, anthropic.BetaEnvironmentWorkStatsParams{}); err != nil || st.WorkersPolling != 1 {
		t.Fatalf("stats with env key: %+v %v", st, err)
	}
	_, err = ec.Beta.Environments.Work.Get(ctx, item.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
	wantStatus(t, err, 403, "")
	_, err = ec.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	wantStatus(t, err, 403, "")
	oc := h.bearer(otherKey)
	_, err = oc.Beta.Environments.Work.Poll(ctx, envID, anthropic.BetaEnvironmentWorkPollParams{})
	wantStatus(t, err, 403, "")
	if s, err := ec.Beta.Sessions.Get(ctx, sess[1], anthropic.BetaSessionGetParams{}); err != nil || s.ID != sess[1] {
		t.Fatalf("env key fallback on its session: %v", err)
	}

	// The worker's final force-stop, with the token; afterwards the token
	// is dead and a second stop is a 409 the worker ignores.
	stopped, err := wc.Beta.Environments.Work.Stop(ctx, item.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: envID,
		BetaSelfHostedWorkStopRequest: anthropic.BetaSelfHostedWorkStopRequestParam{Force: param.NewOpt(true)}})
	if err != nil || stopped.State != "stopped" || stopped.StoppedAt == "" || stopped.StopRequestedAt == "" {
		t.Fatalf("stop: %+v %v", stopped, err)
	}
	_, err = wc.Beta.Sessions.Get(ctx, sess[0], anthropic.BetaSessionGetParams{})
	wantStatus(t, err, 401, "")
	_, err = h.c.Beta.Environments.Work.Stop(ctx, item.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: envID})
	wantStatus(t, err, 409, "")
	if again := h.enqueue(envID, sess[0]); again.ID == item.ID {
		t.Fatal("enqueue after the worker left reused the stopped item")
	}
}

// An unacked poll is reclaimable after reclaim_older_than_ms; an
// expired lease puts the item back in the queue, the stale worker's beat
// gets 412, and the next claim mints a new token.
func TestLeaseExpiryAndReclaim(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	envID, envKey, sess := h.env(1)
	item := h.enqueue(envID, sess[0])
	ec := h.bearer(envKey)
	poll := func(reclaim int64) *anthropic.BetaSelfHostedWork {
		t.Helper()
		p := anthropic.BetaEnvironmentWorkPollParams{}
		if reclaim >= 0 {
			p.ReclaimOlderThanMs = param.NewOpt(reclaim)
		}
		w, err := ec.Beta.Environments.Work.Poll(ctx, envID, p)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	first := poll(-1)
	if first == nil || first.ID != item.ID {
		t.Fatalf("first poll %+v", first)
	}
	if w := poll(-1); w != nil {
		t.Fatalf("held item handed out again within the reclaim window: %+v", w)
	}
	h.advance(2 * time.Second)
	if w := poll(1000); w == nil || w.ID != item.ID || w.Secret == first.Secret {
		t.Fatalf("reclaim: %+v", w)
	}
	if _, err := ec.Beta.Environments.Work.Ack(ctx, item.ID, anthropic.BetaEnvironmentWorkAckParams{EnvironmentID: envID}); err != nil {
		t.Fatal(err)
	}
	hb, err := ec.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(workqueue.NoHeartbeat), DesiredTTLSeconds: param.NewOpt[int64](5)})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(6 * time.Second)
	st, err := h.c.Beta.Environments.Work.Stats(ctx, envID, anthropic.BetaEnvironmentWorkStatsParams{})
	if err != nil || st.Depth != 1 || st.Pending != 0 || st.OldestQueuedAt == "" {
		t.Fatalf("stats after expiry %+v %v", st, err)
	}
	_, err = ec.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(hb.LastHeartbeat)})
	wantStatus(t, err, 412, "heartbeat_precondition_failed")
	if w := poll(-1); w == nil || w.ID != item.ID || w.State != "queued" {
		t.Fatalf("re-queued item not redelivered: %+v", w)
	}
}

// A blocked poll wakes when work arrives, without waiting out
// block_ms; an empty poll answers 200 null.
func TestLongPollWakeUp(t *testing.T) {
	h := newHarness(t)
	envID, envKey, sess := h.env(1)
	get := func(q string) (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1/environments/"+envID+"/work/poll"+q, nil)
		req.Header.Set("Authorization", "Bearer "+envKey)
		start := time.Now()
		testserver.SDKHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	if code, body, _ := get(""); code != 200 || strings.TrimSpace(body) != "null" {
		t.Fatalf("empty poll: %d %q", code, body)
	}
	for _, q := range []string{"?block_ms=0", "?block_ms=1000", "?block_ms=x", "?reclaim_older_than_ms=-1"} {
		if code, body, _ := get(q); code != 400 || !strings.Contains(body, strings.Split(q[1:], "=")[0]) {
			t.Fatalf("%s: %d %s", q, code, body)
		}
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		h.enqueue(envID, sess[0])
	}()
	code, body, took := get("?block_ms=999")
	if code != 200 || !strings.Contains(body, sess[0]) || took > 800*time.Millisecond || took < 90*time.Millisecond {
		t.Fatalf("long poll: %d %s after %v", code, body, took)
	}
}

// A graceful stop from the control plane reaches the worker as
// state stopping on its next heartbeat; force ends it. A queued item stops
// at once.
func TestStopGracefulAndForce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	envID, envKey, sess := h.env(2)
	ec := h.bearer(envKey)
	item := h.enqueue(envID, sess[0])
	if _, err := ec.Beta.Environments.Work.Poll(ctx, envID, anthropic.BetaEnvironmentWorkPollParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Beta.Environments.Work.Ack(ctx, item.ID, anthropic.BetaEnvironmentWorkAckParams{EnvironmentID: envID}); err != nil {
		t.Fatal(err)
	}
	hb, err := ec.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt(workqueue.NoHeartbeat)})
	if err != nil {
		t.Fatal(err)
	}
	w, err := h.c.Beta.Environments.Work.Stop(ctx, item.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: envID})
	if err != nil || w.State != "stopping" || w.StopRequestedAt == "" || w.JSON.StoppedAt.Raw() != "null" {
		t.Fatalf("graceful stop %+v %v", w, err)
	}
	// No precondition compare once stopping: even a wrong token learns it.
	hb2, err := ec.Beta.Environments.Work.Heartbeat(ctx, item.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{EnvironmentID: envID, ExpectedLastHeartbeat: param.NewOpt("bogus")})
	if err != nil || hb2.State != "stopping" || hb2.LeaseExtended || hb2.LastHeartbeat != hb.LastHeartbeat {
		t.Fatalf("heartbeat while stopping %+v %v", hb2, err)
	}
	w, err = ec.Beta.Environments.Work.Stop(ctx, item.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: envID,
		BetaSelfHostedWorkStopRequest: anthropic.BetaSelfHostedWorkStopRequestParam{Force: param.NewOpt(true)}})
	if err != nil || w.State != "stopped" || w.StoppedAt == "" {
		t.Fatalf("force stop %+v %v", w, err)
	}
	q2 := h.enqueue(envID, sess[1])
	w, err = h.c.Beta.Environments.Work.Stop(ctx, q2.ID, anthropic.BetaEnvironmentWorkStopParams{EnvironmentID: envID})
	if err != nil || w.State != "stopped" {
		t.Fatalf("stop queued %+v %v", w, err)
	}
	if p, err := ec.Beta.Environments.Work.Poll(ctx, envID, anthropic.BetaEnvironmentWorkPollParams{}); err != nil || p != nil {
		t.Fatalf("stopped item delivered %+v %v", p, err)
	}
	// Raw body forms the worker sends.
	for _, body := range []string{`{"force":"yes"}`, `{"forse":true}`, `[`} {
		req, _ := http.NewRequest("POST", h.srv.URL+"/v1/environments/"+envID+"/work/"+q2.ID+"/stop", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		testserver.SDKHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("stop body %s: %d", body, resp.StatusCode)
		}
	}
}

// Items are never delivered for archived, deleted or terminated sessions.
func TestNeverRedeliveredForDeadSessions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	envID, envKey, sess := h.env(2)
	a := h.enqueue(envID, sess[0])
	d := h.enqueue(envID, sess[1])
	if _, err := h.c.Beta.Sessions.Archive(ctx, sess[0], anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Beta.Sessions.Delete(ctx, sess[1], anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Fatal(err)
	}
	ec := h.bearer(envKey)
	if p, err := ec.Beta.Environments.Work.Poll(ctx, envID, anthropic.BetaEnvironmentWorkPollParams{}); err != nil || p != nil {
		t.Fatalf("dead session delivered: %+v %v", p, err)
	}
	for _, id := range []string{a.ID, d.ID} {
		w, err := h.c.Beta.Environments.Work.Get(ctx, id, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: envID})
		if err != nil || w.State != "stopped" {
			t.Fatalf("%s: %+v %v", id, w, err)
		}
	}
}

// Metadata update (patch; invalid → 400 invalid_metadata), list paging and
// 404s across environments.
func TestUpdateListGet(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	envID, _, sess := h.env(3)
	otherEnv, _, _ := h.env(0)
	var items []store.WorkItem
	for _, s := range sess {
		items = append(items, h.enqueue(envID, s))
	}
	w, err := h.c.Beta.Environments.Work.Update(ctx, items[0].ID, anthropic.BetaEnvironmentWorkUpdateParams{EnvironmentID: envID,
		BetaSelfHostedWorkUpdateRequest: anthropic.BetaSelfHostedWorkUpdateRequestParam{Metadata: map[string]string{"a": "1", "b": "2"}}})
	if err != nil || w.Metadata["a"] != "1" || w.Metadata["b"] != "2" {
		t.Fatalf("update %+v %v", w, err)
	}
	for _, tc := range []struct{ body, code string }{
		{`{"metadata":{"a":null}}`, ""},
		{`{"metadata":{"":"x"}}`, "invalid_metadata"},
		{`{"metadata":{"a":1}}`, "invalid_metadata"},
		{`{"metadata":null}`, "invalid_metadata"},
		{`{}`, "invalid_metadata"},
		{`{"metadata":{},"x":1}`, ""},
	} {
		req, _ := http.NewRequest("POST", h.srv.URL+"/v1/environments/"+envID+"/work/"+items[0].ID, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		testserver.SDKHeaders(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantOK := tc.body == `{"metadata":{"a":null}}`
		if wantOK {
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"metadata":{"b":"2"}`) {
				t.Fatalf("%s: %d %s", tc.body, resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != 400 || (tc.code != "" && !strings.Contains(string(b), tc.code)) {
			t.Fatalf("%s: %d %s", tc.body, resp.StatusCode, b)
		}
	}
	var ids []string
	pager := h.c.Beta.Environments.Work.ListAutoPaging(ctx, envID, anthropic.BetaEnvironmentWorkListParams{Limit: param.NewOpt[int64](2)})
	for pager.Next() {
		ids = append(ids, pager.Current().ID)
	}
	if pager.Err() != nil || len(ids) != 3 || ids[0] != items[2].ID {
		t.Fatalf("list %v %v", ids, pager.Err())
	}
	_, err = h.c.Beta.Environments.Work.Get(ctx, items[0].ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: otherEnv})
	wantStatus(t, err, 404, "")
	_, err = h.c.Beta.Environments.Work.Stats(ctx, "env_missing", anthropic.BetaEnvironmentWorkStatsParams{})
	wantStatus(t, err, 404, "")
}
