package httpx

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// ListQuery holds the query parameters list endpoints share. Every list
// reads them with ParseListQuery, so a bad value is the same 400 naming the
// parameter on every list, also on one with nothing to filter by it (no
// file is ever archived): one rule, rather than some lists rejecting what
// others silently ignore.
type ListQuery struct {
	// Limit is the page size asked for, or the endpoint's default.
	Limit int
	// Order is "asc", "desc", or "" when the client sent none.
	Order string
	// Page is the cursor as sent; its format is the endpoint's.
	Page            string
	IncludeArchived bool
	// Created bounds created_at (processed_at on the event list).
	CreatedGT, CreatedGTE, CreatedLT, CreatedLTE *time.Time
}

// ParseListQuery reads limit (1..max, def when absent), order, page,
// include_archived and created_at[gt|gte|lt|lte].
func ParseListQuery(q url.Values, def, max int) (ListQuery, error) {
	lq := ListQuery{Limit: def, Page: q.Get("page")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lq, errdefs.Invalid("limit: must be an integer, got %q", v)
		}
		if n < 1 || n > max {
			return lq, errdefs.Invalid("limit: must be between 1 and %d, got %d", max, n)
		}
		lq.Limit = n
	}
	switch v := q.Get("order"); v {
	case "", "asc", "desc":
		lq.Order = v
	default:
		return lq, errdefs.Invalid("order: must be \"asc\" or \"desc\", got %q", v)
	}
	if v := q.Get("include_archived"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return lq, errdefs.Invalid("include_archived: must be true or false, got %q", v)
		}
		lq.IncludeArchived = b
	}
	for _, f := range []struct {
		op  string
		dst **time.Time
	}{{"gt", &lq.CreatedGT}, {"gte", &lq.CreatedGTE}, {"lt", &lq.CreatedLT}, {"lte", &lq.CreatedLTE}} {
		name := "created_at[" + f.op + "]"
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return lq, errdefs.Invalid("%s: must be an RFC 3339 timestamp, got %q", name, v)
		}
		*f.dst = &t
	}
	return lq, nil
}

// Filter fills the archived and created_at filters of store.ListOptions.
func (lq ListQuery) Filter(o *store.ListOptions) {
	o.IncludeArchived = lq.IncludeArchived
	o.CreatedGT, o.CreatedGTE, o.CreatedLT, o.CreatedLTE = lq.CreatedGT, lq.CreatedGTE, lq.CreatedLT, lq.CreatedLTE
}

// ListParams are the paging parameters of a list that uses the generic
// cursor.
type ListParams struct {
	Limit int
	// After is the store Seq the page continues from (0: first page).
	After int64
	Desc  bool
}

// ParseList reads the shared list parameters and the generic cursor.
func ParseList(q url.Values, def, max int, defaultDesc bool) (ListParams, error) {
	lq, err := ParseListQuery(q, def, max)
	if err != nil {
		return ListParams{}, err
	}
	return lq.Params(defaultDesc)
}

// Params decodes the generic cursor. Cursors are opaque tokens that carry
// the position and the order they were made for; a cursor reused with
// another order is rejected.
func (lq ListQuery) Params(defaultDesc bool) (ListParams, error) {
	p := ListParams{Limit: lq.Limit, Desc: defaultDesc}
	if lq.Order != "" {
		p.Desc = lq.Order == "desc"
	}
	if lq.Page != "" {
		seq, desc, err := DecodeCursor(lq.Page)
		if err != nil {
			return p, errdefs.Invalid("page: invalid page cursor")
		}
		if lq.Order != "" && desc != p.Desc {
			return p, errdefs.Invalid("page: cursor was created with a different order")
		}
		p.After, p.Desc = seq, desc
	}
	return p, nil
}

func EncodeCursor(seq int64, desc bool) string {
	d := "a"
	if desc {
		d = "d"
	}
	return "page_" + base64.RawURLEncoding.EncodeToString([]byte(d+strconv.FormatInt(seq, 10)))
}

func DecodeCursor(s string) (int64, bool, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "page_"))
	if err != nil || len(b) < 2 || (b[0] != 'a' && b[0] != 'd') {
		return 0, false, errdefs.Invalid("bad cursor")
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, false, errdefs.Invalid("bad cursor")
	}
	return n, b[0] == 'd', nil
}

// NextPage returns the cursor after the last record of a page, or nil.
func NextPage(p store.Page, desc bool) *string {
	if !p.More || len(p.Records) == 0 {
		return nil
	}
	c := EncodeCursor(p.Records[len(p.Records)-1].Seq, desc)
	return &c
}

// Apply fills the paging part of store.ListOptions.
func (lp ListParams) Apply(o *store.ListOptions) {
	o.Limit, o.After, o.Desc = lp.Limit, lp.After, lp.Desc
}

// QueryList returns every value of an array parameter in any of the forms
// clients send: name[]=a&name[]=b, name=a&name=b, or name=a,b.
func QueryList(q url.Values, name string) []string {
	var out []string
	for _, k := range []string{name + "[]", name} {
		for _, v := range q[k] {
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
	}
	return out
}

// ListRecords serves the common PageCursor list of control-plane records,
// newest first: it reads limit, page, order, include_archived and
// created_at[...] into o, lists, and writes the records' stored documents
// (which are the wire objects) as the page.
func ListRecords(w http.ResponseWriter, r *http.Request, st store.Tx, o store.ListOptions, def, max int) error {
	lq, err := ParseListQuery(r.URL.Query(), def, max)
	if err != nil {
		return err
	}
	lp, err := lq.Params(true)
	if err != nil {
		return err
	}
	lq.Filter(&o)
	lp.Apply(&o)
	page, err := st.List(r.Context(), o)
	if err != nil {
		return err
	}
	out := recordPage{Data: make([]json.RawMessage, 0, len(page.Records)), NextPage: NextPage(page, lp.Desc)}
	for _, rec := range page.Records {
		out.Data = append(out.Data, rec.Data)
	}
	return OK(w, out)
}

type recordPage struct {
	Data     []json.RawMessage `json:"data"`
	NextPage *string           `json:"next_page"`
}
