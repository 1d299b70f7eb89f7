package api

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// accessLog writes the one line an operator reads per request, at info
// level, once the handler has returned: for an event stream that is when
// the stream ends, so a long stream is one line with its whole duration.
func (a *API) accessLog(r *http.Request, rec *recorder, rid string, start time.Time) {
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("request_id", rid),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.statusCode()),
		slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes", rec.bytes),
	)
}

// recorder notes the status and body size a handler wrote. Unwrap lets
// http.ResponseController (event streams, write deadlines) reach the
// connection's own writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's own ReadFrom (sendfile for downloads).
func (w *recorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusCode is what the client got: a handler that wrote nothing sent 200.
func (w *recorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
