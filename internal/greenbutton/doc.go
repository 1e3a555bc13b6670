// Package greenbutton reads Green Button data: ESPI (NAESB REQ.21) XML,
// as utilities' "Download My Data" files and Green Button Connect API
// responses, and the utilities' Green Button CSV exports. Both become the
// same Feed, which Feed.Accounts maps to the connector's accounts, meters,
// intervals and bills.
//
// # Model
//
// A Feed holds UsagePoints (ESPI UsagePoint: one metered service, with its
// ServiceCategory kind). Each usage point has Series (one per ESPI
// MeterReading) of Readings and Summaries (ESPI UsageSummary or
// ElectricPowerUsageSummary, one per billing period), and its
// LocalTimeParameters. A Series carries its ReadingType (uom,
// powerOfTenMultiplier, intervalLength, flowDirection,
// accumulationBehaviour, commodity, kind, currency...). A Reading is the
// raw IntervalReading: start and duration (epoch seconds), the raw integer
// value, the raw cost and the ReadingQuality, in 32 bytes. Series readings
// are sorted by start, with unique starts and positive durations.
//
// # Parsing
//
// ParseXML streams the document with encoding/xml's RawToken, resolving
// namespace prefixes itself (espi:, ns0:, ns1:, default namespaces,
// prefixes declared per element; "https" or a trailing slash in the
// namespace name is accepted, and an element without a namespace is read
// as Atom or ESPI by its name). The root may be an Atom feed, a single
// entry, or a bare ESPI resource. Unknown entities ("AT&T") are left as
// text; the element structure is checked (truncation, mismatched tags). IntervalReadings are parsed straight from the
// character data into one flat slice, so memory is about 32 bytes per
// reading (twice that, briefly, when the blocks of several series
// interleave) whatever the size of the XML; only the small resources
// (UsagePoint, ReadingType, UsageSummary, LocalTimeParameters, block
// intervals) are held as small trees while they are decoded. A UTF-8 BOM
// is skipped, UTF-16 (with BOM), ISO-8859-1 and Windows-1252 are converted.
// A Builder combines several documents (Green Button Connect serves
// UsagePoints, ReadingTypes and IntervalBlocks in separate responses).
//
// Resources are tied together at the end of the document, because they may
// come in any order and Atom links may follow the content. Hrefs are
// compared after dropping scheme and host and anything before
// "/resource/"; when no href matches exactly, the tail from the last
// "UsagePoint/" (or "ReadingType/", "LocalTimeParameters/") segment is
// compared, if it names one resource only (feeds mix Subscription/... and
// RetailCustomer/... paths). The rules, in order:
//
//   - IntervalBlock to MeterReading: the block's self link, then its up
//     link, cut before "/IntervalBlock", naming a MeterReading; else a
//     MeterReading whose related link is the block's up or self link; else
//     the only MeterReading of the documents; else an implicit MeterReading
//     named by the cut link. (The self link comes first: one shared file's
//     demand block has a self link under its own MeterReading but an up
//     link under another.)
//   - MeterReading to UsagePoint: the same with "/MeterReading"; else the
//     UsagePoint whose related link is the MeterReading's up or self link;
//     else the only UsagePoint; else an implicit UsagePoint (Implicit,
//     kind unknown), as for IntervalBlock-only feeds.
//   - UsageSummary to UsagePoint: the same with "/UsageSummary" and
//     "/ElectricPowerUsageSummary".
//   - MeterReading to ReadingType: a related link naming a ReadingType;
//     else the only ReadingType of the documents; else
//     Options.DefaultReadingType; else none (the series keeps raw values and
//     is left out of Accounts). When several ReadingTypes share one href,
//     the one whose intervalLength is the series' most common duration wins,
//     then the one titled like the MeterReading, then the first.
//   - LocalTimeParameters: the UsagePoint's related link; else a
//     LocalTimeParameters whose related link is the UsagePoint; else the
//     only one of the documents.
//
// Readings of a series are sorted by start. A reading whose start repeats
// is dropped when identical to the earlier one (Series.Duplicates: feeds
// that repeat growing IntervalBlocks), and otherwise replaces it, the
// later one in document order winning (Series.Conflicts). Before that, a
// DST fold written twice is repaired: when two consecutive readings of one
// IntervalBlock have the same start and duration and the slot just before
// them is empty (the previous reading, or the block, ends exactly one
// duration earlier), the first one is moved into that slot
// (Series.Repaired). Utilities that write local times as UTC produce this
// on fall-back days. Readings without a value (or with an empty one) are
// kept as Missing; a value with a zero fraction ("12.0") is an integer.
//
// accumulationBehaviour is kept but not used: the shared files label
// interval deltas as bulkQuantity. Time offsets in LocalTimeParameters are
// reported as written (one utility writes +28800 for UTC-8; another writes
// epoch seconds instead of DST rules, which DecodeDstRule rejects, so
// DSTStart and DSTEnd report no usable rule); timestamps are epoch seconds
// and never shifted, even where a utility evidently wrote local time as
// UTC.
//
// # Units
//
// ReadingType.Convert, Series.Total and the accounts use natural units:
// raw × 10^powerOfTenMultiplier Wh are kWh (× 10^-3), W are kW, VA, VAr,
// VAh and VArh get the k prefix, therms, m3, ft3, US gallons, BTU, K and
// degrees Celsius stay as they are. Conversions are exact decimal scalings
// rounded once to the nearest float64 (one IEEE multiplication or division
// when both operands are exact, big.Rat otherwise), and totals are summed
// in integers before that single rounding.
//
// Gas volumes become therms through a heat content,
// AccountOptions.GasHeatContent Btu per cubic foot, by default 1,037 (the
// U.S. EIA average for natural gas delivered to consumers): 1 ft3 = 0.01037 therm, 1 m3 =
// 1037 / 100000 / 0.028316846592 = 0.36621... therm, 1 ccf = 1.037 therm.
// Gas measured in Wh becomes therms at 1 therm = 105,505,585.262 J. This
// is an approximation (the utility's heat content varies); the Feed keeps
// the raw volumes.
//
// Only energy reaches the accounts: demand (W), apparent and reactive
// power and energy (VA, VAr, VAh, VArh), water, temperature and other
// quantities stay in the Feed.
//
// # Net metering
//
// Each electricity usage point gets one ELECTRIC meter whose interval
// usage is signed net energy in kWh, consumption positive: the net series
// (flowDirection 4) when the usage point has one; otherwise delivered
// (flowDirection 1, or none given) minus received (flowDirection 19) for
// intervals with the same start and duration in both, delivered alone
// where nothing was received, and minus the received energy where only
// that exists (and does not overlap). The separate delivered and received
// series stay in the Feed (Series with ReadingType.FlowDirection). Totals
// of the meter are therefore net consumption; for a solar customer they
// can be negative.
//
// # Mixed interval lengths
//
// All energy series of one kind under a usage point feed its one meter.
// They are taken finest first (most common duration, then most readings):
// every reading of the finest series is kept, and a reading of a coarser
// series is kept only where it overlaps nothing already kept. So 15-minute
// data wins over hourly data for the same hours, hourly data fills the
// hours 15-minute data lacks, and monthly billing-period readings of
// separate MeterReadings line up. Time-of-use or tier components
// (ReadingTypes with tou, cpp or consumptionTier set, one series per period
// or tier) are combined first: readings of the same interval add up (daily
// totals per tier), disjoint ones join (hourly readings of the period in
// force). Gas series are merged the same way, without the tier sum.
// Intervals come out ascending, without duplicates or overlaps, as the
// connector contract requires.
//
// # Accounts and bills
//
// Feed.Accounts makes one account per electricity, gas or unknown-kind
// usage point that yields a meter or a bill (water and other services are
// left out). The account's ExternalID is the usage point's Href (stable
// across downloads of the same utility), its meters are ExternalID+"#electric"
// and ExternalID+"#gas". Each UsageSummary with a billing period and a
// bill amount or consumption becomes a bill "bill-<start>-<duration>"
// (the later summary wins for a repeated period): start and end dates;
// billLastPeriod as total charges, amount due and the electric (or gas)
// charge; overallConsumptionLastPeriod as electric kWh or gas therms; due
// and statement dates from line items measured in time (uom 27) whose note
// says "due" or "bill date". Money is in hundred-thousandths of the
// currency as ESPI defines (1234500 is 12.345), unless the summary's line
// items declare money (uom 80) with another powerOfTenMultiplier
// (UsageSummary.MoneyExponent).
//
// # CSV layouts
//
// ParseCSV recognises the layout by its header row, wherever it is after
// the preamble:
//
//   - SCE "Download My Data": "Energy Delivered time period,Usage
//     Delivered(...kilowatt-hours),Reading quality" sections per day, for
//     delivered and received energy, cells "2022-08-01 00:00:00 to
//     2022-08-01 00:15:00", non-breaking spaces, BOM, CRLF. One usage point
//     ("sce:" + a digest of the "For location" line, which becomes the
//     address) with delivered and received series.
//   - SDG&E: a "Key,Value" preamble (Account Number, Meter Number, UOM...)
//     then "Meter Number,Date,Start Time,Duration,Consumption,Generation,Net"
//     with M/D/YYYY dates, 12-hour times and durations in minutes. One usage
//     point per meter ("sdge:" + meter number); Consumption is delivered,
//     Generation (when given) received; Net is derived and ignored.
//   - Opower (PECO, PG&E and others): "TYPE,DATE,START TIME,END TIME,USAGE,
//     UNITS,COST,NOTES" with inclusive end minutes ("00:59"), costs
//     "$0.13", units kWh, therms or CCF; IMPORT and EXPORT columns for net
//     metering; rows without times are whole local days. One usage point
//     ("opower:" + account number).
//
// CSV values are kept exactly as integers of 10^-6 of the file's unit (kWh
// as Wh × 10^-3, therms × 10^-6, ccf as ft3 × 10^-4), rounding half away
// from zero beyond six decimals. Local times are read in Options.Location,
// else the utility's zone (America/Los_Angeles for SCE and SDG&E), else the
// zone of the state or province in the preamble's address (PECO:
// America/New_York), else ErrNoLocation. A local time that occurs twice on
// a fall-back day takes the first occurrence not before the end of the
// series' previous reading, so the repeated rows land on both hours; a
// local time inside a spring-forward gap is read with the offset before the
// gap. Rows of a day or more last the elapsed time between their resolved
// start and end (23 or 25 hours on DST days); shorter rows last the smaller
// of elapsed and wall-clock time.
//
// # Writing
//
// WriteFeed (and WriteAccount for an account held in memory) renders one
// account as an ESPI Atom feed that ParseXML reads back to the same
// intervals and bills: a UsagePoint per meter, IntervalBlocks per local
// day streamed from a callback, delivered and received series for signed
// electric usage, UsageSummary per bill and LocalTimeParameters
// (LocalTimeOf). Values are exact to WriteOptions.Decimals (default six)
// decimals of kWh and therms. Details in write.go.
//
// # Errors and limits
//
// A malformed document returns an *Error naming the format and the line
// (and column for XML), never a partial Feed and never a panic: truncated
// XML, mismatched tags, non-integer values, readings without a time period,
// non-positive or absurd durations (over MaxDuration, 400 days), starts
// outside year 1970-9999, unparseable CSV rows. Documents over
// Options.MaxBytes (default 512 MiB) fail with ErrTooLarge, more than
// Options.MaxReadings readings (default 10 million) with
// ErrTooManyReadings, XML that is not an Atom feed, entry or ESPI resource
// and CSV of no known layout with ErrNotGreenButton. Elements nest at most
// 256 deep; small resources hold at most 200,000 elements.
package greenbutton
