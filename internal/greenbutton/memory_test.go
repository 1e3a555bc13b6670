package greenbutton

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// feedGenerator streams a synthetic ESPI feed of n hourly readings in
// daily IntervalBlocks, with pad bytes of comment per reading, without
// ever holding the document.
type feedGenerator struct {
	n, pad, i int
	buf       []byte
	done      bool
	written   int64
	// peak is the largest heap seen while the document was being read.
	peak uint64
}

func (g *feedGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.done {
			return 0, io.EOF
		}
		g.fill()
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	g.written += int64(k)
	return k, nil
}

func (g *feedGenerator) fill() {
	const start = 1600000000
	if g.i%2400 == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		g.peak = max(g.peak, m.HeapAlloc)
	}
	var b strings.Builder
	if g.i == 0 {
		b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="self" href="/UsagePoint/1"/><content><UsagePoint xmlns="http://naesb.org/espi"><ServiceCategory><kind>0</kind></ServiceCategory></UsagePoint></content></entry>`)
		b.WriteString(`<entry><link rel="self" href="/ReadingType/1"/><content><ReadingType xmlns="http://naesb.org/espi"><uom>72</uom><powerOfTenMultiplier>0</powerOfTenMultiplier><flowDirection>1</flowDirection><intervalLength>3600</intervalLength></ReadingType></content></entry>`)
	}
	if g.i >= g.n {
		b.WriteString(`</feed>`)
		g.done = true
		g.buf = []byte(b.String())
		return
	}
	day := g.i / 24
	fmt.Fprintf(&b, `<entry><link rel="self" href="/UsagePoint/1/MeterReading/1/IntervalBlock/%d"/><content><IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>86400</duration><start>%d</start></interval>`, day, start+day*86400)
	for h := 0; h < 24 && g.i < g.n; h++ {
		fmt.Fprintf(&b, `<IntervalReading><cost>%d</cost><timePeriod><duration>3600</duration><start>%d</start></timePeriod><value>%d</value></IntervalReading>`, g.i%1000, start+g.i*3600, g.i%5000)
		if g.pad > 0 {
			b.WriteString("<!--")
			b.WriteString(strings.Repeat(" ", g.pad))
			b.WriteString("-->")
		}
		g.i++
	}
	b.WriteString(`</IntervalBlock></content></entry>`)
	g.buf = []byte(b.String())
}

// TestMemoryFlat: what a parsed feed keeps is about 32 bytes per reading,
// however verbose the XML (here about 150 and 650 bytes per reading).
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("parses about 50 MB of generated XML")
	}
	const n = 60_000
	// The peak depends on the collector's pacing: pin it to the default.
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, pad := range []int{0, 500} {
		t.Run(fmt.Sprintf("pad %d", pad), func(t *testing.T) {
			g := &feedGenerator{n: n, pad: pad}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			f, err := ParseXML(context.Background(), g, Options{})
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			got := feedReadings(f)
			if got != n {
				t.Fatalf("%d readings, want %d", got, n)
			}
			retained := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
			peak := float64(int64(g.peak)-int64(before.HeapAlloc)) / n
			perReading := float64(g.written) / n
			t.Logf("XML %.0f bytes per reading; heap %.1f bytes per reading retained, %.1f at peak", perReading, retained, peak)
			if retained > 64 {
				t.Errorf("%.1f bytes retained per reading, want at most 64 (XML: %.0f bytes per reading)", retained, perReading)
			}
			// The peak includes garbage awaiting collection; it must not
			// follow the size of the XML.
			if peak > 200 {
				t.Errorf("heap peaked at %.1f bytes per reading, want at most 200 (XML: %.0f bytes per reading)", peak, perReading)
			}
			runtime.KeepAlive(f)
		})
	}
}
