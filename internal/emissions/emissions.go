// Package emissions gives deterministic greenhouse-gas emission factors:
// grid electricity per utility and hour, and natural gas per therm.
//
// Electric rates are modelled, not measured: each utility is mapped to its
// EPA eGRID subregion, whose annual average output emission rate (eGRID2022,
// rounded) is shaped by the local hour of day (a midday dip where solar is
// large, an evening peak when gas peakers run) and mildly by season. The
// rate is a pure function of (utility slug, hour), constant within each
// clock hour, so the same rates can be served by GET /emission-rates and
// used for the ghg_emissions of intervals.
package emissions

import (
	"math"
	"time"

	"github.com/gridlink/gridlink"
)

// GasKgPerTherm is the CO2 emitted by burning one therm of natural gas, in
// kg. Source: US EPA, Greenhouse Gas Equivalencies Calculator, "Calculations
// and References": 0.0053 metric tons CO2 per therm (from 14.43 kg C per
// mmBtu, 0.1 mmBtu per therm and the 44/12 CO2/C ratio, 100% oxidation).
const GasKgPerTherm = 5.3

// Unit is the unit of electric rates, as GET /emission-rates names it.
const Unit = "kg_co2e_per_kwh"

// Bounds of every electric rate, in kg CO2e per kWh.
const (
	MinRate = 0.05
	MaxRate = 0.9
)

// Rate is the electric emission factor of one clock hour [Start, End)
// (epoch seconds).
type Rate struct {
	Start int64
	End   int64
	Rate  float64 // kg CO2e per kWh
}

// ElectricRate returns the grid emission factor in kg CO2e per kWh for the
// utility with the given slug at time t. It depends only on the slug and the
// clock hour containing t; an unknown slug gets the US average shape.
// The result is rounded to 4 decimals and lies within [MinRate, MaxRate].
func ElectricRate(utilitySlug string, t time.Time) float64 {
	r, _ := regionOf(utilitySlug)
	return r.rate(t.Unix())
}

// Rates returns the hourly electric rates of the utility covering [start,
// end): one Rate per clock hour, the first being the hour that contains
// start. It returns nil when end is not after start. Callers bound the span
// (8,760 rates per year).
func Rates(utilitySlug string, start, end time.Time) []Rate {
	s, e := start.Unix(), end.Unix()
	if e <= s {
		return nil
	}
	s = floorDiv(s, 3600) * 3600
	r, _ := regionOf(utilitySlug)
	out := make([]Rate, 0, (e-s+3599)/3600)
	for h := s; h < e; h += 3600 {
		out = append(out, Rate{Start: h, End: h + 3600, Rate: r.rate(h)})
	}
	return out
}

// GHG returns the emissions in kg CO2e of usage (kWh for electric meters,
// therms for gas) of a reading that starts at start, rounded to 6 decimals.
// Electric readings use the rate of the hour containing their start; other
// meter types give 0.
func GHG(utilitySlug string, t gridlink.MeterType, start time.Time, usage float64) float64 {
	var kg float64
	switch t {
	case gridlink.Electric:
		kg = usage * ElectricRate(utilitySlug, start)
	case gridlink.Gas:
		kg = usage * GasKgPerTherm
	default:
		return 0
	}
	return math.Round(kg*1e6) / 1e6
}

// region is the emission model of one eGRID subregion.
type region struct {
	// avg is the eGRID2022 annual output emission rate, kg CO2e per kWh.
	avg float64
	// solar is the relative depth of the midday dip (0.45: 45% lower at
	// solar noon in spring).
	solar float64
	// evening is the relative height of the evening peak.
	evening float64
	// night is the relative change overnight (negative: cleaner baseload).
	night float64
	// std is the standard-time UTC offset in hours; dst says whether the
	// US daylight-saving rule applies.
	std int
	dst bool
}

