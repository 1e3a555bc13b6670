package greenbutton

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseCSVString(t *testing.T, doc string, opt Options) (*Feed, error) {
	t.Helper()
	return ParseCSV(context.Background(), strings.NewReader(doc), opt)
}

// span is a reading's start, duration and value, for comparisons.
type span struct {
	Start    int64
	Duration int32
	Value    int64
}

func spans(rs []Reading) []span {
	out := make([]span, len(rs))
	for i, r := range rs {
		out[i] = span{r.Start, r.Duration, r.Value}
	}
	return out
}

func findSpans(rs []Reading, from, to int64) []span {
	var out []span
	for _, r := range rs {
		if r.Start >= from && r.Start < to {
			out = append(out, span{r.Start, r.Duration, r.Value})
		}
	}
	return out
}

func TestCSVPreamble(t *testing.T) {
	tests := []struct {
		file                       string
		href, account, address, mt string
	}{
		{"peco-opower-csv-hourly-2013-2014.csv", "opower:9999999999", "9999999999", "XXXXXXXXXXXXXX, NORRISTOWN, PA 19403", ""},
		{"sdge-csv-hourly-2022-11.csv", "sdge:00000000", "0000000000", "0000 0th AVENUE San Diego CA 92101", "00000000"},
		// The first 8 bytes of SHA-256("Someplace served by SCE").
		{"sce-csv-solar-billing-plan-15min-1day-2024-05.csv", "sce:" + sceDigest("Someplace served by SCE"), "", "Someplace served by SCE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			u := parseFile(t, tt.file).UsagePoints[0]
			got := [5]string{u.Href, u.AccountNumber, u.Address, u.MeterNumber, u.Kind.String()}
			if want := [5]string{tt.href, tt.account, tt.address, tt.mt, "electricity"}; got != want {
				t.Errorf("usage point %q, want %q", got, want)
			}
		})
	}
}

func sceDigest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func TestCSVCosts(t *testing.T) {
	// awk over the COST column: $643.25, one empty cell (2013-05-30
	// 00:00 EDT, line 1422).
	s := parseFile(t, "peco-opower-csv-hourly-2013-2014.csv").UsagePoints[0].Series[0]
	var sum int64
	var noCost []int64
	for _, r := range s.Readings {
		if !r.HasCost {
			noCost = append(noCost, r.Start)
		}
		sum += r.Cost
	}
	if sum != 64325000 {
		t.Errorf("costs add up to %d hundred-thousandths, want 64325000", sum)
	}
	if !cmp.Equal(noCost, []int64{1369886400}) {
		t.Errorf("readings without cost at %v, want [1369886400]", noCost)
	}
	// Second row: "01:00,01:59,1.00,kWh,$0.13".
	if r := s.Readings[1]; r.Start != 1364792400 || r.Duration != 3600 || r.Value != 1000000 || r.Cost != 13000 {
		t.Errorf("second reading %+v", r)
	}
}

