package engine

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/model/providers"
	"github.com/hangarhq/hangar/internal/tool"
	"github.com/hangarhq/hangar/internal/wire"
)

// instantModel answers every request at once with its turn.
type instantModel struct {
	content []model.Block
	err     error
}

func (m instantModel) Stream(ctx context.Context, req *model.Request) iter.Seq2[model.Event, error] {
	return func(yield func(model.Event, error) bool) {
		if m.err != nil {
			yield(model.Event{}, m.err)
			return
		}
		if !yield(model.Event{Type: model.EventMessageStart, Usage: model.Usage{InputTokens: 100}}, nil) {
			return
		}
		for i, b := range m.content {
			evs := []model.Event{{Type: model.EventBlockStart, Index: i, Block: &model.Block{Type: b.Type, ID: b.ID, Name: b.Name}}}
			switch b.Type {
			case model.BlockText:
				evs = append(evs, model.Event{Type: model.EventBlockDelta, Index: i, DeltaType: model.DeltaText, Delta: b.Text})
			case model.BlockToolUse:
				evs = append(evs, model.Event{Type: model.EventBlockDelta, Index: i, DeltaType: model.DeltaInputJSON, Delta: string(b.Input)})
			}
			evs = append(evs, model.Event{Type: model.EventBlockStop, Index: i})
			for _, e := range evs {
				if !yield(e, nil) {
					return
				}
			}
		}
		if !yield(model.Event{Type: model.EventMessageDelta, StopReason: model.StopToolUse, Usage: model.Usage{OutputTokens: 10}}, nil) {
			return
		}
		yield(model.Event{Type: model.EventMessageStop}, nil)
	}
}

func verdictCall(input string) model.Block {
	return model.Block{Type: model.BlockToolUse, ID: "toolu_1", Name: autoVerdictTool, Input: json.RawMessage(input)}
}

func (c autoCall) block() model.Block {
	return model.Block{Type: model.BlockToolUse, ID: "toolu_b", Name: c.name, Input: c.input}
}

var benchCall = autoCall{name: "bash", kind: tool.Builtin, input: json.RawMessage(`{"command":"rm -rf build && make"}`)}

func TestJudgeVerdicts(t *testing.T) {
	for _, c := range []struct {
		name    string
		m       instantModel
		perm    string
		reason  string
		wantErr bool
	}{
		{"allow", instantModel{content: []model.Block{verdictCall(`{"decision":"allow","reason":"builds"}`)}}, wire.PermissionAllow, "", false},
		{"deny", instantModel{content: []model.Block{verdictCall(`{"decision":"deny","reason":"wipes"}`)}}, wire.PermissionDeny, wire.ReasonHighRisk, false},
		{"ask", instantModel{content: []model.Block{verdictCall(`{"decision":"ask","reason":"unsure"}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, false},
		{"model error", instantModel{err: errors.New("overloaded")}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"text only", instantModel{content: []model.Block{model.Text(`{"decision":"allow","reason":"x"}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"unknown decision", instantModel{content: []model.Block{verdictCall(`{"decision":"yes","reason":"x"}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"missing reason", instantModel{content: []model.Block{verdictCall(`{"decision":"allow"}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"extra field", instantModel{content: []model.Block{verdictCall(`{"decision":"allow","reason":"x","override":true}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"two verdicts", instantModel{content: []model.Block{verdictCall(`{"decision":"allow","reason":"x"}`), verdictCall(`{"decision":"allow","reason":"x"}`)}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
		{"other tool", instantModel{content: []model.Block{{Type: model.BlockToolUse, ID: "t", Name: "bash", Input: json.RawMessage(`{}`)}}}, wire.PermissionAsk, wire.ReasonIndeterminate, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := judge(context.Background(), c.m, "m", time.Second, autoContext{}, benchCall)
			if (err != nil) != c.wantErr || v.perm != c.perm || v.eval.Type != wire.PolicyAuto || v.eval.Permission != c.perm || v.eval.ReasonCode != c.reason {
				t.Fatalf("verdict %+v (%+v), err %v", v, v.eval, err)
			}
		})
	}
}

// The classifier sees the user's recent messages and the agent's words
// since, bounded, and never the agent's thinking.
func TestAutoContext(t *testing.T) {
	c := &conversation{system: "Be careful."}
	c.appendUser(model.Text("old request"))
	c.appendAssistant(model.Text("old answer"))
	c.appendUser(model.Text(strings.Repeat("x", 2*autoMaxUser) + " deploy the site"))
	c.appendAssistant(model.Block{Type: model.BlockThinking, Thinking: "secret plan"})
	c.appendAssistant(model.Text("I will build first."))
	resp := &model.Response{Content: []model.Block{model.Text("Now deploying."), verdictCall(`{}`)}}
	actx := c.autoContext(resp)
	req := autoRequest("m", actx, benchCall)
	body := req.Messages[0].Content[0].Text
	for _, want := range []string{"Be careful.", "deploy the site", "I will build first.", "Now deploying.", "rm -rf build"} {
		if !strings.Contains(body, want) {
			t.Errorf("classifier context lacks %q", want)
		}
	}
	for _, not := range []string{"secret plan", "old answer"} {
		if strings.Contains(body, not) {
			t.Errorf("classifier context has %q", not)
		}
	}
	if len(body) > autoMaxUser+autoMaxAgent+autoMaxSystem+autoMaxInput+2000 {
		t.Errorf("classifier context is %d bytes", len(body))
	}
	if strings.Index(body, "I will build first.") > strings.Index(body, "Now deploying.") {
		t.Error("the agent's words are out of order")
	}
}

// BenchmarkAutoJudge is the latency an auto evaluation adds to a call:
// gathering the context, building the classifier's request, the model call
// and parsing the verdict, with a classifier that answers at once: in
// process ("instant": all of it is the judgement's own work) and through
// the real Anthropic provider to the fake upstream over loopback
// ("loopback": the HTTP round trip and SSE parsing of the classifier's
// request included). It reports the median.
func BenchmarkAutoJudge(b *testing.B) {
	c := &conversation{system: strings.Repeat("You are a coding agent. ", 80)}
	for i := 0; i < 40; i++ {
		c.appendUser(model.Text(strings.Repeat("please fix the failing tests ", 40)))
		c.appendAssistant(model.Text(strings.Repeat("looking into it ", 40)))
	}
	resp := &model.Response{Content: []model.Block{model.Text("Running the build."), benchCall.block()}}
	answer := model.Block{Type: model.BlockToolUse, Name: autoVerdictTool, Input: json.RawMessage(`{"decision":"allow","reason":"builds the project"}`)}
	fake, err := modeltest.StartAnthropic(modeltest.Options{MaxRecorded: 1, Rule: func(modeltest.Input) modeltest.Turn {
		return modeltest.Turn{Content: []model.Block{answer}}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	mc, err := model.Settings{Models: "*=anthropic:" + fake.URL}.Resolve(func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	router, err := providers.NewRouter(mc, providers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		m    model.Provider
	}{
		{"instant", instantModel{content: []model.Block{verdictCall(`{"decision":"allow","reason":"builds the project"}`)}}},
		{"loopback", router},
	} {
		b.Run(v.name, func(b *testing.B) {
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				actx := c.autoContext(resp)
				verdict, err := judge(context.Background(), v.m, "claude-judge", time.Second, actx, benchCall)
				ds = append(ds, time.Since(start))
				if err != nil || verdict.perm != wire.PermissionAllow {
					b.Fatal(verdict, err)
				}
			}
			b.StopTimer()
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
