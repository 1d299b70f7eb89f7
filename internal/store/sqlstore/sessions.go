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

var _ store.SessionTx = ops{}

// Writes outside InTx run in a transaction of their own: each is several
// statements (the session row and its memory-store index, the log counter
// and the events), which must land together.

func (db *DB) InsertSession(ctx context.Context, s *store.Session) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.InsertSession(ctx, s) })
}

func (db *DB) UpdateSession(ctx context.Context, s *store.Session) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.UpdateSession(ctx, s) })
}

func (db *DB) DeleteSession(ctx context.Context, ws, id string) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, ws, id) })
}

func (db *DB) AppendEvents(ctx context.Context, sessionID string, evs []*store.Event) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AppendEvents(ctx, sessionID, evs) })
}

func (db *DB) SetEventsProcessed(ctx context.Context, sessionID string, updates []store.Event) error {
	return db.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SetEventsProcessed(ctx, sessionID, updates) })
}

// Sessions.

const sessionCols = `seq, id, workspace, agent_id, agent_version, environment_id, deployment_id, status, memory_store_ids, data, created_at, updated_at, archived_at, rev, owner, lease_until`

func scanSession(sc interface{ Scan(...any) error }) (store.Session, error) {
	var s store.Session
	var created, updated int64
	var archived, lease sql.NullInt64
	var data []byte
	var mem string
	if err := sc.Scan(&s.Seq, &s.ID, &s.Workspace, &s.AgentID, &s.AgentVersion, &s.EnvironmentID, &s.DeploymentID, &s.Status,
		&mem, &data, &created, &updated, &archived, &s.Rev, &s.Owner, &lease); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(mem), &s.MemoryStoreIDs); err != nil {
		return s, fmt.Errorf("session %s memory_store_ids: %w", s.ID, err)
	}
	if len(s.MemoryStoreIDs) == 0 {
		s.MemoryStoreIDs = nil
	}
	s.Data = data
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	s.ArchivedAt, s.LeaseUntil = timeFromNull(archived), timeFromNull(lease)
	return s, nil
}

func timeFromNull(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// normSession checks what the columns require and puts the caller's struct
// in the form reads return.
func normSession(s *store.Session) error {
	if !store.IsSessionStatus(s.Status) {
		return errdefs.Internal(fmt.Errorf("status %q is not a session status", s.Status), "store session %s", s.ID)
	}
	if len(s.MemoryStoreIDs) == 0 {
		s.MemoryStoreIDs = nil
	}
	s.UpdatedAt, s.ArchivedAt, s.LeaseUntil = norm(s.UpdatedAt), normPtr(s.ArchivedAt), normPtr(s.LeaseUntil)
	return nil
}

func encodeIDs(ids []string) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func (o ops) InsertSession(ctx context.Context, s *store.Session) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	s.CreatedAt = norm(s.CreatedAt)
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	if err := normSession(s); err != nil {
		return err
	}
	var seq int64
	err := o.w.QueryRowContext(ctx, o.d.Rebind(`INSERT INTO sessions (id, workspace, agent_id, agent_version, environment_id, deployment_id, status,
		memory_store_ids, data, created_at, updated_at, archived_at, rev, owner, lease_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`),
		s.ID, s.Workspace, s.AgentID, s.AgentVersion, s.EnvironmentID, s.DeploymentID, s.Status,
		encodeIDs(s.MemoryStoreIDs), []byte(s.Data), micros(s.CreatedAt), micros(s.UpdatedAt), nullableMicros(s.ArchivedAt),
		1, s.Owner, nullableMicros(s.LeaseUntil)).Scan(&seq)
	if err != nil {
		if o.d.IsUnique(err) {
			return errdefs.Conflict("session %s already exists", s.ID)
		}
		return o.d.fail(err, "insert session")
	}
	if err := o.indexMemoryStores(ctx, s.ID, s.MemoryStoreIDs); err != nil {
		return err
	}
	s.Seq, s.Rev = seq, 1
	return nil
}

