package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangarhq/hangar/internal/testserver"
)

func TestHealthzAndEnvelope(t *testing.T) {
	s := testserver.Start(t)
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if resp.Header.Get("request-id") == "" {
		t.Fatal("no request-id header on healthz")
	}

	// An unknown route answers the standard envelope with a request id in
	// body and header.
	resp = s.Do(t, "GET", "/v1/nope", nil, nil)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("unknown route: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "error" || body.Error.Type != "not_found_error" || body.RequestID != resp.Header.Get("request-id") || !strings.HasPrefix(body.RequestID, "req_") {
		t.Fatalf("bad envelope: %s (header %q)", b, resp.Header.Get("request-id"))
	}
}

func TestAuthentication(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()

	// No key, and a wrong key: 401 authentication_error.
	req, _ := http.NewRequest("GET", s.URL+"/v1/agents", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no key: status %d", resp.StatusCode)
	}
	c := s.Client("sk-hangar-wrong")
	_, err = c.Beta.Agents.List(ctx, anthropicAgentListParams())
	apiErr(t, err, 401, "authentication_error")

	// The admin key works as Authorization: Bearer (Go SDK) and x-api-key.
	c = s.Client("")
	if _, err := c.Beta.Agents.List(ctx, anthropicAgentListParams()); err != nil {
		t.Fatalf("bearer admin key: %v", err)
	}
	resp = s.Do(t, "GET", "/v1/agents", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("x-api-key admin key: %d", resp.StatusCode)
	}

	// Any anthropic-version and anthropic-beta are accepted, and ?beta=true
	// and unknown query parameters are ignored.
	c = s.Client("", option.WithHeader("anthropic-version", "2023-06-01"), option.WithHeader("anthropic-beta", "made-up-beta-2099-01-01,managed-agents-2026-04-01"),
		option.WithQuery("beta", "true"), option.WithQuery("whatever", "1"))
	if _, err := c.Beta.Agents.List(ctx, anthropicAgentListParams()); err != nil {
		t.Fatalf("extra headers and query: %v", err)
	}
}

// Foundation behaviour: the binary's command line (serve flags and
// environment, keys, signals), authentication and tenancy, and the
// transport rules every endpoint shares. Helpers here are prefixed fnd.

// fndEnv is the test process's environment without HANGAR_* and
// ANTHROPIC_* (which would point the binary elsewhere), plus kv.
func fndEnv(kv ...string) []string {
	var out []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "HANGAR_") || strings.HasPrefix(e, "ANTHROPIC_") {
			continue
		}
		out = append(out, e)
	}
	return append(out, kv...)
}

type fndBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *fndBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *fndBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fndProc is a hangar serve process started by a test itself (testserver
// always sets HANGAR_API_KEY and its own flags).
type fndProc struct {
	URL            string
	cmd            *exec.Cmd
	stdout, stderr *fndBuf
	done           chan struct{}
}

// fndServe starts `hangar serve args...` with env and waits for its
// listening line.
func fndServe(t *testing.T, env []string, args ...string) *fndProc {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), append([]string{"serve"}, args...)...)
	cmd.Env = env
	p := &fndProc{cmd: cmd, stdout: &fndBuf{}, stderr: &fndBuf{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "hangar: listening on "); ok {
				urlc <- u
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("hangar serve stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	select {
	case p.URL = <-urlc:
	case <-p.done:
		t.Fatalf("hangar serve exited before listening (code %d):\n%s%s", cmd.ProcessState.ExitCode(), p.stdout, p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("hangar serve did not start within 60s:\n%s%s", p.stdout, p.stderr)
	}
	return p
}

// stop signals the process and returns its exit code.
func (p *fndProc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("hangar serve did not exit within 20s of %v", sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// fndRun runs a hangar command to completion.
func fndRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}()
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("hangar %v: %v", args, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// fndGet sends GET url+path with an API key (x-api-key) and an optional
// anthropic-workspace-id, and returns status, headers and decoded body.
func fndGet(t *testing.T, base, path, key, workspace string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	testserver.SDKHeaders(req.Header)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if workspace != "" {
		req.Header.Set("anthropic-workspace-id", workspace)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: non-JSON answer %d: %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, m
}

func fndErrType(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	typ, _ := e["type"].(string)
	return typ
}

var fndKeyRE = regexp.MustCompile(`sk-hangar-[1-9A-HJ-NP-Za-km-z]+`)

// fndNotInDir fails if secret, or any 12-character piece of it, is in a
// file under dir (the database and its WAL included).
func fndNotInDir(t *testing.T, dir, secret string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i := 0; i+12 <= len(secret); i += 6 {
			if bytes.Contains(b, []byte(secret[i:i+12])) {
				t.Errorf("%s contains part of the plaintext key (%q)", path, secret[i:i+12])
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s to check", dir)
	}
}

// TestFoundationKeysCLI drives `hangar keys create|list|revoke` against a
// running server's data directory: keys work at once, are stored only as
// hashes, and stop working when revoked (401 authentication_error).
func TestFoundationKeysCLI(t *testing.T) {
	s := testserver.Start(t)
	env := fndEnv()
	ctx := context.Background()

	key, errOut, code := fndRun(t, env, "keys", "create", "--data-dir", s.DataDir, "--workspace", "wrkspc_keys", "--name", "ci-key")
	key = strings.TrimSpace(key)
	if code != 0 || !fndKeyRE.MatchString(key) || fndKeyRE.FindString(key) != key {
		t.Fatalf("keys create: exit %d, stdout %q, stderr %q", code, key, errOut)
	}
	keyID := regexp.MustCompile(`apikey_\w+`).FindString(errOut)
	if keyID == "" || !strings.Contains(errOut, "wrkspc_keys") || strings.Contains(errOut, key) {
		t.Fatalf("keys create stderr %q: want the key id and workspace, never the key", errOut)
	}

	// The key works at once, in its own workspace, through the SDK and as
	// x-api-key.
	c := s.Client(key)
	if _, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{}); err != nil {
		t.Fatalf("new key through the SDK: %v", err)
	}
	status, hdr, _ := fndGet(t, s.URL, "/v1/agents", key, "")
	if status != 200 || hdr.Get("anthropic-workspace-id") != "wrkspc_keys" {
		t.Fatalf("new key: %d, workspace %q", status, hdr.Get("anthropic-workspace-id"))
	}

	list, errOut, code := fndRun(t, env, "keys", "list", "--data-dir", s.DataDir)
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, errOut)
	}
	var row string
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, keyID) {
			row = l
		}
	}
	if row == "" || !strings.Contains(row, "ci-key") || !strings.Contains(row, "wrkspc_keys") || !strings.Contains(row, "…"+key[len(key)-4:]) {
		t.Fatalf("keys list has no proper row for %s (hint …%s):\n%s", keyID, key[len(key)-4:], list)
	}
	if f := strings.Fields(row); f[len(f)-1] != "-" {
		t.Fatalf("unrevoked key listed as revoked: %q", row)
	}
	secretPart := strings.TrimPrefix(key, "sk-hangar-")
	for i := 0; i+8 <= len(secretPart)-4; i += 4 {
		if strings.Contains(list+errOut, secretPart[i:i+8]) {
			t.Fatalf("keys list shows part of the key (%q):\n%s", secretPart[i:i+8], list)
		}
	}
	fndNotInDir(t, s.DataDir, key)

	out, errOut, code := fndRun(t, env, "keys", "revoke", "--data-dir", s.DataDir, keyID)
	if code != 0 || strings.TrimSpace(out) != "revoked "+keyID {
		t.Fatalf("keys revoke: exit %d, %q %q", code, out, errOut)
	}
	// Revocation is immediate: there is no key cache to wait out.
	_, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	apiErr(t, err, 401, "authentication_error")
	status, _, body := fndGet(t, s.URL, "/v1/agents", key, "")
	if status != 401 || fndErrType(body) != "authentication_error" {
		t.Fatalf("revoked key as x-api-key: %d %v", status, body)
	}

	// Revoking again is harmless; the listing shows when it happened.
	if out, errOut, code := fndRun(t, env, "keys", "revoke", "--data-dir", s.DataDir, keyID); code != 0 {
		t.Fatalf("second revoke: exit %d, %q %q", code, out, errOut)
	}
	list, _, _ = fndRun(t, env, "keys", "list", "--data-dir", s.DataDir)
	row = ""
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, keyID) {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) == 0 {
		t.Fatalf("revoked key missing from keys list:\n%s", list)
	} else if _, err := time.Parse("2006-01-02T15:04:05Z", f[len(f)-1]); err != nil {
		t.Fatalf("revoked key row has no revocation time: %q", row)
	}

	for _, c := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"revoke unknown id", []string{"keys", "revoke", "--data-dir", s.DataDir, "apikey_nope"}, 1, "not found"},
		{"revoke without id", []string{"keys", "revoke", "--data-dir", s.DataDir}, 2, "KEY_ID"},
		{"unknown subcommand", []string{"keys", "rotate", "--data-dir", s.DataDir}, 2, "rotate"},
		{"no subcommand", []string{"keys"}, 2, "create, list or revoke"},
		{"admin and environment", []string{"keys", "create", "--data-dir", s.DataDir, "--admin", "--environment", "env_x"}, 2, "--admin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := fndRun(t, env, c.args...)
			if code != c.code || !strings.Contains(errOut, c.inStderr) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, errOut, c.code, c.inStderr)
			}
		})
	}

	// An --admin key from the CLI may act in any workspace.
	admin, _, code := fndRun(t, env, "keys", "create", "--data-dir", s.DataDir, "--admin", "--name", "ops")
	admin = strings.TrimSpace(admin)
	if code != 0 {
		t.Fatalf("keys create --admin: exit %d", code)
	}
	status, hdr, _ = fndGet(t, s.URL, "/v1/agents", admin, "wrkspc_elsewhere")
	if status != 200 || hdr.Get("anthropic-workspace-id") != "wrkspc_elsewhere" {
		t.Fatalf("admin key switching workspace: %d %q", status, hdr.Get("anthropic-workspace-id"))
	}
	list, _, _ = fndRun(t, env, "keys", "list", "--data-dir", s.DataDir)
	if !strings.Contains(list, "admin") || strings.Contains(list, admin) {
		t.Fatalf("keys list for the admin key:\n%s", list)
	}
}

