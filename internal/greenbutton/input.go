package greenbutton

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Parse reads a Green Button document, XML (ESPI) or CSV, telling them
// apart by the first non-blank character ('<' is XML).
func Parse(ctx context.Context, r io.Reader, opt Options) (*Feed, error) {
	in, err := prepare(r, opt.maxBytes())
	if err != nil {
		return nil, err
	}
	b, err := in.peekNonBlank()
	if err != nil {
		return nil, err
	}
	if b == '<' {
		return parseXMLPrepared(ctx, in, opt)
	}
	return parseCSVPrepared(ctx, in, opt)
}

// input is a size-limited, BOM-stripped, UTF-8 view of a document.
type input struct {
	*bufio.Reader
	lim *limitReader
}

// limitReader fails with ErrTooLarge once more than max bytes were read.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, ErrTooLarge
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	if l.n > l.max {
		return k, ErrTooLarge
	}
	return k, err
}

// prepare wraps r with the size limit and converts UTF-16 (by its BOM) to
// UTF-8; a UTF-8 BOM is dropped.
func prepare(r io.Reader, max int64) (*input, error) {
	lim := &limitReader{r: r, max: max}
	br := bufio.NewReaderSize(lim, 64<<10)
	head, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, wrapReadErr("input", err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		bigEndian := head[0] == 0xFE
		_, _ = br.Discard(2)
		br = bufio.NewReaderSize(&utf16Reader{r: br, big: bigEndian}, 64<<10)
	}
	return &input{Reader: br, lim: lim}, nil
}

// peekNonBlank returns the first byte that is not white space, without
// consuming anything.
func (in *input) peekNonBlank() (byte, error) {
	for n := 1; ; n++ {
		b, err := in.Peek(n)
		if len(b) < n {
			if err == nil || errors.Is(err, io.EOF) {
				return 0, &Error{Format: "input", Msg: "document is empty", Err: ErrNotGreenButton}
			}
			return 0, wrapReadErr("input", err)
		}
		c := b[n-1]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
		if n >= 4096 {
			return c, nil
		}
	}
}

// wrapReadErr turns a reader failure into an *Error (size limit) or passes
// it through.
func wrapReadErr(format string, err error) error {
	if errors.Is(err, ErrTooLarge) {
		return &Error{Format: format, Msg: "document exceeds the size limit", Err: ErrTooLarge}
	}
	return err
}

// utf16Reader decodes UTF-16 into UTF-8.
type utf16Reader struct {
	r       *bufio.Reader
	big     bool
	pending []byte
	err     error
}

func (u *utf16Reader) unit() (uint16, error) {
	var b [2]byte
	if _, err := io.ReadFull(u.r, b[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, &Error{Format: "input", Msg: "UTF-16 text ends in the middle of a character"}
		}
		return 0, err
	}
	if u.big {
		return uint16(b[0])<<8 | uint16(b[1]), nil
	}
	return uint16(b[1])<<8 | uint16(b[0]), nil
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.pending) < len(p) && u.err == nil {
		c, err := u.unit()
		if err != nil {
			u.err = err
			break
		}
		rn := rune(c)
		if utf16.IsSurrogate(rn) {
			c2, err := u.unit()
			if err != nil {
				u.err = err
				break
			}
			rn = utf16.DecodeRune(rn, rune(c2))
		}
		u.pending = utf8.AppendRune(u.pending, rn)
	}
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	if n == 0 && u.err != nil {
		return 0, u.err
	}
	return n, nil
}

// cp1252 maps bytes 0x80-0x9F of Windows-1252; ISO-8859-1 maps them to
// themselves.
var cp1252 = [32]rune{
	0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
	0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
}

// singleByteReader decodes ISO-8859-1 or Windows-1252 into UTF-8.
type singleByteReader struct {
	r       io.Reader
	windows bool
	buf     []byte
	pending []byte
}

func (s *singleByteReader) Read(p []byte) (int, error) {
	if len(s.pending) == 0 {
		if cap(s.buf) == 0 {
			s.buf = make([]byte, 4096)
		}
		n, err := s.r.Read(s.buf[:cap(s.buf)])
		out := s.pending[:0]
		for _, c := range s.buf[:n] {
			r := rune(c)
			if s.windows && c >= 0x80 && c <= 0x9F {
				r = cp1252[c-0x80]
			}
			out = utf8.AppendRune(out, r)
		}
		s.pending = out
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// charsetReader is the xml.Decoder hook for declared encodings.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii", "utf-16", "utf-16le", "utf-16be", "utf16":
		// UTF-16 was converted by prepare (it needs a BOM).
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1":
		return &singleByteReader{r: in}, nil
	case "windows-1252", "cp1252", "x-cp1252":
		return &singleByteReader{r: in, windows: true}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}
