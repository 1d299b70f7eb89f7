// Package sqlite is the embedded storage driver: one SQLite file in WAL mode
// (synchronous=NORMAL, which keeps the database consistent across process and
// power loss), one serialized writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hangarhq/hangar/internal/store/migrate"
	"github.com/hangarhq/hangar/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	// secure_delete overwrites freed pages, so a purged credential secret does
	// not linger in the file after archive or delete.
	base := "file:" + uriPath(path) + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)"
	writer, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// SQLite allows one writer at a time; serializing in the pool avoids
	// busy retries and keeps write latency flat.
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	if err := connect(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate.Apply(ctx, writer, migrations, "migrations", func(int) string { return "?" }); err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite reader %s: %w", path, err)
	}
	reader.SetMaxOpenConns(8)
	reader.SetMaxIdleConns(8)
	d := sqlstore.Dialect{Rebind: func(q string) string { return q }, IsUnique: isUnique, Unreachable: isBusy}
	return sqlstore.New(writer, reader, d, nil), nil
}

// connect opens the first writer connection. Switching a new file to WAL
// needs an exclusive lock, and SQLite answers SQLITE_BUSY at once, without
// waiting out busy_timeout, when another process is opening the same file (a
// `hangar keys create` next to a starting server), so retry for a while.
func connect(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// isBusy reports SQLite's "another connection holds the lock": at open, a
// process switching the file to WAL; later, one that held a write lock past
// busy_timeout (another program on the same file, a backup).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// uriPath escapes the characters that end or alter the path part of an
// SQLite URI filename, so a data directory may contain them.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
