package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// recorder is an upstream that records the Authorization header and body
// of every request it gets.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b := make([]byte, 4096)
		n, _ := req.Body.Read(b)
		r.mu.Lock()
		r.seen = append(r.seen, name+" auth="+req.Header.Get("Authorization")+" body="+string(b[:n]))
		r.mu.Unlock()
		_, _ = w.Write([]byte("UPSTREAM-" + name + "-OK\n"))
	})
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, "\n")
}

// toolText is the text of an agent.tool_result's content.
func toolText(t *testing.T, rawJSON string) string {
	t.Helper()
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte(rawJSON), &res); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range res.Content {
		out = append(out, c.Text)
	}
	return strings.Join(out, "")
}

// Every sandbox has network none
// and leaves through its session's egress proxy. A limited environment
// reaches its allowed host over HTTP and HTTPS and gets the proxy's 403
// elsewhere; a connection that ignores the proxy goes nowhere. An
// environment_variable credential shows the sandbox only a placeholder,
// which the proxy replaces with the secret on the way to the credential's
// host (HTTPS intercepted with the session CA) and leaves alone elsewhere.
func TestEgressLimitedWithCredential(t *testing.T) {
	const secret = "egress-real-secret-value-42"
	rec := &recorder{}
	tlsSrv := httptest.NewTLSServer(rec.handler("tls"))
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(rec.handler("plain"))
	t.Cleanup(plainSrv.Close)

	// The server (verifying intercepted upstreams) and the sandbox's bundle
	// both take the system roots from SSL_CERT_FILE: add the test CA to it.
	roots := systemBundle(t)
	roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})...)
	bundle := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(bundle, roots, 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}),
		[]string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.1,::1", "SSL_CERT_FILE=" + bundle})
	// localhost is allowed by the environment but not by the credential.
	l.envID = l.environment("egress", map[string]any{"type": "cloud",
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1", "localhost"}}})

	vaultID, _ := l.vault(map[string]any{
		"type": "environment_variable", "secret_name": "API_TOKEN", "secret_value": secret,
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1"}},
	})
	sid := l.session(l.agent(toolset), vaultID)
	tlsPort := tlsSrv.Listener.Addr().String()[len("127.0.0.1:"):]
	plainPort := plainSrv.Listener.Addr().String()[len("127.0.0.1:"):]

	// NO_PROXY exempts loopback (the sandbox's own services), so requests
	// to the test servers on 127.0.0.1 name the proxy explicitly.

	// The environment: proxy variables, and the placeholder, not the secret.
	envOut := toolText(t, l.bash(sid, "env"))
	if strings.Contains(envOut, secret) {
		t.Fatalf("secret in the sandbox environment: %s", envOut)
	}
	var placeholder string
	for _, line := range strings.Split(envOut, "\n") {
		if v, ok := strings.CutPrefix(line, "API_TOKEN="); ok {
			placeholder = v
		}
	}
	if placeholder == "" || !strings.Contains(envOut, "HTTPS_PROXY=http://127.0.0.1:3128") || strings.Contains(envOut, "HANGAR_EGRESS") {
		t.Fatalf("sandbox env: %s", envOut)
	}

	for _, tc := range []struct {
		name, cmd string
		want      []string
		recorded  string // what the upstream must have seen ("" = nothing new)
	}{
		// Allowed host over HTTPS (intercepted, substituted) ...
		{"https allowed with secret", `curl -sS --noproxy '' -H "Authorization: Bearer $API_TOKEN" https://127.0.0.1:` + tlsPort + `/x`,
			[]string{"UPSTREAM-tls-OK"}, "tls auth=Bearer " + secret},
		// ... and plain HTTP, body substitution included.
		{"http allowed with secret", `curl -sS --noproxy '' -d "token=$API_TOKEN" -H "Authorization: Bearer $API_TOKEN" http://127.0.0.1:` + plainPort + `/x`,
			[]string{"UPSTREAM-plain-OK"}, "plain auth=Bearer " + secret + " body=token=" + secret},
		// A host the environment allows but the credential does not
		// gets the placeholder unreplaced.
		{"placeholder elsewhere", `curl -sS --noproxy '' -H "Authorization: Bearer $API_TOKEN" http://localhost:` + plainPort + `/y`,
			[]string{"UPSTREAM-plain-OK"}, "plain auth=Bearer " + placeholder + " body="},
		// Anything else is refused with a message the agent can read.
		{"https denied", `curl -sS https://denied.example.com/ 2>&1; echo; curl -sS http://denied.example.com/`,
			[]string{"CONNECT tunnel failed, response 403", "hangar egress: denied.example.com is not allowed by this environment's networking policy"}, ""},
		// Tools that ignore the proxy variables have no route out.
		{"direct socket", `timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/` + plainPort + ` && echo CONNECTED' 2>&1; curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:` + plainPort + `/ 2>&1; echo END`,
			[]string{"END"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.all()
			out := toolText(t, l.bash(sid, tc.cmd))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q: %s", w, out)
				}
			}
			if strings.Contains(out, "CONNECTED") || strings.Contains(out, "UPSTREAM-plain-OK\nEND") {
				t.Fatalf("direct connection got out: %s", out)
			}
			if strings.Contains(out, secret) {
				t.Fatalf("secret came back into the sandbox: %s", out)
			}
			got := strings.TrimPrefix(rec.all(), before)
			if tc.recorded == "" {
				if strings.TrimSpace(got) != "" {
					t.Fatalf("upstream was reached: %s", got)
				}
				return
			}
			if !strings.Contains(got, tc.recorded) {
				t.Fatalf("upstream saw %q, want %q", got, tc.recorded)
			}
		})
	}
	// The real value never reaches the event log.
	for _, e := range l.history(sid) {
		if strings.Contains(e.RawJSON(), secret) {
			t.Fatalf("secret in the event log: %s", e.RawJSON())
		}
	}
}

