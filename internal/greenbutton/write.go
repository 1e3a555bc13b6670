package greenbutton

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// DefaultDecimals is the number of decimals of kWh and therms kept exactly
// when WriteOptions.Decimals is zero.
const DefaultDecimals = 6

// Limits of the writer.
const (
	maxDecimals      = 9
	maxBlockReadings = 2000
	// maxInt48 is the largest magnitude of an ESPI Int48 value.
	maxInt48 = 1<<47 - 1
)

// WriteOptions tune WriteFeed. The zero value is usable.
type WriteOptions struct {
	// BaseURL is the scheme and host (and path prefix) of the resource
	// hrefs: "<BaseURL>/espi/1_1/resource/...". Empty: "https://gridlink.invalid".
	BaseURL string
	// Updated is written as the feed's and entries' updated and published
	// times: the clock's current time. Zero writes the Unix epoch.
	Updated time.Time
	// Location sets the local days of the IntervalBlocks and the
	// LocalTimeParameters (its offsets and daylight-saving rules of
	// Updated's year). Nil: UTC.
	Location *time.Location
	// Decimals of kWh and therms written exactly (0: DefaultDecimals; at
	// most 9).
	Decimals int
	// Currency is the ISO 4217 numeric code of bill amounts (0: 840, USD).
	Currency int
	// Title of the feed (empty: "Green Button data" and the account number).
	Title string
}

// Export is one account to write. Intervals streams a meter's readings so
// that a year of 15-minute data need not be held in memory.
type Export struct {
	// Account with its Meters (ELECTRIC or GAS). ID and ExternalID name
	// the resources; Number titles them.
	Account gridlink.Account
	// Bills of the account.
	Bills []gridlink.Bill
	// Intervals calls fn for each reading of meter m, ascending by start,
	// and returns fn's error if fn fails (which stops the iteration).
	// Usage is in the meter type's unit (kWh or therms). Nil: no readings.
	Intervals func(ctx context.Context, m gridlink.Meter, fn func(gridlink.Interval) error) error
}

// WriteStats counts what WriteFeed wrote.
type WriteStats struct {
	// Readings is the number of intervals written.
	Readings int
	// Skipped counts intervals left out: empty or longer than MaxDuration,
	// starting outside years 1970-9999, or overlapping the previous one.
	Skipped int
	// Bills is the number of bills written as UsageSummary.
	Bills int
	// SkippedBills counts bills without a start or end date.
	SkippedBills int
}

