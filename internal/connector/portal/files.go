package portal

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// FileKind is a kind of download a connector expects.
type FileKind int

// The file kinds.
const (
	// CSV is comma-separated values (with or without lines before the
	// header, see ParseCSV).
	CSV FileKind = iota + 1
	// GreenButtonXML is an ESPI (Green Button) Atom feed or entry.
	GreenButtonXML
	// PDF is a PDF document, e.g. a bill statement.
	PDF
)

func (k FileKind) String() string {
	switch k {
	case CSV:
		return "CSV"
	case GreenButtonXML:
		return "Green Button XML"
	case PDF:
		return "PDF"
	}
	return "file(" + strconv.Itoa(int(k)) + ")"
}

// File is a downloaded file.
type File struct {
	Kind FileKind
	// Name is the file name from Content-Disposition, or the URL's last
	// path segment.
	Name        string
	ContentType string
	Data        []byte
}

// Download fetches the file at ref (relative to the base URL) and checks
// that it is a file of the expected kind: an HTML page instead (a login
// page after the session expired, an error page) or a damaged file is
// KindLayoutChanged.
func (s *Session) Download(ctx context.Context, ref string, kind FileKind) (*File, error) {
	u, err := s.URL(ref)
	if err != nil {
		return nil, err
	}
	return s.download(ctx, http.MethodGet, u, nil, kind)
}

// DownloadForm submits a form (typically a GET form with a date range and
// a format) whose answer is a file of the expected kind.
func (s *Session) DownloadForm(ctx context.Context, f *Form, kind FileKind) (*File, error) {
	method, u, body, err := s.formRequest(f)
	if err != nil {
		return nil, err
	}
	return s.download(ctx, method, u, body, kind)
}

func (s *Session) download(ctx context.Context, method string, u *url.URL, form url.Values, kind FileKind) (*File, error) {
	r, err := s.do(ctx, method, u, form)
	if err != nil {
		return nil, err
	}
	ct := r.header.Get("Content-Type")
	if err := CheckFile(kind, ct, r.body); err != nil {
		return nil, LayoutChanged("%s %s: %v", method, r.url.Path, err)
	}
	f := &File{Kind: kind, ContentType: ct, Data: r.body, Name: path.Base(r.url.Path)}
	if _, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		f.Name = path.Base(params["filename"])
	}
	return f, nil
}

// CheckFile reports whether data (served as contentType) is a file of the
// given kind. It checks signatures and structure, not just the type.
func CheckFile(kind FileKind, contentType string, data []byte) error {
	if isHTML(contentType) {
		return errors.New("got a web page instead of a " + kind.String() + " file")
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch kind {
	case PDF:
		if !bytes.HasPrefix(data, []byte("%PDF-")) {
			return errors.New("not a PDF file")
		}
		if !bytes.Contains(data[max(0, len(data)-1024):], []byte("%%EOF")) {
			return errors.New("truncated PDF file")
		}
	case GreenButtonXML:
		d := xml.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := d.Token()
			if err != nil {
				return errors.New("not an XML document")
			}
			if se, ok := tok.(xml.StartElement); ok {
				if se.Name.Space != "http://www.w3.org/2005/Atom" || (se.Name.Local != "feed" && se.Name.Local != "entry") {
					return errors.New("XML document is not a Green Button (Atom) feed")
				}
				break
			}
		}
		for { // the whole document must be well-formed
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				return errors.New("malformed XML document")
			}
		}
	case CSV:
		if len(trimmed) == 0 {
			return errors.New("empty CSV file")
		}
		if trimmed[0] == '<' {
			return errors.New("got markup instead of a CSV file")
		}
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		if _, err := r.ReadAll(); err != nil {
			return errors.New("malformed CSV file")
		}
	default:
		return errors.New("unknown file kind")
	}
	return nil
}

// CSVTable is a parsed CSV file: the lines before the header (utilities
// like to put the account and address there), the header and the rows.
type CSVTable struct {
	Preamble [][]string
	Header   []string
	Rows     []CSVRow
	index    map[string]int
}

