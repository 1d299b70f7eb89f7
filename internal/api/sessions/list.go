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

// Session list limits (resources.md §4: default 20, like the other lists).
const (
	listDefault = 20
	listMax     = 100
)

// cursor is a position in the session list: the store Seq to continue
// after (or, Backward, to end before) and the order it was made for, so it
// cannot be replayed with another order (PAG-02). Seq 0 going forward is
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

// parseListQuery reads GET /v1/sessions's query (resources.md §4) into a
// store query; the caller sets the workspace. Unknown parameters are
// ignored, as on every endpoint.
func parseListQuery(q url.Values) (store.SessionQuery, error) {
	sq := store.SessionQuery{Limit: listDefault, Desc: true}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return sq, errdefs.Invalid("limit: must be an integer, got %q", v)
		}
		if n < 1 || n > listMax {
			return sq, errdefs.Invalid("limit: must be between 1 and %d, got %d", listMax, n)
		}
		sq.Limit = n
	}
	order := q.Get("order")
	switch order {
	case "":
	case "asc":
		sq.Desc = false
	case "desc":
		sq.Desc = true
	default:
		return sq, errdefs.Invalid("order: must be \"asc\" or \"desc\", got %q", order)
	}
	if v := q.Get("page"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return sq, err
		}
		if order != "" && c.Desc != sq.Desc {
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
	inc, err := httpx.ParseBool(q, "include_archived")
	if err != nil {
		return sq, err
	}
	sq.IncludeArchived = inc
	for _, s := range httpx.QueryList(q, "statuses") {
		if !store.IsSessionStatus(s) {
			return sq, errdefs.Invalid("statuses: unknown value %q, expected one of %v", s, store.SessionStatuses)
		}
		if !slices.Contains(sq.Statuses, s) {
			sq.Statuses = append(sq.Statuses, s)
		}
	}
	var rng store.ListOptions
	if err := httpx.ParseCreatedRange(q, &rng); err != nil {
		return sq, err
	}
	sq.CreatedGT, sq.CreatedGTE, sq.CreatedLT, sq.CreatedLTE = rng.CreatedGT, rng.CreatedGTE, rng.CreatedLT, rng.CreatedLTE
	return sq, nil
}

func orderName(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}
