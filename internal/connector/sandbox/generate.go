package sandbox

import (
	"fmt"
	"math"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// Data model of the simulation.
//
// Every value is a pure function of the username (hashed into a seed), the
// account's position and the reading's start time, so any fetch reproduces
// the readings of an earlier one. Usage is rounded to thousandths (Wh,
// milli-therms) and summed in integers, so a bill's usage is exactly the
// sum of its intervals.
//
// History: electric readings from local midnight (America/Los_Angeles) 13
// months before now (36 months for big@) up to the last complete interval
// before now; gas readings are whole Los Angeles days up to last midnight.
// A bill covers one calendar month [first day, first day of next month)
// whose readings are all in the history and whose statement (the 4th of the
// next month) is out by now.

const (
	quarter   = 15 * 60 // seconds
	hour      = 3600
	slotsADay = 96 // quarter hours
)

// Noise salts, so that independent draws use independent streams.
const (
	saltAccount uint64 = iota + 1
	saltScale
	saltGasScale
	saltDay
	saltGasDay
	saltInterval
	saltNumber
	saltAddress
	saltPayment
)

// Tariff of the simulated utility (roughly PG&E residential, 2026).
const (
	elecCentsPerKWh    = 38.9
	elecCentsPerDay    = 79.34 // base services charge, ~$24 a month
	gasCentsPerTherm   = 241.0
	gasCentsPerDay     = 16.4
	taxRate            = 0.075 // utility users' tax on energy charges
	statementDayOfMnth = 4     // the statement is dated the 4th of the next month
	dueAfterDays       = 21
)

// accountSpec describes one simulated account.
type accountSpec struct {
	id, elecID, gasID string // fixed public ids ("" lets sync derive them)
	number, address   string
	gas               bool
	step              int64 // electric interval length in seconds
	months            int   // history length
}

// specs returns the accounts of a login.
func specs(user string, sc scenario, seed uint64) []accountSpec {
	switch {
	case user == PelmUser:
		return []accountSpec{
			{id: PelmAccount1, elecID: PelmAccount1Elec, gasID: PelmAccount1Gas, number: "1077345636",
				address: "1 WARRIORS WAY SAN FRANCISCO CA 94158", gas: true, step: hour, months: 13},
			{id: PelmAccount2, elecID: PelmAccount2Elec, number: "2077345636",
				address: "1 FERRY BUILDING SAN FRANCISCO CA 94105", step: hour, months: 13},
		}
	case sc == scBig:
		out := make([]accountSpec, 3)
		for i := range out {
			as := accountSeed(seed, i)
			out[i] = accountSpec{number: accountNumber(as), address: address(as), step: quarter, months: 36}
		}
		return out
	default:
		as := accountSeed(seed, 0)
		return []accountSpec{{number: accountNumber(as), address: address(as), gas: true, step: hour, months: 13}}
	}
}

// generate builds the data of a login as of now; readings starting before
// since are left out (bills are always all returned).
func (s *Sandbox) generate(user string, sc scenario, now, since time.Time) []connector.Account {
	seed := seedOf(user)
	sinceU := int64(math.MinInt64)
	if !since.IsZero() {
		sinceU = since.Unix()
	}
	sp := specs(user, sc, seed)
	out := make([]connector.Account, len(sp))
	for i, a := range sp {
		out[i] = s.account(accountSeed(seed, i), a, now, sinceU)
	}
	return out
}

func (s *Sandbox) account(seed uint64, sp accountSpec, now time.Time, since int64) connector.Account {
	loc := s.loc
	ln := now.In(loc)
	back := ln.AddDate(0, -sp.months, 0)
	start := time.Date(back.Year(), back.Month(), back.Day(), 0, 0, 0, 0, loc)
	today := time.Date(ln.Year(), ln.Month(), ln.Day(), 0, 0, 0, 0, loc)
	elecEnd := floorDiv(now.Unix(), sp.step) * sp.step
	gasEnd := today.Unix()
	nMonths := (ln.Year()-start.Year())*12 + int(ln.Month()) - int(start.Month()) + 1

	a := connector.Account{
		Account: gridlink.Account{
			ID:         sp.id,
			ExternalID: sp.number,
			Number:     sp.number,
			Address:    sp.address,
			Meters:     []gridlink.Meter{{ID: sp.elecID, AccountID: sp.id, ExternalID: ElectricMeterKey, Type: gridlink.Electric}},
		},
		Intervals: make(map[string][]gridlink.Interval, 2),
	}
	elecMilli := make([]int64, nMonths)
	a.Intervals[ElectricMeterKey] = s.electric(seed, start, elecEnd, sp.step, since, elecMilli)
	var gasMilli []int64
	if sp.gas {
		a.Meters = append(a.Meters, gridlink.Meter{ID: sp.gasID, AccountID: sp.id, ExternalID: GasMeterKey, Type: gridlink.Gas})
		gasMilli = make([]int64, nMonths)
		a.Intervals[GasMeterKey] = s.gasDaily(seed, start, gasEnd, since, gasMilli)
	}

	// Bills for the complete months.
	for mi := range nMonths {
		ms := time.Date(start.Year(), start.Month()+time.Month(mi), 1, 0, 0, 0, 0, loc)
		me := time.Date(start.Year(), start.Month()+time.Month(mi)+1, 1, 0, 0, 0, 0, loc)
		stmt := time.Date(start.Year(), start.Month()+time.Month(mi)+1, statementDayOfMnth, 0, 0, 0, 0, loc)
		if ms.Before(start) || me.Unix() > elecEnd || (sp.gas && me.Unix() > gasEnd) || stmt.After(now) {
			continue
		}
		var g *int64
		if sp.gas {
			g = &gasMilli[mi]
		}
		a.Bills = append(a.Bills, s.bill(seed, a.Account, ms, me, stmt, elecMilli[mi], g))
	}
	// Every bill but the latest has been paid a few days before it was due.
	for i := range a.Bills {
		if i == len(a.Bills)-1 {
			break
		}
		b := &a.Bills[i].Bill
		due := time.Unix(*b.DueDate, 0).In(loc)
		early := 2 + int(unit(seed, saltPayment, *b.StartDate)*6)
		paid := due.AddDate(0, 0, -early).Unix()
		b.PaymentDate = &paid
	}
	return a
}

// electric generates the electric readings in [start, end) of the given
// step (15 minutes or an hour), adding each reading's Wh to its month in
// monthly (indexed from start's month), and returns those starting at or
// after since.
func (s *Sandbox) electric(seed uint64, start time.Time, end, step, since int64, monthly []int64) []gridlink.Interval {
	p := newProfile()
	scale := 0.85 + 0.5*unit(seed, saltScale, 0)
	from := max(start.Unix(), since)
	var out []gridlink.Interval
	if end > from {
		out = make([]gridlink.Interval, 0, (end-from)/step+1)
	}
	qs := int(step / quarter) // quarter hours per reading
	y0, m0, d0 := start.Date()
	for day := 0; ; day++ {
		ds := time.Date(y0, m0, d0+day, 0, 0, 0, 0, s.loc)
		dsU := ds.Unix()
		if dsU >= end {
			break
		}
		deU := time.Date(y0, m0, d0+day+1, 0, 0, 0, 0, s.loc).Unix()
		mi := (ds.Year()-y0)*12 + int(ds.Month()) - int(m0)
		we := 0
		if wd := ds.Weekday(); wd == time.Saturday || wd == time.Sunday {
			we = 1
		}
		cool, heat := seasons(ds.YearDay())
		dayF := 0.85 + 0.3*unit(seed, saltDay, dsU)
		regular := deU-dsU == 24*hour
		base := &p.base[we]
		for t := dsU; t < deU && t < end; t += step {
			var q int
			if regular {
				q = int((t - dsU) / quarter)
			} else { // a daylight-saving day: 23 or 25 hours
				h, m, _ := time.Unix(t, 0).In(s.loc).Clock()
				q = h*4 + m/15
			}
			var kw float64
			for k := q; k < q+qs && k < slotsADay; k++ {
				kw += base[k] + cool*p.cool[k] + heat*p.heat[k]
			}
			kwh := kw * 0.25 * scale * dayF * (0.8 + 0.4*unit(seed, saltInterval, t))
			wh := int64(math.Round(kwh * 1000))
			monthly[mi] += wh
			if t >= since {
				out = append(out, gridlink.Interval{Start: t, End: t + step, Usage: float64(wh) / 1000})
			}
		}
	}
	return out
}

// gasDaily generates daily gas readings (Los Angeles days) in [start, end).
func (s *Sandbox) gasDaily(seed uint64, start time.Time, end, since int64, monthly []int64) []gridlink.Interval {
	scale := 0.8 + 0.4*unit(seed, saltGasScale, 0)
	var out []gridlink.Interval
	if from := max(start.Unix(), since); end > from {
		out = make([]gridlink.Interval, 0, (end-from)/(24*hour)+2)
	}
	y0, m0, d0 := start.Date()
	for day := 0; ; day++ {
		ds := time.Date(y0, m0, d0+day, 0, 0, 0, 0, s.loc)
		dsU := ds.Unix()
		deU := time.Date(y0, m0, d0+day+1, 0, 0, 0, 0, s.loc).Unix()
		if deU > end {
			break
		}
		_, heat := seasons(ds.YearDay())
		therms := (0.28 + 2.8*math.Pow(heat, 1.2)) * scale * (0.85 + 0.3*unit(seed, saltGasDay, dsU))
		if wd := ds.Weekday(); wd == time.Saturday || wd == time.Sunday {
			therms *= 1.08 // more cooking and hot water at home
		}
		mt := int64(math.Round(therms * 1000))
		monthly[(ds.Year()-y0)*12+int(ds.Month())-int(m0)] += mt
		if dsU >= since {
			out = append(out, gridlink.Interval{Start: dsU, End: deU, Usage: float64(mt) / 1000})
		}
	}
	return out
}

// profile is a household's electric demand in kW per quarter hour of the
// day: base[0] on weekdays, base[1] at weekends, plus cooling and heating
// components scaled by the season.
type profile struct {
	base       [2][slotsADay]float64
	cool, heat [slotsADay]float64
}

func newProfile() *profile {
	p := new(profile)
	for q := range slotsADay {
		x := (float64(q) + 0.5) / 4             // hour of day at the middle of the slot
		always := 0.28 + 0.2*bump(x, 22.5, 1.0) // fridge, standby; late-evening TV
		work := 0.0
		if x >= 9 && x < 16 {
			work = 0.08 // house mostly empty
		}
		p.base[0][q] = always + 0.55*bump(x, 7, 1.0) + work + 0.95*bump(x, 19, 1.8)
		p.base[1][q] = always + 0.5*bump(x, 9, 1.5) + 0.35*bump(x, 13, 3) + 1.05*bump(x, 19, 1.8)
		p.cool[q] = 1.6 * bump(x, 16.5, 2.5)                 // air conditioning, hot afternoons
		p.heat[q] = 0.6*bump(x, 18.5, 2) + 0.3*bump(x, 7, 1) // lighting and heating, dark winter days
	}
	return p
}

// seasons returns the cooling weight (peaks late July) and heating weight
// (peaks late January), each in [0, 1], for a day of the year.
func seasons(yday int) (cool, heat float64) {
	c := math.Max(0, math.Cos(2*math.Pi*float64(yday-205)/365))
	h := math.Max(0, math.Cos(2*math.Pi*float64(yday-20)/365))
	return c * math.Sqrt(c), h
}

// bump is a Gaussian bump centred on hour c with width w, around the clock.
func bump(x, c, w float64) float64 {
	d := math.Abs(x - c)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * w * w))
}