// TestFoundationBootstrapKey: a first start without HANGAR_API_KEY mints an
// administrator key and prints it once, on stdout only; later starts print
// none and the key keeps working.
func TestFoundationBootstrapKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := fndEnv()
	p := fndServe(t, env, "--listen", "127.0.0.1:0", "--data-dir", dir)
	key := fndKeyRE.FindString(p.stdout.String())
	if key == "" || !strings.Contains(p.stdout.String(), "shown only once") {
		t.Fatalf("first start printed no key:\n%s", p.stdout)
	}
	if n := strings.Count(p.stdout.String(), "sk-hangar-"); n != 1 {
		t.Fatalf("key printed %d times", n)
	}
	status, hdr, _ := fndGet(t, p.URL, "/v1/agents", key, "")
	if status != 200 || hdr.Get("anthropic-workspace-id") != "wrkspc_default" {
		t.Fatalf("bootstrap key: %d, workspace %q", status, hdr.Get("anthropic-workspace-id"))
	}
	// It is an administrator key.
	if status, hdr, _ = fndGet(t, p.URL, "/v1/agents", key, "wrkspc_other"); status != 200 || hdr.Get("anthropic-workspace-id") != "wrkspc_other" {
		t.Fatalf("bootstrap key switching workspace: %d %q", status, hdr.Get("anthropic-workspace-id"))
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if strings.Contains(p.stderr.String(), key) {
		t.Fatal("the bootstrap key appears in the log")
	}
	fndNotInDir(t, dir, key)

	p2 := fndServe(t, env, "--listen", "127.0.0.1:0", "--data-dir", dir)
	if strings.Contains(p2.stdout.String(), "sk-hangar-") || strings.Contains(p2.stdout.String(), "created administrator") {
		t.Fatalf("second start printed a key:\n%s", p2.stdout)
	}
	if status, _, _ := fndGet(t, p2.URL, "/v1/agents", key, ""); status != 200 {
		t.Fatalf("bootstrap key after restart: %d", status)
	}
	list, _, _ := fndRun(t, env, "keys", "list", "--data-dir", dir)
	if strings.Count(list, "bootstrap") != 1 {
		t.Fatalf("keys list after two starts:\n%s", list)
	}

	// With HANGAR_API_KEY set, nothing is minted or printed.
	dir2 := t.TempDir()
	p3 := fndServe(t, fndEnv("HANGAR_API_KEY=sk-hangar-from-env-0123456789"), "--listen", "127.0.0.1:0", "--data-dir", dir2)
	if strings.Contains(p3.stdout.String(), "sk-hangar-") {
		t.Fatalf("start with HANGAR_API_KEY printed a key:\n%s", p3.stdout)
	}
	if status, _, _ := fndGet(t, p3.URL, "/v1/agents", "sk-hangar-from-env-0123456789", ""); status != 200 {
		t.Fatalf("HANGAR_API_KEY: %d", status)
	}
	if strings.Contains(p3.stderr.String(), "sk-hangar-from-env") {
		t.Fatal("HANGAR_API_KEY appears in the log")
	}
}

