package pricing

import (
	"slices"
	"strings"
)

// Table maps model ids to list prices: the built-in Anthropic prices, with
// the operator's prices file (if any) on top. A model without an entry is
// unpriced, never free. A nil *Table prices nothing. A Table is read-only
// once built and safe for concurrent use.
type Table struct {
	prices map[string]*Price // a nil *Price: unpriced on purpose (the file said null)
	// builtin is how many built-in ids the table holds, fromFile how many
	// entries the file gave (priced or null), file the file's path.
	builtin, fromFile int
	file              string
}

// Builtin is the table of the built-in Anthropic list prices alone.
func Builtin() *Table {
	p := builtinPrices()
	return &Table{prices: p, builtin: len(p)}
}

// Len is how many model ids have a price.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	n := 0
	for _, p := range t.prices {
		if p != nil {
			n++
		}
	}
	return n
}

// FromFile is how many entries the prices file gave, and its path ("" when
// there is none).
func (t *Table) FromFile() (int, string) {
	if t == nil {
		return 0, ""
	}
	return t.fromFile, t.file
}

// Lookup returns the price of model. An id not in the table whose last
// part is a date ("claude-sonnet-5-5-20261007") takes the price of the id
// without it, so a newly dated snapshot of a priced model is priced; no
// other guessing is done (a near name is a different model).
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	if p, ok := t.prices[model]; ok {
		if p == nil {
			return Price{}, false
		}
		return *p, true
	}
	if base, ok := stripDate(model); ok {
		if p := t.prices[base]; p != nil {
			return *p, true
		}
	}
	return Price{}, false
}

// stripDate removes a trailing "-YYYYMMDD".
func stripDate(model string) (string, bool) {
	i := strings.LastIndexByte(model, '-')
	if i <= 0 || len(model)-i-1 != 8 || !digits(model[i+1:]) {
		return "", false
	}
	return model[:i], true
}

// Cost is the exact list cost of one model request; priced is false when
// the model has no price, or the request used a class of tokens (or fast
// mode) its price does not cover. Call it per request, not on summed
// usage: a long-prompt price class is decided per request.
func (t *Table) Cost(model string, u Usage) (amount Amount, priced bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return Amount{}, false
	}
	return p.Cost(u)
}

// Unpriced returns the models, of those given, that have no price, each
// once, in the order given; empty when every one is priced. A budget can
// only hold a session whose every runnable model (the agent's, its callable
// agents', a grader's) is priced.
func (t *Table) Unpriced(models ...string) []string {
	var out []string
	for _, m := range models {
		if _, ok := t.Lookup(m); !ok && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// PricedAtSpeed reports whether model's requests can be priced at a speed:
// standard needs a price, fast needs the price to have fast rates too. An
// agent configured with speed "fast" is budgetable only if this holds for
// fast.
func (t *Table) PricedAtSpeed(model string, fast bool) bool {
	p, ok := t.Lookup(model)
	return ok && (!fast || p.Fast != nil)
}

// AllPriced reports whether every one of models has a price.
func (t *Table) AllPriced(models ...string) bool { return len(t.Unpriced(models...)) == 0 }

// Tally sums the list cost of many model requests, of one model or
// several. Once a request could not be priced the total is no longer a
// complete list cost, and Total says so. A Tally is not safe for
// concurrent use: keep one per thread or session under its owner's lock.
type Tally struct {
	table    *Table
	total    Amount
	unpriced []string
}

// NewTally starts an empty tally priced by t.
func (t *Table) NewTally() *Tally { return &Tally{table: t} }

// Add prices one request and adds it to the total; it returns the
// request's own cost and whether it was priced.
func (y *Tally) Add(model string, u Usage) (Amount, bool) {
	c, ok := y.table.Cost(model, u)
	if !ok {
		if !slices.Contains(y.unpriced, model) {
			y.unpriced = append(y.unpriced, model)
		}
		return Amount{}, false
	}
	y.total = y.total.Add(c)
	return c, true
}

// AddAmount adds an already priced amount (a thread's or a grader's
// total, say).
func (y *Tally) AddAmount(a Amount) { y.total = y.total.Add(a) }

// Total is the sum of the priced requests; complete is false when some
// request could not be priced.
func (y *Tally) Total() (total Amount, complete bool) {
	return y.total, len(y.unpriced) == 0
}

// Unpriced lists the models of the requests that could not be priced, in
// the order first seen.
func (y *Tally) Unpriced() []string { return slices.Clone(y.unpriced) }
