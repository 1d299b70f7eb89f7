// Package upload owns what the multipart endpoints (files, skills) share:
// opening a request body as a streamed multipart reader under a size cap,
// dispatching its parts by form-data name, reading a part's raw filename with its directories intact, reading small
// form values, and classifying the failures of all of these so that a bad
// body is a 400, an oversized one a 413, and neither ever a 500.
package upload

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/errdefs"
)

// Overhead is what a multipart body may carry on top of its file content
// (part headers, boundaries, small fields) before the body cap trips. The
// content limits themselves are enforced per endpoint, exactly.
const Overhead = 16 << 20

// Reader checks that r is multipart/form-data and returns a streaming reader
// over its body, which may be at most limit bytes.
func Reader(w http.ResponseWriter, r *http.Request, limit int64) (*multipart.Reader, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return nil, errdefs.Invalid("Content-Type must be multipart/form-data, got %q", ct)
	}
	if params["boundary"] == "" {
		return nil, errdefs.Invalid("Content-Type: multipart/form-data needs a boundary parameter")
	}
	if limit > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errdefs.Invalid("malformed multipart body: %v", err)
	}
	return mr, nil
}

// Next returns the next part, io.EOF after the last one, or a classified
// error.
func Next(mr *multipart.Reader) (*multipart.Part, error) {
	p, err := mr.NextPart()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, classify(err)
	}
	return p, nil
}

// Walk hands every part of mr, in order, to the handler of its form-data
// name. A part without a name, or with a name that has no handler, is
// rejected so that a typo does not pass silently; so is the first error a
// handler returns.
func Walk(mr *multipart.Reader, fields map[string]func(*multipart.Part) error) error {
	for {
		p, err := Next(mr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := p.FormName()
		handle, ok := fields[name]
		switch {
		case name == "":
			return errdefs.Invalid("multipart part without a form-data name")
		case !ok:
			return errdefs.Invalid("%s: unknown field", name)
		}
		if err := handle(p); err != nil {
			return err
		}
	}
}

// Filename returns the part's filename exactly as sent, directories
// included. Part.FileName() would strip them, and skill uploads carry the
// skill's layout in them. has is false when the part has
// no filename parameter at all.
func Filename(p *multipart.Part) (name string, has bool, err error) {
	cd := p.Header.Get("Content-Disposition")
	if cd == "" {
		return "", false, nil
	}
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return "", false, errdefs.Invalid("multipart part: malformed Content-Disposition header %q: %v", cd, err)
	}
	name, has = params["filename"]
	return name, has, nil
}

// Value reads a small, non-file form field of at most max bytes.
func Value(p *multipart.Part, max int) (string, error) {
	field := p.FormName()
	b, err := io.ReadAll(io.LimitReader(Source(p), int64(max)+1))
	if err != nil {
		return "", err
	}
	if len(b) > max {
		return "", errdefs.Invalid("%s: must be at most %d bytes", field, max)
	}
	if !utf8.Valid(b) {
		return "", errdefs.Invalid("%s: must be valid UTF-8", field)
	}
	return string(b), nil
}

// Source wraps a part's body so that a read failure comes out classified:
// an over-limit body as 413, a truncated or malformed one as 400. The blob
// store wraps what it reads with %w, so the class survives to the response.
func Source(r io.Reader) io.Reader { return source{r} }

type source struct{ r io.Reader }

func (s source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(err)
	}
	return n, err
}

func classify(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errdefs.TooLarge("request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	if _, ok := errdefs.As(err); ok {
		return err
	}
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of body"
	}
	return errdefs.Invalid("malformed multipart body: %s", strings.TrimPrefix(msg, "multipart: "))
}
