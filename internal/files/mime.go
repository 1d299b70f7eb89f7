package files

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// knownTypes maps extensions to MIME types independently of the host's
// mime.types, so a file gets the same mime_type on every machine. The first
// extension listed for a type is the one an unnamed upload gets.
var knownTypes = []struct{ ext, typ string }{
	{".txt", "text/plain"},
	{".md", "text/markdown"},
	{".markdown", "text/markdown"},
	{".csv", "text/csv"},
	{".tsv", "text/tab-separated-values"},
	{".html", "text/html"},
	{".htm", "text/html"},
	{".css", "text/css"},
	{".js", "text/javascript"},
	{".mjs", "text/javascript"},
	{".py", "text/x-python"},
	{".json", "application/json"},
	{".jsonl", "application/jsonl"},
	{".xml", "application/xml"},
	{".yaml", "application/yaml"},
	{".yml", "application/yaml"},
	{".pdf", "application/pdf"},
	{".zip", "application/zip"},
	{".gz", "application/gzip"},
	{".tar", "application/x-tar"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".gif", "image/gif"},
	{".webp", "image/webp"},
	{".svg", "image/svg+xml"},
	{".mp3", "audio/mpeg"},
	{".wav", "audio/wav"},
	{".mp4", "video/mp4"},
	{".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
	{".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
	{".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
}

// OctetStream is the type of content nothing else describes.
const OctetStream = "application/octet-stream"

func typeByExtension(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return ""
	}
	for _, k := range knownTypes {
		if k.ext == ext {
			return k.typ
		}
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return normalizeType(t)
	}
	return ""
}

func extensionByType(typ string) string {
	for _, k := range knownTypes {
		if k.typ == typ {
			return k.ext
		}
	}
	if exts, _ := mime.ExtensionsByType(typ); len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// normalizeType reduces a Content-Type to its lower-case media type, or ""
// when it does not parse.
func normalizeType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// ResolveType picks the stored mime_type: the declared part type unless it
// is missing or the generic octet-stream (which the Go SDK sends for any
// reader without a ContentType method), then the filename's extension, then
// the content itself.
func ResolveType(declared, filename string, head []byte) string {
	if t := normalizeType(declared); t != "" && t != OctetStream {
		return t
	}
	if t := typeByExtension(filename); t != "" {
		return t
	}
	if len(head) > 0 {
		if t := normalizeType(http.DetectContentType(head)); t != "" {
			return t
		}
	}
	return OctetStream
}
