package demoutility

import (
	"fmt"
	"math"
	"time"

	"github.com/gridlink/gridlink/internal/pdf"
)

// The demo logins.
const (
	Alice         = "alice"
	AlicePassword = "alice-password"
	Bob           = "bob"
	BobPassword   = "bob-password"
	Carol         = "carol"
	CarolPassword = "carol-password"
)

// MFA delivery methods, as posted by the method choice form.
const (
	MethodSMS   = "sms"
	MethodEmail = "email"
)

// userSpec is a fixed demo login.
type userSpec struct {
	name, password, fullName string
	phone, email             string
	methods                  []string // MFA delivery methods; none: no MFA
	accounts                 []accountSpec
}

// accountSpec is one utility account of a login.
type accountSpec struct {
	number, address     string
	elecMeter, gasMeter string // "" when the account has no such service
	scale               float64
}

func demoUsers() []userSpec {
	return []userSpec{
		{name: Alice, password: AlicePassword, fullName: "Alice Moreau", email: "alice@example.com",
			accounts: []accountSpec{
				{number: "3100112358", address: "1208 Juniper Ave, Boulder, CO 80302", elecMeter: "E-40112358", scale: 1},
			}},
		{name: Bob, password: BobPassword, fullName: "Bob Okafor", phone: "(303) 555-0142", email: "bob@example.com",
			methods: []string{MethodSMS},
			accounts: []accountSpec{
				{number: "3100223344", address: "77 Aspen Ct, Louisville, CO 80027", elecMeter: "E-40223344", scale: 1.2},
				{number: "3100223345", address: "15 Ridge Rd, Nederland, CO 80466", elecMeter: "E-40223345", scale: 0.45},
			}},
		{name: Carol, password: CarolPassword, fullName: "Carol Diaz", phone: "(720) 555-0199", email: "carol@example.com",
			methods: []string{MethodSMS, MethodEmail},
			accounts: []accountSpec{
				{number: "3100334455", address: "3045 Pearl St, Boulder, CO 80301", elecMeter: "E-40334455", gasMeter: "G-70334455", scale: 1},
				{number: "3100334456", address: "410 Main St, Longmont, CO 80501", elecMeter: "E-40334456", gasMeter: "G-70334456", scale: 2.1},
				{number: "3100334457", address: "22 Elm St, Lafayette, CO 80026", gasMeter: "G-70334457", scale: 0.8},
			}},
	}
}

// services names the services of an account as the site prints them.
func (a accountSpec) services() string {
	switch {
	case a.elecMeter != "" && a.gasMeter != "":
		return "Electric, Gas"
	case a.gasMeter != "":
		return "Gas"
	}
	return "Electric"
}

// Tariff of Demo Power & Light (roughly a Colorado residential rate).
const (
	elecCentsPerKWh  = 13.85
	elecCentsPerDay  = 24.0
	gasCentsPerTherm = 62.0
	gasCentsPerDay   = 43.0
	taxRate          = 0.062
	statementDay     = 5 // statements are dated the 5th of the next month
	dueAfterDays     = 21
)

// reading is one interval in thousandths of the unit (Wh, milli-therms).
type reading struct {
	start, end time.Time
	milli      int64
}

// history is the span of readings the site holds at now: from the first
// day of the month months back to local midnight today.
func (s *Site) history(now time.Time) (start, end time.Time) {
	ln := now.In(s.loc)
	end = time.Date(ln.Year(), ln.Month(), ln.Day(), 0, 0, 0, 0, s.loc)
	start = time.Date(ln.Year(), ln.Month()-time.Month(s.months), 1, 0, 0, 0, 0, s.loc)
	return start, end
}

