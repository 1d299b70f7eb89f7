package skills

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/api/httpx"
)

// memFile is an in-memory spool backing, so fuzzing does not touch disk.
type memFile struct{ b []byte }

func (m *memFile) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func memSpool() *spool { return &spool{f: &memFile{}} }

func status(err error) int {
	rec := httptest.NewRecorder()
	httpx.WriteError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler), err)
	return rec.Code
}

func TestNextVersion(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_000_000)
	for _, tc := range []struct{ prev, want string }{
		{"", "1700000000000000"},
		{"1600000000000000", "1700000000000000"},
		{"1700000000000000", "1700000000000001"},
		{"1800000000000000", "1800000000000001"},
		{"garbage", "1700000000000000"},
	} {
		if got := nextVersion(now, tc.prev); got != tc.want {
			t.Errorf("nextVersion(%q) = %q, want %q", tc.prev, got, tc.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // joined segments, or "!" + error substring
	}{
		{"s/SKILL.md", "s/SKILL.md"},
		{"./s//a/./b.txt", "s/a/b.txt"},
		{`s\a\b.txt`, "s/a/b.txt"},
		{"s/../x", "!path traversal"},
		{`s\..\..\x`, "!path traversal"},
		{"/etc/passwd", "!absolute"},
		{`c:/x`, "!absolute"},
		{"", "!empty name"},
		{"./", "!not a file path"},
		{"s/a\x00b", "!control characters"},
		{"s/\xff", "!UTF-8"},
		{"s/" + strings.Repeat("x", 256), "!longer than 255"},
		{strings.Repeat("s/", 600), "!at most 1024"},
	} {
		segs, err := cleanPath(tc.in, "files[]")
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) || status(err) != 400 {
				t.Errorf("cleanPath(%q) = %v, %v; want error %q", tc.in, segs, err, tc.want[1:])
			}
			continue
		}
		if err != nil || strings.Join(segs, "/") != tc.want {
			t.Errorf("cleanPath(%q) = %v, %v; want %q", tc.in, segs, err, tc.want)
		}
	}
}

