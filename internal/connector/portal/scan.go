package portal

import (
	"slices"
	"time"
)

// Scan parses the values of scraped records (table rows, CSV lines) and
// keeps the first failure, so that a record reads as a list of fields with
// one check at the end. Every failure is KindLayoutChanged. The zero value
// reads dates in UTC with no layouts and treats only "" as blank.
type Scan struct {
	// Loc is the time zone of dates (nil: UTC).
	Loc *time.Location
	// DateLayouts are tried in order by Date.
	DateLayouts []string
	// Blank lists the texts of an empty cell besides "" (e.g. "—"):
	// Date, Money and Quantity return nil for them.
	Blank []string
	err   error
}

// Err returns the first failure, or nil.
func (sc *Scan) Err() error { return sc.err }

func (sc *Scan) fail(err error) {
	if sc.err == nil {
		sc.err = err
	}
}

// Check records a failure (format/args: log detail) unless ok.
func (sc *Scan) Check(ok bool, format string, args ...any) {
	if !ok {
		sc.fail(LayoutChanged(format, args...))
	}
}

func (sc *Scan) blank(s string) bool {
	c := Clean(s)
	return c == "" || slices.Contains(sc.Blank, c)
}

// Date parses a date with DateLayouts in Loc and returns it as Unix
// seconds (nil for a blank cell).
func (sc *Scan) Date(s string) *int64 {
	if sc.blank(s) {
		return nil
	}
	loc := sc.Loc
	if loc == nil {
		loc = time.UTC
	}
	t, err := ParseDate(s, loc, sc.DateLayouts...)
	sc.fail(err)
	v := t.Unix()
	return &v
}

// Time parses a required time with layout (e.g. time.RFC3339).
func (sc *Scan) Time(s, layout string) time.Time {
	t, err := time.Parse(layout, Clean(s))
	if err != nil {
		sc.fail(LayoutChanged("not a time: %q", truncate(s)))
	}
	return t
}

// Number parses a required number (see ParseNumber).
func (sc *Scan) Number(s string) float64 {
	v, err := ParseNumber(s)
	sc.fail(err)
	return v
}

// Money parses an amount in dollars (see ParseMoney; nil when blank).
func (sc *Scan) Money(s string) *float64 {
	if sc.blank(s) {
		return nil
	}
	v, err := ParseMoney(s)
	sc.fail(err)
	return &v
}

// Quantity parses a number in unit (see ParseQuantity; nil when blank).
func (sc *Scan) Quantity(s, unit string) *float64 {
	if sc.blank(s) {
		return nil
	}
	v, err := ParseQuantity(s, unit)
	sc.fail(err)
	return &v
}