// bill builds one statement; usage is in thousandths (Wh, milli-therms).
func (s *Sandbox) bill(seed uint64, a gridlink.Account, ms, me, stmt time.Time, wh int64, gasMilli *int64) connector.Bill {
	days := int(math.Round(me.Sub(ms).Hours() / 24))
	kwh := float64(wh) / 1000
	elec := cents(kwh*elecCentsPerKWh + float64(days)*elecCentsPerDay)
	var gas int64
	var therms float64
	if gasMilli != nil {
		therms = float64(*gasMilli) / 1000
		gas = cents(therms*gasCentsPerTherm + float64(days)*gasCentsPerDay)
	}
	other := cents(float64(elec+gas) * taxRate)
	total := elec + gas + other

	start, end, st := ms.Unix(), me.Unix(), stmt.Unix()
	due := stmt.AddDate(0, 0, dueAfterDays).Unix()
	b := connector.Bill{Bill: gridlink.Bill{
		AccountID:      a.ID,
		ExternalID:     fmt.Sprintf("bill-%04d-%02d", ms.Year(), int(ms.Month())),
		StartDate:      &start,
		EndDate:        &end,
		StatementDate:  &st,
		DueDate:        &due,
		TotalAmountDue: dollars(total),
		TotalCharges:   dollars(total),
		ElectricCharge: dollars(elec),
		OtherCharge:    dollars(other),
		ElectricKWh:    &kwh,
		HasPDF:         true,
	}}
	if gasMilli != nil {
		b.GasCharge = dollars(gas)
		b.GasTherm = &therms
	}
	b.PDF = s.statement(statementData{
		number: a.Number, address: a.Address,
		start: ms, end: me, statement: stmt, due: time.Unix(due, 0).In(s.loc), days: days,
		kwh: kwh, therms: therms, gas: gasMilli != nil,
		elec: elec, gasCents: gas, other: other, total: total,
	})
	return b
}

