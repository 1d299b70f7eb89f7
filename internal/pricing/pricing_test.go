package pricing

import (
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangarhq/hangar/internal/wire"
)

// pico is a test shorthand: the exact amount in picodollars.
func pico(t *testing.T, a Amount) string { t.Helper(); return a.Picodollars().String() }

func TestCostPriceClasses(t *testing.T) {
	tab := Builtin()
	const M = 1_000_000
	cases := []struct {
		name  string
		model string
		u     Usage
		want  string // exact dollars
		cents string
	}{
		{"input", "claude-sonnet-4-6", Usage{InputTokens: M}, "$3.00", "300"},
		{"output", "claude-sonnet-4-6", Usage{OutputTokens: M}, "$15.00", "1500"},
		{"5m cache write", "claude-sonnet-4-6", Usage{CacheWrite5mTokens: M}, "$3.75", "375"},
		{"1h cache write", "claude-sonnet-4-6", Usage{CacheWrite1hTokens: M}, "$6.00", "600"},
		{"cache read", "claude-sonnet-4-6", Usage{CacheReadTokens: M}, "$0.30", "30"},
		{"all classes", "claude-opus-4-6", Usage{InputTokens: M, OutputTokens: M, CacheWrite5mTokens: M, CacheWrite1hTokens: M, CacheReadTokens: M},
			"$46.75", "4675"}, // 5 + 25 + 6.25 + 10 + 0.50
		{"dated id", "claude-haiku-4-5-20251001", Usage{InputTokens: M, OutputTokens: M}, "$6.00", "600"},
		{"alias", "claude-haiku-4-5", Usage{InputTokens: M, OutputTokens: M}, "$6.00", "600"},
		{"newly dated snapshot", "claude-opus-5-5-20261201", Usage{InputTokens: M}, "$4.00", "400"},
		{"fable 5.1 footnoted cache hit", "claude-fable-5-1", Usage{CacheReadTokens: M}, "$0.25", "25"},
		{"mythos = fable", "claude-mythos-5-2", Usage{InputTokens: M, OutputTokens: M}, "$48.00", "4800"},
		{"one token of haiku 3 input", "claude-3-haiku-20240307", Usage{InputTokens: 1}, "$0.00000025", "0"},
		{"zero usage", "claude-opus-5", Usage{}, "$0.00", "0"},
		// Haiku 5.5: up to 100,000 prompt tokens the short rates, over it the
		// long rates on every token, output included.
		{"haiku 5.5 at threshold", "claude-haiku-5-5", Usage{InputTokens: 60_000, CacheReadTokens: 40_000, OutputTokens: M}, "$0.5064", "51"},
		{"haiku 5.5 over threshold", "claude-haiku-5-5", Usage{InputTokens: 60_001, CacheReadTokens: 40_000, OutputTokens: M}, "$2.5320005", "253"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := tab.Cost(c.model, c.u)
			if !ok {
				t.Fatalf("Cost(%s) unpriced", c.model)
			}
			if got.String() != c.want || got.Cents() != c.cents {
				t.Errorf("Cost(%s, %+v) = %s (%s cents), want %s (%s cents)", c.model, c.u, got, got.Cents(), c.want, c.cents)
			}
		})
	}
}

func TestCacheWriteLifetimes(t *testing.T) {
	tab := Builtin()
	// 1h writes cost 2x input, 5m writes 1.25x, on every model of the page.
	for id, p := range tab.prices {
		if p.Input.micro*2 != p.CacheWrite1h.micro && id != "claude-3-haiku-20240307" {
			t.Errorf("%s: 1h write %s is not twice input %s", id, p.CacheWrite1h, p.Input)
		}
		if p.Input.micro*5 != p.CacheWrite5m.micro*4 && !strings.HasPrefix(id, "claude-3-haiku") {
			t.Errorf("%s: 5m write %s is not 1.25x input %s", id, p.CacheWrite5m, p.Input)
		}
	}
	five, _ := tab.Cost("claude-opus-5", Usage{CacheWrite5mTokens: 1000})
	hour, _ := tab.Cost("claude-opus-5", Usage{CacheWrite1hTokens: 1000})
	if five.String() != "$0.00625" || hour.String() != "$0.01" {
		t.Errorf("1000 cache-write tokens on opus 5: 5m %s, 1h %s; want $0.00625 and $0.01", five, hour)
	}
}

