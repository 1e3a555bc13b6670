package greenbutton

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// collector holds the resources of the documents read so far, before they
// are tied together.
type collector struct {
	docs   int
	arena  []Reading
	blocks []blockRec
	ups    []upRec
	mrs    []mrRec
	rts    []rtRec
	sums   []sumRec
	ltps   []ltpRec
}

// linkSet is an entry's links, canonical (see canon).
type linkSet struct {
	self, up string
	related  []string
}

type blockRec struct {
	first, end     int
	ivStart, ivDur int64
	hasIv          bool
	noPeriod       int
	repaired       int
	links          linkSet
}

type upRec struct {
	UsagePoint
	links linkSet
}

type mrRec struct {
	title    string
	links    linkSet
	implicit bool
}

type rtRec struct {
	rt    ReadingType
	links linkSet
}

type sumRec struct {
	sum   UsageSummary
	links linkSet
}

type ltpRec struct {
	ltp   LocalTimeParameters
	links linkSet
}

func (c *collector) resources() int {
	return len(c.ups) + len(c.mrs) + len(c.rts) + len(c.blocks) + len(c.sums) + len(c.ltps)
}

// attach gives the entry's links and title to the resources read in it.
func (c *collector) attach(refs []resRef, raw rawLinks, title string) {
	ls := linkSet{}
	if len(raw.self) > 0 {
		ls.self = canon(raw.self[0])
	}
	if len(raw.up) > 0 {
		ls.up = canon(raw.up[0])
	}
	for _, h := range raw.related {
		ls.related = append(ls.related, canon(h))
	}
	for _, r := range refs {
		switch r.kind {
		case resUsagePoint:
			u := &c.ups[r.idx]
			u.links, u.Title, u.Href = ls, title, ls.self
		case resMeterReading:
			c.mrs[r.idx].links, c.mrs[r.idx].title = ls, title
		case resReadingType:
			t := &c.rts[r.idx]
			t.links, t.rt.Title, t.rt.Href = ls, title, ls.self
		case resIntervalBlock:
			c.blocks[r.idx].links = ls
		case resUsageSummary:
			s := &c.sums[r.idx]
			s.links, s.sum.Title, s.sum.Href = ls, title, ls.self
		case resLocalTime:
			l := &c.ltps[r.idx]
			l.links, l.ltp.Title, l.ltp.Href = ls, title, ls.self
		}
	}
}

// canon reduces an href to a comparable key: scheme and host dropped, the
// path after ".../resource/" kept, no surrounding slashes, no query.
func canon(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.Index(h, "://"); i >= 0 {
		rest := h[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			h = rest[j:]
		} else {
			h = ""
		}
	}
	if i := strings.IndexAny(h, "?#"); i >= 0 {
		h = h[:i]
	}
	if i := strings.LastIndex(h, "/resource/"); i >= 0 {
		h = h[i+len("/resource/"):]
	}
	return strings.Trim(h, "/")
}

// cutAt returns the part of h before the path segment seg ("" if h has no
// such segment after something).
func cutAt(h, seg string) string {
	for i := len(h); i > 0; {
		j := strings.LastIndex(h[:i], "/"+seg)
		if j <= 0 {
			return ""
		}
		end := j + 1 + len(seg)
		if end == len(h) || h[end] == '/' {
			return h[:j]
		}
		i = j
	}
	return ""
}

// keyIndex finds resources by canonical href or, failing that, by the
// href's tail from its last seg segment ("UsagePoint/1/MeterReading/2")
// when that tail names one resource only: feeds mix Subscription/... and
// RetailCustomer/... paths for the same resource.
type keyIndex struct {
	seg   string
	exact map[string]int
	tails map[string]int // -1: ambiguous
}

func newKeyIndex(seg string) *keyIndex {
	return &keyIndex{seg: seg, exact: map[string]int{}, tails: map[string]int{}}
}

// tailOf returns key from its last seg+"/" segment, or "".
func tailOf(key, seg string) string {
	i := strings.LastIndex(key, seg+"/")
	if i < 0 || (i > 0 && key[i-1] != '/') {
		return ""
	}
	return key[i:]
}

