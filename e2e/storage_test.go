package e2e

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	_ "modernc.org/sqlite"

	"github.com/hangarhq/hangar/internal/testserver"
)

// TestStorageNotReady: while another program holds the database's write
// lock past the server's wait, a write is a retryable 503 with error_code
// storage_not_ready (never a 500), and the same request succeeds once the
// lock is gone.
func TestStorageNotReady(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	agtNew(t, c, "before") // the database exists and is migrated

	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}

	params := anthropic.BetaAgentNewParams{
		Name:  "during",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeOpus4_8},
	}
	_, err = c.Beta.Agents.New(ctx, params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create while the database is locked: %v, want a 503", err)
	}
	if code := apiErr.ErrorCode(); code != "storage_not_ready" {
		t.Fatalf("error_code = %q, want storage_not_ready (%s)", code, apiErr.RawJSON())
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Beta.Agents.New(ctx, params); err != nil {
		t.Fatalf("create after the lock is gone: %v", err)
	}
}