// ExportOf adapts a connector account held in memory (intervals keyed by
// meter ExternalID) to an Export.
func ExportOf(a connector.Account) Export {
	bills := make([]gridlink.Bill, len(a.Bills))
	for i, b := range a.Bills {
		bills[i] = b.Bill
	}
	return Export{
		Account: a.Account,
		Bills:   bills,
		Intervals: func(ctx context.Context, m gridlink.Meter, fn func(gridlink.Interval) error) error {
			for _, iv := range a.Intervals[m.ExternalID] {
				if err := fn(iv); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// WriteAccount writes a connector account held in memory; see WriteFeed.
func WriteAccount(ctx context.Context, w io.Writer, a connector.Account, opt WriteOptions) (WriteStats, error) {
	return WriteFeed(ctx, w, ExportOf(a), opt)
}

// WriteFeed writes one account as an ESPI Atom feed (a Green Button
// "Download My Data" file) that ParseXML, and other ESPI readers, read
// back. The feed holds, in this order:
//
//   - one LocalTimeParameters (WriteOptions.Location, UTC by default);
//   - per meter, a UsagePoint (ServiceCategory kind 0 for ELECTRIC, 1 for
//     GAS), a MeterReading with its ReadingType and the readings in
//     IntervalBlocks of one local day each (at most 2,000
//     readings);
//   - per bill, a UsageSummary under the account's first electric usage
//     point (else its first gas one, else a usage point of its own).
//
// Values are exact decimal integers: electric energy in Wh with
// powerOfTenMultiplier 3-Decimals (uom 72, so with the default six
// decimals the unit is mWh), gas in therms with powerOfTenMultiplier
// -Decimals (uom 169). A usage with at most Decimals decimals is written
// exactly; others are rounded half away from zero.
//
// ELECTRIC usage is signed net energy. It is written as ESPI utilities
// write net metering: a delivered series (flowDirection 1, value
// max(usage, 0)) for every interval and, only when some interval is
// negative, a received series (flowDirection 19, value -usage) for those
// intervals. ParseXML's delivered-minus-received rule gives the signed
// usage back. Gas is one delivered series (flowDirection 1).
//
// Bills become UsageSummary resources: billingPeriod from StartDate and
// EndDate (bills without both are left out), billLastPeriod from
// TotalCharges (else TotalAmountDue) in hundred-thousandths of the
// currency, overallConsumptionLastPeriod from ElectricKWh (Wh, electric
// usage point) or GasTherm (therms, gas usage point), and line items
// (costAdditionalDetailLastPeriod) for the electric, gas and other charges
// and for the due and statement dates ("Due Date" and "Bill Date", uom 27,
// as Enbridge writes them, which ParseXML reads back). When the account
// has both an electric and a gas meter, the electric usage point's summary
// carries the bill total and the kWh, and the gas usage point gets a
// summary with the therms only, so that totals are not counted twice.
// ParseXML makes one account per usage point, so such an account comes
// back as two accounts.
//
// Intervals that are empty, longer than MaxDuration, outside years
// 1970-9999 or overlapping the previous one are left out and counted in
// WriteStats.Skipped. WriteFeed fails, with the output incomplete, on a
// write error, a cancelled ctx, an error from e.Intervals, a meter that is
// neither ELECTRIC nor GAS, a usage that is not finite or too large for
// ESPI's 48-bit values at the chosen decimals, or options out of range.
func WriteFeed(ctx context.Context, w io.Writer, e Export, opt WriteOptions) (WriteStats, error) {
	fw, err := newFeedWriter(ctx, w, e, opt)
	if err != nil {
		return WriteStats{}, err
	}
	err = fw.write(e)
	if ferr := fw.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("greenbutton: write feed: %w", ferr)
	}
	return fw.stats, err
}

// feedWriter holds the state of one WriteFeed.
type feedWriter struct {
	ctx      context.Context
	w        *bufio.Writer
	buf      []byte
	base     string // "<BaseURL>/espi/1_1/resource"
	acct     string // account key in hrefs
	updated  string
	loc      *time.Location
	year     int
	decimals int
	scale    float64 // 10^decimals
	currency int
	stats    WriteStats
}

func newFeedWriter(ctx context.Context, w io.Writer, e Export, opt WriteOptions) (*feedWriter, error) {
	dec := opt.Decimals
	if dec == 0 {
		dec = DefaultDecimals
	}
	if dec < 0 || dec > maxDecimals {
		return nil, fmt.Errorf("greenbutton: write feed: %d decimals out of range 1-%d", dec, maxDecimals)
	}
	base := strings.TrimRight(opt.BaseURL, "/")
	if base == "" {
		base = "https://gridlink.invalid"
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	cur := opt.Currency
	if cur == 0 {
		cur = 840
	}
	year := 2024
	if !opt.Updated.IsZero() {
		year = opt.Updated.In(loc).Year()
	}
	return &feedWriter{
		ctx: ctx, w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 64<<10),
		base:     base + "/espi/1_1/resource",
		acct:     hrefKey(e.Account.ID, e.Account.ExternalID),
		updated:  opt.Updated.UTC().Format(time.RFC3339),
		loc:      loc,
		year:     year,
		decimals: dec, scale: math.Pow10(dec),
		currency: cur,
	}, nil
}

// hrefKey returns id when it is a short token safe in a path, else a
// digest of ext (or of id).
func hrefKey(id, ext string) string {
	if id != "" && len(id) <= 64 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" && id != "." && id != ".." {
		return id
	}
	src := ext
	if src == "" {
		src = id
	}
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:8])
}