// CSVRow is one data line of a CSVTable.
type CSVRow struct {
	// Line is the line number in the file (1-based), for messages.
	Line   int
	fields []string
	t      *CSVTable
}

// ParseCSV parses a CSV file whose header is the first line holding every
// one of columns (case-insensitive, white space collapsed); the lines
// before it are the preamble. No such line, or a data line whose field
// count differs from the header's, is KindLayoutChanged. Blank lines are
// skipped.
func ParseCSV(data []byte, columns ...string) (*CSVTable, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	t := &CSVTable{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, LayoutChanged("CSV: malformed line")
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if t.index == nil {
			idx := map[string]int{}
			for i, h := range rec {
				k := strings.ToLower(Clean(h))
				if _, dup := idx[k]; !dup {
					idx[k] = i
				}
			}
			if hasAll(idx, columns) {
				t.Header, t.index = rec, idx
			} else {
				t.Preamble = append(t.Preamble, rec)
			}
			continue
		}
		if len(rec) != len(t.Header) {
			return nil, LayoutChanged("CSV line %d has %d fields for %d columns", line, len(rec), len(t.Header))
		}
		t.Rows = append(t.Rows, CSVRow{Line: line, fields: rec, t: t})
	}
	if t.index == nil {
		return nil, LayoutChanged("CSV: no header line with columns %q", columns)
	}
	return t, nil
}

func hasAll(idx map[string]int, columns []string) bool {
	for _, c := range columns {
		if _, ok := idx[strings.ToLower(Clean(c))]; !ok {
			return false
		}
	}
	return true
}

// Get returns the trimmed value of the named column ("" if none).
func (r CSVRow) Get(column string) string {
	i, ok := r.t.index[strings.ToLower(Clean(column))]
	if !ok {
		return ""
	}
	return strings.TrimSpace(r.fields[i])
}

// ParseNumber parses a number as web pages print it ("1,234.5", "-0.25").
// Anything else is KindLayoutChanged.
func ParseNumber(s string) (float64, error) {
	t := strings.ReplaceAll(Clean(s), ",", "")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, LayoutChanged("not a number: %q", truncate(s))
	}
	return v, nil
}

// ParseQuantity parses a number followed by its unit ("612.3 kWh"),
// checking the unit case-insensitively: a site that switched to Wh must
// not be read as kWh. Anything else is KindLayoutChanged.
func ParseQuantity(s, unit string) (float64, error) {
	t := Clean(s)
	if len(t) < len(unit) || !strings.EqualFold(t[len(t)-len(unit):], unit) {
		return 0, LayoutChanged("not a quantity in %s: %q", unit, truncate(s))
	}
	return ParseNumber(t[:len(t)-len(unit)])
}

// ParseMoney parses an amount in dollars ("$1,234.56", "-$3.00",
// "($3.00)", "$0.00 CR" is not accepted) and rounds it to the cent.
// Anything else is KindLayoutChanged.
func ParseMoney(s string) (float64, error) {
	t := Clean(s)
	neg := false
	if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
		neg, t = true, t[1:len(t)-1]
	}
	if strings.HasPrefix(t, "-") {
		neg, t = !neg, t[1:]
	}
	if !strings.HasPrefix(t, "$") {
		return 0, LayoutChanged("not an amount: %q", truncate(s))
	}
	v, err := ParseNumber(t[1:])
	if err != nil || v < 0 || strings.ContainsAny(t[1:], "+-eE") {
		return 0, LayoutChanged("not an amount: %q", truncate(s))
	}
	v = math.Round(v*100) / 100
	if neg {
		v = -v
	}
	return v, nil
}

// ParseDate parses a date or time with the first layout that fits, in loc.
// None fitting is KindLayoutChanged.
func ParseDate(s string, loc *time.Location, layouts ...string) (time.Time, error) {
	t := Clean(s)
	for _, l := range layouts {
		if v, err := time.ParseInLocation(l, t, loc); err == nil {
			return v, nil
		}
	}
	return time.Time{}, LayoutChanged("not a date: %q", truncate(s))
}

// truncate keeps scraped text short in error details.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
