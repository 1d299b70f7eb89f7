// Package pricing holds the list prices of the models Hangar routes and
// computes list costs from token usage, exactly: budgets compare the exact
// cost against their ceiling, and usage reports it rounded to the cent.
package pricing

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/hangarhq/hangar/internal/wire"
)

// Currency is the only currency list prices are in.
const Currency = "USD"

// picoPerCent is how many of an Amount's units make one US cent. Prices are
// given to a millionth of a dollar per million tokens, so one token costs a
// whole number of picodollars (10^-12 USD) and every sum is exact.
const picoPerCent = 10_000_000_000

// Amount is an exact, non-negative amount of US dollars, counted in
// picodollars. A big.Int keeps sums exact however long a session runs; the
// zero value is zero dollars. Amounts are immutable: operations return new
// values.
type Amount struct{ pico *big.Int }

func (a Amount) int() *big.Int {
	if a.pico == nil {
		return new(big.Int)
	}
	return a.pico
}

// Add returns a + b.
func (a Amount) Add(b Amount) Amount {
	return Amount{new(big.Int).Add(a.int(), b.int())}
}

// Sub returns a - b, for a part of a total (the primary thread's share of
// a session's cost is the session's less its subagent threads').
func (a Amount) Sub(b Amount) Amount {
	return Amount{new(big.Int).Sub(a.int(), b.int())}
}

// Cmp compares a and b: -1, 0 or +1.
func (a Amount) Cmp(b Amount) int { return a.int().Cmp(b.int()) }

// IsZero reports whether a is zero dollars.
func (a Amount) IsZero() bool { return a.int().Sign() == 0 }

// Reached reports whether a has reached the ceiling limit (a >= limit). A
// budget's check uses the exact amount, never the rounded cents.
func (a Amount) Reached(limit Amount) bool { return a.Cmp(limit) >= 0 }

// Picodollars returns the exact amount in units of 10^-12 USD.
func (a Amount) Picodollars() *big.Int { return new(big.Int).Set(a.int()) }

// Cents returns the amount rounded to the nearest whole cent, halves up, as
// the decimal string list_cost carries: digits only, no leading zeros, "0"
// for zero.
func (a Amount) Cents() string {
	q, r := new(big.Int).QuoRem(a.int(), big.NewInt(picoPerCent), new(big.Int))
	if r.Cmp(big.NewInt(picoPerCent/2)) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.String()
}

// Wire renders the amount as the API's MonetaryAmount (list_cost): whole
// cents, rounded to the nearest, in USD.
func (a Amount) Wire() wire.MonetaryAmount {
	return wire.MonetaryAmount{Amount: a.Cents(), Currency: Currency}
}

// String is the exact amount in dollars, e.g. "$0.0123456", for logs and
// test failures.
func (a Amount) String() string {
	d := new(big.Int)
	frac := new(big.Int)
	d.QuoRem(a.int(), big.NewInt(1_000_000_000_000), frac)
	f := fmt.Sprintf("%012s", frac.String())
	f = strings.TrimRight(f, "0")
	if len(f) < 2 {
		f += strings.Repeat("0", 2-len(f))
	}
	return "$" + d.String() + "." + f
}

// ParsePicodollars reads an exact amount saved as Picodollars().String(),
// so a persisted running total keeps its sub-cent part across restarts.
func ParsePicodollars(s string) (Amount, error) {
	if !centsRE.MatchString(s) {
		return Amount{}, fmt.Errorf("%q is not a whole number of picodollars", s)
	}
	n, _ := new(big.Int).SetString(s, 10)
	return Amount{n}, nil
}

// FromCents is n whole cents.
func FromCents(n int64) Amount {
	return Amount{new(big.Int).Mul(big.NewInt(n), big.NewInt(picoPerCent))}
}

var centsRE = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// ParseCents reads a MonetaryAmount's amount: a whole number of cents as
// decimal digits without leading zeros ("2500" is $25.00). Whether zero is
// acceptable is the caller's rule.
func ParseCents(s string) (Amount, error) {
	if !centsRE.MatchString(s) {
		return Amount{}, fmt.Errorf("%q is not a whole number of cents without leading zeros (\"2500\" is 25.00)", s)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return Amount{}, errors.New("unreachable: digits did not parse")
	}
	return Amount{n.Mul(n, big.NewInt(picoPerCent))}, nil
}

// FromWire reads a MonetaryAmount (a budget's max_list_cost), naming what is
// wrong with it.
func FromWire(m wire.MonetaryAmount) (Amount, error) {
	if m.Currency != Currency {
		return Amount{}, fmt.Errorf("currency: unknown value %q, expected one of [%s]", m.Currency, Currency)
	}
	a, err := ParseCents(m.Amount)
	if err != nil {
		return Amount{}, fmt.Errorf("amount: %w", err)
	}
	return a, nil
}