// indexMemoryStores writes the rows the memory_store_id filter joins on.
func (o ops) indexMemoryStores(ctx context.Context, sessionID string, ids []string) error {
	var uniq []string
	for _, id := range ids {
		if !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	if len(uniq) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(uniq))
	for _, id := range uniq {
		args = append(args, sessionID, id)
	}
	q := `INSERT INTO session_memory_stores (session_id, memory_store_id) VALUES (?, ?)` + strings.Repeat(", (?, ?)", len(uniq)-1)
	if _, err := o.w.ExecContext(ctx, o.d.Rebind(q), args...); err != nil {
		return o.d.fail(err, "index session memory stores")
	}
	return nil
}

func (o ops) GetSession(ctx context.Context, ws, id string) (store.Session, error) {
	s, err := scanSession(o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+sessionCols+` FROM sessions WHERE workspace = ? AND id = ?`), ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, errdefs.NotFound("session %s not found", id)
	}
	if err != nil {
		return s, o.d.fail(err, "get session")
	}
	return s, nil
}

func (o ops) UpdateSession(ctx context.Context, s *store.Session) error {
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = time.Now()
	}
	if err := normSession(s); err != nil {
		return err
	}
	res, err := o.w.ExecContext(ctx, o.d.Rebind(`UPDATE sessions SET status = ?, memory_store_ids = ?, data = ?, updated_at = ?, archived_at = ?,
		owner = ?, lease_until = ?, rev = rev + 1 WHERE workspace = ? AND id = ? AND rev = ?`),
		s.Status, encodeIDs(s.MemoryStoreIDs), []byte(s.Data), micros(s.UpdatedAt), nullableMicros(s.ArchivedAt),
		s.Owner, nullableMicros(s.LeaseUntil), s.Workspace, s.ID, s.Rev)
	if err != nil {
		return o.d.fail(err, "update session")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := o.GetSession(ctx, s.Workspace, s.ID); err != nil {
			return err
		}
		return errdefs.Conflict("session %s was modified concurrently; retry with its current state", s.ID)
	}
	if _, err := o.w.ExecContext(ctx, o.d.Rebind(`DELETE FROM session_memory_stores WHERE session_id = ?`), s.ID); err != nil {
		return o.d.fail(err, "update session memory stores")
	}
	if err := o.indexMemoryStores(ctx, s.ID, s.MemoryStoreIDs); err != nil {
		return err
	}
	s.Rev++
	return nil
}

func (o ops) DeleteSession(ctx context.Context, ws, id string) error {
	res, err := o.w.ExecContext(ctx, o.d.Rebind(`DELETE FROM sessions WHERE workspace = ? AND id = ?`), ws, id)
	if err != nil {
		return o.d.fail(err, "delete session")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("session %s not found", id)
	}
	for _, table := range []string{"session_events", "session_memory_stores"} {
		if _, err := o.w.ExecContext(ctx, o.d.Rebind(`DELETE FROM `+table+` WHERE session_id = ?`), id); err != nil {
			return o.d.fail(err, "delete session %s", strings.ReplaceAll(table, "_", " "))
		}
	}
	return nil
}

// sessionFilter renders the filters of q (everything but the cursor).
func sessionFilter(q store.SessionQuery) (where []string, args []any) {
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("workspace = ?", q.Workspace)
	if q.AgentID != "" {
		add("agent_id = ?", q.AgentID)
	}
	if q.AgentVersion != 0 {
		add("agent_version = ?", q.AgentVersion)
	}
	if q.DeploymentID != "" {
		add("deployment_id = ?", q.DeploymentID)
	}
	if q.MemoryStoreID != "" {
		add("EXISTS (SELECT 1 FROM session_memory_stores m WHERE m.session_id = sessions.id AND m.memory_store_id = ?)", q.MemoryStoreID)
	}
	if len(q.Statuses) > 0 {
		add("status IN (?"+strings.Repeat(", ?", len(q.Statuses)-1)+")", anys(q.Statuses)...)
	}
	if !q.IncludeArchived {
		add("archived_at IS NULL")
	}
	for _, c := range []struct {
		t     *time.Time
		op    string
		round func(time.Time) int64
	}{{q.CreatedGT, ">", micros}, {q.CreatedGTE, ">=", ceilMicros}, {q.CreatedLT, "<", ceilMicros}, {q.CreatedLTE, "<=", micros}} {
		if c.t != nil {
			add("created_at "+c.op+" ?", c.round(*c.t))
		}
	}
	return where, args
}

