package mcp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Block is one content block of a tool result, in the shape of the
// agent.mcp_tool_result content union: "text" (Text) or "image" (MediaType
// and base64 Data). MCP content without a counterpart there (audio,
// resource links, embedded resources) is rendered as text so the model
// still learns of it.
type Block struct {
	Type      string
	Text      string
	MediaType string
	Data      string
}

// Result is a tool call's outcome.
type Result struct {
	Content []Block
	// Structured is the server's structuredContent, raw; nil when absent.
	Structured json.RawMessage
	IsError    bool
}

// Text concatenates the text blocks, separated by newlines.
func (r Result) Text() string {
	var b strings.Builder
	for _, c := range r.Content {
		if c.Type != "text" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.Text)
	}
	return b.String()
}

func convertResult(res *sdk.CallToolResult) Result {
	r := Result{IsError: res.IsError}
	for _, c := range res.Content {
		switch v := c.(type) {
		case *sdk.TextContent:
			r.Content = append(r.Content, Block{Type: "text", Text: v.Text})
		case *sdk.ImageContent:
			r.Content = append(r.Content, Block{Type: "image", MediaType: v.MIMEType, Data: base64.StdEncoding.EncodeToString(v.Data)})
		case *sdk.AudioContent:
			r.Content = append(r.Content, Block{Type: "text", Text: fmt.Sprintf("[audio content (%s, %d bytes) omitted]", v.MIMEType, len(v.Data))})
		case *sdk.ResourceLink:
			r.Content = append(r.Content, Block{Type: "text", Text: fmt.Sprintf("[resource link: %s %s]", v.Name, v.URI)})
		case *sdk.EmbeddedResource:
			if v.Resource == nil {
				continue
			}
			if v.Resource.Text != "" || len(v.Resource.Blob) == 0 {
				r.Content = append(r.Content, Block{Type: "text", Text: v.Resource.Text})
			} else {
				r.Content = append(r.Content, Block{Type: "text", Text: fmt.Sprintf("[binary resource %s (%s, %d bytes) omitted]", v.Resource.URI, v.Resource.MIMEType, len(v.Resource.Blob))})
			}
		}
	}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			r.Structured = b
			// The spec asks servers to mirror structured output in text;
			// when one does not, the model would otherwise see nothing.
			if len(r.Content) == 0 {
				r.Content = append(r.Content, Block{Type: "text", Text: string(b)})
			}
		}
	}
	if r.Content == nil {
		r.Content = []Block{}
	}
	return r
}

// Large-result handling.
const (
	// LargeResultBytes is the text size above which a result is spilled to
	// a file: 100K tokens at the usual ~4 bytes per token.
	LargeResultBytes = 400_000
	// PreviewBytes is how much of a spilled result the model still sees.
	PreviewBytes = 8_000
)

// Spill is an oversized result split into what the model sees and what the
// caller writes to a file.
type Spill struct {
	// Full is the complete text, for the file.
	Full string
	head string
	rest []Block
}

// SpillLarge reports whether r's text exceeds limit bytes (LargeResultBytes
// when limit <= 0) and, if so, splits it. Non-text blocks (images) stay in
// the preview.
func SpillLarge(r Result, limit int) (*Spill, bool) {
	if limit <= 0 {
		limit = LargeResultBytes
	}
	n := 0
	for _, c := range r.Content {
		if c.Type == "text" {
			n += len(c.Text)
		}
	}
	if n <= limit {
		return nil, false
	}
	full := r.Text()
	s := &Spill{Full: full, head: previewHead(full, PreviewBytes)}
	for _, c := range r.Content {
		if c.Type != "text" {
			s.rest = append(s.rest, c)
		}
	}
	return s, true
}

// Preview is the result the model gets once Full was written at path.
func (s *Spill) Preview(path string, isError bool) Result {
	note := fmt.Sprintf("\n\n[Output truncated: the full result is %d bytes (about %dK tokens) and was saved to %s. Showing the first %d bytes; use the read tool on that file to see the rest.]",
		len(s.Full), (len(s.Full)/4+999)/1000, path, len(s.head))
	content := append([]Block{{Type: "text", Text: s.head + note}}, s.rest...)
	return Result{Content: content, IsError: isError}
}

// previewHead cuts s to at most n bytes, on a line break when one is near
// the end and never inside a UTF-8 sequence.
func previewHead(s string, n int) string {
	h := truncateUTF8(s, n)
	if i := strings.LastIndexByte(h, '\n'); i >= len(h)*3/4 {
		h = h[:i]
	}
	return h
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
