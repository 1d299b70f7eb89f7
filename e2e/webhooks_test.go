package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

// receiver is a webhook receiver on a real socket that verifies every
// delivery with the official SDK's Unwrap under the secret it was given.
type receiver struct {
	t   testing.TB
	srv *httptest.Server
	c   anthropic.Client

	mu     sync.Mutex
	secret string
	// fail answers this many more deliveries with 500 (-1: all).
	fail int
	// redirect answers every delivery with a 302 to /elsewhere.
	redirect bool
	// got are the verified deliveries, in arrival order, failed or not.
	got        []delivered
	elsewhere  int
	unverified []string
	changed    chan struct{}
}

type delivered struct {
	id, typ, resource, workspace string
	ok                           bool
	at                           time.Time
	createdAt                    time.Time
}

func newReceiver(t *testing.T) *receiver { return newReceiverTB(t) }

func newReceiverTB(t testing.TB) *receiver {
	rc := &receiver{t: t, c: anthropic.NewClient(option.WithAPIKey("unused")), changed: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.elsewhere++
		rc.mu.Unlock()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		defer rc.notify()
		ev, err := rc.c.Beta.Webhooks.Unwrap(body, r.Header, option.WithWebhookKey(rc.secret))
		if err != nil {
			rc.unverified = append(rc.unverified, err.Error())
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		if ev.ID != r.Header.Get("webhook-id") {
			rc.unverified = append(rc.unverified, "envelope id "+ev.ID+" is not the webhook-id "+r.Header.Get("webhook-id"))
		}
		d := delivered{id: ev.ID, typ: ev.Data.Type, resource: ev.Data.ID, workspace: ev.Data.WorkspaceID, at: now, createdAt: ev.CreatedAt}
		switch {
		case rc.redirect:
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case rc.fail != 0:
			rc.fail--
			http.Error(w, "try again", http.StatusInternalServerError)
		default:
			d.ok = true
			w.WriteHeader(http.StatusNoContent)
		}
		rc.got = append(rc.got, d)
	})
	rc.srv = httptest.NewServer(mux)
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) notify() {
	select {
	case rc.changed <- struct{}{}:
	default:
	}
}

func (rc *receiver) set(f func(rc *receiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f(rc)
}

// await waits until cond holds over the deliveries so far, and returns them.
func (rc *receiver) await(what string, cond func([]delivered) bool) []delivered {
	rc.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]delivered(nil), rc.got...)
		bad := append([]string(nil), rc.unverified...)
		rc.mu.Unlock()
		if len(bad) > 0 {
			rc.t.Fatalf("deliveries that the SDK's Unwrap refused: %v", bad)
		}
		if cond(got) {
			return got
		}
		select {
		case <-rc.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			rc.t.Fatalf("no %s within 60s; got %+v", what, got)
		}
	}
}

func okOf(got []delivered, typ, resource string) []delivered {
	var out []delivered
	for _, d := range got {
		if d.ok && d.typ == typ && d.resource == resource {
			out = append(out, d)
		}
	}
	return out
}

