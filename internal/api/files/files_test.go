package files

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/files"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/wire"
)

const testWS = "wrkspc_test"

// newTestServer serves h with every request in testWS, the way api.go
// would after authentication.
func newTestServer(t *testing.T) (*Handler, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	h := New(st, blobs, 1<<20, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	h.Register(func(pattern string, hf httpx.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(httpx.WithPrincipal(r.Context(), httpx.Principal{Workspace: testWS}))
			if err := hf(w, r); err != nil {
				httpx.WriteError(w, r, slog.Default(), err)
			}
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, srv
}

func errorCode(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	var b struct {
		Error struct {
			Details struct {
				ErrorCode string `json:"error_code"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.Error.Details.ErrorCode
}

// An expired file keeps its metadata, but its bytes are
// 404 file_expired; a non-downloadable file is 400 file_not_downloadable.
func TestContentExpiredAndNotDownloadable(t *testing.T) {
	h, srv := newTestServer(t)
	ctx := context.Background()
	exp := wire.Now().Add(time.Hour)
	expiring, err := files.Create(ctx, h.st, h.blobs, files.NewFile{Workspace: testWS, Filename: "a.txt", Content: strings.NewReader("a"), ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	locked, err := files.Create(ctx, h.st, h.blobs, files.NewFile{Workspace: testWS, Filename: "b.txt", Content: strings.NewReader("b"), NotDownloadable: true})
	if err != nil {
		t.Fatal(err)
	}
	if locked.Downloadable || !expiring.Downloadable {
		t.Fatalf("downloadable flags: %v %v", locked.Downloadable, expiring.Downloadable)
	}

	resp, err := http.Get(srv.URL + "/v1/files/" + expiring.ID + "/content")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("before expiry: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	h.now = func() time.Time { return exp }
	resp, err = http.Get(srv.URL + "/v1/files/" + expiring.ID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	if status, code := errorCode(t, resp); status != 404 || code != "file_expired" {
		t.Fatalf("after expiry: %d %q", status, code)
	}
	resp, err = http.Get(srv.URL + "/v1/files/" + expiring.ID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata after expiry: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	resp, err = http.Get(srv.URL + "/v1/files/" + locked.ID + "/content")
	if err != nil {
		t.Fatal(err)
	}
	if status, code := errorCode(t, resp); status != 400 || code != "file_not_downloadable" {
		t.Fatalf("not downloadable: %d %q", status, code)
	}
}

// Files the server creates for a session carry its scope and
// are what a scope_id list returns; an unscoped list shows them too.
func TestCreateScopedAndList(t *testing.T) {
	h, srv := newTestServer(t)
	ctx := context.Background()
	const sess = "sesn_011CZkZAtmR3yMPDzynEDxu7"
	out, err := files.Create(ctx, h.st, h.blobs, files.NewFile{Workspace: testWS, ScopeID: sess, Filename: "outputs/report.md", Content: strings.NewReader("# r")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Scope == nil || out.Scope.ID != sess || out.Scope.Type != "session" || out.Filename != "report.md" || out.MimeType != "text/markdown" {
		t.Fatalf("scoped file: %+v", out)
	}
	if _, err := files.Create(ctx, h.st, h.blobs, files.NewFile{Workspace: testWS, Filename: "other.txt", Content: strings.NewReader("o")}); err != nil {
		t.Fatal(err)
	}
	list := func(q string) []wire.FileMetadata {
		resp, err := http.Get(srv.URL + "/v1/files" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p wire.ListPage[wire.FileMetadata]
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p.Data
	}
	if got := list("?scope_id=" + sess); len(got) != 1 || got[0].ID != out.ID {
		t.Fatalf("scoped list: %+v", got)
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("unscoped list: %+v", got)
	}
	if _, err := files.Create(ctx, h.st, h.blobs, files.NewFile{Workspace: testWS, Filename: "x", Content: strings.NewReader("toolong"), Limit: 3}); err == nil {
		t.Fatal("over-limit Create succeeded")
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("failed Create left a record: %+v", got)
	}
}

// FuzzUploadForm feeds arbitrary multipart bodies to the upload form
// reader: it must never panic, and every failure must be classified (a 4xx,
// never an internal error).
func FuzzUploadForm(f *testing.F) {
	add := func(parts ...[3]string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.SetBoundary("fuzzboundary")
		for _, p := range parts {
			var w io.Writer
			if p[1] == "" {
				w, _ = mw.CreateFormField(p[0])
			} else {
				w, _ = mw.CreateFormFile(p[0], p[1])
			}
			io.WriteString(w, p[2])
		}
		mw.Close()
		f.Add(buf.Bytes())
	}
	add([3]string{"file", "a.txt", "hello"})
	add([3]string{"file", "dir/b.csv", "a,b"}, [3]string{"expires_in_seconds", "", "3600"})
	add([3]string{"expires_in_seconds", "", "12"})
	add([3]string{"file", "a", "x"}, [3]string{"file", "b", "y"})
	add([3]string{"other", "", "x"})
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\nx\r\n--fuzzboundary--\r\n"))
	f.Add([]byte("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, body []byte) {
		mr := multipart.NewReader(bytes.NewReader(body), "fuzzboundary")
		var got filePart
		form, err := readUpload(mr, func(fp filePart) error {
			name, err := files.CleanFilename(fp.filename)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(fp.body)
			if err != nil {
				return err
			}
			got = fp
			_ = files.ResolveType(fp.contentType, name, b)
			return nil
		})
		if err != nil {
			if status := classOf(err); status >= 500 {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if !form.sawFile {
			t.Fatal("accepted a form without a file")
		}
		if form.expiresIn != nil && (*form.expiresIn < minExpiresIn || *form.expiresIn > maxExpiresIn) {
			t.Fatalf("accepted expires_in_seconds %d", *form.expiresIn)
		}
		if name, err := files.CleanFilename(got.filename); err == nil && strings.ContainsAny(name, `/\`) {
			t.Fatalf("filename %q keeps a directory", name)
		}
	})
}

func classOf(err error) int {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	httpx.WriteError(rec, req, slog.New(slog.DiscardHandler), err)
	return rec.Code
}
