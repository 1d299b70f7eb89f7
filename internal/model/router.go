package model

import (
	"context"
	"fmt"
	"iter"
	"net/url"
)

// Endpoint is what a Factory needs to build a provider for one route.
type Endpoint struct {
	Provider string
	BaseURL  string
	APIKey   string
}

// Factory builds a provider for an endpoint. The composition root passes one
// per provider kind (see model/providers), so this package never imports an
// implementation.
type Factory func(Endpoint) (Provider, error)

// Router serves every configured model: it is itself a Provider that picks
// the route for Request.Model and forwards the turn with the route's
// upstream model name.
type Router struct {
	routes []routeEntry
}

type routeEntry struct {
	Route
	provider Provider
	// missing is set when the route cannot work as configured (no key for
	// an upstream that needs one); Stream returns it instead of calling out.
	missing *Error
}

// NewRouter builds one provider per distinct endpoint in cfg, so routes to
// the same upstream share a connection pool.
func NewRouter(cfg Config, factories map[string]Factory) (*Router, error) {
	r := &Router{}
	built := make(map[Endpoint]Provider)
	for _, rt := range cfg.Routes {
		ep := Endpoint{Provider: rt.Provider, BaseURL: rt.BaseURL, APIKey: rt.APIKey}
		e := routeEntry{Route: rt}
		if msg := rt.missingKey(); msg != "" {
			e.missing = &Error{Kind: KindNotConfigured, Provider: "router", Message: msg}
			r.routes = append(r.routes, e)
			continue
		}
		p, ok := built[ep]
		if !ok {
			f := factories[rt.Provider]
			if f == nil {
				return nil, fmt.Errorf("model: no factory for provider %q (route %q)", rt.Provider, rt.Match)
			}
			var err error
			if p, err = f(ep); err != nil {
				return nil, fmt.Errorf("model: route %q: %w", rt.Match, err)
			}
			built[ep] = p
		}
		e.provider = p
		r.routes = append(r.routes, e)
	}
	return r, nil
}

// missingKey explains what to set when the route needs a key it lacks. A
// custom base URL without a key is allowed: local servers (vLLM, Ollama)
// need none, and gateways may inject credentials themselves.
func (rt Route) missingKey() string {
	if rt.APIKey != "" {
		return ""
	}
	needsKey := rt.APIKeyEnv != ""
	if u, err := url.Parse(rt.BaseURL); err == nil {
		switch u.Host {
		case "api.anthropic.com", "api.openai.com":
			needsKey = true
		}
	}
	if !needsKey {
		return ""
	}
	return fmt.Sprintf("models matching %q are served by %s at %s, but no API key is set: set %s in the server's environment",
		rt.Match, rt.Provider, rt.BaseURL, rt.keyHint)
}

// Routes returns the routing table in match order (keys are redacted by
// Route.String when logged).
func (r *Router) Routes() []Route {
	out := make([]Route, len(r.routes))
	for i, e := range r.routes {
		out[i] = e.Route
	}
	return out
}

// Resolve returns the provider and upstream model name for model, or a
// NotConfigured *Error that tells the operator what to configure.
func (r *Router) Resolve(model string) (Provider, string, error) {
	for _, e := range r.routes {
		if !matchGlob(e.Match, model) {
			continue
		}
		if e.missing != nil {
			err := *e.missing
			err.Message = fmt.Sprintf("model %q: %s", model, e.missing.Message)
			return nil, "", &err
		}
		upstream := model
		if e.UpstreamModel != "" {
			upstream = e.UpstreamModel
		}
		return e.provider, upstream, nil
	}
	return nil, "", &Error{
		Kind:     KindNotConfigured,
		Provider: "router",
		Message: fmt.Sprintf("no model provider is configured for model %q: add a route to %s (or --models), "+
			"e.g. %s='%s=openai:http://127.0.0.1:8000/v1' for an OpenAI-compatible server; "+
			"claude-* models go to Anthropic with %s", model, EnvModels, EnvModels, model, EnvAnthropicAPIKey),
	}
}

// Stream routes req by its model. It does not modify req.
func (r *Router) Stream(ctx context.Context, req *Request) iter.Seq2[Event, error] {
	if req == nil {
		return failed(&Error{Kind: KindInvalidRequest, Provider: "router", Message: "request: must not be nil"})
	}
	p, upstream, err := r.Resolve(req.Model)
	if err != nil {
		return failed(err)
	}
	if upstream != req.Model {
		cp := *req
		cp.Model = upstream
		req = &cp
	}
	return p.Stream(ctx, req)
}

// failed is a stream that yields err and ends.
func failed(err error) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) { yield(Event{}, err) }
}
