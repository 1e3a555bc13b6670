package greenbutton

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zones of the LocalTimeParameters tests, on any host

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
)

// rounded is v as written with the default decimals and read back.
func rounded(v float64) float64 {
	return float64(int64(math.Round(v*1e6))) / 1e6
}

func roundedPtr(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := rounded(*v)
	return &r
}

// billKey identifies a bill by its period.
type billKey struct{ start, end int64 }

// rtBill is what of a bill survives the round trip.
type rtBill struct {
	Total              *float64
	KWh, Therm         *float64
	DueDate, Statement *int64
}

// roundTrip writes a, parses the feed back and returns the accounts.
func roundTrip(t *testing.T, a connector.Account, opt WriteOptions) ([]connector.Account, []byte, WriteStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := WriteAccount(context.Background(), &buf, a, opt)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	f, err := ParseXML(context.Background(), bytes.NewReader(buf.Bytes()), Options{})
	if err != nil {
		t.Fatalf("parse written feed: %v\n%s", err, head(buf.Bytes()))
	}
	accts, err := f.Accounts(AccountOptions{})
	if err != nil {
		t.Fatalf("accounts of written feed: %v", err)
	}
	checkAccounts(t, accts)
	return accts, buf.Bytes(), st
}

func head(b []byte) string {
	if len(b) > 3000 {
		b = b[:3000]
	}
	return string(b)
}

// checkRoundTrip compares the account written with the accounts read back:
// per meter type, the meters' intervals in order (usage rounded to the
// written decimals), and the bills by period.
func checkRoundTrip(t *testing.T, orig connector.Account, got []connector.Account) {
	t.Helper()
	want := map[gridlink.MeterType][][]gridlink.Interval{}
	for _, m := range orig.Meters {
		var ivs []gridlink.Interval
		for _, iv := range orig.Intervals[m.ExternalID] {
			ivs = append(ivs, gridlink.Interval{Start: iv.Start, End: iv.End, Usage: rounded(iv.Usage)})
		}
		want[m.Type] = append(want[m.Type], ivs)
	}
	have := map[gridlink.MeterType][][]gridlink.Interval{}
	for _, a := range got {
		for _, m := range a.Meters {
			have[m.Type] = append(have[m.Type], a.Intervals[m.ExternalID])
		}
	}
	for _, typ := range []gridlink.MeterType{gridlink.Electric, gridlink.Gas} {
		w, h := want[typ], have[typ]
		// A meter without readings comes back as no meter.
		var wNonEmpty [][]gridlink.Interval
		for _, ivs := range w {
			if len(ivs) > 0 {
				wNonEmpty = append(wNonEmpty, ivs)
			}
		}
		if len(wNonEmpty) != len(h) {
			t.Errorf("%s: %d meters with readings written, %d read back", typ, len(wNonEmpty), len(h))
			continue
		}
		for i := range h {
			if diff := cmp.Diff(wNonEmpty[i], h[i]); diff != "" {
				t.Errorf("%s meter %d: intervals differ (-written +read):\n%s", typ, i, firstLines(diff, 40))
			}
		}
	}

	hasElec, hasGas := false, false
	for _, m := range orig.Meters {
		hasElec = hasElec || m.Type == gridlink.Electric
		hasGas = hasGas || m.Type == gridlink.Gas
	}
	wantBills := map[billKey]rtBill{}
	for _, b := range orig.Bills {
		if b.StartDate == nil || b.EndDate == nil {
			continue
		}
		total := b.TotalCharges
		if total == nil {
			total = b.TotalAmountDue
		}
		v := rtBill{Total: total, DueDate: b.DueDate, Statement: b.StatementDate}
		switch {
		case hasElec:
			v.KWh = roundedPtr(b.ElectricKWh)
			if hasGas {
				v.Therm = roundedPtr(b.GasTherm)
			}
		case hasGas:
			v.Therm = roundedPtr(b.GasTherm)
		case b.ElectricKWh != nil:
			v.KWh = roundedPtr(b.ElectricKWh)
		default:
			v.Therm = roundedPtr(b.GasTherm)
		}
		wantBills[billKey{*b.StartDate, *b.EndDate}] = v
	}
	haveBills := map[billKey]rtBill{}
	for _, a := range got {
		for _, b := range a.Bills {
			k := billKey{*b.StartDate, *b.EndDate}
			v := haveBills[k]
			if b.TotalCharges != nil {
				v.Total = b.TotalCharges
				if b.TotalAmountDue == nil || *b.TotalAmountDue != *b.TotalCharges {
					t.Errorf("bill %v: amount due %v, total %v", k, b.TotalAmountDue, *b.TotalCharges)
				}
			}
			if b.ElectricKWh != nil {
				v.KWh = b.ElectricKWh
			}
			if b.GasTherm != nil {
				v.Therm = b.GasTherm
			}
			if b.DueDate != nil {
				v.DueDate = b.DueDate
			}
			if b.StatementDate != nil {
				v.Statement = b.StatementDate
			}
			haveBills[k] = v
		}
	}
	if diff := cmp.Diff(wantBills, haveBills, cmp.AllowUnexported(billKey{})); diff != "" {
		t.Errorf("bills differ (-written +read):\n%s", firstLines(diff, 40))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
}

func sandboxAccounts(t testing.TB) []connector.Account {
	t.Helper()
	sb := sandbox.NewPelm(sandbox.Config{})
	now := time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)
	data, err := sb.Fetch(context.Background(), connector.FetchRequest{
		Credentials: connector.Credentials{Username: sandbox.PelmUser, Password: sandbox.Password},
		Now:         now,
	})
	if err != nil {
		t.Fatalf("sandbox fetch: %v", err)
	}
	return data.Accounts
}