// uuidFor derives a stable UUID (version 8, RFC 9562) from the account key
// and a resource path.
func (fw *feedWriter) uuidFor(path string) string {
	sum := sha256.Sum256([]byte("gridlink-greenbutton|" + fw.acct + "|" + path))
	return gridlink.FormatUUID(sum[:], 8)
}

// flushBuf writes the scratch buffer out.
func (fw *feedWriter) flushBuf() error {
	_, err := fw.w.Write(fw.buf)
	fw.buf = fw.buf[:0]
	if err != nil {
		return fmt.Errorf("greenbutton: write feed: %w", err)
	}
	return nil
}

func (fw *feedWriter) str(s string) { fw.buf = append(fw.buf, s...) }

func (fw *feedWriter) int(n int64) { fw.buf = strconv.AppendInt(fw.buf, n, 10) }

// text appends s escaped for element content and attribute values.
func (fw *feedWriter) text(s string) {
	for _, r := range s {
		switch r {
		case '&':
			fw.str("&amp;")
		case '<':
			fw.str("&lt;")
		case '>':
			fw.str("&gt;")
		case '"':
			fw.str("&quot;")
		case '\'':
			fw.str("&apos;")
		case '\t', '\n', '\r':
			fw.str("&#")
			fw.int(int64(r))
			fw.buf = append(fw.buf, ';')
		default:
			if r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
				fw.buf = append(fw.buf, "\uFFFD"...)
				continue
			}
			fw.buf = append(fw.buf, string(r)...)
		}
	}
}

// elem appends <espi:name>n</espi:name>.
func (fw *feedWriter) elem(name string, n int64) {
	fw.str("<espi:")
	fw.str(name)
	fw.buf = append(fw.buf, '>')
	fw.int(n)
	fw.str("</espi:")
	fw.str(name)
	fw.buf = append(fw.buf, '>')
}

// href returns the absolute href of a resource path.
func (fw *feedWriter) href(path string) string { return fw.base + "/" + path }

// entryStart opens an entry: id, links, title and the opening of content.
func (fw *feedWriter) entryStart(path, up string, related []string, title string) {
	fw.str("<entry><id>urn:uuid:")
	fw.str(fw.uuidFor(path))
	fw.str("</id><link rel=\"self\" href=\"")
	fw.text(fw.href(path))
	fw.str("\"/><link rel=\"up\" href=\"")
	fw.text(fw.href(up))
	fw.str("\"/>")
	for _, r := range related {
		fw.str("<link rel=\"related\" href=\"")
		fw.text(fw.href(r))
		fw.str("\"/>")
	}
	fw.str("<title>")
	fw.text(title)
	fw.str("</title><content>")
}

// entryEnd closes the content and the entry.
func (fw *feedWriter) entryEnd() {
	fw.str("</content><published>")
	fw.str(fw.updated)
	fw.str("</published><updated>")
	fw.str(fw.updated)
	fw.str("</updated></entry>\n")
}

// usagePoint is one UsagePoint being written.
type usagePoint struct {
	meter *gridlink.Meter // nil for the bills-only usage point
	kind  ServiceKind
	path  string // ".../UsagePoint/<key>"
	title string
	// bills: "all" (total and the usage point's consumption), "gas"
	// (therms only), or "" (none).
	bills string
}

func (fw *feedWriter) write(e Export) error {
	if err := fw.ctx.Err(); err != nil {
		return err
	}
	a := e.Account
	title := "Green Button data"
	if a.Number != "" {
		title += ", account " + a.Number
	}
	ups, err := fw.plan(e)
	if err != nil {
		return err
	}
	fw.str(xml.Header)
	fw.str(`<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">` + "\n<id>urn:uuid:")
	fw.str(fw.uuidFor("feed"))
	fw.str("</id><title>")
	fw.text(title)
	fw.str("</title><updated>")
	fw.str(fw.updated)
	fw.str("</updated><link rel=\"self\" href=\"")
	fw.text(fw.href("RetailCustomer/" + fw.acct + "/UsagePoint"))
	fw.str("\"/>\n")

	ltp := LocalTimeOf(fw.loc, fw.year)
	fw.entryStart("LocalTimeParameters/"+fw.acct, "LocalTimeParameters", nil, "Local time: "+fw.loc.String())
	fw.str("<espi:LocalTimeParameters><espi:dstEndRule>")
	fw.str(fmt.Sprintf("%08X", ltp.DSTEndRule))
	fw.str("</espi:dstEndRule>")
	fw.elem("dstOffset", ltp.DSTOffset)
	fw.str("<espi:dstStartRule>")
	fw.str(fmt.Sprintf("%08X", ltp.DSTStartRule))
	fw.str("</espi:dstStartRule>")
	fw.elem("tzOffset", ltp.TZOffset)
	fw.str("</espi:LocalTimeParameters>")
	fw.entryEnd()

	for i := range ups {
		if err := fw.writeUsagePoint(e, &ups[i]); err != nil {
			return err
		}
	}
	fw.str("</feed>\n")
	return fw.flushBuf()
}