// Time-zone shorthands for the region table.
const (
	eastern  = -5
	central  = -6
	mountain = -7
	pacific  = -8
	hawaii   = -10
)

// Regions (eGRID subregion acronyms) with rounded eGRID2022 averages.
func camx() region  { return region{0.22, 0.45, 0.30, -0.05, pacific, true} }   // California
func nwpp() region  { return region{0.27, 0.15, 0.15, -0.05, pacific, true} }   // Northwest
func nwppM() region { return region{0.45, 0.15, 0.15, -0.05, mountain, true} }  // Northwest, Mountain time (Utah, Idaho)
func aznm() region  { return region{0.35, 0.30, 0.25, -0.05, mountain, false} } // Arizona (no DST)
func rmpa() region  { return region{0.55, 0.20, 0.15, 0.00, mountain, true} }   // Rocky Mountains
func erct() region  { return region{0.37, 0.20, 0.20, 0.00, central, true} }    // Texas
func spso() region  { return region{0.42, 0.10, 0.15, 0.00, central, true} }    // SPP South
func spno() region  { return region{0.45, 0.10, 0.15, 0.00, central, true} }    // SPP North
func srmv() region  { return region{0.36, 0.05, 0.15, 0.00, central, true} }    // SERC Mississippi Valley
func srmw() region  { return region{0.62, 0.05, 0.10, 0.00, central, true} }    // SERC Midwest
func mrow() region  { return region{0.43, 0.05, 0.15, -0.05, central, true} }   // MRO West
func mroe() region  { return region{0.58, 0.05, 0.10, 0.00, central, true} }    // MRO East
func rfcw() region  { return region{0.46, 0.05, 0.12, -0.03, eastern, true} }   // RFC West
func rfcwC() region { return region{0.46, 0.05, 0.12, -0.03, central, true} }   // RFC West, Central time (Chicago)
func rfcm() region  { return region{0.53, 0.05, 0.12, -0.03, eastern, true} }   // RFC Michigan
func rfce() region  { return region{0.28, 0.05, 0.15, -0.05, eastern, true} }   // RFC East
func nycw() region  { return region{0.40, 0.05, 0.15, 0.00, eastern, true} }    // NYC and Westchester
func nyli() region  { return region{0.53, 0.05, 0.15, 0.00, eastern, true} }    // Long Island
func nyup() region  { return region{0.11, 0.05, 0.20, -0.05, eastern, true} }   // Upstate New York
func newe() region  { return region{0.24, 0.05, 0.15, -0.03, eastern, true} }   // New England
func srvc() region  { return region{0.30, 0.10, 0.15, -0.05, eastern, true} }   // Virginia/Carolinas
func srso() region  { return region{0.40, 0.10, 0.15, 0.00, eastern, true} }    // SERC South (Georgia)
func srsoC() region { return region{0.40, 0.10, 0.15, 0.00, central, true} }    // SERC South, Central time (Alabama)
func frcc() region  { return region{0.38, 0.15, 0.15, 0.00, eastern, true} }    // Florida
func hioa() region  { return region{0.70, 0.15, 0.12, 0.00, hawaii, false} }    // Oahu
func usAvg() region { return region{0.37, 0.10, 0.15, 0.00, eastern, true} }    // US average

