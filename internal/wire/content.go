package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Content block types of session events (events.md §10).
const (
	BlockText         = "text"
	BlockImage        = "image"
	BlockDocument     = "document"
	BlockRedacted     = "redacted"
	BlockSearchResult = "search_result"
)

// Source types of image and document blocks.
const (
	SourceBase64 = "base64"
	SourceText   = "text"
	SourceURL    = "url"
	SourceFile   = "file"
)

// Which blocks each event may carry (events.md §10).
var (
	UserMessageBlocks  = []string{BlockText, BlockImage, BlockDocument, BlockRedacted}
	ToolResultBlocks   = []string{BlockText, BlockImage, BlockDocument, BlockSearchResult}
	AgentMessageBlocks = []string{BlockText, BlockRedacted}
	SystemBlocks       = []string{BlockText}
	allBlocks          = []string{BlockText, BlockImage, BlockDocument, BlockRedacted, BlockSearchResult}
)

// Media types the model accepts inline (the Messages API's set).
var (
	ImageMediaTypes    = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
	DocumentMediaTypes = []string{"application/pdf"}
)

// ContentBlock is one element of an event's content: exactly the fields of
// its Type are meaningful. It is both the decoded request form and the
// persisted/echoed form, so an event reads back exactly as it was sent.
type ContentBlock struct {
	Type    string
	Text    string         // text
	Source  *ContentSource // image, document
	Title   *string        // document (nullable)
	Context *string        // document (nullable)
	Search  *SearchResult  // search_result
}

// ContentSource is the source of an image or document block.
type ContentSource struct {
	Type      string // base64, text (documents only), url, file
	MediaType string // base64, text
	Data      string // base64, text
	URL       string // url
	FileID    string // file
}

// SearchResult is the body of a search_result block; every field is
// required on the wire.
type SearchResult struct {
	Source           string   // the result's URL
	Title            string   //
	Content          []string // text items
	CitationsEnabled bool
}

// NewTextBlock returns a text block.
func NewTextBlock(s string) ContentBlock { return ContentBlock{Type: BlockText, Text: s} }

