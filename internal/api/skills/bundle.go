package skills

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Bounds on a skill's content. The member and byte limits are the ones the
// self-hosted worker enforces when it extracts a downloaded skill, so a skill
// Hangar accepts is always one a worker can install.
const (
	maxFiles        = 10_000
	maxContentBytes = 1 << 30
	maxPathLen      = 1024
	maxSegmentLen   = 255
	skillFile       = "SKILL.md"
)

// spool holds the uploaded parts on disk, back to back, so an upload is
// never buffered in memory and can still be validated as a whole (SKILL.md
// may arrive last) before anything is stored.
type spool struct {
	f interface {
		io.Writer
		io.ReaderAt
	}
	n       int64
	cleanup func()
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "hangar-skill-upload-*")
	if err != nil {
		return nil, errdefs.Internal(err, "create upload spool")
	}
	return &spool{f: f, cleanup: func() { f.Close(); os.Remove(f.Name()) }}, nil
}

func (s *spool) close() {
	if s.cleanup != nil {
		s.cleanup()
	}
}

// add appends r, keeping the spool at most limit bytes in total.
func (s *spool) add(r io.Reader, limit int64) (off, size int64, err error) {
	off = s.n
	n, err := io.Copy(s.f, io.LimitReader(r, limit-s.n+1))
	s.n += n
	if err != nil {
		return 0, 0, err
	}
	if s.n > limit {
		return 0, 0, errdefs.TooLarge("skill upload exceeds %d bytes", limit)
	}
	return off, n, nil
}

func (s *spool) section(off, size int64) *io.SectionReader {
	return io.NewSectionReader(s.f, off, size)
}

// upPart is one files[] part as spooled.
type upPart struct {
	name      string // raw filename, with directories
	off, size int64
}

// bundleFile is one file of a skill, addressed relative to the skill's
// top-level directory.
type bundleFile struct {
	rel  string
	size int64
	exec bool
	open func() (io.ReadCloser, error)
}

// bundle is a validated skill upload.
type bundle struct {
	name        string
	description string
	files       []bundleFile
}

// zipMagic opens every zip archive with a local file header.
var zipMagic = []byte("PK\x03\x04")

// newBundle validates the uploaded parts as a skill: either a directory of
// files sharing one top-level folder with SKILL.md at its root, or a single
// zip archive of the same. contentLimit bounds the uncompressed total.
func newBundle(parts []upPart, sp *spool, contentLimit int64) (*bundle, error) {
	if contentLimit <= 0 || contentLimit > maxContentBytes {
		contentLimit = maxContentBytes
	}
	if len(parts) == 1 {
		p := parts[0]
		head := make([]byte, len(zipMagic))
		n, _ := sp.section(p.off, p.size).ReadAt(head, 0)
		if n == len(zipMagic) && string(head) == string(zipMagic) {
			return zipBundle(p, sp, contentLimit)
		}
		if strings.HasSuffix(strings.ToLower(p.name), ".zip") {
			return nil, errdefs.Invalid("files[]: %q is not a zip archive", p.name)
		}
	}
	var files []rawFile
	for _, p := range parts {
		p := p
		files = append(files, rawFile{
			name: p.name, size: p.size,
			open: func() (io.ReadCloser, error) { return io.NopCloser(sp.section(p.off, p.size)), nil },
		})
	}
	return assemble(files, "files[]", true, contentLimit)
}

// rawFile is a file of the upload before its path is checked.
type rawFile struct {
	name string
	size int64
	exec bool
	open func() (io.ReadCloser, error)
}

