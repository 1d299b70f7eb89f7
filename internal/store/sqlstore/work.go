package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

var _ store.WorkTx = ops{}

// Single-statement writes outside InTx still go through the fail-fast check,
// as Insert and Update do.

func (db *DB) InsertWork(ctx context.Context, w *store.WorkItem) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	return db.ops.InsertWork(ctx, w)
}

func (db *DB) UpdateWork(ctx context.Context, w *store.WorkItem) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	return db.ops.UpdateWork(ctx, w)
}

const workCols = `seq, id, workspace, environment_id, data_type, data_id, state, metadata, token_hash, worker_id, last_heartbeat, ttl_seconds,
	created_at, updated_at, queued_at, polled_at, acknowledged_at, started_at, latest_heartbeat_at, stop_requested_at, stopped_at, lease_until, rev`

func scanWork(sc interface{ Scan(...any) error }) (store.WorkItem, error) {
	var w store.WorkItem
	var created, updated, queued int64
	var polled, acked, started, beat, stopReq, stopped, lease sql.NullInt64
	var meta string
	if err := sc.Scan(&w.Seq, &w.ID, &w.Workspace, &w.EnvironmentID, &w.DataType, &w.DataID, &w.State, &meta, &w.TokenHash,
		&w.WorkerID, &w.LastHeartbeat, &w.TTLSeconds, &created, &updated, &queued,
		&polled, &acked, &started, &beat, &stopReq, &stopped, &lease, &w.Rev); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(meta), &w.Metadata); err != nil {
		return w, fmt.Errorf("work %s metadata: %w", w.ID, err)
	}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	if len(w.TokenHash) == 0 {
		w.TokenHash = nil
	}
	w.CreatedAt, w.UpdatedAt, w.QueuedAt = fromMicros(created), fromMicros(updated), fromMicros(queued)
	w.PolledAt, w.AcknowledgedAt, w.StartedAt = timeFromNull(polled), timeFromNull(acked), timeFromNull(started)
	w.LatestHeartbeatAt, w.StopRequestedAt, w.StoppedAt = timeFromNull(beat), timeFromNull(stopReq), timeFromNull(stopped)
	w.LeaseUntil = timeFromNull(lease)
	return w, nil
}

// normWork checks what the columns require and puts the caller's struct in
// the form reads return.
func normWork(w *store.WorkItem) error {
	if !slices.Contains(store.WorkStates, w.State) {
		return errdefs.Internal(fmt.Errorf("work state %q", w.State), "store work item")
	}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	if len(w.TokenHash) == 0 {
		w.TokenHash = nil
	}
	w.UpdatedAt, w.QueuedAt = norm(w.UpdatedAt), norm(w.QueuedAt)
	for _, p := range []**time.Time{&w.PolledAt, &w.AcknowledgedAt, &w.StartedAt, &w.LatestHeartbeatAt, &w.StopRequestedAt, &w.StoppedAt, &w.LeaseUntil} {
		*p = normPtr(*p)
	}
	return nil
}

func encodeMeta(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// tokenArg keeps "no token" as NULL so the partial unique index ignores it.
func tokenArg(h []byte) any {
	if len(h) == 0 {
		return nil
	}
	return h
}

func (o ops) InsertWork(ctx context.Context, w *store.WorkItem) error {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now()
	}
	w.CreatedAt = norm(w.CreatedAt)
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	if w.QueuedAt.IsZero() {
		w.QueuedAt = w.CreatedAt
	}
	if err := normWork(w); err != nil {
		return err
	}
	var seq int64
	err := o.w.QueryRowContext(ctx, o.d.Rebind(`INSERT INTO work_items (id, workspace, environment_id, data_type, data_id, state, metadata,
		token_hash, worker_id, last_heartbeat, ttl_seconds, created_at, updated_at, queued_at, polled_at, acknowledged_at, started_at,
		latest_heartbeat_at, stop_requested_at, stopped_at, lease_until, rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING seq`),
		w.ID, w.Workspace, w.EnvironmentID, w.DataType, w.DataID, w.State, encodeMeta(w.Metadata),
		tokenArg(w.TokenHash), w.WorkerID, w.LastHeartbeat, w.TTLSeconds, micros(w.CreatedAt), micros(w.UpdatedAt), micros(w.QueuedAt),
		nullableMicros(w.PolledAt), nullableMicros(w.AcknowledgedAt), nullableMicros(w.StartedAt), nullableMicros(w.LatestHeartbeatAt),
		nullableMicros(w.StopRequestedAt), nullableMicros(w.StoppedAt), nullableMicros(w.LeaseUntil)).Scan(&seq)
	if err != nil {
		if o.d.IsUnique(err) {
			return errdefs.Conflict("work %s already exists", w.ID)
		}
		return o.d.fail(err, "insert work")
	}
	w.Seq, w.Rev = seq, 1
	return nil
}

func (o ops) GetWork(ctx context.Context, ws, id string) (store.WorkItem, error) {
	w, err := scanWork(o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+workCols+` FROM work_items WHERE workspace = ? AND id = ?`), ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, errdefs.NotFound("work %s not found", id)
	}
	if err != nil {
		return w, o.d.fail(err, "get work")
	}
	return w, nil
}

