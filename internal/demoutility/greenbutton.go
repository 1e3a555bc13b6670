package demoutility

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"time"
)

// greenButton renders readings as a Green Button (NAESB ESPI) Atom feed:
// per meter a UsagePoint, its ReadingType and one IntervalBlock. Electric
// values are in Wh (uom 72), gas in thousandths of a therm (uom 169,
// powerOfTenMultiplier -3), exactly the site's own numbers.
func greenButton(a accountSpec, elec, gas []reading, now time.Time) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	updated := now.UTC().Format(time.RFC3339)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">` + "\n")
	fmt.Fprintf(&b, "  <id>urn:uuid:%s</id>\n  <title>%s Green Button export, account %s</title>\n  <updated>%s</updated>\n",
		uuidOf("feed:"+a.number), esc(Name), a.number, updated)
	point := 0
	meter := func(number string, kind, uom, mult int, rs []reading) {
		if number == "" {
			return
		}
		point++
		base := fmt.Sprintf("https://demo-power.invalid/espi/1_1/resource/RetailCustomer/%s/UsagePoint/%d", a.number, point)
		entry := func(id, href, title, content string) {
			fmt.Fprintf(&b, "  <entry>\n    <id>urn:uuid:%s</id>\n    <link rel=\"self\" href=\"%s\"/>\n    <title>%s</title>\n    <updated>%s</updated>\n    <content>%s</content>\n  </entry>\n",
				uuidOf(id), href, esc(title), updated, content)
		}
		entry("up:"+number, base, "Meter "+number,
			fmt.Sprintf("<espi:UsagePoint><espi:ServiceCategory><espi:kind>%d</espi:kind></espi:ServiceCategory></espi:UsagePoint>", kind))
		length, commodity := 3600, 1 // electricity, secondary metered
		if kind == 1 {
			length, commodity = 86400, 7 // natural gas
		}
		entry("rt:"+number, base+"/ReadingType/1", "Reading type",
			fmt.Sprintf("<espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour><espi:commodity>%d</espi:commodity><espi:flowDirection>1</espi:flowDirection><espi:intervalLength>%d</espi:intervalLength><espi:powerOfTenMultiplier>%d</espi:powerOfTenMultiplier><espi:uom>%d</espi:uom></espi:ReadingType>",
				commodity, length, mult, uom))
		var c bytes.Buffer
		c.WriteString("<espi:IntervalBlock>")
		if len(rs) > 0 {
			first, last := rs[0].start.Unix(), rs[len(rs)-1].end.Unix()
			fmt.Fprintf(&c, "<espi:interval><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:interval>", last-first, first)
		}
		for _, r := range rs {
			fmt.Fprintf(&c, "\n      <espi:IntervalReading><espi:timePeriod><espi:duration>%d</espi:duration><espi:start>%d</espi:start></espi:timePeriod><espi:value>%d</espi:value></espi:IntervalReading>",
				r.end.Unix()-r.start.Unix(), r.start.Unix(), r.milli)
		}
		c.WriteString("</espi:IntervalBlock>")
		entry("ib:"+number, base+"/MeterReading/1/IntervalBlock/1", "Interval block", c.String())
	}
	meter(a.elecMeter, 0, 72, 0, elec)
	meter(a.gasMeter, 1, 169, -3, gas)
	b.WriteString("</feed>\n")
	return b.Bytes()
}

// uuidOf makes a stable UUID-shaped id from a string.
func uuidOf(s string) string {
	h1, h2 := seedOf(s), seedOf(s+"#")
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", h1>>32, (h1>>16)&0xffff, h1&0xfff, h2>>52, h2&0xffffffffffff)
}
