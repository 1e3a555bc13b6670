package demoutility

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
)

type csvRow struct {
	meter, typ string
	start, end time.Time
	usage      string
	unit       string
	milli      int64
}

// readCSV parses a usage download, checking its preamble and header.
func readCSV(t *testing.T, data []byte) (preamble [][]string, rows []csvRow) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; i < len(recs) && recs[i][0] != "METER"; i++ {
		preamble = append(preamble, recs[i])
	}
	if i == len(recs) {
		t.Fatalf("no header in CSV:\n%s", data)
	}
	if diff := cmp.Diff([]string{"METER", "TYPE", "START", "END", "USAGE", "UNITS"}, recs[i]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	for _, rec := range recs[i+1:] {
		start, err1 := time.Parse(time.RFC3339, rec[2])
		end, err2 := time.Parse(time.RFC3339, rec[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad times in %q", rec)
		}
		row := csvRow{meter: rec[0], typ: rec[1], start: start, end: end, usage: rec[4], unit: rec[5]}
		f, err := strconv.ParseFloat(rec[4], 64)
		if err != nil {
			t.Fatalf("bad usage in %q", rec)
		}
		row.milli = int64(math.Round(f * 1000))
		if rec[5] == "Wh" {
			row.milli = int64(f)
		}
		rows = append(rows, row)
	}
	return preamble, rows
}

func TestUsageDownloads(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Carol, CarolPassword)
	loc, _ := time.LoadLocation(TimeZone)
	start := time.Date(2025, 12, 1, 0, 0, 0, 0, loc)
	end := time.Date(2026, 3, 10, 0, 0, 0, 0, loc) // today, local midnight

	usage := b.get("/accounts/3100334455/usage")
	var meters [][]string
	usage.doc.Find("table#meters tbody tr").Each(func(_ int, tr *goquery.Selection) {
		meters = append(meters, tr.Find("td").Map(func(_ int, td *goquery.Selection) string { return td.Text() }))
	})
	if diff := cmp.Diff([][]string{{"E-40334455", "Electric", "Hourly", "kWh"}, {"G-70334455", "Gas", "Daily", "therms"}}, meters); diff != "" {
		t.Errorf("meters (-want +got):\n%s", diff)
	}
	form := usage.doc.Find("form#download")
	if m, _ := form.Attr("method"); m != "get" || form.Find("input[name=from]").Length() != 1 || form.Find("select[name=format] option").Length() != 2 {
		t.Error("the download form is not as expected")
	}

	full := b.get("/accounts/3100334455/usage/download?format=csv")
	if full.status != 200 || full.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		full.header.Get("Content-Disposition") != `attachment; filename="DemoPowerLight_usage_3100334455_2025-12-01_2026-03-09.csv"` {
		t.Fatalf("CSV download: %d %q %q", full.status, full.header.Get("Content-Type"), full.header.Get("Content-Disposition"))
	}
	pre, rows := readCSV(t, full.body)
	if diff := cmp.Diff([]string{"Account number", "3100334455"}, pre[2]); diff != "" {
		t.Errorf("preamble (-want +got):\n%s", diff)
	}
	var elec, gas []csvRow
	for _, r := range rows {
		switch {
		case r.meter == "E-40334455" && r.typ == "Electric" && r.unit == "kWh":
			elec = append(elec, r)
		case r.meter == "G-70334455" && r.typ == "Gas" && r.unit == "therms":
			gas = append(gas, r)
		default:
			t.Fatalf("unexpected row %+v", r)
		}
	}
	// Hourly electric readings over the whole history, across the DST
	// change of 8 March; daily gas readings of local days.
	if want := int(end.Sub(start) / time.Hour); len(elec) != want {
		t.Errorf("%d electric rows, want %d", len(elec), want)
	}
	if len(gas) != 99 {
		t.Errorf("%d gas rows, want 99 days", len(gas))
	}
	for i, r := range elec {
		if r.end.Sub(r.start) != time.Hour || (i > 0 && !r.start.Equal(elec[i-1].end)) || r.milli <= 0 {
			t.Fatalf("electric row %d: %+v", i, r)
		}
	}
	if !elec[0].start.Equal(start) || !elec[len(elec)-1].end.Equal(end) || !gas[0].start.Equal(start) || !gas[len(gas)-1].end.Equal(end) {
		t.Errorf("history: electric %v..%v, gas %v..%v", elec[0].start, elec[len(elec)-1].end, gas[0].start, gas[len(gas)-1].end)
	}
	if gas[97].end.Sub(gas[97].start) != 23*time.Hour { // 8 March: clocks go forward
		t.Errorf("gas reading of 8 March lasts %v", gas[97].end.Sub(gas[97].start))
	}

	// A date range: 1 to 9 March (inclusive, 23-hour 8 March).
	part := b.get("/accounts/3100334455/usage/download?format=csv&from=2026-03-01&to=2026-03-09")
	_, prow := readCSV(t, part.body)
	var pe int
	for _, r := range prow {
		if r.typ == "Electric" {
			pe++
		}
	}
	if pe != 9*24-1 || len(prow)-pe != 9 {
		t.Errorf("1-9 March: %d electric and %d gas rows", pe, len(prow)-pe)
	}
	for _, bad := range []string{"from=2026-13-01", "from=2026-03-05&to=2026-03-01", "format=pdf"} {
		if r := b.get("/accounts/3100334455/usage/download?" + bad); r.status != 400 {
			t.Errorf("download?%s: %d, want 400", bad, r.status)
		}
	}

	// Green Button: the same numbers.
	x := b.get("/accounts/3100334455/usage/download?format=xml&from=2026-03-01&to=2026-03-09")
	if x.status != 200 || x.header.Get("Content-Type") != "application/atom+xml" {
		t.Fatalf("XML download: %d %q", x.status, x.header.Get("Content-Type"))
	}
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Entries []struct {
			Content struct {
				UsagePoint *struct {
					Kind int `xml:"ServiceCategory>kind"`
				} `xml:"UsagePoint"`
				ReadingType *struct {
					UOM  int `xml:"uom"`
					Mult int `xml:"powerOfTenMultiplier"`
				} `xml:"ReadingType"`
				Block *struct {
					Readings []struct {
						Start int64 `xml:"timePeriod>start"`
						Value int64 `xml:"value"`
					} `xml:"IntervalReading"`
				} `xml:"IntervalBlock"`
			} `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(x.body, &feed); err != nil {
		t.Fatal(err)
	}
	var kinds, uoms []int
	var values []int64
	for _, en := range feed.Entries {
		c := en.Content
		switch {
		case c.UsagePoint != nil:
			kinds = append(kinds, c.UsagePoint.Kind)
		case c.ReadingType != nil:
			uoms = append(uoms, c.ReadingType.UOM, c.ReadingType.Mult)
		case c.Block != nil:
			for _, r := range c.Block.Readings {
				values = append(values, r.Value)
			}
		}
	}
	var csvValues []int64
	for _, r := range prow {
		csvValues = append(csvValues, r.milli)
	}
	if diff := cmp.Diff([]int{0, 1}, kinds); diff != "" {
		t.Errorf("usage point kinds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{72, 0, 169, -3}, uoms); diff != "" {
		t.Errorf("units (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(csvValues, values); diff != "" {
		t.Errorf("XML values differ from the CSV (-csv +xml):\n%s", diff)
	}
}

func TestBillsMatchUsage(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Alice, AlicePassword)
	_, rows := readCSV(t, b.get("/accounts/3100112358/usage/download").body)
	loc, _ := time.LoadLocation(TimeZone)
	monthly := map[string]int64{}
	for _, r := range rows {
		monthly[r.start.In(loc).Format("2006-01")] += r.milli
	}

	page := b.get("/accounts/3100112358/bills")
	var got [][]string
	page.doc.Find("table#bills tbody tr").Each(func(_ int, tr *goquery.Selection) {
		var cells []string
		tr.Find("td").Each(func(_ int, td *goquery.Selection) { cells = append(cells, strings.TrimSpace(td.Text())) })
		got = append(got, cells)
	})
	if len(got) != 3 {
		t.Fatalf("%d bills, want 3 (December to February)", len(got))
	}
	wantNumbers := []string{"3100112358-202602", "3100112358-202601", "3100112358-202512"}
	for i, row := range got {
		if row[0] != wantNumbers[i] {
			t.Errorf("bill %d is %s, want %s (newest first)", i, row[0], wantNumbers[i])
		}
		month := row[0][len(row[0])-6:len(row[0])-2] + "-" + row[0][len(row[0])-2:]
		if want := milli(monthly[month]) + " kWh"; row[3] != want {
			t.Errorf("bill %s: usage %q, CSV sums to %q", row[0], row[3], want)
		}
		kwh := float64(monthly[month]) / 1000
		if kwh < 300 || kwh > 1500 {
			t.Errorf("bill %s: %.0f kWh is not a household's month", row[0], kwh)
		}
		elec, taxes, total := dollarsOf(t, row[5]), dollarsOf(t, row[7]), dollarsOf(t, row[8])
		if elec+taxes != total || row[4] != "—" || row[6] != "—" {
			t.Errorf("bill %s: %v + %v != %v (gas %q %q)", row[0], elec, taxes, total, row[4], row[6])
		}
		if (i == 0) != (row[10] == "Not yet paid") {
			t.Errorf("bill %s: paid %q", row[0], row[10])
		}
	}
	if got[0][1] != "Mar 5, 2026" || got[0][2] != "Feb 1, 2026 – Feb 28, 2026" || got[0][9] != "Mar 26, 2026" {
		t.Errorf("latest bill dates: %q", got[0][1:3])
	}
	link, _ := page.doc.Find("table#bills tbody tr").First().Find("a").Attr("href")
	p := b.get(link)
	if p.status != 200 || p.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(p.body, []byte("%PDF-")) ||
		!bytes.Contains(p.body, []byte("3100112358-202602")) || !bytes.Contains(p.body, []byte(got[0][8])) {
		t.Errorf("statement PDF: %d %q, %d bytes", p.status, p.header.Get("Content-Type"), len(p.body))
	}
	// The accounts page shows the unpaid balance.
	if bal := b.get("/accounts").text("table#accounts tbody td.num"); bal != got[0][8] {
		t.Errorf("balance %q, latest bill %q", bal, got[0][8])
	}
}

// dollarsOf parses "$1,234.56" to cents.
func dollarsOf(t *testing.T, s string) int64 {
	t.Helper()
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimPrefix(s, "$"), ",", ""), 64)
	if err != nil {
		t.Fatalf("not an amount: %q", s)
	}
	return int64(math.Round(f * 100))
}

func TestGasOnlyAccountAndWinterGas(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Carol, CarolPassword)
	_, rows := readCSV(t, b.get("/accounts/3100334457/usage/download?from=2026-01-01&to=2026-01-31").body)
	var therms float64
	for _, r := range rows {
		if r.typ != "Gas" || r.unit != "therms" || r.end.Sub(r.start) != 24*time.Hour {
			t.Fatalf("gas-only account row %+v", r)
		}
		therms += float64(r.milli) / 1000
	}
	if len(rows) != 31 || therms < 40 || therms > 200 {
		t.Errorf("January: %d days, %.1f therms", len(rows), therms)
	}
	bills := b.get("/accounts/3100334457/bills")
	if first := bills.doc.Find("table#bills tbody tr").First().Find("td"); first.Eq(3).Text() != "—" || !strings.HasSuffix(first.Eq(4).Text(), " therms") {
		t.Errorf("gas-only bill: electric %q, gas %q", first.Eq(3).Text(), first.Eq(4).Text())
	}
}

func TestDataIsDeterministic(t *testing.T) {
	get := func() []byte {
		e := newEnv(t, Config{})
		b := e.browser(t)
		b.signInFully(Bob, BobPassword)
		return b.get("/accounts/3100223345/usage/download").body
	}
	if !bytes.Equal(get(), get()) {
		t.Error("two sites gave different usage")
	}
}

func TestRedesign(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Alice, AlicePassword)
	before := b.get("/accounts/3100112358/usage/download?from=2026-03-01&to=2026-03-01").body
	e.site.SetRedesign(true)

	bills := b.get("/accounts/3100112358/bills")
	var headers []string
	bills.doc.Find("table#bills thead th").Each(func(_ int, th *goquery.Selection) { headers = append(headers, th.Text()) })
	if strings.Contains(strings.Join(headers, "|"), "Amount due") || !strings.Contains(strings.Join(headers, "|"), "Total") {
		t.Errorf("redesigned bill columns: %q", headers)
	}
	if d := bills.doc.Find("table#bills tbody tr td").Eq(1).Text(); d != "2026-03-05" {
		t.Errorf("redesigned statement date %q", d)
	}
	if bills.doc.Find("body.theme-2026").Length() != 1 {
		t.Error("the redesign did not change the look")
	}

	_, old := readCSV(t, before)
	_, now := readCSV(t, b.get("/accounts/3100112358/usage/download?from=2026-03-01&to=2026-03-01").body)
	if len(now) != 24 || len(old) != 24 {
		t.Fatalf("rows: %d and %d", len(old), len(now))
	}
	for i := range now {
		if now[i].unit != "Wh" || now[i].milli != old[i].milli || strings.Contains(now[i].usage, ".") {
			t.Fatalf("redesigned row %d: %+v (was %+v)", i, now[i], old[i])
		}
	}
	// Accounts and meters keep their markup: only deeper pages changed.
	if b.get("/accounts").doc.Find("table#accounts").Length() != 1 {
		t.Error("the accounts table is gone")
	}
	e.site.SetRedesign(false)
	if bills := b.get("/accounts/3100112358/bills"); !strings.Contains(bills.text("table#bills thead"), "Amount due") {
		t.Error("switching the redesign off did not restore the bills page")
	}
}
