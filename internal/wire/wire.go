// Package wire holds the JSON types of the Managed Agents API as the official
// SDK speaks it: objects, request bodies, pages, deletion receipts and the
// helpers that give JSON fields their omitted / null / value states.
package wire

import (
	"bytes"
	"encoding/json"
	"time"
)

// Now is the current time at the precision the store keeps (microseconds),
// so an object reads back exactly as it was returned on create.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Page is the PageCursor list shape.
type Page[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
}

// BidiPage is the BidirectionalPageCursor list shape (sessions).
type BidiPage[T any] struct {
	Data     []T     `json:"data"`
	NextPage *string `json:"next_page"`
	PrevPage *string `json:"prev_page"`
}

// Deleted is the receipt every DELETE returns.
type Deleted struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Opt is a request field with three states: omitted (Set false), null
// (Set and Null), or a value.
type Opt[T any] struct {
	Set  bool
	Null bool
	V    T
}

func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// Value reports the value when one was given.
func (o Opt[T]) Value() (T, bool) { return o.V, o.Set && !o.Null }

// Metadata is a string map that is always sent, as {} when empty.
type Metadata map[string]string

func (m Metadata) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]string(m))
}

// MetadataPatch is an update body's metadata: a string upserts the key, null
// deletes it.
type MetadataPatch map[string]*string

// Apply returns m with the patch applied (m is not modified).
func (p MetadataPatch) Apply(m Metadata) Metadata {
	out := Metadata{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}
