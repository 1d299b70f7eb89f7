package memory

import (
	"context"
	"encoding/json"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// GetStore reads store id of workspace ws into ms.
func GetStore(ctx context.Context, tx store.Tx, ws, id string, ms *wire.MemoryStore) (store.Record, error) {
	rec, err := tx.Get(ctx, ws, store.KindMemoryStore, id)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(rec.Data, ms); err != nil {
		return rec, errdefs.Internal(err, "decode memory store %s", id)
	}
	return rec, nil
}

// WritableStore is GetStore for a change: an archived store is read-only.
func WritableStore(ctx context.Context, tx store.Tx, ws, id string, ms *wire.MemoryStore) (store.Record, error) {
	rec, err := GetStore(ctx, tx, ws, id, ms)
	if err == nil && ms.ArchivedAt != nil {
		err = errdefs.Conflict("memory store %s is archived and can no longer be changed", id)
	}
	return rec, err
}

// SaveStore writes ms back to its record rec.
func SaveStore(ctx context.Context, tx store.Tx, rec *store.Record, ms wire.MemoryStore) error {
	data, err := json.Marshal(ms)
	if err != nil {
		return errdefs.Internal(err, "encode memory store")
	}
	rec.Data, rec.UpdatedAt, rec.ArchivedAt = data, ms.UpdatedAt, ms.ArchivedAt
	return tx.Update(ctx, rec)
}