// systemBundle is the host's CA bundle, or nothing.
func systemBundle(t *testing.T) []byte {
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
		if b, err := os.ReadFile(f); err == nil {
			return append(b, '\n')
		}
	}
	return nil
}

// A session without credentials adopts
// a pre-started sandbox from the warm pool, and its traffic still leaves
// through its own egress proxy (the socket moved into the pooled sandbox's
// egress directory): the allowed host answers, another is refused.
func TestEgressFromPooledSandbox(t *testing.T) {
	rec := &recorder{}
	plainSrv := httptest.NewServer(rec.handler("plain"))
	t.Cleanup(plainSrv.Close)
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}),
		[]string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.1", "HANGAR_LOG_LEVEL=debug"}, "--sandbox-pool", "2")
	l.envID = l.environment("pooled", map[string]any{"type": "cloud",
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1"}}})
	agentID := l.agent(toolset)
	time.Sleep(2 * time.Second) // let the pool start its sandboxes
	sid := l.session(agentID)
	port := plainSrv.Listener.Addr().String()[len("127.0.0.1:"):]
	out := toolText(t, l.bash(sid, "curl -sS --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:"+port+"/ok; curl -sS --noproxy '' -x http://127.0.0.1:3128 http://denied.example.com/ 2>&1; true"))
	if !strings.Contains(out, "UPSTREAM-plain-OK") || !strings.Contains(out, "not allowed") {
		t.Fatalf("egress from a pooled sandbox: %s", out)
	}
	if !strings.Contains(l.s.Logs(), "sandbox pool: adopted") {
		t.Fatalf("the session did not get a pooled sandbox:\n%s", l.s.Logs())
	}
}

// A running session follows changes
// at its next request, without a sandbox restart. Rotating an
// environment_variable credential's secret makes the next request carry
// the new secret; archiving the credential makes its placeholder go out
// unreplaced; switching the environment from unrestricted to limited
// denies the next request, from the sandbox and from web_fetch alike.
func TestEgressLiveUpdates(t *testing.T) {
	const secret1, secret2 = "live-secret-one-1111", "live-secret-two-2222"
	rec := &recorder{}
	plainSrv := httptest.NewServer(rec.handler("plain"))
	t.Cleanup(plainSrv.Close)
	l := startLoop(t, modeltest.NewAnthropic(t, modeltest.Options{APIKey: "upstream-key"}), []string{"HANGAR_EGRESS_ALLOW_INTERNAL=127.0.0.1"})
	l.envID = l.environment("live", map[string]any{"type": "cloud", "networking": map[string]any{"type": "unrestricted"}})
	vaultID, credID := l.vault(map[string]any{
		"type": "environment_variable", "secret_name": "API_TOKEN", "secret_value": secret1,
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"127.0.0.1"}},
	})
	sid := l.session(l.agent(toolset), vaultID)
	target := "http://127.0.0.1:" + plainSrv.Listener.Addr().String()[len("127.0.0.1:"):]
	// One request from the sandbox; returns its output and what the
	// upstream saw of it.
	call := func(path string) (string, string) {
		t.Helper()
		before := rec.all()
		out := toolText(t, l.bash(sid, `echo "PH=$API_TOKEN"; curl -sS --noproxy '' -H "Authorization: Bearer $API_TOKEN" `+target+path+` 2>&1`))
		if strings.Contains(out, secret1) || strings.Contains(out, secret2) {
			t.Fatalf("a secret reached the sandbox: %s", out)
		}
		return out, strings.TrimPrefix(rec.all(), before)
	}

	out, seen := call("/first")
	placeholder := ""
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "PH="); ok {
			placeholder = v
		}
	}
	if placeholder == "" || !strings.Contains(seen, "auth=Bearer "+secret1) {
		t.Fatalf("before rotation: out %q, upstream saw %q", out, seen)
	}

	// Rotation: the sandbox keeps its placeholder, the next request carries
	// the new secret.
	ctx := context.Background()
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{"type": "environment_variable", "secret_value": secret2}})
	if _, err := l.c.Beta.Vaults.Credentials.Update(ctx, credID, anthropic.BetaVaultCredentialUpdateParams{VaultID: vaultID}, option.WithRequestBody("application/json", body)); err != nil {
		t.Fatal(err)
	}
	if out, seen = call("/rotated"); !strings.Contains(out, "PH="+placeholder) || !strings.Contains(seen, "auth=Bearer "+secret2) {
		t.Fatalf("after rotation: out %q, upstream saw %q", out, seen)
	}

	// Archival: the placeholder goes out as it is.
	if _, err := l.c.Beta.Vaults.Credentials.Archive(ctx, credID, anthropic.BetaVaultCredentialArchiveParams{VaultID: vaultID}); err != nil {
		t.Fatal(err)
	}
	if _, seen = call("/archived"); !strings.Contains(seen, "auth=Bearer "+placeholder) {
		t.Fatalf("after archival: upstream saw %q, want the placeholder", seen)
	}

	// Networking switched to limited (127.0.0.1 no longer listed): the next
	// request is refused by the proxy and never reaches the upstream.
	body, _ = json.Marshal(map[string]any{"config": map[string]any{"type": "cloud",
		"networking": map[string]any{"type": "limited", "allowed_hosts": []string{"localhost"}}}})
	if _, err := l.c.Beta.Environments.Update(ctx, l.envID, anthropic.BetaEnvironmentUpdateParams{}, option.WithRequestBody("application/json", body)); err != nil {
		t.Fatal(err)
	}
	if out, seen = call("/limited"); !strings.Contains(out, "hangar egress: 127.0.0.1 is not allowed by this environment's networking policy") || strings.TrimSpace(seen) != "" {
		t.Fatalf("after limiting: out %q, upstream saw %q", out, seen)
	}
	// web_fetch leaves through the same proxy session: refused too.
	l.fake.Push(modeltest.ToolCall("", "web_fetch", map[string]any{"url": target + "/fetch"}), modeltest.Text("done"))
	col := l.stream(sid)
	l.send(sid, userMessage("fetch"))
	res, at := col.waitType(t, 0, "agent.tool_result")
	col.waitType(t, at, "session.status_idle")
	col.cancel()
	if txt := toolText(t, res.RawJSON()); raw(res)["is_error"] != true || !strings.Contains(txt, "web_fetch refused "+target+"/fetch: hangar egress: 127.0.0.1 is not allowed") {
		t.Fatalf("web_fetch after limiting: %s", res.RawJSON())
	}
	for _, e := range l.history(sid) {
		if strings.Contains(e.RawJSON(), secret1) || strings.Contains(e.RawJSON(), secret2) {
			t.Fatalf("secret in the event log: %s", e.RawJSON())
		}
	}
}