// ListSessions pages in either direction. In listing order, "after" a Seq
// means greater when ascending and smaller when descending; a Before page is
// read in reverse order from its cursor and flipped back.
func (o ops) ListSessions(ctx context.Context, q store.SessionQuery) (store.SessionPage, error) {
	if q.After > 0 && q.Before > 0 {
		return store.SessionPage{}, errdefs.Internal(errors.New("both After and Before set"), "list sessions")
	}
	asc := !q.Desc
	// past(c) selects what lies past Seq c in listing order, before(c) what
	// lies ahead of it; both exclusive.
	past := func(c int64) (string, any) {
		if asc {
			return "seq > ?", c
		}
		return "seq < ?", c
	}
	before := func(c int64) (string, any) {
		if asc {
			return "seq < ?", c
		}
		return "seq > ?", c
	}
	backward := q.Before > 0
	where, args := sessionFilter(q)
	var cond string
	var arg any
	switch {
	case backward:
		cond, arg = before(q.Before)
	case q.After > 0:
		cond, arg = past(q.After)
	}
	if cond != "" {
		where, args = append(where, cond), append(args, arg)
	}
	order := "ASC"
	if asc == backward {
		order = "DESC"
	}
	sqlq := `SELECT ` + sessionCols + ` FROM sessions WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq ` + order
	if q.Limit > 0 {
		sqlq += fmt.Sprintf(" LIMIT %d", q.Limit+1)
	}
	ss, err := o.querySessions(ctx, sqlq, args...)
	if err != nil {
		return store.SessionPage{}, err
	}
	more := q.Limit > 0 && len(ss) > q.Limit
	if more {
		ss = ss[:q.Limit]
	}
	if backward {
		slices.Reverse(ss)
	}
	p := store.SessionPage{Sessions: ss}
	// exists reports whether a session matching the filters lies beyond
	// the bound. An empty page has no end sessions to measure from, so its
	// links are taken from the cursor itself, made inclusive (Seqs are
	// integers, so "at or past c" is "past c∓1").
	exists := func(cond string, arg any) (bool, error) {
		w, a := sessionFilter(q)
		var one int
		err := o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT 1 FROM sessions WHERE `+strings.Join(append(w, cond), " AND ")+` LIMIT 1`), append(a, arg)...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, o.d.fail(err, "list sessions")
		}
		return true, nil
	}
	step := int64(1) // one position further in listing order
	if !asc {
		step = -1
	}
	switch {
	case backward:
		p.HasPrev = more
		if len(ss) > 0 {
			p.PrevBefore = ss[0].Seq
			p.NextAfter = ss[len(ss)-1].Seq
		} else {
			p.NextAfter = q.Before - step
		}
		// NextAfter 0 with asc means "from the start", which is exactly
		// "at or past Seq 1", so no guard is needed here.
		if p.HasNext, err = exists(past(p.NextAfter)); err != nil {
			return store.SessionPage{}, err
		}
	case q.After > 0:
		p.HasNext = more
		if len(ss) > 0 {
			p.NextAfter = ss[len(ss)-1].Seq
			p.PrevBefore = ss[0].Seq
		} else {
			p.PrevBefore = q.After + step
		}
		// Before 0 means "no cursor", so a descending page that would
		// need "before Seq 0" (only reachable with a cursor of 1, which
		// no next page ever carries, as Seq 1 ends a descending listing)
		// gets no previous link.
		if p.PrevBefore > 0 {
			if p.HasPrev, err = exists(before(p.PrevBefore)); err != nil {
				return store.SessionPage{}, err
			}
		}
	default:
		p.HasNext = more
		if len(ss) > 0 {
			p.NextAfter = ss[len(ss)-1].Seq
		}
	}
	if !p.HasNext {
		p.NextAfter = 0
	}
	if !p.HasPrev {
		p.PrevBefore = 0
	}
	return p, nil
}

func (o ops) querySessions(ctx context.Context, q string, args ...any) ([]store.Session, error) {
	rows, err := o.r.QueryContext(ctx, o.d.Rebind(q), args...)
	if err != nil {
		return nil, o.d.fail(err, "list sessions")
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, o.d.fail(err, "scan session")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, o.d.fail(err, "list sessions")
	}
	return out, nil
}

func (o ops) ListSessionsByStatus(ctx context.Context, statuses []string, afterSeq int64, limit int) ([]store.Session, error) {
	where, args := []string{"seq > ?"}, []any{afterSeq}
	if len(statuses) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(statuses)-1)+")")
		args = append(args, anys(statuses)...)
	}
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq ASC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return o.querySessions(ctx, q, args...)
}

// Events.

const eventCols = `session_id, seq, id, type, thread_id, created_at, processed_at, data, private`

func scanEvent(sc interface{ Scan(...any) error }) (store.Event, error) {
	var e store.Event
	var created int64
	var processed sql.NullInt64
	var data, private []byte
	if err := sc.Scan(&e.SessionID, &e.Seq, &e.ID, &e.Type, &e.ThreadID, &created, &processed, &data, &private); err != nil {
		return e, err
	}
	e.CreatedAt, e.ProcessedAt, e.Data = fromMicros(created), timeFromNull(processed), data
	if len(private) > 0 {
		e.Private = private
	}
	return e, nil
}

// eventBatch bounds the rows of one INSERT, well under every engine's limit
// on bind parameters.
const eventBatch = 100

func (o ops) AppendEvents(ctx context.Context, sessionID string, evs []*store.Event) error {
	ids := make([]string, 0, len(evs))
	for i, e := range evs {
		if e.ID == "" || e.Type == "" || len(e.Data) == 0 {
			return errdefs.Internal(fmt.Errorf("event %d lacks an id, type or data", i), "append events")
		}
		if slices.Contains(ids, e.ID) {
			return errdefs.Conflict("session event %s appears twice in one append", e.ID)
		}
		ids = append(ids, e.ID)
	}
	// Checked before the counter moves, so a conflict leaves the
	// transaction as it was and the caller may carry on with it.
	if err := o.checkNewEventIDs(ctx, ids); err != nil {
		return err
	}
	// Bumping the counter locks the session row (PostgreSQL) or runs on
	// the only writer (SQLite); either way concurrent appends to one
	// session take their numbers one after the other.
	var last int64
	err := o.w.QueryRowContext(ctx, o.d.Rebind(`UPDATE sessions SET last_event_seq = last_event_seq + ? WHERE id = ? RETURNING last_event_seq`),
		len(evs), sessionID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return errdefs.NotFound("session %s not found", sessionID)
	}
	if err != nil {
		return o.d.fail(err, "append events")
	}
	now := time.Now()
	first := last - int64(len(evs)) + 1
	for start := 0; start < len(evs); start += eventBatch {
		chunk := evs[start:min(start+eventBatch, len(evs))]
		args := make([]any, 0, 9*len(chunk))
		for i, e := range chunk {
			if e.CreatedAt.IsZero() {
				e.CreatedAt = now
			}
			e.CreatedAt, e.ProcessedAt = norm(e.CreatedAt), normPtr(e.ProcessedAt)
			e.SessionID, e.Seq = sessionID, first+int64(start+i)
			args = append(args, e.SessionID, e.Seq, e.ID, e.Type, e.ThreadID, micros(e.CreatedAt), nullableMicros(e.ProcessedAt), []byte(e.Data), []byte(e.Private))
		}
		q := `INSERT INTO session_events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?)", len(chunk)-1)
		if _, err := o.w.ExecContext(ctx, o.d.Rebind(q), args...); err != nil {
			if o.d.IsUnique(err) {
				// A concurrent transaction stored one of the ids
				// after the check above.
				return errdefs.Conflict("a session event with one of these ids already exists")
			}
			return o.d.fail(err, "append events")
		}
	}
	return nil
}