// idle sends a message to a new session of the demo model and waits for
// it to go idle.
func idleSession(t *testing.T, c anthropic.Client, envID string) string {
	t.Helper()
	ctx := context.Background()
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "hook", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-test-1"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: envID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Beta.Sessions.Events.Send(ctx, s.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello")}}); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func newHook(t *testing.T, c anthropic.Client, url string, events ...string) *anthropic.BetaNewOrganizationWebhookEndpoint {
	t.Helper()
	ep, err := c.Beta.Organization.Webhooks.New(context.Background(), anthropic.BetaOrganizationWebhookNewParams{URL: url, EnabledEvents: events})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// Endpoints are managed through the SDK: the signing secret is shown at
// creation and by regenerate, never by a read; a session going idle is
// delivered as session.status_idled, signed so that Unwrap verifies it
// under the current secret, and each attempt is logged.
func TestWebhooksEndpointsAndDelivery(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private"))
	ctx := context.Background()
	rc := newReceiver(t)
	hooks := l.c.Beta.Organization.Webhooks

	ep := newHook(t, l.c, rc.srv.URL+"/hook", "session.status_idled", "session.status_run_started")
	if !strings.HasPrefix(ep.SigningSecret, "whsec_") || ep.State != "enabled" {
		t.Fatalf("created endpoint: %s", ep.RawJSON())
	}
	got, err := hooks.Get(ctx, ep.ID, anthropic.BetaOrganizationWebhookGetParams{})
	if err != nil || strings.Contains(got.RawJSON(), "whsec_") || got.URL != rc.srv.URL+"/hook" {
		t.Fatalf("get: %v %s", err, got.RawJSON())
	}
	up, err := hooks.Update(ctx, ep.ID, anthropic.BetaOrganizationWebhookUpdateParams{Name: anthropic.String("ops")})
	if err != nil || up.Name != "ops" || len(up.EnabledEvents) != 2 || strings.Contains(up.RawJSON(), "whsec_") {
		t.Fatalf("update: %v %s", err, up.RawJSON())
	}
	page, err := hooks.List(ctx, anthropic.BetaOrganizationWebhookListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != ep.ID || strings.Contains(page.RawJSON(), "whsec_") {
		t.Fatalf("list: %v %+v", err, page)
	}
	regen, err := hooks.RegenerateSigningSecret(ctx, ep.ID, anthropic.BetaOrganizationWebhookRegenerateSigningSecretParams{})
	if err != nil || !strings.HasPrefix(regen.SigningSecret, "whsec_") || regen.SigningSecret == ep.SigningSecret {
		t.Fatalf("regenerate: %v %+v", err, regen)
	}
	if _, err := hooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{URL: rc.srv.URL, EnabledEvents: []string{"session.status_idle"}}); err == nil {
		t.Fatal("an unknown event type was accepted")
	} else {
		apiErr(t, err, 400, "invalid_request_error")
	}
	// Deliveries are signed with the new secret only.
	rc.set(func(rc *receiver) { rc.secret = regen.SigningSecret })

	sid := idleSession(t, l.c, l.envID)
	all := rc.await("session.status_idled", func(got []delivered) bool { return len(okOf(got, "session.status_idled", sid)) == 1 })
	if len(okOf(all, "session.status_run_started", sid)) == 0 {
		// Delivery order is not guaranteed; wait for it too.
		rc.await("session.status_run_started", func(got []delivered) bool { return len(okOf(got, "session.status_run_started", sid)) > 0 })
	}
	if d := okOf(all, "session.status_idled", sid)[0]; d.workspace != "wrkspc_default" {
		t.Errorf("workspace_id = %q", d.workspace)
	}
	// The attempt is logged once its answer is in, which may be just after
	// the receiver saw it.
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(l.s.Logs(), "webhook delivered") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if line := logLine(t, l.s, "webhook delivered"); !strings.Contains(line, "endpoint="+ep.ID) || !strings.Contains(line, "attempt=1") {
		t.Errorf("attempt log line: %s", line)
	}
	if strings.Contains(l.s.Logs(), "whsec_") {
		t.Error("a signing secret is in the server log")
	}

	del, err := hooks.Delete(ctx, ep.ID, anthropic.BetaOrganizationWebhookDeleteParams{})
	if err != nil || del.ID != ep.ID || del.Type != "webhook_endpoint_deleted" {
		t.Fatalf("delete: %v %+v", err, del)
	}
	_, err = hooks.Get(ctx, ep.ID, anthropic.BetaOrganizationWebhookGetParams{})
	apiErr(t, err, 404, "not_found_error")
}

// A failing receiver sees the retries of one event carry the same
// webhook-id; the endpoint shows the failures until a delivery succeeds.
func TestWebhooksRetrySameID(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private", "--webhook-retry-base", "50ms"))
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "session.status_idled")
	rc.set(func(rc *receiver) { rc.secret, rc.fail = ep.SigningSecret, 2 })
	sid := idleSession(t, l.c, l.envID)
	got := rc.await("a delivery after two failures", func(got []delivered) bool { return len(okOf(got, "session.status_idled", sid)) == 1 })
	var tries []delivered
	for _, d := range got {
		if d.typ == "session.status_idled" && d.resource == sid {
			tries = append(tries, d)
		}
	}
	if len(tries) != 3 || tries[0].id != tries[1].id || tries[1].id != tries[2].id || tries[0].ok || tries[1].ok {
		t.Fatalf("attempts = %+v, want two failures and a success of one event id", tries)
	}
	if !strings.HasPrefix(tries[0].id, "whe_") {
		t.Errorf("event id %q", tries[0].id)
	}
	// The failures were visible on the endpoint; the success resets the count.
	var e struct {
		ConsecutiveFailures int `json:"consecutive_failures"`
		LastFailure         *struct {
			EventID string `json:"event_id"`
			Status  int    `json:"status"`
		} `json:"last_failure"`
	}
	for {
		got, err := l.c.Beta.Organization.Webhooks.Get(context.Background(), ep.ID, anthropic.BetaOrganizationWebhookGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(got.RawJSON()), &e); err != nil {
			t.Fatal(err)
		}
		if e.ConsecutiveFailures == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.LastFailure == nil || e.LastFailure.EventID != tries[0].id || e.LastFailure.Status != 500 {
		t.Errorf("last_failure = %+v", e.LastFailure)
	}
	if n := strings.Count(l.s.Logs(), "webhook delivery failed"); n != 2 {
		t.Errorf("%d failed-attempt log lines, want 2", n)
	}
}

// A delivery pending when the server stops is sent after the restart, once.
func TestWebhooksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	args := testserver.WithArgs("--sandbox", "none", "--webhook-allow-private", "--webhook-retry-base", "1s")
	l := startDemo(t, testserver.WithDataDir(dir), args)
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "session.status_idled")
	rc.set(func(rc *receiver) { rc.secret, rc.fail = ep.SigningSecret, -1 })
	sid := idleSession(t, l.c, l.envID)
	first := rc.await("a first attempt", func(got []delivered) bool { return len(got) > 0 })[0]
	l.s.Stop(t)

	rc.set(func(rc *receiver) { rc.fail = 0 })
	s2 := testserver.Start(t, testserver.WithDataDir(dir), testserver.WithArgs("--demo-model"), args)
	c2 := s2.Client("")
	rc.await("the pending delivery after the restart", func(got []delivered) bool { return len(okOf(got, "session.status_idled", sid)) == 1 })
	// A later event delivered means the sender is past the first one; it
	// was sent once, with its id.
	envID := l.envID
	sid2 := idleSession(t, c2, envID)
	got := rc.await("a later event", func(got []delivered) bool { return len(okOf(got, "session.status_idled", sid2)) == 1 })
	if ok := okOf(got, "session.status_idled", sid); len(ok) != 1 || ok[0].id != first.id {
		t.Fatalf("deliveries of the first event: %+v (first attempt id %s)", ok, first.id)
	}
	if !strings.Contains(s2.Logs(), "webhook deliveries resumed") {
		t.Error("the restart did not log resumed deliveries")
	}
}

