package greenbutton

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CSV local times need the IANA zones on any host
)

// ParseCSV reads a utility's Green Button CSV export (layouts in the
// package doc), converting local times with the utility's time zone.
func ParseCSV(ctx context.Context, r io.Reader, opt Options) (*Feed, error) {
	in, err := prepare(r, opt.maxBytes())
	if err != nil {
		return nil, err
	}
	return parseCSVPrepared(ctx, in, opt)
}

// csvLayout is a recognised column layout.
type csvLayout int

const (
	layoutNone csvLayout = iota
	layoutSCE
	layoutSDGE
	layoutOpower
)

func (l csvLayout) format() string {
	switch l {
	case layoutSCE:
		return FormatSCECSV
	case layoutSDGE:
		return FormatSDGECSV
	case layoutOpower:
		return FormatOpowerCSV
	}
	return ""
}

// csvUnit is a CSV unit with the raw scale used for it: values are kept
// as integers in 10^-6 of the CSV unit.
type csvUnit struct {
	name      string
	uom       int
	pow       int
	commodity int
}

func unitFromText(s string) (csvUnit, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "kwh" || strings.Contains(s, "kilowatt-hour") || strings.Contains(s, "kilowatt hour"):
		return csvUnit{name: "kWh", uom: UOMWh, pow: -3, commodity: CommodityElectricity}, true
	case s == "wh":
		return csvUnit{name: "Wh", uom: UOMWh, pow: -6, commodity: CommodityElectricity}, true
	case s == "therm" || s == "therms" || strings.Contains(s, "therm"):
		return csvUnit{name: "therm", uom: UOMTherm, pow: -6, commodity: CommodityNaturalGas}, true
	case s == "ccf" || s == "hcf":
		return csvUnit{name: "ccf", uom: UOMCubicFoot, pow: -4, commodity: CommodityNaturalGas}, true
	}
	return csvUnit{}, false
}

// csvSeries gathers one series of a CSV.
type csvSeries struct {
	up       string
	name     string
	flow     int
	unit     csvUnit
	readings []Reading
	prevEnd  int64
}

type csvParser struct {
	ctx      context.Context
	opt      Options
	layout   csvLayout
	loc      *time.Location
	preamble map[string]string
	// header columns (lower-case names -> index) of SDG&E and Opower,
	// and units named in Opower headers ("IMPORT (kWh)") by column
	cols     map[string]int
	colUnits map[int]string
	// SCE: the series of the current section
	section *csvSeries
	series  map[string]*csvSeries
	order   []string
	count   int
}

func parseCSVPrepared(ctx context.Context, in *input, opt Options) (*Feed, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	p := &csvParser{ctx: ctx, opt: opt, preamble: map[string]string{}, series: map[string]*csvSeries{}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, wrapReadErr("csv", err)
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &Error{Format: "csv", Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = clean(rec[i])
		}
		if err := p.row(rec, line); err != nil {
			return nil, err
		}
	}
	if p.layout == layoutNone {
		return nil, &Error{Format: "csv", Msg: "no Green Button CSV header row (SCE, SDG&E or Opower layout) found", Err: ErrNotGreenButton}
	}
	return p.feed(), nil
}

// clean normalises a cell: non-breaking spaces and BOMs become spaces, runs
// of spaces collapse, ends are trimmed.
func clean(s string) string {
	if strings.ContainsAny(s, "\u00a0\ufeff\t") || strings.Contains(s, "  ") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\u00a0', '\ufeff', '\t':
				return ' '
			}
			return r
		}, s)
		s = strings.Join(strings.Fields(s), " ")
	}
	return strings.TrimSpace(s)
}

func (p *csvParser) errf(line int, format string, args ...any) error {
	return &Error{Format: "csv", Line: line, Msg: fmt.Sprintf(format, args...)}
}

func nonEmpty(rec []string) int {
	n := 0
	for _, c := range rec {
		if c != "" {
			n++
		}
	}
	return n
}

