// Package memory owns memories and memory stores as records: the rules of
// a memory's path and content, the versions every change leaves behind, and
// the write path (create, update, delete, replace a whole store) that the
// memory store endpoints, sessions' memory mounts and dreams share, so a
// change made through any of them is checked and versioned the same way.
//
// Everything is a store record: the store, each memory (named by its path
// under the store, so paths are unique per store) and each version (under
// the store too, so versions outlive their memory and go with the store).
// Every change of a memory writes the memory and its version in one
// transaction.
package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/ids"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Error types of the memory endpoints.
const (
	pathConflictError       = "memory_path_conflict_error"
	preconditionFailedError = "memory_precondition_failed_error"
)

// The most a store holds, as the hosted service documents them: a create
// past either is refused, so a store cannot grow without bound. Variables
// only so that a test can lower them.
var (
	maxMemories = 2000
	maxVersions = 250000
)

// checkRoom refuses a change that would take store storeID past its limit
// of kind (memories or versions).
func checkRoom(ctx context.Context, tx store.Tx, ws, storeID, kind string, limit int, what string) error {
	n, err := tx.Count(ctx, ws, kind, storeID, true)
	if err != nil {
		return err
	}
	if n >= limit {
		return errdefs.Invalid("memory store %s holds %d %s, the most a store may hold", storeID, n, what)
	}
	return nil
}

// CheckContent enforces the content limit.
func CheckContent(field, content string) error {
	if len(content) > maxContentBytes {
		return errdefs.Invalid("%s: must be at most %d bytes, got %d", field, maxContentBytes, len(content))
	}
	return nil
}

// CheckSHA256 accepts a lowercase hex SHA-256 digest.
func CheckSHA256(field, v string) error {
	if len(v) != 64 || strings.ToLower(v) != v {
		return errdefs.Invalid("%s: must be a lowercase hex SHA-256 digest (64 characters), got %q", field, v)
	}
	if _, err := hex.DecodeString(v); err != nil {
		return errdefs.Invalid("%s: must be a lowercase hex SHA-256 digest (64 characters), got %q", field, v)
	}
	return nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// CreateMemory creates a memory at path (already cleaned, CleanPath) with
// its created version, in tx: the API's create and a session's write
// through its mount both come here.
func CreateMemory(ctx context.Context, tx store.Tx, ws, storeID, path, content string, by *wire.Actor) (wire.Memory, error) {
	now := wire.Now()
	m := wire.Memory{
		ID: ids.New(ids.Memory), Type: wire.TypeMemory, MemoryStoreID: storeID, Path: path,
		Content: &content, ContentSHA256: sha256Hex(content), ContentSizeBytes: int64(len(content)),
		CreatedAt: now, UpdatedAt: now,
	}
	if _, err := WritableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
		return m, err
	}
	if err := pathFree(ctx, tx, ws, storeID, path, ""); err != nil {
		return m, err
	}
	if err := checkRoom(ctx, tx, ws, storeID, store.KindMemory, maxMemories, "memories"); err != nil {
		return m, err
	}
	ver, err := insertVersion(ctx, tx, ws, m, wire.MemoryCreated, by)
	if err != nil {
		return m, err
	}
	m.MemoryVersionID = ver
	rec := store.Record{Kind: store.KindMemory, ID: m.ID, Workspace: ws, Parent: storeID, Name: path, CreatedAt: now, UpdatedAt: now}
	return m, saveMemory(ctx, tx, &rec, m, true)
}

// pathFree refuses path when another memory of the store (not self) holds
// it or overlaps it: a memory at an ancestor of path (a file where path
// needs a directory) or memories below path (a directory where path would
// be a file).
func pathFree(ctx context.Context, tx store.Tx, ws, storeID, path, self string) error {
	conflict := func(rec store.Record) error {
		e := errdefs.Conflict("path: %q conflicts with the path %q of memory %s", path, rec.Name, rec.ID).
			WithField("conflicting_memory_id", rec.ID).WithField("conflicting_path", rec.Name)
		e.Type = pathConflictError
		return e
	}
	for i := len(path); i > 0; i = strings.LastIndexByte(path[:i], '/') {
		rec, err := tx.GetByName(ctx, ws, store.KindMemory, storeID, path[:i])
		if err == nil && rec.ID != self {
			return conflict(rec)
		}
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
	}
	below, err := tx.List(ctx, store.ListOptions{
		Workspace: ws, Kind: store.KindMemory, Parent: storeID, ParentSet: true,
		ByName: true, NameGTE: path + "/", NameLT: Successor(path + "/"), Limit: 2,
	})
	if err != nil {
		return err
	}
	for _, rec := range below.Records {
		if rec.ID != self {
			return conflict(rec)
		}
	}
	return nil
}

