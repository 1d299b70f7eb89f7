// Package sqlstore implements the store contract on database/sql. The SQL is
// portable between SQLite and PostgreSQL; a Dialect supplies the differences
// (bind parameters, how a unique violation looks). Drivers in store/sqlite and
// store/postgres open the connections and hand them here.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// Dialect captures what differs between SQL engines.
type Dialect struct {
	// Rebind turns a query written with '?' into the engine's bind syntax.
	Rebind func(q string) string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(err error) bool
	// Unreachable reports whether err means the database cannot serve now
	// but may shortly (locked past its wait, not accepting connections).
	// Nil: no error is of that kind.
	Unreachable func(err error) bool
}

// fail classifies an unexpected database error: one the database may
// recover from is the retryable storage-not-ready error, anything else is
// internal. Either way the cause is kept for the log, never shown.
func (d Dialect) fail(err error, format string, args ...any) error {
	if d.Unreachable != nil && d.Unreachable(err) {
		return errdefs.StorageNotReady(err)
	}
	return errdefs.Internal(err, format, args...)
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is a store.Store over a writer (serialized) and a reader pool, which
// may be the same *sql.DB.
type DB struct {
	ops
	writer *sql.DB
	reader *sql.DB
	// beginTx starts a write transaction (SQLite wants BEGIN IMMEDIATE,
	// which the driver configures on the writer connection).
	txOpts *sql.TxOptions
}

var _ store.Store = (*DB)(nil)

// New wraps open connections. Close closes both.
func New(writer, reader *sql.DB, d Dialect, txOpts *sql.TxOptions) *DB {
	return &DB{ops: ops{r: reader, w: writer, d: d}, writer: writer, reader: reader, txOpts: txOpts}
}

func (db *DB) Close() error {
	err := db.writer.Close()
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

// inTxKey marks contexts handed to an InTx callback. With a single writer
// connection (SQLite), a write through the DB itself from inside the
// callback would wait forever for the connection the transaction holds, so
// such writes fail fast instead.
type inTxKey struct{}

var errWriteInTx = errors.New("store: write or nested InTx on the Store inside InTx; use the Tx passed to the callback")

func (db *DB) checkNotInTx(ctx context.Context) error {
	if ctx.Value(inTxKey{}) != nil {
		return errdefs.Internal(errWriteInTx, "store misuse")
	}
	return nil
}

func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	tx, err := db.writer.BeginTx(ctx, db.txOpts)
	if err != nil {
		return db.d.fail(err, "begin transaction")
	}
	committed := false
	defer func() {
		// A panicking callback must not leave the transaction open: it
		// would hold the only writer connection and stall every later
		// write.
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(context.WithValue(ctx, inTxKey{}, true), ops{r: tx, w: tx, d: db.d}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return db.d.fail(err, "commit transaction")
	}
	committed = true
	return nil
}

// Writes outside InTx go through these so that the fail-fast check above
// applies and multi-statement operations stay atomic.

func (db *DB) Insert(ctx context.Context, r *store.Record) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	return db.ops.Insert(ctx, r)
}

func (db *DB) Update(ctx context.Context, r *store.Record) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	return db.ops.Update(ctx, r)
}

// Delete runs in a transaction because it is two statements (the record,
// then its children), and a failure between them must not leave orphans.
func (db *DB) Delete(ctx context.Context, ws, kind, id string) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Delete(ctx, ws, kind, id)
	})
}

// ops implements store.Tx over a reader and a writer querier.
type ops struct {
	r, w querier
	d    Dialect
}

const recordCols = `seq, kind, id, workspace, parent, name, data, secret, created_at, updated_at, archived_at, rev`

func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros rounds up to the next microsecond, for bounds that must not
// admit a stored value lying below a sub-microsecond bound.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

// norm is the form the store keeps a time in, so that a record or key reads
// back equal to what Insert or CreateKey left in the caller's struct.
func norm(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func scanRecord(sc interface{ Scan(...any) error }) (store.Record, error) {
	var r store.Record
	var created, updated int64
	var archived sql.NullInt64
	var data []byte
	if err := sc.Scan(&r.Seq, &r.Kind, &r.ID, &r.Workspace, &r.Parent, &r.Name, &data, &r.Secret, &created, &updated, &archived, &r.Rev); err != nil {
		return r, err
	}
	r.Data = data
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	if archived.Valid {
		t := fromMicros(archived.Int64)
		r.ArchivedAt = &t
	}
	return r, nil
}

func notFound(kind, id string) error {
	return errdefs.NotFound("%s %s not found", strings.ReplaceAll(kind, "_", " "), id)
}

func (o ops) Get(ctx context.Context, ws, kind, id string) (store.Record, error) {
	row := o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+recordCols+` FROM records WHERE workspace = ? AND kind = ? AND id = ?`), ws, kind, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound(kind, id)
	}
	if err != nil {
		return r, o.d.fail(err, "get %s", kind)
	}
	return r, nil
}