// TestWriteRoundTripSandbox: the Pelm sandbox user's accounts (hourly
// electric, daily gas, monthly bills with due and statement dates) come
// back from the written feed exactly.
func TestWriteRoundTripSandbox(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range sandboxAccounts(t) {
		t.Run(a.Number, func(t *testing.T) {
			got, doc, st := roundTrip(t, a, WriteOptions{Location: la, Updated: time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)})
			checkRoundTrip(t, a, got)
			n := 0
			for _, ivs := range a.Intervals {
				n += len(ivs)
			}
			if st.Readings != n || st.Skipped != 0 || st.Bills != len(a.Bills) || st.SkippedBills != 0 {
				t.Errorf("stats %+v, want %d readings and %d bills", st, n, len(a.Bills))
			}
			if n < 9000 || len(a.Bills) < 12 {
				t.Fatalf("sandbox account %d has only %d readings and %d bills", i, n, len(a.Bills))
			}
			// The sandbox has no solar: no received series.
			if bytes.Contains(doc, []byte("<espi:flowDirection>19<")) {
				t.Error("received series written for an account without negative usage")
			}
		})
	}
}

// TestWriteRoundTripNetMetering covers signed usage (net export), zero
// usage, mixed interval lengths, gaps, a DST day, more decimals than
// written, and a bills-only account.
func TestWriteRoundTripNetMetering(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2025, 11, 1, 0, 0, 0, 0, la).Unix() // DST ends on Nov 2
	var elec []gridlink.Interval
	for i := range 3 * 24 * 4 {
		s := day + int64(i)*900
		u := math.Sin(float64(i)/10) * 1.5 // negative around midday-like phases
		switch {
		case i%37 == 0:
			u = 0
		case i%11 == 0:
			u = 0.1234567 // more than six decimals: rounded
		}
		if i >= 100 && i < 104 {
			continue // a gap
		}
		elec = append(elec, gridlink.Interval{Start: s, End: s + 900, Usage: u})
	}
	last := elec[len(elec)-1].End
	for i := range 48 { // then hourly data
		s := last + int64(i)*3600
		elec = append(elec, gridlink.Interval{Start: s, End: s + 3600, Usage: float64(i%7) - 3.25})
	}
	start, end := day, day+30*86400
	total, kwh, due := 123.45, -17.5, end+20*86400
	bill := connector.Bill{Bill: gridlink.Bill{ExternalID: "b1", StartDate: &start, EndDate: &end, TotalCharges: &total, TotalAmountDue: &total, ElectricKWh: &kwh, DueDate: &due}}
	noDates := connector.Bill{Bill: gridlink.Bill{ExternalID: "b2", TotalCharges: &total}}

	tests := []struct {
		name string
		acct connector.Account
	}{
		{"solar", connector.Account{
			Account:   gridlink.Account{ID: "acct-1", ExternalID: "x", Number: "123", Meters: []gridlink.Meter{{ID: "m1", ExternalID: "e", Type: gridlink.Electric}}},
			Intervals: map[string][]gridlink.Interval{"e": elec},
			Bills:     []connector.Bill{bill, noDates},
		}},
		{"bills only", connector.Account{
			Account: gridlink.Account{ExternalID: "acct/with/slashes", Number: "9"},
			Bills:   []connector.Bill{bill},
		}},
		{"meter without readings", connector.Account{
			Account: gridlink.Account{ExternalID: "y", Meters: []gridlink.Meter{{ExternalID: "g", Type: gridlink.Gas}}},
			Bills:   []connector.Bill{bill},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, doc, _ := roundTrip(t, tt.acct, WriteOptions{Location: la})
			checkRoundTrip(t, tt.acct, got)
			if tt.name == "solar" && !bytes.Contains(doc, []byte("<espi:flowDirection>19<")) {
				t.Error("no received series for negative usage")
			}
		})
	}
}

