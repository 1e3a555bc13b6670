// Package pdf writes small, valid PDF 1.4 documents made of lines of text in
// the standard Helvetica fonts. It is meant for generated statements (the
// sandbox's bills) and similar plain documents: no images, no compression,
// no timestamps, so the same Document always gives the same bytes.
package pdf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Page geometry in PDF points (1/72 inch): US Letter with 0.75 inch margins.
const (
	PageWidth  = 612.0
	PageHeight = 792.0
	Margin     = 54.0
)

// DefaultSize is the font size of a Line whose Size is zero.
const DefaultSize = 11.0

// Document is a sequence of lines laid out top to bottom on US Letter pages;
// a new page starts whenever the next line would cross the bottom margin.
type Document struct {
	// Title goes into the document information dictionary (optional).
	Title string
	Lines []Line
}

// Line is one line of text. Text is printed at the left margin (plus
// Indent); Right, when non-empty, is printed on the same line right-aligned
// against the right margin (handy for amounts). Characters outside the
// Windows-1252 repertoire are printed as '?'.
type Line struct {
	Text   string
	Right  string
	Size   float64 // font size in points; 0 means DefaultSize
	Bold   bool
	Indent float64 // extra left indent in points
	// SpaceBefore is extra vertical space in points above the line.
	SpaceBefore float64
}

