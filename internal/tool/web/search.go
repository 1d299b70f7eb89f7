package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hangarhq/hangar/internal/wire"
)

// Searcher is a web search provider. Hangar has no search index of its own,
// so web_search is only as good as the provider the operator configures.
type Searcher interface {
	Search(ctx context.Context, q Query) ([]Result, error)
}

// Query is one web_search call.
type Query struct {
	Text string
	// Count is how many results are wanted.
	Count int
	// UserLocation localizes results when the provider can use it.
	UserLocation *wire.UserLocation
}

// Result is one search hit.
type Result struct {
	Title   string
	URL     string
	Snippet string
}

// ErrSearchNotConfigured is the tool error of a server without a provider.
var ErrSearchNotConfigured = errors.New("web_search is not configured on this server: the operator must set HANGAR_WEB_SEARCH_URL to a search API (for example a SearXNG instance: http://searxng:8080/search?q={query}&format=json) and, if it needs one, HANGAR_WEB_SEARCH_KEY")

// HTTPSearcher queries a generic JSON search API over HTTP.
//
// The URL template may contain these placeholders, each replaced by its
// URL-escaped value: {query}, {count}, {key}, {country}, {region}, {city},
// {timezone} (the last four from web_search's user_location, empty when
// unset). Without {query} the query is added as the "q" parameter. When a
// key is configured and the template has no {key}, it is sent as
// "Authorization: Bearer <key>".
//
// The response must be a JSON object with a "results" array whose members
// have "title", "url" and "content" (SearXNG's format=json); "snippet" or
// "description" are accepted in place of "content", and "link" in place of
// "url".
type HTTPSearcher struct {
	Template string
	Key      string
	Client   *http.Client
}

// NewHTTPSearcher checks template and returns a searcher for it.
func NewHTTPSearcher(template, key string) (*HTTPSearcher, error) {
	probe := strings.NewReplacer("{query}", "q", "{count}", "1", "{key}", "k", "{country}", "", "{region}", "", "{city}", "", "{timezone}", "").Replace(template)
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("HANGAR_WEB_SEARCH_URL: %q is not an http or https URL template", template)
	}
	return &HTTPSearcher{Template: template, Key: key, Client: &http.Client{Timeout: 20 * time.Second}}, nil
}

// maxSearchBody bounds a provider's response.
const maxSearchBody = 4 << 20

func (s *HTTPSearcher) Search(ctx context.Context, q Query) ([]Result, error) {
	var loc wire.UserLocation
	if q.UserLocation != nil {
		loc = *q.UserLocation
	}
	val := func(p *string) string {
		if p == nil {
			return ""
		}
		return url.QueryEscape(*p)
	}
	target := strings.NewReplacer(
		"{query}", url.QueryEscape(q.Text), "{count}", strconv.Itoa(q.Count), "{key}", url.QueryEscape(s.Key),
		"{country}", val(loc.Country), "{region}", val(loc.Region), "{city}", val(loc.City), "{timezone}", val(loc.Timezone),
	).Replace(s.Template)
	if !strings.Contains(s.Template, "{query}") {
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("search provider URL: %v", err)
		}
		v := u.Query()
		v.Set("q", q.Text)
		u.RawQuery = v.Encode()
		target = u.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("search provider URL: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if s.Key != "" && !strings.Contains(s.Template, "{key}") {
		req.Header.Set("Authorization", "Bearer "+s.Key)
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry the key: report the provider's host only.
		return nil, fmt.Errorf("the search provider (%s) could not be reached", req.URL.Host)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSearchBody))
	if err != nil {
		return nil, fmt.Errorf("reading the search provider's answer failed")
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("the search provider answered HTTP %d", resp.StatusCode)
	}
	return decodeResults(body)
}

// decodeResults reads the documented response shape.
func decodeResults(body []byte) ([]Result, error) {
	var doc struct {
		Results []struct {
			Title       string `json:"title"`
			URL         string `json:"url"`
			Link        string `json:"link"`
			Content     string `json:"content"`
			Snippet     string `json:"snippet"`
			Description string `json:"description"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("the search provider's answer is not the expected JSON ({\"results\":[{\"title\",\"url\",\"content\"}]})")
	}
	out := make([]Result, 0, len(doc.Results))
	for _, r := range doc.Results {
		res := Result{Title: strings.TrimSpace(r.Title), URL: strings.TrimSpace(r.URL), Snippet: strings.TrimSpace(r.Content)}
		if res.URL == "" {
			res.URL = strings.TrimSpace(r.Link)
		}
		if res.Snippet == "" {
			res.Snippet = strings.TrimSpace(r.Snippet)
		}
		if res.Snippet == "" {
			res.Snippet = strings.TrimSpace(r.Description)
		}
		if res.URL == "" {
			continue
		}
		out = append(out, res)
	}
	return out, nil
}

// filterResults keeps the results the tool's domain lists allow.
func filterResults(c wire.AgentToolConfig, rs []Result) []Result {
	if len(c.AllowedDomains) == 0 && len(c.BlockedDomains) == 0 {
		return rs
	}
	out := rs[:0:0]
	for _, r := range rs {
		u, err := url.Parse(r.URL)
		if err != nil || u.Hostname() == "" {
			continue
		}
		if checkDomains(c, normHost(u.Hostname()), u.EscapedPath()) == nil {
			out = append(out, r)
		}
	}
	return out
}
