package sessions

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// Session list limits (default 20, like the other lists).
const (
	listDefault = 20
	listMax     = 100
)

// cursor is a position in the session list: the store Seq to continue
// after (or, Backward, to end before) and the order it was made for, so it
// cannot be replayed with another order. Seq 0 going forward is
// the first page, which a next_page after an empty page before the start
// legitimately points to.
type cursor struct {
	Seq      int64
	Desc     bool
	Backward bool
}

const cursorPrefix = "sesnpg_"

func encodeCursor(c cursor) string {
	b := []byte{'n', 'a'}
	if c.Backward {
		b[0] = 'p'
	}
	if c.Desc {
		b[1] = 'd'
	}
	b = strconv.AppendInt(b, c.Seq, 10)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	bad := errdefs.Invalid("page: invalid page cursor")
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < 3 || (b[0] != 'n' && b[0] != 'p') || (b[1] != 'a' && b[1] != 'd') {
		return cursor{}, bad
	}
	n, err := strconv.ParseInt(string(b[2:]), 10, 64)
	if err != nil || n < 0 || (b[0] == 'p' && n == 0) || strconv.FormatInt(n, 10) != string(b[2:]) {
		return cursor{}, bad
	}
	return cursor{Seq: n, Desc: b[1] == 'd', Backward: b[0] == 'p'}, nil
}

// parseListQuery reads GET /v1/sessions's query into a
// store query; the caller sets the workspace. Unknown parameters are
// ignored, as on every endpoint.
func parseListQuery(q url.Values) (store.SessionQuery, error) {
	sq := store.SessionQuery{Limit: listDefault, Desc: true}
	lq, err := httpx.ParseListQuery(q, listDefault, listMax)
	if err != nil {
		return sq, err
	}
	sq.Limit, sq.IncludeArchived = lq.Limit, lq.IncludeArchived
	sq.CreatedGT, sq.CreatedGTE, sq.CreatedLT, sq.CreatedLTE = lq.CreatedGT, lq.CreatedGTE, lq.CreatedLT, lq.CreatedLTE
	if lq.Order != "" {
		sq.Desc = lq.Order == "desc"
	}
	if lq.Page != "" {
		c, err := decodeCursor(lq.Page)
		if err != nil {
			return sq, err
		}
		if lq.Order != "" && c.Desc != sq.Desc {
			return sq, errdefs.Invalid("page: the cursor was created with order=%s; send the same order or none", orderName(c.Desc))
		}
		sq.Desc = c.Desc
		if c.Backward {
			sq.Before = c.Seq
		} else {
			sq.After = c.Seq
		}
	}
	sq.AgentID = q.Get("agent_id")
	if v := q.Get("agent_version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return sq, errdefs.Invalid("agent_version: must be an integer, got %q", v)
		}
		if n < 1 {
			return sq, errdefs.Invalid("agent_version: must be at least 1, got %d", n)
		}
		// "Only applies when agent_id is also set" (SDK docs).
		if sq.AgentID != "" {
			sq.AgentVersion = n
		}
	}
	sq.DeploymentID = q.Get("deployment_id")
	sq.MemoryStoreID = q.Get("memory_store_id")
	for _, s := range httpx.QueryList(q, "statuses") {
		if !store.IsSessionStatus(s) {
			return sq, errdefs.Invalid("statuses: unknown value %q, expected one of %v", s, store.SessionStatuses)
		}
		if !slices.Contains(sq.Statuses, s) {
			sq.Statuses = append(sq.Statuses, s)
		}
	}
	return sq, nil
}

func orderName(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}
