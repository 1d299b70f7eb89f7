package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// Provider kinds a route can name.
const (
	ProviderAnthropic = "anthropic"
	ProviderOpenAI    = "openai"
)

// Default upstreams.
const (
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
)

// Environment variables the model layer reads. ANTHROPIC_BASE_URL is
// deliberately absent: users set it to point their SDK clients at Hangar, so
// taking the upstream from it would make Hangar call itself.
const (
	EnvModels           = "HANGAR_MODELS"
	EnvAnthropicBaseURL = "HANGAR_ANTHROPIC_BASE_URL"
	EnvAnthropicAPIKey  = "HANGAR_ANTHROPIC_API_KEY"
	EnvAnthropicKeyStd  = "ANTHROPIC_API_KEY"
	EnvOpenAIBaseURL    = "HANGAR_OPENAI_BASE_URL"
	EnvOpenAIAPIKey     = "HANGAR_OPENAI_API_KEY"
)

// BuiltinClaudeRoute is matched after the configured routes: Claude models go
// to Anthropic unless HANGAR_MODELS says otherwise.
const BuiltinClaudeRoute = "claude-*"

// LookupFunc reads an environment variable; os.LookupEnv in production, a
// map in tests.
type LookupFunc func(string) (string, bool)

// Route sends the models whose name matches Match to one provider endpoint.
type Route struct {
	// Match is a model name or a glob: '*' matches any run of characters
	// (slashes included, for names like "meta-llama/Llama-3.1-8B"), '?' one.
	Match string `json:"match"`
	// Provider is "anthropic" or "openai".
	Provider string `json:"provider"`
	// BaseURL is the upstream; empty means the provider's default
	// (HANGAR_ANTHROPIC_BASE_URL / HANGAR_OPENAI_BASE_URL).
	BaseURL string `json:"base_url,omitempty"`
	// APIKeyEnv names the environment variable holding this route's key;
	// empty means the provider's default key variable.
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// UpstreamModel replaces the agent's model name in upstream requests,
	// e.g. "claude-sonnet-4-6" served as "qwen3:32b" by a local Ollama.
	UpstreamModel string `json:"upstream_model,omitempty"`

	// APIKey is resolved from the environment. It is never serialised, and
	// String hides it.
	APIKey string `json:"-"`
	// keyHint tells an operator which variable to set for this route.
	keyHint string
}

// String describes the route without its key, so that logging a Route or a
// Config never leaks it.
func (r Route) String() string {
	key := "unset"
	if r.APIKey != "" {
		key = "set"
	}
	s := fmt.Sprintf("%s=%s:%s (key %s", r.Match, r.Provider, r.BaseURL, key)
	if r.APIKeyEnv != "" {
		s += " from " + r.APIKeyEnv
	}
	s += ")"
	if r.UpstreamModel != "" {
		s += " as " + r.UpstreamModel
	}
	return s
}

// GoString is String, so that %#v cannot print the key either.
func (r Route) GoString() string { return "model.Route{" + r.String() + "}" }

// Settings are the model layer's non-secret settings, each a flag and a
// HANGAR_* variable. Keys come only from the environment, so they never show
// in a process listing.
type Settings struct {
	// Models is the routing table (HANGAR_MODELS, --models). Two forms:
	//
	// Compact: entries separated by commas, semicolons or whitespace, each
	// PATTERN=PROVIDER[:BASE_URL], e.g.
	//
	//	llama*=openai:http://127.0.0.1:8000/v1, qwen*=openai:http://127.0.0.1:11434/v1
	//
	// JSON (when the value starts with '['), for per-route keys and model
	// renaming:
	//
	//	[{"match":"gpt-*","provider":"openai","base_url":"https://openrouter.ai/api/v1",
	//	  "api_key_env":"OPENROUTER_API_KEY","upstream_model":"openai/gpt-5"}]
	//
	// Routes are tried in order; the first match wins; "claude-*" to
	// anthropic is always tried last.
	Models string
	// AnthropicBaseURL is HANGAR_ANTHROPIC_BASE_URL (--anthropic-base-url).
	AnthropicBaseURL string
	// OpenAIBaseURL is HANGAR_OPENAI_BASE_URL (--openai-base-url), the
	// default for openai routes that give no base URL.
	OpenAIBaseURL string
}

// SettingsFromEnv reads the settings from the environment.
func SettingsFromEnv(lookup LookupFunc) Settings {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	return Settings{
		Models:           get(EnvModels),
		AnthropicBaseURL: get(EnvAnthropicBaseURL),
		OpenAIBaseURL:    get(EnvOpenAIBaseURL),
	}
}

// RegisterFlags defines the settings' flags on fs with their variables'
// values as defaults, so a flag overrides its variable.
func (s *Settings) RegisterFlags(fs *flag.FlagSet, lookup LookupFunc) {
	env := SettingsFromEnv(lookup)
	fs.StringVar(&s.Models, "models", env.Models,
		"model routing table: PATTERN=PROVIDER[:BASE_URL],... or a JSON list ("+EnvModels+")")
	fs.StringVar(&s.AnthropicBaseURL, "anthropic-base-url", env.AnthropicBaseURL,
		"upstream Anthropic API (default "+DefaultAnthropicBaseURL+"; "+EnvAnthropicBaseURL+"; ANTHROPIC_BASE_URL is ignored)")
	fs.StringVar(&s.OpenAIBaseURL, "openai-base-url", env.OpenAIBaseURL,
		"default OpenAI-compatible upstream (default "+DefaultOpenAIBaseURL+"; "+EnvOpenAIBaseURL+")")
}

