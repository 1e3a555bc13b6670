package greenbutton

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// fuzzOptions keep fuzzed inputs cheap.
var fuzzOptions = Options{MaxBytes: 1 << 20, MaxReadings: 100_000}

// checkFeed is the fuzz property: a parsed feed has positive durations and
// strictly ascending starts in every series, and converts to accounts that
// meet the connector contract.
func checkFeed(t *testing.T, f *Feed) {
	t.Helper()
	for _, u := range f.UsagePoints {
		for _, s := range u.Series {
			for i, r := range s.Readings {
				if r.Duration <= 0 {
					t.Fatalf("series %q reading %d: duration %d", s.Href, i, r.Duration)
				}
				if i > 0 && r.Start <= s.Readings[i-1].Start {
					t.Fatalf("series %q reading %d: start %d after %d", s.Href, i, r.Start, s.Readings[i-1].Start)
				}
			}
		}
	}
	accts, err := f.Accounts(AccountOptions{})
	if err != nil {
		return // values too large to scale: a clean error
	}
	checkAccounts(t, accts)
}

// seedFiles adds whole small shared files and the heads of larger ones.
func seedFiles(f *testing.F, names []string, head int) {
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > head {
			f.Add(data[:head])
			continue
		}
		f.Add(data)
	}
}

func FuzzParseXML(f *testing.F) {
	seedFiles(f, []string{
		"burlington-hydro-electric-hourly-2026-02.xml",
		"pacificpower-electric-hourly-1day-2023-03.xml",
		"hydroone-electric-daily-tou-2025-12.xml",
		"gba-sdk-water-monthly-2012.xml",
		"gba-sdk-gas-monthly-therms-2011-2012.xml",
		"gba-sdk-hourly-multiple-readingtypes-reverse-flow-2012.xml",
		"gba-cmd-hourly-received-delivered-and-demand-2014.xml",
		"pge-api-hourly-1day-2019.xml",
		"pge-api-usagesummaries-2015.xml",
		"sce-api-bulk-usagesummary-and-intervalblock-2015.xml",
		"pge-api-intervalblock-feed-hourly-2015.xml",
		"enbridge-gas-monthly-billing-2022-2024.xml",
	}, 40<<10)
	f.Add([]byte(mini("1500", "3600")))
	f.Add([]byte(mini("-7", "900")))
	f.Add([]byte(`<ns0:IntervalBlock xmlns:ns0="http://naesb.org/espi"><ns0:IntervalReading><ns0:timePeriod><ns0:duration>900</ns0:duration><ns0:start>1700000000</ns0:start></ns0:timePeriod><ns0:value>7</ns0:value></ns0:IntervalReading></ns0:IntervalBlock>`))
	f.Add([]byte(`<entry xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="/UsagePoint/9/MeterReading/2/IntervalBlock/3"/><content><IntervalBlock xmlns="http://naesb.org/espi"><interval><start>5</start><duration>60</duration></interval><IntervalReading><value>1</value></IntervalReading></IntervalBlock></content></entry>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := ParseXML(context.Background(), bytes.NewReader(data), fuzzOptions)
		if err != nil {
			if feed != nil {
				t.Fatal("feed returned with an error")
			}
			return
		}
		checkFeed(t, feed)
	})
}

func FuzzParseCSV(f *testing.F) {
	seedFiles(f, []string{
		"peco-opower-csv-hourly-2013-2014.csv",
		"sce-csv-net-metered-15min-2022-08.csv",
		"sce-csv-solar-billing-plan-15min-1day-2024-05.csv",
		"sdge-csv-15min-2025-q1.csv",
		"sdge-csv-hourly-2022-11.csv",
	}, 6<<10)
	f.Add([]byte("Address,\"1 MAIN ST, BOSTON, MA 02108\"\nTYPE,DATE,USAGE,UNITS,COST,NOTES\nNatural gas usage,2024-03-10,2.00,therms,$3.00,\n"))
	f.Add([]byte("Address,\"1 MAIN ST, OAKLAND CA 94612\"\nTYPE,DATE,START TIME,END TIME,IMPORT (kWh),EXPORT (kWh),NOTES\nElectric usage,2024-06-01,12:00,12:14,0.10,0.50,\n"))
	f.Add([]byte("Energy Delivered time period,Usage Delivered(Real energy in kilowatt-hours),Reading quality\n\"2022-11-06 01:45:00 to 2022-11-06 02:00:00\",\"0.2\",\"\"\n\"2022-11-06 01:00:00 to 2022-11-06 01:15:00\",\"0.3\",\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := ParseCSV(context.Background(), bytes.NewReader(data), fuzzOptions)
		if err != nil {
			if feed != nil {
				t.Fatal("feed returned with an error")
			}
			return
		}
		checkFeed(t, feed)
	})
}