// A workspace key's endpoint receives only its workspace's events; an
// administrator's receives every workspace's.
func TestWebhooksWorkspaceScope(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private"))
	org, team := newReceiver(t), newReceiver(t)
	orgEP := newHook(t, l.c, org.srv.URL, "session.status_idled")
	org.set(func(rc *receiver) { rc.secret = orgEP.SigningSecret })
	tc := l.s.Client(l.s.CreateKey(t, "wrkspc_team"))
	teamEP := newHook(t, tc, team.srv.URL, "session.status_idled")
	team.set(func(rc *receiver) { rc.secret = teamEP.SigningSecret })

	// The workspace key does not see the organization's endpoint.
	if page, err := tc.Beta.Organization.Webhooks.List(context.Background(), anthropic.BetaOrganizationWebhookListParams{}); err != nil || len(page.Data) != 1 || page.Data[0].ID != teamEP.ID {
		t.Fatalf("workspace list: %v %+v", err, page)
	}
	_, err := tc.Beta.Organization.Webhooks.Get(context.Background(), orgEP.ID, anthropic.BetaOrganizationWebhookGetParams{})
	apiErr(t, err, 404, "not_found_error")

	defSID := idleSession(t, l.c, l.envID)
	org.await("the default workspace's idle", func(got []delivered) bool { return len(okOf(got, "session.status_idled", defSID)) == 1 })
	env, err := tc.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	teamSID := idleSession(t, tc, env.ID)
	got := team.await("the team workspace's idle", func(got []delivered) bool { return len(okOf(got, "session.status_idled", teamSID)) == 1 })
	org.await("the team workspace's idle at the organization endpoint", func(got []delivered) bool { return len(okOf(got, "session.status_idled", teamSID)) == 1 })
	for _, d := range got {
		if d.resource != teamSID || d.workspace != "wrkspc_team" {
			t.Errorf("the workspace endpoint got another workspace's event: %+v", d)
		}
	}
}

