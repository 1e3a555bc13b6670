package greenbutton

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dataDir holds copies of the shared Green Button files (see its
// SOURCES.md); tests never read ../shared.
var dataDir = filepath.Join("..", "..", "testdata", "greenbutton")

// fileWant is what a shared file must parse to.
//
// How the numbers were obtained, independently of this package:
//   - XML readings, first start, last end and raw sums: a Python
//     ElementTree script run once over the files, grouping readings by the
//     MeterReading named in each IntervalBlock's self link (else its up
//     link), dropping readings identical to an earlier one with the same
//     start, and moving the first of two equal-start readings of one block
//     back one interval when that slot is empty (the documented DST-fold
//     repair). Counts agree with SOURCES.md ("IntervalReadings: N") except
//     where noted. Units come from the ReadingType dumps in SOURCES.md
//     (uom, powerOfTenMultiplier, flowDirection), applied by hand.
//   - CSV readings and totals: awk sums of the usage columns; first and
//     last times: GNU date in the utility's zone (e.g. TZ=America/New_York
//     date -d "2013-04-01 00:00" +%s).
//
// totals are keyed by natural unit, with " received" or " net" for
// flowDirection 19 or 4, and "raw" for series without a ReadingType.
type fileWant struct {
	name        string
	format      string
	usagePoints int
	series      int
	readings    int
	// elements is the number of IntervalReading elements (SOURCES.md),
	// for XML files: readings plus the dropped duplicates.
	elements    int
	first, last int64
	totals      map[string]string
}

var sharedFiles = []fileWant{
	{name: "ameren-electric-15min-1day-2023-12-04.xml", format: FormatESPI, usagePoints: 4, series: 1, readings: 96, elements: 96,
		first: 1701648000, last: 1701734400, totals: map[string]string{"kWh": "57.893"}},
	{name: "ameren-electric-15min-and-hourly-4usagepoints-2023-09.xml", format: FormatESPI, usagePoints: 4, series: 1, readings: 2976, elements: 2976,
		first: 1694732400, last: 1697410800, totals: map[string]string{"kWh": "1645.992"}},
	// Values are whole kWh (multiplier 3) and all zero in this file.
	{name: "bchydro-electric-hourly-2018-03.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 743, elements: 743,
		first: 1521270001, last: 1523948401, totals: map[string]string{"kWh": "0"}},
	{name: "burlington-hydro-electric-hourly-2026-02.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 6, elements: 6,
		first: 1771909200, last: 1772006400, totals: map[string]string{"kWh": "6.5"}},
	// 20 one-reading MeterReadings: 999000 × 10^-3 m3.
	{name: "enbridge-gas-monthly-billing-2022-2024.xml", format: FormatESPI, usagePoints: 1, series: 20, readings: 20, elements: 20,
		first: 1670025600, last: 1722643200, totals: map[string]string{"m3": "999"}},
	// Delivered 17692 Wh (flowDirection 1), received 21021 Wh (19), one
	// 8300 W demand reading whose block's self link names MeterReading/3.
	{name: "gba-cmd-hourly-received-delivered-and-demand-2014.xml", format: FormatESPI, usagePoints: 1, series: 3, readings: 49, elements: 49,
		first: 1388552400, last: 1388639700, totals: map[string]string{"kWh": "17.692", "kWh received": "21.021", "kW": "8.3"}},
	{name: "gba-openespi-test-usage-data-15min-2012-03.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 1340, elements: 1340,
		first: 1330578000, last: 1331784000, totals: map[string]string{"kWh": "1391.666"}},
	{name: "gba-sample-coastal-multi-family-hourly-2011.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 8760, elements: 8760,
		first: 1293868800, last: 1325404800, totals: map[string]string{"kWh": "4425.305"}},
	{name: "gba-sample-coastal-multi-family-hourly-daily-blocks-2011.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 8760, elements: 8760,
		first: 1293868800, last: 1325404800, totals: map[string]string{"kWh": "4425.305"}},
	{name: "gba-sdk-daily-365days-2012.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 366, elements: 366,
		first: 1325394000, last: 1357016400, totals: map[string]string{"kWh": "23990.671"}},
	{name: "gba-sdk-electric-monthly-only-2011-2012.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 14, elements: 14,
		first: 1314331200, last: 1348977600, totals: map[string]string{"kWh": "9567"}},
	{name: "gba-sdk-gas-monthly-therms-2011-2012.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 13, elements: 13,
		first: 1301630400, last: 1334462400, totals: map[string]string{"therm": "1074.821"}},
	// Five usage points: 25326468+2361801+2133834+2692638+2224885 Wh.
	{name: "gba-sdk-hourly-32days-five-usagepoints-2012.xml", format: FormatESPI, usagePoints: 5, series: 5, readings: 3840, elements: 3840,
		first: 1333252800, last: 1336017600, totals: map[string]string{"kWh": "34739.626"}},
	// Ten MeterReadings of 2745 each: Wh forward ×4, net, reverse, W, VA,
	// VAr, therm.
	{name: "gba-sdk-hourly-multiple-readingtypes-reverse-flow-2012.xml", format: FormatESPI, usagePoints: 1, series: 10, readings: 10, elements: 10,
		first: 1333252800, last: 1333256400, totals: map[string]string{
			"kWh": "10.98", "kWh net": "2.745", "kWh received": "2.745", "kW": "2.745", "kVA": "2.745", "kVAr": "2.745", "therm": "2745"}},
	{name: "gba-sdk-water-monthly-2012.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 2, elements: 2,
		first: 1333252800, last: 1336190400, totals: map[string]string{"gal": "29866000"}},
	{name: "gba-test-daily-1year-binned-monthly-2013-2014.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 444, elements: 444,
		first: 1357016400, last: 1395374400, totals: map[string]string{"kWh": "9917.817"}},
	{name: "gba-test-hourly-9days-binned-daily-2014.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 216, elements: 216,
		first: 1388552400, last: 1389330000, totals: map[string]string{"kWh": "199.563"}},
	{name: "hydroone-electric-daily-tou-2025-12.xml", format: FormatESPI, usagePoints: 1, series: 4, readings: 4, elements: 4,
		first: 1764997200, last: 1765083600, totals: map[string]string{"kWh": "64.6956", "K": "270.6"}},
	// Three TOU tiers (9290933139+2000136952+1852848512 × 10^-3 Wh) and a
	// temperature series with 48 readings lacking a value.
	{name: "hydroone-electric-hourly-tou-with-temperature-2025.xml", format: FormatESPI, usagePoints: 1, series: 4, readings: 16512, elements: 16512,
		first: 1735794000, last: 1765515600, totals: map[string]string{"kWh": "13143.918603", "K": "2306574.8"}},
	{name: "pacificpower-electric-hourly-1day-2023-03.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 24, elements: 24,
		first: 1678438800, last: 1678525200, totals: map[string]string{"kWh": "7"}},
	{name: "peco-opower-electric-hourly-2013-2014.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 7440, elements: 7440,
		first: 1364788800, last: 1391662800, totals: map[string]string{"kWh": "5145.901"}},
	{name: "pge-api-hourly-1day-2019.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 24, elements: 24,
		first: 1570086000, last: 1570172400, totals: map[string]string{"kWh": "50.663298"}},
	// 2556 elements, but the feed repeats growing blocks: 276 identical
	// readings dropped. No ReadingType: raw sum.
	{name: "pge-api-intervalblock-feed-hourly-2015.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 2280, elements: 2556,
		first: 1430377200, last: 1438585200, totals: map[string]string{"raw": "496406375"}},
	{name: "pge-api-readingtype-feed-2015.xml", format: FormatESPI, totals: map[string]string{}},
	{name: "pge-api-usagesummaries-2015.xml", format: FormatESPI, usagePoints: 1, totals: map[string]string{}},
	{name: "pge-business-a1-15min-2011-2012.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 11712, elements: 11712,
		first: 1318219200, last: 1328763600, totals: map[string]string{"kWh": "3064.535"}},
	{name: "pge-electric-hourly-1year-2011-2012-e6-tou.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 9502, elements: 9502,
		first: 1299128400, last: 1333339200, totals: map[string]string{"kWh": "11917.981"}},
	{name: "sce-api-bulk-intervalblock-15min-2015.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 97, elements: 97,
		first: 1439449200, last: 1439536500, totals: map[string]string{"kWh": "24.38"}},
	{name: "sce-api-bulk-usagesummary-and-intervalblock-2015.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 3, elements: 3,
		first: 1433660400, last: 1433663100, totals: map[string]string{"kWh": "0.62"}},
	{name: "xcel-electric-15min-2025-q1.xml", format: FormatESPI, usagePoints: 1, series: 1, readings: 6368, elements: 6368,
		first: 1736838000, last: 1742638500, totals: map[string]string{"kWh": "2250.472986"}},

	// CSV. 2013-04-01 00:00 EDT to 2014-01-16 00:00 EST.
	{name: "peco-opower-csv-hourly-2013-2014.csv", format: FormatOpowerCSV, usagePoints: 1, series: 1, readings: 6960,
		first: 1364788800, last: 1389848400, totals: map[string]string{"kWh": "4511.49"}},
	// 2022-08-01 00:00 PDT to 2022-08-18 00:00 PDT, 1632 rows each way.
	{name: "sce-csv-net-metered-15min-2022-08.csv", format: FormatSCECSV, usagePoints: 1, series: 2, readings: 3264,
		first: 1659337200, last: 1660806000, totals: map[string]string{"kWh": "733.27", "kWh received": "303.49"}},
	{name: "sce-csv-solar-billing-plan-15min-1day-2024-05.csv", format: FormatSCECSV, usagePoints: 1, series: 2, readings: 192,
		first: 1716361200, last: 1716447600, totals: map[string]string{"kWh": "2.99", "kWh received": "0.34"}},
	// 8636 rows with Consumption and an all-zero Generation column.
	{name: "sdge-csv-15min-2025-q1.csv", format: FormatSDGECSV, usagePoints: 1, series: 2, readings: 17272,
		first: 1735718400, last: 1743490800, totals: map[string]string{"kWh": "2379.59", "kWh received": "0"}},
	// Matches the preamble's "Total Usage,817.415".
	{name: "sdge-csv-hourly-2022-11.csv", format: FormatSDGECSV, usagePoints: 1, series: 1, readings: 721,
		first: 1667286000, last: 1669881600, totals: map[string]string{"kWh": "817.415"}},
}

func openData(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func parseFile(t testing.TB, name string) *Feed {
	t.Helper()
	f, err := Parse(context.Background(), openData(t, name), Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f
}

func totalKey(s Series) string {
	if s.ReadingType == nil {
		return "raw"
	}
	k := s.ReadingType.Unit()
	switch s.ReadingType.FlowDirection {
	case FlowReverse:
		k += " received"
	case FlowNet:
		k += " net"
	}
	return k
}

func normDecimal(t testing.TB, s string) string {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	return r.RatString()
}

func TestSharedFiles(t *testing.T) {
	for _, w := range sharedFiles {
		t.Run(w.name, func(t *testing.T) {
			f := parseFile(t, w.name)
			if f.Format != w.format {
				t.Errorf("format %q, want %q", f.Format, w.format)
			}
			if len(f.UsagePoints) != w.usagePoints {
				t.Errorf("%d usage points, want %d", len(f.UsagePoints), w.usagePoints)
			}
			var series, readings, dropped int
			var first, last int64
			sums := map[string]*big.Rat{}
			for _, u := range f.UsagePoints {
				for _, s := range u.Series {
					series++
					readings += len(s.Readings)
					dropped += s.Duplicates + s.Conflicts
					if len(s.Readings) == 0 {
						t.Errorf("series %q is empty", s.Href)
						continue
					}
					if st := s.Readings[0].Start; first == 0 || st < first {
						first = st
					}
					if e := s.Readings[len(s.Readings)-1].End(); e > last {
						last = e
					}
					dec, _ := s.TotalDecimal()
					r, _ := new(big.Rat).SetString(dec)
					k := totalKey(s)
					if sums[k] == nil {
						sums[k] = new(big.Rat)
					}
					sums[k].Add(sums[k], r)
				}
			}
			got := fileWant{name: w.name, format: w.format, usagePoints: w.usagePoints, series: series, readings: readings,
				elements: w.elements, first: first, last: last, totals: map[string]string{}}
			for k, r := range sums {
				got.totals[k] = r.RatString()
			}
			want := w
			want.totals = map[string]string{}
			for k, v := range w.totals {
				want.totals[k] = normDecimal(t, v)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(fileWant{})); diff != "" {
				t.Errorf("parsed file differs (-want +got):\n%s", diff)
			}
			if w.format == FormatESPI && readings+dropped != w.elements {
				t.Errorf("%d readings + %d dropped, want %d IntervalReading elements", readings, dropped, w.elements)
			}
		})
	}
}

// TestEveryFileHasARow keeps the table complete and the copies intact: each
// file of the folder has a row, and its SHA-256 matches SOURCES.md.
func TestEveryFileHasARow(t *testing.T) {
	rows := map[string]bool{}
	for _, w := range sharedFiles {
		rows[w.name] = true
	}
	sums := sourceChecksums(t)
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if name == "SOURCES.md" {
			continue
		}
		n++
		if !rows[name] {
			t.Errorf("%s has no row in sharedFiles", name)
		}
		data, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if got := hex.EncodeToString(h[:]); got != sums[name] {
			t.Errorf("%s: SHA-256 %s, SOURCES.md says %q", name, got, sums[name])
		}
	}
	if n != len(sharedFiles) {
		t.Errorf("%d files in %s, %d rows", n, dataDir, len(sharedFiles))
	}
}

// sourceChecksums reads "## name" headings and their "SHA-256: `...`".
func sourceChecksums(t *testing.T) map[string]string {
	t.Helper()
	f := openData(t, "SOURCES.md")
	out := map[string]string{}
	cur := ""
	re := regexp.MustCompile("^- SHA-256: `([0-9a-f]{64})`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			cur = strings.TrimPrefix(line, "## ")
		}
		if m := re.FindStringSubmatch(line); m != nil && cur != "" {
			out[cur] = m[1]
		}
	}
	return out
}

// TestScanCrossCheck compares the streaming parser with a deliberately
// different method: a plain byte scan of the XML text that counts
// IntervalReading start tags and sums the <value>s found between an
// IntervalReading's start and end tags.
func TestScanCrossCheck(t *testing.T) {
	for _, w := range sharedFiles {
		if w.format != FormatESPI {
			continue
		}
		t.Run(w.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dataDir, w.name))
			if err != nil {
				t.Fatal(err)
			}
			count, sum := scanReadings(t, data)
			f := parseFile(t, w.name)
			parsed, dropped := 0, 0
			raw := new(big.Int)
			for _, u := range f.UsagePoints {
				for _, s := range u.Series {
					parsed += len(s.Readings)
					dropped += s.Duplicates + s.Conflicts
					raw.Add(raw, rawSum(s.Readings))
				}
			}
			if parsed+dropped != count {
				t.Errorf("parser kept %d and dropped %d readings; the scan finds %d", parsed, dropped, count)
			}
			if dropped == 0 && raw.Cmp(sum) != 0 {
				t.Errorf("parser raw sum %v, scan sum %v", raw, sum)
			}
		})
	}
}

