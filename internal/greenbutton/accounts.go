package greenbutton

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// AccountOptions tune the conversion of a Feed into accounts.
type AccountOptions struct {
	// Since drops intervals that start before it (epoch seconds; 0 keeps
	// everything). Bills are always kept.
	Since int64
	// GasHeatContent in Btu per cubic foot turns gas volumes (m3, ft3,
	// ccf) into therms; 0 means DefaultGasHeatContent.
	GasHeatContent float64
}

// Meter external ids are the account's plus these suffixes.
const (
	ElectricMeterSuffix = "#electric"
	GasMeterSuffix      = "#gas"
)

// Accounts maps the Feed to the connector's accounts: one account per
// electricity or gas usage point (ExternalID: the usage point's href), with
// at most one ELECTRIC meter (signed net kWh) and one GAS meter (therms),
// and one bill per UsageSummary billing period. Rules in the package doc.
func (f *Feed) Accounts(opt AccountOptions) ([]connector.Account, error) {
	hc := opt.GasHeatContent
	if hc == 0 {
		hc = DefaultGasHeatContent
	}
	if !(hc > 0) || math.IsInf(hc, 0) {
		return nil, fmt.Errorf("greenbutton: gas heat content %v is not a positive number", hc)
	}
	heat := new(big.Rat).SetFloat64(hc)
	var out []connector.Account
	seen := map[string]bool{}
	for i := range f.UsagePoints {
		up := &f.UsagePoints[i]
		if up.Kind != ServiceElectricity && up.Kind != ServiceGas && up.Kind != ServiceUnknown {
			continue
		}
		ext := up.Href
		if ext == "" || seen[ext] {
			ext = fmt.Sprintf("usagepoint-%d", i+1)
		}
		seen[ext] = true
		acct := connector.Account{
			Account:   gridlink.Account{ExternalID: ext, Number: up.AccountNumber, Address: up.Address},
			Intervals: map[string][]gridlink.Interval{},
		}
		var elec, gas []*Series
		for j := range up.Series {
			s := &up.Series[j]
			switch classify(s.ReadingType, up.Kind) {
			case classElectricEnergy:
				elec = append(elec, s)
			case classGas:
				gas = append(gas, s)
			}
		}
		ivs, err := electricIntervals(elec, opt.Since)
		if err != nil {
			return nil, fmt.Errorf("greenbutton: usage point %q: %w", up.Href, err)
		}
		if len(ivs) > 0 {
			id := ext + ElectricMeterSuffix
			acct.Meters = append(acct.Meters, gridlink.Meter{ExternalID: id, Type: gridlink.Electric})
			acct.Intervals[id] = ivs
		}
		ivs = gasIntervals(gas, heat, opt.Since)
		if len(ivs) > 0 {
			id := ext + GasMeterSuffix
			acct.Meters = append(acct.Meters, gridlink.Meter{ExternalID: id, Type: gridlink.Gas})
			acct.Intervals[id] = ivs
		}
		acct.Bills = bills(up, heat)
		if len(acct.Meters) == 0 && len(acct.Bills) == 0 {
			continue
		}
		out = append(out, acct)
	}
	return out, nil
}

// item is a reading on its way to an interval.
type item struct {
	start, dur int64
	n          int64   // electric: value in 10^exp kWh
	f          float64 // gas: therms
}

func (it item) end() int64 { return it.start + it.dur }

// mergeItems combines lists (each sorted by start) into one sorted,
// non-overlapping list: earlier lists win, and a reading that overlaps one
// already taken is left out.
func mergeItems(lists [][]item) []item {
	var acc []item
	for _, l := range lists {
		var kept []item
		j := 0
		lastEnd := int64(math.MinInt64)
		for _, x := range l {
			if x.start < lastEnd {
				continue
			}
			for j < len(acc) && acc[j].end() <= x.start {
				j++
			}
			if j < len(acc) && acc[j].start < x.end() {
				continue
			}
			kept = append(kept, x)
			lastEnd = x.end()
		}
		if len(acc) == 0 {
			acc = kept
			continue
		}
		merged := make([]item, 0, len(acc)+len(kept))
		a, b := 0, 0
		for a < len(acc) || b < len(kept) {
			if b == len(kept) || (a < len(acc) && acc[a].start < kept[b].start) {
				merged = append(merged, acc[a])
				a++
			} else {
				merged = append(merged, kept[b])
				b++
			}
		}
		acc = merged
	}
	return acc
}

