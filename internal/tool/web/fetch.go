package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hangarhq/hangar/internal/egress"
	"github.com/hangarhq/hangar/internal/netpolicy"
	"github.com/hangarhq/hangar/internal/wire"
)

// Resolver resolves host names; *net.Resolver satisfies it. Tests inject
// one that maps made-up names to a local test server.
type Resolver = netpolicy.Resolver

// FetchOptions tune a Fetcher. Zero values take the defaults.
type FetchOptions struct {
	// Timeout bounds one fetch, redirects and body included (30 s).
	Timeout time.Duration
	// MaxBodyBytes is the most read from a response (10 MiB); the rest is
	// cut off and the result says so.
	MaxBodyBytes int64
	// MaxRedirects is how many redirects are followed (5).
	MaxRedirects int
	// DefaultMaxTokens bounds the returned text when the tool config sets
	// no max_content_tokens (25,000, about 100 KB of text).
	DefaultMaxTokens int64
	// MaxInlineBytes is the largest PDF or image passed to the model as a
	// document or image block (2 MiB); larger ones are only described.
	MaxInlineBytes int64
	UserAgent      string
	// Resolver defaults to net.DefaultResolver.
	Resolver Resolver
	// AllowInternal lists internal addresses that sessions of unrestricted
	// environments may fetch (the operator's SSRF exception).
	AllowInternal InternalAllowlist
	// RootCAs verifies HTTPS servers; nil means the system roots.
	// Benchmarks and tests set their own.
	RootCAs *x509.CertPool
	// Dial connects to an address that passed every check; it defaults to
	// a net.Dialer. Tests point it at a local server to exercise policies
	// for public addresses.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (o *FetchOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 10 << 20
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 5
	}
	if o.DefaultMaxTokens <= 0 {
		o.DefaultMaxTokens = 25000
	}
	if o.MaxInlineBytes <= 0 {
		o.MaxInlineBytes = 2 << 20
	}
	if o.UserAgent == "" {
		o.UserAgent = "Hangar-WebFetch/1 (+https://github.com/hangarhq/hangar)"
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
}

// bytesPerToken approximates how much text one token of
// max_content_tokens stands for.
const bytesPerToken = 4

// Fetcher runs web_fetch: one GET per call, every hop checked against the
// session's Policy and the SSRF rule.
type Fetcher struct{ opt FetchOptions }

// NewFetcher returns a Fetcher with o's settings.
func NewFetcher(o FetchOptions) *Fetcher {
	o.defaults()
	return &Fetcher{opt: o}
}

// PolicyError is a fetch refused by policy (scheme, domain lists,
// networking, SSRF) rather than one that failed on the network.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

func denied(format string, args ...any) error {
	return &PolicyError{Reason: fmt.Sprintf(format, args...)}
}

// Page is a fetched document.
type Page struct {
	// URL is the final URL, after redirects.
	URL         string
	Status      int
	ContentType string
	Title       string
	// Text is the readable text (HTML converted, other text as is); empty
	// for PDFs, images and binary content.
	Text string
	// Truncated says Text was cut to the token budget or the body to
	// MaxBodyBytes.
	Truncated bool
	// MaxTokens is the budget Text was held to.
	MaxTokens int64
	// Block is a document (PDF) or image block for the model, if the
	// content is one small enough to pass on.
	Block *wire.ContentBlock
	// Note describes content that is neither text nor passed on.
	Note string
}

