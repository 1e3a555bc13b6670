package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/pdf"
)

const greenButtonFeed = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <id>urn:uuid:1</id><title>Usage</title>
  <entry><content><espi:IntervalBlock><espi:IntervalReading><espi:value>523</espi:value></espi:IntervalReading></espi:IntervalBlock></content></entry>
</feed>`

func TestDownloads(t *testing.T) {
	statement := pdf.Document{Title: "Statement", Lines: []pdf.Line{{Text: "Amount due", Right: "$12.50"}}}.Bytes()
	files := map[string]struct {
		ct, disposition string
		body            []byte
	}{
		"/usage.csv":  {"text/csv", `attachment; filename="usage-3100.csv"`, []byte("Account,3100\n\nSTART,USAGE\n2026-01-01T00:00:00Z,0.5\n")},
		"/usage.xml":  {"application/atom+xml", "", []byte(greenButtonFeed)},
		"/bill.pdf":   {"application/pdf", `attachment; filename="../../etc/bill.pdf"`, statement},
		"/login.csv":  {"text/html; charset=utf-8", "", []byte("<!doctype html><form id=login></form>")},
		"/markup.csv": {"text/plain", "", []byte("<html><body>Session expired</body></html>")},
		"/short.pdf":  {"application/pdf", "", statement[:len(statement)/2]},
		"/fake.pdf":   {"application/pdf", "", []byte("<html>not a pdf</html>")},
		"/rss.xml":    {"application/xml", "", []byte(`<?xml version="1.0"?><rss><channel/></rss>`)},
		"/broken.xml": {"application/xml", "", []byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry>`)},
		"/bad.csv":    {"text/csv", "", []byte("a,\"b\nc")},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ct)
		if f.disposition != "" {
			w.Header().Set("Content-Disposition", f.disposition)
		}
		w.Write(f.body)
	}))
	defer srv.Close()
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	ctx := context.Background()

	tests := []struct {
		path     string
		kind     FileKind
		wantName string // "" : a layout_changed error is expected
	}{
		{"/usage.csv", CSV, "usage-3100.csv"},
		{"/usage.xml", GreenButtonXML, "usage.xml"},
		{"/bill.pdf", PDF, "bill.pdf"},
		{"/login.csv", CSV, ""},
		{"/markup.csv", CSV, ""},
		{"/short.pdf", PDF, ""},
		{"/fake.pdf", PDF, ""},
		{"/rss.xml", GreenButtonXML, ""},
		{"/broken.xml", GreenButtonXML, ""},
		{"/bad.csv", CSV, ""},
		{"/usage.csv", PDF, ""},
		{"/missing.pdf", PDF, ""},
	}
	for _, tc := range tests {
		f, err := s.Download(ctx, tc.path, tc.kind)
		if tc.wantName == "" {
			if k := connector.KindOf(err); k != connector.KindLayoutChanged {
				t.Errorf("Download(%s, %v) = %v, want layout_changed", tc.path, tc.kind, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Download(%s, %v): %v", tc.path, tc.kind, err)
			continue
		}
		if f.Name != tc.wantName || string(f.Data) != string(files[tc.path].body) || f.Kind != tc.kind {
			t.Errorf("Download(%s) = name %q, %d bytes, kind %v", tc.path, f.Name, len(f.Data), f.Kind)
		}
	}

	// A GET form that answers with a file.
	form := &Form{Method: "GET", Action: srv.URL + "/usage.csv", Fields: []Field{{"from", "2026-01-01"}}}
	if f, err := s.DownloadForm(ctx, form, CSV); err != nil || f.Name != "usage-3100.csv" {
		t.Errorf("DownloadForm = %v, %v", f, err)
	}
}

func TestParseCSV(t *testing.T) {
	data := []byte("\xef\xbb\xbfDemo Power & Light usage export\nAccount,3100112358\n\nMETER,TYPE, Start ,USAGE\n" +
		"E-1,Electric,2026-01-01T00:00:00-07:00,0.523\n\n" +
		"E-1,Electric,2026-01-01T01:00:00-07:00,\"1,204.5\"\n")
	tbl, err := ParseCSV(data, "meter", "START", "usage")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"Demo Power & Light usage export"}, {"Account", "3100112358"}}, tbl.Preamble); diff != "" {
		t.Errorf("preamble (-want +got):\n%s", diff)
	}
	var got [][]string
	for _, r := range tbl.Rows {
		got = append(got, []string{r.Get("Meter"), r.Get("start"), r.Get("USAGE"), r.Get("nope")})
	}
	want := [][]string{{"E-1", "2026-01-01T00:00:00-07:00", "0.523", ""}, {"E-1", "2026-01-01T01:00:00-07:00", "1,204.5", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if tbl.Rows[1].Line != 7 {
		t.Errorf("second row is on line %d, want 7", tbl.Rows[1].Line)
	}

	for name, in := range map[string]string{
		"no header":   "a,b\n1,2\n",
		"ragged line": "METER,START,USAGE\nE-1,x\n",
		"bad quoting": "METER,START,USAGE\n\"E-1,x,1\n",
	} {
		if _, err := ParseCSV([]byte(in), "METER", "START", "USAGE"); connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("%s: %v, want layout_changed", name, err)
		}
	}
}

