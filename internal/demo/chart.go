package demo

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// interval is one usage interval of GET /intervals.
type interval struct {
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	Usage float64 `json:"usage"`
}

// chart is a drawn usage chart.
type chart struct {
	SVG   template.HTML
	Total string
	Note  string
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH = 720, 240
	padL, padR     = 60, 10
	padT, padB     = 12, 30
)

// drawChart sums the intervals into hourly or daily bars (UTC) over
// [from, to) and draws them as an SVG bar chart with its axes. A meter that
// reports daily values is drawn daily in the hourly view too.
func drawChart(ivs []interval, view string, from, to time.Time, title, unit string) chart {
	step := time.Hour
	if view == "daily" {
		step = 24 * time.Hour
	}
	var note string
	if view == "hourly" && len(ivs) > 0 && ivs[0].End-ivs[0].Start >= 24*3600 {
		step, note = 24*time.Hour, "This meter reports daily values: shown per day."
	}
	n := int(to.Sub(from) / step)
	if n <= 0 {
		return chart{Note: "Empty range."}
	}
	bars := make([]float64, n)
	var total float64
	for _, iv := range ivs {
		i := int(time.Unix(iv.Start, 0).Sub(from) / step)
		if iv.Start < from.Unix() || i >= n {
			continue
		}
		bars[i] += iv.Usage
		total += iv.Usage
	}
	if len(ivs) == 0 {
		note = strings.TrimSpace(note + " No usage in this range.")
	}
	top := 0.0
	for _, v := range bars {
		top = math.Max(top, v)
	}
	top = niceCeil(top)

	var b strings.Builder
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	per := "day"
	if step == time.Hour {
		per = "hour"
	}
	fmt.Fprintf(&b, `<title>%s, %s per %s</title>`, template.HTMLEscapeString(title), template.HTMLEscapeString(unit), per)
	// Horizontal grid lines and the value axis.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := float64(padT) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d0d5db" stroke-width="1"/>`, padL, y, chartW-padR, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#4a5360">%s</text>`, padL-6, y+4, formatValue(v))
	}
	// Bars.
	bw := plotW / float64(n)
	gap := 0.0
	if bw > 4 {
		gap = 1
	}
	for i, v := range bars {
		if v <= 0 || top <= 0 {
			continue
		}
		h := plotH * v / top
		fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="#0b5cad"><title>%s: %s %s</title></rect>`,
			float64(padL)+float64(i)*bw, float64(padT)+plotH-h, math.Max(bw-gap, 0.5), h,
			from.Add(time.Duration(i)*step).Format(labelLayout(step)), formatValue(v), template.HTMLEscapeString(unit))
	}
	// Time axis: up to 6 labels on whole days.
	days := int(to.Sub(from).Hours() / 24)
	every := max(1, (days+5)/6)
	for day := 0; day < days; day += every {
		t := from.AddDate(0, 0, day)
		x := float64(padL) + plotW*float64(t.Sub(from))/float64(to.Sub(from))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#6b7480" stroke-width="1"/>`, x, chartH-padB, x, chartH-padB+4)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" font-size="11" fill="#4a5360">%s</text>`, x+2, chartH-padB+16, t.Format("Jan 2"))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#6b7480" stroke-width="1"/>`, padL, chartH-padB, chartW-padR, chartH-padB)
	b.WriteString(`</svg>`)
	return chart{
		SVG:   template.HTML(b.String()), // built from numbers and escaped text only
		Total: formatValue(total),
		Note:  note,
	}
}

func labelLayout(step time.Duration) string {
	if step < 24*time.Hour {
		return "Jan 2 15:04 UTC"
	}
	return "Jan 2, 2006"
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatValue(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