// checkNewEventIDs fails with a conflict naming the first id already stored.
func (o ops) checkNewEventIDs(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += eventBatch {
		chunk := ids[start:min(start+eventBatch, len(ids))]
		var found string
		err := o.w.QueryRowContext(ctx, o.d.Rebind(`SELECT id FROM session_events WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`) LIMIT 1`), anys(chunk)...).Scan(&found)
		if err == nil {
			return errdefs.Conflict("session event %s already exists", found)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return o.d.fail(err, "append events")
		}
	}
	return nil
}

func (o ops) SetEventsProcessed(ctx context.Context, sessionID string, updates []store.Event) error {
	// Every id is checked first, so an unknown one changes nothing even
	// inside a transaction the caller goes on with.
	var ids []string
	for _, u := range updates {
		if !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	for start := 0; start < len(ids); start += eventBatch {
		chunk := ids[start:min(start+eventBatch, len(ids))]
		rows, err := o.w.QueryContext(ctx, o.d.Rebind(`SELECT id FROM session_events WHERE session_id = ? AND id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`),
			append([]any{sessionID}, anys(chunk)...)...)
		if err != nil {
			return o.d.fail(err, "set events processed")
		}
		seen := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return o.d.fail(err, "set events processed")
			}
			seen[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return o.d.fail(err, "set events processed")
		}
		for _, id := range chunk {
			if !seen[id] {
				return errdefs.NotFound("session event %s not found", id)
			}
		}
	}
	for i := range updates {
		u := &updates[i]
		u.ProcessedAt = normPtr(u.ProcessedAt)
		var data any
		if u.Data != nil {
			data = []byte(u.Data)
		}
		e, err := scanEvent(o.w.QueryRowContext(ctx, o.d.Rebind(`UPDATE session_events SET processed_at = ?, data = COALESCE(?, data)
			WHERE session_id = ? AND id = ? RETURNING `+eventCols), nullableMicros(u.ProcessedAt), data, sessionID, u.ID))
		if err != nil {
			return o.d.fail(err, "set event %s processed", u.ID)
		}
		*u = e
	}
	return nil
}

func (o ops) GetEvent(ctx context.Context, sessionID, id string) (store.Event, error) {
	e, err := scanEvent(o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT `+eventCols+` FROM session_events WHERE session_id = ? AND id = ?`), sessionID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, errdefs.NotFound("session event %s not found", id)
	}
	if err != nil {
		return e, o.d.fail(err, "get session event")
	}
	return e, nil
}