func TestUnpriced(t *testing.T) {
	tab := Builtin()
	for _, m := range []string{"gpt-5", "", "claude-mythos-preview", "claude-sonnet-4-6-fast", "claude-opus-4-6-2026", "claude-sonnet"} {
		if a, ok := tab.Cost(m, Usage{InputTokens: 1}); ok {
			t.Errorf("Cost(%q) = %s, want unpriced", m, a)
		}
	}
	// Fast mode has no built-in price: unpriced rather than billed at the
	// standard rate.
	if _, ok := tab.Cost("claude-opus-5-5", Usage{InputTokens: 1, Fast: true}); ok {
		t.Error("a fast request of a model without a fast price is priced")
	}
	if !tab.PricedAtSpeed("claude-opus-5-5", false) || tab.PricedAtSpeed("claude-opus-5-5", true) || tab.PricedAtSpeed("gpt-5", false) {
		t.Error("PricedAtSpeed is wrong for the built-in table")
	}
	withFast, err := Parse([]byte(`{"models": {"claude-opus-5-5": {"input": "4", "output": "20", "fast": {"input": "8", "output": "40"}}}}`))
	if err != nil || !withFast.PricedAtSpeed("claude-opus-5-5", true) {
		t.Errorf("a fast price from the file is not seen: %v", err)
	}
	var nilTab *Table
	if _, ok := nilTab.Cost("claude-opus-5", Usage{}); ok || nilTab.Len() != 0 || nilTab.AllPriced("claude-opus-5") {
		t.Error("a nil table prices something")
	}
	got := tab.Unpriced("claude-opus-5", "gpt-5", "llama", "gpt-5", "claude-haiku-4-5-20251001")
	if strings.Join(got, ",") != "gpt-5,llama" {
		t.Errorf("Unpriced = %q, want [gpt-5 llama]", got)
	}
	if !tab.AllPriced("claude-opus-5", "claude-sonnet-5-5") || tab.AllPriced("claude-opus-5", "gpt-5") || !tab.AllPriced() {
		t.Error("AllPriced is wrong")
	}
}

func TestRounding(t *testing.T) {
	for _, c := range []struct {
		pico  int64
		cents string
	}{
		{0, "0"},
		{1, "0"},
		{4_999_999_999, "0"},
		{5_000_000_000, "1"}, // half a cent rounds up
		{14_999_999_999, "1"},
		{15_000_000_000, "2"},
		{25_000_000_000_000, "2500"},
	} {
		a := Amount{bigInt(c.pico)}
		if a.Cents() != c.cents {
			t.Errorf("%d picodollars: Cents = %s, want %s", c.pico, a.Cents(), c.cents)
		}
	}
	// The exact amount decides a budget: $0.504 is not $0.50 reached by
	// rounding, and $0.499 has not reached 50 cents though it shows "50".
	limit := FromCents(50)
	under, _ := Builtin().Cost("claude-sonnet-4-6", Usage{OutputTokens: 33_266}) // $0.49899
	if under.Cents() != "50" || under.Reached(limit) {
		t.Errorf("%s shows %s cents, reached %v; want 50 and not reached", under, under.Cents(), under.Reached(limit))
	}
	if !FromCents(50).Reached(limit) {
		t.Error("an amount equal to the limit has not reached it")
	}
}

func TestWireRendering(t *testing.T) {
	a, _ := Builtin().Cost("claude-opus-4-6", Usage{InputTokens: 123_456, OutputTokens: 7_890})
	// 123456 × $5/M + 7890 × $25/M = $0.61728 + $0.19725 = $0.81453
	if a.String() != "$0.81453" {
		t.Fatalf("cost = %s", a)
	}
	b, err := json.Marshal(a.Wire())
	if err != nil || string(b) != `{"amount":"81","currency":"USD"}` {
		t.Errorf("wire = %s, %v", b, err)
	}
	for _, c := range []struct {
		in   wire.MonetaryAmount
		want string
	}{
		{wire.MonetaryAmount{Amount: "2500", Currency: "USD"}, ""},
		{wire.MonetaryAmount{Amount: "0", Currency: "USD"}, ""},
		{wire.MonetaryAmount{Amount: "25.00", Currency: "USD"}, "amount:"},
		{wire.MonetaryAmount{Amount: "0250", Currency: "USD"}, "amount:"},
		{wire.MonetaryAmount{Amount: "-5", Currency: "USD"}, "amount:"},
		{wire.MonetaryAmount{Amount: "", Currency: "USD"}, "amount:"},
		{wire.MonetaryAmount{Amount: "5", Currency: "usd"}, "currency:"},
	} {
		got, err := FromWire(c.in)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("FromWire(%v): %v", c.in, err)
		case c.want == "" && got.Wire() != c.in:
			t.Errorf("FromWire(%v) round trip = %v", c.in, got.Wire())
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("FromWire(%v) error = %v, want it to start with %q", c.in, err, c.want)
		}
	}
}

