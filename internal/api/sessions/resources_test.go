package sessions

import (
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/api/httpx"
	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/wire"
)

var resourceBodySeeds = []string{
	`{"type":"file","file_id":"file_1"}`,
	`{"type":"file","file_id":"file_1","mount_path":"/mnt/data/a.txt"}`,
	`{"file_id":"file_1"}`,
	`{"type":"file","file_id":null}`,
	`{"type":"file","file_id":"../x"}`,
	`{"type":"file","file_id":"file_1","mount_path":"/mnt/session/outputs/x"}`,
	`{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"t"}`,
	`{"type":"memory_store","memory_store_id":"memstore_1"}`,
	`{"authorization_token":"ghs_x"}`,
	`{"authorization_token":""}`,
	`{"authorization_token":"a\nb"}`,
	`{"authorization_token":1}`,
	`[]`, `null`, `{`, ``,
}

// The add and update bodies decode to a value or a
// 400 naming a field, never a panic or another class; a token is never
// echoed in a message.
func FuzzResourceBodies(f *testing.F) {
	for _, s := range resourceBodySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var add fileResourceBody
		if err := httpx.DecodeBytes([]byte(body), &add); err != nil {
			if errdefs.ClassOf(err) != errdefs.ClassInvalid {
				t.Fatalf("add %q: %v", body, err)
			}
		} else if add.p.Type != wire.ResourceFile || add.p.FileID == "" || !strings.HasPrefix(add.p.EffectiveMountPath(), "/") {
			t.Fatalf("add %q decoded to %v", body, add.p)
		}
		var upd wire.ResourceUpdateParams
		err := httpx.DecodeBytes([]byte(body), &upd)
		if err == nil {
			err = upd.Validate()
		}
		if err != nil {
			if errdefs.ClassOf(err) != errdefs.ClassInvalid {
				t.Fatalf("update %q: %v", body, err)
			}
			if len(upd.AuthorizationToken) > 3 && strings.Contains(err.Error(), upd.AuthorizationToken) {
				t.Fatalf("update error echoes the token: %v", err)
			}
		}
	})
}

func resources(n int) []wire.SessionResource {
	rs := make([]wire.SessionResource, n)
	for i := range rs {
		rs[i] = wire.SessionResource{Type: wire.ResourceFile, ID: "sesrsc_" + string(rune('a'+i)), FileID: "file_1"}
	}
	return rs
}

// Pages cover every resource once, in order, and a cursor
// whose resource was deleted continues at its position.
func TestPageResources(t *testing.T) {
	rs := resources(5)
	for _, limit := range []int{0, 1, 2, 5, 1000} {
		var got []string
		page := ""
		for i := 0; ; i++ {
			p, err := pageResources(rs, limit, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Data {
				got = append(got, r.ID)
			}
			if p.NextPage == nil {
				break
			}
			if i > 10 {
				t.Fatal("no end")
			}
			page = *p.NextPage
		}
		if len(got) != 5 || got[0] != rs[0].ID || got[4] != rs[4].ID {
			t.Fatalf("limit %d: %v", limit, got)
		}
	}
	p, _ := pageResources(rs, 2, "")
	// Delete the page's last resource: the next page starts after it.
	rest := append(append([]wire.SessionResource{}, rs[:1]...), rs[2:]...)
	next, err := pageResources(rest, 2, *p.NextPage)
	if err != nil || len(next.Data) != 2 || next.Data[0].ID != rs[2].ID {
		t.Fatalf("after delete: %v, %v", next.Data, err)
	}
	if _, err := pageResources(rs, 2, "page_bogus"); errdefs.ClassOf(err) != errdefs.ClassInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
	empty, err := pageResources(nil, 0, "")
	if err != nil || empty.Data == nil || empty.NextPage != nil {
		t.Fatalf("empty: %+v, %v", empty, err)
	}
}

// The cursor decoder takes anything without panicking.
func FuzzResourceCursor(f *testing.F) {
	f.Add(encodeResourceCursor("sesrsc_a", 3))
	f.Add("page_")
	f.Add("page_MTpzZXNyc2NfYQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		id, n, err := decodeResourceCursor(c)
		if err == nil && (n < 0 || !strings.HasPrefix(id, "sesrsc_")) {
			t.Fatalf("%q decoded to %q %d", c, id, n)
		}
		_, _ = pageResources(resources(3), 1, c)
	})
}
