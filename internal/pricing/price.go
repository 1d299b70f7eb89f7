package pricing

import (
	"fmt"
	"math/big"
	"strings"
)

// Rate is a price in US dollars per million tokens, held exactly in
// millionths of a dollar. The zero Rate is "not given": tokens of a class
// whose rate is not given cannot be priced (an unknown price is never
// taken as free).
type Rate struct {
	micro int64 // µUSD per MTok
	set   bool
}

// maxRateMicro bounds a configured rate ($1,000,000 per MTok) so that a
// typo cannot make every budget trip at once, and sums stay sane.
const maxRateMicro = 1_000_000 * 1_000_000

// ParseRate reads a dollars-per-million-tokens price such as "3", "0.30"
// or "0.125": non-negative, at most six decimal places, no exponent (the
// decimal text is read as is, never through a float).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || !digits(whole) || !digits(frac) {
		return Rate{}, fmt.Errorf("%q is not a decimal number of dollars per million tokens (e.g. \"3\" or \"0.125\")", s)
	}
	if len(frac) > 6 {
		return Rate{}, fmt.Errorf("%q has more than 6 decimal places", s)
	}
	if len(whole) > 7 {
		return Rate{}, fmt.Errorf("%q is over $1000000 per million tokens", s)
	}
	var micro int64
	for _, c := range whole + frac + strings.Repeat("0", 6-len(frac)) {
		micro = micro*10 + int64(c-'0')
	}
	if micro > maxRateMicro {
		return Rate{}, fmt.Errorf("%q is over $1000000 per million tokens", s)
	}
	return Rate{micro: micro, set: true}, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func mustRate(s string) Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

// Set reports whether the rate was given.
func (r Rate) Set() bool { return r.set }

// String is the rate in dollars per million tokens ("0.125"), or "unset".
func (r Rate) String() string {
	if !r.set {
		return "unset"
	}
	s := fmt.Sprintf("%d.%06d", r.micro/1_000_000, r.micro%1_000_000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// cost prices n tokens; false when there are tokens and no rate.
func (r Rate) cost(n int64) (*big.Int, bool) {
	if n == 0 {
		return new(big.Int), true
	}
	if !r.set || n < 0 {
		return nil, false
	}
	// n tokens × micro µUSD per 10^6 tokens = n×micro × 10^-12 USD.
	return new(big.Int).Mul(big.NewInt(n), big.NewInt(r.micro)), true
}

// Rates are one price class's rates per million tokens, the columns of the
// official pricing table.
type Rates struct {
	Input        Rate // base input tokens
	Output       Rate // output tokens
	CacheWrite5m Rate // 5-minute cache writes
	CacheWrite1h Rate // 1-hour cache writes
	CacheRead    Rate // cache hits and refreshes
}

func (rs Rates) cost(u Usage) (*big.Int, bool) {
	total := new(big.Int)
	for _, p := range []struct {
		r Rate
		n int64
	}{
		{rs.Input, u.InputTokens},
		{rs.Output, u.OutputTokens},
		{rs.CacheWrite5m, u.CacheWrite5mTokens},
		{rs.CacheWrite1h, u.CacheWrite1hTokens},
		{rs.CacheRead, u.CacheReadTokens},
	} {
		c, ok := p.r.cost(p.n)
		if !ok {
			return nil, false
		}
		total.Add(total, c)
	}
	return total, true
}

// LongPrompt is a second price class for requests with long prompts: a
// request whose prompt (input, cache reads and cache writes) is over
// ThresholdTokens pays these rates on every one of its tokens, output
// included.
type LongPrompt struct {
	ThresholdTokens int64
	Rates
}

// Price is one model's list price.
type Price struct {
	Rates
	// LongPrompt, when set, prices requests whose prompt is over its
	// threshold.
	LongPrompt *LongPrompt
	// Fast, when set, prices requests run in fast mode (it wins over
	// LongPrompt). A fast request of a model without it is unpriced.
	Fast *Rates
}

// Usage is what one model request consumed. Cost takes one request at a
// time, because a long-prompt price class is decided per request; totals
// are sums of per-request costs (see Tally).
type Usage struct {
	InputTokens  int64
	OutputTokens int64
	// CacheWrite5mTokens and CacheWrite1hTokens split the cache-creation
	// tokens by cache lifetime. A provider that reports only a total
	// creates 5-minute entries (the default lifetime), so that total goes
	// in CacheWrite5mTokens.
	CacheWrite5mTokens int64
	CacheWrite1hTokens int64
	CacheReadTokens    int64
	// Fast is set when the request ran in fast mode.
	Fast bool
}

// PromptTokens is the whole prompt: input, cache writes and cache reads.
func (u Usage) PromptTokens() int64 {
	return u.InputTokens + u.CacheWrite5mTokens + u.CacheWrite1hTokens + u.CacheReadTokens
}

// Cost is the exact list cost of one request at this price; false when a
// class of tokens it used has no rate (or it ran in fast mode and the
// model has no fast price).
func (p Price) Cost(u Usage) (Amount, bool) {
	rates := p.Rates
	switch {
	case u.Fast:
		if p.Fast == nil {
			return Amount{}, false
		}
		rates = *p.Fast
	case p.LongPrompt != nil && u.PromptTokens() > p.LongPrompt.ThresholdTokens:
		rates = p.LongPrompt.Rates
	}
	c, ok := rates.cost(u)
	if !ok {
		return Amount{}, false
	}
	return Amount{c}, true
}