func TestParseFrontMatter(t *testing.T) {
	for _, tc := range []struct {
		in, name, desc, err string
	}{
		{"---\nname: a-b\ndescription: d\n---\nbody", "a-b", "d", ""},
		{"\ufeff---\r\nname: x\r\ndescription: \"quoted: yes\"\r\n---\r\n", "x", "quoted: yes", ""},
		{"---\ndescription: |\n  two\n  lines\n...\n", "", "two\nlines", ""},
		{"---  \nname: x\ndescription: d\n---", "x", "d", ""},
		{"# no front matter", "", "", "must begin"},
		{"---\nname: x\n", "", "", "not closed"},
		{"---\n---\n", "", "", "description: field required"},
		{"---\nname: x\ndescription: 5\n---\n", "", "", "description: must be a string"},
		{"---\n: : :\n---\n", "", "", "invalid YAML"},
		{"---\njust a string\n---\n", "", "", "YAML mapping"},
	} {
		fm, err := parseFrontMatter([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseFrontMatter(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fm.Name != tc.name || fm.Description != tc.desc {
			t.Errorf("parseFrontMatter(%q) = %+v, %v", tc.in, fm, err)
		}
	}
}

// The archive of a bundle keeps executable bits from a zip upload and puts
// every file under the skill's name.
func TestWriteArchive(t *testing.T) {
	var in bytes.Buffer
	zw := zip.NewWriter(&in)
	for _, e := range []struct {
		name string
		mode uint32
		body string
	}{{"top/SKILL.md", 0o644, "---\nname: runner\ndescription: d\n---\n"}, {"top/bin/run", 0o755, "#!/bin/sh\n"}, {"top/empty/", 0o755, ""}} {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if strings.HasSuffix(e.name, "/") {
			h.SetMode(fs.ModeDir | 0o755)
		} else {
			h.SetMode(fs.FileMode(e.mode))
		}
		w, _ := zw.CreateHeader(h)
		io.WriteString(w, e.body)
	}
	zw.Close()
	sp := memSpool()
	off, size, err := sp.add(bytes.NewReader(in.Bytes()), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBundle([]upPart{{name: "top.zip", off: off, size: size}}, sp, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeArchive(&out, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]uint32{}
	for _, f := range zr.File {
		modes[f.Name] = uint32(f.Mode().Perm())
	}
	if len(modes) != 2 || modes["runner/SKILL.md"] != 0o644 || modes["runner/bin/run"] != 0o755 {
		t.Fatalf("archive entries %v", modes)
	}
}

// FuzzFrontMatter: the SKILL.md parser never panics, only ever fails with
// a 400, and what it accepts satisfies the documented limits.
func FuzzFrontMatter(f *testing.F) {
	for _, s := range []string{
		"---\nname: my-skill\ndescription: Does things.\n---\n# body",
		"---\ndescription: >\n  folded\n---\n",
		"---\nname: &a [*a]\n---\n",
		"---\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\ndescription: d\n---\n",
		"---\r\nname: x\r\n...\r\n",
		"no front matter",
		"---\nname: x\ndescription: <b>bold</b>\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fm, err := parseFrontMatter(b)
		if err != nil {
			if status(err) != 400 {
				t.Fatalf("status %d for %v", status(err), err)
			}
			return
		}
		if fm.Description == "" || len([]rune(fm.Description)) > maxDescriptionLen || xmlTag.MatchString(fm.Description) {
			t.Fatalf("accepted description %q", fm.Description)
		}
		if fm.HasName && checkName(fm.Name, "name") == nil && !nameRE.MatchString(fm.Name) {
			t.Fatalf("accepted name %q", fm.Name)
		}
	})
}

// FuzzZipBundle: any single-part upload starting like a zip is either
// rejected with a 4xx or yields a bundle whose paths stay inside the skill
// and which writes out as a valid archive.
func FuzzZipBundle(f *testing.F) {
	mk := func(kv ...string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := 0; i+1 < len(kv); i += 2 {
			w, _ := zw.Create(kv[i])
			io.WriteString(w, kv[i+1])
		}
		zw.Close()
		return buf.Bytes()
	}
	md := "---\nname: fuzz\ndescription: d\n---\n"
	f.Add(mk("fuzz/SKILL.md", md, "fuzz/a.txt", "a"))
	f.Add(mk("SKILL.md", md))
	f.Add(mk("s/SKILL.md", md, "s/../../x", "x"))
	f.Add(mk("s/SKILL.md", md, "/abs", "x"))
	f.Add(mk("__MACOSX/._x", "", "s/SKILL.md", md))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp := memSpool()
		off, size, _ := sp.add(bytes.NewReader(data), 1<<20)
		b, err := newBundle([]upPart{{name: "f.zip", off: off, size: size}}, sp, 1<<20)
		if err != nil {
			if c := status(err); c != 400 && c != 413 {
				t.Fatalf("status %d for %v", c, err)
			}
			return
		}
		checkBundle(t, b)
	})
}

// FuzzSkillForm: arbitrary multipart bodies through the form reader and
// the directory-upload validation.
func FuzzSkillForm(f *testing.F) {
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
	md := "---\nname: s\ndescription: d\n---\n"
	add([3]string{"files[]", "s/SKILL.md", md}, [3]string{"files[]", "s/x/y.txt", "y"}, [3]string{"display_name", "", "S"})
	add([3]string{"files[]", "s/SKILL.md", md}, [3]string{"files[]", "t/x", "y"})
	add([3]string{"files[]", "../SKILL.md", md})
	add([3]string{"files", `s\SKILL.md`, md})
	add([3]string{"display_name", "", "only"})
	f.Fuzz(func(t *testing.T, body []byte) {
		sp := memSpool()
		form, err := readForm(multipart.NewReader(bytes.NewReader(body), "fuzzboundary"), sp, true, 1<<20)
		if err == nil {
			var b *bundle
			b, err = newBundle(form.parts, sp, 1<<20)
			if err == nil {
				checkBundle(t, b)
				if form.displayName != nil && checkDisplayName(*form.displayName) != nil {
					t.Fatalf("accepted display_name %q", *form.displayName)
				}
				return
			}
		}
		if c := status(err); c != 400 && c != 413 {
			t.Fatalf("status %d for %v", c, err)
		}
	})
}

func checkBundle(t *testing.T, b *bundle) {
	t.Helper()
	if checkName(b.name, "name") != nil || b.description == "" {
		t.Fatalf("accepted name %q description %q", b.name, b.description)
	}
	hasSkillMD := false
	for _, f := range b.files {
		if f.rel == skillFile {
			hasSkillMD = true
		}
		if strings.HasPrefix(f.rel, "/") || strings.Contains(f.rel, `\`) || f.rel == "" {
			t.Fatalf("unsafe path %q", f.rel)
		}
		for _, seg := range strings.Split(f.rel, "/") {
			if seg == ".." || seg == "" || seg == "." {
				t.Fatalf("unsafe path %q", f.rel)
			}
		}
	}
	if !hasSkillMD {
		t.Fatal("bundle without SKILL.md")
	}
	var out bytes.Buffer
	if err := writeArchive(&out, b, time.Unix(0, 0)); err != nil {
		if c := status(err); c != 400 && c != 413 {
			t.Fatalf("writeArchive: status %d for %v", c, err)
		}
		return
	}
	if _, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len())); err != nil {
		t.Fatalf("archive does not read back: %v", err)
	}
}