// scanReadings walks the tags of an XML text: "<p:IntervalReading" opens a
// reading, "</p:IntervalReading" closes it, "<p:value>" inside one is
// summed.
func scanReadings(t *testing.T, data []byte) (count int, sum *big.Int) {
	t.Helper()
	sum = new(big.Int)
	inside := false
	for i := 0; i < len(data); i++ {
		if data[i] != '<' {
			continue
		}
		j := i + 1
		closing := j < len(data) && data[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(data) && data[k] != '>' && data[k] != ' ' && data[k] != '/' && data[k] != '\t' && data[k] != '\n' && data[k] != '\r' {
			k++
		}
		name := string(data[j:k])
		if c := strings.LastIndexByte(name, ':'); c >= 0 {
			name = name[c+1:]
		}
		switch {
		case name == "IntervalReading" && !closing:
			count++
			inside = true
		case name == "IntervalReading" && closing:
			inside = false
		case name == "value" && !closing && inside && k < len(data) && data[k] == '>':
			end := k + 1
			for end < len(data) && data[end] != '<' {
				end++
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(data[k+1:end])), 10, 64)
			if err != nil {
				t.Fatalf("value at byte %d: %v", k, err)
			}
			sum.Add(sum, big.NewInt(n))
		}
	}
	return count, sum
}