// TestFoundationMasterKeyFile: the master key file is created private
// (0600) in a private data directory, reused across restarts, and not
// created at all when HANGAR_MASTER_KEY is given.
func TestFoundationMasterKeyFile(t *testing.T) {
	s := testserver.Start(t)
	path := filepath.Join(s.DataDir, "master.key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if k := strings.TrimSpace(string(first)); len(k) != 64 {
		t.Fatalf("master.key holds %d characters, want 64 hex", len(k))
	}
	s.Stop(t)
	testserver.Start(t, testserver.WithDataDir(s.DataDir)).Stop(t)
	if again, _ := os.ReadFile(path); !bytes.Equal(first, again) {
		t.Fatal("master.key changed across a restart")
	}

	dir := filepath.Join(t.TempDir(), "fresh")
	p := fndServe(t, fndEnv("HANGAR_API_KEY=k", "HANGAR_MASTER_KEY="+strings.Repeat("ab", 32)), "--listen", "127.0.0.1:0", "--data-dir", dir)
	p.stop(t, syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("master.key written although HANGAR_MASTER_KEY was set: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("data dir mode %v (%v), want no group/other access", fi.Mode().Perm(), err)
	}

	// A malformed HANGAR_MASTER_KEY stops the start and names the variable
	// without echoing it.
	_, errOut, code := fndRun(t, fndEnv("HANGAR_API_KEY=k", "HANGAR_MASTER_KEY=not-a-key-zzzz"), "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "HANGAR_MASTER_KEY") || strings.Contains(errOut, "not-a-key-zzzz") {
		t.Fatalf("bad HANGAR_MASTER_KEY: exit %d, stderr %q", code, errOut)
	}
}

// TestFoundationWorkspaceHeader covers anthropic-workspace-id: an
// administrator key may name any workspace, any other key only its own
// (403 permission_error otherwise); every authenticated response names the
// workspace it acted in; objects stay in their workspace.
func TestFoundationWorkspaceHeader(t *testing.T) {
	s := testserver.Start(t)
	other := s.CreateKey(t, "wrkspc_other")
	cases := []struct {
		name, key, header string
		status            int
		wantWS, errType   string
	}{
		{"admin default", testserver.AdminKey, "", 200, "wrkspc_default", ""},
		{"admin switches", testserver.AdminKey, "wrkspc_other", 200, "wrkspc_other", ""},
		{"admin names default", testserver.AdminKey, "wrkspc_default", 200, "wrkspc_default", ""},
		{"key in own workspace", other, "", 200, "wrkspc_other", ""},
		{"key names own workspace", other, "wrkspc_other", 200, "wrkspc_other", ""},
		{"key names another workspace", other, "wrkspc_default", 403, "", "permission_error"},
		{"key names an unknown workspace", other, "wrkspc_nope", 403, "", "permission_error"},
		{"no key", "", "wrkspc_other", 401, "", "authentication_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := fndGet(t, s.URL, "/v1/agents", c.key, c.header)
			if status != c.status {
				t.Fatalf("status %d, want %d: %v", status, c.status, body)
			}
			if c.errType != "" {
				if fndErrType(body) != c.errType || body["request_id"] == "" || hdr.Get("x-should-retry") != "false" {
					t.Fatalf("error %v (x-should-retry %q), want %s", body, hdr.Get("x-should-retry"), c.errType)
				}
				return
			}
			if got := hdr.Get("anthropic-workspace-id"); got != c.wantWS {
				t.Fatalf("anthropic-workspace-id %q, want %q", got, c.wantWS)
			}
		})
	}

	// Through the SDK: WorkspaceID on the params sets the header.
	ctx := context.Background()
	oc := s.Client(other)
	_, err := oc.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{WorkspaceID: anthropic.String("wrkspc_default")})
	apiErr(t, err, 403, "permission_error")

	admin := s.Client("")
	a, err := admin.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:        "in other",
		Model:       anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeOpus4_8},
		WorkspaceID: anthropic.String("wrkspc_other"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := oc.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil || got.ID != a.ID || got.Name != "in other" {
		t.Fatalf("agent created by admin in wrkspc_other, read by its key: %v %v", got, err)
	}
	_, err = admin.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	page, err := admin.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range page.Data {
		if x.ID == a.ID {
			t.Fatal("agent of wrkspc_other listed in wrkspc_default")
		}
	}
}

