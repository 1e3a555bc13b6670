package greenbutton

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// unitOf returns the natural unit of an ESPI uom and the power of ten that
// takes the uom to it (Wh -> kWh is -3).
func unitOf(uom int) (symbol string, shift int) {
	switch uom {
	case UOMWh:
		return "kWh", -3
	case UOMWatt:
		return "kW", -3
	case UOMVA:
		return "kVA", -3
	case UOMVAr:
		return "kVAr", -3
	case UOMVAh:
		return "kVAh", -3
	case UOMVArh:
		return "kVArh", -3
	case UOMTherm:
		return "therm", 0
	case UOMBTU:
		return "BTU", 0
	case UOMCubicMetre:
		return "m3", 0
	case UOMCubicFoot:
		return "ft3", 0
	case UOMUSGallon:
		return "gal", 0
	case UOMKelvin:
		return "K", 0
	case UOMCelsius:
		return "degC", 0
	case UOMNone:
		return "", 0
	}
	return fmt.Sprintf("uom%d", uom), 0
}

// Unit returns the natural unit of the ReadingType's values: kWh for Wh,
// kW for W, therm, m3, ft3, gal, K...
func (rt ReadingType) Unit() string {
	s, _ := unitOf(rt.UOM)
	return s
}

// Exponent returns the power of ten that turns a raw value into the
// natural unit (powerOfTenMultiplier plus the uom's shift, e.g. -3 for Wh
// with multiplier 0).
func (rt ReadingType) Exponent() int {
	_, shift := unitOf(rt.UOM)
	return rt.PowerOfTenMultiplier + shift
}

// Convert returns raw (an IntervalReading value) in the natural unit of
// the ReadingType: raw × 10^powerOfTenMultiplier Wh become kWh, W become kW,
// therms stay therms, volumes stay in their unit. The result is the float64
// nearest to the exact decimal value.
func (rt ReadingType) Convert(raw int64) (value float64, unit string) {
	unit, shift := unitOf(rt.UOM)
	return scaleFloat(raw, rt.PowerOfTenMultiplier+shift), unit
}

// Quantity classes of a ReadingType.
type class int

const (
	classOther class = iota
	classElectricEnergy
	classGas // energy (therm, BTU, Wh of gas) or volume (m3, ft3)
	classDemand
	classWater
)