// Bytes renders the document as a complete PDF file ending in "%%EOF\n".
// An empty document renders as one blank page.
func (d Document) Bytes() []byte {
	pages := d.layout()

	var w writer
	w.buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

	// Object numbers: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold,
	// 5 info, then a page object and its content stream per page.
	const firstPage = 6
	n := len(pages)
	kids := make([]string, n)
	for i := range pages {
		kids[i] = strconv.Itoa(firstPage+2*i) + " 0 R"
	}

	w.object(1, "<< /Type /Catalog /Pages 2 0 R >>")
	w.object(2, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	w.object(3, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	w.object(4, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
	info := "<< /Producer (gridlink)"
	if d.Title != "" {
		info += " /Title " + literal(d.Title)
	}
	w.object(5, info+" >>")
	for i, content := range pages {
		pageNum := firstPage + 2*i
		w.object(pageNum, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>",
			num(PageWidth), num(PageHeight), pageNum+1))
		w.stream(pageNum+1, content)
	}

	xref := w.buf.Len()
	size := len(w.offsets) + 1
	fmt.Fprintf(&w.buf, "xref\n0 %d\n0000000000 65535 f \n", size)
	for _, off := range w.offsets {
		fmt.Fprintf(&w.buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&w.buf, "trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n", size, xref)
	return w.buf.Bytes()
}

// layout turns the lines into one content stream per page.
func (d Document) layout() [][]byte {
	var pages [][]byte
	var cur []byte
	y := PageHeight - Margin
	started := false
	for _, l := range d.Lines {
		size := l.Size
		if size <= 0 {
			size = DefaultSize
		}
		lead := size*1.3 + l.SpaceBefore
		if started && y-lead < Margin {
			pages = append(pages, cur)
			cur = nil
			y = PageHeight - Margin
			lead = size * 1.3
		}
		started = true
		y -= lead
		if l.Text != "" {
			cur = appendText(cur, l.Bold, size, Margin+l.Indent, y, l.Text)
		}
		if l.Right != "" {
			cur = appendText(cur, l.Bold, size, PageWidth-Margin-TextWidth(l.Right, size, l.Bold), y, l.Right)
		}
	}
	return append(pages, cur)
}

// appendText appends the operators that show s at (x, y):
// "BT /F1 11 Tf 1 0 0 1 54 700 Tm (s) Tj ET".
func appendText(b []byte, bold bool, size, x, y float64, s string) []byte {
	font := "BT /F1 "
	if bold {
		font = "BT /F2 "
	}
	b = append(b, font...)
	b = appendNum(b, size)
	b = append(b, " Tf 1 0 0 1 "...)
	b = appendNum(b, x)
	b = append(b, ' ')
	b = appendNum(b, y)
	b = append(b, " Tm "...)
	b = appendLiteral(b, s)
	return append(b, " Tj ET\n"...)
}

type writer struct {
	buf     bytes.Buffer
	offsets []int // offsets[i] is the byte offset of object i+1
}

func (w *writer) object(n int, body string) {
	w.begin(n)
	w.buf.WriteString(body)
	w.buf.WriteString("\nendobj\n")
}

func (w *writer) stream(n int, content []byte) {
	w.begin(n)
	fmt.Fprintf(&w.buf, "<< /Length %d >>\nstream\n", len(content))
	w.buf.Write(content)
	w.buf.WriteString("\nendstream\nendobj\n")
}

func (w *writer) begin(n int) {
	if n != len(w.offsets)+1 {
		panic(fmt.Sprintf("pdf: object %d written out of order", n)) // a bug in this package
	}
	w.offsets = append(w.offsets, w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n", n)
}

// num formats a coordinate with at most two decimals and no exponent.
func num(f float64) string { return string(appendNum(nil, f)) }

func appendNum(b []byte, f float64) []byte {
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', 2, 64)
	for len(b) > n && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return b
}

// literal returns s as a PDF literal string in WinAnsiEncoding: ( ) and \
// are escaped, bytes outside printable ASCII are written as octal escapes,
// and characters WinAnsi lacks become '?'.
func literal(s string) string { return string(appendLiteral(nil, s)) }

func appendLiteral(b []byte, s string) []byte {
	b = append(b, '(')
	for _, r := range s {
		c := winAnsi(r)
		switch {
		case c == '(' || c == ')' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		default:
			b = append(b, '\\', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
		}
	}
	return append(b, ')')
}

// winAnsi maps a rune to its WinAnsiEncoding byte ('?' when it has none;
// control characters become spaces).
func winAnsi(r rune) byte {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return ' '
	case r >= 0x20 && r < 0x7f:
		return byte(r)
	case r >= 0xa0 && r <= 0xff:
		return byte(r)
	}
	switch r {
	case '€':
		return 0x80
	case '‚':
		return 0x82
	case '„':
		return 0x84
	case '…':
		return 0x85
	case '‘':
		return 0x91
	case '’':
		return 0x92
	case '“':
		return 0x93
	case '”':
		return 0x94
	case '•':
		return 0x95
	case '–':
		return 0x96
	case '—':
		return 0x97
	case '™':
		return 0x99
	}
	return '?'
}

// TextWidth returns the width in points of s set in Helvetica (or
// Helvetica-Bold) at the given size, from the standard font metrics.
func TextWidth(s string, size float64, bold bool) float64 {
	units := 0
	for _, r := range s {
		units += charWidth(winAnsi(r), bold)
	}
	return float64(units) * size / 1000
}

// charWidth returns the advance width (1/1000 em) of a WinAnsi byte, from
// Adobe's Helvetica and Helvetica-Bold AFM files for printable ASCII and 556
// (the width of a digit) for anything else. The tables are function-local
// constants, not package state.
func charWidth(c byte, bold bool) int {
	if c < 0x20 || c >= 0x7f {
		return 556
	}
	i := c - 0x20
	if bold {
		return int([95]uint16{
			278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // space .. /
			556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0 .. 9
			333, 333, 584, 584, 584, 611, 975, // : ; < = > ? @
			722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, // A .. M
			722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N .. Z
			333, 278, 333, 584, 556, 333, // [ \ ] ^ _ `
			556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, // a .. m
			611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, // n .. z
			389, 280, 389, 584, // { | } ~
		}[i])
	}
	return int([95]uint16{
		278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space .. /
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0 .. 9
		278, 278, 584, 584, 584, 556, 1015, // : ; < = > ? @
		667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A .. M
		722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N .. Z
		278, 278, 278, 469, 556, 333, // [ \ ] ^ _ `
		556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a .. m
		556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n .. z
		334, 260, 334, 584, // { | } ~
	}[i])
}