// row handles one CSV record.
func (p *csvParser) row(rec []string, line int) error {
	if nonEmpty(rec) == 0 {
		return nil
	}
	// Look for a header before the data, and for SCE's section headers;
	// a repeated SDG&E or Opower header row is skipped.
	first := strings.ToLower(rec[0])
	switch {
	case p.layout == layoutNone || (p.layout == layoutSCE && strings.Contains(first, "time period")):
		if p.detectHeader(rec) {
			return nil
		}
	case p.layout == layoutSDGE && first == "meter number", p.layout == layoutOpower && first == "type":
		return nil
	}
	switch p.layout {
	case layoutNone:
		p.preambleRow(rec)
		return nil
	case layoutSCE:
		return p.sceRow(rec, line)
	case layoutSDGE:
		return p.sdgeRow(rec, line)
	case layoutOpower:
		return p.opowerRow(rec, line)
	}
	return nil
}

// preambleRow keeps "Key,Value" and "Key: value" lines before the header.
func (p *csvParser) preambleRow(rec []string) {
	if rec[0] == "" {
		return
	}
	if k, v, ok := strings.Cut(rec[0], ":"); ok && nonEmpty(rec) == 1 {
		p.preamble[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		return
	}
	if len(rec) >= 2 && rec[1] != "" {
		k := strings.ToLower(rec[0])
		if _, dup := p.preamble[k]; !dup {
			p.preamble[k] = rec[1]
		}
	}
}

// detectHeader recognises a header row and sets the layout.
func (p *csvParser) detectHeader(rec []string) bool {
	low := make([]string, len(rec))
	for i, c := range rec {
		low[i] = strings.ToLower(c)
	}
	if len(low) >= 2 && strings.Contains(low[0], "time period") && strings.HasPrefix(low[1], "usage") {
		if p.layout != layoutNone && p.layout != layoutSCE {
			return false
		}
		p.layout = layoutSCE
		flow := FlowForward
		switch {
		case strings.Contains(low[0], "received") || strings.Contains(low[1], "received"):
			flow = FlowReverse
		case strings.Contains(low[0], "net") || strings.Contains(low[1], "net "):
			flow = FlowNet
		}
		u, ok := unitFromText(low[1])
		if !ok {
			u, _ = unitFromText("kwh")
		}
		p.section = p.seriesFor(p.upKey(""), flowName(flow), flow, u)
		return true
	}
	cols := map[string]int{}
	for i, c := range low {
		name := c
		if j := strings.IndexByte(name, '('); j > 0 {
			name = strings.TrimSpace(name[:j])
		}
		if _, dup := cols[name]; !dup {
			cols[name] = i
		}
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := cols[n]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("meter number", "date", "start time", "duration", "consumption"):
		if p.layout != layoutNone && p.layout != layoutSDGE {
			return false
		}
		p.layout, p.cols = layoutSDGE, cols
		return true
	case has("type", "date") && (has("usage") || has("import") || has("export")):
		if p.layout != layoutNone && p.layout != layoutOpower {
			return false
		}
		p.layout, p.cols, p.colUnits = layoutOpower, cols, map[int]string{}
		// Units given in the header ("IMPORT (kWh)").
		for i, c := range low {
			if j := strings.IndexByte(c, '('); j > 0 {
				if u, ok := unitFromText(strings.Trim(c[j:], "() ")); ok {
					p.colUnits[i] = u.name
				}
			}
		}
		return true
	}
	return false
}

func flowName(flow int) string {
	switch flow {
	case FlowReverse:
		return "received"
	case FlowNet:
		return "net"
	}
	return "delivered"
}

// upKey names the usage point of the file (meter: SDG&E meter number).
func (p *csvParser) upKey(meter string) string {
	id := p.preamble["account number"]
	switch p.layout {
	case layoutSCE:
		if id == "" && p.preamble["for location"] != "" {
			// The location is an address: keyed by its digest.
			h := sha256.Sum256([]byte(p.preamble["for location"]))
			id = hex.EncodeToString(h[:8])
		}
		return "sce:" + id
	case layoutSDGE:
		if meter == "" {
			meter = p.preamble["meter number"]
		}
		if meter != "" {
			return "sdge:" + meter
		}
		return "sdge:" + id
	}
	return "opower:" + id
}

func (p *csvParser) seriesFor(up, name string, flow int, u csvUnit) *csvSeries {
	key := up + "#" + name + "#" + u.name
	s, ok := p.series[key]
	if !ok {
		s = &csvSeries{up: up, name: name, flow: flow, unit: u, prevEnd: math.MinInt64}
		p.series[key] = s
		p.order = append(p.order, key)
	}
	return s
}

// zone returns the time zone of the CSV's local times.
func (p *csvParser) zone(line int) (*time.Location, error) {
	if p.loc != nil {
		return p.loc, nil
	}
	name := ""
	switch {
	case p.opt.Location != nil:
		p.loc = p.opt.Location
		return p.loc, nil
	case p.layout == layoutSCE || p.layout == layoutSDGE:
		name = "America/Los_Angeles"
	default:
		name = zoneOfAddress(p.preamble["address"])
	}
	if name == "" {
		return nil, &Error{Format: "csv", Line: line, Msg: "local times without a known time zone (no state in the address); pass Options.Location", Err: ErrNoLocation}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, p.errf(line, "time zone %s: %v", name, err)
	}
	p.loc = loc
	return loc, nil
}

func (p *csvParser) add(s *csvSeries, r Reading, line int) error {
	if p.count >= p.opt.maxReadings() {
		return &Error{Format: "csv", Line: line, Msg: fmt.Sprintf("more than %d readings", p.opt.maxReadings()), Err: ErrTooManyReadings}
	}
	if p.count&4095 == 0 && p.ctx != nil {
		if err := p.ctx.Err(); err != nil {
			return err
		}
	}
	if r.Duration <= 0 || r.Duration > MaxDuration {
		return p.errf(line, "interval duration %d s is not between 1 s and %d days", r.Duration, MaxDuration/86400)
	}
	if r.Start < 0 || r.Start > maxTime {
		return p.errf(line, "interval start out of range")
	}
	p.count++
	s.readings = append(s.readings, r)
	if e := r.End(); e > s.prevEnd {
		s.prevEnd = e
	}
	return nil
}

// SCE: "2022-08-01 00:00:00 to 2022-08-01 00:15:00","0.380","".
func (p *csvParser) sceRow(rec []string, line int) error {
	from, to, ok := strings.Cut(rec[0], " to ")
	if !ok || rec[0] == "" || rec[0][0] < '0' || rec[0][0] > '9' {
		// Section lines ("Data for period starting: ...") and notes.
		return nil
	}
	if p.section == nil || len(rec) < 2 {
		return p.errf(line, "reading before a column header")
	}
	loc, err := p.zone(line)
	if err != nil {
		return err
	}
	sw, err := parseDateTime(from)
	if err != nil {
		return p.errf(line, "start %q: %v", truncate(from, 40), err)
	}
	ew, err := parseDateTime(to)
	if err != nil {
		return p.errf(line, "end %q: %v", truncate(to, 40), err)
	}
	s := p.section
	start, end, err := resolveSpan(loc, sw, ew, s.prevEnd)
	if err != nil {
		return p.errf(line, "%v", err)
	}
	r := Reading{Start: start, Duration: clampDur(end - start), Quality: -1}
	q := ""
	if len(rec) >= 3 {
		q = strings.ToLower(rec[2])
	}
	if rec[1] == "" || strings.Contains(q, "missing") {
		r.Missing = true
	} else if r.Value, err = parseDecimal(rec[1], -s.unit.pow+unitShift(s.unit)); err != nil {
		return p.errf(line, "usage %q: %v", truncate(rec[1], 40), err)
	}
	r.Quality = qualityOf(q)
	return p.add(s, r, line)
}

// unitShift converts the CSV unit's digits to the raw scale: values are
// parsed with 6 decimals of the CSV unit; raw = value × 10^(6) of the
// unit = 10^(6+shift) of the uom.
func unitShift(u csvUnit) int {
	// raw is in 10^pow of the uom; the CSV unit is 10^k of the uom
	// (kWh = 10^3 Wh, ccf = 10^2 ft3, therm = 10^0 therm).
	switch {
	case u.uom == UOMWh && u.name == "kWh":
		return 3
	case u.uom == UOMCubicFoot:
		return 2
	}
	return 0
}

func clampDur(d int64) int32 {
	if d > math.MaxInt32 {
		return math.MaxInt32
	}
	if d < math.MinInt32 {
		return math.MinInt32
	}
	return int32(d)
}

func qualityOf(q string) int16 {
	switch {
	case q == "":
		return -1
	case strings.Contains(q, "estimat"):
		return 8
	case strings.Contains(q, "validated"):
		return 17
	case strings.Contains(q, "actual"), strings.Contains(q, "raw"):
		return 14
	}
	return -1
}

func (p *csvParser) cell(rec []string, name string) (string, bool) {
	i, ok := p.cols[name]
	if !ok || i >= len(rec) {
		return "", false
	}
	return rec[i], true
}

// SDG&E: "Meter Number","Date","Start Time","Duration","Consumption","Generation","Net".
func (p *csvParser) sdgeRow(rec []string, line int) error {
	date, _ := p.cell(rec, "date")
	clock, _ := p.cell(rec, "start time")
	if date == "" && clock == "" {
		return nil
	}
	loc, err := p.zone(line)
	if err != nil {
		return err
	}
	w, err := parseDateClock(date, clock)
	if err != nil {
		return p.errf(line, "date %q time %q: %v", truncate(date, 20), truncate(clock, 20), err)
	}
	ds, _ := p.cell(rec, "duration")
	mins, err := strconv.ParseInt(strings.TrimSpace(ds), 10, 64)
	if err != nil || mins <= 0 || mins > MaxDuration/60 {
		return p.errf(line, "duration %q is not a positive number of minutes", truncate(ds, 20))
	}
	unit, ok := unitFromText(p.preamble["uom"])
	if !ok {
		if strings.Contains(strings.ToLower(p.preamble["resource"]), "gas") {
			unit, _ = unitFromText("therms")
		} else {
			unit, _ = unitFromText("kwh")
		}
	}
	meter, _ := p.cell(rec, "meter number")
	up := p.upKey(meter)
	for _, col := range []struct {
		name string
		flow int
	}{{"consumption", FlowForward}, {"generation", FlowReverse}} {
		v, _ := p.cell(rec, col.name)
		if v == "" {
			continue
		}
		s := p.seriesFor(up, flowName(col.flow), col.flow, unit)
		start, err := resolveLocal(loc, w, s.prevEnd)
		if err != nil {
			return p.errf(line, "%v", err)
		}
		r := Reading{Start: start, Duration: clampDur(mins * 60), Quality: -1}
		if r.Value, err = parseDecimal(v, -unit.pow+unitShift(unit)); err != nil {
			return p.errf(line, "%s %q: %v", col.name, truncate(v, 40), err)
		}
		if err := p.add(s, r, line); err != nil {
			return err
		}
	}
	return nil
}

// Opower: TYPE,DATE,START TIME,END TIME,USAGE,UNITS,COST,NOTES (PECO, PG&E
// and others), with IMPORT/EXPORT columns for net metering and without
// times for daily data.
func (p *csvParser) opowerRow(rec []string, line int) error {
	typ, _ := p.cell(rec, "type")
	date, _ := p.cell(rec, "date")
	if typ == "" && date == "" {
		return nil
	}
	loc, err := p.zone(line)
	if err != nil {
		return err
	}
	st, hasStart := p.cell(rec, "start time")
	et, hasEnd := p.cell(rec, "end time")
	var sw, ew wall
	daily := !hasStart || st == ""
	if daily {
		if sw, err = parseDateClock(date, "00:00"); err != nil {
			return p.errf(line, "date %q: %v", truncate(date, 20), err)
		}
		ew = sw.addDays(1)
	} else {
		if sw, err = parseDateClock(date, st); err != nil {
			return p.errf(line, "date %q start %q: %v", truncate(date, 20), truncate(st, 20), err)
		}
		if !hasEnd || et == "" {
			return p.errf(line, "row has a START TIME but no END TIME")
		}
		if ew, err = parseDateClock(date, et); err != nil {
			return p.errf(line, "date %q end %q: %v", truncate(date, 20), truncate(et, 20), err)
		}
		if ew.unix() <= sw.unix() {
			ew = ew.addDays(1)
		}
		// Inclusive ends ("00:59", "23:59") stand for the next minute.
		if d := ew.unix() - sw.unix(); d%900 != 0 && (d+60)%900 == 0 {
			ew = ew.addMinutes(1)
		}
	}
	kind := strings.ToLower(typ)
	var cost int64
	hasCost := false
	if c, ok := p.cell(rec, "cost"); ok && c != "" {
		if cost, err = parseMoney(c); err != nil {
			return p.errf(line, "cost %q: %v", truncate(c, 20), err)
		}
		hasCost = true
	}
	up := p.upKey("")
	for _, col := range []struct {
		name string
		flow int
	}{{"usage", FlowForward}, {"import", FlowForward}, {"export", FlowReverse}} {
		i, ok := p.cols[col.name]
		if !ok || i >= len(rec) || rec[i] == "" {
			continue
		}
		unitText := p.colUnits[i]
		if u, ok := p.cell(rec, "units"); ok && u != "" {
			unitText = u
		}
		if unitText == "" {
			switch {
			case strings.Contains(kind, "gas"):
				unitText = "therms"
			default:
				unitText = "kwh"
			}
		}
		unit, ok := unitFromText(unitText)
		if !ok {
			return p.errf(line, "unknown unit %q", truncate(unitText, 20))
		}
		if strings.Contains(kind, "gas") {
			unit.commodity = CommodityNaturalGas
		}
		s := p.seriesFor(up, flowName(col.flow), col.flow, unit)
		start, end, err := resolveSpan(loc, sw, ew, s.prevEnd)
		if err != nil {
			return p.errf(line, "%v", err)
		}
		r := Reading{Start: start, Duration: clampDur(end - start), Quality: -1}
		if r.Value, err = parseDecimal(rec[i], -unit.pow+unitShift(unit)); err != nil {
			return p.errf(line, "%s %q: %v", col.name, truncate(rec[i], 40), err)
		}
		if col.flow == FlowForward && hasCost {
			r.Cost, r.HasCost = cost, true
		}
		if err := p.add(s, r, line); err != nil {
			return err
		}
	}
	return nil
}

// feed builds the Feed of the CSV.
func (p *csvParser) feed() *Feed {
	f := &Feed{Format: p.layout.format()}
	ups := map[string]int{}
	for _, key := range p.order {
		s := p.series[key]
		i, ok := ups[s.up]
		if !ok {
			i = len(f.UsagePoints)
			ups[s.up] = i
			u := UsagePoint{Href: s.up, Kind: ServiceUnknown, AccountNumber: p.preamble["account number"], Address: p.preamble["address"]}
			if u.Address == "" {
				u.Address = p.preamble["for location"]
			}
			if p.layout == layoutSDGE {
				u.MeterNumber = strings.TrimPrefix(s.up, "sdge:")
			}
			f.UsagePoints = append(f.UsagePoints, u)
		}
		u := &f.UsagePoints[i]
		if u.Kind == ServiceUnknown {
			if s.unit.commodity == CommodityNaturalGas {
				u.Kind = ServiceGas
			} else {
				u.Kind = ServiceElectricity
			}
		}
		rs := s.readings
		sort.SliceStable(rs, func(a, b int) bool { return rs[a].Start < rs[b].Start })
		out, dups, conflicts := dedup(rs)
		if len(out) == 0 {
			continue
		}
		rt := &ReadingType{
			Href: s.up + "#" + s.name, UOM: s.unit.uom, PowerOfTenMultiplier: s.unit.pow,
			IntervalLength: modalDuration(out), FlowDirection: s.flow, Accumulation: 4,
			Commodity: s.unit.commodity, Kind: 12,
		}
		ser := Series{Href: rt.Href, Title: s.name + " (" + s.unit.name + ")", ReadingType: rt, Readings: out, Duplicates: dups, Conflicts: conflicts}
		if dups > 0 {
			f.Warnings = append(f.Warnings, fmt.Sprintf("series %q: %d repeated rows dropped", ser.Href, dups))
		}
		if conflicts > 0 {
			f.Warnings = append(f.Warnings, fmt.Sprintf("series %q: %d rows with a repeated start replaced by the later one", ser.Href, conflicts))
		}
		u.Series = append(u.Series, ser)
	}
	return f
}

// parseDecimal parses a decimal number into an integer of 10^-digits
// units, rounding half away from zero beyond that. Thousands separators
// are accepted.
func parseDecimal(s string, digits int) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0, errors.New("empty number")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" {
		return 0, errors.New("not a number")
	}
	var n uint64
	for _, c := range ip {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + uint64(c-'0')
		if n > math.MaxInt64/1_000_000_000 {
			return 0, errors.New("number out of range")
		}
	}
	roundUp := false
	for i, c := range fp {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		if i < digits {
			continue
		}
		if i == digits && c >= '5' {
			roundUp = true
		}
	}
	for i := 0; i < digits; i++ {
		d := uint64(0)
		if i < len(fp) {
			d = uint64(fp[i] - '0')
		}
		n = n*10 + d
		if n > math.MaxInt64 {
			return 0, errors.New("number out of range")
		}
	}
	if roundUp {
		n++
	}
	if n > math.MaxInt64 {
		return 0, errors.New("number out of range")
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// parseMoney parses "$0.13", "-$1.20", "($1.20)" into hundred-thousandths.
func parseMoney(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		neg, s = true, s[1:len(s)-1]
	}
	if strings.HasPrefix(s, "-") {
		neg, s = !neg, s[1:]
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	v, err := parseDecimal(s, 5)
	if err != nil {
		return 0, err
	}
	if neg {
		v = -v
	}
	return v, nil
}

// wall is a local date and time without a zone.
type wall struct {
	y, mo, d, h, mi, s int
}

func (w wall) unix() int64 {
	return time.Date(w.y, time.Month(w.mo), w.d, w.h, w.mi, w.s, 0, time.UTC).Unix()
}

func wallOf(u int64) wall {
	t := time.Unix(u, 0).UTC()
	return wall{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()}
}

func (w wall) addDays(n int) wall    { return wallOf(w.unix() + int64(n)*86400) }
func (w wall) addMinutes(n int) wall { return wallOf(w.unix() + int64(n)*60) }

// The date and time-of-day layouts of the CSVs (read-only tables).
var (
	dateLayouts  = [...]string{"2006-01-02", "1/2/2006", "2006/1/2", "1-2-2006"}
	clockLayouts = [...]string{"15:04", "15:04:05", "3:04 PM", "3:04:05 PM", "3:04PM", "3 PM", "3PM"}
)

func parseDateClock(date, clock string) (wall, error) {
	var d time.Time
	var err error
	for _, l := range dateLayouts {
		if d, err = time.Parse(l, strings.TrimSpace(date)); err == nil {
			break
		}
	}
	if err != nil {
		return wall{}, errors.New("unrecognised date")
	}
	var c time.Time
	clock = strings.ToUpper(strings.TrimSpace(clock))
	for _, l := range clockLayouts {
		if c, err = time.Parse(l, clock); err == nil {
			break
		}
	}
	if err != nil {
		return wall{}, errors.New("unrecognised time of day")
	}
	return wall{d.Year(), int(d.Month()), d.Day(), c.Hour(), c.Minute(), c.Second()}, nil
}

// parseDateTime parses "2022-08-01 00:00:00" (or with a slash date, or
// without seconds).
func parseDateTime(s string) (wall, error) {
	date, clock, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return wall{}, errors.New("expected a date and a time")
	}
	return parseDateClock(date, clock)
}

