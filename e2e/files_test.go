package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// uploadFile uploads content through the SDK and fails the test on error.
func uploadFile(t *testing.T, c anthropic.Client, name, contentType, content string) *anthropic.BetaFileMetadata {
	t.Helper()
	f, err := c.Beta.Files.Upload(context.Background(), anthropic.BetaFileUploadParams{
		File: anthropic.File(strings.NewReader(content), name, contentType),
	})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return f
}

// wantMessage asserts an API error's message mentions want.
func wantMessage(t *testing.T, e *anthropic.Error, want string) {
	t.Helper()
	if !strings.Contains(e.Message, want) {
		t.Fatalf("error message %q does not mention %q", e.Message, want)
	}
}

// Upload, read back and download, with every FileMetadata
// field the SDK knows.
func TestFilesUploadGetDownload(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	before := time.Now().Add(-time.Second)

	f := uploadFile(t, c, "hello.txt", "text/plain", "hello, hangar\n")
	if !strings.HasPrefix(f.ID, "file_") || f.Filename != "hello.txt" || f.MimeType != "text/plain" ||
		f.SizeBytes != 14 || f.Type != "file" || !f.Downloadable {
		t.Fatalf("unexpected metadata: %s", f.RawJSON())
	}
	if f.CreatedAt.Before(before) || f.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("created_at %v not now", f.CreatedAt)
	}
	// expires_at and scope are always sent, null when unset.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f.RawJSON()), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"expires_at", "scope"} {
		if v, ok := raw[k]; !ok || string(v) != "null" {
			t.Fatalf("%s = %s, want null (body %s)", k, v, f.RawJSON())
		}
	}

	got, err := c.Beta.Files.GetMetadata(ctx, f.ID, anthropic.BetaFileGetMetadataParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.RawJSON() != f.RawJSON() {
		t.Fatalf("get differs from upload:\n%s\n%s", got.RawJSON(), f.RawJSON())
	}

	resp, err := c.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello, hangar\n" {
		t.Fatalf("downloaded %q", body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=hello.txt` && cd != `attachment; filename="hello.txt"` {
		t.Fatalf("Content-Disposition %q", cd)
	}

	// Delete returns the receipt; afterwards the file is gone everywhere.
	del, err := c.Beta.Files.Delete(ctx, f.ID, anthropic.BetaFileDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != f.ID || del.Type != "file_deleted" {
		t.Fatalf("delete receipt %s", del.RawJSON())
	}
	_, err = c.Beta.Files.GetMetadata(ctx, f.ID, anthropic.BetaFileGetMetadataParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Files.Delete(ctx, f.ID, anthropic.BetaFileDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	if n := countBlobs(t, s, "files"); n != 0 {
		t.Fatalf("%d blobs left after delete", n)
	}
}

// Filenames keep only their last component, unnamed uploads get a
// name from their type, the type falls back to the extension and then the
// content, and expires_in_seconds sets expires_at.
func TestFilesUploadNamesTypesExpiry(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	for _, tc := range []struct {
		name, filename, ctype, content string
		wantName, wantType             string
	}{
		{"directories stripped", "dir/sub/report.csv", "", "a,b\n1,2\n", "report.csv", "text/csv"},
		{"windows directories stripped", `C:\Users\me\notes.md`, "application/octet-stream", "# hi", "notes.md", "text/markdown"},
		{"declared type wins", "data.bin", "application/json", "{}", "data.bin", "application/json"},
		{"unnamed gets an extension", "", "image/png", png, "unnamed.png", "image/png"},
		{"type sniffed from content", "blob", "", png, "blob", "image/png"},
		{"unknown stays octet-stream", "x", "", "\x00\x01\x02", "x", "application/octet-stream"},
		{"unicode filename", "résumé 2026.pdf", "application/pdf", "%PDF-1.4", "résumé 2026.pdf", "application/pdf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := uploadFile(t, c, tc.filename, tc.ctype, tc.content)
			if f.Filename != tc.wantName || f.MimeType != tc.wantType || f.SizeBytes != int64(len(tc.content)) {
				t.Fatalf("got filename %q type %q size %d, want %q %q %d", f.Filename, f.MimeType, f.SizeBytes, tc.wantName, tc.wantType, len(tc.content))
			}
			resp, err := c.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.content || resp.Header.Get("Content-Type") != tc.wantType {
				t.Fatalf("download: %q as %q", b, resp.Header.Get("Content-Type"))
			}
		})
	}

	f, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{
		File:             anthropic.File(strings.NewReader("short-lived"), "tmp.txt", "text/plain"),
		ExpiresInSeconds: anthropic.Int(3600),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !f.ExpiresAt.Equal(f.CreatedAt.Add(time.Hour)) {
		t.Fatalf("expires_at %v, created_at %v", f.ExpiresAt, f.CreatedAt)
	}

	for _, tc := range []struct {
		secs int64
		want string
	}{{3599, "between 3600 and 7776000"}, {7776001, "between 3600 and 7776000"}, {-5, "expires_in_seconds"}} {
		_, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{
			File:             anthropic.File(strings.NewReader("x"), "x.txt", "text/plain"),
			ExpiresInSeconds: anthropic.Int(tc.secs),
		})
		wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), tc.want)
	}
	// Failed uploads leave neither a record nor bytes behind.
	page, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{Limit: anthropic.Int(100)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 8 {
		t.Fatalf("%d files listed, want 8", len(page.Data))
	}
	if n := countBlobs(t, s, "files"); n != 8 {
		t.Fatalf("%d blobs stored, want 8", n)
	}
}

// Lists are newest first with page cursors; ids[] and
// scope_id filter.
func TestFilesList(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	var made []string
	for i := range 5 {
		made = append(made, uploadFile(t, c, fmt.Sprintf("f%d.txt", i), "text/plain", "x").ID)
	}

	page, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != made[4] || page.Data[1].ID != made[3] || page.NextPage == "" || !strings.HasPrefix(page.NextPage, "page_") {
		t.Fatalf("first page: %s", page.RawJSON())
	}
	if !strings.Contains(page.RawJSON(), `"has_more":true`) {
		t.Fatalf("first page without has_more: %s", page.RawJSON())
	}
	var all []string
	iter := c.Beta.Files.ListAutoPaging(ctx, anthropic.BetaFileListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		all = append(all, iter.Current().ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[0] != made[4] || all[4] != made[0] {
		t.Fatalf("auto-paging got %v", all)
	}

	// ids[] returns just those files, one page.
	page, err = c.Beta.Files.List(ctx, anthropic.BetaFileListParams{IDs: []string{made[1], made[3], "file_nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != made[3] || page.Data[1].ID != made[1] || page.NextPage != "" {
		t.Fatalf("ids filter: %s", page.RawJSON())
	}

	// A scope with no outputs lists nothing.
	page, err = c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String("sesn_011CZkZAtmR3yMPDzynEDxu7")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 || page.NextPage != "" {
		t.Fatalf("scope filter: %s", page.RawJSON())
	}

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("file_%d", i)
	}
	for _, tc := range []struct {
		name string
		p    anthropic.BetaFileListParams
		want string
	}{
		{"scope must be a session", anthropic.BetaFileListParams{ScopeID: anthropic.String("agent_x")}, "scope_id"},
		{"ids with page", anthropic.BetaFileListParams{IDs: []string{made[0]}, Page: anthropic.String("page_YTE")}, "ids"},
		{"ids with limit", anthropic.BetaFileListParams{IDs: []string{made[0]}, Limit: anthropic.Int(5)}, "ids"},
		{"too many ids", anthropic.BetaFileListParams{IDs: many}, "at most 100"},
		{"limit too large", anthropic.BetaFileListParams{Limit: anthropic.Int(1001)}, "limit"},
		{"limit zero", anthropic.BetaFileListParams{Limit: anthropic.Int(0)}, "limit"},
		{"bad cursor", anthropic.BetaFileListParams{Page: anthropic.String("page_garbage!")}, "page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Beta.Files.List(ctx, tc.p)
			wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), tc.want)
		})
	}
}

// rawMultipart builds a raw multipart body from parts given as
// (name, filename or "" for a plain field, content).
func rawMultipart(t *testing.T, parts ...[3]string) (io.Reader, http.Header) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p[1] == "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p[0]))
		} else {
			// Quoted the way the SDK quotes (only \ and " escaped), so
			// control characters reach the server as sent.
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="%s"`, p[0], quoteEscaper.Replace(p[1])))
			h.Set("Content-Type", "application/octet-stream")
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[2])
	}
	mw.Close()
	return &buf, http.Header{"Content-Type": {mw.FormDataContentType()}}
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// rawErrorBody decodes the error envelope of a raw response.
func rawErrorBody(t *testing.T, resp *http.Response) (typ, msg, code string) {
	t.Helper()
	var b struct {
		Error struct {
			Type    string         `json:"type"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("not an error envelope (%d): %s", resp.StatusCode, raw)
	}
	code, _ = b.Error.Details["error_code"].(string)
	return b.Error.Type, b.Error.Message, code
}

// What the SDK cannot send: malformed and incomplete multipart
// bodies are 400s naming the problem.
func TestFilesUploadRawHTTP(t *testing.T) {
	s := testserver.Start(t)
	for _, tc := range []struct {
		name   string
		body   func() (io.Reader, http.Header)
		status int
		want   string
	}{
		{"json body", func() (io.Reader, http.Header) {
			return strings.NewReader(`{"file":"x"}`), http.Header{"Content-Type": {"application/json"}}
		}, 400, "multipart/form-data"},
		{"no boundary", func() (io.Reader, http.Header) {
			return strings.NewReader("x"), http.Header{"Content-Type": {"multipart/form-data"}}
		}, 400, "boundary"},
		{"truncated body", func() (io.Reader, http.Header) {
			return strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc"),
				http.Header{"Content-Type": {"multipart/form-data; boundary=XX"}}
		}, 400, "malformed multipart body"},
		{"missing file", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"expires_in_seconds", "", "3600"})
		}, 400, "file: field required"},
		{"two files", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"file", "a.txt", "a"}, [3]string{"file", "b.txt", "b"})
		}, 400, "exactly one file"},
		{"unknown part", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"file", "a.txt", "a"}, [3]string{"purpose", "", "x"})
		}, 400, "purpose: unknown field"},
		{"non-integer expiry", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"file", "a.txt", "a"}, [3]string{"expires_in_seconds", "", "soon"})
		}, 400, "expires_in_seconds: must be an integer"},
		{"control characters in filename", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"file", "a\tb.txt", "a"})
		}, 400, "control characters"},
		{"overlong filename", func() (io.Reader, http.Header) {
			return rawMultipart(t, [3]string{"file", strings.Repeat("n", 256), "a"})
		}, 400, "at most 255 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, h := tc.body()
			resp := s.Do(t, "POST", "/v1/files", body, h)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			typ, msg, _ := rawErrorBody(t, resp)
			if typ != "invalid_request_error" || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %s %q, want message containing %q", typ, msg, tc.want)
			}
		})
	}
	// A plain file part (no filename parameter) is an unnamed upload.
	body, h := rawMultipart(t, [3]string{"file", "", "plain words"})
	resp := s.Do(t, "POST", "/v1/files", body, h)
	var f struct {
		Filename string `json:"filename"`
		MimeType string `json:"mime_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain part: %d %v", resp.StatusCode, err)
	}
	if f.Filename != "unnamed.txt" || f.MimeType != "text/plain" {
		t.Fatalf("plain part stored as %q %q", f.Filename, f.MimeType)
	}
	// Nothing but that one file was stored.
	if n := countBlobs(t, s, "files"); n != 1 {
		t.Fatalf("%d blobs stored, want 1", n)
	}
}

