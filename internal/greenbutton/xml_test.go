package greenbutton

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

func parseXMLString(t *testing.T, doc string, opt Options) (*Feed, error) {
	t.Helper()
	return ParseXML(context.Background(), strings.NewReader(doc), opt)
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		rt   ReadingType
		raw  int64
		want float64
		unit string
	}{
		{"Wh multiplier 0", ReadingType{UOM: UOMWh}, 282, 0.282, "kWh"},
		{"Wh multiplier 3 (kWh)", ReadingType{UOM: UOMWh, PowerOfTenMultiplier: 3}, 720, 720, "kWh"},
		{"Wh multiplier -3 (mWh)", ReadingType{UOM: UOMWh, PowerOfTenMultiplier: -3}, 1234567, 1.234567, "kWh"},
		{"negative Wh", ReadingType{UOM: UOMWh}, -43, -0.043, "kWh"},
		{"therm multiplier -3", ReadingType{UOM: UOMTherm, PowerOfTenMultiplier: -3}, 85263, 85.263, "therm"},
		{"demand W", ReadingType{UOM: UOMWatt}, 8300, 8.3, "kW"},
		{"m3 multiplier -3 stays m3", ReadingType{UOM: UOMCubicMetre, PowerOfTenMultiplier: -3}, 47000, 47, "m3"},
		{"kelvin multiplier -3", ReadingType{UOM: UOMKelvin, PowerOfTenMultiplier: -3}, 270600, 270.6, "K"},
		{"gallons multiplier 3", ReadingType{UOM: UOMUSGallon, PowerOfTenMultiplier: 3}, 27291, 27291000, "gal"},
		// Beyond 2^53 the conversion goes through big.Rat and still
		// rounds once: 9007199254740993 Wh = 9007199254740.993 kWh.
		{"large value", ReadingType{UOM: UOMWh}, 9007199254740993, 9007199254740.993, "kWh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unit := tt.rt.Convert(tt.raw)
			if got != tt.want || unit != tt.unit {
				t.Errorf("Convert(%d) = %v %s, want %v %s", tt.raw, got, unit, tt.want, tt.unit)
			}
		})
	}
}

func TestReadingTypeDecoding(t *testing.T) {
	// The PG&E ReadingType feed: 48 entries, 12 distinct combinations of
	// uom 72/73, flowDirection 1/19 and intervalLength 300/900/3600.
	f := parseFile(t, "pge-api-readingtype-feed-2015.xml")
	if len(f.ReadingTypes) != 48 {
		t.Fatalf("%d ReadingTypes, want 48", len(f.ReadingTypes))
	}
	type combo struct {
		uom, flow int
		length    int64
	}
	seen := map[combo]int{}
	for _, rt := range f.ReadingTypes {
		seen[combo{rt.UOM, rt.FlowDirection, rt.IntervalLength}]++
		if rt.PowerOfTenMultiplier != 3 || rt.Commodity != 1 || rt.Accumulation != 4 || rt.DefaultQuality != 17 {
			t.Errorf("ReadingType %q: %+v", rt.Href, rt)
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct combinations, want 12: %v", len(seen), seen)
	}
	want := ReadingType{
		Href: "ReadingType/07", Title: "Type of Meter Reading Data", UOM: 72, IntervalLength: 900, FlowDirection: 1,
		Accumulation: 4, Commodity: 1, Kind: 12, Currency: 840, DataQualifier: 12, Phase: 769,
	}
	g := parseFile(t, "gba-openespi-test-usage-data-15min-2012-03.xml")
	if diff := cmp.Diff(want, *g.UsagePoints[0].Series[0].ReadingType); diff != "" {
		t.Errorf("ReadingType (-want +got):\n%s", diff)
	}
}

func TestLocalTimeParameters(t *testing.T) {
	tests := []struct {
		file string
		want LocalTimeParameters
		// DST start and end in 2012 when the rules are usable.
		start, end int64
	}{
		{"gba-openespi-test-usage-data-15min-2012-03.xml",
			LocalTimeParameters{Href: "LocalTimeParameters/01", Title: "DST For North America", TZOffset: -18000, DSTOffset: 3600, DSTStartRule: 0x360E2000, DSTEndRule: 0xB40E2000},
			1331449200, 1352008800}, // 2012-03-11 07:00Z and 2012-11-04 06:00Z
		{"pge-api-hourly-1day-2019.xml",
			LocalTimeParameters{Href: "LocalTimeParameters/1", Title: "DST FOR PACIFIC TIMEZONE", TZOffset: -28800, DSTOffset: 3600, DSTStartRule: 0x360E2000, DSTEndRule: 0xB40E2000},
			1331460000, 1352019600},
		// BC Hydro writes +28800 for UTC-8: reported as written.
		{"bchydro-electric-hourly-2018-03.xml",
			LocalTimeParameters{Href: "Subscription/1/UsagePoint/1/LocalTimeParameters/1", TZOffset: 28800, DSTOffset: 3600},
			0, 0},
		// Enbridge writes epoch seconds in hex instead of rules.
		{"enbridge-gas-monthly-billing-2022-2024.xml",
			LocalTimeParameters{Href: "LocalTimeParameters/002024", Title: "DST For North America", TZOffset: -18000, DSTOffset: 3600, DSTStartRule: 0x65ED5A70, DSTEndRule: 0x67271F70},
			0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := parseFile(t, tt.file)
			lt := f.UsagePoints[0].LocalTime
			if lt == nil {
				t.Fatal("usage point has no LocalTimeParameters")
			}
			got := *lt
			// BC Hydro's rules are irrelevant here; compare the rest.
			if tt.start == 0 && tt.want.DSTStartRule == 0 {
				got.DSTStartRule, got.DSTEndRule, got.Href, got.Title = 0, 0, tt.want.Href, tt.want.Title
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LocalTimeParameters (-want +got):\n%s", diff)
			}
			start, ok1 := lt.DSTStart(2012)
			end, ok2 := lt.DSTEnd(2012)
			if tt.start == 0 {
				if tt.want.DSTStartRule != 0 && (ok1 || ok2) {
					t.Errorf("DST rules %x/%x decoded as %v/%v, want unusable", lt.DSTStartRule, lt.DSTEndRule, start, end)
				}
				return
			}
			if !ok1 || !ok2 || start.Unix() != tt.start || end.Unix() != tt.end {
				t.Errorf("DST 2012 from %v to %v, want %v to %v", start, end, time.Unix(tt.start, 0).UTC(), time.Unix(tt.end, 0).UTC())
			}
			if off := lt.Offset(time.Unix(tt.start+1, 0)); off != lt.TZOffset+lt.DSTOffset {
				t.Errorf("offset after DST start %d", off)
			}
			if off := lt.Offset(time.Unix(tt.start-1, 0)); off != lt.TZOffset {
				t.Errorf("offset before DST start %d", off)
			}
		})
	}
}

