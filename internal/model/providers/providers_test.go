package providers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/model/providers"
)

func req(modelName, text string) *model.Request {
	return &model.Request{
		Model:     modelName,
		MaxTokens: 256,
		Messages:  []model.Message{{Role: model.RoleUser, Content: []model.Block{model.Text(text)}}},
	}
}

// The whole path the server will use: environment → Config → Router → real
// providers → fake upstreams over real sockets. ANTHROPIC_BASE_URL, which
// users point at Hangar itself, must never become the upstream.
func TestRoutingFromEnvironment(t *testing.T) {
	decoy := modeltest.NewAnthropic(t, modeltest.Options{Rule: modeltest.EchoRule})
	claude := modeltest.NewAnthropic(t, modeltest.Options{APIKey: "sk-ant-real-key-0001", Rule: modeltest.EchoRule})
	local := modeltest.NewOpenAI(t, modeltest.Options{Rule: modeltest.EchoRule})
	gateway := modeltest.NewOpenAI(t, modeltest.Options{APIKey: "sk-gw-key-000000001", Rule: modeltest.EchoRule})

	t.Setenv("ANTHROPIC_BASE_URL", decoy.URL)
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-fallback-should-lose")
	t.Setenv(model.EnvAnthropicBaseURL, claude.URL)
	t.Setenv(model.EnvAnthropicAPIKey, "sk-ant-real-key-0001")
	t.Setenv(model.EnvOpenAIBaseURL, "")
	t.Setenv(model.EnvOpenAIAPIKey, "")
	t.Setenv("GW_KEY", "sk-gw-key-000000001")
	t.Setenv(model.EnvModels, `[
		{"match":"llama*","provider":"openai","base_url":"`+local.URL+`"},
		{"match":"sonnet-local","provider":"openai","base_url":"`+local.URL+`","upstream_model":"qwen3:32b"},
		{"match":"gw/*","provider":"openai","base_url":"`+gateway.URL+`","api_key_env":"GW_KEY"}]`)

	cfg, err := model.LoadConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	r, err := providers.NewRouter(cfg, providers.Options{})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		model    string
		server   *modeltest.Server
		upstream string
	}{
		{"claude-opus-4-8", claude, "claude-opus-4-8"},
		{"llama3.1:8b", local, "llama3.1:8b"},
		{"sonnet-local", local, "qwen3:32b"},
		{"gw/deepseek-r1", gateway, "gw/deepseek-r1"},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			resp, err := model.Collect(r.Stream(context.Background(), req(c.model, "ping "+c.model)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text() != "echo: ping "+c.model {
				t.Fatalf("text = %q", resp.Text())
			}
			rec, ok := c.server.LastRequest()
			if !ok || rec.Input.Model != c.upstream {
				t.Fatalf("upstream saw model %q, want %q", rec.Input.Model, c.upstream)
			}
		})
	}
	if n := len(decoy.Requests()); n != 0 {
		t.Fatalf("ANTHROPIC_BASE_URL was used as the upstream (%d requests)", n)
	}

	_, err = model.Collect(r.Stream(context.Background(), req("mistral-large", "hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindNotConfigured || !strings.Contains(e.Message, "HANGAR_MODELS") {
		t.Fatalf("unserved model: err = %v", err)
	}
}

// Without any key, a Claude model fails with an error that tells the
// operator which variable to set, and nothing is sent anywhere.
func TestClaudeWithoutKeyIsNotConfigured(t *testing.T) {
	cfg, err := model.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	r, err := providers.NewRouter(cfg, providers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = model.Collect(r.Stream(context.Background(), req("claude-sonnet-4-6", "hi")), nil)
	e, ok := model.AsError(err)
	if !ok || e.Kind != model.KindNotConfigured || e.Retryable() ||
		!strings.Contains(e.Message, "set HANGAR_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)") {
		t.Fatalf("err = %v", err)
	}
}

func benchmarkTurn(b *testing.B, s *modeltest.Server, p model.Provider) {
	b.Helper()
	r := req("bench-model", "hello")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := model.Collect(p.Stream(context.Background(), r), nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Content) != 2 {
			b.Fatalf("content = %+v", resp.Content)
		}
	}
}

// benchTurn is a realistic small turn: ~600 characters of text in 40
// deltas, then a tool call.
func benchTurn(in modeltest.Input) modeltest.Turn {
	t := modeltest.Turn{Content: []model.Block{
		model.Text(strings.Repeat("The quick brown fox jumps. ", 24)),
		model.ToolUse("", "bash", []byte(`{"command":"ls -la /workspace && cat README.md"}`)),
	}}
	return t
}

// One full streamed turn through each provider against its fake, over a
// real socket (docs/benchmarks.md).
func BenchmarkAnthropicTurn(b *testing.B) {
	s := modeltest.NewAnthropic(b, modeltest.Options{Rule: benchTurn})
	cfg := model.Config{Routes: []model.Route{{Match: "*", Provider: model.ProviderAnthropic, BaseURL: s.URL}}}
	r, err := providers.NewRouter(cfg, providers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkTurn(b, s, r)
}

func BenchmarkOpenAITurn(b *testing.B) {
	s := modeltest.NewOpenAI(b, modeltest.Options{Rule: benchTurn})
	cfg := model.Config{Routes: []model.Route{{Match: "*", Provider: model.ProviderOpenAI, BaseURL: s.URL}}}
	r, err := providers.NewRouter(cfg, providers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkTurn(b, s, r)
}
