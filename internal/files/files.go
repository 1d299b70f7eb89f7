// Package files owns what a file is, wherever it comes from (an upload, a
// session resource's copy, a session's output): where its bytes live in the
// blob store, its metadata record, its name and its MIME type, and creating
// one with nothing left behind on failure. The API packages keep only the
// HTTP handling.
package files

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// maxFilename is the longest filename kept, in characters.
const maxFilename = 255

// BlobKey is where a file's bytes live in the blob store. File ids are
// minted by the server, so the key is always a safe path.
func BlobKey(fileID string) string { return "files/" + fileID }

// NewFile describes content the server files on its own behalf.
type NewFile struct {
	Workspace string
	// ScopeID is the session the file belongs to, or "".
	ScopeID  string
	Filename string
	// MimeType, when empty, is derived from Filename and the content.
	MimeType string
	Content  io.Reader
	// Limit caps the content size (0: no limit); over it is a TooLarge error.
	Limit           int64
	ExpiresAt       *time.Time
	NotDownloadable bool
}

// Create stores a file and its metadata; on failure nothing is left behind.
func Create(ctx context.Context, st store.Store, blobs *blob.FS, nf NewFile) (wire.FileMetadata, error) {
	id := ids.New(ids.File)
	meta, err := Put(ctx, blobs, id, nf.Filename, nf.MimeType, nf.Content, nf.Limit)
	if err != nil {
		return wire.FileMetadata{}, err
	}
	if nf.ScopeID != "" {
		meta.Scope = &wire.FileScope{ID: nf.ScopeID, Type: wire.FileScopeType}
	}
	meta.Downloadable = !nf.NotDownloadable
	meta.ExpiresAt = nf.ExpiresAt
	if err := Insert(ctx, st, nf.Workspace, meta, nf.ScopeID); err != nil {
		if rerr := blobs.Delete(BlobKey(id)); rerr != nil {
			err = fmt.Errorf("%w (its content %s remains: %v)", err, id, rerr)
		}
		return wire.FileMetadata{}, err
	}
	return meta, nil
}

// Put writes the content of file id and returns its metadata, not yet
// recorded (Insert does that): the filename cleaned (CleanFilename), the
// type resolved from the declared one, the name and the first bytes
// (ResolveType), downloadable and unscoped. limit caps the size (0: none).
func Put(ctx context.Context, blobs *blob.FS, id, filename, declaredType string, content io.Reader, limit int64) (wire.FileMetadata, error) {
	name, err := CleanFilename(filename)
	if err != nil {
		return wire.FileMetadata{}, err
	}
	br := bufio.NewReaderSize(content, 512)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return wire.FileMetadata{}, err
	}
	typ := ResolveType(declaredType, name, head)
	n, _, err := blobs.Put(ctx, BlobKey(id), br, limit)
	if err != nil {
		return wire.FileMetadata{}, err
	}
	if name == "" {
		name = "unnamed" + extensionByType(typ)
	}
	return wire.FileMetadata{
		ID: id, CreatedAt: wire.Now(), Filename: name, MimeType: typ,
		SizeBytes: n, Type: wire.FileType, Downloadable: true,
	}, nil
}

// Inserter is what Insert needs: the store or a transaction.
type Inserter interface {
	Insert(ctx context.Context, r *store.Record) error
}

// Insert records m in workspace ws. parent is the record's Parent: the
// session that scopes an uploaded or output file, the resource that holds a
// session's copy (so a copy is not among the session's outputs).
func Insert(ctx context.Context, tx Inserter, ws string, m wire.FileMetadata, parent string) error {
	data, err := json.Marshal(m)
	if err != nil {
		return errdefs.Internal(err, "encode file")
	}
	return tx.Insert(ctx, &store.Record{
		Kind: store.KindFile, ID: m.ID, Workspace: ws, Parent: parent, Data: data,
		CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
	})
}

// Decode reads a file record's metadata.
func Decode(rec store.Record) (wire.FileMetadata, error) {
	var m wire.FileMetadata
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		return m, errdefs.Internal(err, "decode file %s", rec.ID)
	}
	return m, nil
}

// CopyContent copies the bytes of file from to file to. A missing source is
// a not-found error.
func CopyContent(ctx context.Context, blobs *blob.FS, from, to string) error {
	src, err := blobs.Open(BlobKey(from))
	if err != nil {
		return err
	}
	defer src.Close()
	_, _, err = blobs.Put(ctx, BlobKey(to), src, 0)
	return err
}

// CleanFilename keeps only the last path component of a client filename.
// "" means the client sent none.
func CleanFilename(raw string) (string, error) {
	name := raw
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		name = ""
	}
	if !utf8.ValidString(name) {
		return "", errdefs.Invalid("file: filename must be valid UTF-8")
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", errdefs.Invalid("file: filename must not contain control characters")
	}
	if n := utf8.RuneCountInString(name); n > maxFilename {
		return "", errdefs.Invalid("file: filename must be at most %d characters, got %d", maxFilename, n)
	}
	return name, nil
}