// byResolution orders series finest first (modal duration), then longest.
func byResolution(ss []*Series) []*Series {
	out := append([]*Series(nil), ss...)
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := modalDuration(out[i].Readings), modalDuration(out[j].Readings)
		if di != dj {
			return di < dj
		}
		return len(out[i].Readings) > len(out[j].Readings)
	})
	return out
}

// finestFirst orders lists by most common duration, then length, and
// returns their items.
func finestFirst(lists [][]item) [][]item {
	mode := make([]int64, len(lists))
	for i, l := range lists {
		counts := map[int64]int{}
		for _, x := range l {
			counts[x.dur]++
			if counts[x.dur] > counts[mode[i]] || (counts[x.dur] == counts[mode[i]] && x.dur < mode[i]) {
				mode[i] = x.dur
			}
		}
	}
	idx := make([]int, len(lists))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if mode[idx[a]] != mode[idx[b]] {
			return mode[idx[a]] < mode[idx[b]]
		}
		return len(lists[idx[a]]) > len(lists[idx[b]])
	})
	out := make([][]item, len(lists))
	for i, j := range idx {
		out[i] = lists[j]
	}
	return out
}

var errOverflow = errors.New("reading value too large")

// electricIntervals builds the ELECTRIC meter's intervals: the net series
// if any, else delivered minus received per interval (see the package doc).
func electricIntervals(series []*Series, since int64) ([]gridlink.Interval, error) {
	var net, del, rec []*Series
	exp := math.MaxInt
	for _, s := range series {
		switch s.ReadingType.FlowDirection {
		case FlowNet:
			net = append(net, s)
		case FlowReverse:
			rec = append(rec, s)
		case FlowNone, FlowForward:
			del = append(del, s)
		default:
			continue
		}
		exp = min(exp, s.ReadingType.Exponent())
	}
	if exp == math.MaxInt {
		return nil, nil
	}
	toItems := func(ss []*Series) ([][]item, error) {
		// Time-of-use or tier components (one series per TOU period or
		// consumption tier) add up: readings of the same interval are
		// summed into one list, which then competes like a series.
		var lists [][]item
		tiers := map[[2]int64]int64{}
		for _, s := range ss {
			shift := s.ReadingType.Exponent() - exp
			if shift > 18 {
				return nil, errOverflow
			}
			mul := int64(math.Pow10(shift))
			tiered := s.ReadingType.TOU != 0 || s.ReadingType.ConsumptionTier != 0 || s.ReadingType.CPP != 0
			l := make([]item, 0, len(s.Readings))
			for _, r := range s.Readings {
				if r.Missing {
					continue
				}
				v := r.Value * mul
				if mul != 1 && v/mul != r.Value {
					return nil, errOverflow
				}
				if tiered {
					k := [2]int64{r.Start, int64(r.Duration)}
					sum := tiers[k] + v
					if (v > 0 && sum < tiers[k]) || (v < 0 && sum > tiers[k]) {
						return nil, errOverflow
					}
					tiers[k] = sum
					continue
				}
				l = append(l, item{start: r.Start, dur: int64(r.Duration), n: v})
			}
			if !tiered {
				lists = append(lists, l)
			}
		}
		if len(tiers) > 0 {
			l := make([]item, 0, len(tiers))
			for k, v := range tiers {
				l = append(l, item{start: k[0], dur: k[1], n: v})
			}
			sort.Slice(l, func(i, j int) bool {
				if l[i].start != l[j].start {
					return l[i].start < l[j].start
				}
				return l[i].dur < l[j].dur
			})
			lists = append(lists, l)
		}
		return finestFirst(lists), nil
	}
	var items []item
	if len(net) > 0 {
		lists, err := toItems(net)
		if err != nil {
			return nil, err
		}
		items = mergeItems(lists)
	} else {
		dl, err := toItems(del)
		if err != nil {
			return nil, err
		}
		rl, err := toItems(rec)
		if err != nil {
			return nil, err
		}
		d, r := mergeItems(dl), mergeItems(rl)
		if len(r) == 0 {
			items = d
		} else {
			at := make(map[int64]int, len(r))
			for i, x := range r {
				at[x.start] = i
			}
			used := make([]bool, len(r))
			combined := make([]item, 0, len(d))
			for _, x := range d {
				if i, ok := at[x.start]; ok && r[i].dur == x.dur {
					v := x.n - r[i].n
					if (r[i].n > 0 && v > x.n) || (r[i].n < 0 && v < x.n) {
						return nil, errOverflow
					}
					x.n = v
					used[i] = true
				}
				combined = append(combined, x)
			}
			var extra []item
			for i, x := range r {
				if !used[i] {
					x.n = -x.n
					extra = append(extra, x)
				}
			}
			items = mergeItems([][]item{combined, extra})
		}
	}
	out := make([]gridlink.Interval, 0, len(items))
	for _, x := range items {
		if x.start < since {
			continue
		}
		out = append(out, gridlink.Interval{Start: x.start, End: x.end(), Usage: scaleFloat(x.n, exp)})
	}
	return out, nil
}

