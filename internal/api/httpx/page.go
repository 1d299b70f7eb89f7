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

// ListParams are the query parameters shared by list endpoints.
type ListParams struct {
	Limit int
	// After is the store Seq the page continues from (0: first page).
	After int64
	Desc  bool
}

// ParseList reads limit, page and order. Cursors are opaque tokens that
// carry the position and the order they were made for; a cursor reused with
// another order is rejected.
func ParseList(q url.Values, def, max int, defaultDesc bool) (ListParams, error) {
	p := ListParams{Limit: def, Desc: defaultDesc}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, errdefs.Invalid("limit: must be an integer, got %q", v)
		}
		if n < 1 || n > max {
			return p, errdefs.Invalid("limit: must be between 1 and %d, got %d", max, n)
		}
		p.Limit = n
	}
	if v := q.Get("order"); v != "" {
		switch v {
		case "asc":
			p.Desc = false
		case "desc":
			p.Desc = true
		default:
			return p, errdefs.Invalid("order: must be \"asc\" or \"desc\", got %q", v)
		}
	}
	if v := q.Get("page"); v != "" {
		seq, desc, err := DecodeCursor(v)
		if err != nil {
			return p, errdefs.Invalid("page: invalid page cursor")
		}
		if q.Get("order") != "" && desc != p.Desc {
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

// ParseCreatedRange reads created_at[gt|gte|lt|lte] into o.
func ParseCreatedRange(q url.Values, o *store.ListOptions) error {
	for _, f := range []struct {
		op  string
		dst **time.Time
	}{{"gt", &o.CreatedGT}, {"gte", &o.CreatedGTE}, {"lt", &o.CreatedLT}, {"lte", &o.CreatedLTE}} {
		name := "created_at[" + f.op + "]"
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return errdefs.Invalid("%s: must be an RFC 3339 timestamp, got %q", name, v)
		}
		*f.dst = &t
	}
	return nil
}

// ParseBool reads an optional boolean query parameter.
func ParseBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errdefs.Invalid("%s: must be true or false, got %q", name, v)
	}
	return b, nil
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
	q := r.URL.Query()
	lp, err := ParseList(q, def, max, true)
	if err != nil {
		return err
	}
	if o.IncludeArchived, err = ParseBool(q, "include_archived"); err != nil {
		return err
	}
	if err := ParseCreatedRange(q, &o); err != nil {
		return err
	}
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
