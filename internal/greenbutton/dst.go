package greenbutton

import (
	"time"
)

// DstRule is a decoded ESPI DstRuleType: bits 0-11 seconds, 12-16 hour,
// 17-19 day of week (1 = Monday ... 7 = Sunday), 20-24 day of month, 25-27
// operator, 28-31 month.
type DstRule struct {
	Month, DayOfMonth, DayOfWeek, Hour, Seconds int
	// Operator: 0 the day of month; 1 the weekday on or after it; 2-6 the
	// first to fifth such weekday of the month; 7 the last one.
	Operator int
}

// DecodeDstRule splits a raw rule; ok is false for 0xFFFFFFFF (no DST) and
// for values outside the encoding (Enbridge writes epoch seconds instead).
func DecodeDstRule(raw uint32) (r DstRule, ok bool) {
	if raw == 0xFFFFFFFF {
		return r, false
	}
	r = DstRule{
		Seconds:    int(raw & 0xFFF),
		Hour:       int(raw >> 12 & 0x1F),
		DayOfWeek:  int(raw >> 17 & 0x7),
		DayOfMonth: int(raw >> 20 & 0x1F),
		Operator:   int(raw >> 25 & 0x7),
		Month:      int(raw >> 28 & 0xF),
	}
	valid := r.Month >= 1 && r.Month <= 12 && r.Hour <= 23 && r.Seconds <= 3599
	switch {
	case r.Operator == 0:
		valid = valid && r.DayOfMonth >= 1
	case r.Operator == 1:
		valid = valid && r.DayOfMonth >= 1 && r.DayOfWeek >= 1
	default:
		// The nth or last weekday: no day of month.
		valid = valid && r.DayOfWeek >= 1 && r.DayOfMonth == 0
	}
	return r, valid
}

// date returns the local date the rule selects in year.
func (r DstRule) date(year int) (time.Time, bool) {
	month := time.Month(r.Month)
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	// ESPI weekdays run 1 = Monday ... 7 = Sunday; Go's 0 = Sunday.
	want := time.Weekday(r.DayOfWeek % 7)
	switch r.Operator {
	case 0:
		d := time.Date(year, month, r.DayOfMonth, 0, 0, 0, 0, time.UTC)
		return d, d.Month() == month
	case 1:
		d := time.Date(year, month, r.DayOfMonth, 0, 0, 0, 0, time.UTC)
		d = d.AddDate(0, 0, (int(want)-int(d.Weekday())+7)%7)
		return d, d.Month() == month
	case 7:
		last := first.AddDate(0, 1, -1)
		return last.AddDate(0, 0, -((int(last.Weekday()) - int(want) + 7) % 7)), true
	default:
		d := first.AddDate(0, 0, (int(want)-int(first.Weekday())+7)%7+7*(r.Operator-2))
		return d, d.Month() == month
	}
}

// DSTStart returns the instant daylight time starts in year (the rule's
// wall time read as standard time); ok is false unless both rules decode.
func (l LocalTimeParameters) DSTStart(year int) (time.Time, bool) {
	r, ok := DecodeDstRule(l.DSTStartRule)
	if _, ok2 := DecodeDstRule(l.DSTEndRule); !ok || !ok2 || l.DSTOffset == 0 {
		return time.Time{}, false
	}
	d, ok := r.date(year)
	if !ok {
		return time.Time{}, false
	}
	local := d.Unix() + int64(r.Hour)*3600 + int64(r.Seconds)
	return time.Unix(local-l.TZOffset, 0).UTC(), true
}

// DSTEnd returns the instant daylight time ends in year (the rule's wall
// time read as daylight time).
func (l LocalTimeParameters) DSTEnd(year int) (time.Time, bool) {
	r, ok := DecodeDstRule(l.DSTEndRule)
	if _, ok2 := DecodeDstRule(l.DSTStartRule); !ok || !ok2 || l.DSTOffset == 0 {
		return time.Time{}, false
	}
	d, ok := r.date(year)
	if !ok {
		return time.Time{}, false
	}
	local := d.Unix() + int64(r.Hour)*3600 + int64(r.Seconds)
	return time.Unix(local-l.TZOffset-l.DSTOffset, 0).UTC(), true
}

// Offset returns the offset east of UTC, in seconds, in force at t by the
// parameters' rules (standard offset when the rules are unusable).
func (l LocalTimeParameters) Offset(t time.Time) int64 {
	start, ok1 := l.DSTStart(t.UTC().Year())
	end, ok2 := l.DSTEnd(t.UTC().Year())
	if !ok1 || !ok2 {
		return l.TZOffset
	}
	in := false
	if start.Before(end) {
		in = !t.Before(start) && t.Before(end)
	} else { // southern hemisphere
		in = !t.Before(start) || t.Before(end)
	}
	if in {
		return l.TZOffset + l.DSTOffset
	}
	return l.TZOffset
}
