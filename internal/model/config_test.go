package model

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
)

func env(m map[string]string) LookupFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParseRoutes(t *testing.T) {
	cases := []struct {
		in      string
		want    []Route
		wantErr string
	}{
		{in: "", want: nil},
		{in: "llama*=openai:http://127.0.0.1:8000/v1", want: []Route{{Match: "llama*", Provider: "openai", BaseURL: "http://127.0.0.1:8000/v1"}}},
		{
			in: "llama*=openai:http://a:1/v1, qwen3:*=openai:http://b:2/v1;\n claude-*=anthropic gpt-*=openai",
			want: []Route{
				{Match: "llama*", Provider: "openai", BaseURL: "http://a:1/v1"},
				{Match: "qwen3:*", Provider: "openai", BaseURL: "http://b:2/v1"},
				{Match: "claude-*", Provider: "anthropic"},
				{Match: "gpt-*", Provider: "openai"},
			},
		},
		{
			in: `[{"match":"gpt-*","provider":"openai","base_url":"https://openrouter.ai/api/v1","api_key_env":"OPENROUTER_API_KEY","upstream_model":"openai/gpt-5"}]`,
			want: []Route{{Match: "gpt-*", Provider: "openai", BaseURL: "https://openrouter.ai/api/v1",
				APIKeyEnv: "OPENROUTER_API_KEY", UpstreamModel: "openai/gpt-5"}},
		},
		{in: "llama", wantErr: `entry 1 "llama": want PATTERN=PROVIDER[:BASE_URL]`},
		{in: "llama=vertex", wantErr: `provider: unknown provider "vertex"`},
		{in: "llama=", wantErr: "provider: must not be empty"},
		{in: "=openai", wantErr: "match: must not be empty"},
		{in: "llama=openai:ftp://x", wantErr: "base_url: \"ftp://x\": want an http:// or https:// URL"},
		{in: "llama=openai:http://user:pw@x/v1", wantErr: "put credentials in the key variable"},
		{in: "x=openai:http:///v1", wantErr: "missing host"},
		{in: `[{"match":"x","provider":"openai","key":"sk-1"}]`, wantErr: `unknown field "key"`},
		{in: `[{"match":"x","provider":"bogus"}]`, wantErr: `[0].provider: unknown provider "bogus"`},
		{in: `[{"match":"x","provider":"openai"}] []`, wantErr: "trailing data"},
		{in: `[{"match":"x","provider":"openai","api_key_env":"A B"}]`, wantErr: "api_key_env"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseRoutes(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestLoadConfigDefaultsAndKeys(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{
		// Users point their clients at Hangar with this; the server must not
		// take its upstream from it.
		"ANTHROPIC_BASE_URL":  "http://127.0.0.1:8420",
		"ANTHROPIC_API_KEY":   "sk-ant-fallback-key",
		EnvModels:             `llama*=openai:http://127.0.0.1:11434/v1/ ,[{bad]`,
		EnvOpenAIAPIKey:       "sk-openai-key",
		"UNRELATED_VARIABLE_": "x",
	}))
	if err == nil || !strings.Contains(err.Error(), "--models (HANGAR_MODELS): entry 2") {
		t.Fatalf("err = %v", err)
	}

	cfg, err = LoadConfig(env(map[string]string{
		"ANTHROPIC_BASE_URL": "http://127.0.0.1:8420",
		"ANTHROPIC_API_KEY":  "sk-ant-fallback-key",
		EnvModels:            `llama*=openai:http://127.0.0.1:11434/v1/, gpt-*=openai`,
		EnvOpenAIAPIKey:      "sk-openai-key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 3 {
		t.Fatalf("routes = %v", cfg.Routes)
	}
	llama, gpt, claude := cfg.Routes[0], cfg.Routes[1], cfg.Routes[2]
	if llama.BaseURL != "http://127.0.0.1:11434/v1" || llama.APIKey != "sk-openai-key" {
		t.Fatalf("llama route = %v", llama)
	}
	if gpt.BaseURL != DefaultOpenAIBaseURL {
		t.Fatalf("gpt route = %v", gpt)
	}
	if claude.Match != "claude-*" || claude.Provider != "anthropic" || claude.BaseURL != DefaultAnthropicBaseURL {
		t.Fatalf("claude route = %v (ANTHROPIC_BASE_URL must be ignored)", claude)
	}
	if claude.APIKey != "sk-ant-fallback-key" {
		t.Fatal("ANTHROPIC_API_KEY fallback not used")
	}

	// HANGAR_ANTHROPIC_* win; a user route for claude-* comes before the
	// built-in one.
	cfg, err = LoadConfig(env(map[string]string{
		"ANTHROPIC_BASE_URL":  "http://127.0.0.1:8420",
		"ANTHROPIC_API_KEY":   "sk-ant-fallback-key",
		EnvAnthropicBaseURL:   "https://gateway.example.com/anthropic/",
		EnvAnthropicAPIKey:    "sk-ant-hangar-key",
		EnvModels:             `[{"match":"claude-haiku-*","provider":"openai","base_url":"http://h/v1","api_key_env":"HAIKU_KEY"}]`,
		"HAIKU_KEY":           "sk-haiku",
		"HANGAR_OPENAI_API_K": "typo",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Routes[0]; r.APIKey != "sk-haiku" || r.BaseURL != "http://h/v1" {
		t.Fatalf("haiku route = %v", r)
	}
	if r := cfg.Routes[1]; r.BaseURL != "https://gateway.example.com/anthropic" || r.APIKey != "sk-ant-hangar-key" {
		t.Fatalf("claude route = %v", r)
	}

	_, err = LoadConfig(env(map[string]string{EnvAnthropicBaseURL: "api.anthropic.com", EnvOpenAIBaseURL: "nope"}))
	if err == nil || !strings.Contains(err.Error(), "--anthropic-base-url (HANGAR_ANTHROPIC_BASE_URL)") ||
		!strings.Contains(err.Error(), "--openai-base-url (HANGAR_OPENAI_BASE_URL)") {
		t.Fatalf("err = %v", err)
	}
}

// The real process environment, the way the server reads it.
func TestLoadConfigFromEnvIgnoresAnthropicBaseURL(t *testing.T) {
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8420")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0001")
	t.Setenv(EnvAnthropicBaseURL, "")
	t.Setenv(EnvAnthropicAPIKey, "")
	t.Setenv(EnvModels, "")
	cfg, err := LoadConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[len(cfg.Routes)-1]
	if r.BaseURL != DefaultAnthropicBaseURL || r.APIKey != "sk-ant-from-env-0001" {
		t.Fatalf("route = %v", r)
	}
}

func TestRouteStringHidesKey(t *testing.T) {
	r := Route{Match: "x*", Provider: "openai", BaseURL: "http://h", APIKey: "sk-secret-value-1234"}
	cfg := Config{Routes: []Route{r}}
	for _, s := range []string{r.String(), fmt.Sprintf("%v %+v %#v", r, r, r), fmt.Sprint(cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "sk-secret") {
			t.Fatalf("key printed: %s", s)
		}
	}
	if !strings.Contains(r.String(), "key set") {
		t.Fatalf("String = %s", r.String())
	}
}

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"claude-*", "claude-opus-4-8", true},
		{"claude-*", "claude-", true},
		{"claude-*", "claud", false},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"meta-llama/*", "meta-llama/Llama-3.1-8B-Instruct", true},
		{"*llama*", "meta-llama/Llama-3.1", true},
		{"qwen3:?b", "qwen3:8b", true},
		{"qwen3:?b", "qwen3:14b", false},
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**", "x", true},
	}
	for _, c := range cases {
		if got := matchGlob(c.pattern, c.name); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

// fakeProvider records what it was asked.
type fakeProvider struct {
	ep    Endpoint
	model string
}

func (f *fakeProvider) Stream(_ context.Context, req *Request) iter.Seq2[Event, error] {
	f.model = req.Model
	return func(yield func(Event, error) bool) {
		_ = yield(Event{Type: EventMessageStart}, nil) &&
			yield(Event{Type: EventMessageDelta, StopReason: StopEndTurn}, nil) &&
			yield(Event{Type: EventMessageStop}, nil)
	}
}

func TestRouter(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{
		EnvModels: `[{"match":"local-*","provider":"openai","base_url":"http://127.0.0.1:8000/v1","upstream_model":"Qwen/Qwen3-8B"},
		            {"match":"llama*","provider":"openai","base_url":"http://127.0.0.1:8000/v1"},
		            {"match":"gw-*","provider":"openai","base_url":"http://gw/v1","api_key_env":"GW_KEY"},
		            {"match":"gpt-*","provider":"openai"}]`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var built []*fakeProvider
	factory := func(ep Endpoint) (Provider, error) {
		p := &fakeProvider{ep: ep}
		built = append(built, p)
		return p, nil
	}
	r, err := NewRouter(cfg, map[string]Factory{ProviderOpenAI: factory, ProviderAnthropic: factory})
	if err != nil {
		t.Fatal(err)
	}
	// local-* and llama* share an endpoint, so one provider; gw-*, gpt-* and
	// claude-* lack the keys they need.
	if len(built) != 1 {
		t.Fatalf("built %d providers", len(built))
	}

	req := &Request{Model: "local-fast", MaxTokens: 1, Messages: []Message{{Role: RoleUser, Content: []Block{Text("x")}}}}
	if _, err := Collect(r.Stream(context.Background(), req), nil); err != nil {
		t.Fatal(err)
	}
	if built[0].model != "Qwen/Qwen3-8B" || req.Model != "local-fast" {
		t.Fatalf("upstream model %q, request model %q", built[0].model, req.Model)
	}

	cases := []struct {
		model string
		want  string // "" means served
	}{
		{"llama3.1:8b", ""},
		{"claude-opus-4-8", "HANGAR_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"},
		{"gpt-5", "set HANGAR_OPENAI_API_KEY"},
		{"gw-model", "set GW_KEY"},
		{"mistral-large", `no model provider is configured for model "mistral-large": add a route to HANGAR_MODELS`},
	}
	for _, c := range cases {
		_, _, err := r.Resolve(c.model)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.model, err)
			}
			continue
		}
		e, ok := AsError(err)
		if !ok || e.Kind != KindNotConfigured || e.Retryable() || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: err = %v, want NotConfigured mentioning %q", c.model, err, c.want)
		}
		if e != nil && e.SessionErrorType() != "model_request_failed_error" {
			t.Errorf("session error type %q", e.SessionErrorType())
		}
	}

	// The stream form of the same failure.
	req.Model = "mistral-large"
	_, err = Collect(r.Stream(context.Background(), req), nil)
	if e, ok := AsError(err); !ok || e.Kind != KindNotConfigured {
		t.Fatalf("err = %v", err)
	}

	if _, err := NewRouter(cfg, map[string]Factory{}); err == nil {
		t.Fatal("missing factory accepted")
	}
	boom := errors.New("boom")
	if _, err := NewRouter(cfg, map[string]Factory{ProviderOpenAI: func(Endpoint) (Provider, error) { return nil, boom }}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParseRoutes: the HANGAR_MODELS parser never panics, and every route it
// accepts is usable (known provider, valid URL, non-empty match).
func FuzzParseRoutes(f *testing.F) {
	for _, s := range []string{
		"llama*=openai:http://127.0.0.1:8000/v1",
		"a=anthropic,b=openai:https://x/v1;c=openai",
		`[{"match":"x","provider":"openai","base_url":"http://h/v1","api_key_env":"K","upstream_model":"m"}]`,
		`[{"match":"","provider":"openai"}]`,
		"=", "x=openai:", "x=openai:http://", "[", "[]", "x=openai:http://h:99999/v1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		routes, err := ParseRoutes(s)
		if err != nil {
			return
		}
		for _, r := range routes {
			if r.Match == "" || (r.Provider != ProviderAnthropic && r.Provider != ProviderOpenAI) {
				t.Fatalf("accepted unusable route %v from %q", r, s)
			}
			if r.BaseURL != "" && checkBaseURL(r.BaseURL) != nil {
				t.Fatalf("accepted bad base URL %q", r.BaseURL)
			}
		}
	})
}