func TestParseValues(t *testing.T) {
	num := func(f func(string) (float64, error)) func(string) (float64, error) { return f }
	qty := func(unit string) func(string) (float64, error) {
		return func(s string) (float64, error) { return ParseQuantity(s, unit) }
	}
	tests := []struct {
		name  string
		parse func(string) (float64, error)
		in    string
		want  float64
		ok    bool
	}{
		{"number", num(ParseNumber), " 1,234.5 ", 1234.5, true},
		{"negative", num(ParseNumber), "-0.25", -0.25, true},
		{"not a number", num(ParseNumber), "n/a", 0, false},
		{"infinity", num(ParseNumber), "Inf", 0, false},
		{"money", num(ParseMoney), "$1,234.56", 1234.56, true},
		{"money rounds", num(ParseMoney), "$0.125", 0.13, true},
		{"money negative", num(ParseMoney), "-$3.00", -3, true},
		{"money parentheses", num(ParseMoney), "($3.00)", -3, true},
		{"money without $", num(ParseMoney), "12.00", 0, false},
		{"money euro", num(ParseMoney), "€12.00", 0, false},
		{"money exponent", num(ParseMoney), "$1e3", 0, false},
		{"money double sign", num(ParseMoney), "$-3", 0, false},
		{"kWh", qty("kWh"), "612.345 kWh", 612.345, true},
		{"kWh case", qty("kWh"), "612.345 KWH", 612.345, true},
		{"Wh is not kWh", qty("kWh"), "612345 Wh", 0, false},
		{"therms", qty("therms"), "41.2 therms", 41.2, true},
		{"dash", qty("kWh"), "—", 0, false},
	}
	for _, tc := range tests {
		got, err := tc.parse(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("%s: parse(%q) = %v, %v; want %v ok=%v", tc.name, tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && connector.KindOf(err) != connector.KindLayoutChanged {
			t.Errorf("%s: error kind %v, want layout_changed", tc.name, connector.KindOf(err))
		}
	}

	loc := time.FixedZone("MST", -7*3600)
	d, err := ParseDate(" Mar  4, 2026 ", loc, "2006-01-02", "Jan 2, 2006")
	if err != nil || !d.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, loc)) {
		t.Errorf("ParseDate = %v, %v", d, err)
	}
	if _, err := ParseDate("04/03/2026", loc, "Jan 2, 2006"); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("ParseDate of another format = %v", err)
	}
}

func TestScan(t *testing.T) {
	loc := time.FixedZone("MST", -7*3600)
	sc := Scan{Loc: loc, DateLayouts: []string{"Jan 2, 2006"}, Blank: []string{"—"}}
	d, blankDate := sc.Date("Mar 5, 2026"), sc.Date("—")
	m, blankMoney := sc.Money("$1,204.50"), sc.Money("")
	q, n := sc.Quantity("12.5 therms", "therms"), sc.Number("3")
	tm := sc.Time("2026-03-01T00:00:00-07:00", time.RFC3339)
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if *d != time.Date(2026, 3, 5, 0, 0, 0, 0, loc).Unix() || blankDate != nil || *m != 1204.5 || blankMoney != nil ||
		*q != 12.5 || n != 3 || tm.Unix() != time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("scanned %v %v %v %v %v %v %v", *d, blankDate, *m, blankMoney, *q, n, tm)
	}

	// The first failure is kept; later ones do not replace it.
	sc.Money("12.00")
	sc.Date("2026-03-05")
	sc.Check(false, "later")
	if err := sc.Err(); connector.KindOf(err) != connector.KindLayoutChanged || !strings.Contains(err.Error(), "not an amount") {
		t.Errorf("Err = %v", err)
	}
	var zero Scan
	zero.Time("yesterday", time.RFC3339)
	zero.Check(true, "fine")
	if connector.KindOf(zero.Err()) != connector.KindLayoutChanged {
		t.Errorf("bad time: %v", zero.Err())
	}
}

func TestSubmitFormAndFollow(t *testing.T) {
	ctx := context.Background()
	srv := loginSite(t)
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	p, err := s.Get(ctx, "/login")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubmitForm(ctx, p, "form#login", Field{"username", "ann"}, Field{"otp", "1"}); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("a field the form lacks: %v", err)
	}
	home, err := s.SubmitForm(ctx, p, "form#login", Field{"username", "ann"}, Field{"password", "s3cret-pass"})
	if err != nil || !home.Has("#welcome") {
		t.Fatalf("SubmitForm: %v", err)
	}
	if _, err := s.Follow(ctx, home, "a#nowhere"); connector.KindOf(err) != connector.KindLayoutChanged {
		t.Errorf("Follow of a missing link: %v", err)
	}
}