// classify decides what a series measures, from its uom and commodity,
// falling back on the usage point's kind when the commodity is not given.
func classify(rt *ReadingType, kind ServiceKind) class {
	if rt == nil {
		return classOther
	}
	commodity := rt.Commodity
	gasLike := commodity == CommodityNaturalGas || commodity == CommodityPropane ||
		(commodity == 0 && kind == ServiceGas)
	waterLike := commodity == CommodityWater || (commodity >= 9 && commodity <= 11) ||
		(commodity == 0 && kind == ServiceWater)
	switch rt.UOM {
	case UOMWh:
		if gasLike {
			return classGas
		}
		if waterLike {
			return classOther
		}
		return classElectricEnergy
	case UOMTherm, UOMBTU:
		return classGas
	case UOMCubicMetre, UOMCubicFoot:
		if gasLike {
			return classGas
		}
		if waterLike {
			return classWater
		}
		return classOther
	case UOMUSGallon:
		return classWater
	case UOMWatt:
		return classDemand
	}
	return classOther
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scaleFloat returns the float64 nearest to raw × 10^exp. When raw and the
// power of ten are exact in float64, one IEEE multiplication or division is
// correctly rounded; otherwise it goes through big.Rat.
func scaleFloat(raw int64, exp int) float64 {
	const exact = 1 << 53
	if raw > -exact && raw < exact {
		switch {
		case exp >= 0 && exp < len(pow10):
			return float64(raw) * pow10[exp]
		case exp < 0 && -exp < len(pow10):
			return float64(raw) / pow10[-exp]
		}
	}
	f, _ := scaleRat(big.NewInt(raw), exp).Float64()
	return f
}

// scaleRat returns n × 10^exp exactly.
func scaleRat(n *big.Int, exp int) *big.Rat {
	r := new(big.Rat).SetInt(n)
	if exp == 0 {
		return r
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil)
	if exp > 0 {
		return r.Mul(r, new(big.Rat).SetInt(p))
	}
	return r.Quo(r, new(big.Rat).SetInt(p))
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// decimalString formats n × 10^exp exactly, without trailing zeros.
func decimalString(n *big.Int, exp int) string {
	neg := n.Sign() < 0
	digits := new(big.Int).Abs(n).String()
	if exp >= 0 {
		if digits == "0" {
			return "0"
		}
		s := digits + strings.Repeat("0", exp)
		if neg {
			s = "-" + s
		}
		return s
	}
	frac := -exp
	if len(digits) <= frac {
		digits = strings.Repeat("0", frac-len(digits)+1) + digits
	}
	intPart, fracPart := digits[:len(digits)-frac], strings.TrimRight(digits[len(digits)-frac:], "0")
	s := intPart
	if fracPart != "" {
		s += "." + fracPart
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// rawSum adds the values of the readings that are not Missing, exactly.
func rawSum(rs []Reading) *big.Int {
	var acc int64
	total := new(big.Int)
	for _, r := range rs {
		if r.Missing {
			continue
		}
		if (r.Value > 0 && acc > math.MaxInt64-r.Value) || (r.Value < 0 && acc < math.MinInt64-r.Value) {
			total.Add(total, big.NewInt(acc))
			acc = 0
		}
		acc += r.Value
	}
	return total.Add(total, big.NewInt(acc))
}

// Total returns the sum of the series' values in the natural unit of its
// ReadingType (kWh, therm...), computed exactly and rounded once. Missing
// readings count as nothing. With no ReadingType the raw sum is returned
// with unit "".
func (s Series) Total() (value float64, unit string) {
	exp := 0
	if s.ReadingType != nil {
		unit = s.ReadingType.Unit()
		exp = s.ReadingType.Exponent()
	}
	f, _ := scaleRat(rawSum(s.Readings), exp).Float64()
	return f, unit
}

// TotalDecimal is Total as an exact decimal string ("1391.666").
func (s Series) TotalDecimal() (decimal, unit string) {
	exp := 0
	if s.ReadingType != nil {
		unit = s.ReadingType.Unit()
		exp = s.ReadingType.Exponent()
	}
	return decimalString(rawSum(s.Readings), exp), unit
}

// Gas conversion. One therm is 100,000 Btu; a volume becomes energy through
// the gas's heat content.
const (
	// DefaultGasHeatContent is the heat content used to turn gas volumes
	// into therms when AccountOptions gives none: 1,037 Btu per cubic foot,
	// the U.S. EIA average for natural gas delivered to consumers.
	DefaultGasHeatContent = 1037.0
	// cubicMetreInFeet3 is 0.3048^3: one cubic foot in cubic metres.
	cubicFootInMetres3 = "0.028316846592"
	// thermInJoules is 100,000 international-table Btu.
	thermInJoules = "105505585.262"
)

// thermsPer returns how many therms one unit of uom is (nil: not gas).
func thermsPer(uom int, heatContent *big.Rat) *big.Rat {
	btuPerTherm := big.NewRat(100000, 1)
	switch uom {
	case UOMTherm:
		return big.NewRat(1, 1)
	case UOMBTU:
		return big.NewRat(1, 100000)
	case UOMCubicFoot:
		return new(big.Rat).Quo(heatContent, btuPerTherm)
	case UOMCubicMetre:
		ft, _ := new(big.Rat).SetString(cubicFootInMetres3)
		r := new(big.Rat).Quo(heatContent, btuPerTherm)
		return r.Quo(r, ft)
	case UOMWh:
		j, _ := new(big.Rat).SetString(thermInJoules)
		return new(big.Rat).Quo(big.NewRat(3600, 1), j)
	}
	return nil
}
