package web

import (
	"html"
	"net/url"
	"strings"
)

// The converter below is a deliberately small, forgiving tag scanner rather
// than a full HTML5 parser: the model needs readable text, not a DOM, and it
// keeps the module free of another dependency. Malformed markup degrades to
// slightly noisier text, never to an error.

// skipTags have content that is never readable text.
var skipTags = map[string]bool{
	"script": true, "style": true, "noscript": true, "template": true,
	"svg": true, "math": true, "iframe": true, "object": true, "canvas": true,
	"select": true,
}

// blockTags start and end on their own line.
var blockTags = map[string]bool{
	"p": true, "div": true, "section": true, "article": true, "main": true,
	"header": true, "footer": true, "nav": true, "aside": true, "blockquote": true,
	"ul": true, "ol": true, "dl": true, "dt": true, "dd": true, "table": true,
	"tr": true, "form": true, "fieldset": true, "figure": true, "figcaption": true,
	"address": true, "details": true, "summary": true, "body": true, "html": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"pre": true, "hr": true, "caption": true, "thead": true, "tbody": true, "tfoot": true,
}

// htmlToText converts an HTML document to plain text with light Markdown
// (headings, list items, link targets), and returns its <title>. base
// resolves relative links; it may be nil.
func htmlToText(src string, base *url.URL) (text, title string) {
	w := &textWriter{}
	var titleBuf strings.Builder
	inTitle := false
	var hrefs []string // open <a> targets, innermost last
	for i := 0; i < len(src); {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			lt = len(src) - i
		}
		if lt > 0 {
			chunk := html.UnescapeString(src[i : i+lt])
			if inTitle {
				titleBuf.WriteString(chunk)
			} else {
				w.text(chunk)
			}
			i += lt
			continue
		}
		// src[i] == '<'
		rest := src[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return w.String(), cleanTitle(titleBuf.String())
			}
			i += 4 + end + 3
			continue
		case strings.HasPrefix(rest, "<!") || strings.HasPrefix(rest, "<?"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return w.String(), cleanTitle(titleBuf.String())
			}
			i += end + 1
			continue
		}
		name, attrs, closing, n := scanTag(rest)
		if n == 0 {
			// A lone '<' is text.
			if inTitle {
				titleBuf.WriteByte('<')
			} else {
				w.text("<")
			}
			i++
			continue
		}
		i += n
		if skipTags[name] && !closing && !strings.HasSuffix(attrs, "/") {
			i += skipUntilClose(src[i:], name)
			continue
		}
		switch name {
		case "title":
			inTitle = !closing
		case "br":
			w.newline(1)
		case "li":
			if !closing {
				w.newline(1)
				w.raw("- ")
			}
		case "h1", "h2", "h3", "h4", "h5", "h6":
			w.newline(2)
			if !closing {
				w.raw(strings.Repeat("#", int(name[1]-'0')) + " ")
			}
		case "td", "th":
			if !closing {
				w.text(" ")
			}
		case "img":
			if alt := attr(attrs, "alt"); alt != "" {
				w.text(" [image: " + html.UnescapeString(alt) + "] ")
			}
		case "a":
			if !closing {
				hrefs = append(hrefs, linkTarget(attr(attrs, "href"), base))
			} else if len(hrefs) > 0 {
				if h := hrefs[len(hrefs)-1]; h != "" {
					w.text(" (" + h + ")")
				}
				hrefs = hrefs[:len(hrefs)-1]
			}
		case "pre":
			if closing {
				w.pre--
			} else {
				w.pre++
			}
			w.newline(2)
		default:
			if blockTags[name] {
				if name == "p" || strings.HasPrefix(name, "h") || name == "blockquote" || name == "table" {
					w.newline(2)
				} else {
					w.newline(1)
				}
			}
		}
	}
	return w.String(), cleanTitle(titleBuf.String())
}

func cleanTitle(s string) string { return strings.Join(strings.Fields(s), " ") }