func (o ops) ListEvents(ctx context.Context, q store.EventQuery) (store.EventPage, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("session_id = ?", q.SessionID)
	if len(q.Types) > 0 {
		add("type IN (?"+strings.Repeat(", ?", len(q.Types)-1)+")", anys(q.Types)...)
	}
	if q.ThreadSet {
		add("thread_id = ?", q.ThreadID)
	}
	// A NULL processed_at fails every comparison, which is the contract:
	// unprocessed events match no time bound.
	for _, c := range []struct {
		t     *time.Time
		op    string
		round func(time.Time) int64
	}{{q.ProcessedGT, ">", micros}, {q.ProcessedGTE, ">=", ceilMicros}, {q.ProcessedLT, "<", ceilMicros}, {q.ProcessedLTE, "<=", micros}} {
		if c.t != nil {
			add("processed_at "+c.op+" ?", c.round(*c.t))
		}
	}
	order := "ASC"
	if q.Desc {
		order = "DESC"
		if q.After > 0 {
			add("seq < ?", q.After)
		}
	} else if q.After > 0 {
		add("seq > ?", q.After)
	}
	sqlq := `SELECT ` + eventCols + ` FROM session_events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq ` + order
	if q.Limit > 0 {
		sqlq += fmt.Sprintf(" LIMIT %d", q.Limit+1)
	}
	evs, err := o.queryEvents(ctx, sqlq, args...)
	if err != nil {
		return store.EventPage{}, err
	}
	p := store.EventPage{Events: evs}
	if q.Limit > 0 && len(evs) > q.Limit {
		p.Events, p.More = evs[:q.Limit], true
	}
	return p, nil
}

func (o ops) queryEvents(ctx context.Context, q string, args ...any) ([]store.Event, error) {
	rows, err := o.r.QueryContext(ctx, o.d.Rebind(q), args...)
	if err != nil {
		return nil, o.d.fail(err, "list session events")
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, o.d.fail(err, "scan session event")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, o.d.fail(err, "list session events")
	}
	return out, nil
}

func (o ops) EventsSince(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]store.Event, error) {
	q := `SELECT ` + eventCols + ` FROM session_events WHERE session_id = ? AND seq > ? ORDER BY seq ASC`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return o.queryEvents(ctx, q, sessionID, afterSeq)
}

func (o ops) LastEventSeq(ctx context.Context, sessionID string) (int64, error) {
	var n int64
	err := o.r.QueryRowContext(ctx, o.d.Rebind(`SELECT last_event_seq FROM sessions WHERE id = ?`), sessionID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errdefs.NotFound("session %s not found", sessionID)
	}
	if err != nil {
		return 0, o.d.fail(err, "last event seq")
	}
	return n, nil
}