// plan lays out the usage points: one per meter, and the one that carries
// the bills.
func (fw *feedWriter) plan(e Export) ([]usagePoint, error) {
	a := e.Account
	var ups []usagePoint
	firstElec, firstGas := -1, -1
	seen := map[string]bool{}
	for i := range a.Meters {
		m := &a.Meters[i]
		var kind ServiceKind
		var noun string
		switch m.Type {
		case gridlink.Electric:
			kind, noun = ServiceElectricity, "electricity"
			if firstElec < 0 {
				firstElec = len(ups)
			}
		case gridlink.Gas:
			kind, noun = ServiceGas, "natural gas"
			if firstGas < 0 {
				firstGas = len(ups)
			}
		default:
			return nil, fmt.Errorf("greenbutton: write feed: meter %q has type %q, not ELECTRIC or GAS", m.ExternalID, m.Type)
		}
		key := hrefKey(m.ID, m.ExternalID)
		if seen[key] {
			key = hrefKey("", fmt.Sprintf("%s#%d", m.ExternalID, i))
		}
		seen[key] = true
		title := noun
		if a.Number != "" {
			title = "Account " + a.Number + ", " + noun
		}
		ups = append(ups, usagePoint{meter: m, kind: kind, path: "RetailCustomer/" + fw.acct + "/UsagePoint/" + key, title: title})
	}
	if len(e.Bills) == 0 {
		return ups, nil
	}
	switch {
	case firstElec >= 0:
		ups[firstElec].bills = "all"
		if firstGas >= 0 {
			ups[firstGas].bills = "gas"
		}
	case firstGas >= 0:
		ups[firstGas].bills = "all"
	default:
		kind, noun := ServiceElectricity, "electricity"
		gasOnly := true
		for _, b := range e.Bills {
			if b.GasTherm == nil || b.ElectricKWh != nil {
				gasOnly = false
			}
		}
		if gasOnly {
			kind, noun = ServiceGas, "natural gas"
		}
		title := "Bills, " + noun
		if a.Number != "" {
			title = "Account " + a.Number + ", bills"
		}
		ups = append(ups, usagePoint{kind: kind, path: "RetailCustomer/" + fw.acct + "/UsagePoint/bills", title: title, bills: "all"})
	}
	return ups, nil
}

// series is one MeterReading with its ReadingType.
type series struct {
	mr, rt, blocks string // resource paths
	flow           int
}

func (fw *feedWriter) writeUsagePoint(e Export, up *usagePoint) error {
	related := []string{up.path + "/MeterReading", "LocalTimeParameters/" + fw.acct}
	if up.bills != "" {
		related = append(related, up.path+"/UsageSummary")
	}
	fw.entryStart(up.path, "RetailCustomer/"+fw.acct+"/UsagePoint", related, up.title)
	fw.str("<espi:UsagePoint><espi:ServiceCategory>")
	fw.elem("kind", int64(up.kind))
	fw.str("</espi:ServiceCategory></espi:UsagePoint>")
	fw.entryEnd()
	if up.meter != nil && e.Intervals != nil {
		if err := fw.writeReadings(e, up); err != nil {
			return err
		}
	}
	if up.bills != "" {
		if err := fw.writeSummaries(e.Bills, up); err != nil {
			return err
		}
	}
	return fw.flushBuf()
}