// cents rounds an amount in cents to a whole cent.
func cents(c float64) int64 { return int64(math.Round(c)) }

func dollars(c int64) *float64 {
	d := float64(c) / 100
	return &d
}

// Deterministic randomness: FNV-1a of the username, mixed with SplitMix64.

func seedOf(user string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(user); i++ {
		h ^= uint64(user[i])
		h *= 1099511628211
	}
	return mix(h)
}

func accountSeed(seed uint64, i int) uint64 {
	return mix(seed ^ mix(saltAccount<<32+uint64(i)))
}

// mix is the SplitMix64 finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit returns a uniform value in [0, 1) for (seed, salt, t).
func unit(seed, salt uint64, t int64) float64 {
	return float64(mix(seed^mix(uint64(t)*0x9e3779b97f4a7c15+salt))>>11) / (1 << 53)
}

func accountNumber(seed uint64) string {
	return fmt.Sprintf("%010d", 1_000_000_000+mix(seed^saltNumber)%9_000_000_000)
}

// address returns a made-up Bay Area street address in the utility's
// upper-case style.
func address(seed uint64) string {
	streets := [...]string{"MARKET ST", "VALENCIA ST", "OAK ST", "COLLEGE AVE", "ALMA ST", "UNIVERSITY AVE",
		"SHATTUCK AVE", "LINCOLN AVE", "CASTRO ST", "PARK BLVD", "EL CAMINO REAL", "TELEGRAPH AVE"}
	cities := [...]string{"SAN FRANCISCO CA 94110", "OAKLAND CA 94610", "BERKELEY CA 94703", "PALO ALTO CA 94301",
		"SAN JOSE CA 95125", "MOUNTAIN VIEW CA 94041", "ALAMEDA CA 94501", "SAN MATEO CA 94401"}
	h := mix(seed ^ saltAddress)
	num := 100 + h%9800
	h = mix(h)
	st := streets[h%uint64(len(streets))]
	h = mix(h)
	return fmt.Sprintf("%d %s %s", num, st, cities[h%uint64(len(cities))])
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