// TestWriteRoundTripFiles: every shared file, parsed to accounts, written
// and parsed again, gives the same intervals and bills.
func TestWriteRoundTripFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every shared file")
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".xml") && !strings.HasSuffix(name, ".csv") {
			continue
		}
		files++
		t.Run(name, func(t *testing.T) {
			accts, err := parseFile(t, name).Accounts(AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range accts {
				got, _, _ := roundTrip(t, a, WriteOptions{Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
				checkRoundTrip(t, a, got)
			}
		})
	}
	if files < 30 {
		t.Fatalf("only %d shared files found", files)
	}
}

// TestWriteWellFormed checks the XML itself: well-formed, the Atom and
// ESPI namespaces, entries with unique urn:uuid ids, a title, timestamps
// and a self link, and output that is the same on every run.
func TestWriteWellFormed(t *testing.T) {
	a := sandboxAccounts(t)[0]
	opt := WriteOptions{BaseURL: "https://gridlink.example.com/", Updated: time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)}
	var one, two bytes.Buffer
	if _, err := WriteAccount(context.Background(), &one, a, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAccount(context.Background(), &two, a, opt); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Error("two writes of the same account differ")
	}
	const atom, espi = "http://www.w3.org/2005/Atom", "http://naesb.org/espi"
	d := xml.NewDecoder(bytes.NewReader(one.Bytes())) // strict
	uuidRE := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	var stack []xml.Name
	type entryInfo struct {
		id, title, published, updated, self string
		resources                           []string
	}
	var cur *entryInfo
	var text strings.Builder
	kinds := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tk.Name)
			text.Reset()
			switch {
			case len(stack) == 1:
				if tk.Name != (xml.Name{Space: atom, Local: "feed"}) {
					t.Fatalf("root %v, want Atom feed", tk.Name)
				}
			case len(stack) == 2 && tk.Name.Local == "entry":
				if tk.Name.Space != atom {
					t.Errorf("entry in namespace %q", tk.Name.Space)
				}
				cur = &entryInfo{}
			case len(stack) == 3 && cur != nil && tk.Name.Local == "link":
				var rel, href string
				for _, at := range tk.Attr {
					switch at.Name.Local {
					case "rel":
						rel = at.Value
					case "href":
						href = at.Value
					}
				}
				if !strings.HasPrefix(href, "https://gridlink.example.com/espi/1_1/resource/") {
					t.Errorf("href %q not under the base URL", href)
				}
				if rel == "self" {
					cur.self = href
				}
			case len(stack) == 4 && stack[2].Local == "content":
				if tk.Name.Space != espi {
					t.Errorf("content element %v not in the ESPI namespace", tk.Name)
				}
				cur.resources = append(cur.resources, tk.Name.Local)
				kinds[tk.Name.Local]++
			case len(stack) > 4:
				if tk.Name.Space != espi {
					t.Errorf("element %v inside ESPI content not in the ESPI namespace", tk.Name)
				}
			}
		case xml.CharData:
			text.Write(tk)
		case xml.EndElement:
			if cur != nil && len(stack) == 3 {
				switch tk.Name.Local {
				case "id":
					cur.id = text.String()
				case "title":
					cur.title = text.String()
				case "published":
					cur.published = text.String()
				case "updated":
					cur.updated = text.String()
				}
			}
			if len(stack) == 2 && cur != nil {
				if !uuidRE.MatchString(cur.id) || ids[cur.id] {
					t.Errorf("entry id %q malformed or repeated", cur.id)
				}
				ids[cur.id] = true
				if cur.published != "2026-03-15T10:30:00Z" || cur.updated != cur.published || cur.self == "" || len(cur.resources) != 1 {
					t.Errorf("entry %+v lacks published, updated, a self link or one resource", *cur)
				}
				if cur.title == "" && cur.resources[0] != "IntervalBlock" {
					t.Errorf("entry %s without title", cur.self)
				}
				cur = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	want := map[string]int{"LocalTimeParameters": 1, "UsagePoint": 2, "MeterReading": 2, "ReadingType": 2, "UsageSummary": 2 * len(a.Bills)}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s resources, want %d", kinds[k], k, n)
		}
	}
	if kinds["IntervalBlock"] < 365 {
		t.Errorf("%d IntervalBlocks, want one per day", kinds["IntervalBlock"])
	}
}

