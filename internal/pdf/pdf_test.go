package pdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// checkStructure verifies the parts of the file a reader relies on: header,
// startxref pointing at the xref table, every in-use xref entry pointing at
// "N 0 obj", and the trailer's /Size matching the table.
func checkStructure(t *testing.T, b []byte) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("%PDF-1.4\n")) {
		t.Fatalf("missing %%PDF-1.4 header: %q", b[:min(len(b), 20)])
	}
	if !bytes.HasSuffix(b, []byte("%%EOF\n")) {
		t.Fatalf("does not end with %%%%EOF: %q", b[max(0, len(b)-20):])
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no startxref before the end-of-file marker")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if xref <= 0 || xref >= len(b) || !bytes.HasPrefix(b[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	rest := string(b[xref:])
	lines := strings.Split(rest, "\n")
	var first, count int
	if _, err := fmt.Sscanf(lines[1], "%d %d", &first, &count); err != nil || first != 0 {
		t.Fatalf("bad xref subsection header %q", lines[1])
	}
	if !strings.Contains(rest, fmt.Sprintf("/Size %d ", count)) {
		t.Errorf("trailer /Size does not match xref count %d", count)
	}
	// Each entry is exactly 20 bytes.
	table := rest[len("xref\n")+len(lines[1])+1:]
	for i := range count {
		entry := table[i*20 : (i+1)*20]
		if len(entry) != 20 || !strings.HasSuffix(entry, " \n") {
			t.Fatalf("xref entry %d is not 20 bytes ending in space-newline: %q", i, entry)
		}
		if i == 0 {
			if entry != "0000000000 65535 f \n" {
				t.Errorf("xref entry 0 = %q", entry)
			}
			continue
		}
		off, err := strconv.Atoi(entry[:10])
		if err != nil || entry[17] != 'n' {
			t.Fatalf("xref entry %d malformed: %q", i, entry)
		}
		want := fmt.Sprintf("%d 0 obj\n", i)
		if off >= len(b) || !bytes.HasPrefix(b[off:], []byte(want)) {
			t.Errorf("xref entry %d points at %q, want %q", i, b[off:min(len(b), off+12)], want)
		}
	}
	// Stream lengths match their content.
	for _, sm := range regexp.MustCompile(`(?s)<< /Length (\d+) >>\nstream\n`).FindAllSubmatchIndex(b, -1) {
		n, _ := strconv.Atoi(string(b[sm[2]:sm[3]]))
		end := sm[1] + n
		if end > len(b) || !bytes.HasPrefix(b[end:], []byte("\nendstream")) {
			t.Errorf("stream at %d: /Length %d does not reach endstream", sm[0], n)
		}
	}
}

// pdftotext returns the text of b as extracted by poppler's pdftotext, or
// skips the caller when the tool is not installed.
func pdftotext(t *testing.T, b []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (apt package poppler-utils); structural checks only")
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	if bytes.Contains(out, []byte("Syntax Error")) || bytes.Contains(out, []byte("Syntax Warning")) {
		t.Errorf("pdftotext complained: %s", out)
	}
	return string(out)
}

func TestDocument(t *testing.T) {
	many := make([]Line, 130)
	for i := range many {
		many[i] = Line{Text: fmt.Sprintf("line number %03d", i)}
	}
	tests := []struct {
		name      string
		doc       Document
		wantText  []string
		wantPages int
	}{
		{
			name:      "empty",
			doc:       Document{},
			wantPages: 1,
		},
		{
			name: "statement",
			doc: Document{Title: "Energy Statement", Lines: []Line{
				{Text: "Pacific Gas and Electric", Size: 18, Bold: true},
				{Text: "Account number: 1077345636"},
				{Text: "Electric charges", Right: "$123.45", SpaceBefore: 6},
				{Text: "Total amount due", Right: "$1,234.56", Bold: true},
			}},
			wantText:  []string{"Pacific Gas and Electric", "Account number: 1077345636", "$123.45", "Total amount due", "$1,234.56"},
			wantPages: 1,
		},
		{
			name:      "escapes",
			doc:       Document{Title: `a (b) \c`, Lines: []Line{{Text: `Paren (x) and back\slash`}, {Text: "caf\u00e9 \u2013 5\u20ac \u4e16"}}},
			wantText:  []string{`Paren (x) and back\slash`, "caf\u00e9 \u2013 5\u20ac ?"},
			wantPages: 1,
		},
		{
			name:      "pagination",
			doc:       Document{Lines: many},
			wantText:  []string{"line number 000", "line number 129"},
			wantPages: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.doc.Bytes()
			checkStructure(t, b)
			if got := bytes.Count(b, []byte("/Type /Page ")); got != tt.wantPages {
				t.Errorf("pages = %d, want %d", got, tt.wantPages)
			}
			if again := tt.doc.Bytes(); !bytes.Equal(b, again) {
				t.Error("two renderings of the same document differ")
			}
			text := pdftotext(t, b)
			for _, w := range tt.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("extracted text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "(plain)"},
		{`a(b)c\d`, `(a\(b\)c\\d)`},
		{"tab\there", "(tab here)"},
		{"\u00e9", `(\351)`},
		{"\u20ac", `(\200)`},
		{"\u4e16", "(?)"},
	}
	for _, tt := range tests {
		if got := literal(tt.in); got != tt.want {
			t.Errorf("literal(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTextWidth(t *testing.T) {
	// "$1.00" in Helvetica: 556 + 556 + 278 + 556 + 556 = 2502 units.
	if got, want := TextWidth("$1.00", 10, false), 25.02; got != want {
		t.Errorf("TextWidth = %v, want %v", got, want)
	}
	if TextWidth("Mm", 10, true) <= TextWidth("Mm", 10, false) {
		t.Error("bold text is not wider than regular text")
	}
}