// electric returns hourly readings in [from, to). Every value is a pure
// function of the meter and the hour, so any two downloads agree.
func (s *Site) electric(a accountSpec, from, to time.Time) []reading {
	seed := seedOf(a.elecMeter)
	var out []reading
	for t := from; t.Before(to); t = t.Add(time.Hour) {
		lt := t.In(s.loc)
		h := float64(lt.Hour()) + 0.5
		cool, heat := seasons(lt.YearDay())
		kw := 0.32 + 0.45*bump(h, 7, 1.2) + 0.95*bump(h, 19, 2) + 1.7*cool*bump(h, 16, 3) + 0.55*heat*bump(h, 19, 2.5)
		if wd := lt.Weekday(); wd == time.Saturday || wd == time.Sunday {
			kw += 0.3 * bump(h, 12, 3)
		}
		day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, time.UTC).Unix()
		kw *= a.scale * (0.85 + 0.3*unit(seed, 1, day)) * (0.8 + 0.4*unit(seed, 2, t.Unix()))
		out = append(out, reading{start: t, end: t.Add(time.Hour), milli: int64(math.Round(kw * 1000))})
	}
	return out
}

// gas returns daily readings (local days) in [from, to); both are local
// midnights.
func (s *Site) gas(a accountSpec, from, to time.Time) []reading {
	seed := seedOf(a.gasMeter)
	var out []reading
	for d := from; d.Before(to); {
		next := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, s.loc)
		_, heat := seasons(d.YearDay())
		therms := (0.35 + 3.4*math.Pow(heat, 1.3)) * a.scale * (0.85 + 0.3*unit(seed, 3, d.Unix()))
		out = append(out, reading{start: d, end: next, milli: int64(math.Round(therms * 1000))})
		d = next
	}
	return out
}

// seasons returns the cooling weight (peaks late July) and the heating
// weight (peaks mid January) of a day of the year, each in [0, 1].
func seasons(yday int) (cool, heat float64) {
	c := math.Max(0, math.Cos(2*math.Pi*float64(yday-205)/365))
	h := math.Max(0, math.Cos(2*math.Pi*float64(yday-15)/365))
	return c * c, h
}

// bump is a Gaussian bump centred on hour c of width w, around the clock.
func bump(x, c, w float64) float64 {
	d := math.Abs(x - c)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * w * w))
}

// bill is one monthly statement of an account. Amounts are in cents,
// usage in thousandths.
type bill struct {
	number                       string
	start, end                   time.Time // end exclusive: first day of the next month
	statement, due               time.Time
	paid                         time.Time // zero: not paid yet
	days                         int
	elecMilli, gasMilli          int64
	elec, gasCents, other, total int64
}

// bills returns the statements of an account issued by now, oldest first.
func (s *Site) bills(a accountSpec, now time.Time) []bill {
	start, end := s.history(now)
	var out []bill
	for ms := start; ; ms = ms.AddDate(0, 1, 0) {
		me := ms.AddDate(0, 1, 0)
		stmt := time.Date(me.Year(), me.Month(), statementDay, 0, 0, 0, 0, s.loc)
		if me.After(end) || stmt.After(now) {
			break
		}
		b := bill{
			number: fmt.Sprintf("%s-%04d%02d", a.number, ms.Year(), int(ms.Month())),
			start:  ms, end: me, statement: stmt, due: stmt.AddDate(0, 0, dueAfterDays),
			days: int(math.Round(me.Sub(ms).Hours() / 24)),
		}
		if a.elecMeter != "" {
			for _, r := range s.electric(a, ms, me) {
				b.elecMilli += r.milli
			}
			b.elec = int64(math.Round(float64(b.elecMilli)/1000*elecCentsPerKWh + float64(b.days)*elecCentsPerDay))
		}
		if a.gasMeter != "" {
			for _, r := range s.gas(a, ms, me) {
				b.gasMilli += r.milli
			}
			b.gasCents = int64(math.Round(float64(b.gasMilli)/1000*gasCentsPerTherm + float64(b.days)*gasCentsPerDay))
		}
		b.other = int64(math.Round(float64(b.elec+b.gasCents) * taxRate))
		b.total = b.elec + b.gasCents + b.other
		out = append(out, b)
	}
	// Every bill but the latest was paid a few days before it was due.
	seed := seedOf(a.number)
	for i := range out {
		if i < len(out)-1 {
			early := 2 + int(unit(seed, 4, out[i].statement.Unix())*6)
			out[i].paid = out[i].due.AddDate(0, 0, -early)
		}
	}
	return out
}

