package emissions

import (
	"math"
	"testing"
	"time"
	_ "time/tzdata" // time zones on any host, so these checks never skip

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
)

func TestEveryCatalogueUtilityHasARegion(t *testing.T) {
	for _, u := range catalog.Default().All() {
		if _, ok := regionOf(u.Slug); !ok {
			t.Errorf("utility %q has no emission region (it would get the US average)", u.Slug)
		}
	}
}

func TestElectricRateBounds(t *testing.T) {
	slugs := []string{"no-such-utility"}
	for _, u := range catalog.Default().All() {
		slugs = append(slugs, u.Slug)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range slugs {
		// Every 7th hour over a year reaches every hour of day and season.
		for h := 0; h < 365*24; h += 7 {
			at := start.Add(time.Duration(h) * time.Hour)
			r := ElectricRate(s, at)
			if r < 0.05 || r > 0.9 || math.IsNaN(r) {
				t.Fatalf("ElectricRate(%q, %v) = %v, outside 0.05..0.9", s, at, r)
			}
		}
	}
}

func TestElectricRateShape(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal("time zone data:", err)
	}
	tests := []struct {
		name          string
		slug          string
		lower, higher time.Time
	}{
		{"CA solar noon below evening peak (summer, PDT)", "pge",
			time.Date(2026, 7, 1, 12, 30, 0, 0, la), time.Date(2026, 7, 1, 19, 30, 0, 0, la)},
		{"CA solar noon below evening peak (winter, PST)", "sce",
			time.Date(2026, 1, 15, 12, 0, 0, 0, la), time.Date(2026, 1, 15, 19, 0, 0, 0, la)},
		{"CA cleaner than Missouri", "pge",
			time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo := ElectricRate(tt.slug, tt.lower)
			hiSlug := tt.slug
			if tt.lower.Equal(tt.higher) {
				hiSlug = "ameren-missouri"
			}
			hi := ElectricRate(hiSlug, tt.higher)
			if !(lo < hi) {
				t.Errorf("rate %v (%s at %v) not below %v (%s at %v)", lo, tt.slug, tt.lower, hi, hiSlug, tt.higher)
			}
		})
	}
	// The California average over a day is plausible (eGRID CAMX ~0.22).
	var sum float64
	day := time.Date(2026, 5, 10, 0, 0, 0, 0, la)
	for h := range 24 {
		sum += ElectricRate("pge", day.Add(time.Duration(h)*time.Hour))
	}
	if avg := sum / 24; avg < 0.12 || avg > 0.35 {
		t.Errorf("PG&E daily average rate %v, want about 0.22", avg)
	}
}

func TestElectricRateIsPureAndHourly(t *testing.T) {
	at := time.Date(2026, 9, 14, 17, 0, 0, 0, time.UTC)
	a := ElectricRate("coned", at)
	for _, off := range []time.Duration{0, time.Second, 15 * time.Minute, 59*time.Minute + 59*time.Second} {
		if b := ElectricRate("coned", at.Add(off)); b != a {
			t.Errorf("rate changes within the hour: %v at +%v, %v at start", b, off, a)
		}
	}
	// The same instant in another location gives the same rate.
	if b := ElectricRate("coned", at.In(time.FixedZone("X", 5*3600+1800))); b != a {
		t.Errorf("rate depends on the time's location: %v vs %v", b, a)
	}
}

func TestLocalClockMatchesTZDatabase(t *testing.T) {
	zones := []struct {
		slug string
		tz   string
	}{
		{"pge", "America/Los_Angeles"},
		{"coned", "America/New_York"},
		{"comed", "America/Chicago"},
		{"xcel-colorado", "America/Denver"},
		{"aps", "America/Phoenix"},
		{"hawaiian-electric", "Pacific/Honolulu"},
	}
	for _, z := range zones {
		loc, err := time.LoadLocation(z.tz)
		if err != nil {
			t.Fatal("time zone data:", err)
		}
		r, _ := regionOf(z.slug)
		// Every hour around the DST transitions of several years, plus a
		// sweep through each year.
		for y := 2020; y <= 2030; y++ {
			for h := int64(0); h < 366*24; h += 5 {
				u := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + h*3600
				_, want := time.Unix(u, 0).In(loc).Zone()
				off := int64(r.std) * 3600
				if r.dst && isDST(u, r.std) {
					off += 3600
				}
				if off != int64(want) {
					t.Fatalf("%s at %v: offset %d, tz database says %d", z.tz, time.Unix(u, 0).UTC(), off, want)
				}
			}
		}
	}
}

func TestRates(t *testing.T) {
	start := time.Date(2026, 9, 1, 7, 20, 0, 0, time.UTC)
	end := time.Date(2026, 9, 2, 7, 0, 0, 0, time.UTC)
	rs := Rates("pge", start, end)
	if len(rs) != 24 {
		t.Fatalf("len = %d, want 24", len(rs))
	}
	if rs[0].Start != time.Date(2026, 9, 1, 7, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("first rate starts at %d, want the hour containing start", rs[0].Start)
	}
	for i, r := range rs {
		if r.End-r.Start != 3600 || (i > 0 && r.Start != rs[i-1].End) {
			t.Fatalf("rate %d: [%d, %d) not contiguous hourly", i, r.Start, r.End)
		}
		if want := ElectricRate("pge", time.Unix(r.Start, 0)); r.Rate != want {
			t.Errorf("rate %d = %v, ElectricRate says %v", i, r.Rate, want)
		}
	}
	if Rates("pge", end, start) != nil {
		t.Error("Rates with end before start is not nil")
	}
}

func TestGHG(t *testing.T) {
	at := time.Date(2026, 9, 1, 20, 0, 0, 0, time.UTC)
	rate := ElectricRate("pge", at)
	tests := []struct {
		name  string
		typ   gridlink.MeterType
		usage float64
		want  float64
	}{
		{"electric", gridlink.Electric, 2.5, math.Round(2.5*rate*1e6) / 1e6},
		{"gas", gridlink.Gas, 2, 10.6},
		{"zero usage", gridlink.Electric, 0, 0},
		{"unknown type", gridlink.MeterType("WATER"), 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GHG("pge", tt.typ, at, tt.usage); got != tt.want {
				t.Errorf("GHG = %v, want %v", got, tt.want)
			}
		})
	}
}
