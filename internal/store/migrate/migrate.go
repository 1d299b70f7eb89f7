// Package migrate applies a driver's embedded, numbered SQL migrations in
// order, once each, recording them in schema_migrations. Every store driver
// uses this one runner with its own migration files.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Apply runs every NNNN_name.sql file in dir of fsys that is not yet recorded,
// each in its own transaction. placeholder renders the n-th bind parameter
// ("?" for SQLite, "$1" for PostgreSQL).
func Apply(ctx context.Context, db *sql.DB, fsys fs.FS, dir string, placeholder func(n int) string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %q: name must start with a number and '_'", name)
		}
		migs = append(migs, mig{v, name})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for i := 1; i < len(migs); i++ {
		if migs[i].version == migs[i-1].version {
			return fmt.Errorf("migrations %s and %s share version %d", migs[i-1].name, migs[i].name, migs[i].version)
		}
	}
	if len(migs) > 0 {
		// A database migrated by a newer binary may hold tables this one
		// does not know how to keep consistent; refuse rather than guess.
		var newest sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if known := migs[len(migs)-1].version; newest.Valid && int(newest.Int64) > known {
			return fmt.Errorf("database schema version %d is newer than this binary knows (%d); upgrade hangar", newest.Int64, known)
		}
	}
	for _, m := range migs {
		if err := applyOne(ctx, db, fsys, dir, m.version, m.name, placeholder); err != nil {
			return err
		}
	}
	return nil
}

// applyOne applies one migration unless it is recorded. The check runs
// inside the migration's transaction so that two processes opening the same
// new database at once (serve and `keys create`, say) cannot both apply it.
func applyOne(ctx context.Context, db *sql.DB, fsys fs.FS, dir string, version int, name string, placeholder func(n int) string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = `+placeholder(1), version).Scan(&n); err != nil {
		return fmt.Errorf("check migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(fsys, dir+"/"+name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("apply migration %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (`+placeholder(1)+`, `+placeholder(2)+`)`, version, name); err != nil {
		return fmt.Errorf("record migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", name, err)
	}
	return nil
}
