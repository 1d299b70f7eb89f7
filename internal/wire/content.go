package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/jsonobj"
)

// Content block types of session events.
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

// Which blocks each event may carry.
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
	items, err := jsonobj.Array(path, raw)
	if err != nil {
		return nil, err
	}
	out := make([]ContentBlock, 0, len(items))
	for i, it := range items {
		b, err := decodeBlock(jsonobj.Index(path, i), it, allowed)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeBlock(path string, raw json.RawMessage, allowed []string) (ContentBlock, error) {
	var c ContentBlock
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return c, err
	}
	if c.Type, err = o.Discriminator(); err != nil {
		return c, err
	}
	if !slices.Contains(allowed, c.Type) {
		if slices.Contains(allBlocks, c.Type) {
			return c, jsonobj.Invalid(o.At("type"), "%q blocks are not allowed here, expected one of %v", c.Type, allowed)
		}
		return c, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", c.Type, allowed)
	}
	switch c.Type {
	case BlockText:
		if c.Text, err = o.RequiredStr("text"); err != nil {
			return c, err
		}
	case BlockRedacted:
	case BlockImage, BlockDocument:
		raw, p := o.Get("source")
		if p != jsonobj.Present {
			return c, jsonobj.Invalid(o.At("source"), "field required")
		}
		if c.Source, err = decodeSource(o.At("source"), raw, c.Type); err != nil {
			return c, err
		}
		if c.Type == BlockDocument {
			if c.Title, err = o.OptStr("title"); err != nil {
				return c, err
			}
			if c.Context, err = o.OptStr("context"); err != nil {
				return c, err
			}
		}
	case BlockSearchResult:
		s := &SearchResult{}
		if s.Source, err = o.RequiredStr("source"); err != nil {
			return c, err
		}
		if s.Title, err = o.RequiredStr("title"); err != nil {
			return c, err
		}
		raw, p := o.Get("content")
		if p != jsonobj.Present {
			return c, jsonobj.Invalid(o.At("content"), "field required")
		}
		items, err := jsonobj.Array(o.At("content"), raw)
		if err != nil {
			return c, err
		}
		for i, it := range items {
			item, err := jsonobj.New(jsonobj.Index(o.At("content"), i), it)
			if err != nil {
				return c, err
			}
			if err := item.ConstType(BlockText, true); err != nil {
				return c, err
			}
			t, err := item.RequiredStr("text")
			if err != nil {
				return c, err
			}
			if err := item.Finish(); err != nil {
				return c, err
			}
			s.Content = append(s.Content, t)
		}
		raw, p = o.Get("citations")
		if p != jsonobj.Present {
			return c, jsonobj.Invalid(o.At("citations"), "field required")
		}
		co, err := jsonobj.New(o.At("citations"), raw)
		if err != nil {
			return c, err
		}
		en, err := co.Bool("enabled")
		if err != nil {
			return c, err
		}
		if en == nil {
			return c, jsonobj.Invalid(co.At("enabled"), "field required")
		}
		s.CitationsEnabled = *en
		if err := co.Finish(); err != nil {
			return c, err
		}
		c.Search = s
	}
	return c, o.Finish()
}

func decodeSource(path string, raw json.RawMessage, block string) (*ContentSource, error) {
	o, err := jsonobj.New(path, raw)
	if err != nil {
		return nil, err
	}
	s := &ContentSource{}
	if s.Type, err = o.Discriminator(); err != nil {
		return nil, err
	}
	allowed := []string{SourceBase64, SourceURL, SourceFile}
	if block == BlockDocument {
		allowed = []string{SourceBase64, SourceText, SourceURL, SourceFile}
	}
	if !slices.Contains(allowed, s.Type) {
		return nil, jsonobj.Invalid(o.At("type"), "unknown value %q, expected one of %v", s.Type, allowed)
	}
	switch s.Type {
	case SourceBase64:
		if s.MediaType, err = o.RequiredStr("media_type"); err != nil {
			return nil, err
		}
		if s.Data, err = o.RequiredStr("data"); err != nil {
			return nil, err
		}
	case SourceText:
		mt, p, err := o.Str("media_type")
		if err != nil {
			return nil, err
		}
		if p == jsonobj.Present && mt != "text/plain" {
			return nil, jsonobj.Invalid(o.At("media_type"), "unknown value %q, expected %q", mt, "text/plain")
		}
		s.MediaType = "text/plain"
		if s.Data, err = o.RequiredStr("data"); err != nil {
			return nil, err
		}
	case SourceURL:
		if s.URL, err = o.RequiredStr("url"); err != nil {
			return nil, err
		}
	case SourceFile:
		if s.FileID, err = o.RequiredStr("file_id"); err != nil {
			return nil, err
		}
	}
	return s, o.Finish()
}

// validateBlocks checks block values. nonEmptyText demands text with
// something besides whitespace: the model rejects empty user turns, while
// tool output may legitimately be empty (the loop substitutes a placeholder).
func validateBlocks(path string, blocks []ContentBlock, nonEmptyText bool) error {
	for i, b := range blocks {
		if err := b.validate(jsonobj.Index(path, i), nonEmptyText); err != nil {
			return err
		}
	}
	return nil
}

func (c ContentBlock) validate(path string, nonEmptyText bool) error {
	switch c.Type {
	case BlockText:
		if nonEmptyText && strings.TrimSpace(c.Text) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "text"), "must contain non-whitespace text")
		}
	case BlockImage, BlockDocument:
		if c.Source == nil {
			return jsonobj.Invalid(jsonobj.Key(path, "source"), "field required")
		}
		return c.Source.validate(jsonobj.Key(path, "source"), c.Type)
	case BlockSearchResult:
		if c.Search == nil {
			return jsonobj.Invalid(path, "search_result body missing")
		}
		if err := checkHTTPURL(jsonobj.Key(path, "source"), c.Search.Source); err != nil {
			return err
		}
		if len(c.Search.Content) == 0 {
			return jsonobj.Invalid(jsonobj.Key(path, "content"), "must contain at least one text item")
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
			return jsonobj.Invalid(jsonobj.Key(path, "media_type"), "unknown value %q, expected one of %v", s.MediaType, allowed)
		}
		if s.Data == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "data"), "must not be empty")
		}
		// Stream the check so a large image is not decoded into memory twice.
		if _, err := io.Copy(io.Discard, base64.NewDecoder(base64.StdEncoding, strings.NewReader(s.Data))); err != nil {
			return jsonobj.Invalid(jsonobj.Key(path, "data"), "must be standard base64")
		}
	case SourceText:
		if s.Data == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "data"), "must not be empty")
		}
	case SourceURL:
		return checkHTTPURL(jsonobj.Key(path, "url"), s.URL)
	case SourceFile:
		if strings.TrimSpace(s.FileID) == "" {
			return jsonobj.Invalid(jsonobj.Key(path, "file_id"), "must not be empty")
		}
	}
	return nil
}

// maxURL bounds URLs we store and later fetch.
const maxURL = 8192

func checkHTTPURL(path, s string) error {
	if len(s) > maxURL {
		return jsonobj.Invalid(path, "must be at most %d characters", maxURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return jsonobj.Invalid(path, "must be an absolute http or https URL")
	}
	return nil
}

// checkLen bounds a string's length in characters, naming the field.
func checkLen(path, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min {
		if min == 1 {
			return jsonobj.Invalid(path, "must not be empty")
		}
		return jsonobj.Invalid(path, "must be at least %d characters", min)
	}
	if max > 0 && n > max {
		return jsonobj.Invalid(path, "must be at most %d characters, got %d", max, n)
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