// Uploads over --max-upload-bytes are 413 request_too_large and leave
// nothing behind.
func TestFilesUploadTooLarge(t *testing.T) {
	s := testserver.Start(t, testserver.WithArgs("--max-upload-bytes", "1024"))
	c := s.Client("")
	ctx := context.Background()
	_, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{
		File: anthropic.File(strings.NewReader(strings.Repeat("x", 1025)), "big.txt", "text/plain"),
	})
	apiErr(t, err, 413, "request_too_large")
	f := uploadFile(t, c, "exact.txt", "text/plain", strings.Repeat("x", 1024))
	if f.SizeBytes != 1024 {
		t.Fatalf("size %d", f.SizeBytes)
	}
	page, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != f.ID {
		t.Fatalf("list after a failed upload: %s", page.RawJSON())
	}
	if n := countBlobs(t, s, "files"); n != 1 {
		t.Fatalf("%d blobs stored, want 1", n)
	}
}

// Files belong to their workspace; other workspaces see 404s.
func TestFilesWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	mine := s.Client("")
	other := s.Client(s.CreateKey(t, "wrkspc_other"))
	f := uploadFile(t, mine, "secret.txt", "text/plain", "mine")
	theirs := uploadFile(t, other, "theirs.txt", "text/plain", "theirs")

	_, err := other.Beta.Files.GetMetadata(ctx, f.ID, anthropic.BetaFileGetMetadataParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Files.Delete(ctx, f.ID, anthropic.BetaFileDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	page, err := other.Beta.Files.List(ctx, anthropic.BetaFileListParams{IDs: []string{f.ID, theirs.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != theirs.ID {
		t.Fatalf("other workspace lists %s", page.RawJSON())
	}
	// The owner still has it, bytes intact.
	resp, err := mine.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "mine" {
		t.Fatalf("owner downloads %q", b)
	}
}

// countBlobs counts the stored blobs under a prefix of the data directory.
func countBlobs(t *testing.T, s *testserver.Server, prefix string) int {
	t.Helper()
	n := 0
	root := filepath.Join(s.DataDir, "blobs", prefix)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