// reading is a buffered interval: raw value in 10^-decimals kWh or therms.
type reading struct {
	start, dur, value int64
}

// meterState is the state of one meter's readings while they stream.
type meterState struct {
	up                 *usagePoint
	delivered          series
	received           series
	receivedOpen       bool // the received MeterReading and ReadingType were written
	block              []reading
	dayStart, dayEnd   int64
	prevEnd            int64
	started            bool
	intervalLength     int64
	intervalLengthSeen bool
}

func (fw *feedWriter) seriesOf(up *usagePoint, n, flow int) series {
	mr := up.path + "/MeterReading/" + strconv.Itoa(n)
	return series{mr: mr, rt: "ReadingType/" + strings.TrimPrefix(up.path, "RetailCustomer/"+fw.acct+"/UsagePoint/") + "-" + strconv.Itoa(n), blocks: mr + "/IntervalBlock", flow: flow}
}

func (fw *feedWriter) writeReadings(e Export, up *usagePoint) error {
	st := &meterState{up: up, delivered: fw.seriesOf(up, 1, FlowForward)}
	err := e.Intervals(fw.ctx, *up.meter, func(iv gridlink.Interval) error {
		return fw.add(st, iv)
	})
	if err != nil {
		return fmt.Errorf("greenbutton: write feed: meter %q: %w", up.meter.ExternalID, err)
	}
	if !st.started {
		// No readings: the MeterReading and ReadingType are still written
		// so that the usage point's kind of data is described.
		fw.openSeries(st, &st.delivered, 0)
		return fw.flushBuf()
	}
	return fw.flushBlock(st)
}

// add takes one streamed interval.
func (fw *feedWriter) add(st *meterState, iv gridlink.Interval) error {
	dur := iv.End - iv.Start
	if dur <= 0 || dur > MaxDuration || iv.Start < 0 || iv.End > maxTime || (st.started && iv.Start < st.prevEnd) {
		fw.stats.Skipped++
		return nil
	}
	if math.IsNaN(iv.Usage) || math.IsInf(iv.Usage, 0) {
		return fmt.Errorf("interval at %d: usage is not a finite number", iv.Start)
	}
	f := math.Round(iv.Usage * fw.scale)
	if math.Abs(f) > maxInt48 {
		return fmt.Errorf("interval at %d: usage %v too large for ESPI at %d decimals", iv.Start, iv.Usage, fw.decimals)
	}
	if !st.started {
		st.started = true
		// The ReadingType's intervalLength is the first reading's duration.
		fw.openSeries(st, &st.delivered, dur)
	}
	if iv.Start >= st.dayEnd || iv.Start < st.dayStart || len(st.block) >= maxBlockReadings {
		if err := fw.flushBlock(st); err != nil {
			return err
		}
		t := time.Unix(iv.Start, 0).In(fw.loc)
		y, m, d := t.Date()
		st.dayStart = time.Date(y, m, d, 0, 0, 0, 0, fw.loc).Unix()
		st.dayEnd = time.Date(y, m, d+1, 0, 0, 0, 0, fw.loc).Unix()
	}
	st.block = append(st.block, reading{start: iv.Start, dur: dur, value: int64(f)})
	st.prevEnd = iv.End
	fw.stats.Readings++
	return nil
}

