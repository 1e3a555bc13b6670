package sandbox

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gridlink/gridlink/internal/pdf"
)

// statementData is what a statement PDF shows. Amounts are in cents.
type statementData struct {
	number, address       string
	start, end, statement time.Time // end is exclusive (first day of the next period)
	due                   time.Time
	days                  int
	kwh, therms           float64
	gas                   bool
	elec, gasCents, other int64
	total                 int64
}

// statement renders a bill as a one-page PDF. The same bill always gives
// the same bytes.
func (s *Sandbox) statement(d statementData) []byte {
	const dateFmt = "Jan 2, 2006"
	last := d.end.AddDate(0, 0, -1)
	period := fmt.Sprintf("%s - %s (%d days)", d.start.Format(dateFmt), last.Format(dateFmt), d.days)
	lines := []pdf.Line{
		{Text: s.utilityName(), Size: 20, Bold: true},
		{Text: "Energy Statement", Size: 14, SpaceBefore: 2},
		{Text: "Simulated statement from the gridlink sandbox. Not a real bill.", Size: 8},

		{Text: "Account number", Right: d.number, SpaceBefore: 18},
		{Text: "Service address", Right: d.address},
		{Text: "Statement date", Right: d.statement.Format(dateFmt)},
		{Text: "Billing period", Right: period},
		{Text: "Due date", Right: d.due.Format(dateFmt)},

		{Text: "Usage", Bold: true, SpaceBefore: 18},
		{Text: "Electric", Right: strconv.FormatFloat(d.kwh, 'f', 3, 64) + " kWh", Indent: 12},
	}
	if d.gas {
		lines = append(lines, pdf.Line{Text: "Gas", Right: strconv.FormatFloat(d.therms, 'f', 3, 64) + " therms", Indent: 12})
	}
	lines = append(lines,
		pdf.Line{Text: "Charges", Bold: true, SpaceBefore: 18},
		pdf.Line{Text: fmt.Sprintf("Electric: %s kWh at $%.3f/kWh + base services charge %d days at $%.4f/day",
			strconv.FormatFloat(d.kwh, 'f', 3, 64), elecCentsPerKWh/100, d.days, elecCentsPerDay/100),
			Right: money(d.elec), Indent: 12, Size: 10},
	)
	if d.gas {
		lines = append(lines, pdf.Line{Text: fmt.Sprintf("Gas: %s therms at $%.2f/therm + customer charge %d days at $%.3f/day",
			strconv.FormatFloat(d.therms, 'f', 3, 64), gasCentsPerTherm/100, d.days, gasCentsPerDay/100),
			Right: money(d.gasCents), Indent: 12, Size: 10})
	}
	lines = append(lines,
		pdf.Line{Text: fmt.Sprintf("Taxes and fees (%.1f%% utility users' tax)", taxRate*100), Right: money(d.other), Indent: 12, Size: 10},
		pdf.Line{Text: "Total amount due", Right: money(d.total), Bold: true, Size: 13, SpaceBefore: 12},
		pdf.Line{Text: "Please pay by " + d.due.Format(dateFmt) + ".", Size: 10, SpaceBefore: 6},
	)
	doc := pdf.Document{
		Title: fmt.Sprintf("%s statement %s %s", s.utilityName(), d.number, d.start.Format("2006-01")),
		Lines: lines,
	}
	return doc.Bytes()
}

// money formats cents as dollars with thousands separators: "$1,234.56".
func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	whole := strconv.FormatInt(c/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return fmt.Sprintf("%s$%s.%02d", sign, whole, c%100)
}
