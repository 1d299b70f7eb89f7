// Package blob owns the bytes of files, skill versions and session outputs:
// content-addressed by an object key, written atomically (temp file, fsync,
// rename) under the data directory.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// FS stores blobs as files below a directory.
type FS struct{ dir string }

// NewFS returns a blob store rooted at dir, creating it.
func NewFS(dir string) (*FS, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	return &FS{dir: dir}, nil
}

func (f *FS) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("invalid blob key %q", key)
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), nil
}

// Put writes r under key, at most limit bytes (0: no limit), and returns its
// size and SHA-256. A partially written blob never becomes visible.
func (f *FS) Put(ctx context.Context, key string, r io.Reader, limit int64) (int64, string, error) {
	dst, err := f.path(key)
	if err != nil {
		return 0, "", err
	}
	tmp, err := os.CreateTemp(filepath.Join(f.dir, "tmp"), "put-*")
	if err != nil {
		return 0, "", fmt.Errorf("create temp blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, src})
	if err != nil {
		return 0, "", fmt.Errorf("write blob: %w", err)
	}
	if limit > 0 && n > limit {
		return 0, "", errdefs.TooLarge("upload exceeds %d bytes", limit)
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", fmt.Errorf("sync blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, "", fmt.Errorf("commit blob: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Path is the host path of the blob under key, for mounting it read-only
// into a sandbox; the file may not exist.
func (f *FS) Path(key string) (string, error) { return f.path(key) }

// Open opens the blob for reading.
func (f *FS) Open(key string) (*os.File, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFound("content not found")
	}
	return file, err
}

// Delete removes the blob; a missing blob is not an error.
func (f *FS) Delete(key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
