package greenbutton

import (
	"errors"
	"fmt"
	"time"
)

// Feed is everything one Green Button document (or several, through a
// Builder) holds, resolved into usage points. Readings are raw ESPI integers;
// ReadingType.Convert and the totals turn them into natural units.
type Feed struct {
	// Format names the layout the data came in: FormatESPI, FormatSCECSV,
	// FormatSDGECSV or FormatOpowerCSV.
	Format string
	// UsagePoints in document order (implicit ones, derived from links of
	// other resources, come after the declared ones).
	UsagePoints []UsagePoint
	// ReadingTypes lists every ReadingType resource of the document, used
	// or not (a ReadingType-only feed has nothing else).
	ReadingTypes []ReadingType
	// LocalTimeParameters lists every LocalTimeParameters resource.
	LocalTimeParameters []LocalTimeParameters
	// Warnings describe quirks the parser worked around (duplicate
	// readings dropped, DST folds repaired, missing ReadingTypes...). They
	// name resources by href (which may hold an account or meter number)
	// and never contain names or addresses.
	Warnings []string
}

// The formats of a Feed.
const (
	FormatESPI      = "espi"
	FormatSCECSV    = "sce-csv"
	FormatSDGECSV   = "sdge-csv"
	FormatOpowerCSV = "opower-csv"
)

// ServiceKind is the ESPI ServiceCategory kind of a usage point.
type ServiceKind int

// The service kinds of ESPI (ServiceKind enumeration). ServiceUnknown marks
// usage points the document does not describe (implicit ones).
const (
	ServiceUnknown     ServiceKind = -1
	ServiceElectricity ServiceKind = 0
	ServiceGas         ServiceKind = 1
	ServiceWater       ServiceKind = 2
	ServiceTime        ServiceKind = 3
	ServiceHeat        ServiceKind = 4
	ServiceRefuse      ServiceKind = 5
	ServiceSewerage    ServiceKind = 6
	ServiceRates       ServiceKind = 7
	ServiceTVLicence   ServiceKind = 8
	ServiceInternet    ServiceKind = 9
)