// A redirect is a failure that is not followed and disables the endpoint;
// without --webhook-allow-private, private addresses are refused at
// creation when literal and at delivery when a name resolves to one.
func TestWebhooksRedirectAndPrivateAddresses(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private"))
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "session.status_idled")
	rc.set(func(rc *receiver) { rc.secret, rc.redirect = ep.SigningSecret, true })
	idleSession(t, l.c, l.envID)
	disabled := awaitDisabled(t, l.c, ep.ID)
	if !strings.Contains(disabled.DisabledReason, "redirect") {
		t.Errorf("disabled_reason = %q", disabled.DisabledReason)
	}
	rc.set(func(rc *receiver) {
		if rc.elsewhere != 0 || len(rc.got) != 1 {
			t.Errorf("redirect followed: %d requests at its target, %d deliveries", rc.elsewhere, len(rc.got))
		}
	})

	strict := startDemo(t, testserver.WithArgs("--sandbox", "none"))
	_, err := strict.c.Beta.Organization.Webhooks.New(context.Background(), anthropic.BetaOrganizationWebhookNewParams{URL: "https://127.0.0.1/hook", EnabledEvents: []string{"session.status_idled"}})
	if e := apiErr(t, err, 400, "invalid_request_error"); !strings.Contains(e.RawJSON(), "url") {
		t.Errorf("error does not name the url: %s", e.RawJSON())
	}
	_, err = strict.c.Beta.Organization.Webhooks.New(context.Background(), anthropic.BetaOrganizationWebhookNewParams{URL: rc.srv.URL, EnabledEvents: []string{"session.status_idled"}})
	apiErr(t, err, 400, "invalid_request_error")
	named := newHook(t, strict.c, "https://localhost/hook", "session.status_idled")
	idleSession(t, strict.c, strict.envID)
	disabled = awaitDisabled(t, strict.c, named.ID)
	if !strings.Contains(disabled.DisabledReason, "private") {
		t.Errorf("disabled_reason = %q", disabled.DisabledReason)
	}
}

func awaitDisabled(t *testing.T, c anthropic.Client, id string) *anthropic.BetaOrganizationWebhookEndpoint {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e, err := c.Beta.Organization.Webhooks.Get(context.Background(), id, anthropic.BetaOrganizationWebhookGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if e.State == "disabled" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint not disabled within 60s: %s", e.RawJSON())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Changes made through the API are announced too: a session's creation
// (session.status_scheduled), agents created, updated and archived, and
// vaults and their credentials (the credential's payload names its vault).
func TestWebhooksResourceEvents(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private"))
	ctx := context.Background()
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "session.status_scheduled", "agent.created", "agent.updated", "agent.archived",
		"vault.created", "vault.archived", "vault_credential.created", "vault_credential.archived")
	rc.set(func(rc *receiver) { rc.secret = ep.SigningSecret })

	agentID := l.agent(map[string]any{})
	if _, err := l.c.Beta.Agents.Update(ctx, agentID, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(1), Name: anthropic.String("renamed")}); err != nil {
		t.Fatal(err)
	}
	sid := l.session(agentID)
	if _, err := l.c.Beta.Agents.Archive(ctx, agentID, anthropic.BetaAgentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	vaultID, credID := l.vault(map[string]any{"type": "static_bearer", "token": "secret-token", "mcp_server_url": "https://mcp.example.com/mcp"})
	if _, err := l.c.Beta.Vaults.Archive(ctx, vaultID, anthropic.BetaVaultArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"agent.created": agentID, "agent.updated": agentID, "agent.archived": agentID, "session.status_scheduled": sid,
		"vault.created": vaultID, "vault.archived": vaultID, "vault_credential.created": credID, "vault_credential.archived": credID,
	}
	rc.await("every resource event", func(got []delivered) bool {
		for typ, id := range want {
			if len(okOf(got, typ, id)) != 1 {
				return false
			}
		}
		return true
	})
}

// An endpoint is disabled after 20 consecutive failed attempts, says why
// on its object, and gets nothing more until it is enabled again.
func TestWebhooksAutoDisable(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private", "--webhook-retry-base", "1h"))
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "agent.created")
	rc.set(func(rc *receiver) { rc.secret, rc.fail = ep.SigningSecret, -1 })
	for i := 0; i < 20; i++ {
		l.agent(map[string]any{})
	}
	e := awaitDisabled(t, l.c, ep.ID)
	if !strings.Contains(e.DisabledReason, "20 consecutive") {
		t.Errorf("disabled_reason = %q", e.DisabledReason)
	}
	rc.set(func(rc *receiver) {
		if len(rc.got) != 20 {
			t.Errorf("%d attempts before the endpoint was disabled, want 20", len(rc.got))
		}
		rc.fail = 0
	})
	l.agent(map[string]any{}) // not sent: the endpoint is disabled

	on, err := l.c.Beta.Organization.Webhooks.Update(context.Background(), ep.ID, anthropic.BetaOrganizationWebhookUpdateParams{State: "enabled"})
	if err != nil || on.State != "enabled" || on.DisabledReason != "" {
		t.Fatalf("re-enable: %v %s", err, on.RawJSON())
	}
	id := l.agent(map[string]any{})
	got := rc.await("a delivery after re-enabling", func(got []delivered) bool { return len(okOf(got, "agent.created", id)) == 1 })
	if len(got) != 21 {
		t.Errorf("%d deliveries in all, want 20 failed and the one after re-enabling", len(got))
	}
}