// resolveLocal turns a wall time into an instant. A wall time that occurs
// twice (DST fall-back) takes the first occurrence not before notBefore
// (the end of the series' previous reading), so repeated rows land on both
// occurrences; a wall time that does not exist (spring-forward gap) is
// read with the offset in force before the gap.
func resolveLocal(loc *time.Location, w wall, notBefore int64) (int64, error) {
	if w.y < 1900 || w.y > 9999 {
		return 0, fmt.Errorf("year %d out of range", w.y)
	}
	u := w.unix()
	offBefore := offsetAt(loc, u-86400)
	offAfter := offsetAt(loc, u+86400)
	var cands []int64
	for _, off := range []int64{offBefore, offAfter} {
		t := u - off
		if offsetAt(loc, t) == off && (len(cands) == 0 || cands[0] != t) {
			cands = append(cands, t)
		}
	}
	switch len(cands) {
	case 0:
		return u - offBefore, nil
	case 1:
		return cands[0], nil
	}
	if cands[0] > cands[1] {
		cands[0], cands[1] = cands[1], cands[0]
	}
	for _, t := range cands {
		if t >= notBefore {
			return t, nil
		}
	}
	return cands[0], nil
}

func offsetAt(loc *time.Location, u int64) int64 {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return int64(off)
}

