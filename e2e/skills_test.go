package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// skillMD is a valid SKILL.md for name.
func skillMD(name, description string) string {
	return "---\nname: " + name + "\ndescription: " + description + "\nlicense: MIT\n---\n\n# " + name + "\n\nUse it well.\n"
}

// skillParts turns path → content pairs into files[] readers, sent in the
// order given.
func skillParts(kv ...string) []io.Reader {
	var out []io.Reader
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, anthropic.File(strings.NewReader(kv[i+1]), kv[i], "text/plain"))
	}
	return out
}

// zipOf builds a zip archive of path → content pairs.
func zipOf(t *testing.T, kv ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(kv); i += 2 {
		w, err := zw.Create(kv[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, kv[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readZip returns the entries of a downloaded archive.
func readZip(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("download is not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(c)
	}
	return out
}

func archiveNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newSkill(t *testing.T, c anthropic.Client, p anthropic.BetaSkillNewParams) *anthropic.BetaSkill {
	t.Helper()
	s, err := c.Beta.Skills.New(context.Background(), p)
	if err != nil {
		t.Fatalf("create skill: %v", err)
	}
	return s
}

// Create a skill from a directory upload, read it and its latest
// version back, and download the version's archive.
func TestSkillsCreateGetDownload(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	md := skillMD("pdf-tools", "Fill and merge PDF forms.")
	script := "#!/bin/sh\necho merged\n"

	sk := newSkill(t, c, anthropic.BetaSkillNewParams{
		Files:       skillParts("pdf-tools/SKILL.md", md, "pdf-tools/scripts/merge.sh", script, "pdf-tools/ref/forms.md", "# forms"),
		DisplayName: anthropic.String("PDF tools"),
	})
	if !strings.HasPrefix(sk.ID, "skill_") || sk.DisplayName != "PDF tools" || sk.Type != "skill" ||
		sk.Source.Type != anthropic.BetaSkillSourceTypeCustom || sk.LatestVersionID == "" ||
		!sk.CreatedAt.Equal(sk.UpdatedAt) || sk.CreatedAt.Before(before) {
		t.Fatalf("unexpected skill: %s", sk.RawJSON())
	}
	got, err := c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.RawJSON() != sk.RawJSON() {
		t.Fatalf("get differs from create:\n%s\n%s", got.RawJSON(), sk.RawJSON())
	}

	// The alias latest resolves to latest_version_id.
	v, err := c.Beta.Skills.Versions.Get(ctx, "latest", anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != sk.LatestVersionID || v.SkillID != sk.ID || v.Name != "pdf-tools" ||
		v.Description != "Fill and merge PDF forms." || v.Type != "skill_version" || !v.CreatedAt.Equal(sk.CreatedAt) {
		t.Fatalf("unexpected version: %s", v.RawJSON())
	}
	byID, err := c.Beta.Skills.Versions.Get(ctx, v.ID, anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	if err != nil || byID.RawJSON() != v.RawJSON() {
		t.Fatalf("get by id: %v %s", err, byID.RawJSON())
	}

	for _, ver := range []string{v.ID, "latest"} {
		resp, err := c.Beta.Skills.Versions.Download(ctx, ver, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/zip" {
			t.Fatalf("Content-Type %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "pdf-tools.zip") {
			t.Fatalf("Content-Disposition %q", cd)
		}
		entries := readZip(t, resp)
		want := map[string]string{"pdf-tools/SKILL.md": md, "pdf-tools/scripts/merge.sh": script, "pdf-tools/ref/forms.md": "# forms"}
		if !slices.Equal(archiveNames(entries), archiveNames(want)) {
			t.Fatalf("archive entries %v, want %v", archiveNames(entries), archiveNames(want))
		}
		for k, w := range want {
			if entries[k] != w {
				t.Fatalf("%s = %q, want %q", k, entries[k], w)
			}
		}
	}
}

// The name comes from the front matter or else the directory, the
// display name defaults to it, and a zip upload works like a directory.
func TestSkillsCreateVariants(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	noName := "---\ndescription: >\n  Folded\n  description.\n---\nbody\n"
	for _, tc := range []struct {
		name        string
		files       []io.Reader
		wantName    string
		wantDesc    string
		wantEntries []string
	}{
		{"display name defaults to the name", skillParts("dir/SKILL.md", skillMD("report-writer", "Writes reports.")),
			"report-writer", "Writes reports.", []string{"report-writer/SKILL.md"}},
		{"name from the directory", skillParts("csv-cleaner/SKILL.md", noName, "csv-cleaner/a/b/c.txt", "deep"),
			"csv-cleaner", "Folded description.", []string{"csv-cleaner/SKILL.md", "csv-cleaner/a/b/c.txt"}},
		{"zip with a wrapper directory", []io.Reader{anthropic.File(bytes.NewReader(zipOf(t,
			"wrapped/SKILL.md", skillMD("zip-skill", "From a zip."), "wrapped/lib/util.py", "print(1)")), "wrapped.zip", "application/zip")},
			"zip-skill", "From a zip.", []string{"zip-skill/SKILL.md", "zip-skill/lib/util.py"}},
		{"flat zip", []io.Reader{anthropic.File(bytes.NewReader(zipOf(t,
			"SKILL.md", skillMD("flat-skill", "Flat."), "notes.txt", "n", "__MACOSX/._notes.txt", "junk")), "flat.zip", "")},
			"flat-skill", "Flat.", []string{"flat-skill/SKILL.md", "flat-skill/notes.txt"}},
		{"backslash paths", skillParts(`win\SKILL.md`, skillMD("win-skill", "Windows."), `win\x.txt`, "x"),
			"win-skill", "Windows.", []string{"win-skill/SKILL.md", "win-skill/x.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk := newSkill(t, c, anthropic.BetaSkillNewParams{Files: tc.files})
			if sk.DisplayName != tc.wantName {
				t.Fatalf("display_name %q, want %q", sk.DisplayName, tc.wantName)
			}
			v, err := c.Beta.Skills.Versions.Get(ctx, sk.LatestVersionID, anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
			if err != nil {
				t.Fatal(err)
			}
			if v.Name != tc.wantName || v.Description != tc.wantDesc {
				t.Fatalf("version name %q description %q", v.Name, v.Description)
			}
			resp, err := c.Beta.Skills.Versions.Download(ctx, v.ID, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got := archiveNames(readZip(t, resp)); !slices.Equal(got, tc.wantEntries) {
				t.Fatalf("entries %v, want %v", got, tc.wantEntries)
			}
		})
	}
}

// Versions are immutable uploads; latest_version_id follows
// additions and deletions; a skill always keeps one version.
func TestSkillsVersions(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	sk := newSkill(t, c, anthropic.BetaSkillNewParams{Files: skillParts("notes/SKILL.md", skillMD("notes", "Version one."))})
	v1 := sk.LatestVersionID

	v2, err := c.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{
		Files: skillParts("notes/SKILL.md", skillMD("notes", "Version two."), "notes/extra.txt", "more"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v2.ID <= v1 || len(v2.ID) != len(v1) || v2.SkillID != sk.ID || v2.Name != "notes" || v2.Description != "Version two." || v2.Type != "skill_version" {
		t.Fatalf("v1 %s, v2 %s", v1, v2.RawJSON())
	}
	got, err := c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.LatestVersionID != v2.ID || !got.UpdatedAt.After(got.CreatedAt) || !got.CreatedAt.Equal(sk.CreatedAt) {
		t.Fatalf("skill after a new version: %s", got.RawJSON())
	}
	latest, err := c.Beta.Skills.Versions.Get(ctx, "latest", anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	if err != nil || latest.ID != v2.ID {
		t.Fatalf("latest: %v %v", err, latest)
	}
	// The old version keeps its own content.
	resp, err := c.Beta.Skills.Versions.Download(ctx, v1, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
	if err != nil {
		t.Fatal(err)
	}
	if e := readZip(t, resp); len(e) != 1 || !strings.Contains(e["notes/SKILL.md"], "Version one.") {
		t.Fatalf("v1 archive %v", archiveNames(e))
	}

	// Lists are newest first and page.
	page, err := c.Beta.Skills.Versions.List(ctx, sk.ID, anthropic.BetaSkillVersionListParams{Limit: anthropic.Int(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != v2.ID || page.NextPage == "" {
		t.Fatalf("first version page: %s", page.RawJSON())
	}
	page, err = c.Beta.Skills.Versions.List(ctx, sk.ID, anthropic.BetaSkillVersionListParams{Limit: anthropic.Int(1), Page: anthropic.String(page.NextPage)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != v1 || page.NextPage != "" {
		t.Fatalf("second version page: %s", page.RawJSON())
	}

	// A new version must keep the skill's name.
	_, err = c.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{Files: skillParts("other/SKILL.md", skillMD("other", "Renamed."))})
	wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), `keep the skill's name "notes"`)

	// Deleting the latest version moves latest back.
	del, err := c.Beta.Skills.Versions.Delete(ctx, "latest", anthropic.BetaSkillVersionDeleteParams{SkillID: sk.ID})
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != v2.ID || del.Type != "skill_version_deleted" {
		t.Fatalf("delete receipt %s", del.RawJSON())
	}
	got, _ = c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	if got.LatestVersionID != v1 {
		t.Fatalf("latest after delete %s, want %s", got.LatestVersionID, v1)
	}
	_, err = c.Beta.Skills.Versions.Get(ctx, v2.ID, anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Skills.Versions.Download(ctx, v2.ID, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")

	// The only version cannot go; the skill can, and takes it along.
	_, err = c.Beta.Skills.Versions.Delete(ctx, v1, anthropic.BetaSkillVersionDeleteParams{SkillID: sk.ID})
	wantMessage(t, apiErr(t, err, 409, ""), "only version")
	sdel, err := c.Beta.Skills.Delete(ctx, sk.ID, anthropic.BetaSkillDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if sdel.ID != sk.ID || sdel.Type != "skill_deleted" {
		t.Fatalf("skill delete receipt %s", sdel.RawJSON())
	}
	_, err = c.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Skills.Versions.Get(ctx, "latest", anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Skills.Versions.List(ctx, sk.ID, anthropic.BetaSkillVersionListParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = c.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{Files: skillParts("notes/SKILL.md", skillMD("notes", "Again."))})
	apiErr(t, err, 404, "not_found_error")
	if n := countBlobs(t, s, "skills"); n != 0 {
		t.Fatalf("%d archives left after deleting the skill", n)
	}
}

// Bad uploads are 400s that name the file or field at fault, and
// nothing is stored.
func TestSkillsCreateInvalid(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	ok := skillMD("good-skill", "Fine.")
	fm := func(body string) string { return "---\n" + body + "\n---\n" }
	zipFile := func(kv ...string) []io.Reader {
		return []io.Reader{anthropic.File(bytes.NewReader(zipOf(t, kv...)), "bundle.zip", "application/zip")}
	}
	for _, tc := range []struct {
		name    string
		files   []io.Reader
		display string
		want    string
	}{
		{"no SKILL.md", skillParts("s/README.md", "hi"), "", "SKILL.md is required"},
		{"SKILL.md not at the root", skillParts("s/sub/SKILL.md", ok), "", "SKILL.md is required"},
		{"not in a directory", skillParts("SKILL.md", ok), "", `"SKILL.md" is not inside a top-level directory`},
		{"two top directories", skillParts("a/SKILL.md", ok, "b/x.txt", "x"), "", "one top-level directory"},
		{"path traversal", skillParts("s/SKILL.md", ok, "s/../../etc/passwd", "x"), "", `"s/../../etc/passwd": path traversal`},
		{"absolute path", skillParts("/s/SKILL.md", ok), "", `"/s/SKILL.md": absolute paths`},
		{"drive letter", skillParts(`C:\s\SKILL.md`, ok), "", "absolute paths"},
		{"duplicate path", skillParts("s/SKILL.md", ok, "s/./SKILL.md", ok), "", "same path"},
		{"zip traversal", zipFile("s/SKILL.md", ok, "s/../../evil.sh", "x"), "", `"s/../../evil.sh": path traversal`},
		{"zip without SKILL.md", zipFile("s/a.txt", "a"), "", "SKILL.md is required"},
		{"not a zip", []io.Reader{anthropic.File(strings.NewReader("PK nope"), "bundle.zip", "application/zip")}, "", `"bundle.zip" is not a zip archive`},
		{"corrupt zip", []io.Reader{anthropic.File(strings.NewReader("PK\x03\x04garbage"), "bundle.zip", "application/zip")}, "", "not a valid zip archive"},
		{"no front matter", skillParts("s/SKILL.md", "# Title\n"), "", "must begin with YAML front matter"},
		{"unclosed front matter", skillParts("s/SKILL.md", "---\nname: s\n"), "", "not closed"},
		{"invalid YAML", skillParts("s/SKILL.md", fm("name: [unclosed\ndescription: x")), "", "invalid YAML"},
		{"front matter not a mapping", skillParts("s/SKILL.md", fm("- a\n- b")), "", "YAML mapping"},
		{"name not a string", skillParts("s/SKILL.md", fm("name: [a]\ndescription: d")), "", "name: must be a string"},
		{"uppercase name", skillParts("s/SKILL.md", fm("name: My-Skill\ndescription: d")), "", "kebab-case"},
		{"name too long", skillParts("s/SKILL.md", fm("name: "+strings.Repeat("a", 65)+"\ndescription: d")), "", "at most 64 characters"},
		{"reserved word", skillParts("s/SKILL.md", fm("name: claude-helper\ndescription: d")), "", `reserved word "claude"`},
		{"bad directory name", skillParts("My Skill/SKILL.md", fm("description: d")), "", `directory name "My Skill"`},
		{"missing description", skillParts("s/SKILL.md", fm("name: s")), "", "description: field required"},
		{"description too long", skillParts("s/SKILL.md", fm("name: s\ndescription: "+strings.Repeat("d", 1025))), "", "at most 1024 characters"},
		{"XML in description", skillParts("s/SKILL.md", fm("name: s\ndescription: use <tool>x</tool>")), "", "XML tags"},
		{"display name too long", skillParts("s/SKILL.md", ok), strings.Repeat("d", 256), "display_name: must be at most 255 characters"},
		{"display name two lines", skillParts("s/SKILL.md", ok), "a\nb", "display_name: must be a single line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := anthropic.BetaSkillNewParams{Files: tc.files}
			if tc.display != "" {
				p.DisplayName = anthropic.String(tc.display)
			}
			_, err := c.Beta.Skills.New(ctx, p)
			wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), tc.want)
		})
	}
	_, err := c.Beta.Skills.New(ctx, anthropic.BetaSkillNewParams{})
	wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), "files[]: field required")

	page, err := c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 {
		t.Fatalf("failed uploads created skills: %s", page.RawJSON())
	}
	if n := countBlobs(t, s, "skills"); n != 0 {
		t.Fatalf("failed uploads left %d archives", n)
	}
}

// What the SDK cannot send: parts it never writes, and a display_name on a
// version upload.
func TestSkillsUploadRawHTTP(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	sk := newSkill(t, c, anthropic.BetaSkillNewParams{Files: skillParts("raw/SKILL.md", skillMD("raw", "Raw."))})
	ok := [3]string{"files[]", "raw/SKILL.md", skillMD("raw", "Raw.")}
	for _, tc := range []struct {
		name, path string
		parts      [][3]string
		status     int
		want       string
	}{
		{"display_name on a version", "/v1/skills/" + sk.ID + "/versions", [][3]string{ok, {"display_name", "", "x"}}, 400, "display_name: unknown field"},
		{"unknown part", "/v1/skills", [][3]string{ok, {"title", "", "x"}}, 400, "title: unknown field"},
		{"file part without filename", "/v1/skills", [][3]string{{"files[]", "", "x"}}, 400, "needs a filename"},
		{"repeated display_name", "/v1/skills", [][3]string{ok, {"display_name", "", "a"}, {"display_name", "", "b"}}, 400, "more than once"},
		{"files without brackets", "/v1/skills", [][3]string{{"files", "raw/SKILL.md", skillMD("raw", "Raw.")}}, 200, ""},
		{"unknown skill", "/v1/skills/skill_nope/versions", [][3]string{ok}, 404, "skill_nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, h := rawMultipart(t, tc.parts...)
			resp := s.Do(t, "POST", tc.path, body, h)
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status != 200 {
				if _, msg, _ := rawErrorBody(t, resp); !strings.Contains(msg, tc.want) {
					t.Fatalf("message %q, want %q", msg, tc.want)
				}
			}
		})
	}
	resp := s.Do(t, "GET", "/v1/skills?source=bogus", nil, nil)
	if typ, msg, _ := rawErrorBody(t, resp); resp.StatusCode != 400 || typ != "invalid_request_error" || !strings.Contains(msg, "source") {
		t.Fatalf("source=bogus: %d %s %q", resp.StatusCode, typ, msg)
	}
}

// Skill lists page newest first, carry has_more, and filter
// by source.
func TestSkillsList(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	var made []string
	for i := range 3 {
		name := fmt.Sprintf("skill-%c", 'a'+i)
		made = append(made, newSkill(t, c, anthropic.BetaSkillNewParams{Files: skillParts(name+"/SKILL.md", skillMD(name, "d"))}).ID)
	}
	page, err := c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != made[2] || page.Data[1].ID != made[1] || page.NextPage == "" || !strings.Contains(page.RawJSON(), `"has_more":true`) {
		t.Fatalf("first page: %s", page.RawJSON())
	}
	var all []string
	iter := c.Beta.Skills.ListAutoPaging(ctx, anthropic.BetaSkillListParams{Limit: anthropic.Int(1), Source: anthropic.String("custom")})
	for iter.Next() {
		all = append(all, iter.Current().ID)
	}
	if iter.Err() != nil || !slices.Equal(all, []string{made[2], made[1], made[0]}) {
		t.Fatalf("auto-paging: %v %v", all, iter.Err())
	}
	page, err = c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{Source: anthropic.String("anthropic")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 || page.NextPage != "" {
		t.Fatalf("source=anthropic: %s", page.RawJSON())
	}
	_, err = c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{Limit: anthropic.Int(1001)})
	wantMessage(t, apiErr(t, err, 400, "invalid_request_error"), "limit")
}

// Uploads over --max-upload-bytes are 413s, counted over all files of a
// directory upload and over the uncompressed content of a zip.
func TestSkillsUploadTooLarge(t *testing.T) {
	s := testserver.Start(t, testserver.WithArgs("--max-upload-bytes", "1024"))
	c := s.Client("")
	ctx := context.Background()
	md := skillMD("big", "Big.")
	_, err := c.Beta.Skills.New(ctx, anthropic.BetaSkillNewParams{Files: skillParts("big/SKILL.md", md, "big/a.txt", strings.Repeat("a", 600), "big/b.txt", strings.Repeat("b", 600))})
	apiErr(t, err, 413, "request_too_large")
	bomb := zipOf(t, "big/SKILL.md", md, "big/zeros.bin", strings.Repeat("\x00", 100_000))
	if len(bomb) > 1024 {
		t.Fatalf("test zip is %d bytes", len(bomb))
	}
	_, err = c.Beta.Skills.New(ctx, anthropic.BetaSkillNewParams{Files: []io.Reader{anthropic.File(bytes.NewReader(bomb), "big.zip", "application/zip")}})
	apiErr(t, err, 413, "request_too_large")
	sk := newSkill(t, c, anthropic.BetaSkillNewParams{Files: skillParts("big/SKILL.md", md, "big/a.txt", strings.Repeat("a", 600))})
	_, err = c.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{Files: skillParts("big/SKILL.md", md, "big/a.txt", strings.Repeat("a", 1000))})
	apiErr(t, err, 413, "request_too_large")
	page, err := c.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("skills after failed uploads: %v %s", err, page.RawJSON())
	}
	if n := countBlobs(t, s, "skills"); n != 1 {
		t.Fatalf("%d archives stored, want 1", n)
	}
}

// Skills belong to their workspace.
func TestSkillsWorkspaceIsolation(t *testing.T) {
	s := testserver.Start(t)
	ctx := context.Background()
	mine := s.Client("")
	other := s.Client(s.CreateKey(t, "wrkspc_other"))
	sk := newSkill(t, mine, anthropic.BetaSkillNewParams{Files: skillParts("mine/SKILL.md", skillMD("mine", "Mine."))})

	_, err := other.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Versions.Get(ctx, "latest", anthropic.BetaSkillVersionGetParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Versions.Download(ctx, sk.LatestVersionID, anthropic.BetaSkillVersionDownloadParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Versions.List(ctx, sk.ID, anthropic.BetaSkillVersionListParams{})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Versions.New(ctx, sk.ID, anthropic.BetaSkillVersionNewParams{Files: skillParts("mine/SKILL.md", skillMD("mine", "Hijack."))})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Versions.Delete(ctx, sk.LatestVersionID, anthropic.BetaSkillVersionDeleteParams{SkillID: sk.ID})
	apiErr(t, err, 404, "not_found_error")
	_, err = other.Beta.Skills.Delete(ctx, sk.ID, anthropic.BetaSkillDeleteParams{})
	apiErr(t, err, 404, "not_found_error")
	page, err := other.Beta.Skills.List(ctx, anthropic.BetaSkillListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("other workspace lists: %v %s", err, page.RawJSON())
	}
	if _, err := mine.Beta.Skills.Get(ctx, sk.ID, anthropic.BetaSkillGetParams{}); err != nil {
		t.Fatalf("owner lost the skill: %v", err)
	}
}