// Config is the resolved routing table.
type Config struct {
	// Routes in match order; the built-in claude-* route is last.
	Routes []Route
}

// LogValue lists the routes without keys.
func (c Config) LogValue() slog.Value {
	s := make([]string, len(c.Routes))
	for i, r := range c.Routes {
		s[i] = r.String()
	}
	return slog.StringValue(strings.Join(s, "; "))
}

// LoadConfig reads the settings and keys from the environment.
func LoadConfig(lookup LookupFunc) (Config, error) {
	return SettingsFromEnv(lookup).Resolve(lookup)
}

// LoadConfigFromEnv is LoadConfig(os.LookupEnv).
func LoadConfigFromEnv() (Config, error) { return LoadConfig(os.LookupEnv) }

// Resolve parses the routing table, fills in defaults and reads the keys.
// Errors name the setting to fix. A missing key is not an error here: the
// server starts, and a session using that route gets a NotConfigured error
// saying which variable to set.
func (s Settings) Resolve(lookup LookupFunc) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	anthropicBase := strings.TrimSpace(s.AnthropicBaseURL)
	if anthropicBase == "" {
		anthropicBase = DefaultAnthropicBaseURL
	} else if err := checkBaseURL(anthropicBase); err != nil {
		errs = append(errs, fmt.Errorf("--anthropic-base-url (%s): %w", EnvAnthropicBaseURL, err))
	}
	openaiBase := strings.TrimSpace(s.OpenAIBaseURL)
	if openaiBase == "" {
		openaiBase = DefaultOpenAIBaseURL
	} else if err := checkBaseURL(openaiBase); err != nil {
		errs = append(errs, fmt.Errorf("--openai-base-url (%s): %w", EnvOpenAIBaseURL, err))
	}
	routes, err := ParseRoutes(s.Models)
	if err != nil {
		errs = append(errs, fmt.Errorf("--models (%s): %w", EnvModels, err))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}

	anthropicKey, anthropicHint := get(EnvAnthropicAPIKey), EnvAnthropicAPIKey+" (or "+EnvAnthropicKeyStd+")"
	if anthropicKey == "" {
		anthropicKey = get(EnvAnthropicKeyStd)
	}
	openaiKey := get(EnvOpenAIAPIKey)

	routes = append(routes, Route{Match: BuiltinClaudeRoute, Provider: ProviderAnthropic})
	for i := range routes {
		r := &routes[i]
		switch r.Provider {
		case ProviderAnthropic:
			if r.BaseURL == "" {
				r.BaseURL = anthropicBase
			}
			r.APIKey, r.keyHint = anthropicKey, anthropicHint
		case ProviderOpenAI:
			if r.BaseURL == "" {
				r.BaseURL = openaiBase
			}
			r.APIKey, r.keyHint = openaiKey, EnvOpenAIAPIKey
		}
		if r.APIKeyEnv != "" {
			r.APIKey, r.keyHint = get(r.APIKeyEnv), r.APIKeyEnv
		}
		r.BaseURL = strings.TrimRight(r.BaseURL, "/")
	}
	return Config{Routes: routes}, nil
}

// ParseRoutes parses the HANGAR_MODELS syntax (see Settings.Models). Errors
// name the entry.
func ParseRoutes(s string) ([]Route, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if s[0] == '[' {
		return parseJSONRoutes(s)
	}
	entries := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	routes := make([]Route, 0, len(entries))
	for i, e := range entries {
		match, target, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d %q: want PATTERN=PROVIDER[:BASE_URL]", i+1, e)
		}
		provider, base, _ := strings.Cut(target, ":")
		r := Route{Match: match, Provider: provider, BaseURL: base}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("entry %d %q: %w", i+1, e, err)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

func parseJSONRoutes(s string) ([]Route, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var routes []Route
	if err := dec.Decode(&routes); err != nil {
		return nil, fmt.Errorf("invalid JSON route list: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON route list: trailing data after the list")
	}
	for i := range routes {
		r := &routes[i]
		r.Match, r.Provider = strings.TrimSpace(r.Match), strings.TrimSpace(r.Provider)
		r.BaseURL = strings.TrimSpace(r.BaseURL)
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("[%d].%w", i, err)
		}
	}
	return routes, nil
}

// check validates a parsed route; errors start with the field name.
func (r *Route) check() error {
	if r.Match == "" {
		return errors.New("match: must not be empty")
	}
	for _, c := range r.Match {
		if c <= ' ' || c == '=' || c == ',' || c == ';' || c == 0x7f {
			return fmt.Errorf("match: %q contains %q", r.Match, c)
		}
	}
	switch r.Provider {
	case ProviderAnthropic, ProviderOpenAI:
	case "":
		return errors.New("provider: must not be empty (anthropic or openai)")
	default:
		return fmt.Errorf("provider: unknown provider %q (want anthropic or openai)", r.Provider)
	}
	if r.BaseURL != "" {
		if err := checkBaseURL(r.BaseURL); err != nil {
			return fmt.Errorf("base_url: %w", err)
		}
	}
	if r.APIKeyEnv != "" && strings.ContainsAny(r.APIKeyEnv, "= \t\n") {
		return fmt.Errorf("api_key_env: %q is not a variable name", r.APIKeyEnv)
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: missing host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: put credentials in the key variable, not the URL", s)
	}
	return nil
}

// matchGlob reports whether name matches pattern, where '*' matches any
// (possibly empty) run of bytes and '?' exactly one byte.
func matchGlob(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
