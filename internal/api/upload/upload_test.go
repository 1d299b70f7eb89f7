package upload

import (
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/api/httpx"
)

func status(err error) int {
	rec := httptest.NewRecorder()
	httpx.WriteError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}

func part(t testing.TB, disposition, body string) (*multipart.Part, error) {
	t.Helper()
	raw := "--b\r\nContent-Disposition: " + disposition + "\r\n\r\n" + body + "\r\n--b--\r\n"
	return Next(multipart.NewReader(strings.NewReader(raw), "b"))
}

// The raw filename keeps its directories, which
// Part.FileName() would strip.
func TestFilename(t *testing.T) {
	for _, tc := range []struct {
		cd, want string
		has      bool
	}{
		{`form-data; name="files[]"; filename="s/SKILL.md"`, "s/SKILL.md", true},
		{`form-data; name="files[]"; filename="a \"q\".txt"`, `a "q".txt`, true},
		{`form-data; name="files[]"; filename*=UTF-8''d%C3%A9j%C3%A0%2Fvu.md`, "déjà/vu.md", true},
		{`form-data; name="display_name"`, "", false},
	} {
		p, err := part(t, tc.cd, "x")
		if err != nil {
			t.Fatal(err)
		}
		got, has, err := Filename(p)
		if err != nil || got != tc.want || has != tc.has {
			t.Errorf("Filename(%s) = %q, %v, %v; want %q, %v", tc.cd, got, has, err, tc.want, tc.has)
		}
	}
}

func TestReaderRejectsNonMultipart(t *testing.T) {
	for _, ct := range []string{"", "application/json", "multipart/form-data", "multipart/mixed; boundary=x", "text/plain; ;;"} {
		r := httptest.NewRequest("POST", "/", strings.NewReader("x"))
		r.Header.Set("Content-Type", ct)
		if _, err := Reader(httptest.NewRecorder(), r, 10); err == nil || status(err) != 400 {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}

// An over-limit body surfaces as 413 wherever the reader hits the cap.
func TestSourceClassifiesLimit(t *testing.T) {
	body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n" + strings.Repeat("x", 100) + "\r\n--b--\r\n"
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	mr, err := Reader(httptest.NewRecorder(), r, 80)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Next(mr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(Source(p))
	if status(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v (%d)", err, status(err))
	}
}

// FuzzPart: whatever the part headers and body, reading a part's name,
// filename and value never panics and fails only with a 4xx.
func FuzzPart(f *testing.F) {
	f.Add(`form-data; name="file"; filename="dir/a.txt"`, "content")
	f.Add(`form-data; name="x"; filename*=UTF-8''%E2%82%AC`, "v")
	f.Add(`form-data; name="x"; filename="unterminated`, "v")
	f.Add(`attachment`, strings.Repeat("z", 5000))
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cd, body string) {
		p, err := part(t, cd, body)
		if err != nil {
			if status(err) >= 500 {
				t.Fatalf("status %d for %v", status(err), err)
			}
			return
		}
		_ = p.FormName()
		if _, _, err := Filename(p); err != nil && status(err) != 400 {
			t.Fatalf("Filename: status %d for %v", status(err), err)
		}
		if v, err := Value(p, 4096); err != nil {
			if status(err) >= 500 {
				t.Fatalf("Value: status %d for %v", status(err), err)
			}
		} else if len(v) > 4096 {
			t.Fatalf("Value returned %d bytes", len(v))
		}
	})
}
