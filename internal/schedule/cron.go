// Package schedule computes when a cron schedule fires and runs fires on
// time: Spec is one parsed schedule (robfig/cron's parser, this package's
// own walk over wall-clock time so that daylight-saving changes behave as
// documented), Scheduler one timer over a heap of next fires.
package schedule

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser reads the five POSIX fields only: no seconds, no descriptors
// (@daily), which the API does not accept.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// starBit is robfig/cron's mark of a field written as "*": with it, the
// day-of-month and day-of-week fields combine with AND, without it (both
// restricted) with OR, as in Vixie cron.
const starBit = 1 << 63

// Spec is a parsed schedule in its time zone.
type Spec struct {
	s   *cron.SpecSchedule
	loc *time.Location
}

// FieldError says which of the schedule's fields is wrong.
type FieldError struct {
	Field string // "expression" or "timezone"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Parse reads a 5-field cron expression and an IANA time zone name.
func Parse(expr, tz string) (*Spec, error) {
	if strings.TrimSpace(tz) == "" {
		return nil, &FieldError{"timezone", "must not be empty"}
	}
	// time.LoadLocation also takes "Local" and file paths; neither is an
	// IANA name a server should resolve from a request.
	if tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return nil, &FieldError{"timezone", fmt.Sprintf("%q is not an IANA time zone name", tz)}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &FieldError{"timezone", fmt.Sprintf("%q is not an IANA time zone name", tz)}
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, &FieldError{"expression", fmt.Sprintf("must have 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))}
	}
	// robfig/cron reads "?" as "*" and "TZ=" prefixes; the API takes
	// neither, nor L, W and # (robfig/cron rejects those anyway, but with
	// a less helpful message). Month and weekday names may hold L or W.
	for _, f := range fields {
		if strings.ContainsAny(names.Replace(strings.ToUpper(f)), "?LW#@=") {
			return nil, &FieldError{"expression", fmt.Sprintf("%q uses extended cron syntax (? L W # @ or TZ=), which is not supported", expr)}
		}
	}
	// Day-of-week 7 is Sunday as well as 0; robfig/cron knows only 0-6.
	dow, err := sunday7(fields[4])
	if err != nil {
		return nil, &FieldError{"expression", err.Error()}
	}
	fields[4] = dow
	sched, err := parser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, &FieldError{"expression", fmt.Sprintf("invalid cron expression %q: %v", expr, err)}
	}
	return &Spec{s: sched.(*cron.SpecSchedule), loc: loc}, nil
}

// names blanks out month and weekday names before the extended-syntax
// check.
var names = strings.NewReplacer(
	"JAN", "", "FEB", "", "MAR", "", "APR", "", "MAY", "", "JUN", "", "JUL", "", "AUG", "",
	"SEP", "", "OCT", "", "NOV", "", "DEC", "",
	"SUN", "", "MON", "", "TUE", "", "WED", "", "THU", "", "FRI", "", "SAT", "")

// sunday7 rewrites day-of-week 7 as 0: "7" alone, or a range ending at 7
// ("5-7" becomes "5-6,0").
func sunday7(f string) (string, error) {
	parts := strings.Split(f, ",")
	var out []string
	for _, p := range parts {
		switch {
		case p == "7":
			out = append(out, "0")
		case strings.HasSuffix(p, "-7"):
			lo := strings.TrimSuffix(p, "-7")
			if lo == "7" {
				out = append(out, "0")
			} else {
				out = append(out, lo+"-6", "0")
			}
		case strings.Contains(p, "-7/"):
			return "", fmt.Errorf("day-of-week range ending at 7 with a step is not supported; use 0 for Sunday")
		default:
			out = append(out, p)
		}
	}
	return strings.Join(out, ","), nil
}

// Location is the schedule's time zone.
func (s *Spec) Location() *time.Location { return s.loc }

// searchDays bounds the search for the next fire: long enough for any
// valid expression (29 February on a given weekday recurs within 28
// years; plain 29 February within 8).
const searchDays = 366 * 29

// Next returns the first fire strictly after t, or the zero time if the
// expression never matches (31 February).
//
// Fires are wall-clock times in the schedule's zone. A wall time that a
// spring-forward change skips does not exist, so it does not fire that
// day; a wall time that a fall-back change repeats exists twice, at two
// instants, and fires at both.
func (s *Spec) Next(t time.Time) time.Time {
	lt := t.In(s.loc)
	// Start one day early: with a repeated hour, a wall time before t's
	// wall time can still be an instant after t.
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for i := 0; i < searchDays; i++ {
		d := day.AddDate(0, 0, i)
		if !s.dayMatches(d) {
			continue
		}
		offs, minOff := s.offsets(d)
		for h := 0; h < 24; h++ {
			if s.s.Hour&(1<<uint(h)) == 0 {
				continue
			}
			// No instant of this hour's wall times can be after t: skip it
			// without looking at its minutes.
			if !d.Add(time.Duration(h)*time.Hour + 59*time.Minute).Add(-minOff).After(t) {
				continue
			}
			for m := 0; m < 60; m++ {
				if s.s.Minute&(1<<uint(m)) == 0 {
					continue
				}
				wall := d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if !wall.Add(-minOff).After(t) {
					continue
				}
				for _, at := range s.instants(wall, offs) {
					if at.After(t) {
						return at
					}
				}
			}
		}
	}
	return time.Time{}
}

// Upcoming returns the next n fires after t.
func (s *Spec) Upcoming(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

func (s *Spec) dayMatches(d time.Time) bool {
	if s.s.Month&(1<<uint(d.Month())) == 0 {
		return false
	}
	dom := s.s.Dom&(1<<uint(d.Day())) != 0
	dow := s.s.Dow&(1<<uint(d.Weekday())) != 0
	if s.s.Dom&starBit != 0 || s.s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// offsets returns the zone's UTC offsets around a local day (any instant
// whose wall clock falls on that day is the wall time minus one of them)
// and the smallest.
func (s *Spec) offsets(day time.Time) ([]time.Duration, time.Duration) {
	var offs []time.Duration
	for _, probe := range []time.Duration{-36 * time.Hour, -12 * time.Hour, 0, 12 * time.Hour, 24 * time.Hour, 36 * time.Hour, 60 * time.Hour} {
		_, o := day.Add(probe).In(s.loc).Zone()
		off := time.Duration(o) * time.Second
		if !slices.Contains(offs, off) {
			offs = append(offs, off)
		}
	}
	return offs, slices.Min(offs)
}

// instants returns, in order, every instant whose wall clock in the zone
// reads wall (a wall time written in UTC): none in a spring-forward gap,
// two in a fall-back repeat, one otherwise.
func (s *Spec) instants(wall time.Time, offs []time.Duration) []time.Time {
	var out []time.Time
	for _, off := range offs {
		at := wall.Add(-off)
		l := at.In(s.loc)
		if l.Year() == wall.Year() && l.Month() == wall.Month() && l.Day() == wall.Day() && l.Hour() == wall.Hour() && l.Minute() == wall.Minute() {
			out = append(out, at.UTC())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
