package greenbutton

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchFiles are the largest shared XML files.
var benchFiles = []string{
	"hydroone-electric-hourly-tou-with-temperature-2025.xml",
	"pge-business-a1-15min-2011-2012.xml",
	"gba-sample-coastal-multi-family-hourly-daily-blocks-2011.xml",
	"xcel-electric-15min-2025-q1.xml",
}

// baselineFeed is the minimal struct tree a plain xml.Unmarshal needs to
// get the IntervalReadings of a feed.
type baselineFeed struct {
	Entries []struct {
		Blocks []struct {
			Readings []struct {
				Start    int64 `xml:"timePeriod>start"`
				Duration int64 `xml:"timePeriod>duration"`
				Value    int64 `xml:"value"`
				Cost     int64 `xml:"cost"`
				Quality  int   `xml:"ReadingQuality>quality"`
			} `xml:"IntervalReading"`
		} `xml:"content>IntervalBlock"`
	} `xml:"entry"`
}

func (f *baselineFeed) readings() int {
	n := 0
	for _, e := range f.Entries {
		for _, b := range e.Blocks {
			n += len(b.Readings)
		}
	}
	return n
}

func readBench(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "greenbutton", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func feedReadings(f *Feed) int {
	n := 0
	for _, u := range f.UsagePoints {
		for _, s := range u.Series {
			n += len(s.Readings)
		}
	}
	return n
}

// BenchmarkParse reports readings parsed per second and heap bytes
// allocated per reading by ParseXML; BenchmarkBaselineUnmarshal measures a
// plain xml.Unmarshal of the same files in the same run.
func BenchmarkParse(b *testing.B) {
	for _, name := range benchFiles {
		data := readBench(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			n := 0
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				f, err := ParseXML(context.Background(), bytes.NewReader(data), Options{})
				if err != nil {
					b.Fatal(err)
				}
				n = feedReadings(f)
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(n), "alloc-B/reading")
			b.ReportMetric(retainedPerReading(b, n, func() any {
				f, _ := ParseXML(context.Background(), bytes.NewReader(data), Options{})
				return f
			}), "kept-B/reading")
		})
	}
}

// retainedPerReading measures the heap a parse result keeps alive.
func retainedPerReading(b *testing.B, n int, parse func() any) float64 {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := parse()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

func BenchmarkBaselineUnmarshal(b *testing.B) {
	for _, name := range benchFiles {
		data := readBench(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			n := 0
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				var f baselineFeed
				if err := xml.Unmarshal(data, &f); err != nil {
					b.Fatal(err)
				}
				n = f.readings()
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(n), "alloc-B/reading")
			b.ReportMetric(retainedPerReading(b, n, func() any {
				var f baselineFeed
				_ = xml.Unmarshal(data, &f)
				return &f
			}), "kept-B/reading")
		})
	}
}