func TestCSVDaylightSaving(t *testing.T) {
	t.Run("SDG&E fall-back hour written twice", func(t *testing.T) {
		s := parseFile(t, "sdge-csv-hourly-2022-11.csv").UsagePoints[0].Series[0]
		// 2022-11-06: 12:00 AM PDT (07:00Z), 1:00 AM PDT (08:00Z) 0.57,
		// 1:00 AM PST (09:00Z) 0.56, 2:00 AM PST (10:00Z) 0.725.
		got := findSpans(s.Readings, 1667718000, 1667732400)
		want := []span{{1667718000, 3600, 775000}, {1667721600, 3600, 570000}, {1667725200, 3600, 560000}, {1667728800, 3600, 725000}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("readings (-want +got):\n%s", diff)
		}
	})
	t.Run("SDG&E spring-forward gap", func(t *testing.T) {
		s := parseFile(t, "sdge-csv-15min-2025-q1.csv").UsagePoints[0].Series[0]
		// 2025-03-09: 1:45 AM PST (09:45Z) is followed by 3:00 AM PDT (10:00Z).
		got := findSpans(s.Readings, 1741513500, 1741514401)
		want := []span{{1741513500, 900, 1270000}, {1741514400, 900, 755000}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("readings (-want +got):\n%s", diff)
		}
	})
	t.Run("SCE quarter-hours across both changes", func(t *testing.T) {
		doc := "Energy Usage Information\r\n\"For location: TEST\"\r\n\r\n" +
			"Energy\u00a0 Delivered time period,Usage\u00a0Delivered(Real energy in kilowatt-hours),Reading quality\r\n" +
			"\"2022-11-06 01:30:00\u00a0 to 2022-11-06 01:45:00\",\"0.1\",\"\"\r\n" +
			"\"2022-11-06 01:45:00\u00a0 to 2022-11-06 02:00:00\",\"0.2\",\"\"\r\n" +
			"\"2022-11-06 01:00:00\u00a0 to 2022-11-06 01:15:00\",\"0.3\",\"\"\r\n" +
			"\"2023-03-12 01:45:00\u00a0 to 2023-03-12 03:00:00\",\"0.4\",\"\"\r\n" +
			"\"2023-03-12 03:00:00\u00a0 to 2023-03-12 03:15:00\",\"0.5\",\"\"\r\n"
		f, err := parseCSVString(t, doc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := spans(f.UsagePoints[0].Series[0].Readings)
		want := []span{
			{1667723400, 900, 100000}, // 01:30 PDT = 08:30Z
			{1667724300, 900, 200000}, // 01:45 PDT; ends at 01:00 PST
			{1667725200, 900, 300000}, // 01:00 PST = 09:00Z
			{1678614300, 900, 400000}, // 01:45 PST = 09:45Z, to 03:00 PDT
			{1678615200, 900, 500000}, // 03:00 PDT = 10:00Z
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("readings (-want +got):\n%s", diff)
		}
	})
	t.Run("Opower daily rows last 23 and 25 hours", func(t *testing.T) {
		doc := "Name,X\nAddress,\"1 MAIN ST, BOSTON, MA 02108\"\nAccount Number,42\n\n" +
			"TYPE,DATE,USAGE,UNITS,COST,NOTES\n" +
			"Natural gas usage,2024-03-09,1.00,therms,$1.50,\n" +
			"Natural gas usage,2024-03-10,2.00,therms,$3.00,\n" +
			"Natural gas usage,2024-11-03,3.00,therms,$4.50,\n"
		f, err := parseCSVString(t, doc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		u := f.UsagePoints[0]
		if u.Kind != ServiceGas || u.Series[0].ReadingType.UOM != UOMTherm {
			t.Fatalf("usage point %+v", u)
		}
		got := spans(u.Series[0].Readings)
		want := []span{{1709960400, 86400, 1000000}, {1710046800, 82800, 2000000}, {1730606400, 90000, 3000000}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("readings (-want +got):\n%s", diff)
		}
		accts, err := f.Accounts(AccountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := sumUsage(accts[0].Intervals["opower:42"+GasMeterSuffix]); got != "6" {
			t.Errorf("gas total %s therms, want 6", got)
		}
	})
}

func TestCSVNetMeteringColumns(t *testing.T) {
	doc := "Name,X\nAddress,\"1 MAIN ST, OAKLAND CA 94612\"\nAccount Number,7\n\n" +
		"TYPE,DATE,START TIME,END TIME,IMPORT (kWh),EXPORT (kWh),NOTES\n" +
		"Electric usage,2024-06-01,12:00,12:14,0.10,0.50,\n" +
		"Electric usage,2024-06-01,12:15,12:29,0.30,0.00,\n"
	f, err := parseCSVString(t, doc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := f.UsagePoints[0]
	if len(u.Series) != 2 || u.Series[1].ReadingType.FlowDirection != FlowReverse {
		t.Fatalf("series %+v", u.Series)
	}
	accts, err := f.Accounts(AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ivs := accts[0].Intervals["opower:7"+ElectricMeterSuffix]
	// 12:00 PDT = 19:00Z.
	if len(ivs) != 2 || ivs[0].Start != 1717268400 || ivs[0].End != 1717269300 || ivs[0].Usage != -0.4 || ivs[1].Usage != 0.3 {
		t.Errorf("intervals %+v", ivs)
	}
}

func TestCSVLocation(t *testing.T) {
	doc := "TYPE,DATE,START TIME,END TIME,USAGE,UNITS,COST,NOTES\nElectric usage,2024-01-02,00:00,00:59,1.25,kWh,,\n"
	_, err := parseCSVString(t, doc, Options{})
	if !errors.Is(err, ErrNoLocation) {
		t.Fatalf("error %v, want ErrNoLocation", err)
	}
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseCSVString(t, doc, Options{Location: chicago})
	if err != nil {
		t.Fatal(err)
	}
	// 2024-01-02 00:00 CST = 06:00Z.
	if got := spans(f.UsagePoints[0].Series[0].Readings); !cmp.Equal(got, []span{{1704175200, 3600, 1250000}}) {
		t.Errorf("readings %v", got)
	}
}

func TestCSVErrors(t *testing.T) {
	sdge := "Account Number,1\nMeter Number,2\nUOM,kWh\nMeter Number,Date,Start Time,Duration,Consumption,Generation,Net\n"
	opower := "Address,\"1 A ST, AUSTIN, TX 78701\"\nTYPE,DATE,START TIME,END TIME,USAGE,UNITS,COST,NOTES\n"
	sce := "Energy  Delivered time period,Usage Delivered(Real energy in kilowatt-hours),Reading quality\n"
	tests := []struct {
		name string
		doc  string
		opt  Options
		line int
		is   error
		msg  string
	}{
		{name: "not Green Button", doc: "a,b,c\n1,2,3\n", is: ErrNotGreenButton},
		{name: "empty", doc: "\n\n", is: ErrNotGreenButton},
		{name: "SDG&E bad date", doc: sdge + `"2","13/45/2022","1:00 AM","60","1.0","",""` + "\n", line: 5, msg: "date"},
		{name: "SDG&E bad time", doc: sdge + `"2","1/5/2022","25:00","60","1.0","",""` + "\n", line: 5, msg: "time"},
		{name: "SDG&E zero duration", doc: sdge + `"2","1/5/2022","1:00 AM","0","1.0","",""` + "\n", line: 5, msg: "duration"},
		{name: "SDG&E bad number", doc: sdge + `"2","1/5/2022","1:00 AM","60","1,0x","",""` + "\n", line: 5, msg: "consumption"},
		{name: "Opower unknown unit", doc: opower + "Electric usage,2024-01-02,00:00,00:59,1.25,furlongs,,\n", line: 3, msg: "unit"},
		{name: "Opower start without end", doc: opower + "Electric usage,2024-01-02,00:00,,1.25,kWh,,\n", line: 3, msg: "END TIME"},
		{name: "Opower bad cost", doc: opower + "Electric usage,2024-01-02,00:00,00:59,1.25,kWh,$1.2.3,\n", line: 3, msg: "cost"},
		{name: "SCE bad value", doc: sce + "2024-05-22 00:00:00 to 2024-05-22 00:15:00,abc,\n", line: 2, msg: "usage"},
		{name: "SCE end before start", doc: sce + "2024-05-22 00:15:00 to 2024-05-22 00:00:00,1,\n", line: 2, msg: "end"},
		{name: "SCE bad date", doc: sce + "2024-05-32 00:00:00 to 2024-05-22 00:15:00,1,\n", line: 2, msg: "start"},
		{name: "quote", doc: sdge + "\"2\",\"1/5/2022\",\"1:00 AM\"x\"60\n", line: 0, msg: "csv"},
		{name: "too large", doc: opower + strings.Repeat("Electric usage,2024-01-02,00:00,00:59,1.25,kWh,,\n", 100), opt: Options{MaxBytes: 500}, is: ErrTooLarge},
		{name: "too many readings", doc: opower + strings.Repeat("Electric usage,2024-01-02,00:00,00:59,1.25,kWh,,\n", 5), opt: Options{MaxReadings: 3}, line: 6, is: ErrTooManyReadings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseCSVString(t, tt.doc, tt.opt)
			if err == nil {
				t.Fatalf("no error; feed %+v", f)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if tt.line != 0 && pe.Line != tt.line {
				t.Errorf("error %q at line %d, want %d", err, pe.Line, tt.line)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestParseSniffs(t *testing.T) {
	for _, tt := range []struct{ file, format string }{
		{"sdge-csv-hourly-2022-11.csv", FormatSDGECSV},
		{"pacificpower-electric-hourly-1day-2023-03.xml", FormatESPI},
		{"hydroone-electric-daily-tou-2025-12.xml", FormatESPI}, // BOM, one line
		{"sce-csv-solar-billing-plan-15min-1day-2024-05.csv", FormatSCECSV},
	} {
		if f := parseFile(t, tt.file); f.Format != tt.format {
			t.Errorf("%s: format %q, want %q", tt.file, f.Format, tt.format)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in     string
		digits int
		want   int64
		bad    bool
	}{
		{"0.380", 6, 380000, false},
		{"1,234.5", 6, 1234500000, false},
		{"-0.5", 6, -500000, false},
		{".25", 2, 25, false},
		{"0.0000015", 6, 2, false}, // rounds half away from zero
		{"-0.0000015", 6, -2, false},
		{"1324.19000000002", 6, 1324190000, false},
		{"", 6, 0, true},
		{"1e3", 6, 0, true},
		{"99999999999999", 6, 0, true},
		{"-", 6, 0, true},
	}
	for _, tt := range tests {
		got, err := parseDecimal(tt.in, tt.digits)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseDecimal(%q, %d) = %d, %v; want %d, error %v", tt.in, tt.digits, got, err, tt.want, tt.bad)
		}
	}
}