func (o ops) GetByName(ctx context.Context, ws, kind, parent, name string) (store.Record, error) {
	row := o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+recordCols+` FROM records WHERE workspace = ? AND kind = ? AND parent = ? AND name = ? AND name <> ''`), ws, kind, parent, name)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound(kind, name)
	}
	if err != nil {
		return r, o.d.fail(err, "get %s by name", kind)
	}
	return r, nil
}

func nullableMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func (o ops) Insert(ctx context.Context, r *store.Record) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt = norm(r.CreatedAt)
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	r.UpdatedAt, r.ArchivedAt = norm(r.UpdatedAt), normPtr(r.ArchivedAt)
	var seq int64
	row := o.w.QueryRowContext(ctx, o.d.Rebind(`INSERT INTO records (kind, id, workspace, parent, name, data, secret, created_at, updated_at, archived_at, rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`),
		r.Kind, r.ID, r.Workspace, r.Parent, r.Name, []byte(r.Data), r.Secret,
		micros(r.CreatedAt), micros(r.UpdatedAt), nullableMicros(r.ArchivedAt), 1)
	if err := row.Scan(&seq); err != nil {
		if o.d.IsUnique(err) {
			return o.uniqueConflict(ctx, r)
		}
		return o.d.fail(err, "insert %s", r.Kind)
	}
	r.Seq, r.Rev = seq, 1
	return nil
}

func (o ops) uniqueConflict(ctx context.Context, r *store.Record) error {
	if r.Name != "" {
		if _, err := o.GetByName(ctx, r.Workspace, r.Kind, r.Parent, r.Name); err == nil {
			return errdefs.Conflict("%s with name %q already exists", strings.ReplaceAll(r.Kind, "_", " "), r.Name)
		}
	}
	return errdefs.Conflict("%s %s already exists", strings.ReplaceAll(r.Kind, "_", " "), r.ID)
}

func (o ops) Update(ctx context.Context, r *store.Record) error {
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = time.Now()
	}
	r.UpdatedAt, r.ArchivedAt = norm(r.UpdatedAt), normPtr(r.ArchivedAt)
	res, err := o.w.ExecContext(ctx, o.d.Rebind(`UPDATE records SET data = ?, secret = ?, name = ?, updated_at = ?, archived_at = ?, rev = rev + 1
		WHERE workspace = ? AND kind = ? AND id = ? AND rev = ?`),
		[]byte(r.Data), r.Secret, r.Name, micros(r.UpdatedAt), nullableMicros(r.ArchivedAt),
		r.Workspace, r.Kind, r.ID, r.Rev)
	if err != nil {
		if o.d.IsUnique(err) {
			return o.uniqueConflict(ctx, r)
		}
		return o.d.fail(err, "update %s", r.Kind)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := o.Get(ctx, r.Workspace, r.Kind, r.ID); err != nil {
			return err
		}
		return errdefs.Conflict("%s %s was modified concurrently; retry with its current state", strings.ReplaceAll(r.Kind, "_", " "), r.ID)
	}
	r.Rev++
	return nil
}

func (o ops) Delete(ctx context.Context, ws, kind, id string) error {
	res, err := o.w.ExecContext(ctx, o.d.Rebind(`DELETE FROM records WHERE workspace = ? AND kind = ? AND id = ?`), ws, kind, id)
	if err != nil {
		return o.d.fail(err, "delete %s", kind)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(kind, id)
	}
	if _, err := o.w.ExecContext(ctx, o.d.Rebind(`DELETE FROM records WHERE workspace = ? AND parent = ?`), ws, id); err != nil {
		return o.d.fail(err, "delete children of %s", kind)
	}
	return nil
}