// TestLocalTimeOf: the LocalTimeParameters written for a zone give its
// offset at every hour of three years when read back, and North American
// zones get the rules utilities write.
func TestLocalTimeOf(t *testing.T) {
	tests := []struct {
		zone       string
		start, end uint32 // 0: not checked
	}{
		{"America/Los_Angeles", 0x360E2000, 0xB40E2000},
		{"America/New_York", 0x360E2000, 0xB40E2000},
		{"Europe/Berlin", 0x3E0E2000, 0xAE0E3000},
		{"Australia/Sydney", 0, 0},
		{"America/St_Johns", 0, 0}, // half-hour offset
		{"Asia/Kolkata", 0xFFFFFFFF, 0xFFFFFFFF},
		{"UTC", 0xFFFFFFFF, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			a := connector.Account{
				Account:   gridlink.Account{ExternalID: "a", Meters: []gridlink.Meter{{ExternalID: "e", Type: gridlink.Electric}}},
				Intervals: map[string][]gridlink.Interval{"e": {{Start: 1735689600, End: 1735693200, Usage: 1}}},
			}
			var buf bytes.Buffer
			if _, err := WriteAccount(context.Background(), &buf, a, WriteOptions{Location: loc, Updated: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
				t.Fatal(err)
			}
			f, err := ParseXML(context.Background(), &buf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			lt := f.UsagePoints[0].LocalTime
			if lt == nil {
				t.Fatal("usage point has no LocalTimeParameters")
			}
			if tt.start != 0 && (lt.DSTStartRule != tt.start || lt.DSTEndRule != tt.end) {
				t.Errorf("rules %08X/%08X, want %08X/%08X", lt.DSTStartRule, lt.DSTEndRule, tt.start, tt.end)
			}
			from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			bad := 0
			for h := 0; h < 3*366*24; h++ {
				at := from.Add(time.Duration(h) * time.Hour)
				_, want := at.In(loc).Zone()
				if got := lt.Offset(at); got != int64(want) {
					if bad++; bad <= 3 {
						t.Errorf("offset at %v: %d, want %d", at, got, want)
					}
				}
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorsAndSkips(t *testing.T) {
	good := func() connector.Account {
		return connector.Account{
			Account: gridlink.Account{ExternalID: "a", Meters: []gridlink.Meter{{ExternalID: "e", Type: gridlink.Electric}}},
			Intervals: map[string][]gridlink.Interval{"e": {
				{Start: 3600, End: 7200, Usage: 1},
				{Start: 5400, End: 9000, Usage: 2}, // overlaps: skipped
				{Start: 9000, End: 9000, Usage: 3}, // empty: skipped
				{Start: 9000, End: 12600, Usage: 4},
			}},
		}
	}
	t.Run("skips", func(t *testing.T) {
		got, _, st := roundTrip(t, good(), WriteOptions{})
		if st.Readings != 2 || st.Skipped != 2 {
			t.Errorf("stats %+v, want 2 readings and 2 skipped", st)
		}
		want := []gridlink.Interval{{Start: 3600, End: 7200, Usage: 1}, {Start: 9000, End: 12600, Usage: 4}}
		if diff := cmp.Diff(want, got[0].Intervals[got[0].Meters[0].ExternalID]); diff != "" {
			t.Errorf("intervals (-want +got):\n%s", diff)
		}
	})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	errBoom := errors.New("store failed")
	tests := []struct {
		name string
		ctx  context.Context
		w    io.Writer
		e    func() Export
		opt  WriteOptions
		is   error
		msg  string
	}{
		{name: "NaN", e: func() Export {
			a := good()
			a.Intervals["e"][0].Usage = math.NaN()
			return ExportOf(a)
		}, msg: "not a finite number"},
		{name: "too large", e: func() Export {
			a := good()
			a.Intervals["e"][0].Usage = 1e9
			return ExportOf(a)
		}, msg: "too large"},
		{name: "meter type", e: func() Export {
			a := good()
			a.Meters[0].Type = "WATER"
			return ExportOf(a)
		}, msg: "not ELECTRIC or GAS"},
		{name: "decimals", e: func() Export { return ExportOf(good()) }, opt: WriteOptions{Decimals: 12}, msg: "decimals"},
		{name: "cancelled", ctx: cancelled, e: func() Export { return ExportOf(good()) }, is: context.Canceled},
		{name: "source error", e: func() Export {
			e := ExportOf(good())
			e.Intervals = func(context.Context, gridlink.Meter, func(gridlink.Interval) error) error { return errBoom }
			return e
		}, is: errBoom},
		{name: "write error", w: failWriter{}, e: func() Export { return ExportOf(good()) }, msg: "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			w := tt.w
			if w == nil {
				w = io.Discard
			}
			_, err := WriteFeed(ctx, w, tt.e(), tt.opt)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return len(p), nil
}

// TestWriteStreams: output leaves the writer while the readings are still
// being produced, so a long history is never held whole.
func TestWriteStreams(t *testing.T) {
	var out countingWriter
	const n = 4 * 24 * 365
	seenWhileStreaming := 0
	e := Export{
		Account: gridlink.Account{ExternalID: "a", Meters: []gridlink.Meter{{ExternalID: "e", Type: gridlink.Electric}}},
		Intervals: func(ctx context.Context, m gridlink.Meter, fn func(gridlink.Interval) error) error {
			for i := range n {
				if i == n/2 {
					seenWhileStreaming = out.n
				}
				s := int64(1735689600 + i*900)
				if err := fn(gridlink.Interval{Start: s, End: s + 900, Usage: float64(i%100) / 100}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	st, err := WriteFeed(context.Background(), &out, e, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Readings != n {
		t.Errorf("%d readings written, want %d", st.Readings, n)
	}
	if seenWhileStreaming < out.n/3 {
		t.Errorf("only %d of %d bytes written half way through the readings", seenWhileStreaming, out.n)
	}
}

// BenchmarkWriteFeed writes a year of 15-minute electric readings, daily
// gas and twelve bills.
func BenchmarkWriteFeed(b *testing.B) {
	start := int64(1735689600)
	elec := make([]gridlink.Interval, 4*24*365)
	for i := range elec {
		s := start + int64(i)*900
		elec[i] = gridlink.Interval{Start: s, End: s + 900, Usage: float64(i%1000) / 1000}
	}
	gas := make([]gridlink.Interval, 365)
	for i := range gas {
		s := start + int64(i)*86400
		gas[i] = gridlink.Interval{Start: s, End: s + 86400, Usage: 1.5 + float64(i%10)/1000}
	}
	var bills []connector.Bill
	for m := range 12 {
		s := time.Date(2025, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC).Unix()
		e := time.Date(2025, time.Month(m+2), 1, 0, 0, 0, 0, time.UTC).Unix()
		total, kwh, therm := 123.45, 700.125, 45.5
		bills = append(bills, connector.Bill{Bill: gridlink.Bill{StartDate: &s, EndDate: &e, TotalCharges: &total, ElectricKWh: &kwh, GasTherm: &therm}})
	}
	a := connector.Account{
		Account:   gridlink.Account{ID: "a", ExternalID: "a", Meters: []gridlink.Meter{{ID: "e", ExternalID: "e", Type: gridlink.Electric}, {ID: "g", ExternalID: "g", Type: gridlink.Gas}}},
		Intervals: map[string][]gridlink.Interval{"e": elec, "g": gas},
		Bills:     bills,
	}
	var out countingWriter
	if _, err := WriteAccount(context.Background(), &out, a, WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(out.n))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := WriteAccount(context.Background(), io.Discard, a, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(elec)+len(gas))*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