func TestUsageSummaries(t *testing.T) {
	f := parseFile(t, "gba-openespi-test-usage-data-15min-2012-03.xml")
	s := f.UsagePoints[0].Summaries[0]
	if s.BillingPeriod != (Period{Start: 1330578000, Duration: 1119600}) || *s.BillLastPeriod != 15252000 ||
		*s.CostAdditionalLastPeriod != 1346000 || s.Currency != 840 || s.MoneyExponent() != -5 ||
		*s.OverallConsumptionLastPeriod != (Quantity{Value: 1298640, UOM: 72}) {
		t.Errorf("summary %+v", s)
	}
	if got := s.Money(*s.BillLastPeriod); got != 152.52 {
		t.Errorf("bill %v, want 152.52", got)
	}
	// Enbridge writes money in thousandths and says so in its line items.
	e := parseFile(t, "enbridge-gas-monthly-billing-2022-2024.xml").UsagePoints[0].Summaries
	if len(e) != 24 {
		t.Fatalf("%d Enbridge summaries, want 24", len(e))
	}
	if e[0].MoneyExponent() != -3 || e[0].Money(*e[0].BillLastPeriod) != 64.17 || len(e[0].LineItems) != 37 {
		t.Errorf("first Enbridge summary: exponent %d, bill %v, %d line items", e[0].MoneyExponent(), e[0].Money(*e[0].BillLastPeriod), len(e[0].LineItems))
	}
	items := 0
	for _, s := range e {
		items += len(s.LineItems)
	}
	if items != 894 {
		t.Errorf("%d Enbridge line items, want 894 (SOURCES.md)", items)
	}
}

