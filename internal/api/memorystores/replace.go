package memorystores

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Entry is one memory as a path and its content, the unit in which code
// outside the API (a dream) reads and rewrites a whole store.
type Entry struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// InsertStore creates a memory store in workspace ws.
func InsertStore(ctx context.Context, tx store.Tx, ws, name, description string) (wire.MemoryStore, error) {
	now := wire.Now()
	ms := wire.MemoryStore{
		ID: ids.New(ids.MemoryStore), Type: wire.TypeMemoryStore, Name: name, Description: description,
		Metadata: wire.Metadata{}, CreatedAt: now, UpdatedAt: now,
	}
	data, err := json.Marshal(ms)
	if err != nil {
		return ms, errdefs.Internal(err, "encode memory store")
	}
	rec := store.Record{Kind: store.KindMemoryStore, ID: ms.ID, Workspace: ws, Data: data, CreatedAt: now, UpdatedAt: now}
	return ms, tx.Insert(ctx, &rec)
}

// Entries reads every memory of store storeID, in path order.
func Entries(ctx context.Context, tx store.Tx, ws, storeID string) ([]Entry, error) {
	page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true, ByName: true})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(page.Records))
	for _, rec := range page.Records {
		var m wire.Memory
		if err := json.Unmarshal(rec.Data, &m); err != nil {
			return nil, errdefs.Internal(err, "decode memory %s", rec.ID)
		}
		out = append(out, Entry{Path: m.Path, Content: *m.Content})
	}
	return out, nil
}

// CheckEntries validates entries as the memory endpoints validate a
// write, naming each bad field as field[i].path or field[i].content, and
// returns them with their paths in stored form. Two entries whose paths
// are one path once normalised are refused rather than one silently
// winning.
func CheckEntries(field string, entries []Entry) ([]Entry, error) {
	out := make([]Entry, len(entries))
	seen := make(map[string]int, len(entries))
	for i, e := range entries {
		at := fmt.Sprintf("%s[%d]", field, i)
		p, err := cleanPath(at+".path", e.Path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[p]; dup {
			return nil, errdefs.Invalid("%s.path: %q is the same path as %s[%d].path", at, p, field, j)
		}
		seen[p] = i
		if err := checkContent(at+".content", e.Content); err != nil {
			return nil, err
		}
		out[i] = Entry{Path: p, Content: e.Content}
	}
	return out, nil
}

// Replace makes the memories of store storeID exactly entries (checked
// with CheckEntries), as the memory endpoints would: a memory left out is
// deleted, a changed one modified, a new one created, each change leaving
// a version made by the actor by. Unchanged memories leave no version.
// Deletions come first, so that a path can turn from a file into a
// directory within one call.
func Replace(ctx context.Context, tx store.Tx, ws, storeID string, entries []Entry, by *wire.Actor) error {
	if _, err := writableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
		return err
	}
	want := make(map[string]string, len(entries))
	for _, e := range entries {
		want[e.Path] = e.Content
	}
	page, err := tx.List(ctx, store.ListOptions{Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true, ByName: true})
	if err != nil {
		return err
	}
	type current struct {
		rec store.Record
		m   wire.Memory
	}
	have := make(map[string]current, len(page.Records))
	for _, rec := range page.Records {
		var m wire.Memory
		if err := json.Unmarshal(rec.Data, &m); err != nil {
			return errdefs.Internal(err, "decode memory %s", rec.ID)
		}
		if _, keep := want[m.Path]; !keep {
			if _, err := insertVersion(ctx, tx, ws, m, wire.MemoryDeleted, by); err != nil {
				return err
			}
			if err := tx.Delete(ctx, ws, store.KindMemory, m.ID); err != nil {
				return err
			}
			continue
		}
		have[m.Path] = current{rec, m}
	}
	for _, e := range entries {
		content := e.Content
		now := wire.Now()
		if cur, ok := have[e.Path]; ok {
			if *cur.m.Content == content {
				continue
			}
			m := cur.m
			m.Content, m.ContentSHA256, m.ContentSizeBytes, m.UpdatedAt = &content, sha256Hex(content), int64(len(content)), now
			if m.MemoryVersionID, err = insertVersion(ctx, tx, ws, m, wire.MemoryModified, by); err != nil {
				return err
			}
			if err := saveMemory(ctx, tx, &cur.rec, m, false); err != nil {
				return err
			}
			continue
		}
		if err := pathFree(ctx, tx, ws, storeID, e.Path, ""); err != nil {
			return err
		}
		m := wire.Memory{
			ID: ids.New(ids.Memory), Type: wire.TypeMemory, MemoryStoreID: storeID, Path: e.Path,
			Content: &content, ContentSHA256: sha256Hex(content), ContentSizeBytes: int64(len(content)),
			CreatedAt: now, UpdatedAt: now,
		}
		if m.MemoryVersionID, err = insertVersion(ctx, tx, ws, m, wire.MemoryCreated, by); err != nil {
			return err
		}
		rec := store.Record{Kind: store.KindMemory, ID: m.ID, Workspace: ws, Parent: storeID, Name: m.Path, CreatedAt: now, UpdatedAt: now}
		if err := saveMemory(ctx, tx, &rec, m, true); err != nil {
			return err
		}
	}
	return nil
}