// TestFoundationBodies: a JSON body over 8 MiB is 413 request_too_large,
// one just under is processed, and malformed JSON is 400
// invalid_request_error; nothing is created by a rejected request.
func TestFoundationBodies(t *testing.T) {
	s := testserver.Start(t)
	post := func(t *testing.T, path, body string) (int, map[string]any, http.Header) {
		t.Helper()
		resp := s.Do(t, "POST", path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST %s: non-JSON answer %d: %.200q", path, resp.StatusCode, b)
		}
		return resp.StatusCode, m, resp.Header
	}
	big := func(n int) string { return `{"name":"` + strings.Repeat("a", n-len(`{"name":""}`)) + `"}` }
	cases := []struct {
		name, path, body string
		status           int
		errType, msg     string
	}{
		{"over 8 MiB", "/v1/agents", big(8<<20 + 1), 413, "request_too_large", ""},
		{"far over 8 MiB", "/v1/environments", big(20 << 20), 413, "request_too_large", ""},
		{"just under 8 MiB is read", "/v1/agents", big(8<<20 - 16), 400, "invalid_request_error", "name"},
		{"malformed", "/v1/agents", `{"name":`, 400, "invalid_request_error", "malformed JSON"},
		{"not JSON", "/v1/environments", `name=x`, 400, "invalid_request_error", "malformed JSON"},
		{"trailing garbage", "/v1/vaults", `{"display_name":"v"}}`, 400, "invalid_request_error", "single JSON object"},
		{"array body", "/v1/agents", `[]`, 400, "invalid_request_error", "JSON object"},
		{"duplicate key", "/v1/agents", `{"name":"a","model":"claude-x","name":"b"}`, 400, "invalid_request_error", "name: duplicate key"},
		{"nested duplicate key", "/v1/vaults", `{"display_name":"v","metadata":{"k":"1","k":"2"}}`, 400, "invalid_request_error", "metadata.k: duplicate key"},
		{"duplicate key inside a credential's auth", "/v1/vaults/vlt_x/credentials", `{"auth":{"type":"static_bearer","token":"a","token":"b"}}`, 400, "invalid_request_error", "auth.token: duplicate key"},
		{"invalid UTF-8 name", "/v1/environments", "{\"name\":\"a\xffb\"}", 400, "invalid_request_error", "name: must be valid UTF-8"},
		{"unpaired surrogate name", "/v1/agents", `{"name":"\ud800","model":"claude-x"}`, 400, "invalid_request_error", "name: must be valid UTF-8"},
		{"NUL in a name", "/v1/environments", `{"name":"a\u0000b"}`, 400, "invalid_request_error", "name: must not contain NUL"},
		{"NUL in a display name", "/v1/vaults", `{"display_name":"\u0000"}`, 400, "invalid_request_error", "display_name: must not contain NUL"},
		{"NUL in an agent name", "/v1/agents", `{"name":"x\u0000","model":"claude-x"}`, 400, "invalid_request_error", "name: must not contain NUL"},
		{"required field sent under another name", "/v1/sessions", `{"agent_id":"agent_x","environment_id":"env_x"}`, 400, "invalid_request_error",
			"agent: field required; agent_id is not a field of this request"},
		{"misspelt required field", "/v1/agents", `{"nmae":"a","model":"claude-x"}`, 400, "invalid_request_error",
			"name: field required; nmae is not a field of this request"},
		{"misspelt environment name", "/v1/environments", `{"nmae":"e"}`, 400, "invalid_request_error",
			"name: field required; nmae is not a field of this request"},
		{"misspelt vault name", "/v1/vaults", `{"displayname":"v"}`, 400, "invalid_request_error",
			"display_name: field required; displayname is not a field of this request"},
		{"credential auth under another name", "/v1/vaults/vlt_x/credentials", `{"authentication":{"type":"static_bearer","token":"t"}}`, 400, "invalid_request_error",
			"auth: field required; authentication is not a field of this request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, hdr := post(t, c.path, c.body)
			if status != c.status || fndErrType(body) != c.errType {
				t.Fatalf("status %d %v, want %d %s", status, body, c.status, c.errType)
			}
			msg, _ := body["error"].(map[string]any)["message"].(string)
			if !strings.Contains(msg, c.msg) {
				t.Fatalf("message %q, want it to mention %q", msg, c.msg)
			}
			if rid, _ := body["request_id"].(string); !strings.HasPrefix(rid, "req_") || hdr.Get("request-id") != rid {
				t.Fatalf("request_id %q, header %q", rid, hdr.Get("request-id"))
			}
			if hdr.Get("x-should-retry") != "false" {
				t.Fatalf("x-should-retry %q: %d is not retryable", hdr.Get("x-should-retry"), status)
			}
		})
	}
	for _, path := range []string{"/v1/agents", "/v1/environments", "/v1/vaults"} {
		status, _, body := fndGet(t, s.URL, path, testserver.AdminKey, "")
		if data, _ := body["data"].([]any); status != 200 || len(data) != 0 {
			t.Fatalf("%s after rejected requests: %d %v", path, status, body)
		}
	}
}