func TestBills(t *testing.T) {
	f64 := func(v float64) *float64 { return &v }
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		file string
		n    int
		// first is the earliest bill.
		first billView
	}{
		{"gba-openespi-test-usage-data-15min-2012-03.xml", 1, billView{
			ID: "bill-1330578000-1119600", Start: i64(1330578000), End: i64(1331697600),
			Total: f64(152.52), Due: f64(152.52), Electric: f64(152.52), KWh: f64(1298.64)}},
		{"gba-sdk-gas-monthly-therms-2011-2012.xml", 1, billView{
			ID: "bill-1330578000-2674800", Start: i64(1330578000), End: i64(1333252800),
			Total: f64(286.84), Due: f64(286.84), Gas: f64(286.84), Therm: f64(85.263)}},
		// 47 m3 at 1037 Btu/ft3: 47 × 1037 / 100000 / 0.028316846592
		// therms, computed with bc (scale 30): 17.2120154133863240...
		{"enbridge-gas-monthly-billing-2022-2024.xml", 24, billView{
			ID: "bill-1670025600-2851200", Start: i64(1670025600), End: i64(1672876800),
			Total: f64(64.17), Due: f64(64.17), Gas: f64(64.17), Therm: f64(17.212015413386325),
			DueDate: i64(1675036800), Statement: i64(1673222400)}},
		// 11355762 hundred-thousandths of USD; 870909999 × 10^-3 Wh.
		{"xcel-electric-15min-2025-q1.xml", 1, billView{
			ID: "bill-1737957600-2592000", Start: i64(1737957600), End: i64(1740549600),
			Total: f64(113.55762), Due: f64(113.55762), Electric: f64(113.55762), KWh: f64(870.909999)}},
		// The summary's up link names UsagePoint/3, absent: it goes to the
		// only usage point. 33 × 10^3 Wh.
		{"gba-cmd-hourly-received-delivered-and-demand-2014.xml", 1, billView{
			ID: "bill-1388552400-2678400", Start: i64(1388552400), End: i64(1391230800),
			Total: f64(41.73), Due: f64(41.73), Electric: f64(41.73), KWh: f64(33)}},
		// Consumption-only summaries of an implicit usage point.
		{"pge-api-usagesummaries-2015.xml", 3, billView{
			ID: "bill-1430290800-1123200", Start: i64(1430290800), End: i64(1431414000), KWh: f64(55)}},
		// Seven summaries; two share a period (the later wins), five have
		// neither amount nor consumption.
		{"sce-api-bulk-usagesummary-and-intervalblock-2015.xml", 1, billView{
			ID: "bill-1463961600-2592000", Start: i64(1463961600), End: i64(1466553600),
			Total: f64(174.18), Due: f64(174.18), Electric: f64(174.18), KWh: f64(1152)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			accts, err := parseFile(t, tt.file).Accounts(AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(accts) != 1 {
				t.Fatalf("%d accounts, want 1", len(accts))
			}
			bills := accts[0].Bills
			if len(bills) != tt.n {
				t.Fatalf("%d bills, want %d", len(bills), tt.n)
			}
			if diff := cmp.Diff(tt.first, viewBill(bills[0].Bill)); diff != "" {
				t.Errorf("first bill (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNetMetering checks the ELECTRIC meter of usage points with delivered
// and received (or net) series.
func TestNetMetering(t *testing.T) {
	tests := []struct {
		file  string
		n     int
		first float64 // usage of the first interval, kWh
		total string  // exact sum of the intervals, kWh
	}{
		// Hour 1: 230 Wh delivered (MeterReading/1, flowDirection 1), 273 Wh
		// received (MeterReading/2, 19). Totals 17692 - 21021 Wh.
		{"gba-cmd-hourly-received-delivered-and-demand-2014.xml", 24, -0.043, "-3.329"},
		// The net series (flowDirection 4) wins over the others.
		{"gba-sdk-hourly-multiple-readingtypes-reverse-flow-2012.xml", 1, 2.745, "2.745"},
		// SCE CSV: 733.27 kWh delivered - 303.49 kWh received; first
		// quarter-hour 0.380 delivered, 0 received.
		{"sce-csv-net-metered-15min-2022-08.csv", 1632, 0.38, "429.78"},
		{"sce-csv-solar-billing-plan-15min-1day-2024-05.csv", 96, 0.04, "2.65"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			accts, err := parseFile(t, tt.file).Accounts(AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ivs := accts[0].Intervals[accts[0].ExternalID+ElectricMeterSuffix]
			if len(ivs) != tt.n {
				t.Fatalf("%d intervals, want %d", len(ivs), tt.n)
			}
			if ivs[0].Usage != tt.first {
				t.Errorf("first interval %v kWh, want %v", ivs[0].Usage, tt.first)
			}
			if got := sumUsage(ivs); got != normDecimal(t, tt.total) {
				t.Errorf("total %s kWh, want %s", got, tt.total)
			}
		})
	}
}

// TestMeters checks which meters a file yields and their totals.
func TestMeters(t *testing.T) {
	tests := []struct {
		file string
		// meters maps meter types to interval count and exact total.
		meters map[string][2]string
	}{
		// Demand (W) stays out of the intervals.
		{"gba-cmd-hourly-received-delivered-and-demand-2014.xml", map[string][2]string{"ELECTRIC": {"24", "-3.329"}}},
		// Three TOU tiers join into one hourly series; temperature stays out.
		{"hydroone-electric-hourly-tou-with-temperature-2025.xml", map[string][2]string{"ELECTRIC": {"8256", "13143.918603"}}},
		// Gas in therms; 999 m3 at 1037 Btu/ft3 (bc, scale 30:
		// 999*1037/100000/0.028316846592 = 365.846881...).
		{"gba-sdk-gas-monthly-therms-2011-2012.xml", map[string][2]string{"GAS": {"13", "1074.821"}}},
		{"gba-sdk-hourly-multiple-readingtypes-reverse-flow-2012.xml", map[string][2]string{"ELECTRIC": {"1", "2.745"}, "GAS": {"1", "2745"}}},
		{"gba-sdk-water-monthly-2012.xml", nil},
		{"pge-api-readingtype-feed-2015.xml", nil},
		// No ReadingType: the raw values cannot be converted.
		{"pge-api-intervalblock-feed-hourly-2015.xml", nil},
		{"peco-opower-csv-hourly-2013-2014.csv", map[string][2]string{"ELECTRIC": {"6960", "4511.49"}}},
		{"sdge-csv-15min-2025-q1.csv", map[string][2]string{"ELECTRIC": {"8636", "2379.59"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			accts, err := parseFile(t, tt.file).Accounts(AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][2]string{}
			for _, a := range accts {
				for _, m := range a.Meters {
					ivs := a.Intervals[m.ExternalID]
					got[string(m.Type)] = [2]string{itoa(len(ivs)), sumUsage(ivs)}
				}
			}
			want := map[string][2]string{}
			for k, v := range tt.meters {
				want[k] = [2]string{v[0], normDecimal(t, v[1])}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("meters (-want +got):\n%s", diff)
			}
		})
	}
	// Enbridge: gas volumes become therms with the heat content.
	accts, err := parseFile(t, "enbridge-gas-monthly-billing-2022-2024.xml").Accounts(AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ivs := accts[0].Intervals[accts[0].ExternalID+GasMeterSuffix]
	var sum float64
	for _, iv := range ivs {
		sum += iv.Usage
	}
	if len(ivs) != 20 || sum < 365.8468 || sum > 365.8469 {
		t.Errorf("Enbridge gas: %d intervals, %v therms; want 20 and 365.84688", len(ivs), sum)
	}
	// Another heat content scales it: 1000 Btu/ft3.
	accts, err = parseFile(t, "enbridge-gas-monthly-billing-2022-2024.xml").Accounts(AccountOptions{GasHeatContent: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := accts[0].Intervals[accts[0].ExternalID+GasMeterSuffix][0].Usage; got != 20.482506698463382 {
		// 58 m3 × 1000 / 100000 / 0.028316846592 (bc: 20.4825066984633823...)
		t.Errorf("first Enbridge interval at 1000 Btu/ft3: %v therms", got)
	}
}

// TestAccountsContract checks, for every shared file, what the sync engine
// requires: ids present and unique, intervals ascending, non-empty and
// non-overlapping.
func TestAccountsContract(t *testing.T) {
	for _, w := range sharedFiles {
		t.Run(w.name, func(t *testing.T) {
			accts, err := parseFile(t, w.name).Accounts(AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkAccounts(t, accts)
		})
	}
}

func TestAccountsSince(t *testing.T) {
	f := parseFile(t, "gba-openespi-test-usage-data-15min-2012-03.xml")
	accts, err := f.Accounts(AccountOptions{Since: 1331784000 - 3600})
	if err != nil {
		t.Fatal(err)
	}
	if ivs := accts[0].Intervals[accts[0].ExternalID+ElectricMeterSuffix]; len(ivs) != 4 || ivs[0].Start != 1331780400 {
		t.Errorf("intervals since the last hour: %+v", ivs)
	}
	if len(accts[0].Bills) != 1 {
		t.Errorf("bills are kept whatever Since: %d", len(accts[0].Bills))
	}
}

func TestQuirks(t *testing.T) {
	t.Run("DST fold written twice is repaired", func(t *testing.T) {
		f := parseFile(t, "hydroone-electric-hourly-tou-with-temperature-2025.xml")
		var tier3 *Series
		for i, s := range f.UsagePoints[0].Series {
			if s.ReadingType != nil && s.ReadingType.TOU == 3 {
				tier3 = &f.UsagePoints[0].Series[i]
			}
		}
		if tier3 == nil || tier3.Repaired != 1 {
			t.Fatalf("tier 3 series %+v", tier3)
		}
		// 2025-11-02: the block holds 04:00Z, then 06:00Z twice (values
		// 927600 and 835800); 05:00Z (01:00 EDT) is missing.
		want := map[int64]int64{1762056000: 619800, 1762059600: 927600, 1762063200: 835800, 1762066800: 1175400}
		for _, r := range tier3.Readings {
			if v, ok := want[r.Start]; ok {
				if r.Value != v {
					t.Errorf("reading at %d: %d, want %d", r.Start, r.Value, v)
				}
				delete(want, r.Start)
			}
		}
		if len(want) != 0 {
			t.Errorf("readings missing: %v", want)
		}
	})
	t.Run("repeated blocks are deduplicated", func(t *testing.T) {
		s := parseFile(t, "pge-api-intervalblock-feed-hourly-2015.xml").UsagePoints[0]
		if !s.Implicit || s.Href != "Subscription/0/UsagePoint/1" || s.Series[0].Duplicates != 276 || s.Series[0].ReadingType != nil {
			t.Errorf("usage point %q implicit %v, duplicates %d", s.Href, s.Implicit, s.Series[0].Duplicates)
		}
	})
	t.Run("default ReadingType for a blocks-only feed", func(t *testing.T) {
		f, err := ParseXML(context.Background(), openData(t, "pge-api-intervalblock-feed-hourly-2015.xml"),
			Options{DefaultReadingType: &ReadingType{UOM: UOMWh, PowerOfTenMultiplier: -3, FlowDirection: FlowForward}})
		if err != nil {
			t.Fatal(err)
		}
		accts, err := f.Accounts(AccountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := sumUsage(accts[0].Intervals[accts[0].ExternalID+ElectricMeterSuffix]); got != normDecimal(t, "496.406375") {
			t.Errorf("total %s kWh", got)
		}
	})
	t.Run("shared ReadingType href told apart by interval length", func(t *testing.T) {
		f := parseFile(t, "gba-cmd-hourly-received-delivered-and-demand-2014.xml")
		got := map[string]int{}
		for _, s := range f.UsagePoints[0].Series {
			got[s.Href] = s.ReadingType.UOM
		}
		want := map[string]int{
			"RetailCustomer/1/UsagePoint/1/MeterReading/1": UOMWh,
			"RetailCustomer/1/UsagePoint/1/MeterReading/2": UOMWh,
			"RetailCustomer/1/UsagePoint/1/MeterReading/3": UOMWatt,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("uom per series (-want +got):\n%s", diff)
		}
	})
	t.Run("usage points without readings yield no account", func(t *testing.T) {
		accts, err := parseFile(t, "ameren-electric-15min-and-hourly-4usagepoints-2023-09.xml").Accounts(AccountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(accts) != 1 || accts[0].ExternalID != "Customer/7546126447783005953/UsagePoint/2729703253975607745" {
			t.Errorf("accounts %+v", accts)
		}
	})
	t.Run("readings without a value are kept as missing", func(t *testing.T) {
		f := parseFile(t, "hydroone-electric-hourly-tou-with-temperature-2025.xml")
		missing := 0
		for _, s := range f.UsagePoints[0].Series {
			for _, r := range s.Readings {
				if r.Missing {
					missing++
				}
			}
		}
		if missing != 48 {
			t.Errorf("%d missing readings, want 48", missing)
		}
	})
}

// A small ESPI feed used by several tests; %s spots are replaced.
const miniFeed = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
 <entry>
  <link rel="self" href="https://u.example/espi/1_1/resource/RetailCustomer/1/UsagePoint/1"/>
  <content><espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory></espi:UsagePoint></content>
 </entry>
 <entry>
  <content><espi:IntervalBlock>
   <espi:interval><espi:duration>7200</espi:duration><espi:start>1700000000</espi:start></espi:interval>
   <espi:IntervalReading><espi:timePeriod><espi:duration>3600</espi:duration><espi:start>1700000000</espi:start></espi:timePeriod><espi:value>VALUE1</espi:value></espi:IntervalReading>
   <espi:IntervalReading><espi:timePeriod><espi:duration>DURATION2</espi:duration><espi:start>1700003600</espi:start></espi:timePeriod><espi:value>500</espi:value></espi:IntervalReading>
  </espi:IntervalBlock></content>
  <link rel="self" href="/espi/1_1/resource/RetailCustomer/1/UsagePoint/1/MeterReading/1/IntervalBlock/1"/>
 </entry>
 <entry>
  <link rel="self" href="/espi/1_1/resource/ReadingType/1"/>
  <content><ReadingType xmlns="http://naesb.org/espi"><uom>72</uom><powerOfTenMultiplier>0</powerOfTenMultiplier><flowDirection>1</flowDirection></ReadingType></content>
 </entry>
</feed>`

func mini(value1, duration2 string) string {
	return strings.NewReplacer("VALUE1", value1, "DURATION2", duration2).Replace(miniFeed)
}

func TestMiniFeed(t *testing.T) {
	// Links after content, an implicit MeterReading, the only ReadingType
	// applied, a usage point matched across hosts.
	f, err := parseXMLString(t, mini("1500", "3600"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := f.UsagePoints
	if len(u) != 1 || u[0].Href != "RetailCustomer/1/UsagePoint/1" || u[0].Implicit || len(u[0].Series) != 1 {
		t.Fatalf("usage points %+v", u)
	}
	s := u[0].Series[0]
	want := []Reading{
		{Start: 1700000000, Duration: 3600, Value: 1500, Quality: -1},
		{Start: 1700003600, Duration: 3600, Value: 500, Quality: -1},
	}
	if diff := cmp.Diff(want, s.Readings); diff != "" {
		t.Errorf("readings (-want +got):\n%s", diff)
	}
	if s.ReadingType == nil || s.ReadingType.Href != "ReadingType/1" {
		t.Errorf("ReadingType %+v", s.ReadingType)
	}
}

func TestLenientValues(t *testing.T) {
	// An empty value is a missing reading; a zero fraction is an integer.
	for _, tt := range []struct {
		value string
		want  Reading
	}{
		{"", Reading{Start: 1700000000, Duration: 3600, Quality: -1, Missing: true}},
		{" 12.000 ", Reading{Start: 1700000000, Duration: 3600, Value: 12, Quality: -1}},
		{"-7", Reading{Start: 1700000000, Duration: 3600, Value: -7, Quality: -1}},
	} {
		f, err := parseXMLString(t, mini(tt.value, "3600"), Options{})
		if err != nil {
			t.Fatalf("value %q: %v", tt.value, err)
		}
		if diff := cmp.Diff(tt.want, f.UsagePoints[0].Series[0].Readings[0]); diff != "" {
			t.Errorf("value %q (-want +got):\n%s", tt.value, diff)
		}
	}
}

func TestBareResources(t *testing.T) {
	t.Run("entry", func(t *testing.T) {
		doc := `<entry xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="/UsagePoint/9/MeterReading/2/IntervalBlock/3"/>
<content><IntervalBlock xmlns="http://naesb.org/espi"><IntervalReading><timePeriod><duration>900</duration><start>1700000000</start></timePeriod><value>7</value></IntervalReading></IntervalBlock></content></entry>`
		f, err := parseXMLString(t, doc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.UsagePoints) != 1 || f.UsagePoints[0].Href != "UsagePoint/9" || f.UsagePoints[0].Series[0].Href != "UsagePoint/9/MeterReading/2" {
			t.Errorf("usage points %+v", f.UsagePoints)
		}
	})
	t.Run("IntervalBlock", func(t *testing.T) {
		doc := `<ns0:IntervalBlock xmlns:ns0="http://naesb.org/espi"><ns0:IntervalReading><ns0:timePeriod><ns0:duration>900</ns0:duration><ns0:start>1700000000</ns0:start></ns0:timePeriod><ns0:value>7</ns0:value><ns0:cost>12345</ns0:cost><ns0:ReadingQuality><ns0:quality>8</ns0:quality></ns0:ReadingQuality></ns0:IntervalReading></ns0:IntervalBlock>`
		f, err := parseXMLString(t, doc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []Reading{{Start: 1700000000, Duration: 900, Value: 7, Cost: 12345, HasCost: true, Quality: 8}}
		if diff := cmp.Diff(want, f.UsagePoints[0].Series[0].Readings); diff != "" {
			t.Errorf("readings (-want +got):\n%s", diff)
		}
	})
	t.Run("UsagePoint", func(t *testing.T) {
		f, err := parseXMLString(t, `<UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>1</kind></ServiceCategory></UsagePoint>`, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.UsagePoints) != 1 || f.UsagePoints[0].Kind != ServiceGas {
			t.Errorf("usage points %+v", f.UsagePoints)
		}
	})
}

// TestMixedPaths: links naming the same resources through Subscription
// and RetailCustomer paths still meet (by their UsagePoint... tails), and
// two usage points keep their own series.
func TestMixedPaths(t *testing.T) {
	doc := `<feed xmlns="http://www.w3.org/2005/Atom/">
<entry><link rel="self" href="https://h.example/espi/1_1/resource/Subscription/5/UsagePoint/1"/><title>one</title>
 <content><UsagePoint xmlns="https://naesb.org/espi/"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint></content></entry>
<entry><link rel="self" href="https://h.example/espi/1_1/resource/Subscription/5/UsagePoint/2"/><title>two</title>
 <content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>1</kind></ServiceCategory></UsagePoint></content></entry>
<entry><link rel="self" href="/espi/1_1/resource/RetailCustomer/9/UsagePoint/2/MeterReading/1"/><link rel="related" href="/espi/1_1/resource/RetailCustomer/9/ReadingType/T"/>
 <content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
<entry><link rel="self" href="/espi/1_1/resource/ReadingType/T"/>
 <content><ReadingType xmlns="http://naesb.org/espi"><uom>169</uom><powerOfTenMultiplier>-2</powerOfTenMultiplier></ReadingType></content></entry>
<entry><link rel="self" href="/espi/1_1/resource/ReadingType/U"/>
 <content><ReadingType xmlns="http://naesb.org/espi"><uom>72</uom></ReadingType></content></entry>
<entry><link rel="up" href="/espi/1_1/resource/Batch/Subscription/5/UsagePoint/2/MeterReading/1/IntervalBlock"/>
 <content><IntervalBlock xmlns="http://naesb.org/espi"><IntervalReading><timePeriod><duration>86400</duration><start>1700000000</start></timePeriod><value>250</value></IntervalReading></IntervalBlock></content></entry>
</feed>`
	f, err := parseXMLString(t, doc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.UsagePoints) != 2 || len(f.UsagePoints[0].Series) != 0 || len(f.UsagePoints[1].Series) != 1 {
		t.Fatalf("usage points %+v", f.UsagePoints)
	}
	s := f.UsagePoints[1].Series[0]
	if s.ReadingType == nil || s.ReadingType.UOM != UOMTherm {
		t.Fatalf("series %+v", s)
	}
	if v, unit := s.Total(); v != 2.5 || unit != "therm" {
		t.Errorf("total %v %s", v, unit)
	}
}

func TestBuilder(t *testing.T) {
	// Green Button Connect serves ReadingTypes and IntervalBlocks apart.
	b := NewBuilder(Options{})
	rt := `<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="self" href="https://api.pge.com/GreenButtonConnect/espi/1_1/resource/ReadingType/X"/>
<content><ReadingType xmlns="http://naesb.org/espi"><uom>72</uom><powerOfTenMultiplier>-3</powerOfTenMultiplier><flowDirection>1</flowDirection><intervalLength>3600</intervalLength></ReadingType></content></entry></feed>`
	if err := b.AddXML(context.Background(), strings.NewReader(rt)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddXML(context.Background(), openData(t, "pge-api-intervalblock-feed-hourly-2015.xml")); err != nil {
		t.Fatal(err)
	}
	f, err := b.Feed()
	if err != nil {
		t.Fatal(err)
	}
	s := f.UsagePoints[0].Series[0]
	if s.ReadingType == nil || s.ReadingType.Href != "ReadingType/X" {
		t.Fatalf("ReadingType %+v", s.ReadingType)
	}
	if tot, unit := s.TotalDecimal(); tot != "496.406375" || unit != "kWh" {
		t.Errorf("total %s %s", tot, unit)
	}
	// The Builder is spent.
	if _, err := b.Feed(); err == nil {
		t.Error("second Feed succeeded")
	}
	// A failed document makes a builder unusable.
	b = NewBuilder(Options{})
	if err := b.AddXML(context.Background(), strings.NewReader(rt)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddXML(context.Background(), strings.NewReader("<feed><entry>")); err == nil {
		t.Fatal("truncated document accepted")
	}
	if _, err := b.Feed(); err == nil {
		t.Error("Feed after a failed AddXML succeeded")
	}
}

func TestXMLErrors(t *testing.T) {
	openespi, err := os.ReadFile(filepath.Join(dataDir, "gba-openespi-test-usage-data-15min-2012-03.xml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		opt  Options
		// line is the reported line (0: any), is the sentinel (nil: none).
		line int
		is   error
		msg  string
	}{
		{name: "truncated", doc: string(openespi[:len(openespi)/2]), msg: "truncated"},
		{name: "truncated in a tag", doc: string(openespi[:12345]), line: bytes.Count(openespi[:12345], []byte("\n")) + 1, msg: "truncated"},
		{name: "html", doc: "<html><body><p>hello</p></body></html>", is: ErrNotGreenButton, msg: "<html>"},
		{name: "rss", doc: `<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>`, is: ErrNotGreenButton},
		{name: "atom without ESPI", doc: `<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>post</title><content>hi</content></entry></feed>`, is: ErrNotGreenButton},
		{name: "other namespace", doc: `<x:feed xmlns:x="urn:other"/>`, is: ErrNotGreenButton},
		{name: "empty", doc: "", is: ErrNotGreenButton},
		{name: "not xml", doc: "<<<>>>", msg: "xml"},
		{name: "mismatched tags", doc: `<feed xmlns="http://www.w3.org/2005/Atom"><entry></feed></entry>`, msg: "closed by"},
		{name: "value not an integer", doc: mini("12x", "3600"), line: 10, msg: "not an integer"},
		{name: "duration empty", doc: mini("1", " "), line: 11, msg: "empty"},
		{name: "value with a fraction", doc: mini("12.5", "3600"), line: 10, msg: "not an integer"},
		{name: "zero duration", doc: mini("1", "0"), line: 11, msg: "duration 0"},
		{name: "negative duration", doc: mini("1", "-900"), line: 11, msg: "duration -900"},
		{name: "absurd duration", doc: mini("1", "999999999"), line: 11, msg: "duration"},
		{name: "value overflow", doc: mini("99999999999999999999", "3600"), msg: "out of range"},
		{name: "too large", doc: string(openespi), opt: Options{MaxBytes: 1000}, is: ErrTooLarge},
		{name: "too many readings", doc: string(openespi), opt: Options{MaxReadings: 100}, is: ErrTooManyReadings},
		{name: "bad ReadingType", doc: strings.Replace(mini("1", "3600"), "<uom>72</uom>", "<uom>kWh</uom>", 1), line: 17, msg: "uom"},
		{name: "no time period", doc: strings.Replace(mini("1", "3600"), "<espi:timePeriod><espi:duration>3600</espi:duration><espi:start>1700000000</espi:start></espi:timePeriod>", "", 1), msg: "without timePeriod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseXMLString(t, tt.doc, tt.opt)
			if err == nil {
				t.Fatalf("no error; feed %+v", f)
			}
			if f != nil {
				t.Error("a feed came back with the error")
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
			if tt.is == nil && errors.Is(err, ErrNotGreenButton) {
				t.Errorf("error %q wrongly says not Green Button", err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ParseXML(ctx, openData(t, "pge-business-a1-15min-2011-2012.xml"), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestEncodings(t *testing.T) {
	base := mini("1500", "3600")
	want, err := parseXMLString(t, base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	utf16le := func(s string, big bool) string {
		var b bytes.Buffer
		if big {
			b.Write([]byte{0xFE, 0xFF})
		} else {
			b.Write([]byte{0xFF, 0xFE})
		}
		for _, u := range utf16.Encode([]rune(s)) {
			if big {
				b.Write([]byte{byte(u >> 8), byte(u)})
			} else {
				b.Write([]byte{byte(u), byte(u >> 8)})
			}
		}
		return b.String()
	}
	tests := map[string]string{
		"UTF-8 BOM":        "\xEF\xBB\xBF" + base,
		"UTF-16LE":         utf16le(strings.Replace(base, "UTF-8", "UTF-16", 1), false),
		"UTF-16BE":         utf16le(strings.Replace(base, "UTF-8", "UTF-16", 1), true),
		"ISO-8859-1 title": strings.Replace(strings.Replace(base, "UTF-8", "ISO-8859-1", 1), "<content><ReadingType", "<title>Caf\xe9</title><content><ReadingType", 1),
		"HTML entity":      strings.Replace(base, "<content><ReadingType", "<title>a&nbsp;b</title><content><ReadingType", 1),
		"bare ampersand":   strings.Replace(base, "<content><ReadingType", "<title>AT&T</title><content><ReadingType", 1),
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(context.Background(), strings.NewReader(doc), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.UsagePoints[0].Series[0].Readings, got.UsagePoints[0].Series[0].Readings); diff != "" {
				t.Errorf("readings (-want +got):\n%s", diff)
			}
		})
	}
	got, err := Parse(context.Background(), strings.NewReader(tests["ISO-8859-1 title"]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if title := got.ReadingTypes[0].Title; title != "Café" {
		t.Errorf("Latin-1 title %q", title)
	}
}

// TestMixedIntervalLengths: finest series first, coarser ones fill gaps.
func TestMixedIntervalLengths(t *testing.T) {
	const h = 1700000000
	rt15 := &ReadingType{UOM: UOMWh, FlowDirection: FlowForward, IntervalLength: 900}
	rt60 := &ReadingType{UOM: UOMWh, FlowDirection: FlowForward, IntervalLength: 3600}
	f := &Feed{UsagePoints: []UsagePoint{{Href: "up", Kind: ServiceElectricity, Series: []Series{
		{Href: "hourly", ReadingType: rt60, Readings: []Reading{
			{Start: h, Duration: 3600, Value: 1000}, {Start: h + 3600, Duration: 3600, Value: 2000}, {Start: h + 7200, Duration: 3600, Value: 3000}}},
		{Href: "quarter", ReadingType: rt15, Readings: []Reading{
			{Start: h + 3600, Duration: 900, Value: 400}, {Start: h + 4500, Duration: 900, Value: 500},
			{Start: h + 5400, Duration: 900, Value: 600}, {Start: h + 6300, Duration: 900, Value: 700}}},
	}}}}
	accts, err := f.Accounts(AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]float64
	for _, iv := range accts[0].Intervals["up"+ElectricMeterSuffix] {
		got = append(got, [3]float64{float64(iv.Start - h), float64(iv.End - iv.Start), iv.Usage})
	}
	want := [][3]float64{{0, 3600, 1}, {3600, 900, 0.4}, {4500, 900, 0.5}, {5400, 900, 0.6}, {6300, 900, 0.7}, {7200, 3600, 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("intervals (-want +got):\n%s", diff)
	}
}

// TestTOUTiersAddUp: one series per time-of-use period; readings of the
// same interval add up, disjoint ones join.
func TestTOUTiersAddUp(t *testing.T) {
	const d = 1700000000
	tier := func(tou int) *ReadingType {
		return &ReadingType{UOM: UOMWh, PowerOfTenMultiplier: -3, FlowDirection: FlowForward, TOU: tou}
	}
	f := &Feed{UsagePoints: []UsagePoint{{Href: "up", Kind: ServiceElectricity, Series: []Series{
		{Href: "on-peak", ReadingType: tier(1), Readings: []Reading{{Start: d, Duration: 86400, Value: 1000000}, {Start: d + 86400, Duration: 3600, Value: 250000}}},
		{Href: "off-peak", ReadingType: tier(3), Readings: []Reading{{Start: d, Duration: 86400, Value: 2000000}, {Start: d + 90000, Duration: 3600, Value: 500000}}},
	}}}}
	accts, err := f.Accounts(AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]float64
	for _, iv := range accts[0].Intervals["up"+ElectricMeterSuffix] {
		got = append(got, [3]float64{float64(iv.Start - d), float64(iv.End - iv.Start), iv.Usage})
	}
	want := [][3]float64{{0, 86400, 3}, {86400, 3600, 0.25}, {90000, 3600, 0.5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("intervals (-want +got):\n%s", diff)
	}
}