// statementPDF renders a bill as a one-page PDF; the same bill always
// gives the same bytes.
func statementPDF(u userSpec, a accountSpec, b bill) []byte {
	const df = "Jan 2, 2006"
	period := fmt.Sprintf("%s - %s (%d days)", b.start.Format(df), b.end.AddDate(0, 0, -1).Format(df), b.days)
	lines := []pdf.Line{
		{Text: Name, Size: 20, Bold: true},
		{Text: "Energy Statement", Size: 14, SpaceBefore: 2},
		{Text: "Demo statement from the gridlink demo utility. Not a real bill.", Size: 8},
		{Text: "Customer", Right: u.fullName, SpaceBefore: 18},
		{Text: "Account number", Right: a.number},
		{Text: "Service address", Right: a.address},
		{Text: "Bill number", Right: b.number},
		{Text: "Statement date", Right: b.statement.Format(df)},
		{Text: "Service period", Right: period},
		{Text: "Due date", Right: b.due.Format(df)},
		{Text: "Usage", Bold: true, SpaceBefore: 18},
	}
	if a.elecMeter != "" {
		lines = append(lines, pdf.Line{Text: "Electric, meter " + a.elecMeter, Right: milli(b.elecMilli) + " kWh", Indent: 12})
	}
	if a.gasMeter != "" {
		lines = append(lines, pdf.Line{Text: "Gas, meter " + a.gasMeter, Right: milli(b.gasMilli) + " therms", Indent: 12})
	}
	lines = append(lines, pdf.Line{Text: "Charges", Bold: true, SpaceBefore: 18})
	if a.elecMeter != "" {
		lines = append(lines, pdf.Line{Text: fmt.Sprintf("Electric: %s kWh at $%.4f/kWh + service charge %d days at $%.2f/day",
			milli(b.elecMilli), elecCentsPerKWh/100, b.days, elecCentsPerDay/100), Right: money(b.elec), Indent: 12, Size: 10})
	}
	if a.gasMeter != "" {
		lines = append(lines, pdf.Line{Text: fmt.Sprintf("Gas: %s therms at $%.2f/therm + service charge %d days at $%.2f/day",
			milli(b.gasMilli), gasCentsPerTherm/100, b.days, gasCentsPerDay/100), Right: money(b.gasCents), Indent: 12, Size: 10})
	}
	lines = append(lines,
		pdf.Line{Text: fmt.Sprintf("Taxes and fees (%.1f%%)", taxRate*100), Right: money(b.other), Indent: 12, Size: 10},
		pdf.Line{Text: "Amount due", Right: money(b.total), Bold: true, Size: 13, SpaceBefore: 12},
		pdf.Line{Text: "Please pay by " + b.due.Format(df) + ".", Size: 10, SpaceBefore: 6},
	)
	return pdf.Document{Title: Name + " statement " + b.number, Lines: lines}.Bytes()
}

// milli formats thousandths with three decimals: 1234 -> "1.234".
func milli(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%03d", sign, v/1000, v%1000)
}

// money formats cents as dollars with thousands separators: "$1,234.56".
func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	whole := fmt.Sprint(c / 100)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return fmt.Sprintf("%s$%s.%02d", sign, whole, c%100)
}

// Deterministic noise: FNV-1a of a string, mixed with SplitMix64.

func seedOf(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix(h)
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit returns a uniform value in [0, 1) for (seed, salt, t).
func unit(seed, salt uint64, t int64) float64 {
	return float64(mix(seed^mix(uint64(t)*0x9e3779b97f4a7c15+salt))>>11) / (1 << 53)
}