// openSeries writes a MeterReading and its ReadingType.
func (fw *feedWriter) openSeries(st *meterState, s *series, intervalLength int64) {
	up := st.up
	title := "Electricity, delivered"
	if s.flow == FlowReverse {
		title = "Electricity, received"
	}
	if up.kind == ServiceGas {
		title = "Natural gas"
	}
	fw.entryStart(s.mr, up.path+"/MeterReading", []string{s.blocks, s.rt}, title)
	fw.str("<espi:MeterReading/>")
	fw.entryEnd()

	fw.entryStart(s.rt, "ReadingType", nil, title)
	fw.str("<espi:ReadingType>")
	fw.elem("accumulationBehaviour", 4) // deltaData
	commodity, uom, pow := int64(CommodityElectricity), int64(UOMWh), int64(3-fw.decimals)
	if up.kind == ServiceGas {
		commodity, uom, pow = CommodityNaturalGas, UOMTherm, int64(-fw.decimals)
	}
	fw.elem("commodity", commodity)
	fw.elem("currency", int64(fw.currency))
	fw.elem("dataQualifier", 12) // normal
	fw.elem("flowDirection", int64(s.flow))
	if intervalLength > 0 {
		fw.elem("intervalLength", intervalLength)
	}
	fw.elem("kind", 12) // energy
	fw.elem("powerOfTenMultiplier", pow)
	fw.elem("timeAttribute", 0)
	fw.elem("uom", uom)
	fw.str("</espi:ReadingType>")
	fw.entryEnd()
}

// flushBlock writes the buffered readings as the delivered IntervalBlock
// and, for electricity with negative values, the received one.
func (fw *feedWriter) flushBlock(st *meterState) error {
	if len(st.block) == 0 {
		return nil
	}
	if err := fw.ctx.Err(); err != nil {
		return err
	}
	signed := st.up.kind == ServiceElectricity
	fw.writeBlock(&st.delivered, st.block, func(v int64) (int64, bool) {
		if signed && v < 0 {
			return 0, true
		}
		return v, true
	})
	if signed {
		neg := false
		for _, r := range st.block {
			if r.value < 0 {
				neg = true
				break
			}
		}
		if neg {
			if !st.receivedOpen {
				st.received = fw.seriesOf(st.up, 2, FlowReverse)
				fw.openSeries(st, &st.received, st.block[0].dur)
				st.receivedOpen = true
			}
			fw.writeBlock(&st.received, st.block, func(v int64) (int64, bool) { return -v, v < 0 })
		}
	}
	st.block = st.block[:0]
	return fw.flushBuf()
}

// writeBlock writes one IntervalBlock of the readings that value keeps.
func (fw *feedWriter) writeBlock(s *series, rs []reading, value func(int64) (int64, bool)) {
	first, last := int64(-1), int64(0)
	for _, r := range rs {
		if _, ok := value(r.value); ok {
			if first < 0 {
				first = r.start
			}
			last = r.start + r.dur
		}
	}
	if first < 0 {
		return
	}
	path := s.blocks + "/" + strconv.FormatInt(first, 10)
	fw.entryStart(path, s.blocks, nil, "")
	fw.str("<espi:IntervalBlock><espi:interval>")
	fw.elem("duration", last-first)
	fw.elem("start", first)
	fw.str("</espi:interval>")
	for _, r := range rs {
		v, ok := value(r.value)
		if !ok {
			continue
		}
		fw.str("\n<espi:IntervalReading><espi:timePeriod>")
		fw.elem("duration", r.dur)
		fw.elem("start", r.start)
		fw.str("</espi:timePeriod>")
		fw.elem("value", v)
		fw.str("</espi:IntervalReading>")
	}
	fw.str("</espi:IntervalBlock>")
	fw.entryEnd()
}

// money converts an amount to hundred-thousandths of the currency.
func money(v float64) (int64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	f := math.Round(v * 1e5)
	if math.Abs(f) > maxInt48 {
		return 0, false
	}
	return int64(f), true
}

// writeSummaries writes the bills as UsageSummary resources of up.
func (fw *feedWriter) writeSummaries(bills []gridlink.Bill, up *usagePoint) error {
	for _, b := range bills {
		if b.StartDate == nil || b.EndDate == nil || *b.EndDate <= *b.StartDate {
			if up.bills == "all" {
				fw.stats.SkippedBills++
			}
			continue
		}
		if up.bills == "gas" && b.GasTherm == nil {
			continue
		}
		if err := fw.writeSummary(b, up); err != nil {
			return err
		}
		if up.bills == "all" {
			fw.stats.Bills++
		}
	}
	return fw.flushBuf()
}

