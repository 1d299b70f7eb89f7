package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/storetest"
)

func openTemp(t testing.TB) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hangar.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, _ := openTemp(t)
		return st
	})
}

// rawDB opens the file without the driver's setup, to look underneath it.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrationFiles(t *testing.T) []string {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no migrations embedded")
	}
	return names
}

func appliedMigrations(t *testing.T, path string) []string {
	t.Helper()
	rows, err := rawDB(t, path).Query(`SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestMigrationsAppliedOnceAndIdempotent(t *testing.T) {
	st, path := openTemp(t)
	ctx := context.Background()
	r := &store.Record{Kind: store.KindAgent, ID: "agent_1", Workspace: "w", Name: "n", Data: json.RawMessage(`{}`)}
	if err := st.Insert(ctx, r); err != nil {
		t.Fatal(err)
	}
	st.Close()
	want := migrationFiles(t)
	for i := 0; i < 3; i++ {
		st, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		// Reapplying a migration would fail on CREATE TABLE or wipe data.
		if _, err := st.Get(ctx, "w", store.KindAgent, "agent_1"); err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		st.Close()
		if got := appliedMigrations(t, path); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("reopen %d: schema_migrations = %v, want %v", i, got, want)
		}
	}
}

// Serve and `hangar keys create` may open a new data directory at the same
// moment; both must end up with one migrated database.
func TestMigrationsConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hangar.db")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(context.Background(), path)
			if err == nil {
				err = st.Insert(context.Background(), &store.Record{Kind: store.KindAgent, ID: fmt.Sprintf("agent_%d", i), Workspace: "w", Data: json.RawMessage(`{}`)})
				st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	if got, want := appliedMigrations(t, path), migrationFiles(t); len(got) != len(want) {
		t.Fatalf("schema_migrations = %v, want %v", got, want)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	st, path := openTemp(t)
	st.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer database: %v, want a refusal", err)
	}
}

func TestWALAndSettings(t *testing.T) {
	st, path := openTemp(t)
	defer st.Close()
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	st, path := openTemp(t)
	archived := time.Date(2026, 4, 5, 6, 7, 8, 9000, time.UTC)
	r := &store.Record{Kind: store.KindCredential, ID: "vcrd_1", Workspace: "w", Parent: "vlt_1", Name: "gh",
		Data: json.RawMessage(`{"id":"vcrd_1"}`), Secret: []byte{0, 1, 2}, ArchivedAt: &archived}
	if err := st.Insert(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Data = json.RawMessage(`{"id":"vcrd_1","v":2}`)
	if err := st.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	k := &store.APIKey{ID: "apikey_1", Workspace: "w", Name: "k", Hash: bytes.Repeat([]byte{1}, 32), Hint: "abcd", Admin: true}
	if err := st.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Get(ctx, "w", store.KindCredential, "vcrd_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 2 || got.Seq != r.Seq || string(got.Data) != string(r.Data) || !bytes.Equal(got.Secret, r.Secret) ||
		!got.CreatedAt.Equal(r.CreatedAt) || !got.UpdatedAt.Equal(r.UpdatedAt) || !got.ArchivedAt.Equal(archived) || got.Name != "gh" || got.Parent != "vlt_1" {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, *r)
	}
	gk, err := st.KeyByHash(ctx, k.Hash)
	if err != nil || gk.ID != k.ID || !gk.Admin || !gk.CreatedAt.Equal(k.CreatedAt) {
		t.Fatalf("key after reopen: %+v %v", gk, err)
	}
	// Seq keeps increasing across restarts, so old cursors stay valid.
	r2 := &store.Record{Kind: store.KindCredential, ID: "vcrd_2", Workspace: "w", Data: json.RawMessage(`{}`)}
	if err := st.Insert(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if r2.Seq <= r.Seq {
		t.Fatalf("Seq after reopen = %d, want > %d", r2.Seq, r.Seq)
	}
}

// Seq must never be reused, even after the newest record is deleted, or a
// client holding a cursor would skip the record that took its number.
func TestSeqNotReusedAfterDelete(t *testing.T) {
	ctx := context.Background()
	st, path := openTemp(t)
	r := &store.Record{Kind: store.KindAgent, ID: "a1", Workspace: "w", Data: json.RawMessage(`{}`)}
	if err := st.Insert(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "w", store.KindAgent, "a1"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r2 := &store.Record{Kind: store.KindAgent, ID: "a2", Workspace: "w", Data: json.RawMessage(`{}`)}
	if err := st.Insert(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if r2.Seq <= r.Seq {
		t.Fatalf("Seq reused: %d after deleted %d", r2.Seq, r.Seq)
	}
}

func TestPathWithURIMetacharacters(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data dir?x=1#frag%41")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hangar.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, &store.Record{Kind: store.KindAgent, ID: "a", Workspace: "w", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path given: %v", err)
	}
	st, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Get(ctx, "w", store.KindAgent, "a"); err != nil {
		t.Fatal(err)
	}
}

// With one writer connection, a write through the Store from inside an InTx
// callback would wait forever for the connection the transaction holds.
func TestWriteOnStoreInsideInTxFailsFast(t *testing.T) {
	st, _ := openTemp(t)
	defer st.Close()
	done := make(chan error, 1)
	go func() {
		done <- st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			err := st.Insert(ctx, &store.Record{Kind: store.KindAgent, ID: "a", Workspace: "w", Data: json.RawMessage(`{}`)})
			if err == nil {
				return errors.New("write on the Store inside InTx succeeded")
			}
			if err := st.InTx(ctx, func(context.Context, store.Tx) error { return nil }); err == nil {
				return errors.New("nested InTx succeeded")
			}
			if err := st.Delete(ctx, "w", store.KindAgent, "a"); errors.Is(err, errdefs.ErrNotFound) || err == nil {
				return fmt.Errorf("Delete on the Store inside InTx: %v", err)
			}
			// Reads through the Store are fine: they use the reader pool.
			if _, err := st.Get(ctx, "w", store.KindAgent, "a"); !errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("read inside InTx: %v", err)
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: write on the Store inside InTx blocked")
	}
}

// Crash safety. The child inserts records from several goroutines and
// prints each id once its write has returned; the parent SIGKILLs it
// mid-stream, then checks the file is intact and holds every printed id.

const crashEnv = "HANGAR_SQLITE_CRASH_CHILD_DB"

func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	round := os.Getenv(crashEnv + "_ROUND")
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	report := func(ids ...string) {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, id := range ids {
			b.WriteString("ok " + id + "\n")
		}
		_, _ = os.Stdout.WriteString(b.String())
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				id := fmt.Sprintf("r%s_%d", round, i)
				data := json.RawMessage(fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", int(i%7)*300)))
				if i%3 == 0 {
					// A transaction: a parent, two children and the counter.
					err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
						for _, r := range []*store.Record{
							{Kind: store.KindVault, ID: id, Workspace: "w", Name: id, Data: data},
							{Kind: store.KindCredential, ID: id + "_c1", Workspace: "w", Parent: id, Data: data, Secret: []byte(id)},
							{Kind: store.KindCredential, ID: id + "_c2", Workspace: "w", Parent: id, Data: data},
						} {
							if err := tx.Insert(ctx, r); err != nil {
								return err
							}
						}
						c, err := tx.Get(ctx, "w", store.KindAgent, "counter")
						if errors.Is(err, errdefs.ErrNotFound) {
							return tx.Insert(ctx, &store.Record{Kind: store.KindAgent, ID: "counter", Workspace: "w", Data: json.RawMessage(`{"n":1}`)})
						}
						if err != nil {
							return err
						}
						var v struct{ N int }
						_ = json.Unmarshal(c.Data, &v)
						c.Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, v.N+1))
						return tx.Update(ctx, &c)
					})
					if err != nil {
						fmt.Fprintln(os.Stderr, "tx:", err)
						os.Exit(4)
					}
					report(id, id+"_c1", id+"_c2", "tx")
					continue
				}
				r := &store.Record{Kind: store.KindFile, ID: id, Workspace: "w", Data: data}
				if err := st.Insert(ctx, r); err != nil {
					fmt.Fprintln(os.Stderr, "insert:", err)
					os.Exit(5)
				}
				report(id)
			}
		}()
	}
	wg.Wait()
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	path := filepath.Join(t.TempDir(), "hangar.db")
	committed := map[string]bool{}
	txs := 0
	for round, killAfter := range []int{50, 400, 1500} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_ROUND="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		lines := 0
		killed := false
		deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
		for sc.Scan() {
			id, ok := strings.CutPrefix(sc.Text(), "ok ")
			if !ok {
				continue // the test framework's own output
			}
			if id == "tx" {
				txs++
			} else {
				committed[id] = true
			}
			if lines++; lines == killAfter && !killed {
				// Lines already in the pipe after the kill were also
				// committed before it, so keep reading to EOF.
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child ended before the kill: %v\n%s", round, err, stderr.String())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die of SIGKILL: %v\n%s", round, err, stderr.String())
		}

		var check string
		if err := rawDB(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
			t.Fatal(err)
		}
		if check != "ok" {
			t.Fatalf("round %d: integrity_check = %q", round, check)
		}
		st, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		ctx := context.Background()
		missing := 0
		for id := range committed {
			kind := store.KindFile
			switch {
			case strings.HasSuffix(id, "_c1"), strings.HasSuffix(id, "_c2"):
				kind = store.KindCredential
			default:
				if n, _ := strconv.Atoi(id[strings.IndexByte(id, '_')+1:]); n%3 == 0 {
					kind = store.KindVault
				}
			}
			if _, err := st.Get(ctx, "w", kind, id); err != nil {
				missing++
				if missing < 5 {
					t.Errorf("round %d: %s %s acknowledged before the kill but missing: %v", round, kind, id, err)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged records missing", round, missing, len(committed))
		}
		// Transactions are all-or-nothing: every vault has both children,
		// and the counter counts at least the acknowledged transactions.
		vaults, err := st.List(ctx, store.ListOptions{Workspace: "w", Kind: store.KindVault})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vaults.Records {
			if n, err := st.Count(ctx, "w", store.KindCredential, v.ID, true); err != nil || n != 2 {
				t.Fatalf("round %d: vault %s has %d children (%v), want 2: a transaction was torn", round, v.ID, n, err)
			}
		}
		c, err := st.Get(ctx, "w", store.KindAgent, "counter")
		if err != nil && txs > 0 {
			t.Fatal(err)
		}
		var v struct{ N int }
		_ = json.Unmarshal(c.Data, &v)
		if v.N < txs || v.N != len(vaults.Records) {
			t.Fatalf("round %d: counter %d, %d vaults, %d acknowledged transactions", round, v.N, len(vaults.Records), txs)
		}
		st.Close()
		t.Logf("round %d: %d acknowledged records intact, %d transactions", round, len(committed), v.N)
	}
}

// FuzzRecordRoundTrip stores arbitrary names, documents, secrets and times
// and checks they read back unchanged (times at microsecond precision).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("name", []byte(`{"a":1}`), []byte("secret"), int64(1_700_000_000_123_456_789))
	f.Add("", []byte(`{}`), []byte(nil), int64(0))
	f.Add("with\x00nul", []byte("\x00\xff"), []byte{0}, int64(-1))
	f.Add("\xff\xfe invalid utf-8", []byte(`"str"`), []byte{}, int64(-62135596800_000_000_0))
	f.Add("名前 😀 '\"; DROP TABLE records; --", []byte(`[1,2]`), bytes.Repeat([]byte{9}, 100), int64(253402300799_999_999_999/1000))
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, name string, data, secret []byte, nanos int64) {
		ctx := context.Background()
		id := fmt.Sprintf("rec_%d", n.Add(1))
		created := time.Unix(0, nanos)
		// Data must be non-empty (the store keeps documents, never
		// absences); anything after the first byte is arbitrary.
		doc := append([]byte{'x'}, data...)
		r := &store.Record{Kind: store.KindFile, ID: id, Workspace: "w", Parent: id, Name: name, Data: doc, Secret: secret, CreatedAt: created}
		if err := st.Insert(ctx, r); err != nil {
			t.Fatalf("Insert: %v", err)
		}
		got, err := st.Get(ctx, "w", store.KindFile, id)
		if err != nil {
			t.Fatal(err)
		}
		want := created.Truncate(time.Microsecond).UTC()
		if got.Name != name || !bytes.Equal(got.Data, doc) || !bytes.Equal(got.Secret, secret) || !got.CreatedAt.Equal(want) || !r.CreatedAt.Equal(want) {
			t.Fatalf("round trip:\n got name %q data %q secret %x created %v\nwant name %q data %q secret %x created %v",
				got.Name, got.Data, got.Secret, got.CreatedAt, name, doc, secret, want)
		}
		if name != "" {
			byName, err := st.GetByName(ctx, "w", store.KindFile, id, name)
			if err != nil || byName.ID != id {
				t.Fatalf("GetByName(%q) = %q %v (valid utf-8: %v)", name, byName.ID, err, utf8.ValidString(name))
			}
		}
	})
}
