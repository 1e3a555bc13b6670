package greenbutton

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Namespaces.
const (
	nsESPI = "http://naesb.org/espi"
	nsAtom = "http://www.w3.org/2005/Atom"
)

// Limits of the XML walker.
const (
	maxDepth     = 256
	maxTreeNodes = 200_000
	maxLeafText  = 1 << 10
)

// ParseXML reads one ESPI document: an Atom feed, a single Atom entry, or a
// bare ESPI resource. Memory stays proportional to the readings: only the
// small resources are held as trees, readings go straight into a flat slice.
func ParseXML(ctx context.Context, r io.Reader, opt Options) (*Feed, error) {
	b := NewBuilder(opt)
	if err := b.AddXML(ctx, r); err != nil {
		return nil, err
	}
	return b.Feed()
}

func parseXMLPrepared(ctx context.Context, in *input, opt Options) (*Feed, error) {
	b := NewBuilder(opt)
	if err := b.addXML(ctx, in); err != nil {
		return nil, err
	}
	return b.Feed()
}

// Builder gathers the resources of several ESPI documents (a Green Button
// Connect client fetches UsagePoints, ReadingTypes and IntervalBlocks in
// separate responses) and resolves them together. A Builder is not safe for
// concurrent use.
type Builder struct {
	opt Options
	c   collector
	// broken is set once an AddXML failed (the gathered data is partial)
	// or Feed was called (the readings now belong to the Feed).
	broken bool
}

// NewBuilder returns an empty Builder.
func NewBuilder(opt Options) *Builder { return &Builder{opt: opt} }

// AddXML reads one more ESPI document. On error the Builder is unusable
// (Feed fails too): nothing partial is ever resolved.
func (b *Builder) AddXML(ctx context.Context, r io.Reader) error {
	in, err := prepare(r, b.opt.maxBytes())
	if err != nil {
		b.broken = true
		return err
	}
	return b.addXML(ctx, in)
}

func (b *Builder) addXML(ctx context.Context, in *input) error {
	if b.broken {
		return errors.New("greenbutton: builder unusable after an earlier error or Feed")
	}
	p := &xmlParser{ctx: ctx, c: &b.c, maxReadings: b.opt.maxReadings()}
	p.d = xml.NewDecoder(in)
	p.d.CharsetReader = charsetReader
	// Unknown entities ("AT&T" in a title) and unquoted attributes are
	// tolerated; structure is still checked by next (truncation,
	// mismatched tags).
	p.d.Strict = false
	p.d.Entity = xml.HTMLEntity
	if err := p.run(); err != nil {
		b.broken = true
		return err
	}
	b.c.docs++
	return nil
}

// Feed resolves everything added so far. It can be called once: the
// Builder is spent afterwards.
func (b *Builder) Feed() (*Feed, error) {
	if b.broken {
		return nil, errors.New("greenbutton: builder unusable after an earlier error or Feed")
	}
	b.broken = true
	if b.c.resources() == 0 {
		return nil, &Error{Format: "xml", Msg: "no Green Button (ESPI) resources in the document", Err: ErrNotGreenButton}
	}
	return b.c.resolve(b.opt), nil
}

// nsBinding is one xmlns declaration in scope.
type nsBinding struct {
	depth  int
	prefix string
	uri    string
}

type xmlParser struct {
	ctx         context.Context
	d           *xml.Decoder
	c           *collector
	maxReadings int
	ns          []nsBinding
	stack       []xml.Name
	scratch     []byte
	inFeed      bool
	// pending are the resources of the entry being read; its links are
	// known only at the entry's end (Atom allows links after content).
	pending []resRef
}