// String returns the kind's name.
func (k ServiceKind) String() string {
	switch k {
	case ServiceElectricity:
		return "electricity"
	case ServiceGas:
		return "gas"
	case ServiceWater:
		return "water"
	case ServiceTime:
		return "time"
	case ServiceHeat:
		return "heat"
	case ServiceRefuse:
		return "refuse"
	case ServiceSewerage:
		return "sewerage"
	case ServiceRates:
		return "rates"
	case ServiceTVLicence:
		return "tvLicence"
	case ServiceInternet:
		return "internet"
	case ServiceUnknown:
		return "unknown"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// UsagePoint is one metered service point (ESPI UsagePoint) with its series
// and bill summaries.
type UsagePoint struct {
	// Href is the canonical self link (scheme and host removed, path after
	// ".../resource/"), or the key derived from other resources' links for
	// an implicit usage point. CSV usage points get "opower:<account
	// number>", "sdge:<meter number>" or "sce:<digest of the location>".
	Href  string
	Title string
	Kind  ServiceKind
	// Implicit is true when the document has no UsagePoint resource for
	// the readings or summaries gathered here.
	Implicit bool
	// LocalTime is the usage point's LocalTimeParameters, if any.
	LocalTime *LocalTimeParameters
	Series    []Series
	Summaries []UsageSummary
	// AccountNumber, Address and MeterNumber come from CSV preambles (ESPI
	// usage points carry none of them).
	AccountNumber string
	Address       string
	MeterNumber   string
}

// Series is the readings of one MeterReading, ascending by start, without
// duplicates.
type Series struct {
	// Href is the canonical MeterReading href (CSV: "<usage point>#delivered"
	// or "#received").
	Href  string
	Title string
	// ReadingType describes the values; nil when the document gives none
	// that can be tied to this series (see the package doc).
	ReadingType *ReadingType
	Readings    []Reading
	// Duplicates counts readings dropped because an identical reading with
	// the same start was already present (repeated IntervalBlocks).
	Duplicates int
	// Conflicts counts readings replaced by a later reading with the same
	// start but another value (the later one in document order wins).
	Conflicts int
	// Repaired counts readings moved back by one interval by the DST-fold
	// repair (see the package doc).
	Repaired int
}

// Reading is one IntervalReading in raw ESPI integers (32 bytes).
type Reading struct {
	// Start is the interval start, epoch seconds (UTC).
	Start int64
	// Value is the raw value: multiply by 10^PowerOfTenMultiplier to get
	// the ReadingType's uom. Zero when Missing.
	Value int64
	// Cost is the raw cost in hundred-thousandths of the currency (ESPI);
	// meaningful only when HasCost.
	Cost int64
	// Duration of the interval in seconds, always positive.
	Duration int32
	// Quality is the ReadingQuality code, or -1 when the reading has none.
	Quality int16
	// HasCost reports whether the reading carried a cost.
	HasCost bool
	// Missing is true when the reading had no value element.
	Missing bool
}

// End returns the end of the interval, epoch seconds.
func (r Reading) End() int64 { return r.Start + int64(r.Duration) }

// ReadingType is an ESPI ReadingType. Zero means "not given" for every
// code except PowerOfTenMultiplier.
type ReadingType struct {
	Href                 string
	Title                string
	UOM                  int
	PowerOfTenMultiplier int
	// IntervalLength in seconds.
	IntervalLength int64
	FlowDirection  int
	// Accumulation is accumulationBehaviour (4 = deltaData, 1 =
	// bulkQuantity, 12 = instantaneous...). Kept, not trusted: see the
	// package doc.
	Accumulation    int
	Commodity       int
	Kind            int
	Currency        int
	DataQualifier   int
	DefaultQuality  int
	Phase           int
	TimeAttribute   int
	MeasuringPeriod int
	TOU             int
	CPP             int
	ConsumptionTier int
}

// Codes used by the conversions (ESPI UnitSymbolKind, FlowDirectionKind,
// CommodityKind).
const (
	UOMNone       = 0
	UOMKelvin     = 6
	UOMCelsius    = 23
	UOMWatt       = 38
	UOMCubicMetre = 42
	UOMVA         = 61
	UOMVAr        = 63
	UOMVAh        = 71
	UOMWh         = 72
	UOMVArh       = 73
	UOMCubicFoot  = 119
	UOMUSGallon   = 128
	UOMBTU        = 132
	UOMTherm      = 169
	UOMMoney      = 80
	UOMTime       = 27

	FlowNone    = 0
	FlowForward = 1
	FlowNet     = 4
	FlowReverse = 19

	CommodityElectricity = 1
	CommodityNaturalGas  = 7
	CommodityPropane     = 8
	CommodityWater       = 9
)

// Quantity is an ESPI SummaryMeasurement.
type Quantity struct {
	Value                int64
	PowerOfTenMultiplier int
	UOM                  int
	// TimeStamp is epoch seconds, 0 when absent.
	TimeStamp int64
}

// Period is an ESPI DateTimeInterval.
type Period struct {
	Start    int64
	Duration int64
}

// End returns Start + Duration.
func (p Period) End() int64 { return p.Start + p.Duration }

// LineItem is an ESPI costAdditionalDetailLastPeriod.
type LineItem struct {
	// Amount in the summary's money scale (see UsageSummary.MoneyExponent).
	Amount      *int64
	Note        string
	Measurement *Quantity
	ItemKind    int
	UnitCost    *int64
	ItemPeriod  *Period
}

// UsageSummary is an ESPI UsageSummary (or ElectricPowerUsageSummary): one
// billing period's bill and consumption. Money fields are raw integers in
// 10^MoneyExponent() of the currency.
type UsageSummary struct {
	Href          string
	Title         string
	BillingPeriod Period
	// BillLastPeriod, BillToDate and CostAdditionalLastPeriod are nil when
	// absent.
	BillLastPeriod           *int64
	BillToDate               *int64
	CostAdditionalLastPeriod *int64
	// Currency is the ISO 4217 numeric code (840 USD, 124 CAD), 0 if absent.
	Currency int
	// OverallConsumptionLastPeriod is the period's consumption, nil if absent.
	OverallConsumptionLastPeriod           *Quantity
	CurrentBillingPeriodOverAllConsumption *Quantity
	PeakDemand                             *Quantity
	QualityOfReading                       int
	StatusTimeStamp                        int64
	LineItems                              []LineItem
}

// MoneyExponent returns the power of ten of the summary's money fields: -5
// (hundred-thousandths, as ESPI defines) unless the summary's line items
// declare their amounts as money (uom 80) with another powerOfTenMultiplier,
// which some utilities do (Enbridge writes thousandths).
func (s UsageSummary) MoneyExponent() int {
	for _, li := range s.LineItems {
		if li.Amount != nil && li.Measurement != nil && li.Measurement.UOM == UOMMoney {
			return li.Measurement.PowerOfTenMultiplier
		}
	}
	return -5
}

// Money converts a raw money field of the summary to currency units.
func (s UsageSummary) Money(raw int64) float64 {
	return scaleFloat(raw, s.MoneyExponent())
}

// LocalTimeParameters is the ESPI time-zone description of a usage point.
type LocalTimeParameters struct {
	Href  string
	Title string
	// TZOffset is the standard-time offset east of UTC in seconds.
	TZOffset int64
	// DSTOffset is the daylight-saving shift in seconds.
	DSTOffset int64
	// DSTStartRule and DSTEndRule are the raw ESPI DstRuleType codes (hex
	// in the document); see DSTStart.
	DSTStartRule uint32
	DSTEndRule   uint32
}

// Options limit and tune parsing. The zero value is usable.
type Options struct {
	// MaxBytes rejects a document longer than this (0: DefaultMaxBytes).
	MaxBytes int64
	// MaxReadings rejects documents with more readings (0:
	// DefaultMaxReadings).
	MaxReadings int
	// Location is the time zone of CSV local times. Nil: the layout's
	// utility zone (SCE, SDG&E: America/Los_Angeles), else the state of the
	// preamble's address, else an error.
	Location *time.Location
	// DefaultReadingType is used for series whose ReadingType cannot be
	// resolved (an IntervalBlock-only feed). Nil: such series keep a nil
	// ReadingType.
	DefaultReadingType *ReadingType
}

// Limits.
const (
	DefaultMaxBytes    = 512 << 20
	DefaultMaxReadings = 10_000_000
	// MaxDuration is the longest accepted reading (400 days).
	MaxDuration = 400 * 24 * 3600
	// maxTime is 9999-12-31T23:59:59Z.
	maxTime = 253402300799
)

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

func (o Options) maxReadings() int {
	if o.MaxReadings > 0 {
		return o.MaxReadings
	}
	return DefaultMaxReadings
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrTooLarge: the document is longer than Options.MaxBytes.
	ErrTooLarge = errors.New("greenbutton: document too large")
	// ErrTooManyReadings: more than Options.MaxReadings readings.
	ErrTooManyReadings = errors.New("greenbutton: too many readings")
	// ErrNotGreenButton: the document is not Green Button data (an XML
	// document without ESPI resources, or a CSV of no known layout).
	ErrNotGreenButton = errors.New("greenbutton: not a Green Button document")
	// ErrNoLocation: a CSV has local times and no time zone could be found.
	ErrNoLocation = errors.New("greenbutton: time zone of the CSV is unknown")
)

// Error is a malformed-document error with its position. Every parse error
// but a context cancellation is an *Error; Err, when set, is one of the
// sentinels.
type Error struct {
	// Format is "xml", "csv" or "input" (reading, size, encoding).
	Format string
	// Line and Column are 1-based (Column 0 when unknown).
	Line, Column int
	Msg          string
	Err          error
}

// Error formats the error as "greenbutton: <format> line L, column C: msg".
func (e *Error) Error() string {
	pos := ""
	switch {
	case e.Line > 0 && e.Column > 0:
		pos = fmt.Sprintf(" line %d, column %d:", e.Line, e.Column)
	case e.Line > 0:
		pos = fmt.Sprintf(" line %d:", e.Line)
	}
	return fmt.Sprintf("greenbutton: %s%s %s", e.Format, pos, e.Msg)
}

// Unwrap returns the sentinel, if any.
func (e *Error) Unwrap() error { return e.Err }
