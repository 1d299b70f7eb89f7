package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Client authentication methods at the token endpoint (the RFC 7591
// token_endpoint_auth_method names the API uses).
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// RefreshTimeout bounds one refresh-token exchange.
const RefreshTimeout = 10 * time.Second

const (
	// maxTokenResponse caps how much of a token endpoint response is read.
	maxTokenResponse = 1 << 20
	// MaxCapturedBody caps the error body reported back to API clients.
	MaxCapturedBody = 4096
	redacted        = "[REDACTED]"
)

// RefreshRequest is one OAuth 2.0 refresh_token grant (RFC 6749 §6).
type RefreshRequest struct {
	TokenEndpoint string
	// AuthMethod is AuthNone, AuthClientSecretBasic or AuthClientSecretPost.
	AuthMethod   string
	ClientID     string
	ClientSecret string
	RefreshToken string
	// Scope and Resource (RFC 8707) are sent only when non-empty.
	Scope    string
	Resource string
}

// Token is what a successful refresh returned.
type Token struct {
	AccessToken string
	// RefreshToken is set when the server rotated the refresh token; keep
	// the old one otherwise.
	RefreshToken string
	TokenType    string
	// Expiry is nil when the server did not say (no expires_in).
	Expiry *time.Time
}

// String keeps tokens out of logs and error messages.
func (t Token) String() string { return "vault.Token{redacted}" }

// String, GoString and LogValue keep a request that reaches a formatter or
// logger by mistake from printing its secrets.
func (r RefreshRequest) String() string   { return "vault.RefreshRequest{redacted}" }
func (r RefreshRequest) GoString() string { return r.String() }
func (r RefreshRequest) LogValue() slog.Value {
	return slog.StringValue("redacted")
}

// HTTPResponse is a token endpoint's error response as reported to API
// clients: secrets scrubbed from the body, which is cut to MaxCapturedBody.
type HTTPResponse struct {
	StatusCode    int
	ContentType   string
	Body          string
	BodyTruncated bool
}

// RefreshError is a refresh that produced no token. Either the endpoint
// could not be reached (ConnectError, Response nil) or it answered with an
// error or an unusable body (Response set).
type RefreshError struct {
	ConnectError bool
	Response     *HTTPResponse
	// cause is for logs; it never contains a secret.
	cause error
}

func (e *RefreshError) Error() string {
	if e.ConnectError {
		return "token endpoint unreachable: " + e.cause.Error()
	}
	return fmt.Sprintf("token endpoint refused the refresh (HTTP %d): %v", e.Response.StatusCode, e.cause)
}

func (e *RefreshError) Unwrap() error { return e.cause }

// OAuthClient performs refresh-token exchanges against token endpoints.
type OAuthClient struct {
	http *http.Client
	now  func() time.Time
}

// NewOAuthClient returns a client with the RefreshTimeout. Redirects are not
// followed: a token endpoint that redirects is misconfigured, and following
// it would hand the client secret and refresh token to another URL.
func NewOAuthClient() *OAuthClient {
	return &OAuthClient{
		http: &http.Client{
			Timeout: RefreshTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now: time.Now,
	}
}

// Refresh exchanges req.RefreshToken for a new access token. A non-nil
// error is always a *RefreshError.
func (c *OAuthClient) Refresh(ctx context.Context, req RefreshRequest) (Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {req.RefreshToken}}
	if req.Scope != "" {
		form.Set("scope", req.Scope)
	}
	if req.Resource != "" {
		form.Set("resource", req.Resource)
	}
	switch req.AuthMethod {
	case AuthClientSecretPost:
		form.Set("client_id", req.ClientID)
		form.Set("client_secret", req.ClientSecret)
	case AuthClientSecretBasic:
		// Basic credentials are not in the body.
	default:
		// Public clients identify themselves in the body (RFC 6749 §3.2.1).
		form.Set("client_id", req.ClientID)
	}
	ctx, cancel := context.WithTimeout(ctx, RefreshTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, &RefreshError{ConnectError: true, cause: errors.New("invalid token endpoint URL")}
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	if req.AuthMethod == AuthClientSecretBasic {
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
		cred := url.QueryEscape(req.ClientID) + ":" + url.QueryEscape(req.ClientSecret)
		hreq.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return Token{}, &RefreshError{ConnectError: true, cause: scrubErr(err, req)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return Token{}, &RefreshError{ConnectError: true, cause: fmt.Errorf("read token response: %w", scrubErr(err, req))}
	}
	fail := func(cause error) (Token, error) {
		return Token{}, &RefreshError{Response: capture(resp, body, req), cause: cause}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(errors.New("error response"))
	}
	tok, err := parseToken(resp.Header.Get("Content-Type"), body, c.now())
	if err != nil {
		return fail(err)
	}
	return tok, nil
}

// parseToken reads a token response: JSON as RFC 6749 §5.1 requires, or the
// form encoding some servers still send.
func parseToken(contentType string, body []byte, now time.Time) (Token, error) {
	var raw struct {
		AccessToken  string      `json:"access_token"`
		TokenType    string      `json:"token_type"`
		RefreshToken string      `json:"refresh_token"`
		ExpiresIn    json.Number `json:"expires_in"`
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return Token{}, errors.New("token response is not form-encoded")
		}
		raw.AccessToken, raw.TokenType, raw.RefreshToken = vals.Get("access_token"), vals.Get("token_type"), vals.Get("refresh_token")
		raw.ExpiresIn = json.Number(vals.Get("expires_in"))
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			// Some servers quote expires_in; retry leniently for it.
			var alt struct {
				AccessToken  string `json:"access_token"`
				TokenType    string `json:"token_type"`
				RefreshToken string `json:"refresh_token"`
				ExpiresIn    string `json:"expires_in"`
			}
			if json.Unmarshal(body, &alt) != nil {
				return Token{}, errors.New("token response is not a JSON object")
			}
			raw.AccessToken, raw.TokenType, raw.RefreshToken, raw.ExpiresIn = alt.AccessToken, alt.TokenType, alt.RefreshToken, json.Number(alt.ExpiresIn)
		}
	}
	if raw.AccessToken == "" {
		return Token{}, errors.New("token response has no access_token")
	}
	tok := Token{AccessToken: raw.AccessToken, RefreshToken: raw.RefreshToken, TokenType: raw.TokenType}
	if raw.ExpiresIn != "" {
		secs, err := strconv.ParseFloat(string(raw.ExpiresIn), 64)
		if err != nil || secs < 0 {
			return Token{}, errors.New("token response has an invalid expires_in")
		}
		if secs > 0 {
			exp := now.Add(time.Duration(secs * float64(time.Second))).UTC().Truncate(time.Microsecond)
			tok.Expiry = &exp
		}
	}
	return tok, nil
}

// capture turns an endpoint response into what API clients may see.
func capture(resp *http.Response, body []byte, req RefreshRequest) *HTTPResponse {
	s := Scrub(strings.ToValidUTF8(string(body), "\uFFFD"), req.RefreshToken, req.ClientSecret)
	out := &HTTPResponse{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: s}
	if len(s) > MaxCapturedBody {
		cut := MaxCapturedBody
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		out.Body, out.BodyTruncated = s[:cut], true
	}
	return out
}

// sensitiveKeys are response fields whose values are credentials.
var sensitiveKeys = []string{"token", "secret", "password", "assertion"}

func isSensitiveKey(k string) bool {
	k = strings.ToLower(k)
	if k == "token_type" {
		return false
	}
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Scrub removes credentials from a remote response body: the known secrets
// passed in, and the values of any JSON or form field whose name says it
// holds a token or secret. Values shorter than 4 characters are left alone:
// replacing them would mangle the text without protecting anything.
func Scrub(body string, secrets ...string) string {
	found := append([]string(nil), secrets...)
	var obj any
	if json.Unmarshal([]byte(body), &obj) == nil {
		collectSensitive(obj, false, &found)
	} else if vals, err := url.ParseQuery(body); err == nil {
		for k, vs := range vals {
			if isSensitiveKey(k) {
				found = append(found, vs...)
			}
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	for _, f := range found {
		if len(f) >= 4 {
			body = strings.ReplaceAll(body, f, redacted)
			// The same value may appear JSON-escaped.
			if q, err := json.Marshal(f); err == nil && len(q) > 2 {
				if esc := string(q[1 : len(q)-1]); esc != f {
					body = strings.ReplaceAll(body, esc, redacted)
				}
			}
		}
	}
	return body
}

func collectSensitive(v any, sensitive bool, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			collectSensitive(e, sensitive || isSensitiveKey(k), out)
		}
	case []any:
		for _, e := range x {
			collectSensitive(e, sensitive, out)
		}
	case string:
		if sensitive {
			*out = append(*out, x)
		}
	}
}

// scrubErr keeps a transport error's text (useful in logs) while making sure
// no secret of the request appears in it.
func scrubErr(err error, req RefreshRequest) error {
	msg := err.Error()
	for _, s := range []string{req.RefreshToken, req.ClientSecret} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return errors.New(msg)
}