// resolveSpan resolves a row's start and end wall times. Rows of a day or
// more last the time elapsed between them (23 or 25 hours on DST days);
// shorter rows last the smaller of elapsed and wall-clock time, so a
// quarter-hour across a DST change stays a quarter-hour.
func resolveSpan(loc *time.Location, sw, ew wall, notBefore int64) (int64, int64, error) {
	start, err := resolveLocal(loc, sw, notBefore)
	if err != nil {
		return 0, 0, err
	}
	wallDiff := ew.unix() - sw.unix()
	if wallDiff <= 0 {
		return 0, 0, errors.New("end is not after start")
	}
	end, err := resolveLocal(loc, ew, start+wallDiff)
	if err != nil {
		return 0, 0, err
	}
	elapsed := end - start
	if wallDiff >= 86400 || (elapsed > 0 && elapsed < wallDiff) {
		if elapsed <= 0 {
			return 0, 0, errors.New("end is not after start")
		}
		return start, end, nil
	}
	return start, start + wallDiff, nil
}

// zoneOfAddress guesses the time zone from the state or province of an
// address ending in a ZIP or postal code (the zone of most of the state).
func zoneOfAddress(addr string) string {
	stateRE := regexp.MustCompile(`\b([A-Z]{2})\s+(\d{5}(?:-\d{4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\s*$`)
	m := stateRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(addr)))
	if m == nil {
		return ""
	}
	switch m[1] {
	case "CT", "DE", "DC", "FL", "GA", "KY", "ME", "MD", "MA", "NH", "NJ", "NY", "NC", "OH", "PA", "RI", "SC", "VT", "VA", "WV":
		return "America/New_York"
	case "MI":
		return "America/Detroit"
	case "IN":
		return "America/Indiana/Indianapolis"
	case "AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK", "SD", "TN", "TX", "WI":
		return "America/Chicago"
	case "CO", "MT", "NM", "UT", "WY":
		return "America/Denver"
	case "ID":
		return "America/Boise"
	case "AZ":
		return "America/Phoenix"
	case "CA", "NV", "OR", "WA":
		return "America/Los_Angeles"
	case "AK":
		return "America/Anchorage"
	case "HI":
		return "Pacific/Honolulu"
	case "ON", "QC":
		return "America/Toronto"
	case "BC":
		return "America/Vancouver"
	case "AB":
		return "America/Edmonton"
	case "MB":
		return "America/Winnipeg"
	case "SK":
		return "America/Regina"
	case "NS", "PE":
		return "America/Halifax"
	case "NB":
		return "America/Moncton"
	case "NL":
		return "America/St_Johns"
	}
	return ""
}
