package jsonobj

import (
	"encoding/json"
	"testing"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// walk decodes {"type"?, "name", "n"?, "on"?, "tags"?} the way the API
// decoders do, so the tests see the messages clients see.
func walk(raw []byte) error {
	o, err := New("", raw)
	if err != nil {
		return err
	}
	if err := o.ConstType("thing", false); err != nil {
		return err
	}
	if _, err := o.RequiredStr("name"); err != nil {
		return err
	}
	if _, err := o.OptInt("n"); err != nil {
		return err
	}
	if _, err := o.Bool("on"); err != nil {
		return err
	}
	if raw, p := o.Get("tags"); p == Present {
		if _, err := Strings(o.At("tags"), raw); err != nil {
			return err
		}
	}
	if raw, p := o.Get("child"); p == Present {
		c, err := New(o.At("child"), raw)
		if err != nil {
			return err
		}
		if _, err := c.Discriminator(); err != nil {
			return err
		}
		if err := c.Finish(); err != nil {
			return err
		}
	}
	return o.Finish()
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"name":"a"}`, ""},
		{`[]`, "request body must be a JSON object, got an array"},
		{`{}`, "name: field required"},
		{`{"name":null}`, "name: field required"},
		{`{"name":1}`, "name: expected a string, got a number"},
		{`{"name":"a","type":"other"}`, `type: unknown value "other", expected "thing"`},
		{`{"name":"a","n":3.0}`, "n: expected an integer, got 3.0"},
		{`{"name":"a","n":"3"}`, "n: expected an integer, got a string"},
		{`{"name":"a","on":"yes"}`, "on: expected a boolean, got a string"},
		{`{"name":"a","tags":["x",2]}`, "tags[1]: expected a string, got a number"},
		{`{"name":"a","tags":{}}`, "tags: expected an array, got an object"},
		{`{"name":"a","child":[]}`, "child: expected an object, got an array"},
		{`{"name":"a","child":{}}`, "child.type: field required"},
		{`{"name":"a","child":{"type":"x","z":1,"y":2}}`, "child.y: unknown field"},
		{`{"name":"a","zz":1,"b":2}`, "b: unknown field"},
	} {
		err := walk([]byte(tc.body))
		got := ""
		if err != nil {
			got = err.Error()
			if errdefs.ClassOf(err) != errdefs.ClassInvalid {
				t.Errorf("%s: class %v, want invalid", tc.body, errdefs.ClassOf(err))
			}
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestHasKeysDoNotConsume(t *testing.T) {
	o, err := New("p", json.RawMessage(`{"b":null,"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if !o.Has("b") || o.Has("c") {
		t.Fatal("Has")
	}
	if k := o.Keys(); len(k) != 2 || k[0] != "a" || k[1] != "b" {
		t.Fatalf("Keys = %v", k)
	}
	if err := o.Finish(); err == nil || err.Error() != "p.a: unknown field" {
		t.Fatalf("Finish = %v", err)
	}
}

// FuzzWalk: any input is either accepted or a 400, never a panic.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{`{"name":"a","tags":["x"],"child":{"type":"t"}}`, `{"n":1e3}`, `null`, ``, `{"on":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		if err := walk(b); err != nil && errdefs.ClassOf(err) != errdefs.ClassInvalid {
			t.Fatalf("%q: %v", b, err)
		}
	})
}
