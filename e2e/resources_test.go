package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/model/modeltest"
)

// toolset is an agent body with the built-in tools.
var toolset = map[string]any{"tools": []any{map[string]any{"type": "agent_toolset_20260401"}}}

func (l *loop) sessionWith(agentID string, rs ...anthropic.BetaSessionNewParamsResourceUnion) *anthropic.BetaManagedAgentsSession {
	l.t.Helper()
	s, err := l.c.Beta.Sessions.New(context.Background(), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)},
		EnvironmentID: l.envID,
		Resources:     rs,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// bash runs one bash call through the fake model and returns the tool
// result's JSON; the turn then ends with "ok".
func (l *loop) bash(sid, cmd string) string {
	l.t.Helper()
	l.fake.Push(modeltest.ToolCall("", "bash", map[string]any{"command": cmd}), modeltest.Text("ok"))
	col := l.stream(sid)
	l.send(sid, userMessage("run"))
	res, at := col.waitType(l.t, 0, "agent.tool_result")
	idle, _ := col.waitType(l.t, at, "session.status_idle")
	if idle.StopReason.Type != "end_turn" {
		l.t.Fatalf("stop_reason = %s", idle.RawJSON())
	}
	col.cancel()
	return res.RawJSON()
}

// File resources are session-scoped
// copies, mounted read-only, added/listed/got/deleted through the SDK.
func TestResourcesFile(t *testing.T) {
	l := newLoop(t, nil)
	ctx := context.Background()
	orig := uploadFile(t, l.c, "input.txt", "text/plain", "RESOURCE-CONTENT-1")
	agent := l.agent(toolset)
	s := l.sessionWith(agent, anthropic.BetaSessionNewParamsResourceUnion{OfFile: &anthropic.BetaManagedAgentsFileResourceParams{
		FileID: orig.ID, MountPath: anthropic.String("/mnt/data/input.txt"),
	}})
	if len(s.Resources) != 1 {
		t.Fatalf("resources = %s", s.RawJSON())
	}
	r0 := s.Resources[0]
	// A copy with a different file id, which the session shows.
	if r0.Type != "file" || !strings.HasPrefix(r0.ID, "sesrsc_") || r0.FileID == orig.ID || !strings.HasPrefix(r0.FileID, "file_") || r0.MountPath != "/mnt/data/input.txt" {
		t.Fatalf("resource = %s", r0.RawJSON())
	}
	cp, err := l.c.Beta.Files.GetMetadata(ctx, r0.FileID, anthropic.BetaFileGetMetadataParams{})
	if err != nil || cp.Scope.ID != s.ID || cp.SizeBytes != orig.SizeBytes {
		t.Fatalf("copy metadata = %v, %v", cp, err)
	}
	// Deleting the original does not affect the session.
	if _, err := l.c.Beta.Files.Delete(ctx, orig.ID, anthropic.BetaFileDeleteParams{}); err != nil {
		t.Fatal(err)
	}
	// Readable at its mount path, not writable.
	out := l.bash(s.ID, "cat /mnt/data/input.txt; echo; (echo x > /mnt/data/input.txt) 2>/dev/null && echo WROTE || echo DENIED; (rm -f /mnt/data/input.txt) 2>/dev/null; cat /mnt/data/input.txt")
	if strings.Count(out, "RESOURCE-CONTENT-1") != 2 || !strings.Contains(out, "DENIED") || strings.Contains(out, "WROTE") {
		t.Fatalf("bash on the mounted file: %s", out)
	}

	// Add a second file while the sandbox runs; the default mount path
	// names the uploaded file.
	second := uploadFile(t, l.c, "second.txt", "text/plain", "SECOND-CONTENT")
	added, err := l.c.Beta.Sessions.Resources.Add(ctx, s.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: second.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(added.ID, "sesrsc_") || added.Type != "file" || added.FileID == second.ID || added.MountPath != "/mnt/session/uploads/"+second.ID || added.CreatedAt.IsZero() {
		t.Fatalf("added = %s", added.RawJSON())
	}
	if out := l.bash(s.ID, "cat /mnt/session/uploads/"+second.ID); !strings.Contains(out, "SECOND-CONTENT") {
		t.Fatalf("added file not mounted at the next tool call: %s", out)
	}

	// List (all when limit is omitted; paged with limit), get.
	page, err := l.c.Beta.Sessions.Resources.List(ctx, s.ID, anthropic.BetaSessionResourceListParams{})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != r0.ID || page.Data[1].ID != added.ID || page.NextPage != "" {
		t.Fatalf("list = %v, %v", page, err)
	}
	var ids []string
	it := l.c.Beta.Sessions.Resources.ListAutoPaging(ctx, s.ID, anthropic.BetaSessionResourceListParams{Limit: anthropic.Int(1)})
	for it.Next() {
		ids = append(ids, it.Current().ID)
	}
	if it.Err() != nil || strings.Join(ids, ",") != r0.ID+","+added.ID {
		t.Fatalf("paged list = %v, %v", ids, it.Err())
	}
	got, err := l.c.Beta.Sessions.Resources.Get(ctx, added.ID, anthropic.BetaSessionResourceGetParams{SessionID: s.ID})
	if err != nil || got.FileID != added.FileID || got.MountPath != added.MountPath {
		t.Fatalf("get = %v, %v", got, err)
	}
	// Token rotation is for repositories only.
	_, err = l.c.Beta.Sessions.Resources.Update(ctx, added.ID, anthropic.BetaSessionResourceUpdateParams{SessionID: s.ID, AuthorizationToken: "tok"})
	apiErr(t, err, 400, "invalid_request_error")
	// A mount path in use is a conflict.
	_, err = l.c.Beta.Sessions.Resources.Add(ctx, s.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: second.ID, MountPath: anthropic.String("/mnt/data/input.txt")},
	})
	apiErr(t, err, 409, "")

	// Resource copies are not among the session's outputs.
	scoped, err := l.c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String(s.ID)})
	if err != nil || len(scoped.Data) != 0 {
		t.Fatalf("scope_id list = %v, %v", scoped, err)
	}

	// Delete detaches the resource and removes its copy.
	del, err := l.c.Beta.Sessions.Resources.Delete(ctx, added.ID, anthropic.BetaSessionResourceDeleteParams{SessionID: s.ID})
	if err != nil || del.ID != added.ID || del.Type != "session_resource_deleted" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	_, err = l.c.Beta.Sessions.Resources.Get(ctx, added.ID, anthropic.BetaSessionResourceGetParams{SessionID: s.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = l.c.Beta.Files.GetMetadata(ctx, added.FileID, anthropic.BetaFileGetMetadataParams{})
	apiErr(t, err, 404, "not_found_error")
	if out := l.bash(s.ID, "ls /mnt/session/uploads/ 2>&1; echo END"); strings.Contains(out, second.ID) {
		t.Fatalf("deleted resource still mounted: %s", out)
	}
	sess, err := l.c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
	if err != nil || len(sess.Resources) != 1 || sess.Resources[0].ID != r0.ID {
		t.Fatalf("session after delete = %v, %v", sess, err)
	}

	// Another workspace sees none of it.
	other := l.s.Client(l.s.CreateKey(t, "wrkspc_other"))
	_, err = other.Beta.Sessions.Resources.Get(ctx, r0.ID, anthropic.BetaSessionResourceGetParams{SessionID: s.ID})
	apiErr(t, err, 404, "not_found_error")

	// Raw bodies the SDK cannot send.
	third := uploadFile(t, l.c, "third.txt", "text/plain", "x")
	for _, tc := range []struct {
		name, path, body string
		status           int
		mention          string
	}{
		{"memory store", "/v1/sessions/" + s.ID + "/resources", `{"type":"memory_store","memory_store_id":"memstore_1"}`, 400, "type"},
		{"repository", "/v1/sessions/" + s.ID + "/resources", `{"type":"github_repository","url":"https://github.com/a/b"}`, 400, "type"},
		{"malformed", "/v1/sessions/" + s.ID + "/resources", `{"type":"file",`, 400, ""},
		{"null file_id", "/v1/sessions/" + s.ID + "/resources", `{"type":"file","file_id":null}`, 400, "file_id"},
		{"unknown field", "/v1/sessions/" + s.ID + "/resources", `{"type":"file","file_id":"` + third.ID + `","x":1}`, 400, "x"},
		{"relative mount", "/v1/sessions/" + s.ID + "/resources", `{"type":"file","file_id":"` + third.ID + `","mount_path":"rel"}`, 400, "mount_path"},
		{"outputs mount", "/v1/sessions/" + s.ID + "/resources", `{"type":"file","file_id":"` + third.ID + `","mount_path":"/mnt/session/outputs/a"}`, 400, "mount_path"},
		{"missing file", "/v1/sessions/" + s.ID + "/resources", `{"type":"file","file_id":"file_missing"}`, 404, "file_id"},
		{"missing session", "/v1/sessions/sesn_missing/resources", `{"type":"file","file_id":"` + third.ID + `"}`, 404, ""},
		{"empty token", "/v1/sessions/" + s.ID + "/resources/" + r0.ID, `{"authorization_token":""}`, 400, "authorization_token"},
		{"missing resource", "/v1/sessions/" + s.ID + "/resources/sesrsc_missing", `{"authorization_token":"t"}`, 404, "resource_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := l.s.Do(t, "POST", tc.path, strings.NewReader(tc.body), http.Header{"Content-Type": {"application/json"}})
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.mention) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "page=bogus"} {
		resp := l.s.Do(t, "GET", "/v1/sessions/"+s.ID+"/resources?"+q, nil, nil)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("list ?%s: %d", q, resp.StatusCode)
		}
	}
	// Nothing was written by the failures.
	page, _ = l.c.Beta.Sessions.Resources.List(ctx, s.ID, anthropic.BetaSessionResourceListParams{})
	if len(page.Data) != 1 {
		t.Fatalf("resources after failed requests: %d", len(page.Data))
	}

	// Archived sessions' resources are read-only.
	if _, err := l.c.Beta.Sessions.Archive(ctx, s.ID, anthropic.BetaSessionArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	_, err = l.c.Beta.Sessions.Resources.Add(ctx, s.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: third.ID},
	})
	apiErr(t, err, 409, "")
	// The session's delete removes the copy.
	if _, err := l.c.Beta.Sessions.Delete(ctx, s.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Fatal(err)
	}
	_, err = l.c.Beta.Files.GetMetadata(ctx, r0.FileID, anthropic.BetaFileGetMetadataParams{})
	apiErr(t, err, 404, "not_found_error")
}

