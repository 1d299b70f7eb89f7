package memory

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
		p, err := CleanPath(at+".path", e.Path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[p]; dup {
			return nil, errdefs.Invalid("%s.path: %q is the same path as %s[%d].path", at, p, field, j)
		}
		seen[p] = i
		if err := CheckContent(at+".content", e.Content); err != nil {
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
	if _, err := WritableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
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
	have := make(map[string]wire.Memory, len(page.Records))
	for _, rec := range page.Records {
		var m wire.Memory
		if err := json.Unmarshal(rec.Data, &m); err != nil {
			return errdefs.Internal(err, "decode memory %s", rec.ID)
		}
		if _, keep := want[m.Path]; !keep {
			if err := DeleteMemory(ctx, tx, ws, storeID, m.ID, "", by); err != nil {
				return err
			}
			continue
		}
		have[m.Path] = m
	}
	for _, e := range entries {
		content := e.Content
		if cur, ok := have[e.Path]; ok {
			// An unchanged memory gets no version (UpdateMemory's rule).
			if _, err := UpdateMemory(ctx, tx, ws, storeID, cur.ID, Change{Content: &content}, "", by); err != nil {
				return err
			}
			continue
		}
		if _, err := CreateMemory(ctx, tx, ws, storeID, e.Path, content, by); err != nil {
			return err
		}
	}
	return nil
}