// regionOf maps a catalogue slug to its region; ok is false for slugs the
// table does not know (they get the US average).
func regionOf(slug string) (r region, ok bool) {
	switch slug {
	case "pge", "sce", "sdge", "socalgas", "smud", "ladwp", "sandbox", "demo-greenbutton":
		return camx(), true
	case "demo-power": // the fictional demo utility: the US average, on purpose
		return usAvg(), true
	case "puget-sound-energy", "portland-general", "pacific-power", "avista", "seattle-city-light", "nw-natural", "nv-energy", "southwest-gas":
		return nwpp(), true
	case "rocky-mountain-power", "idaho-power":
		return nwppM(), true
	case "aps", "srp", "tep":
		return aznm(), true
	case "xcel-colorado":
		return rmpa(), true
	case "oncor", "centerpoint", "aep-texas", "austin-energy", "cps-energy", "atmos-energy":
		return erct(), true
	case "pso", "oge", "swepco":
		return spso(), true
	case "evergy":
		return spno(), true
	case "entergy-louisiana", "entergy-arkansas", "cleco":
		return srmv(), true
	case "ameren-illinois", "ameren-missouri", "spire":
		return srmw(), true
	case "xcel-minnesota":
		return mrow(), true
	case "we-energies":
		return mroe(), true
	case "comed", "peoples-gas", "nicor-gas":
		return rfcwC(), true
	case "aep-ohio", "appalachian-power", "indiana-michigan-power", "duquesne-light", "ohio-edison", "penelec",
		"duke-energy-ohio", "duke-energy-indiana", "columbia-gas-ohio", "nipsco":
		return rfcw(), true
	case "dte", "consumers-energy":
		return rfcm(), true
	case "pseg", "jcpl", "met-ed", "peco", "ppl", "bge", "pepco", "delmarva", "atlantic-city-electric",
		"washington-gas", "columbia-gas-pennsylvania":
		return rfce(), true
	case "coned", "orange-rockland":
		return nycw(), true
	case "pseg-long-island":
		return nyli(), true
	case "national-grid-ny", "nyseg", "rge", "central-hudson":
		return nyup(), true
	case "national-grid-ma", "eversource-ma", "eversource-ct", "green-mountain-power":
		return newe(), true
	case "dominion-virginia", "duke-energy-carolinas", "duke-energy-progress", "piedmont-natural-gas":
		return srvc(), true
	case "georgia-power":
		return srso(), true
	case "alabama-power":
		return srsoC(), true
	case "duke-energy-florida", "fpl", "tampa-electric":
		return frcc(), true
	case "hawaiian-electric":
		return hioa(), true
	}
	return usAvg(), false
}

// rate is the region's factor for the clock hour containing unix time t.
func (r region) rate(t int64) float64 {
	off := int64(r.std) * 3600
	if r.dst && isDST(t, r.std) {
		off += 3600
	}
	local := time.Unix(t+off, 0).UTC()
	h := float64(local.Hour()) + 0.5 // middle of the hour
	doy := float64(local.YearDay())

	// Solar is strongest in late spring and summer.
	season := 0.8 + 0.3*math.Cos(2*math.Pi*(doy-150)/365)
	f := 1 -
		r.solar*season*bump(h, 12.5, 2.6) +
		r.evening*bump(h, 19.5, 2.0) +
		r.night*bump(h, 3, 2.5)
	v := r.avg * f
	v = math.Round(v*1e4) / 1e4
	return min(max(v, MinRate), MaxRate)
}

// bump is a Gaussian bump centred on hour c with width w, measured around
// the 24-hour clock.
func bump(h, c, w float64) float64 {
	d := math.Abs(h - c)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * w * w))
}

// isDST reports whether US daylight saving time is in effect at unix time t
// for a zone of standard offset std hours: from 2:00 standard time on the
// second Sunday of March to 2:00 daylight time (1:00 standard) on the first
// Sunday of November (the rule since 2007).
func isDST(t int64, std int) bool {
	off := int64(std) * 3600
	y := time.Unix(t+off, 0).UTC().Year()
	start := nthSunday(y, time.March, 2).Add(2*time.Hour).Unix() - off
	end := nthSunday(y, time.November, 1).Add(1*time.Hour).Unix() - off
	return t >= start && t < end
}

// nthSunday returns midnight (as a UTC wall clock) of the n-th Sunday of
// the month.
func nthSunday(y int, m time.Month, n int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	d := (7 - int(first.Weekday())) % 7 // days to the first Sunday
	return first.AddDate(0, 0, d+7*(n-1))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