// Fetch GETs rawURL under policy p.
func (f *Fetcher) Fetch(ctx context.Context, p Policy, rawURL string) (*Page, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || !u.IsAbs() {
		return nil, denied("%q is not an absolute http or https URL", rawURL)
	}
	u.Fragment, u.RawFragment = "", ""
	if err := checkURL(p, u); err != nil {
		return nil, &PolicyError{Reason: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, f.opt.Timeout)
	defer cancel()
	// One transport per fetch, without keep-alives: a pooled connection
	// opened under one session's policy must never serve another's.
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            f.dialer(p),
		TLSHandshakeTimeout:    10 * time.Second,
		TLSClientConfig:        &tls.Config{RootCAs: f.opt.RootCAs, MinVersion: tls.VersionTLS12},
		ResponseHeaderTimeout:  f.opt.Timeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if p.Via != nil {
		viaProxy(tr, p.Via)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > f.opt.MaxRedirects {
				return denied("stopped after %d redirects", f.opt.MaxRedirects)
			}
			if err := checkURL(p, req.URL); err != nil {
				return denied("redirect to %s refused: %v", req.URL.Redacted(), err)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, denied("%q is not a valid URL", rawURL)
	}
	req.Header.Set("User-Agent", f.opt.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			return nil, pe
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s timed out after %s", u.Redacted(), f.opt.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetching %s failed: %v", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if p.Via != nil {
		// A plain-HTTP hop the proxy refused or could not forward: its
		// answer, not a page of the destination.
		if err := egress.Refusal(resp); err != nil {
			return nil, proxyError(u, err)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opt.MaxBodyBytes+1))
	if err != nil && len(body) == 0 {
		return nil, fmt.Errorf("reading %s failed: %v", resp.Request.URL.Redacted(), err)
	}
	cut := int64(len(body)) > f.opt.MaxBodyBytes || err != nil
	if int64(len(body)) > f.opt.MaxBodyBytes {
		body = body[:f.opt.MaxBodyBytes]
	}
	maxTokens := f.opt.DefaultMaxTokens
	if p.Fetch.MaxContentTokens != nil && *p.Fetch.MaxContentTokens > 0 {
		maxTokens = *p.Fetch.MaxContentTokens
	}
	page := &Page{URL: resp.Request.URL.String(), Status: resp.StatusCode, MaxTokens: maxTokens, Truncated: cut}
	f.render(page, resp.Header.Get("Content-Type"), body, resp.Request.URL, cut)
	return page, nil
}

// proxyURL names the egress proxy in the transport; the connection comes
// from Policy.Via whatever the name says.
var proxyURL = &url.URL{Scheme: "http", Host: "hangar-egress"}

// viaProxy makes tr send everything through the session's egress proxy:
// absolute-URI requests for http, CONNECT tunnels for https (which the
// proxy never intercepts for the server's own requests, so TLS is
// verified end to end against FetchOptions.RootCAs). The proxy applies the
// environment's networking and its internal-address guard to every hop,
// redirects included; this package's own checks stay as they are for the
// scheme and the tool's domain lists.
func viaProxy(tr *http.Transport, via Dialer) {
	tr.Proxy = http.ProxyURL(proxyURL)
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return via.Dial(ctx) }
	tr.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		err := egress.Refusal(resp)
		var d *egress.Denied
		if errors.As(err, &d) {
			return &PolicyError{Reason: d.Msg}
		}
		return err // nil: Go's transport reports the bare status
	}
}

// proxyError turns the proxy's refusal into a *PolicyError (shown as
// "web_fetch refused …") and any other failure into a fetch error.
func proxyError(u *url.URL, err error) error {
	var d *egress.Denied
	if errors.As(err, &d) {
		return &PolicyError{Reason: d.Msg}
	}
	return fmt.Errorf("fetching %s failed: %v", u.Redacted(), err)
}

// dialer connects, refusing internal addresses at the moment of connecting
// (netpolicy.DialChecked) unless the policy and AllowInternal allow them.
func (f *Fetcher) dialer(p Policy) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return netpolicy.DialChecked(ctx, network, addr, f.opt.Resolver, f.opt.Dial, func(host string, a netip.Addr) error {
			if isInternal(a) && !(p.Unrestricted() && f.opt.AllowInternal.allows(host, a)) {
				return denied("%s resolves to %s, an internal address (loopback, private, link-local or reserved); web_fetch does not connect to internal addresses", host, a)
			}
			return nil
		})
	}
}

// Media types readable as text besides text/*.
var textTypes = []string{
	"application/json", "application/xml", "application/javascript", "application/x-javascript",
	"application/ecmascript", "application/x-ndjson", "application/yaml", "application/x-yaml",
	"application/toml", "application/x-sh", "application/sql", "application/graphql",
}

func (f *Fetcher) render(page *Page, header string, body []byte, base *url.URL, cut bool) {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt == "" || mt == "application/octet-stream" {
		mt, params, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	page.ContentType = mt
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		text, title := htmlToText(decodeText(body, params["charset"]), base)
		page.Title = title
		page.setText(text)
	case strings.HasPrefix(mt, "text/") || slices.Contains(textTypes, mt) ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml"):
		page.setText(decodeText(body, params["charset"]))
	case mt == "application/pdf" || slices.Contains(wire.ImageMediaTypes, mt):
		kind := "PDF document"
		if mt != "application/pdf" {
			kind = "image"
		}
		switch {
		case cut:
			page.Note = fmt.Sprintf("This %s is larger than %d bytes, the most web_fetch reads, so it is not shown.", kind, f.opt.MaxBodyBytes)
		case int64(len(body)) > f.opt.MaxInlineBytes:
			page.Note = fmt.Sprintf("This %s is %d bytes, more than the %d bytes web_fetch passes on, so it is not shown.", kind, len(body), f.opt.MaxInlineBytes)
		default:
			typ := wire.BlockDocument
			if kind == "image" {
				typ = wire.BlockImage
			}
			page.Block = &wire.ContentBlock{Type: typ, Source: &wire.ContentSource{Type: wire.SourceBase64, MediaType: mt, Data: base64.StdEncoding.EncodeToString(body)}}
			if typ == wire.BlockDocument {
				title := page.URL
				page.Block.Title = &title
			}
			page.Note = fmt.Sprintf("The %s (%d bytes) follows.", kind, len(body))
		}
	default:
		page.Note = fmt.Sprintf("The response is binary content of type %s (%d bytes%s), which web_fetch does not show.", mt, len(body), map[bool]string{true: " read before the size limit", false: ""}[cut])
	}
}

// setText stores text held to the page's token budget, cut at a line or
// word boundary when one is near.
func (p *Page) setText(text string) {
	limit := int(p.MaxTokens * bytesPerToken)
	if len(text) <= limit {
		p.Text = text
		return
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	if nl := strings.LastIndexAny(text[:cut], "\n "); nl > cut*9/10 {
		cut = nl
	}
	p.Text = text[:cut]
	p.Truncated = true
}

// decodeText turns a body into UTF-8. Latin-1 family charsets are mapped
// directly; anything else is taken as UTF-8 with invalid bytes replaced.
func decodeText(b []byte, charset string) string {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