func zipBundle(p upPart, sp *spool, contentLimit int64) (*bundle, error) {
	label := fmt.Sprintf("files[] %q", p.name)
	zr, err := zip.NewReader(sp.section(p.off, p.size), p.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, errdefs.Invalid("%s: not a valid zip archive: %v", label, err)
	}
	var files []rawFile
	for _, zf := range zr.File {
		if zf.Name == "__MACOSX" || strings.HasPrefix(zf.Name, "__MACOSX/") {
			// Finder's resource-fork shadow tree, never part of a skill.
			continue
		}
		mode := zf.Mode()
		if mode.IsDir() || strings.HasSuffix(zf.Name, "/") {
			if _, err := cleanPath(zf.Name, label); err != nil {
				return nil, err
			}
			continue
		}
		if !mode.IsRegular() {
			return nil, errdefs.Invalid("%s: entry %q is not a regular file (%s); only files and directories are allowed", label, zf.Name, fileKind(mode))
		}
		if zf.Flags&0x1 != 0 {
			return nil, errdefs.Invalid("%s: entry %q is encrypted", label, zf.Name)
		}
		if zf.Method != zip.Store && zf.Method != zip.Deflate {
			return nil, errdefs.Invalid("%s: entry %q uses unsupported compression method %d", label, zf.Name, zf.Method)
		}
		if zf.UncompressedSize64 > uint64(contentLimit) {
			return nil, errdefs.TooLarge("%s: entry %q is larger than %d bytes uncompressed", label, zf.Name, contentLimit)
		}
		zf := zf
		files = append(files, rawFile{
			name: zf.Name, size: int64(zf.UncompressedSize64), exec: mode&0o111 != 0,
			open: func() (io.ReadCloser, error) { return zf.Open() },
		})
	}
	return assemble(files, label, false, contentLimit)
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// assemble checks paths, the shared top-level directory and SKILL.md, and
// resolves the skill's name. A directory upload must wrap everything in one
// top-level folder; an archive may also hold the skill's files at its root.
func assemble(files []rawFile, label string, needTop bool, contentLimit int64) (*bundle, error) {
	if len(files) == 0 {
		return nil, errdefs.Invalid("%s: the upload contains no files", label)
	}
	if len(files) > maxFiles {
		return nil, errdefs.Invalid("%s: at most %d files are allowed, got %d", label, maxFiles, len(files))
	}
	paths := make([][]string, len(files))
	seen := make(map[string]string, len(files))
	var total int64
	for i, f := range files {
		segs, err := cleanPath(f.name, label)
		if err != nil {
			return nil, err
		}
		key := strings.Join(segs, "/")
		if prev, dup := seen[key]; dup {
			return nil, errdefs.Invalid("%s: %q and %q are the same path", label, prev, f.name)
		}
		seen[key] = f.name
		paths[i] = segs
		total += f.size
		if total > contentLimit {
			return nil, errdefs.TooLarge("%s: skill content exceeds %d bytes", label, contentLimit)
		}
	}
	top := ""
	if needTop {
		for i, segs := range paths {
			if len(segs) < 2 {
				return nil, errdefs.Invalid("%s: %q is not inside a top-level directory; upload the skill as <skill-dir>/SKILL.md and <skill-dir>/…", label, files[i].name)
			}
			if top == "" {
				top = segs[0]
			} else if segs[0] != top {
				return nil, errdefs.Invalid("%s: all files must share one top-level directory, found %q and %q", label, top, segs[0])
			}
		}
	} else {
		top = sharedTop(paths)
	}
	b := &bundle{}
	var skillMD *rawFile
	for i, segs := range paths {
		if top != "" {
			segs = segs[1:]
		}
		rel := strings.Join(segs, "/")
		if rel == skillFile {
			skillMD = &files[i]
		}
		b.files = append(b.files, bundleFile{rel: rel, size: files[i].size, exec: files[i].exec, open: files[i].open})
	}
	if skillMD == nil {
		where := "the archive's root"
		if top != "" {
			where = fmt.Sprintf("the root of the top-level directory %q", top)
		}
		return nil, errdefs.Invalid("%s: SKILL.md is required at %s", label, where)
	}
	fm, err := readFrontMatter(*skillMD)
	if err != nil {
		return nil, err
	}
	b.description = fm.Description
	if fm.HasName {
		b.name = fm.Name
		if err := checkName(b.name, "SKILL.md: front matter name"); err != nil {
			return nil, err
		}
	} else {
		if top == "" {
			return nil, errdefs.Invalid("SKILL.md: front matter name: field required (the archive has no top-level directory to take it from)")
		}
		b.name = top
		if err := checkName(b.name, fmt.Sprintf("SKILL.md: front matter has no name, and the directory name %q", top)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// sharedTop returns the one top-level directory every path lies under, or
// "" when there is none (the worker's rule for stripping a wrapper folder).
func sharedTop(paths [][]string) string {
	top := ""
	for _, segs := range paths {
		if len(segs) < 2 || (top != "" && segs[0] != top) {
			return ""
		}
		top = segs[0]
	}
	return top
}

func readFrontMatter(f rawFile) (frontMatter, error) {
	rc, err := f.open()
	if err != nil {
		return frontMatter{}, errdefs.Invalid("SKILL.md: cannot be read: %v", err)
	}
	defer rc.Close()
	head, err := io.ReadAll(io.LimitReader(rc, maxFrontMatter))
	if err != nil {
		return frontMatter{}, errdefs.Invalid("SKILL.md: cannot be read: %v", err)
	}
	if len(head) == maxFrontMatter {
		// A multi-byte rune may be cut at the limit; the front matter
		// must end well before it anyway.
		for len(head) > 0 && !utf8.Valid(head) {
			head = head[:len(head)-1]
		}
	}
	return parseFrontMatter(head)
}

// cleanPath splits an uploaded path into its segments, rejecting anything
// that could land outside the skill's directory when extracted: absolute
// paths, drive letters and ".." segments. Backslashes count as separators
// because Windows tools write them.
func cleanPath(raw, label string) ([]string, error) {
	if raw == "" {
		return nil, errdefs.Invalid("%s: a file has an empty name", label)
	}
	if !utf8.ValidString(raw) {
		return nil, errdefs.Invalid("%s: %q: path must be valid UTF-8", label, raw)
	}
	if strings.IndexFunc(raw, unicode.IsControl) >= 0 {
		return nil, errdefs.Invalid("%s: %q: path must not contain control characters", label, raw)
	}
	if len(raw) > maxPathLen {
		return nil, errdefs.Invalid("%s: %q: path must be at most %d bytes", label, raw, maxPathLen)
	}
	p := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':' && isLetter(p[0])) {
		return nil, errdefs.Invalid("%s: %q: absolute paths are not allowed", label, raw)
	}
	var segs []string
	for _, s := range strings.Split(p, "/") {
		switch s {
		case "", ".":
			continue
		case "..":
			return nil, errdefs.Invalid("%s: %q: path traversal (\"..\") is not allowed", label, raw)
		}
		if len(s) > maxSegmentLen {
			return nil, errdefs.Invalid("%s: %q: a path component is longer than %d bytes", label, raw, maxSegmentLen)
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return nil, errdefs.Invalid("%s: %q is not a file path", label, raw)
	}
	return segs, nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// writeArchive writes the bundle as the zip a version download returns:
// every file under one top-level directory named after the skill, which the
// worker strips when it installs the skill into skills/<name>/.
func writeArchive(w io.Writer, b *bundle, modified time.Time) error {
	zw := zip.NewWriter(w)
	for _, f := range b.files {
		hdr := &zip.FileHeader{Name: b.name + "/" + f.rel, Method: zip.Deflate, Modified: modified}
		mode := fs.FileMode(0o644)
		if f.exec {
			mode = 0o755
		}
		hdr.SetMode(mode)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		rc, err := f.open()
		if err != nil {
			return errdefs.Invalid("files[]: %q cannot be read: %v", f.rel, err)
		}
		_, err = io.Copy(fw, inputReader{io.LimitReader(rc, f.size+1), f.rel})
		rc.Close()
		if err != nil {
			return err
		}
	}
	return zw.Close()
}

// inputReader blames read failures on the upload (a corrupt archive member
// is the client's 400), keeping failures that are already classified.
type inputReader struct {
	r   io.Reader
	rel string
}

func (r inputReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		if _, ok := errdefs.As(err); !ok {
			err = errdefs.Invalid("files[]: %q is corrupt: %v", r.rel, err)
		}
	}
	return n, err
}