// linkTarget is the absolute form of a link worth showing the model, or ""
// for in-page anchors and script links.
func linkTarget(href string, base *url.URL) string {
	href = strings.TrimSpace(html.UnescapeString(href))
	if href == "" || strings.HasPrefix(href, "#") {
		return ""
	}
	u, err := url.Parse(href)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	return u.String()
}

// scanTag reads a tag at the start of s ("<name ...>" or "</name>"). It
// returns the lower-case name, the raw attribute text, whether it closes,
// and the bytes consumed; n == 0 means s does not start a tag.
func scanTag(s string) (name, attrs string, closing bool, n int) {
	j := 1
	if j < len(s) && s[j] == '/' {
		closing = true
		j++
	}
	start := j
	for j < len(s) && (isAlpha(s[j]) || (j > start && (s[j] >= '0' && s[j] <= '9' || s[j] == '-' || s[j] == ':'))) {
		j++
	}
	if j == start {
		return "", "", false, 0
	}
	name = strings.ToLower(s[start:j])
	attrStart := j
	var quote byte
	for ; j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return name, strings.TrimSpace(s[attrStart:j]), closing, j + 1
		}
	}
	// Unterminated tag: drop the rest.
	return name, strings.TrimSpace(s[attrStart:]), closing, len(s)
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// skipUntilClose returns the bytes up to and including "</name...>"
// (case-insensitive), or all of s when it never closes.
func skipUntilClose(s, name string) int {
	for from := 0; ; {
		k := strings.Index(s[from:], "</")
		if k < 0 {
			return len(s)
		}
		k += from
		after := k + 2 + len(name)
		if after <= len(s) && strings.EqualFold(s[k+2:after], name) &&
			(after == len(s) || !(isAlpha(s[after]) || s[after] >= '0' && s[after] <= '9' || s[after] == '-')) {
			end := strings.IndexByte(s[after:], '>')
			if end < 0 {
				return len(s)
			}
			return after + end + 1
		}
		from = k + 2
	}
}

// attr returns an attribute's value from raw attribute text.
func attr(attrs, key string) string {
	s := attrs
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t\r\n/")
		k := 0
		for k < len(s) && s[k] != '=' && s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && s[k] != '\r' && s[k] != '>' {
			k++
		}
		name := strings.ToLower(s[:k])
		s = strings.TrimLeft(s[k:], " \t\r\n")
		if !strings.HasPrefix(s, "=") {
			if k == 0 && len(s) > 0 {
				s = s[1:]
			}
			continue
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		var val string
		if len(s) > 0 && (s[0] == '"' || s[0] == '\'') {
			q := s[0]
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				val, s = s[1:], ""
			} else {
				val, s = s[1:1+end], s[2+end:]
			}
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if name == key {
			return val
		}
	}
	return ""
}

// textWriter collapses whitespace the way a browser renders it: runs of
// spaces become one, block boundaries become at most one blank line.
type textWriter struct {
	b         strings.Builder
	pendingNL int
	space     bool
	pre       int
}

func (w *textWriter) newline(n int) {
	if n > w.pendingNL {
		w.pendingNL = n
	}
	w.space = false
}

func (w *textWriter) flush() {
	if w.b.Len() == 0 {
		w.pendingNL, w.space = 0, false
		return
	}
	if w.pendingNL > 0 {
		w.b.WriteString(strings.Repeat("\n", min(w.pendingNL, 2)))
	} else if w.space {
		w.b.WriteByte(' ')
	}
	w.pendingNL, w.space = 0, false
}

// raw writes s as a word of its own (list markers, heading marks).
func (w *textWriter) raw(s string) {
	w.flush()
	w.b.WriteString(s)
}

func (w *textWriter) text(s string) {
	if s == "" {
		return
	}
	if w.pre > 0 {
		w.flush()
		w.b.WriteString(s)
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		w.space = true
		return
	}
	if isSpace(s[0]) {
		w.space = true
	}
	for i, f := range fields {
		if i > 0 {
			w.space = true
		}
		w.flush()
		w.b.WriteString(f)
	}
	w.space = isSpace(s[len(s)-1])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func (w *textWriter) String() string {
	// Trailing spaces of list markers and headings are noise.
	lines := strings.Split(w.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