func (k *keyIndex) add(key string, i int) {
	if _, ok := k.exact[key]; !ok {
		k.exact[key] = i
	}
	if t := tailOf(key, k.seg); t != "" && t != key {
		if j, ok := k.tails[t]; ok && j != i {
			k.tails[t] = -1
		} else {
			k.tails[t] = i
		}
	}
}

func (k *keyIndex) find(key string) (int, bool) {
	if i, ok := k.exact[key]; ok {
		return i, true
	}
	if t := tailOf(key, k.seg); t != "" {
		if i, ok := k.tails[t]; ok && i >= 0 {
			return i, true
		}
	}
	return 0, false
}

// resolve ties the collected resources together (rules in the package
// doc) and builds the Feed.
func (c *collector) resolve(opt Options) *Feed {
	f := &Feed{Format: FormatESPI}
	warn := func(format string, args ...any) { f.Warnings = append(f.Warnings, fmt.Sprintf(format, args...)) }

	// Usage points, keyed by canonical self href.
	upKey := newKeyIndex("UsagePoint")
	declared := 0
	for _, u := range c.ups {
		if i, ok := upKey.exact[u.Href]; ok && u.Href != "" {
			if u.Title != "" {
				f.UsagePoints[i].Title = u.Title
			}
			if u.Kind != ServiceUnknown {
				f.UsagePoints[i].Kind = u.Kind
			}
			continue
		}
		upKey.add(u.Href, len(f.UsagePoints))
		f.UsagePoints = append(f.UsagePoints, u.UsagePoint)
		declared++
	}
	upRelated := make([]map[string]bool, len(c.ups))
	for i, u := range c.ups {
		upRelated[i] = map[string]bool{}
		for _, r := range u.links.related {
			upRelated[i][r] = true
		}
	}
	// findUP resolves a resource to a usage point by the rules of the
	// package doc, creating an implicit one when nothing matches.
	findUP := func(ls linkSet, segs ...string) int {
		var cands []string
		for _, seg := range segs {
			for _, h := range []string{ls.self, ls.up} {
				if k := cutAt(h, seg); k != "" {
					cands = append(cands, k)
				}
			}
		}
		for _, k := range cands {
			if i, ok := upKey.find(k); ok {
				return i
			}
		}
		for i, u := range c.ups {
			if (ls.up != "" && upRelated[i][ls.up]) || (ls.self != "" && upRelated[i][ls.self]) {
				return upKey.exact[u.Href]
			}
		}
		if declared == 1 {
			return 0
		}
		key := ""
		for _, k := range cands {
			if strings.Contains(k, "UsagePoint") || key == "" {
				key = k
				if strings.Contains(k, "UsagePoint") {
					break
				}
			}
		}
		if i, ok := upKey.exact[key]; ok {
			return i
		}
		upKey.add(key, len(f.UsagePoints))
		f.UsagePoints = append(f.UsagePoints, UsagePoint{Href: key, Kind: ServiceUnknown, Implicit: true})
		return len(f.UsagePoints) - 1
	}

	// Meter readings, keyed by canonical self href.
	mrKey := newKeyIndex("UsagePoint")
	var mrs []mrRec
	for _, m := range c.mrs {
		if _, ok := mrKey.exact[m.links.self]; ok && m.links.self != "" {
			continue
		}
		mrKey.add(m.links.self, len(mrs))
		mrs = append(mrs, m)
	}
	declaredMRs := len(mrs)
	// Blocks to meter readings.
	blockMR := make([]int, len(c.blocks))
	for bi, b := range c.blocks {
		blockMR[bi] = -1
		var cands []string
		for _, h := range []string{b.links.self, b.links.up} {
			if k := cutAt(h, "IntervalBlock"); k != "" {
				cands = append(cands, k)
			}
		}
		for _, k := range cands {
			if i, ok := mrKey.find(k); ok {
				blockMR[bi] = i
				break
			}
		}
		if blockMR[bi] < 0 {
		related:
			for i := 0; i < declaredMRs; i++ {
				for _, r := range mrs[i].links.related {
					if r != "" && (r == b.links.up || r == b.links.self) {
						blockMR[bi] = i
						break related
					}
				}
			}
		}
		if blockMR[bi] < 0 && declaredMRs == 1 {
			blockMR[bi] = 0
		}
		if blockMR[bi] < 0 {
			key := ""
			if len(cands) > 0 {
				key = cands[0]
			}
			i, ok := mrKey.exact[key]
			if !ok {
				i = len(mrs)
				mrKey.add(key, i)
				mrs = append(mrs, mrRec{links: linkSet{self: key}, implicit: true})
			}
			blockMR[bi] = i
		}
	}

	// Readings per meter reading, in document order.
	counts := make([]int, len(mrs))
	for bi, b := range c.blocks {
		counts[blockMR[bi]] += b.end - b.first
	}
	readings := make([][]Reading, len(mrs))
	repaired := make([]int, len(mrs))
	contiguous := make([]bool, len(mrs))
	lastEnd := make([]int, len(mrs))
	for i := range mrs {
		contiguous[i], lastEnd[i] = true, -1
	}
	for bi, b := range c.blocks {
		m := blockMR[bi]
		if b.end == b.first {
			continue
		}
		if lastEnd[m] >= 0 && lastEnd[m] != b.first {
			contiguous[m] = false
		}
		lastEnd[m] = b.end
		repaired[m] += b.repaired
	}
	firstOf := make([]int, len(mrs))
	for i := range firstOf {
		firstOf[i] = -1
	}
	for bi, b := range c.blocks {
		m := blockMR[bi]
		if b.end == b.first {
			continue
		}
		if contiguous[m] {
			// The meter reading's blocks follow each other: its readings
			// are used in place.
			if firstOf[m] < 0 {
				firstOf[m] = b.first
			}
			readings[m] = c.arena[firstOf[m]:b.end:b.end]
			continue
		}
		if readings[m] == nil {
			readings[m] = make([]Reading, 0, counts[m])
		}
		readings[m] = append(readings[m], c.arena[b.first:b.end]...)
	}

	// Reading types, keyed by canonical self href (several may share one).
	rtKey := map[string][]int{}
	rtTail := map[string]string{} // tail -> key, "" when ambiguous
	var rtKeys []string
	for i, r := range c.rts {
		k := r.links.self
		if _, ok := rtKey[k]; !ok {
			rtKeys = append(rtKeys, k)
			if t := tailOf(k, "ReadingType"); t != "" {
				if _, dup := rtTail[t]; dup {
					rtTail[t] = ""
				} else {
					rtTail[t] = k
				}
			}
		}
		rtKey[k] = append(rtKey[k], i)
		f.ReadingTypes = append(f.ReadingTypes, r.rt)
	}

	for mi, m := range mrs {
		rs := readings[mi]
		if len(rs) == 0 {
			continue
		}
		s := Series{Href: m.links.self, Title: m.title, Repaired: repaired[mi]}
		if !slices.IsSortedFunc(rs, func(a, b Reading) int { return cmpInt64(a.Start, b.Start) }) {
			sort.SliceStable(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
		}
		s.Readings, s.Duplicates, s.Conflicts = dedup(rs)
		s.ReadingType = c.readingTypeFor(m, s.Readings, rtKey, rtTail, rtKeys, warn)
		if s.ReadingType == nil && opt.DefaultReadingType != nil {
			rt := *opt.DefaultReadingType
			s.ReadingType = &rt
		}
		if s.ReadingType == nil {
			warn("series %q has no ReadingType: values stay raw", s.Href)
		}
		if s.Duplicates > 0 {
			warn("series %q: %d repeated readings dropped", s.Href, s.Duplicates)
		}
		if s.Conflicts > 0 {
			warn("series %q: %d readings with a repeated start replaced by the later one", s.Href, s.Conflicts)
		}
		if s.Repaired > 0 {
			warn("series %q: %d readings moved back one interval (DST fold written twice)", s.Href, s.Repaired)
		}
		ui := findUP(m.links, "MeterReading")
		f.UsagePoints[ui].Series = append(f.UsagePoints[ui].Series, s)
	}

	for _, sr := range c.sums {
		ui := findUP(sr.links, "UsageSummary", "ElectricPowerUsageSummary")
		f.UsagePoints[ui].Summaries = append(f.UsagePoints[ui].Summaries, sr.sum)
	}
	for i := range f.UsagePoints {
		sort.SliceStable(f.UsagePoints[i].Summaries, func(a, b int) bool {
			return f.UsagePoints[i].Summaries[a].BillingPeriod.Start < f.UsagePoints[i].Summaries[b].BillingPeriod.Start
		})
	}

	// Local time parameters.
	ltpKey := newKeyIndex("LocalTimeParameters")
	for i, l := range c.ltps {
		f.LocalTimeParameters = append(f.LocalTimeParameters, l.ltp)
		ltpKey.add(l.links.self, i)
	}
	for i := range f.UsagePoints {
		u := &f.UsagePoints[i]
		var rel []string
		if j, ok := upIndexByHref(c.ups, u.Href); ok && !u.Implicit {
			rel = c.ups[j].links.related
		}
		found := -1
		for _, r := range rel {
			if j, ok := ltpKey.find(r); ok && r != "" {
				found = j
				break
			}
		}
		if found < 0 && u.Href != "" {
			for j, l := range c.ltps {
				if slices.Contains(l.links.related, u.Href) {
					found = j
					break
				}
			}
		}
		if found < 0 && len(ltpKey.exact) == 1 {
			found = 0
		}
		if found >= 0 {
			l := c.ltps[found].ltp
			u.LocalTime = &l
		}
	}
	// The arena now belongs to the series.
	c.arena = nil
	c.blocks = nil
	return f
}

func upIndexByHref(ups []upRec, href string) (int, bool) {
	for i, u := range ups {
		if u.Href == href {
			return i, true
		}
	}
	return 0, false
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dedup drops readings whose start repeats (rs sorted by start, stable):
// identical ones are duplicates, others conflicts where the later wins.
func dedup(rs []Reading) (out []Reading, dups, conflicts int) {
	out = rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Start == r.Start {
			if out[n-1] == r {
				dups++
			} else {
				out[n-1] = r
				conflicts++
			}
			continue
		}
		out = append(out, r)
	}
	return out, dups, conflicts
}

// readingTypeFor finds the ReadingType of a meter reading: by its related
// links; else the only ReadingType of the documents. Several ReadingTypes
// sharing one href are told apart by interval length, then title.
func (c *collector) readingTypeFor(m mrRec, rs []Reading, rtKey map[string][]int, rtTail map[string]string, rtKeys []string, warn func(string, ...any)) *ReadingType {
	var cands []int
	for _, r := range m.links.related {
		if ids, ok := rtKey[r]; ok && r != "" {
			cands = ids
			break
		}
	}
	if cands == nil {
		for _, r := range m.links.related {
			if k := rtTail[tailOf(r, "ReadingType")]; k != "" {
				cands = rtKey[k]
				break
			}
		}
	}
	if cands == nil && len(rtKeys) == 1 {
		cands = rtKey[rtKeys[0]]
	}
	if len(cands) == 0 {
		return nil
	}
	best := cands[0]
	if len(cands) > 1 {
		mode := modalDuration(rs)
		bestScore := -1
		distinct := false
		for _, i := range cands {
			rt := c.rts[i].rt
			if rt != c.rts[cands[0]].rt {
				distinct = true
			}
			score := 0
			if rt.IntervalLength == mode {
				score += 2
			}
			if m.title != "" && rt.Title == m.title {
				score++
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if distinct {
			warn("ReadingType href %q names %d different ReadingTypes; series %q takes the one with interval length %d", c.rts[best].links.self, len(cands), m.links.self, c.rts[best].rt.IntervalLength)
		}
	}
	rt := c.rts[best].rt
	return &rt
}

// modalDuration returns the most common reading duration.
func modalDuration(rs []Reading) int64 {
	counts := map[int32]int{}
	var best int32
	for _, r := range rs {
		counts[r.Duration]++
		if counts[r.Duration] > counts[best] || (counts[r.Duration] == counts[best] && r.Duration < best) {
			best = r.Duration
		}
	}
	return int64(best)
}
