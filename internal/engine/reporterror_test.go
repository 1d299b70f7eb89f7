package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// An error from outside the agent loop (a failed
// repository clone) is logged as a session.error with its typed members,
// through the one commit path (which publishes it; the stream is checked
// end to end in e2e TestGitCloneFailureAndRotation); the status does not
// change.
func TestReportError(t *testing.T) {
	h := newHarness(t, nil)
	h.open()
	id := h.session()
	url := "https://github.com/o/r"
	se := wire.NewSessionError(wire.ErrRepositoryAuthentication, wire.RetryRetrying, "refused")
	se.RepositoryURL = &url
	if err := h.eng.ReportError(context.Background(), ws, id, se); err != nil {
		t.Fatal(err)
	}
	evs, err := h.st.EventsSince(context.Background(), id, 0, 100)
	if err != nil || len(evs) != 1 || evs[0].Type != wire.EventTypeSessionError {
		t.Fatalf("log = %s (%v)", typesOf(evs), err)
	}
	var got struct {
		Error struct {
			Type          string  `json:"type"`
			RepositoryURL *string `json:"repository_url"`
			RetryStatus   struct {
				Type string `json:"type"`
			} `json:"retry_status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(evs[0].Data, &got); err != nil || got.Error.Type != wire.ErrRepositoryAuthentication || got.Error.RepositoryURL == nil || *got.Error.RepositoryURL != url || got.Error.RetryStatus.Type != wire.RetryRetrying {
		t.Fatalf("event = %s (%v)", evs[0].Data, err)
	}
	if st, _ := h.eng.Status(context.Background(), ws, id); st != store.SessionIdle {
		t.Fatalf("status = %s", st)
	}
	if err := h.eng.ReportError(context.Background(), ws, "sesn_missing", se); err == nil {
		t.Fatal("a missing session reported no error")
	}
}

// A terminated session logs nothing more: an error reported after the
// provider's billing refusal ended it is not logged, and is no error.
func TestReportErrorTerminated(t *testing.T) {
	h := newHarness(t, nil, modeltest.Turn{Error: &modeltest.UpstreamError{Status: 402, Type: "billing_error", Message: "credit balance too low"}})
	h.open()
	id := h.session()
	h.send(id, text("hi"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := h.eng.Status(context.Background(), ws, id); st == store.SessionTerminated {
			break
		}
		if time.Now().After(deadline) {
			dumpLog(t, h.st, id)
			t.Fatal("the session did not terminate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before, _ := h.st.EventsSince(context.Background(), id, 0, 1000)
	se := wire.NewSessionError(wire.ErrRepositoryAuthentication, wire.RetryRetrying, "refused")
	if err := h.eng.ReportError(context.Background(), ws, id, se); err != nil {
		t.Fatal(err)
	}
	if after, _ := h.st.EventsSince(context.Background(), id, 0, 1000); len(after) != len(before) {
		t.Fatalf("logged after termination: %s", typesOf(after[len(before):]))
	}
}