// errf returns an *Error at the decoder's position.
func (p *xmlParser) errf(format string, args ...any) error {
	line, col := p.d.InputPos()
	return &Error{Format: "xml", Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next raw token, keeping the namespace scopes and the
// open-element stack (RawToken checks neither).
func (p *xmlParser) next() (xml.Token, error) {
	tok, err := p.d.RawToken()
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(p.stack) > 0 {
				return nil, p.errf("document ends inside <%s> (truncated file?)", p.stack[len(p.stack)-1].Local)
			}
			return nil, io.EOF
		}
		if errors.Is(err, ErrTooLarge) {
			return nil, wrapReadErr("xml", err)
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			_, col := p.d.InputPos()
			msg := se.Msg
			if msg == "unexpected EOF" {
				msg = "document ends unexpectedly (truncated file?)"
			}
			return nil, &Error{Format: "xml", Line: se.Line, Column: col, Msg: msg}
		}
		return nil, p.errf("%v", err)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if len(p.stack) >= maxDepth {
			return nil, p.errf("elements nested more than %d deep", maxDepth)
		}
		p.stack = append(p.stack, t.Name)
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "xmlns":
				p.ns = append(p.ns, nsBinding{depth: len(p.stack), prefix: a.Name.Local, uri: a.Value})
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				p.ns = append(p.ns, nsBinding{depth: len(p.stack), uri: a.Value})
			}
		}
	case xml.EndElement:
		if len(p.stack) == 0 {
			return nil, p.errf("unexpected end element </%s>", t.Name.Local)
		}
		if top := p.stack[len(p.stack)-1]; top != t.Name {
			return nil, p.errf("element <%s> closed by </%s>", qname(top), qname(t.Name))
		}
		for len(p.ns) > 0 && p.ns[len(p.ns)-1].depth == len(p.stack) {
			p.ns = p.ns[:len(p.ns)-1]
		}
		p.stack = p.stack[:len(p.stack)-1]
	}
	return tok, nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// uri resolves a prefix in the current scope ("" when unbound).
func (p *xmlParser) uri(prefix string) string {
	for i := len(p.ns) - 1; i >= 0; i-- {
		if p.ns[i].prefix == prefix {
			return p.ns[i].uri
		}
	}
	return ""
}

// isESPI accepts the ESPI namespace (also with https, a trailing slash or
// another case), and no namespace (files that forget the declaration).
func isESPI(uri string) bool {
	return uri == nsESPI || uri == "" || normNS(uri) == "naesb.org/espi"
}

// isAtom is isESPI for the Atom namespace.
func isAtom(uri string) bool {
	return uri == nsAtom || uri == "" || normNS(uri) == "www.w3.org/2005/atom"
}

func normNS(uri string) string {
	uri = strings.ToLower(strings.TrimSpace(uri))
	uri = strings.TrimPrefix(strings.TrimPrefix(uri, "http://"), "https://")
	return strings.TrimSuffix(uri, "/")
}

