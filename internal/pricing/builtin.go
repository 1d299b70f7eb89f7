package pricing

// The built-in list prices of Anthropic's models, in US dollars per million
// tokens, by API model id (dated ids and their aliases both appear).
//
// Source: the model pricing table of
// https://platform.claude.com/docs/en/about-claude/pricing ("Base input
// tokens | 5m cache writes | 1h cache writes | Cache hits and refreshes |
// Output tokens"), read on 2026-12-07, and the models' overview pages
// (platform.claude.com/docs/en/models/<model>/overview) for the models
// released after the copy of the pricing page available then: Opus 5.5,
// Sonnet 5.5, Haiku 5.5, Fable 5.2 and Mythos 5.2. docs/pricing.md lists
// which figure came from where and what is left out (batch, data
// residency, fast mode, Mythos Preview).
//
// Keep the figures as published text: they are parsed exactly.
var builtinRows = []struct {
	ids                           []string
	input, w5m, w1h, read, output string
}{
	// Fable and Mythos (Mythos shares Fable's prices).
	{[]string{"claude-fable-5-2", "claude-mythos-5-2"}, "8", "10", "16", "0.20", "40"},
	// The pricing page footnotes the 5.1 cache-hit figure; it is $0.25.
	{[]string{"claude-fable-5-1", "claude-mythos-5-1"}, "10", "12.50", "20", "0.25", "50"},
	{[]string{"claude-fable-5", "claude-mythos-5"}, "10", "12.50", "20", "1", "50"},

	// Opus.
	{[]string{"claude-opus-5-5"}, "4", "5", "8", "0.20", "20"},
	{[]string{"claude-opus-5"}, "5", "6.25", "10", "0.50", "25"},
	{[]string{"claude-opus-4-8"}, "5", "6.25", "10", "0.50", "25"},
	{[]string{"claude-opus-4-7"}, "5", "6.25", "10", "0.50", "25"},
	{[]string{"claude-opus-4-6"}, "5", "6.25", "10", "0.50", "25"},
	{[]string{"claude-opus-4-5-20251101", "claude-opus-4-5"}, "5", "6.25", "10", "0.50", "25"},
	{[]string{"claude-opus-4-1-20250805", "claude-opus-4-1"}, "15", "18.75", "30", "1.50", "75"},
	{[]string{"claude-opus-4-20250514", "claude-opus-4-0"}, "15", "18.75", "30", "1.50", "75"},
	{[]string{"claude-3-opus-20240229", "claude-3-opus-latest"}, "15", "18.75", "30", "1.50", "75"},

	// Sonnet. Sonnet 5.5's cache hits were cut from $0.20 to $0.10 on
	// 2026-10-07.
	{[]string{"claude-sonnet-5-5"}, "2", "2.50", "4", "0.10", "10"},
	{[]string{"claude-sonnet-5"}, "2", "2.50", "4", "0.20", "10"},
	{[]string{"claude-sonnet-4-6"}, "3", "3.75", "6", "0.30", "15"},
	{[]string{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"}, "3", "3.75", "6", "0.30", "15"},
	{[]string{"claude-sonnet-4-20250514", "claude-sonnet-4-0"}, "3", "3.75", "6", "0.30", "15"},
	{[]string{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"}, "3", "3.75", "6", "0.30", "15"},

	// Haiku (Haiku 5.5's long-prompt class is added below).
	{[]string{"claude-haiku-5-5"}, "0.10", "0.125", "0.20", "0.01", "0.50"},
	{[]string{"claude-haiku-4-5-20251001", "claude-haiku-4-5"}, "1", "1.25", "2", "0.10", "5"},
	{[]string{"claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"}, "0.80", "1", "1.6", "0.08", "4"},
	{[]string{"claude-3-haiku-20240307"}, "0.25", "0.30", "0.50", "0.03", "1.25"},
}

// haiku55LongPrompt: a Haiku 5.5 request whose prompt (input, cache reads
// and cache writes) is over 100,000 tokens pays these rates on all of its
// tokens, output included.
var haiku55LongPrompt = LongPrompt{
	ThresholdTokens: 100_000,
	Rates:           rates("0.50", "0.625", "1.00", "0.05", "2.50"),
}

func rates(input, w5m, w1h, read, output string) Rates {
	return Rates{
		Input:        mustRate(input),
		CacheWrite5m: mustRate(w5m),
		CacheWrite1h: mustRate(w1h),
		CacheRead:    mustRate(read),
		Output:       mustRate(output),
	}
}

func builtinPrices() map[string]*Price {
	m := make(map[string]*Price)
	for _, row := range builtinRows {
		for _, id := range row.ids {
			p := &Price{Rates: rates(row.input, row.w5m, row.w1h, row.read, row.output)}
			if id == "claude-haiku-5-5" {
				lp := haiku55LongPrompt
				p.LongPrompt = &lp
			}
			m[id] = p
		}
	}
	return m
}