// TestFoundationNever204: the Go SDK fails on 204, so GETs and DELETEs
// always answer with a JSON body, success or not.
func TestFoundationNever204(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	c := s.Client("")
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "to-delete"})
	if err != nil {
		t.Fatal(err)
	}
	vlt, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "to-delete"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/healthz"},
		{"GET", "/v1/nope"},
		{"DELETE", "/v1/nope"},
		{"GET", "/v1/agents"},
		{"GET", "/v1/agents/agent_missing"},
		{"DELETE", "/v1/agents/agent_missing"},
		{"DELETE", "/v1/environments/env_missing"},
		{"DELETE", "/v1/vaults/vlt_missing"},
		{"DELETE", "/v1/vaults/vlt_missing/credentials/vcrd_missing"},
		{"DELETE", "/v1/files/file_missing"},
		{"DELETE", "/v1/skills/skill_missing"},
		{"DELETE", "/v1/skills/skill_missing/versions/1"},
		{"DELETE", "/v1/environments/" + env.ID},
		{"DELETE", "/v1/vaults/" + vlt.ID},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			resp := s.Do(t, r.method, r.path, nil, nil)
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			if resp.StatusCode == 204 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
				t.Fatalf("%d %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
		})
	}
	// The deletes above were real: the objects are gone, and the SDK's
	// own Delete decodes a receipt.
	_, err = c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	apiErr(t, err, 404, "not_found_error")
	env2, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "sdk-delete"})
	if err != nil {
		t.Fatal(err)
	}
	del, err := c.Beta.Environments.Delete(ctx, env2.ID, anthropic.BetaEnvironmentDeleteParams{})
	if err != nil || del.ID != env2.ID || string(del.Type) != "environment_deleted" {
		t.Fatalf("SDK environment delete: %+v %v", del, err)
	}
}

// TestFoundationShutdown: SIGTERM and SIGINT both stop the server
// gracefully with exit code 0, after which it no longer accepts requests.
func TestFoundationShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := fndServe(t, fndEnv("HANGAR_API_KEY=k"), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
			if status, _, _ := fndGet(t, p.URL, "/v1/agents", "k", ""); status != 200 {
				t.Fatalf("before shutdown: %d", status)
			}
			if code := p.stop(t, sig); code != 0 {
				t.Fatalf("exit code %d after %v, want 0:\n%s", code, sig, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), "shutting down") {
				t.Errorf("no shutdown log line:\n%s", p.stderr)
			}
			if resp, err := http.Get(p.URL + "/healthz"); err == nil {
				resp.Body.Close()
				t.Fatal("server still answers after exiting")
			}
		})
	}
	// testserver stops with SIGTERM too; its exit code must be 0.
	s := testserver.Start(t)
	s.Stop(t)
	if exited, code := s.Exited(); !exited || code != 0 {
		t.Fatalf("testserver stop: exited %v code %d", exited, code)
	}
}

func fndFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFoundationListenAndDataDir: --listen/HANGAR_LISTEN and
// --data-dir/HANGAR_DATA_DIR are both honoured, and a flag beats its
// variable.
func TestFoundationListenAndDataDir(t *testing.T) {
	cases := []struct {
		name string
		// build returns env and args given a free address and two dirs.
		build func(addr, d1, d2 string) ([]string, []string)
		used  string // which dir must hold the database: "d1" or "d2"
	}{
		{"flags", func(addr, d1, d2 string) ([]string, []string) {
			return nil, []string{"--listen", addr, "--data-dir", d1}
		}, "d1"},
		{"environment", func(addr, d1, d2 string) ([]string, []string) {
			return []string{"HANGAR_LISTEN=" + addr, "HANGAR_DATA_DIR=" + d1}, nil
		}, "d1"},
		{"flags beat environment", func(addr, d1, d2 string) ([]string, []string) {
			return []string{"HANGAR_LISTEN=not-an-address", "HANGAR_DATA_DIR=" + d2}, []string{"--listen", addr, "--data-dir", d1}
		}, "d1"},
		{"flag and variable mixed", func(addr, d1, d2 string) ([]string, []string) {
			return []string{"HANGAR_LISTEN=" + addr, "HANGAR_DATA_DIR=" + d1}, []string{"--data-dir", d2}
		}, "d2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			d1, d2 := filepath.Join(root, "one"), filepath.Join(root, "two")
			addr := fndFreePort(t)
			env, args := c.build(addr, d1, d2)
			p := fndServe(t, fndEnv(append(env, "HANGAR_API_KEY=k")...), args...)
			if p.URL != "http://"+addr {
				t.Fatalf("listening on %s, want http://%s", p.URL, addr)
			}
			if status, _, _ := fndGet(t, "http://"+addr, "/v1/agents", "k", ""); status != 200 {
				t.Fatalf("GET /v1/agents on %s: %d", addr, status)
			}
			used, unused := d1, d2
			if c.used == "d2" {
				used, unused = d2, d1
			}
			for _, f := range []string{"hangar.db", "master.key"} {
				if _, err := os.Stat(filepath.Join(used, f)); err != nil {
					t.Errorf("%s not in the chosen data dir: %v", f, err)
				}
			}
			if _, err := os.Stat(unused); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the other data dir was created: %v", err)
			}
			if code := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestFoundationBadConfig: an invalid setting exits 2 before anything is
// written, with a message naming the flag (and its variable).
func TestFoundationBadConfig(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"log level flag", nil, []string{"--log-level", "nope"}, "--log-level"},
		{"log level variable", []string{"HANGAR_LOG_LEVEL=nope"}, nil, "--log-level (HANGAR_LOG_LEVEL)"},
		{"log format", nil, []string{"--log-format", "xml"}, "--log-format"},
		{"listen", nil, []string{"--listen", "nope"}, "--listen"},
		{"listen variable", []string{"HANGAR_LISTEN=nope"}, nil, "HANGAR_LISTEN"},
		{"max upload", nil, []string{"--max-upload-bytes", "0"}, "--max-upload-bytes"},
		{"empty data dir", nil, []string{"--data-dir", ""}, "--data-dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve"}, c.args...)
			if !slices.Contains(c.args, "--data-dir") {
				args = append(args, "--data-dir", dir)
			}
			out, errOut, code := fndRun(t, fndEnv(append(c.env, "HANGAR_API_KEY=k")...), args...)
			if code != 2 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %q", code, errOut, c.want)
			}
			if strings.Contains(out, "listening") {
				t.Fatalf("server started: %q", out)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("data dir created despite bad config: %v", err)
			}
		})
	}
}