// A failed refresh of a credential's OAuth tokens, when a session
// connects to its MCP server, is announced as
// vault_credential.refresh_failed, naming the credential and its vault.
func TestWebhooksRefreshFailed(t *testing.T) {
	l := startDemo(t, testserver.WithArgs("--sandbox", "none", "--webhook-allow-private"))
	ctx := context.Background()
	rc := newReceiver(t)
	ep := newHook(t, l.c, rc.srv.URL, "vault_credential.refresh_failed")
	rc.set(func(rc *receiver) { rc.secret = ep.SigningSecret })

	url := mcpServer(t, "still-good")
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
	}))
	t.Cleanup(tokens.Close)
	v, err := l.c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "oauth"})
	if err != nil {
		t.Fatal(err)
	}
	// Expiring within the refresh window: the session refreshes ahead of
	// expiry, which fails, and goes on with the token it has.
	p := oauthParams(url, "still-good", &anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
		ClientID: "client-1", RefreshToken: "revoked", TokenEndpoint: tokens.URL + "/token", TokenEndpointAuth: tokenAuth("none", ""),
	})
	p.Auth.OfMCPOAuth.ExpiresAt = anthropic.Time(time.Now().Add(30 * time.Second))
	cr := newCred(t, l.c, v.ID, p)

	agentID := l.agent(map[string]any{
		"mcp_servers": []any{map[string]any{"type": "url", "name": "weather", "url": url}},
		"tools":       []any{map[string]any{"type": "mcp_toolset", "mcp_server_name": "weather"}},
	})
	s, err := l.c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)}, EnvironmentID: l.envID, VaultIDs: []string{v.ID}})
	if err != nil {
		t.Fatal(err)
	}
	l.send(s.ID, userMessage("hello"))
	rc.await("vault_credential.refresh_failed", func(got []delivered) bool { return len(okOf(got, "vault_credential.refresh_failed", cr.ID)) == 1 })
}

// Deployments announce their changes, and a scheduled run its start and
// its success; the session it creates is announced like any other.
func TestWebhooksDeployments(t *testing.T) {
	t.Parallel()
	f := newDeplFix(t, testserver.WithArgs("--webhook-allow-private"))
	ctx := context.Background()
	rc := newReceiver(t)
	ep := newHook(t, f.c, rc.srv.URL, "deployment.created", "deployment.paused", "deployment.unpaused",
		"deployment_run.started", "deployment_run.succeeded", "deployment_run.failed", "session.status_scheduled")
	rc.set(func(rc *receiver) { rc.secret = ep.SigningSecret })

	sched, _ := onceAt(3 * time.Second)
	d := f.create(sched)
	if _, err := f.c.Beta.Deployments.Pause(ctx, d.ID, anthropic.BetaDeploymentPauseParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Beta.Deployments.Unpause(ctx, d.ID, anthropic.BetaDeploymentUnpauseParams{}); err != nil {
		t.Fatal(err)
	}
	run := f.waitRuns(d.ID, 1)[0]
	rc.await("the deployment's and its run's webhooks", func(got []delivered) bool {
		return len(okOf(got, "deployment.created", d.ID)) == 1 && len(okOf(got, "deployment.paused", d.ID)) == 1 &&
			len(okOf(got, "deployment.unpaused", d.ID)) == 1 && len(okOf(got, "deployment_run.started", run.ID)) == 1 &&
			len(okOf(got, "deployment_run.succeeded", run.ID)) == 1 && len(okOf(got, "session.status_scheduled", run.SessionID)) == 1
	})
}
