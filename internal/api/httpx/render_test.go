package httpx

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

// An internal error's log line names the request, so an operator can find
// it from the request_id a client reports.
func TestWriteErrorLogsRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w := httptest.NewRecorder()
	w.Header().Set("request-id", "req_abc")
	WriteError(w, httptest.NewRequest("GET", "/v1/agents", nil), log, errors.New("disk on fire"))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"request_id":"req_abc"`) {
		t.Fatalf("response: %d %s", w.Code, w.Body)
	}
	if line := logs.String(); !strings.Contains(line, "msg=\"request failed\" request_id=req_abc ") {
		t.Fatalf("log line without the request id: %s", line)
	}
}