func (o ops) List(ctx context.Context, lo store.ListOptions) (store.Page, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if !lo.AllWorkspaces {
		add("workspace = ?", lo.Workspace)
	}
	add("kind = ?", lo.Kind)
	if lo.ParentSet {
		add("parent = ?", lo.Parent)
	}
	if !lo.IncludeArchived {
		add("archived_at IS NULL")
	}
	if len(lo.IDs) > 0 {
		add("id IN (?"+strings.Repeat(", ?", len(lo.IDs)-1)+")", anys(lo.IDs)...)
	}
	// Stored times are whole microseconds; a bound with a sub-microsecond
	// part is rounded in whichever direction keeps the comparison exact.
	for _, c := range []struct {
		t     *time.Time
		op    string
		round func(time.Time) int64
	}{{lo.CreatedGT, ">", micros}, {lo.CreatedGTE, ">=", ceilMicros}, {lo.CreatedLT, "<", ceilMicros}, {lo.CreatedLTE, "<=", micros}} {
		if c.t != nil {
			add("created_at "+c.op+" ?", c.round(*c.t))
		}
	}
	if lo.NameGTE != "" {
		add("name >= ?", lo.NameGTE)
	}
	if lo.NameLT != "" {
		add("name < ?", lo.NameLT)
	}
	order, by := "ASC", "seq"
	if lo.Desc {
		order = "DESC"
	}
	switch {
	case lo.ByName:
		// Named only: that lets the partial unique index on names serve
		// the order.
		by = "name"
		add("name <> ''")
	case lo.Desc && lo.After > 0:
		add("seq < ?", lo.After)
	case lo.After > 0:
		add("seq > ?", lo.After)
	}
	q := `SELECT ` + recordCols + ` FROM records WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + by + ` ` + order
	if lo.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", lo.Limit+1)
	}
	rows, err := o.r.QueryContext(ctx, o.d.Rebind(q), args...)
	if err != nil {
		return store.Page{}, o.d.fail(err, "list %s", lo.Kind)
	}
	defer rows.Close()
	var p store.Page
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return store.Page{}, o.d.fail(err, "scan %s", lo.Kind)
		}
		p.Records = append(p.Records, r)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, o.d.fail(err, "list %s", lo.Kind)
	}
	if lo.Limit > 0 && len(p.Records) > lo.Limit {
		p.Records, p.More = p.Records[:lo.Limit], true
	}
	return p, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (o ops) Count(ctx context.Context, ws, kind, parent string, includeArchived bool) (int, error) {
	q := `SELECT count(*) FROM records WHERE workspace = ? AND kind = ? AND parent = ?`
	if !includeArchived {
		q += ` AND archived_at IS NULL`
	}
	var n int
	if err := o.r.QueryRowContext(ctx, o.d.Rebind(q), ws, kind, parent).Scan(&n); err != nil {
		return 0, o.d.fail(err, "count %s", kind)
	}
	return n, nil
}

// Keys.

const keyCols = `id, workspace, name, hash, hint, admin, environment_id, created_at, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (store.APIKey, error) {
	var k store.APIKey
	var admin int
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Workspace, &k.Name, &k.Hash, &k.Hint, &admin, &k.EnvironmentID, &created, &revoked); err != nil {
		return k, err
	}
	k.Admin = admin != 0
	k.CreatedAt = fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return k, nil
}

func (db *DB) CreateKey(ctx context.Context, k *store.APIKey) error {
	if err := db.checkNotInTx(ctx); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now()
	}
	k.CreatedAt, k.RevokedAt = norm(k.CreatedAt), normPtr(k.RevokedAt)
	admin := 0
	if k.Admin {
		admin = 1
	}
	_, err := db.writer.ExecContext(ctx, db.d.Rebind(`INSERT INTO api_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.Workspace, k.Name, k.Hash, k.Hint, admin, k.EnvironmentID, micros(k.CreatedAt), nullableMicros(k.RevokedAt))
	if err != nil {
		if db.d.IsUnique(err) {
			return errdefs.Conflict("api key already exists")
		}
		return db.d.fail(err, "create api key")
	}
	return nil
}

func (db *DB) KeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanKey(db.reader.QueryRowContext(ctx, db.d.Rebind(`SELECT `+keyCols+` FROM api_keys WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, errdefs.NotFound("api key not found")
	}
	if err != nil {
		return k, db.d.fail(err, "look up api key")
	}
	return k, nil
}

func (db *DB) ListKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := db.reader.QueryContext(ctx, db.d.Rebind(`SELECT `+keyCols+` FROM api_keys ORDER BY created_at, id`))
	if err != nil {
		return nil, db.d.fail(err, "list api keys")
	}
	defer rows.Close()
	var out []store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, db.d.fail(err, "scan api key")
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (db *DB) RevokeKey(ctx context.Context, id string) (store.APIKey, error) {
	if err := db.checkNotInTx(ctx); err != nil {
		return store.APIKey{}, err
	}
	now := time.Now()
	if _, err := db.writer.ExecContext(ctx, db.d.Rebind(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), micros(now), id); err != nil {
		return store.APIKey{}, db.d.fail(err, "revoke api key")
	}
	k, err := scanKey(db.writer.QueryRowContext(ctx, db.d.Rebind(`SELECT `+keyCols+` FROM api_keys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, errdefs.NotFound("api key %s not found", id)
	}
	if err != nil {
		return k, db.d.fail(err, "revoke api key")
	}
	return k, nil
}
