package sessions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/files"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// maxRubricFileBytes bounds a file rubric: the bound of a text rubric
// (262,144 characters), in bytes.
const maxRubricFileBytes = 262144

// resolveRubrics replaces each user.define_outcome's file rubric with the
// file's text, as the hosted service does (the SDK documents that file
// rubrics are echoed resolved to their text): the outcome then carries its
// rubric in the log, and a file deleted later changes nothing.
func (h *Handler) resolveRubrics(ctx context.Context, ws string, evs []wire.EventPayload) error {
	for i, ev := range evs {
		d, ok := ev.(*wire.UserDefineOutcomeEvent)
		if !ok || d.Rubric.Type != wire.SourceFile {
			continue
		}
		field := fmt.Sprintf("events[%d].rubric.file_id", i)
		text, err := h.rubricText(ctx, ws, field, d.Rubric.FileID)
		if err != nil {
			return err
		}
		d.Rubric = wire.Rubric{Type: wire.BlockText, Content: text}
	}
	return nil
}

func (h *Handler) rubricText(ctx context.Context, ws, field, fileID string) (string, error) {
	rec, err := h.st.Get(ctx, ws, store.KindFile, fileID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return "", errdefs.Invalid("%s: file %s not found", field, fileID)
	}
	if err != nil {
		return "", err
	}
	meta, err := files.Decode(rec)
	if err != nil {
		return "", err
	}
	if meta.SizeBytes > maxRubricFileBytes {
		return "", errdefs.Invalid("%s: file %s is %d bytes; a rubric file holds at most %d bytes of text", field, fileID, meta.SizeBytes, maxRubricFileBytes)
	}
	if h.blobs == nil {
		return "", errdefs.Invalid("%s: this server keeps no file contents, so a rubric must be given as text", field)
	}
	f, err := h.blobs.Open(files.BlobKey(fileID))
	if err != nil {
		return "", errdefs.Internal(err, "open rubric file %s", fileID)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRubricFileBytes+1))
	if err != nil {
		return "", errdefs.Internal(err, "read rubric file %s", fileID)
	}
	if len(b) > maxRubricFileBytes {
		return "", errdefs.Invalid("%s: file %s holds more than %d bytes; a rubric file holds at most %d bytes of text", field, fileID, maxRubricFileBytes, maxRubricFileBytes)
	}
	if !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
		return "", errdefs.Invalid("%s: file %s is not UTF-8 text; a rubric file must be plain text or markdown", field, fileID)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", errdefs.Invalid("%s: file %s is empty; a rubric must state its criteria", field, fileID)
	}
	return string(b), nil
}