// TextOf concatenates the text blocks of content (tests, logs, titles).
func TextOf(content []ContentBlock) string {
	var b strings.Builder
	for _, c := range content {
		if c.Type == BlockText {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

type textJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (c ContentBlock) MarshalJSON() ([]byte, error) {
	switch c.Type {
	case BlockText:
		return json.Marshal(textJSON{c.Type, c.Text})
	case BlockRedacted:
		return json.Marshal(TypeOnly{Type: c.Type})
	case BlockImage:
		if c.Source == nil {
			return nil, fmt.Errorf("wire: image block without source")
		}
		return json.Marshal(struct {
			Type   string         `json:"type"`
			Source *ContentSource `json:"source"`
		}{c.Type, c.Source})
	case BlockDocument:
		if c.Source == nil {
			return nil, fmt.Errorf("wire: document block without source")
		}
		return json.Marshal(struct {
			Type    string         `json:"type"`
			Source  *ContentSource `json:"source"`
			Title   *string        `json:"title"`
			Context *string        `json:"context"`
		}{c.Type, c.Source, c.Title, c.Context})
	case BlockSearchResult:
		if c.Search == nil {
			return nil, fmt.Errorf("wire: search_result block without body")
		}
		items := make([]textJSON, len(c.Search.Content))
		for i, t := range c.Search.Content {
			items[i] = textJSON{BlockText, t}
		}
		return json.Marshal(struct {
			Type      string     `json:"type"`
			Source    string     `json:"source"`
			Title     string     `json:"title"`
			Content   []textJSON `json:"content"`
			Citations struct {
				Enabled bool `json:"enabled"`
			} `json:"citations"`
		}{Type: c.Type, Source: c.Search.Source, Title: c.Search.Title, Content: items,
			Citations: struct {
				Enabled bool `json:"enabled"`
			}{c.Search.CitationsEnabled}})
	}
	return nil, fmt.Errorf("wire: unknown content block type %q", c.Type)
}

// UnmarshalJSON reads any block type (the persisted form). Request decoders
// use decodeBlocks instead, which knows the field path and the allowed set.
func (c *ContentBlock) UnmarshalJSON(b []byte) error {
	v, err := decodeBlock("content", b, allBlocks)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func (s ContentSource) MarshalJSON() ([]byte, error) {
	switch s.Type {
	case SourceBase64, SourceText:
		mt := s.MediaType
		if s.Type == SourceText {
			mt = "text/plain"
		}
		return json.Marshal(struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		}{s.Type, mt, s.Data})
	case SourceURL:
		return json.Marshal(struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		}{s.Type, s.URL})
	case SourceFile:
		return json.Marshal(struct {
			Type   string `json:"type"`
			FileID string `json:"file_id"`
		}{s.Type, s.FileID})
	}
	return nil, fmt.Errorf("wire: unknown content source type %q", s.Type)
}

// decodeBlocks reads a content array whose blocks must be of the allowed
// types. Shape only: values are checked by validateBlocks.
func decodeBlocks(path string, raw json.RawMessage, allowed []string) ([]ContentBlock, error) {
	items, err := jArray(path, raw)
	if err != nil {
		return nil, err
	}
	out := make([]ContentBlock, 0, len(items))
	for i, it := range items {
		b, err := decodeBlock(jIdx(path, i), it, allowed)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeBlock(path string, raw json.RawMessage, allowed []string) (ContentBlock, error) {
	var c ContentBlock
	o, err := jNewObj(path, raw)
	if err != nil {
		return c, err
	}
	if c.Type, err = o.discriminator(); err != nil {
		return c, err
	}
	if !slices.Contains(allowed, c.Type) {
		if slices.Contains(allBlocks, c.Type) {
			return c, jErr(o.at("type"), "%q blocks are not allowed here, expected one of %v", c.Type, allowed)
		}
		return c, jErr(o.at("type"), "unknown value %q, expected one of %v", c.Type, allowed)
	}
	switch c.Type {
	case BlockText:
		if c.Text, err = o.requiredStr("text"); err != nil {
			return c, err
		}
	case BlockRedacted:
	case BlockImage, BlockDocument:
		raw, p := o.get("source")
		if p != jPresent {
			return c, jErr(o.at("source"), "field required")
		}
		if c.Source, err = decodeSource(o.at("source"), raw, c.Type); err != nil {
			return c, err
		}
		if c.Type == BlockDocument {
			if c.Title, err = o.optStr("title"); err != nil {
				return c, err
			}
			if c.Context, err = o.optStr("context"); err != nil {
				return c, err
			}
		}
	case BlockSearchResult:
		s := &SearchResult{}
		if s.Source, err = o.requiredStr("source"); err != nil {
			return c, err
		}
		if s.Title, err = o.requiredStr("title"); err != nil {
			return c, err
		}
		raw, p := o.get("content")
		if p != jPresent {
			return c, jErr(o.at("content"), "field required")
		}
		items, err := jArray(o.at("content"), raw)
		if err != nil {
			return c, err
		}
		for i, it := range items {
			item, err := jNewObj(jIdx(o.at("content"), i), it)
			if err != nil {
				return c, err
			}
			if err := item.constType(BlockText, true); err != nil {
				return c, err
			}
			t, err := item.requiredStr("text")
			if err != nil {
				return c, err
			}
			if err := item.finish(); err != nil {
				return c, err
			}
			s.Content = append(s.Content, t)
		}
		raw, p = o.get("citations")
		if p != jPresent {
			return c, jErr(o.at("citations"), "field required")
		}
		co, err := jNewObj(o.at("citations"), raw)
		if err != nil {
			return c, err
		}
		en, err := co.boolean("enabled")
		if err != nil {
			return c, err
		}
		if en == nil {
			return c, jErr(co.at("enabled"), "field required")
		}
		s.CitationsEnabled = *en
		if err := co.finish(); err != nil {
			return c, err
		}
		c.Search = s
	}
	return c, o.finish()
}

func decodeSource(path string, raw json.RawMessage, block string) (*ContentSource, error) {
	o, err := jNewObj(path, raw)
	if err != nil {
		return nil, err
	}
	s := &ContentSource{}
	if s.Type, err = o.discriminator(); err != nil {
		return nil, err
	}
	allowed := []string{SourceBase64, SourceURL, SourceFile}
	if block == BlockDocument {
		allowed = []string{SourceBase64, SourceText, SourceURL, SourceFile}
	}
	if !slices.Contains(allowed, s.Type) {
		return nil, jErr(o.at("type"), "unknown value %q, expected one of %v", s.Type, allowed)
	}
	switch s.Type {
	case SourceBase64:
		if s.MediaType, err = o.requiredStr("media_type"); err != nil {
			return nil, err
		}
		if s.Data, err = o.requiredStr("data"); err != nil {
			return nil, err
		}
	case SourceText:
		mt, p, err := o.str("media_type")
		if err != nil {
			return nil, err
		}
		if p == jPresent && mt != "text/plain" {
			return nil, jErr(o.at("media_type"), "unknown value %q, expected %q", mt, "text/plain")
		}
		s.MediaType = "text/plain"
		if s.Data, err = o.requiredStr("data"); err != nil {
			return nil, err
		}
	case SourceURL:
		if s.URL, err = o.requiredStr("url"); err != nil {
			return nil, err
		}
	case SourceFile:
		if s.FileID, err = o.requiredStr("file_id"); err != nil {
			return nil, err
		}
	}
	return s, o.finish()
}

// validateBlocks checks block values. nonEmptyText demands text with
// something besides whitespace: the model rejects empty user turns, while
// tool output may legitimately be empty (the loop substitutes a placeholder).
func validateBlocks(path string, blocks []ContentBlock, nonEmptyText bool) error {
	for i, b := range blocks {
		if err := b.validate(jIdx(path, i), nonEmptyText); err != nil {
			return err
		}
	}
	return nil
}

func (c ContentBlock) validate(path string, nonEmptyText bool) error {
	switch c.Type {
	case BlockText:
		if nonEmptyText && strings.TrimSpace(c.Text) == "" {
			return jErr(jKey(path, "text"), "must contain non-whitespace text")
		}
	case BlockImage, BlockDocument:
		if c.Source == nil {
			return jErr(jKey(path, "source"), "field required")
		}
		return c.Source.validate(jKey(path, "source"), c.Type)
	case BlockSearchResult:
		if c.Search == nil {
			return jErr(path, "search_result body missing")
		}
		if err := checkHTTPURL(jKey(path, "source"), c.Search.Source); err != nil {
			return err
		}
		if len(c.Search.Content) == 0 {
			return jErr(jKey(path, "content"), "must contain at least one text item")
		}
	}
	return nil
}

func (s ContentSource) validate(path, block string) error {
	switch s.Type {
	case SourceBase64:
		allowed := ImageMediaTypes
		if block == BlockDocument {
			allowed = DocumentMediaTypes
		}
		if !slices.Contains(allowed, s.MediaType) {
			return jErr(jKey(path, "media_type"), "unknown value %q, expected one of %v", s.MediaType, allowed)
		}
		if s.Data == "" {
			return jErr(jKey(path, "data"), "must not be empty")
		}
		// Stream the check so a large image is not decoded into memory twice.
		if _, err := io.Copy(io.Discard, base64.NewDecoder(base64.StdEncoding, strings.NewReader(s.Data))); err != nil {
			return jErr(jKey(path, "data"), "must be standard base64")
		}
	case SourceText:
		if s.Data == "" {
			return jErr(jKey(path, "data"), "must not be empty")
		}
	case SourceURL:
		return checkHTTPURL(jKey(path, "url"), s.URL)
	case SourceFile:
		if strings.TrimSpace(s.FileID) == "" {
			return jErr(jKey(path, "file_id"), "must not be empty")
		}
	}
	return nil
}

// maxURL bounds URLs we store and later fetch.
const maxURL = 8192

func checkHTTPURL(path, s string) error {
	if len(s) > maxURL {
		return jErr(path, "must be at most %d characters", maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return jErr(path, "must be an absolute http or https URL")
	}
	return nil
}

// ---- path-aware JSON walking -------------------------------------------
//
// Request bodies here are trees of unions chosen by "type", and several
// fields mean different things when absent, null or set. encoding/json can
// express neither without losing the field path of an error, so bodies are
// walked by hand: every level is a jObj that knows its path and rejects the
// keys nobody consumed.

type jPresence int

const (
	jAbsent jPresence = iota
	jNull
	jPresent
)

// jErr is a 400 whose message starts with the field path.
func jErr(path, format string, args ...any) error {
	if path == "" {
		path = "body"
	}
	return errdefs.Invalid("%s: "+format, append([]any{path}, args...)...)
}

func jKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jIdx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// jKind names the JSON type of raw for error messages.
func jKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func jIsNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

type jObj struct {
	path string
	m    map[string]json.RawMessage
	used map[string]bool
}

func jNewObj(path string, raw json.RawMessage) (*jObj, error) {
	if jKind(raw) != "an object" {
		if path == "" {
			return nil, errdefs.Invalid("request body must be a JSON object, got %s", jKind(raw))
		}
		return nil, jErr(path, "expected an object, got %s", jKind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, jErr(path, "malformed object")
	}
	return &jObj{path: path, m: m, used: map[string]bool{}}, nil
}

func (o *jObj) at(key string) string { return jKey(o.path, key) }

// get returns a member and whether it is absent, null or present.
func (o *jObj) get(key string) (json.RawMessage, jPresence) {
	raw, ok := o.m[key]
	o.used[key] = true
	switch {
	case !ok:
		return nil, jAbsent
	case jIsNull(raw):
		return raw, jNull
	}
	return raw, jPresent
}

// finish rejects members that no caller consumed.
func (o *jObj) finish() error {
	var extra []string
	for k := range o.m {
		if !o.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return jErr(o.at(extra[0]), "unknown field")
}

func (o *jObj) str(key string) (string, jPresence, error) {
	raw, p := o.get(key)
	if p != jPresent {
		return "", p, nil
	}
	s, err := jString(o.at(key), raw)
	return s, p, err
}

// optStr reads an optional string; null counts as absent.
func (o *jObj) optStr(key string) (*string, error) {
	s, p, err := o.str(key)
	if err != nil || p != jPresent {
		return nil, err
	}
	return &s, nil
}

func (o *jObj) requiredStr(key string) (string, error) {
	s, p, err := o.str(key)
	if err != nil {
		return "", err
	}
	if p != jPresent {
		return "", jErr(o.at(key), "field required")
	}
	return s, nil
}

func (o *jObj) boolean(key string) (*bool, error) {
	raw, p := o.get(key)
	if p != jPresent {
		return nil, nil
	}
	if jKind(raw) != "a boolean" {
		return nil, jErr(o.at(key), "expected a boolean, got %s", jKind(raw))
	}
	b := bytes.TrimSpace(raw)[0] == 't'
	return &b, nil
}

func (o *jObj) optInt(key string) (*int64, error) {
	raw, p := o.get(key)
	if p != jPresent {
		return nil, nil
	}
	n, err := jInt(o.at(key), raw)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// discriminator reads the required "type" member of a union variant.
func (o *jObj) discriminator() (string, error) { return o.requiredStr("type") }

// constType checks the constant "type" of a non-union object. The SDKs
// always send it; required says whether other clients may leave it out.
func (o *jObj) constType(want string, required bool) error {
	t, p, err := o.str("type")
	if err != nil {
		return err
	}
	if p != jPresent {
		if required {
			return jErr(o.at("type"), "field required")
		}
		return nil
	}
	if t != want {
		return jErr(o.at("type"), "unknown value %q, expected %q", t, want)
	}
	return nil
}

func jString(path string, raw json.RawMessage) (string, error) {
	if jKind(raw) != "a string" {
		return "", jErr(path, "expected a string, got %s", jKind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", jErr(path, "malformed string")
	}
	return s, nil
}

func jInt(path string, raw json.RawMessage) (int64, error) {
	if jKind(raw) != "a number" {
		return 0, jErr(path, "expected an integer, got %s", jKind(raw))
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, jErr(path, "expected an integer, got %s", bytes.TrimSpace(raw))
	}
	return n, nil
}

func jArray(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	if jKind(raw) != "an array" {
		return nil, jErr(path, "expected an array, got %s", jKind(raw))
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, jErr(path, "malformed array")
	}
	return a, nil
}

func jStrings(path string, raw json.RawMessage) ([]string, error) {
	items, err := jArray(path, raw)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, err := jString(jIdx(path, i), it)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// checkLen bounds a string's length in characters, naming the field.
func checkLen(path, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return jErr(path, "must not be empty")
		}
		return jErr(path, "must be at least %d characters", min)
	}
	if max > 0 && n > max {
		return jErr(path, "must be at most %d characters, got %d", max, n)
	}
	return nil
}

// hasControl reports control characters, which would let a value break out
// of a header or a log line.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