func (o ops) WorkByTokenHash(ctx context.Context, hash []byte) (store.WorkItem, error) {
	if len(hash) == 0 {
		return store.WorkItem{}, errdefs.NotFound("work not found")
	}
	w, err := scanWork(o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+workCols+` FROM work_items WHERE token_hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return w, errdefs.NotFound("work not found")
	}
	if err != nil {
		return w, o.d.fail(err, "get work by token")
	}
	return w, nil
}

func (o ops) UpdateWork(ctx context.Context, w *store.WorkItem) error {
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = time.Now()
	}
	if err := normWork(w); err != nil {
		return err
	}
	res, err := o.w.ExecContext(ctx, o.d.Rebind(`UPDATE work_items SET state = ?, metadata = ?, token_hash = ?, worker_id = ?, last_heartbeat = ?,
		ttl_seconds = ?, updated_at = ?, queued_at = ?, polled_at = ?, acknowledged_at = ?, started_at = ?, latest_heartbeat_at = ?,
		stop_requested_at = ?, stopped_at = ?, lease_until = ?, rev = rev + 1 WHERE workspace = ? AND id = ? AND rev = ?`),
		w.State, encodeMeta(w.Metadata), tokenArg(w.TokenHash), w.WorkerID, w.LastHeartbeat, w.TTLSeconds, micros(w.UpdatedAt), micros(w.QueuedAt),
		nullableMicros(w.PolledAt), nullableMicros(w.AcknowledgedAt), nullableMicros(w.StartedAt), nullableMicros(w.LatestHeartbeatAt),
		nullableMicros(w.StopRequestedAt), nullableMicros(w.StoppedAt), nullableMicros(w.LeaseUntil), w.Workspace, w.ID, w.Rev)
	if err != nil {
		if o.d.IsUnique(err) {
			return errdefs.Conflict("work %s: token clash; retry", w.ID)
		}
		return o.d.fail(err, "update work")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := o.GetWork(ctx, w.Workspace, w.ID); err != nil {
			return err
		}
		return errdefs.Conflict("work %s was modified concurrently; retry with its current state", w.ID)
	}
	w.Rev++
	return nil
}

func (o ops) queryWork(ctx context.Context, q string, args ...any) ([]store.WorkItem, error) {
	rows, err := o.r.QueryContext(ctx, o.d.Rebind(q), args...)
	if err != nil {
		return nil, o.d.fail(err, "list work")
	}
	defer rows.Close()
	var out []store.WorkItem
	for rows.Next() {
		w, err := scanWork(rows)
		if err != nil {
			return nil, o.d.fail(err, "scan work")
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, o.d.fail(err, "list work")
	}
	return out, nil
}

func (o ops) ListWork(ctx context.Context, wq store.WorkQuery) (store.WorkPage, error) {
	where := []string{"workspace = ?", "environment_id = ?"}
	args := []any{wq.Workspace, wq.EnvironmentID}
	if wq.DataID != "" {
		where, args = append(where, "data_id = ?"), append(args, wq.DataID)
	}
	if len(wq.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(wq.States)-1)+")")
		args = append(args, anys(wq.States)...)
	}
	order := "ASC"
	if wq.Desc {
		order = "DESC"
		if wq.After > 0 {
			where, args = append(where, "seq < ?"), append(args, wq.After)
		}
	} else if wq.After > 0 {
		where, args = append(where, "seq > ?"), append(args, wq.After)
	}
	q := `SELECT ` + workCols + ` FROM work_items WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq ` + order
	if wq.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", wq.Limit+1)
	}
	items, err := o.queryWork(ctx, q, args...)
	if err != nil {
		return store.WorkPage{}, err
	}
	p := store.WorkPage{Items: items}
	if wq.Limit > 0 && len(p.Items) > wq.Limit {
		p.Items, p.More = p.Items[:wq.Limit], true
	}
	return p, nil
}

func (o ops) ClaimableWork(ctx context.Context, ws, env string, polledBefore time.Time, limit int) ([]store.WorkItem, error) {
	q := `SELECT ` + workCols + ` FROM work_items WHERE workspace = ? AND environment_id = ? AND state = ?
		AND (polled_at IS NULL OR polled_at <= ?) ORDER BY queued_at, seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return o.queryWork(ctx, q, ws, env, store.WorkQueued, micros(polledBefore))
}

func (o ops) ExpiredWork(ctx context.Context, ws, env string, now time.Time, limit int) ([]store.WorkItem, error) {
	q := `SELECT ` + workCols + ` FROM work_items WHERE workspace = ? AND environment_id = ? AND state IN (?, ?, ?)
		AND lease_until IS NOT NULL AND lease_until < ? ORDER BY lease_until, seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return o.queryWork(ctx, q, ws, env, store.WorkStarting, store.WorkActive, store.WorkStopping, micros(now))
}

func (o ops) CountWork(ctx context.Context, ws, env string) (store.WorkCounts, error) {
	var c store.WorkCounts
	var oldest sql.NullInt64
	err := o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT
		COALESCE(SUM(CASE WHEN polled_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN polled_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		MIN(queued_at)
		FROM work_items WHERE workspace = ? AND environment_id = ? AND state = ?`), ws, env, store.WorkQueued).Scan(&c.Depth, &c.Pending, &oldest)
	if err != nil {
		return c, o.d.fail(err, "count work")
	}
	c.OldestQueuedAt = timeFromNull(oldest)
	return c, nil
}