// gasIntervals builds the GAS meter's intervals in therms.
func gasIntervals(series []*Series, heat *big.Rat, since int64) []gridlink.Interval {
	var lists [][]item
	for _, s := range byResolution(series) {
		if f := s.ReadingType.FlowDirection; f != FlowNone && f != FlowForward && f != FlowNet {
			continue
		}
		per := thermsPer(s.ReadingType.UOM, heat)
		if per == nil {
			continue
		}
		l := make([]item, 0, len(s.Readings))
		for _, r := range s.Readings {
			if r.Missing {
				continue
			}
			v := scaleRat(big.NewInt(r.Value), s.ReadingType.PowerOfTenMultiplier)
			t, _ := v.Mul(v, per).Float64()
			l = append(l, item{start: r.Start, dur: int64(r.Duration), f: t})
		}
		lists = append(lists, l)
	}
	var out []gridlink.Interval
	for _, x := range mergeItems(lists) {
		if x.start < since {
			continue
		}
		out = append(out, gridlink.Interval{Start: x.start, End: x.end(), Usage: x.f})
	}
	return out
}

// bills turns the usage point's summaries into bills, one per billing
// period (the later of two summaries for the same period wins).
func bills(up *UsagePoint, heat *big.Rat) []connector.Bill {
	var out []connector.Bill
	at := map[string]int{}
	for _, s := range up.Summaries {
		per := s.BillingPeriod
		cons := s.OverallConsumptionLastPeriod
		if per.Duration <= 0 || (s.BillLastPeriod == nil && cons == nil) {
			continue
		}
		start, end := per.Start, per.End()
		b := gridlink.Bill{ExternalID: fmt.Sprintf("bill-%d-%d", per.Start, per.Duration), StartDate: &start, EndDate: &end}
		gas := up.Kind == ServiceGas
		if up.Kind == ServiceUnknown && cons != nil && thermsPer(cons.UOM, heat) != nil && cons.UOM != UOMWh {
			gas = true
		}
		if s.BillLastPeriod != nil {
			amount := s.Money(*s.BillLastPeriod)
			total, due, charge := amount, amount, amount
			b.TotalCharges, b.TotalAmountDue = &total, &due
			if gas {
				b.GasCharge = &charge
			} else {
				b.ElectricCharge = &charge
			}
		}
		if cons != nil {
			switch {
			case cons.UOM == UOMWh && !gas:
				v := scaleFloat(cons.Value, cons.PowerOfTenMultiplier-3)
				b.ElectricKWh = &v
			case gas && thermsPer(cons.UOM, heat) != nil:
				r := scaleRat(big.NewInt(cons.Value), cons.PowerOfTenMultiplier)
				v, _ := r.Mul(r, thermsPer(cons.UOM, heat)).Float64()
				b.GasTherm = &v
			}
		}
		for _, li := range s.LineItems {
			if li.Measurement == nil || li.Measurement.UOM != UOMTime || li.Measurement.Value <= 0 {
				continue
			}
			t := scaleFloat(li.Measurement.Value, li.Measurement.PowerOfTenMultiplier)
			if t <= 0 || t > maxTime {
				continue
			}
			ts := int64(t)
			note := strings.ToLower(li.Note)
			switch {
			case strings.Contains(note, "due"):
				b.DueDate = &ts
			case strings.Contains(note, "bill date"), strings.Contains(note, "statement"):
				b.StatementDate = &ts
			}
		}
		if i, ok := at[b.ExternalID]; ok {
			out[i] = connector.Bill{Bill: b}
			continue
		}
		at[b.ExternalID] = len(out)
		out = append(out, connector.Bill{Bill: b})
	}
	return out
}
