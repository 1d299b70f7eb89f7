package schedule

import (
	"errors"
	"testing"
	"time"
)

func mustParse(t *testing.T, expr, tz string) *Spec {
	t.Helper()
	s, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return s
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func sameTimes(t *testing.T, got []time.Time, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d fires %v, want %v", len(got), got, want)
	}
	for i := range want {
		if !got[i].Equal(utc(want[i])) {
			t.Errorf("fire %d = %s, want %s", i, got[i].Format(time.RFC3339), want[i])
		}
	}
}

func TestNextEveryMinute(t *testing.T) {
	s := mustParse(t, "* * * * *", "UTC")
	sameTimes(t, s.Upcoming(utc("2026-12-07T15:04:05Z"), 3),
		"2026-12-07T15:05:00Z", "2026-12-07T15:06:00Z", "2026-12-07T15:07:00Z")
	// Strictly after: a time on the minute is not its own next fire.
	sameTimes(t, s.Upcoming(utc("2026-12-07T15:05:00Z"), 1), "2026-12-07T15:06:00Z")
}

func TestWallClockAcrossOffsets(t *testing.T) {
	// 20:00 in New York is 01:00 UTC in winter (EST) and 00:00 UTC in
	// summer (EDT): the schedule follows the wall clock.
	s := mustParse(t, "0 20 * * *", "America/New_York")
	sameTimes(t, s.Upcoming(utc("2026-01-10T12:00:00Z"), 1), "2026-01-11T01:00:00Z")
	sameTimes(t, s.Upcoming(utc("2026-07-10T12:00:00Z"), 1), "2026-07-11T00:00:00Z")
}

func TestSpringForwardGapDoesNotFire(t *testing.T) {
	// On 2026-03-08 New York's clocks jump from 02:00 to 03:00: 02:30 does
	// not exist that day, so that day has no fire.
	s := mustParse(t, "30 2 * * *", "America/New_York")
	sameTimes(t, s.Upcoming(utc("2026-03-06T12:00:00Z"), 3),
		"2026-03-07T07:30:00Z", // 02:30 EST
		"2026-03-09T06:30:00Z", // 02:30 EDT, the day after the gap
		"2026-03-10T06:30:00Z")
	// Hourly fires skip the missing hour and nothing else.
	h := mustParse(t, "0 * * * *", "America/New_York")
	sameTimes(t, h.Upcoming(utc("2026-03-08T05:30:00Z"), 3),
		"2026-03-08T06:00:00Z", // 01:00 EST
		"2026-03-08T07:00:00Z", // 03:00 EDT (02:00 never happened)
		"2026-03-08T08:00:00Z")
}

func TestFallBackRepeatFiresTwice(t *testing.T) {
	// On 2026-11-01 New York's clocks go back from 02:00 to 01:00: 01:30
	// happens twice, once in EDT and once in EST, and fires both times.
	s := mustParse(t, "30 1 * * *", "America/New_York")
	sameTimes(t, s.Upcoming(utc("2026-10-31T12:00:00Z"), 3),
		"2026-11-01T05:30:00Z", // 01:30 EDT
		"2026-11-01T06:30:00Z", // 01:30 EST
		"2026-11-02T06:30:00Z")
	// Starting between the two: the second one is next.
	sameTimes(t, s.Upcoming(utc("2026-11-01T06:00:00Z"), 1), "2026-11-01T06:30:00Z")
}

func TestDayFields(t *testing.T) {
	// Both day fields restricted: either matching is enough.
	s := mustParse(t, "0 9 13 * 5", "UTC")
	sameTimes(t, s.Upcoming(utc("2026-02-01T00:00:00Z"), 3),
		"2026-02-06T09:00:00Z", "2026-02-13T09:00:00Z", "2026-02-20T09:00:00Z")
	// 7 is Sunday too.
	s7 := mustParse(t, "0 0 * * 7", "UTC")
	s0 := mustParse(t, "0 0 * * 0", "UTC")
	from := utc("2026-12-07T00:00:00Z")
	if !s7.Next(from).Equal(s0.Next(from)) {
		t.Errorf("7 and 0 differ: %s vs %s", s7.Next(from), s0.Next(from))
	}
	// Names, including those holding L or W.
	named := mustParse(t, "0 12 * JUL WED", "UTC")
	sameTimes(t, named.Upcoming(utc("2026-12-07T00:00:00Z"), 1), "2027-07-07T12:00:00Z")
	// 29 February fires only in leap years.
	leap := mustParse(t, "0 0 29 2 *", "UTC")
	sameTimes(t, leap.Upcoming(utc("2026-12-07T00:00:00Z"), 1), "2028-02-29T00:00:00Z")
	// A date that never comes has no next fire.
	if n := mustParse(t, "0 0 31 2 *", "UTC").Next(from); !n.IsZero() {
		t.Errorf("31 February fires at %s", n)
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []struct{ expr, tz, field string }{
		{"* * * *", "UTC", "expression"},
		{"* * * * * *", "UTC", "expression"},
		{"@daily", "UTC", "expression"},
		{"0 0 L * *", "UTC", "expression"},
		{"0 0 ? * 1", "UTC", "expression"},
		{"0 0 * * 5L", "UTC", "expression"},
		{"0 0 15W * *", "UTC", "expression"},
		{"0 0 * * 1#2", "UTC", "expression"},
		{"TZ=UTC * * * *", "UTC", "expression"},
		{"61 * * * *", "UTC", "expression"},
		{"* * * * *", "Mars/Olympus", "timezone"},
		{"* * * * *", "", "timezone"},
		{"* * * * *", "Local", "timezone"},
	} {
		_, err := Parse(c.expr, c.tz)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Parse(%q, %q) = %v, want an error on %s", c.expr, c.tz, err, c.field)
		}
	}
}

func BenchmarkNextEveryMinute(b *testing.B) {
	s, _ := Parse("* * * * *", "America/New_York")
	t := utc("2026-12-07T15:04:05Z")
	for b.Loop() {
		s.Next(t)
	}
}