func TestPicodollarsRoundTrip(t *testing.T) {
	a, _ := Builtin().Cost("claude-3-haiku-20240307", Usage{InputTokens: 3}) // $0.00000075
	b, err := ParsePicodollars(a.Picodollars().String())
	if err != nil || b.Cmp(a) != 0 || b.String() != "$0.00000075" {
		t.Errorf("round trip of %s = %s, %v", a, b, err)
	}
	for _, bad := range []string{"", "-1", "01", "1.5"} {
		if _, err := ParsePicodollars(bad); err == nil {
			t.Errorf("ParsePicodollars(%q) accepted", bad)
		}
	}
}

func TestTallySumsModels(t *testing.T) {
	tab := Builtin()
	y := tab.NewTally()
	y.Add("claude-opus-5-5", Usage{InputTokens: 1_000_000})        // $4
	y.Add("claude-haiku-5-5", Usage{OutputTokens: 1_000_000})      // $0.50
	y.Add("claude-sonnet-5-5", Usage{CacheReadTokens: 1_000_000})  // $0.10
	y.Add("claude-opus-5-5", Usage{CacheWrite1hTokens: 1_000_000}) // $8
	c, ok := y.Add("claude-sonnet-4-6", Usage{InputTokens: 1})     // $0.000003
	if !ok || c.String() != "$0.000003" {
		t.Errorf("one request = %s, %v", c, ok)
	}
	total, complete := y.Total()
	if total.String() != "$12.600003" || !complete || total.Cents() != "1260" {
		t.Errorf("Total = %s (%s cents), complete %v", total, total.Cents(), complete)
	}
	// Many tiny requests: each is below a cent, the exact sum is not lost.
	z := tab.NewTally()
	for range 10_000 {
		z.Add("claude-3-haiku-20240307", Usage{InputTokens: 1}) // $0.00000025 each
	}
	if got, _ := z.Total(); got.String() != "$0.0025" {
		t.Errorf("10000 one-token requests = %s, want $0.0025", got)
	}
	// An unpriced request makes the total incomplete and is named.
	y.Add("gpt-5", Usage{InputTokens: 10})
	y.Add("gpt-5", Usage{InputTokens: 10})
	if _, complete := y.Total(); complete || strings.Join(y.Unpriced(), ",") != "gpt-5" {
		t.Errorf("after an unpriced request: complete %v, unpriced %v", complete, y.Unpriced())
	}
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"3", "3", ""},
		{"0.30", "0.3", ""},
		{"0.125", "0.125", ""},
		{"0.000001", "0.000001", ""},
		{"1000000", "1000000", ""},
		{"0.0000001", "", "more than 6 decimal places"},
		{"1e-3", "", "not a decimal"},
		{"-1", "", "not a decimal"},
		{".5", "", "not a decimal"},
		{"5.", "", "not a decimal"},
		{"1000001", "", "over $1000000"},
		{"", "", "not a decimal"},
	} {
		r, err := ParseRate(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseRate(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || r.String() != c.want {
			t.Errorf("ParseRate(%q) = %s, %v; want %s", c.in, r, err, c.want)
		}
	}
}

func TestPricesFile(t *testing.T) {
	tab, err := Parse([]byte(`{"models": {
		"gpt-5": {"input": "1.25", "output": 10, "cache_read": "0.125"},
		"local/llama-3.1-8b": {"input": "0", "output": "0"},
		"claude-opus-4-1": null,
		"claude-sonnet-4-6": {"input": "2", "output": "12", "cache_write_5m": "2.5", "cache_write_1h": "4", "cache_read": "0.2",
			"long_prompt": {"threshold_tokens": 200000, "input": "4", "output": "18", "cache_read": "0.4"},
			"fast": {"input": "12", "output": "72"}}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tab.FromFile(); n != 4 {
		t.Errorf("FromFile = %d, want 4", n)
	}
	check := func(model string, u Usage, want string, wantOK bool) {
		t.Helper()
		got, ok := tab.Cost(model, u)
		if ok != wantOK || (ok && got.String() != want) {
			t.Errorf("Cost(%s, %+v) = %s, %v; want %s, %v", model, u, got, ok, want, wantOK)
		}
	}
	check("gpt-5", Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000, CacheReadTokens: 1_000_000}, "$11.375", true)
	// A class of tokens the file gives no rate for is unpriced, not free.
	check("gpt-5", Usage{CacheWrite5mTokens: 1}, "", false)
	check("local/llama-3.1-8b", Usage{InputTokens: 5_000_000, OutputTokens: 1}, "$0.00", true)
	check("claude-opus-4-1", Usage{InputTokens: 1}, "", false)
	check("claude-opus-4-1-20250805", Usage{InputTokens: 1_000_000}, "$15.00", true) // only the id named is unpriced
	check("claude-sonnet-4-6", Usage{InputTokens: 200_000}, "$0.40", true)
	check("claude-sonnet-4-6", Usage{InputTokens: 200_001}, "$0.800004", true)
	check("claude-sonnet-4-6", Usage{InputTokens: 1_000_000, Fast: true}, "$12.00", true)
	check("claude-sonnet-4-6", Usage{CacheReadTokens: 1, Fast: true}, "", false)
	if builtin := Builtin(); tab.Len() != builtin.Len()+2-1 {
		t.Errorf("Len = %d, want built-in %d + 2 new - 1 null", tab.Len(), builtin.Len())
	}
}

func TestPricesFileErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"not json", `{`, "invalid JSON"},
		{"not an object", `[]`, "must be a JSON object"},
		{"unknown top field", `{"model": {}}`, `unknown field "model"`},
		{"no models", `{}`, "models: required"},
		{"models not object", `{"models": []}`, "models: must be an object"},
		{"trailing", `{"models": {}} {}`, "trailing data"},
		{"price not object", `{"models": {"gpt-5": "3"}}`, `models["gpt-5"]: expected an object, got string`},
		{"unknown field", `{"models": {"gpt-5": {"input": "1", "output": "2", "inptu": "3"}}}`, `models["gpt-5"]: json: unknown field "inptu"`},
		{"missing input", `{"models": {"gpt-5": {"output": "2"}}}`, `models["gpt-5"].input: required`},
		{"missing output", `{"models": {"gpt-5": {"input": "2"}}}`, `models["gpt-5"].output: required`},
		{"bad rate", `{"models": {"gpt-5": {"input": "two", "output": "2"}}}`, `models["gpt-5"].input: "two" is not a decimal`},
		{"negative", `{"models": {"gpt-5": {"input": -1, "output": "2"}}}`, `models["gpt-5"].input: "-1" is not a decimal`},
		{"exponent", `{"models": {"gpt-5": {"input": 1e-6, "output": "2"}}}`, `models["gpt-5"].input: "1e-6" is not a decimal`},
		{"bool", `{"models": {"gpt-5": {"input": true, "output": "2"}}}`, `models["gpt-5"].input: expected a decimal number`},
		{"too precise", `{"models": {"gpt-5": {"input": "1", "output": "2", "cache_read": "0.0000001"}}}`, `models["gpt-5"].cache_read: "0.0000001" has more than 6 decimal places`},
		{"duplicate", `{"models": {"gpt-5": {"input": "1", "output": "2"}, "gpt-5": null}}`, `models["gpt-5"]: given twice`},
		{"empty id", `{"models": {"": null}}`, `models[""]: a model id must be non-empty`},
		{"long prompt threshold", `{"models": {"m": {"input": "1", "output": "2", "long_prompt": {"input": "2", "output": "4"}}}}`, `models["m"].long_prompt.threshold_tokens: required`},
		{"long prompt rate", `{"models": {"m": {"input": "1", "output": "2", "long_prompt": {"threshold_tokens": 5, "input": "2"}}}}`, `models["m"].long_prompt.output: required`},
		{"fast unknown", `{"models": {"m": {"input": "1", "output": "2", "fast": {"input": "2", "output": "4", "x": 1}}}}`, `models["m"].fast: json: unknown field "x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tab, err := Load("")
	if err != nil || tab.Len() != Builtin().Len() {
		t.Fatalf("Load(\"\") = %d prices, %v", tab.Len(), err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(good, []byte(`{"models": {"gpt-5": {"input": "1.25", "output": "10"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err = Load(good)
	if n, file := tab.FromFile(); err != nil || n != 1 || file != good || !tab.AllPriced("gpt-5", "claude-opus-5") {
		t.Fatalf("Load = %d from %q, %v", n, file, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"models": {"gpt-5": {"input": "x", "output": "10"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `models["gpt-5"].input`) {
		t.Errorf("Load(bad) error = %v, want the path and the field", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("Load(missing) error = %v", err)
	}
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }

// docs/pricing.md lists every built-in model id, so that a row added here
// is documented with its source.
func TestDocsListEveryBuiltinID(t *testing.T) {
	doc, err := os.ReadFile("../../docs/pricing.md")
	if err != nil {
		t.Fatal(err)
	}
	for id := range Builtin().prices {
		if !strings.Contains(string(doc), "`"+id+"`") {
			t.Errorf("docs/pricing.md does not list %s", id)
		}
	}
}

// A part of a total is the total less the other parts, exactly.
func TestSub(t *testing.T) {
	a, _ := ParsePicodollars("1265902500000")
	b, _ := ParsePicodollars("185902500000")
	if got := a.Sub(b); got.Picodollars().String() != "1080000000000" || got.Wire().Amount != "108" {
		t.Fatalf("Sub = %s", got.Picodollars())
	}
	if got := b.Sub(a); got.Cmp(Amount{}) >= 0 {
		t.Fatalf("Sub below zero = %s", got.Picodollars())
	}
}
