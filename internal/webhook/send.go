package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hangarhq/hangar/internal/errdefs"
	"github.com/hangarhq/hangar/internal/store"
)

// attempt makes one attempt of a delivery and records its outcome: a
// success removes the delivery, a failure schedules the next attempt (or
// drops the delivery after MaxAttempts) and counts against the endpoint.
func (s *Service) attempt(ctx context.Context, id string) {
	r, err := s.st.Get(ctx, recordWorkspace, KindDelivery, id)
	if err != nil {
		if !errors.Is(err, errdefs.ErrNotFound) {
			s.log.Error("webhook delivery: load", "delivery", id, "err", err)
		}
		return // delivered already, or its endpoint was deleted
	}
	var d delivery
	if err := json.Unmarshal(r.Data, &d); err != nil {
		s.log.Error("webhook delivery: decode", "delivery", id, "err", err)
		return
	}
	s.mu.Lock()
	ep, ok := s.endpoints[d.Endpoint]
	s.mu.Unlock()
	if !ok || ep.State != StateEnabled {
		s.log.Info("webhook delivery dropped: endpoint disabled or gone", "endpoint", d.Endpoint, "event_id", d.EventID, "type", d.Type)
		s.drop(ctx, id)
		return
	}
	d.Attempts++
	start := time.Now()
	status, err := s.post(ctx, ep, d)
	attrs := []any{"endpoint", ep.ID, "event_id", d.EventID, "type", d.Type, "attempt", d.Attempts, "status", status, "duration", time.Since(start)}
	if err == nil {
		s.log.Info("webhook delivered", attrs...)
		s.drop(ctx, id)
		if ep.ConsecutiveFailures > 0 {
			s.record(ctx, ep.ID, nil, "")
		}
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the delivery stays for the next start
	}
	f := &Failure{At: time.Now().UTC(), EventID: d.EventID, Attempt: d.Attempts, Status: status, Error: err.Error()}
	disable := ""
	switch {
	case errors.Is(err, errInternalAddress):
		disable = "The endpoint's host resolves to a private or internal address."
	case status >= 300 && status < 400:
		disable = fmt.Sprintf("The endpoint replied with a redirect (%d); redirects are not followed.", status)
	}
	s.log.Warn("webhook delivery failed", append(attrs, "err", err)...)
	enabled := s.record(ctx, ep.ID, f, disable)
	if !enabled || d.Attempts >= MaxAttempts {
		if enabled {
			s.log.Warn("webhook delivery given up", "endpoint", ep.ID, "event_id", d.EventID, "attempts", d.Attempts)
		}
		s.drop(ctx, id)
		return
	}
	d.NextAt = time.Now().Add(s.retryWait(d.Attempts))
	s.log.Info("webhook delivery retry scheduled", "endpoint", ep.ID, "event_id", d.EventID, "attempt", d.Attempts+1, "at", d.NextAt.UTC().Format(time.RFC3339Nano))
	data, err := json.Marshal(d)
	if err == nil {
		r.Data = data
		err = s.st.Update(ctx, &r)
	}
	if err != nil {
		s.log.Error("webhook delivery: reschedule", "delivery", id, "err", err)
		return
	}
	s.push(item{id: id, due: d.NextAt})
}

// post signs and sends the body once. Any 2xx acknowledges it.
func (s *Service) post(ctx context.Context, ep cached, d delivery) (int, error) {
	wh, err := standardwebhooks.NewWebhook(ep.secret)
	if err != nil {
		return 0, fmt.Errorf("signing secret: %w", err)
	}
	now := time.Now()
	sig, err := wh.Sign(d.EventID, now, d.Body)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Hangar-Webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, d.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// drop removes a delivery that needs no more attempts.
func (s *Service) drop(ctx context.Context, id string) {
	err := s.st.Delete(context.WithoutCancel(ctx), recordWorkspace, KindDelivery, id)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		s.log.Error("webhook delivery: remove", "delivery", id, "err", err)
	}
}

// record notes an attempt's outcome on the endpoint: a failure (f) counts
// and is shown, a success (nil) resets the count. disable, when set,
// disables the endpoint with that reason, as does the DisableAfter-th
// consecutive failure. It reports whether the endpoint is still enabled.
func (s *Service) record(ctx context.Context, endpointID string, f *Failure, disable string) bool {
	e, err := s.modifyAs(context.WithoutCancel(ctx), nil, endpointID, func(e *Endpoint, _ *store.Record) {
		if f == nil {
			e.ConsecutiveFailures = 0
			return
		}
		e.ConsecutiveFailures++
		e.LastFailure = f
		if disable == "" && e.ConsecutiveFailures >= DisableAfter {
			disable = fmt.Sprintf("%d consecutive delivery attempts failed.", e.ConsecutiveFailures)
		}
		if disable != "" && e.State == StateEnabled {
			e.State, e.DisabledReason = StateDisabled, disable
			s.log.Warn("webhook endpoint disabled", "endpoint", e.ID, "reason", disable)
		}
	})
	if err != nil {
		if !errors.Is(err, errdefs.ErrNotFound) {
			s.log.Error("webhook endpoint: record delivery outcome", "endpoint", endpointID, "err", err)
		}
		return false
	}
	return e.State == StateEnabled
}