func (fw *feedWriter) writeSummary(b gridlink.Bill, up *usagePoint) error {
	start, end := *b.StartDate, *b.EndDate
	if start < 0 || end > maxTime {
		return fmt.Errorf("greenbutton: write feed: bill %q: dates out of range", b.ExternalID)
	}
	path := up.path + "/UsageSummary/" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end-start, 10)
	fw.entryStart(path, up.path+"/UsageSummary", nil, "Bill "+time.Unix(start, 0).In(fw.loc).Format("2006-01-02")+" to "+time.Unix(end, 0).In(fw.loc).Format("2006-01-02"))
	fw.str("<espi:UsageSummary><espi:billingPeriod>")
	fw.elem("duration", end-start)
	fw.elem("start", start)
	fw.str("</espi:billingPeriod>")
	all := up.bills == "all"
	if all {
		amount := b.TotalCharges
		if amount == nil {
			amount = b.TotalAmountDue
		}
		if amount != nil {
			v, ok := money(*amount)
			if !ok {
				return fmt.Errorf("greenbutton: write feed: bill %q: amount %v out of range", b.ExternalID, *amount)
			}
			fw.elem("billLastPeriod", v)
		}
	}
	type charge struct {
		note string
		v    *float64
	}
	charges := []charge{{"Gas charges", b.GasCharge}}
	if all {
		charges = []charge{{"Electric charges", b.ElectricCharge}, {"Gas charges", b.GasCharge}, {"Other charges", b.OtherCharge}}
	}
	for _, c := range charges {
		if c.v == nil {
			continue
		}
		v, ok := money(*c.v)
		if !ok {
			return fmt.Errorf("greenbutton: write feed: bill %q: charge %v out of range", b.ExternalID, *c.v)
		}
		fw.str("<espi:costAdditionalDetailLastPeriod>")
		fw.elem("amount", v)
		fw.str("<espi:note>")
		fw.str(c.note)
		fw.str("</espi:note>")
		fw.elem("itemKind", 10) // information
		fw.str("</espi:costAdditionalDetailLastPeriod>")
	}
	if all {
		for _, d := range []struct {
			note string
			t    *int64
		}{{"Due Date", b.DueDate}, {"Bill Date", b.StatementDate}} {
			if d.t == nil || *d.t <= 0 || *d.t > maxTime {
				continue
			}
			fw.str("<espi:costAdditionalDetailLastPeriod>")
			fw.elem("dateTime", *d.t)
			fw.str("<espi:note>")
			fw.str(d.note)
			fw.str("</espi:note><espi:measurement>")
			fw.elem("powerOfTenMultiplier", 0)
			fw.elem("uom", UOMTime)
			fw.elem("value", *d.t)
			fw.str("</espi:measurement>")
			fw.elem("itemKind", 10)
			fw.str("</espi:costAdditionalDetailLastPeriod>")
		}
	}
	fw.elem("currency", int64(fw.currency))
	var usage *float64
	uom, pow := int64(UOMWh), int64(3-fw.decimals)
	switch {
	case up.kind == ServiceGas || up.bills == "gas":
		usage, uom, pow = b.GasTherm, UOMTherm, int64(-fw.decimals)
	default:
		usage = b.ElectricKWh
	}
	if usage != nil {
		if math.IsNaN(*usage) || math.IsInf(*usage, 0) || math.Abs(math.Round(*usage*fw.scale)) > maxInt48 {
			return fmt.Errorf("greenbutton: write feed: bill %q: usage %v out of range", b.ExternalID, *usage)
		}
		fw.str("<espi:overallConsumptionLastPeriod>")
		fw.elem("powerOfTenMultiplier", pow)
		fw.elem("uom", uom)
		fw.elem("value", int64(math.Round(*usage*fw.scale)))
		fw.str("</espi:overallConsumptionLastPeriod>")
	}
	status := end
	if b.StatementDate != nil && *b.StatementDate > 0 && *b.StatementDate <= maxTime {
		status = *b.StatementDate
	}
	fw.elem("statusTimeStamp", status)
	fw.str("</espi:UsageSummary>")
	fw.entryEnd()
	return nil
}

