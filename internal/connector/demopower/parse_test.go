package demopower

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/portal"
)

const usageHeader = "Demo Power & Light usage export\nAccount number,3100112358\n\nMETER,TYPE,START,END,USAGE,UNITS\n"

func TestParseUsage(t *testing.T) {
	units := map[string]string{"E-1": "kWh", "G-1": "therms"}
	good := usageHeader +
		"E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,0.523,kWh\n" +
		"E-1,Electric,2026-03-01T01:00:00-07:00,2026-03-01T02:00:00-07:00,0.411,kWh\n" +
		"G-1,Gas,2026-03-01T00:00:00-07:00,2026-03-02T00:00:00-07:00,2.250,therms\n"
	got, err := parseUsage([]byte(good), units)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC).Unix()
	want := map[string][]gridlink.Interval{
		"E-1": {{Start: t0, End: t0 + 3600, Usage: 0.523}, {Start: t0 + 3600, End: t0 + 7200, Usage: 0.411}},
		"G-1": {{Start: t0, End: t0 + 86400, Usage: 2.25}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("intervals (-want +got):\n%s", diff)
	}

	bad := map[string]string{
		"watt-hours":    "E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,523,Wh\n",
		"unknown meter": "E-2,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,0.5,kWh\n",
		"gas in kWh":    "G-1,Gas,2026-03-01T00:00:00-07:00,2026-03-02T00:00:00-07:00,2.2,kWh\n",
		"local times":   "E-1,Electric,2026-03-01 00:00,2026-03-01 01:00,0.5,kWh\n",
		"not a number":  "E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,n/a,kWh\n",
		"negative":      "E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,-0.5,kWh\n",
		"empty reading": "E-1,Electric,2026-03-01T01:00:00-07:00,2026-03-01T01:00:00-07:00,0.5,kWh\n",
		"overlapping": "E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,0.5,kWh\n" +
			"E-1,Electric,2026-03-01T00:30:00-07:00,2026-03-01T01:30:00-07:00,0.5,kWh\n",
	}
	for name, rows := range bad {
		if _, err := parseUsage([]byte(usageHeader+rows), units); connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("%s: %v, want layout_changed", name, err)
		}
	}
	renamed := strings.Replace(good, "USAGE,UNITS", "USAGE (Wh),UNITS", 1)
	if _, err := parseUsage([]byte(renamed), units); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("renamed column: %v", err)
	}
}

const billsHead = `<table id="bills"><thead><tr><th>Bill number</th><th>Statement date</th><th>Service period</th><th>Electric usage</th><th>Gas usage</th><th>Electric charges</th><th>Gas charges</th><th>Taxes &amp; fees</th><th>Amount due</th><th>Due date</th><th>Paid on</th><th>Statement</th></tr></thead><tbody>`

func billsPage(t *testing.T, rows string) *portal.Page {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(billsHead + rows + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://demo.invalid/accounts/1/bills")
	return &portal.Page{URL: u, Status: 200, Doc: doc}
}

func billRow(cells ...string) string {
	return "<tr><td>" + strings.Join(cells, "</td><td>") + `</td><td><a href="/s.pdf">PDF</a></td></tr>`
}

func TestParseBill(t *testing.T) {
	c, err := New(Config{BaseURL: "http://demo.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	good := []string{"3100-202602", "Mar 5, 2026", "Feb 1, 2026 – Feb 28, 2026", "612.345 kWh", "—", "$108.81", "—", "$6.75", "$115.56", "Mar 26, 2026", "Mar 20, 2026"}
	tbl, err := billsPage(t, billRow(good...)).Table("#bills")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.parseBill(tbl.Rows[0])
	if err != nil {
		t.Fatal(err)
	}
	day := func(m time.Month, d int) *int64 { v := time.Date(2026, m, d, 0, 0, 0, 0, c.loc).Unix(); return &v }
	f := func(v float64) *float64 { return &v }
	want := gridlink.Bill{ExternalID: "3100-202602", StatementDate: day(3, 5), StartDate: day(2, 1), EndDate: day(3, 1),
		DueDate: day(3, 26), PaymentDate: day(3, 20), ElectricKWh: f(612.345), ElectricCharge: f(108.81), OtherCharge: f(6.75),
		TotalAmountDue: f(115.56), TotalCharges: f(115.56), HasPDF: true}
	if diff := cmp.Diff(want, b.Bill); diff != "" {
		t.Errorf("bill (-want +got):\n%s", diff)
	}

	for name, change := range map[string]func(cells []string){
		"charges do not add up": func(c []string) { c[8] = "$120.00" },
		"ISO dates":             func(c []string) { c[1] = "2026-03-05" },
		"usage in Wh":           func(c []string) { c[3] = "612345 Wh" },
		"amount without $":      func(c []string) { c[8] = "115.56" },
		"no amount due":         func(c []string) { c[8] = "—" },
		"no bill number":        func(c []string) { c[0] = "" },
		"period backwards":      func(c []string) { c[2] = "Feb 28, 2026 – Feb 1, 2026" },
		"period without dash":   func(c []string) { c[2] = "February 2026" },
	} {
		cells := append([]string(nil), good...)
		change(cells)
		tbl, err := billsPage(t, billRow(cells...)).Table("#bills")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.parseBill(tbl.Rows[0]); connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("%s: %v, want layout_changed", name, err)
		}
	}
	// A reordered table is read by its headers; a renamed column is not.
	if _, err := c.bills(t.Context(), nil, billsPage(t, ""), time.Time{}); err != nil {
		t.Errorf("empty bills table: %v", err)
	}
	renamed := billsPage(t, "")
	renamed.Doc.Find("th").Eq(8).SetText("Total")
	if _, err := c.bills(t.Context(), nil, renamed, time.Time{}); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("renamed column: %v", err)
	}
}

// FuzzParseUsage: no file makes the usage parser panic, and what it
// accepts is usable by sync (ordered, non-empty, non-overlapping).
func FuzzParseUsage(f *testing.F) {
	f.Add([]byte(usageHeader + "E-1,Electric,2026-03-01T00:00:00-07:00,2026-03-01T01:00:00-07:00,0.523,kWh\n"))
	f.Add([]byte(usageHeader + "G-1,Gas,2026-03-01T00:00:00-07:00,2026-03-02T00:00:00-07:00,1e300,therms\n"))
	f.Add([]byte("METER,START,END,USAGE,UNITS\nE-1,x,y,z,kWh\n"))
	f.Add([]byte("<html>signed out</html>"))
	units := map[string]string{"E-1": "kWh", "G-1": "therms"}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseUsage(data, units)
		if err != nil {
			if connector.KindOf(err) != connector.KindLayoutChanged {
				t.Fatalf("error of kind %v", connector.KindOf(err))
			}
			return
		}
		for m, ivs := range got {
			if units[m] == "" {
				t.Fatalf("readings of unknown meter %q", m)
			}
			for i, iv := range ivs {
				if iv.End <= iv.Start || iv.Usage < 0 || (i > 0 && iv.Start < ivs[i-1].End) {
					t.Fatalf("meter %s reading %d: %+v", m, i, iv)
				}
			}
		}
	})
}

func TestNewChecksBaseURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8090", "ftp://demo.invalid"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("New with BaseURL %q succeeded", u)
		}
	}
}