// insertVersion records m as it is after operation and returns the
// version's id.
func insertVersion(ctx context.Context, tx store.Tx, ws string, m wire.Memory, operation string, by *wire.Actor) (string, error) {
	// A deletion is always allowed, so a full store can still be emptied.
	if operation != wire.MemoryDeleted {
		if err := checkRoom(ctx, tx, ws, m.MemoryStoreID, store.KindMemoryVersion, maxVersions, "versions"); err != nil {
			return "", err
		}
	}
	path := m.Path
	v := wire.MemoryVersion{
		ID: ids.New(ids.MemoryVer), Type: wire.TypeMemoryVersion, MemoryID: m.ID, MemoryStoreID: m.MemoryStoreID,
		Operation: operation, Path: &path, CreatedAt: wire.Now(), CreatedBy: by,
	}
	if operation != wire.MemoryDeleted {
		sum, size := m.ContentSHA256, m.ContentSizeBytes
		v.Content, v.ContentSHA256, v.ContentSizeBytes = m.Content, &sum, &size
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", errdefs.Internal(err, "encode memory version")
	}
	rec := store.Record{Kind: store.KindMemoryVersion, ID: v.ID, Workspace: ws, Parent: m.MemoryStoreID, Data: data, CreatedAt: v.CreatedAt, UpdatedAt: v.CreatedAt}
	return v.ID, tx.Insert(ctx, &rec)
}

// saveMemory writes m (content included) as rec's Data, inserting or
// updating the record.
func saveMemory(ctx context.Context, tx store.Tx, rec *store.Record, m wire.Memory, insert bool) error {
	data, err := json.Marshal(m)
	if err != nil {
		return errdefs.Internal(err, "encode memory")
	}
	rec.Data, rec.Name, rec.UpdatedAt = data, m.Path, m.UpdatedAt
	if insert {
		return tx.Insert(ctx, rec)
	}
	return tx.Update(ctx, rec)
}

// GetMemory reads memory id of store storeID; a memory of another store
// (or workspace) is not found.
func GetMemory(ctx context.Context, tx store.Tx, ws, storeID, id string, m *wire.Memory) (store.Record, error) {
	rec, err := tx.Get(ctx, ws, store.KindMemory, id)
	if err == nil && rec.Parent != storeID {
		err = errdefs.NotFound("memory %s not found in memory store %s", id, storeID)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(rec.Data, m); err != nil {
		return rec, errdefs.Internal(err, "decode memory %s", id)
	}
	return rec, nil
}

// Change is what an update sets; nil leaves a field as it is.
type Change struct {
	Path    *string // cleaned (CleanPath)
	Content *string // within the limit (CheckContent)
}

// UpdateMemory applies ch to memory id in tx, only while its content hash
// is want (when want is not ""), and records a modified version unless
// nothing changed: the API's update and a session's write through its
// mount both come here, so a mount write races an API write exactly as
// two API writes do.
func UpdateMemory(ctx context.Context, tx store.Tx, ws, storeID, id string, ch Change, want string, by *wire.Actor) (wire.Memory, error) {
	var m wire.Memory
	if _, err := WritableStore(ctx, tx, ws, storeID, &wire.MemoryStore{}); err != nil {
		return m, err
	}
	rec, err := GetMemory(ctx, tx, ws, storeID, id, &m)
	if err != nil {
		return m, err
	}
	if want != "" && want != m.ContentSHA256 {
		return m, preconditionFailed("precondition.content_sha256", id, want, m.ContentSHA256)
	}
	changed := false
	if ch.Path != nil && *ch.Path != m.Path {
		if err := pathFree(ctx, tx, ws, storeID, *ch.Path, id); err != nil {
			return m, err
		}
		m.Path, changed = *ch.Path, true
	}
	if c := ch.Content; c != nil && *c != *m.Content {
		m.Content, m.ContentSHA256, m.ContentSizeBytes = c, sha256Hex(*c), int64(len(*c))
		changed = true
	}
	// An update that changes nothing is not a change: no version.
	if !changed {
		return m, nil
	}
	m.UpdatedAt = wire.Now()
	if m.MemoryVersionID, err = insertVersion(ctx, tx, ws, m, wire.MemoryModified, by); err != nil {
		return m, err
	}
	return m, saveMemory(ctx, tx, &rec, m, false)
}

func preconditionFailed(field, id, want, got string) error {
	e := errdefs.Conflict("%s: memory %s has content_sha256 %s, not %s; nothing was changed", field, id, got, want)
	e.Type = preconditionFailedError
	return e
}

// DeleteMemory deletes memory id in tx, only while its content hash is
// want (when want is not ""), and records the deleted version.
func DeleteMemory(ctx context.Context, tx store.Tx, ws, storeID, id, want string, by *wire.Actor) error {
	var m wire.Memory
	if _, err := GetMemory(ctx, tx, ws, storeID, id, &m); err != nil {
		return err
	}
	if want != "" && want != m.ContentSHA256 {
		return preconditionFailed("expected_content_sha256", id, want, m.ContentSHA256)
	}
	if _, err := insertVersion(ctx, tx, ws, m, wire.MemoryDeleted, by); err != nil {
		return err
	}
	return tx.Delete(ctx, ws, store.KindMemory, id)
}