// LocalTimeOf returns the ESPI LocalTimeParameters of loc as in force in
// year: the standard offset, the daylight-saving shift and its start and
// end rules (nth or last weekday of a month, or a fixed date, whichever
// reproduces the zone's transitions in the following years). A zone
// without daylight saving in that year gets dstOffset 0 and rules
// FFFFFFFF (none).
func LocalTimeOf(loc *time.Location, year int) LocalTimeParameters {
	if loc == nil {
		loc = time.UTC
	}
	start, end, std, dst, ok := transitions(loc, year)
	if !ok {
		_, off := time.Date(year, 7, 1, 0, 0, 0, 0, loc).Zone()
		return LocalTimeParameters{TZOffset: int64(off), DSTStartRule: 0xFFFFFFFF, DSTEndRule: 0xFFFFFFFF}
	}
	// The start rule is read in standard time, the end rule in daylight
	// time (see DSTStart and DSTEnd).
	startRule := ruleFor(loc, year, start.Unix()+std, func(y int) (int64, bool) {
		s, _, std2, _, ok := transitions(loc, y)
		return s.Unix() + std2, ok
	})
	endRule := ruleFor(loc, year, end.Unix()+std+dst, func(y int) (int64, bool) {
		_, e, std2, dst2, ok := transitions(loc, y)
		return e.Unix() + std2 + dst2, ok
	})
	return LocalTimeParameters{TZOffset: std, DSTOffset: dst, DSTStartRule: startRule, DSTEndRule: endRule}
}

// transitions finds the two offset changes of loc in year: the start of
// daylight time (offset up) and its end, with the standard offset and the
// shift.
func transitions(loc *time.Location, year int) (start, end time.Time, std, dst int64, ok bool) {
	from := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	until := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	_, prevOff := from.Zone()
	var changes []time.Time
	var offs []int
	for t := from; len(changes) <= 2; {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.Before(until) {
			break
		}
		_, off := next.Zone()
		if off != prevOff {
			changes = append(changes, next)
			offs = append(offs, off)
			prevOff = off
		}
		t = next
	}
	if len(changes) != 2 {
		return start, end, 0, 0, false
	}
	_, off0 := from.Zone()
	lo, hi := min(off0, offs[0], offs[1]), max(off0, offs[0], offs[1])
	if offs[1] != off0 || hi == lo {
		return start, end, 0, 0, false
	}
	std, dst = int64(lo), int64(hi-lo)
	if offs[0] == hi {
		return changes[0], changes[1], std, dst, true
	}
	return changes[1], changes[0], std, dst, true
}

// ruleFor encodes the local wall time local (seconds, as if UTC) of year's
// transition as an ESPI DstRuleType, choosing the weekday rule that also
// gives the transitions of the following years (wallOf(y)).
func ruleFor(loc *time.Location, year int, local int64, wallOf func(int) (int64, bool)) uint32 {
	w := time.Unix(local, 0).UTC()
	month, day := int(w.Month()), w.Day()
	dow := int(w.Weekday())
	if dow == 0 {
		dow = 7 // ESPI: 1 = Monday ... 7 = Sunday
	}
	secs := w.Minute()*60 + w.Second()
	encode := func(op, dom, dow int) uint32 {
		return uint32(month)<<28 | uint32(op)<<25 | uint32(dom)<<20 | uint32(dow)<<17 | uint32(w.Hour())<<12 | uint32(secs)
	}
	daysIn := time.Date(w.Year(), w.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	var candidates []uint32
	if nth := (day-1)/7 + 1; nth <= 5 {
		candidates = append(candidates, encode(nth+1, 0, dow))
	}
	if day+7 > daysIn {
		candidates = append(candidates, encode(7, 0, dow))
	}
	for _, c := range candidates {
		r, ok := DecodeDstRule(c)
		if !ok {
			continue
		}
		good := true
		for y := year + 1; y <= year+7 && good; y++ {
			want, ok := wallOf(y)
			if !ok {
				break
			}
			d, ok := r.date(y)
			good = ok && d.Unix()+int64(r.Hour)*3600+int64(r.Seconds) == want
		}
		if good {
			return c
		}
	}
	return encode(0, day, 0)
}