// Files written under /mnt/session/outputs are filed
// with the session as scope before idle, downloadable, once per content.
func TestResourcesOutputs(t *testing.T) {
	l := newLoop(t, nil)
	ctx := context.Background()
	sid := l.session(l.agent(toolset))
	l.bash(sid, "mkdir -p /mnt/session/outputs/sub && printf 'report-bytes' > /mnt/session/outputs/report.txt && printf nested > /mnt/session/outputs/sub/n.txt && ln -s /etc/passwd /mnt/session/outputs/link")
	list := func() map[string]anthropic.BetaFileMetadata {
		t.Helper()
		page, err := l.c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String(sid)})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]anthropic.BetaFileMetadata{}
		for _, f := range page.Data {
			if f.Scope.ID != sid || f.Scope.Type != "session" {
				t.Fatalf("scope = %s", f.RawJSON())
			}
			out[f.Filename+"#"+f.ID] = f
		}
		return out
	}
	byName := func(m map[string]anthropic.BetaFileMetadata, name string) []anthropic.BetaFileMetadata {
		var out []anthropic.BetaFileMetadata
		for k, f := range m {
			if strings.HasPrefix(k, name+"#") {
				out = append(out, f)
			}
		}
		return out
	}
	files := list()
	if len(files) != 3 || len(byName(files, "report.txt")) != 1 || len(byName(files, "n.txt")) != 1 || len(byName(files, "link")) != 1 {
		t.Fatalf("outputs = %v", files)
	}
	download := func(id string) string {
		resp, err := l.c.Beta.Files.Download(ctx, id, anthropic.BetaFileDownloadParams{})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := download(byName(files, "report.txt")[0].ID); got != "report-bytes" {
		t.Fatalf("report.txt = %q", got)
	}
	// A link resolves inside the sandbox: its passwd, not the host's.
	if got := download(byName(files, "link")[0].ID); strings.Contains(got, "root:x:0:0:root:/root:/bin") || !strings.Contains(got, "agent:x:1000") {
		t.Fatalf("link captured %q", got)
	}
	// An unchanged output is not filed again; a changed one is.
	l.bash(sid, "true")
	if n := len(list()); n != 3 {
		t.Fatalf("after an unchanged turn: %d files", n)
	}
	l.bash(sid, "printf 'report-v2' > /mnt/session/outputs/report.txt")
	files = list()
	reports := byName(files, "report.txt")
	if len(files) != 4 || len(reports) != 2 {
		t.Fatalf("after a change: %v", files)
	}
	var contents []string
	for _, f := range reports {
		contents = append(contents, download(f.ID))
	}
	if j := strings.Join(contents, ","); !strings.Contains(j, "report-v2") || !strings.Contains(j, "report-bytes") {
		t.Fatalf("report versions = %v", contents)
	}
}
