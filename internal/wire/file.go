package wire

import "time"

// File object and receipt types.
const (
	FileType        = "file"
	FileDeletedType = "file_deleted"
	FileScopeType   = "session"
)

// FileMetadata is the Files API object. ExpiresAt and Scope are always
// sent, as null when unset.
type FileMetadata struct {
	ID           string     `json:"id"`
	CreatedAt    time.Time  `json:"created_at"`
	Filename     string     `json:"filename"`
	MimeType     string     `json:"mime_type"`
	SizeBytes    int64      `json:"size_bytes"`
	Type         string     `json:"type"`
	Downloadable bool       `json:"downloadable"`
	ExpiresAt    *time.Time `json:"expires_at"`
	Scope        *FileScope `json:"scope"`
}

// FileScope names the session a file was created in.
type FileScope struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// ListPage is the PageCursor list shape plus has_more, which the Files and
// Skills lists of the reference service also send.
type ListPage[T any] struct {
	Data     []T     `json:"data"`
	HasMore  bool    `json:"has_more"`
	NextPage *string `json:"next_page"`
}