// Like the hosted API, every request needs anthropic-version, and every
// Managed Agents request names the managed-agents beta in anthropic-beta
// (among others, in one comma-separated line or several); the Files and
// Skills APIs, for which the official SDKs send no beta, need none. A
// refusal is a 400 naming the header.
func TestFoundationRequiredHeaders(t *testing.T) {
	s := testserver.Start(t)
	envID := mkSelfHostedEnv(t, s)
	envKey := envKey(t, s, envID)
	const beta = "managed-agents-2026-04-01"
	cases := []struct {
		name, method, path string
		header             http.Header
		status             int
		msg                string
	}{
		{"no beta", "GET", "/v1/agents", http.Header{"Anthropic-Beta": nil}, 400, "anthropic-beta: this endpoint requires the " + beta},
		{"another beta only", "POST", "/v1/sessions", http.Header{"Anthropic-Beta": {"files-api-2025-04-14"}}, 400, "anthropic-beta"},
		{"no version", "GET", "/v1/environments", http.Header{"Anthropic-Version": nil}, 400, "anthropic-version: header is required"},
		{"no version on files", "GET", "/v1/files", http.Header{"Anthropic-Version": nil}, 400, "anthropic-version"},
		{"no beta on a work route", "GET", "/v1/environments/env_x/work/stats", http.Header{"Anthropic-Beta": nil}, 400, "anthropic-beta"},
		{"the environment key's poll without the beta", "GET", "/v1/environments/" + envID + "/work/poll?block_ms=1",
			http.Header{"Anthropic-Beta": nil, "X-Api-Key": {envKey}}, 400, "anthropic-beta"},
		{"beta in a list", "GET", "/v1/vaults", http.Header{"Anthropic-Beta": {"computer-use-2024-10-22, " + beta}}, 200, ""},
		{"beta on a second line", "GET", "/v1/vaults", http.Header{"Anthropic-Beta": {"computer-use-2024-10-22", beta}}, 200, ""},
		{"files need no beta", "GET", "/v1/files", http.Header{"Anthropic-Beta": nil}, 200, ""},
		{"skills need no beta", "GET", "/v1/skills", http.Header{"Anthropic-Beta": nil}, 200, ""},
		{"any version", "GET", "/v1/agents", http.Header{"Anthropic-Version": {"2023-06-01"}}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.Do(t, c.method, c.path, nil, c.header)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.msg) {
				t.Fatalf("%s %s: %d %s; want %d naming %q", c.method, c.path, resp.StatusCode, b, c.status, c.msg)
			}
			if c.status == 400 && fndErrType(decodeMap(t, b)) != "invalid_request_error" {
				t.Fatalf("error type of %s", b)
			}
		})
	}
	// The health check is no API call and needs neither.
	if resp, err := http.Get(s.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("non-JSON body %q", b)
	}
	return m
}

// mkSelfHostedEnv creates a self-hosted environment with the admin key.
func mkSelfHostedEnv(t *testing.T, s *testserver.Server) string {
	t.Helper()
	c := s.Client("")
	env, err := c.Beta.Environments.New(context.Background(), anthropic.BetaEnvironmentNewParams{Name: "self-hosted",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}}})
	if err != nil {
		t.Fatal(err)
	}
	return env.ID
}

// Endpoints that take no body (archive, mcp_oauth_validate, work ack and
// heartbeat) accept none or {}, and refuse anything else as any endpoint
// does, instead of ignoring it; a refused archive archives nothing.
func TestFoundationEmptyBodies(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "a", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-x"}})
	if err != nil {
		t.Fatal(err)
	}
	envID := mkSelfHostedEnv(t, s)
	paths := []string{
		"/v1/agents/" + agent.ID + "/archive",
		"/v1/environments/" + envID + "/archive",
		"/v1/sessions/sesn_x/archive",
		"/v1/vaults/vlt_x/archive",
		"/v1/vaults/vlt_x/credentials/vcrd_x/archive",
		"/v1/vaults/vlt_x/credentials/vcrd_x/mcp_oauth_validate",
		"/v1/environments/" + envID + "/work/work_x/ack",
		"/v1/environments/" + envID + "/work/work_x/heartbeat",
	}
	for _, path := range paths {
		for body, msg := range map[string]string{`{"force":`: "malformed JSON", `{"force":true}`: "force: unknown field", `[]`: "JSON object"} {
			resp := s.Do(t, "POST", path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.Contains(string(b), msg) {
				t.Errorf("POST %s %s: %d %s; want 400 naming %q", path, body, resp.StatusCode, b, msg)
			}
		}
	}
	got, err := c.Beta.Agents.Get(ctx, agent.ID, anthropic.BetaAgentGetParams{})
	if err != nil || !got.ArchivedAt.IsZero() {
		t.Fatalf("a refused archive archived the agent: %+v %v", got.ArchivedAt, err)
	}
	for _, body := range []string{"", "{}"} {
		resp := s.Do(t, "POST", "/v1/agents/"+agent.ID+"/archive", strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("archive with body %q: %d %s", body, resp.StatusCode, b)
		}
	}
}