// run walks the whole document.
func (p *xmlParser) run() error {
	sawRoot := false
	for {
		tok, err := p.next()
		if errors.Is(err, io.EOF) {
			if !sawRoot {
				return &Error{Format: "xml", Msg: "no root element", Err: ErrNotGreenButton}
			}
			return nil
		}
		if err != nil {
			return err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		depth := len(p.stack)
		ns := p.uri(t.Name.Space)
		if depth == 1 {
			if sawRoot {
				return p.errf("second root element <%s>", t.Name.Local)
			}
			sawRoot = true
			switch {
			case isAtom(ns) && t.Name.Local == "feed":
				p.inFeed = true
			case isAtom(ns) && t.Name.Local == "entry":
				if err := p.entry(); err != nil {
					return err
				}
			case isESPI(ns) && resourceOf(t.Name.Local) != resNone:
				if err := p.bare(t); err != nil {
					return err
				}
			default:
				if ns != "" {
					return &Error{Format: "xml", Line: 1, Msg: fmt.Sprintf("root element <%s> in namespace %q is not an Atom feed or an ESPI resource", t.Name.Local, ns), Err: ErrNotGreenButton}
				}
				return &Error{Format: "xml", Line: 1, Msg: fmt.Sprintf("root element <%s> is not an Atom feed or an ESPI resource", t.Name.Local), Err: ErrNotGreenButton}
			}
			continue
		}
		var err2 error
		switch {
		case depth == 2 && p.inFeed && isAtom(ns) && t.Name.Local == "entry":
			err2 = p.entry()
		case depth == 2 && p.inFeed && isESPI(ns) && resourceOf(t.Name.Local) != resNone:
			err2 = p.bare(t)
		default:
			err2 = p.skip()
		}
		if err2 != nil {
			return err2
		}
	}
}

// bare reads a resource that is not inside an entry (no links).
func (p *xmlParser) bare(t xml.StartElement) error {
	p.pending = p.pending[:0]
	if err := p.resource(t); err != nil {
		return err
	}
	p.c.attach(p.pending, rawLinks{}, "")
	return nil
}

// skip consumes the element just opened.
func (p *xmlParser) skip() error {
	target := len(p.stack)
	for len(p.stack) >= target {
		if _, err := p.next(); err != nil {
			return p.eofInside(err)
		}
	}
	return nil
}

func (p *xmlParser) eofInside(err error) error {
	if errors.Is(err, io.EOF) {
		return p.errf("document ends inside an element (truncated file?)")
	}
	return err
}

// text returns the character data of the element just opened.
func (p *xmlParser) text() (string, error) {
	target := len(p.stack)
	var b []byte
	for len(p.stack) >= target {
		tok, err := p.next()
		if err != nil {
			return "", p.eofInside(err)
		}
		if cd, ok := tok.(xml.CharData); ok && len(p.stack) == target {
			if len(b)+len(cd) > maxLeafText*64 {
				return "", p.errf("text too long")
			}
			b = append(b, cd...)
		}
	}
	return strings.TrimSpace(string(b)), nil
}

// rawLinks are an entry's Atom links, as written.
type rawLinks struct {
	self, up []string
	related  []string
}

// entry reads an Atom entry just opened.
func (p *xmlParser) entry() error {
	base := len(p.stack)
	var links rawLinks
	var title string
	p.pending = p.pending[:0]
	for {
		tok, err := p.next()
		if err != nil {
			return p.eofInside(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(p.stack) != base+1 || !isAtom(p.uri(t.Name.Space)) {
				if err := p.skip(); err != nil {
					return err
				}
				continue
			}
			switch t.Name.Local {
			case "link":
				var rel, href string
				for _, a := range t.Attr {
					if a.Name.Space != "" {
						continue
					}
					switch a.Name.Local {
					case "rel":
						rel = a.Value
					case "href":
						href = a.Value
					}
				}
				switch strings.ToLower(strings.TrimSpace(rel)) {
				case "self":
					links.self = append(links.self, href)
				case "up":
					links.up = append(links.up, href)
				case "related":
					links.related = append(links.related, href)
				}
				err = p.skip()
			case "title":
				title, err = p.text()
			case "content":
				err = p.content()
			default:
				err = p.skip()
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			if len(p.stack) < base {
				p.c.attach(p.pending, links, title)
				p.pending = p.pending[:0]
				return nil
			}
		}
	}
}

// content reads an Atom content element just opened: its ESPI resources.
func (p *xmlParser) content() error {
	base := len(p.stack)
	for {
		tok, err := p.next()
		if err != nil {
			return p.eofInside(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if isESPI(p.uri(t.Name.Space)) && resourceOf(t.Name.Local) != resNone {
				err = p.resource(t)
			} else {
				err = p.skip()
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			if len(p.stack) < base {
				return nil
			}
		}
	}
}

// resKind is an ESPI resource the parser reads.
type resKind int

const (
	resNone resKind = iota
	resUsagePoint
	resMeterReading
	resReadingType
	resIntervalBlock
	resUsageSummary
	resLocalTime
)

func resourceOf(local string) resKind {
	switch local {
	case "UsagePoint":
		return resUsagePoint
	case "MeterReading":
		return resMeterReading
	case "ReadingType":
		return resReadingType
	case "IntervalBlock":
		return resIntervalBlock
	case "UsageSummary", "ElectricPowerUsageSummary":
		return resUsageSummary
	case "LocalTimeParameters":
		return resLocalTime
	}
	return resNone
}

// resRef points at a collected resource awaiting its entry's links.
type resRef struct {
	kind resKind
	idx  int
}

// resource reads one ESPI resource just opened.
func (p *xmlParser) resource(t xml.StartElement) error {
	kind := resourceOf(t.Name.Local)
	if kind == resIntervalBlock {
		return p.intervalBlock()
	}
	n, err := p.tree(t)
	if err != nil {
		return err
	}
	var idx int
	switch kind {
	case resUsagePoint:
		up, err := decodeUsagePoint(n)
		if err != nil {
			return err
		}
		idx = len(p.c.ups)
		p.c.ups = append(p.c.ups, upRec{UsagePoint: up})
	case resMeterReading:
		idx = len(p.c.mrs)
		p.c.mrs = append(p.c.mrs, mrRec{})
	case resReadingType:
		rt, err := decodeReadingType(n)
		if err != nil {
			return err
		}
		idx = len(p.c.rts)
		p.c.rts = append(p.c.rts, rtRec{rt: rt})
	case resUsageSummary:
		s, err := decodeUsageSummary(n)
		if err != nil {
			return err
		}
		idx = len(p.c.sums)
		p.c.sums = append(p.c.sums, sumRec{sum: s})
	case resLocalTime:
		l, err := decodeLocalTime(n)
		if err != nil {
			return err
		}
		idx = len(p.c.ltps)
		p.c.ltps = append(p.c.ltps, ltpRec{ltp: l})
	}
	p.pending = append(p.pending, resRef{kind: kind, idx: idx})
	return nil
}

// Fields of an IntervalReading.
const (
	fNone = iota
	fValue
	fCost
	fStart
	fDuration
	fQuality
)

// intervalBlock reads an IntervalBlock just opened, appending its readings
// to the collector's flat slice.
func (p *xmlParser) intervalBlock() error {
	base := len(p.stack)
	blk := blockRec{first: len(p.c.arena)}
	for {
		tok, err := p.next()
		if err != nil {
			return p.eofInside(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "IntervalReading":
				err = p.intervalReading(&blk)
			case "interval":
				var n *node
				n, err = p.tree(t)
				if err == nil {
					blk.ivStart, blk.hasIv, err = n.int("start")
					if err == nil {
						blk.ivDur, _, err = n.int("duration")
					}
				}
			default:
				err = p.skip()
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			if len(p.stack) < base {
				return p.finishBlock(blk)
			}
		}
	}
}

// finishBlock settles readings written without a timePeriod: a block of
// one such reading takes the block's interval; anything else is an error.
func (p *xmlParser) finishBlock(blk blockRec) error {
	blk.end = len(p.c.arena)
	if blk.noPeriod > 0 {
		if blk.noPeriod == 1 && blk.end-blk.first == 1 && blk.hasIv && blk.ivDur > 0 && blk.ivDur <= MaxDuration {
			r := &p.c.arena[blk.first]
			r.Start, r.Duration = blk.ivStart, int32(blk.ivDur)
		} else {
			return p.errf("IntervalReading without timePeriod (start and duration)")
		}
	}
	p.c.blocks = append(p.c.blocks, blk)
	p.pending = append(p.pending, resRef{kind: resIntervalBlock, idx: len(p.c.blocks) - 1})
	return nil
}

// intervalReading reads an IntervalReading just opened, parsing its
// numbers straight from the character data.
func (p *xmlParser) intervalReading(blk *blockRec) error {
	if len(p.c.arena) >= p.maxReadings {
		return &Error{Format: "xml", Msg: fmt.Sprintf("more than %d readings", p.maxReadings), Err: ErrTooManyReadings}
	}
	if len(p.c.arena)&4095 == 0 && p.ctx != nil {
		if err := p.ctx.Err(); err != nil {
			return err
		}
	}
	base := len(p.stack)
	r := Reading{Quality: -1}
	var haveStart, haveDur, haveValue bool
	var start, dur int64
	field := fNone
	parent := ""
	buf := p.scratch[:0]
	for {
		tok, err := p.next()
		if err != nil {
			return p.eofInside(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			field = fNone
			buf = buf[:0]
			switch len(p.stack) - base {
			case 1:
				parent = t.Name.Local
				switch parent {
				case "value":
					field = fValue
				case "cost":
					field = fCost
				}
			case 2:
				switch {
				case parent == "timePeriod" && t.Name.Local == "start":
					field = fStart
				case parent == "timePeriod" && t.Name.Local == "duration":
					field = fDuration
				case parent == "ReadingQuality" && t.Name.Local == "quality":
					field = fQuality
				}
			}
		case xml.CharData:
			if field != fNone {
				if len(buf)+len(t) > maxLeafText {
					return p.errf("IntervalReading field too long")
				}
				buf = append(buf, t...)
			}
		case xml.EndElement:
			if field != fNone && field != fStart && field != fDuration && len(bytes.TrimSpace(buf)) == 0 {
				// An empty value, cost or quality is absent.
				field = fNone
			}
			if field != fNone {
				v, err := parseInt(buf)
				if err != nil {
					return p.errf("IntervalReading <%s>: %v", t.Name.Local, err)
				}
				switch field {
				case fValue:
					r.Value, haveValue = v, true
				case fCost:
					r.Cost, r.HasCost = v, true
				case fStart:
					start, haveStart = v, true
				case fDuration:
					dur, haveDur = v, true
				case fQuality:
					if v >= math.MinInt16 && v <= math.MaxInt16 {
						r.Quality = int16(v)
					}
				}
				field = fNone
			}
			if len(p.stack) < base {
				p.scratch = buf
				return p.addReading(blk, r, start, dur, haveStart, haveDur, haveValue)
			}
		}
	}
}

// addReading validates a reading and appends it, repairing a DST fold
// inside the block (see the package doc).
func (p *xmlParser) addReading(blk *blockRec, r Reading, start, dur int64, haveStart, haveDur, haveValue bool) error {
	r.Missing = !haveValue
	if !haveStart || !haveDur {
		blk.noPeriod++
		p.c.arena = append(p.c.arena, r)
		return nil
	}
	if dur <= 0 || dur > MaxDuration {
		return p.errf("IntervalReading duration %d s is not between 1 s and %d days", dur, MaxDuration/86400)
	}
	if start < 0 || start > maxTime {
		return p.errf("IntervalReading start %d is not a plausible epoch time", start)
	}
	r.Start, r.Duration = start, int32(dur)
	a := p.c.arena
	if k := len(a) - blk.first; k >= 1 {
		last := &a[len(a)-1]
		if last.Start == r.Start && last.Duration == r.Duration && last.Duration > 0 {
			prevEnd, ok := int64(0), false
			switch {
			case k >= 2 && a[len(a)-2].Duration > 0:
				prevEnd, ok = a[len(a)-2].End(), true
			case k == 1 && blk.hasIv:
				prevEnd, ok = blk.ivStart, true
			}
			if ok && prevEnd == r.Start-dur {
				last.Start -= dur
				blk.repaired++
			}
		}
	}
	p.c.arena = append(a, r)
	return nil
}

// parseInt parses an ESPI integer (optional sign, digits, surrounding
// white space; a zero fraction such as "12.0" is accepted).
func parseInt(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '.'); i >= 0 && len(bytes.TrimRight(b[i+1:], "0")) == 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		if len(b) > 19 {
			return 0, errors.New("number out of range")
		}
		return 0, errors.New("not a number")
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not an integer", truncate(string(b), 40))
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, errors.New("number out of range")
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// node is a small element held in memory (ReadingType, UsageSummary...).
type node struct {
	name string
	text []byte
	kids []*node
	line int
}

// tree reads the element just opened into a node tree.
func (p *xmlParser) tree(start xml.StartElement) (*node, error) {
	line, _ := p.d.InputPos()
	root := &node{name: start.Name.Local, line: line}
	stack := []*node{root}
	count := 0
	for {
		tok, err := p.next()
		if err != nil {
			return nil, p.eofInside(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxTreeNodes {
				return nil, p.errf("<%s> has more than %d elements", start.Name.Local, maxTreeNodes)
			}
			line, _ := p.d.InputPos()
			n := &node{name: t.Name.Local, line: line}
			top := stack[len(stack)-1]
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.CharData:
			top := stack[len(stack)-1]
			if len(top.text)+len(t) > maxLeafText*64 {
				return nil, p.errf("text of <%s> too long", top.name)
			}
			top.text = append(top.text, t...)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return root, nil
			}
		}
	}
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (n *node) str() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(string(n.text))
}

// int parses the named child's text; ok is false when the child is absent.
func (n *node) int(name string) (v int64, ok bool, err error) {
	k := n.child(name)
	if k == nil {
		return 0, false, nil
	}
	v, err = parseInt(k.text)
	if err != nil {
		return 0, false, &Error{Format: "xml", Line: k.line, Msg: fmt.Sprintf("<%s> in <%s>: %v", name, n.name, err)}
	}
	return v, true, nil
}

// ints fills the named int fields; absent children leave them unchanged.
func (n *node) ints(fields map[string]*int) error {
	for name, dst := range fields {
		v, ok, err := n.int(name)
		if err != nil {
			return err
		}
		if ok {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return &Error{Format: "xml", Line: n.child(name).line, Msg: fmt.Sprintf("<%s> in <%s>: %d out of range", name, n.name, v)}
			}
			*dst = int(v)
		}
	}
	return nil
}

func decodeUsagePoint(n *node) (UsagePoint, error) {
	up := UsagePoint{Kind: ServiceUnknown}
	if sc := n.child("ServiceCategory"); sc != nil {
		k, ok, err := sc.int("kind")
		if err != nil {
			return up, err
		}
		if ok {
			if k < 0 || k > 1000 {
				return up, &Error{Format: "xml", Line: sc.line, Msg: fmt.Sprintf("ServiceCategory kind %d out of range", k)}
			}
			up.Kind = ServiceKind(k)
		}
	}
	return up, nil
}

func decodeReadingType(n *node) (ReadingType, error) {
	var rt ReadingType
	err := n.ints(map[string]*int{
		"uom": &rt.UOM, "powerOfTenMultiplier": &rt.PowerOfTenMultiplier,
		"flowDirection": &rt.FlowDirection, "accumulationBehaviour": &rt.Accumulation,
		"commodity": &rt.Commodity, "kind": &rt.Kind, "currency": &rt.Currency,
		"dataQualifier": &rt.DataQualifier, "defaultQuality": &rt.DefaultQuality,
		"phase": &rt.Phase, "timeAttribute": &rt.TimeAttribute,
		"measuringPeriod": &rt.MeasuringPeriod, "tou": &rt.TOU, "cpp": &rt.CPP,
		"consumptionTier": &rt.ConsumptionTier,
	})
	if err != nil {
		return rt, err
	}
	if rt.PowerOfTenMultiplier < -30 || rt.PowerOfTenMultiplier > 30 {
		return rt, &Error{Format: "xml", Line: n.line, Msg: fmt.Sprintf("ReadingType powerOfTenMultiplier %d out of range", rt.PowerOfTenMultiplier)}
	}
	il, ok, err := n.int("intervalLength")
	if err != nil {
		return rt, err
	}
	if ok {
		if il < 0 || il > MaxDuration {
			return rt, &Error{Format: "xml", Line: n.child("intervalLength").line, Msg: fmt.Sprintf("ReadingType intervalLength %d out of range", il)}
		}
		rt.IntervalLength = il
	}
	return rt, nil
}

// decodeQuantity reads a SummaryMeasurement. One that cannot be used
// (non-integer or out-of-range fields, as in test files probing the
// schema's bounds) is left out rather than failing the document: summary
// measurements are optional.
func decodeQuantity(n *node) *Quantity {
	if n == nil {
		return nil
	}
	q := &Quantity{}
	var err error
	if q.Value, _, err = n.int("value"); err != nil {
		return nil
	}
	if err := n.ints(map[string]*int{"powerOfTenMultiplier": &q.PowerOfTenMultiplier, "uom": &q.UOM}); err != nil {
		return nil
	}
	if q.PowerOfTenMultiplier < -30 || q.PowerOfTenMultiplier > 30 {
		return nil
	}
	if q.TimeStamp, _, err = n.int("timeStamp"); err != nil {
		return nil
	}
	return q
}

func decodePeriod(n *node) (Period, error) {
	var per Period
	var err error
	if per.Start, _, err = n.int("start"); err != nil {
		return per, err
	}
	if per.Duration, _, err = n.int("duration"); err != nil {
		return per, err
	}
	if per.Duration < 0 || per.Duration > 10*MaxDuration || per.Start < 0 || per.Start > maxTime {
		return per, &Error{Format: "xml", Line: n.line, Msg: fmt.Sprintf("<%s> start %d duration %d out of range", n.name, per.Start, per.Duration)}
	}
	return per, nil
}

func optInt(n *node, name string) (*int64, error) {
	v, ok, err := n.int(name)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

func decodeUsageSummary(n *node) (UsageSummary, error) {
	var s UsageSummary
	var err error
	if bp := n.child("billingPeriod"); bp != nil {
		if s.BillingPeriod, err = decodePeriod(bp); err != nil {
			return s, err
		}
	}
	if s.BillLastPeriod, err = optInt(n, "billLastPeriod"); err != nil {
		return s, err
	}
	if s.BillToDate, err = optInt(n, "billToDate"); err != nil {
		return s, err
	}
	if s.CostAdditionalLastPeriod, err = optInt(n, "costAdditionalLastPeriod"); err != nil {
		return s, err
	}
	if err = n.ints(map[string]*int{"currency": &s.Currency, "qualityOfReading": &s.QualityOfReading}); err != nil {
		return s, err
	}
	if s.StatusTimeStamp, _, err = n.int("statusTimeStamp"); err != nil {
		return s, err
	}
	s.OverallConsumptionLastPeriod = decodeQuantity(n.child("overallConsumptionLastPeriod"))
	s.CurrentBillingPeriodOverAllConsumption = decodeQuantity(n.child("currentBillingPeriodOverAllConsumption"))
	s.PeakDemand = decodeQuantity(n.child("peakDemand"))
	for _, k := range n.kids {
		if k.name != "costAdditionalDetailLastPeriod" {
			continue
		}
		var li LineItem
		if li.Amount, err = optInt(k, "amount"); err != nil {
			return s, err
		}
		if li.UnitCost, err = optInt(k, "unitCost"); err != nil {
			return s, err
		}
		li.Note = k.child("note").str()
		if err = k.ints(map[string]*int{"itemKind": &li.ItemKind}); err != nil {
			return s, err
		}
		li.Measurement = decodeQuantity(k.child("measurement"))
		if ip := k.child("itemPeriod"); ip != nil {
			per, err := decodePeriod(ip)
			if err != nil {
				return s, err
			}
			li.ItemPeriod = &per
		}
		s.LineItems = append(s.LineItems, li)
	}
	return s, nil
}

func decodeLocalTime(n *node) (LocalTimeParameters, error) {
	var l LocalTimeParameters
	var err error
	if l.TZOffset, _, err = n.int("tzOffset"); err != nil {
		return l, err
	}
	if l.DSTOffset, _, err = n.int("dstOffset"); err != nil {
		return l, err
	}
	if l.TZOffset < -16*3600 || l.TZOffset > 16*3600 || l.DSTOffset < -4*3600 || l.DSTOffset > 4*3600 {
		return l, &Error{Format: "xml", Line: n.line, Msg: fmt.Sprintf("LocalTimeParameters offsets %d/%d out of range", l.TZOffset, l.DSTOffset)}
	}
	for name, dst := range map[string]*uint32{"dstStartRule": &l.DSTStartRule, "dstEndRule": &l.DSTEndRule} {
		k := n.child(name)
		if k == nil {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(k.str()), "0x"), 16, 32)
		if err != nil {
			return l, &Error{Format: "xml", Line: k.line, Msg: fmt.Sprintf("LocalTimeParameters %s %q is not a hex rule", name, truncate(k.str(), 20))}
		}
		*dst = uint32(v)
	}
	return l, nil
}
