package portal

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/PuerkitoBio/goquery"

	"github.com/gridlink/gridlink/internal/connector"
)

// Page is a loaded HTML page.
type Page struct {
	// URL is where the page was found, after redirects.
	URL    *url.URL
	Status int
	Header http.Header
	Body   []byte
	Doc    *goquery.Document
}

// Has reports whether selector matches anything on the page.
func (p *Page) Has(selector string) bool { return p.Doc.Find(selector).Length() > 0 }

// Text returns the text of the elements matched by selector, with runs of
// white space collapsed to one space and trimmed.
func (p *Page) Text(selector string) string { return Clean(p.Doc.Find(selector).Text()) }

// Require checks that every selector matches something; otherwise the page
// is not the one expected: KindLayoutChanged.
func (p *Page) Require(selectors ...string) error {
	for _, sel := range selectors {
		if !p.Has(sel) {
			return LayoutChanged("page %s: nothing matches %q", p.URL.Path, sel)
		}
	}
	return nil
}

// Link returns the absolute URL of the first element matched by selector
// that has an href; KindLayoutChanged when there is none.
func (p *Page) Link(selector string) (string, error) {
	href, ok := p.Doc.Find(selector).Filter("[href]").First().Attr("href")
	if !ok {
		return "", LayoutChanged("page %s: no link matches %q", p.URL.Path, selector)
	}
	return p.resolve(href)
}

func (p *Page) resolve(ref string) (string, error) {
	u, err := p.URL.Parse(strings.TrimSpace(ref))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", LayoutChanged("page %s: unusable link", p.URL.Path)
	}
	return u.String(), nil
}

// Clean collapses runs of white space (including non-breaking spaces) to
// one space and trims the ends.
func Clean(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\u00a0' || r == '\v'
	}), " ")
}

// Rule maps evidence on a page to a connector error: the page matches when
// Selector matches an element (or, empty, always) and Text, when set, is a
// case-insensitive substring of the matched elements' text (of the whole
// page when Selector is empty).
type Rule struct {
	Kind     connector.Kind
	Selector string
	Text     string
	// Message is the user-safe message (empty: the kind's default). Never
	// copy the site's own text here: it is not ours to show.
	Message string
}

// Check returns the error of the first rule the page matches, or nil.
func (p *Page) Check(rules ...Rule) error {
	for _, r := range rules {
		sel := p.Doc.Selection
		if r.Selector != "" {
			sel = p.Doc.Find(r.Selector)
			if sel.Length() == 0 {
				continue
			}
		}
		if r.Text != "" && !strings.Contains(strings.ToLower(Clean(sel.Text())), strings.ToLower(r.Text)) {
			continue
		}
		msg := r.Message
		if msg == "" {
			msg = Message(r.Kind)
		}
		return &connector.Error{Kind: r.Kind, Message: msg,
			Err: fmt.Errorf("page %s matched rule %q %q", p.URL.Path, r.Selector, r.Text)}
	}
	return nil
}

// Form is an HTML form as a browser would submit it: the successful
// controls with their current values. It is JSON-encodable, so a form
// awaiting an MFA code can be kept in a saved session.
type Form struct {
	ID     string  `json:"id,omitempty"`
	Method string  `json:"method"` // GET or POST
	Action string  `json:"action"` // absolute URL
	Fields []Field `json:"fields,omitempty"`
	// Choices are the options offered by radio buttons and selects.
	Choices []Choice `json:"choices,omitempty"`
}

// Field is one name/value pair of a form.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Choice is one option of a radio group or a select.
type Choice struct {
	Field string `json:"field"`
	Value string `json:"value"`
	Label string `json:"label,omitempty"`
}

// Form returns the form matched by selector (e.g. "form#login");
// KindLayoutChanged when there is none.
func (p *Page) Form(selector string) (*Form, error) {
	sel := p.Doc.Find(selector).Filter("form").First()
	if sel.Length() == 0 {
		return nil, LayoutChanged("page %s: no form matches %q", p.URL.Path, selector)
	}
	return parseForm(p.Doc, sel, p.URL)
}

// ParseForms returns every form of an HTML document, with actions resolved
// against base. It never panics, whatever the input.
func ParseForms(html []byte, base *url.URL) ([]*Form, error) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(html))
	if err != nil {
		return nil, LayoutChanged("unreadable HTML: %v", err)
	}
	var out []*Form
	var ferr error
	doc.Find("form").EachWithBreak(func(_ int, sel *goquery.Selection) bool {
		f, err := parseForm(doc, sel, base)
		if err != nil {
			ferr = err
			return false
		}
		out = append(out, f)
		return true
	})
	return out, ferr
}

func parseForm(doc *goquery.Document, sel *goquery.Selection, base *url.URL) (*Form, error) {
	f := &Form{ID: attr(sel, "id"), Method: http.MethodGet}
	if strings.EqualFold(strings.TrimSpace(attr(sel, "method")), "post") {
		f.Method = http.MethodPost
	}
	if et := strings.ToLower(strings.TrimSpace(attr(sel, "enctype"))); et != "" && et != "application/x-www-form-urlencoded" {
		return nil, LayoutChanged("form %q: unsupported encoding %q", f.ID, et)
	}
	action, err := base.Parse(strings.TrimSpace(attr(sel, "action")))
	if err != nil || (action.Scheme != "http" && action.Scheme != "https") {
		return nil, LayoutChanged("form %q: unusable action", f.ID)
	}
	action.Fragment = ""
	f.Action = action.String()

	sel.Find("input, select, textarea").Each(func(_ int, c *goquery.Selection) {
		name := attr(c, "name")
		if name == "" || hasAttr(c, "disabled") {
			return
		}
		switch goquery.NodeName(c) {
		case "textarea":
			f.Fields = append(f.Fields, Field{name, c.Text()})
		case "select":
			opts := c.Find("option")
			chosen := opts.FilterFunction(func(_ int, o *goquery.Selection) bool { return hasAttr(o, "selected") }).First()
			if chosen.Length() == 0 && !hasAttr(c, "multiple") {
				chosen = opts.First()
			}
			opts.Each(func(_ int, o *goquery.Selection) {
				f.Choices = append(f.Choices, Choice{Field: name, Value: optionValue(o), Label: Clean(o.Text())})
			})
			if chosen.Length() > 0 {
				f.Fields = append(f.Fields, Field{name, optionValue(chosen)})
			}
		default: // input
			switch typ := strings.ToLower(strings.TrimSpace(attr(c, "type"))); typ {
			case "submit", "button", "image", "reset", "file":
			case "checkbox", "radio":
				v, ok := c.Attr("value")
				if !ok {
					v = "on"
				}
				if typ == "radio" {
					f.Choices = append(f.Choices, Choice{Field: name, Value: v, Label: labelOf(doc, c)})
				}
				if hasAttr(c, "checked") {
					f.Fields = append(f.Fields, Field{name, v})
				}
			default:
				f.Fields = append(f.Fields, Field{name, attr(c, "value")})
			}
		}
	})
	return f, nil
}

func attr(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}

func hasAttr(s *goquery.Selection, name string) bool {
	_, ok := s.Attr(name)
	return ok
}

func optionValue(o *goquery.Selection) string {
	if v, ok := o.Attr("value"); ok {
		return v
	}
	return Clean(o.Text())
}

// labelOf returns the text of the label of a control: <label for=id> or
// an enclosing <label>.
func labelOf(doc *goquery.Document, c *goquery.Selection) string {
	if id := attr(c, "id"); id != "" {
		var text string
		doc.Find("label[for]").EachWithBreak(func(_ int, l *goquery.Selection) bool {
			if attr(l, "for") == id {
				text = Clean(l.Text())
				return false
			}
			return true
		})
		if text != "" {
			return text
		}
	}
	return Clean(c.Closest("label").Text())
}

// Get returns the value of the first field named name ("" if none).
func (f *Form) Get(name string) string {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl.Value
		}
	}
	return ""
}

// Has reports whether the form has a field named name.
func (f *Form) Has(name string) bool {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return true
		}
	}
	return false
}

// Set gives the field named name the one value value, adding it if the
// form has no such field (as checking a checkbox does).
func (f *Form) Set(name, value string) {
	f.Del(name)
	f.Fields = append(f.Fields, Field{name, value})
}

// Del removes every field named name (as unchecking a checkbox does).
func (f *Form) Del(name string) {
	out := f.Fields[:0]
	for _, fl := range f.Fields {
		if fl.Name != name {
			out = append(out, fl)
		}
	}
	f.Fields = out
}

// Values returns the fields as URL values.
func (f *Form) Values() url.Values {
	v := url.Values{}
	for _, fl := range f.Fields {
		v.Add(fl.Name, fl.Value)
	}
	return v
}

// Options returns the choices offered for the field name.
func (f *Form) Options(name string) []Choice {
	var out []Choice
	for _, c := range f.Choices {
		if c.Field == name {
			out = append(out, c)
		}
	}
	return out
}

// Require checks that the form has every named field; otherwise
// KindLayoutChanged.
func (f *Form) Require(names ...string) error {
	for _, n := range names {
		if !f.Has(n) && len(f.Options(n)) == 0 {
			return LayoutChanged("form %q has no field %q", f.ID, n)
		}
	}
	return nil
}

// Fill sets the given fields, each of which the form must have (as a
// field or a choice); a missing one is KindLayoutChanged and sets nothing.
func (f *Form) Fill(fields ...Field) error {
	for _, fl := range fields {
		if err := f.Require(fl.Name); err != nil {
			return err
		}
	}
	for _, fl := range fields {
		f.Set(fl.Name, fl.Value)
	}
	return nil
}

// csrfName matches the usual names of anti-forgery token fields.
var csrfName = regexp.MustCompile(`(?i)(csrf|xsrf|authenticity_token|requestverificationtoken|^_token$|^nonce$)`)

// CSRF returns the form's anti-forgery token field, if it has one: a field
// named like csrf_token, _csrf, authenticity_token, __RequestVerificationToken.
// Submitting the parsed form sends it back; this is for checks and logs.
func (f *Form) CSRF() (name, value string, ok bool) {
	for _, fl := range f.Fields {
		if csrfName.MatchString(fl.Name) {
			return fl.Name, fl.Value, true
		}
	}
	return "", "", false
}

// Clone returns a deep copy of the form.
func (f *Form) Clone() *Form {
	c := *f
	c.Fields = append([]Field(nil), f.Fields...)
	c.Choices = append([]Choice(nil), f.Choices...)
	return &c
}

// Table is an HTML table read by its header row.
type Table struct {
	Columns []string
	Rows    []Row
	index   map[string]int
	page    *Page
}

// Row is one body row of a Table.
type Row struct {
	cells []*goquery.Selection
	t     *Table
}

// Table reads the table matched by selector. Columns are matched by their
// header text, case-insensitively with white space collapsed, so that a
// reordering is harmless; a missing column, a missing table or a row whose
// cells do not line up with the header is KindLayoutChanged. A row made of
// one cell spanning the table ("No bills yet") is skipped.
func (p *Page) Table(selector string, columns ...string) (*Table, error) {
	tbl := p.Doc.Find(selector).Filter("table").First()
	if tbl.Length() == 0 {
		return nil, LayoutChanged("page %s: no table matches %q", p.URL.Path, selector)
	}
	t := &Table{index: map[string]int{}, page: p}
	var rows []*goquery.Selection
	tbl.Find("tr").Each(func(_ int, tr *goquery.Selection) {
		if tr.Closest("table").Get(0) != tbl.Get(0) {
			return // a nested table's row
		}
		if t.Columns == nil && tr.Find("th").Length() > 0 && tr.Find("td").Length() == 0 {
			tr.Find("th").Each(func(i int, th *goquery.Selection) {
				name := Clean(th.Text())
				t.Columns = append(t.Columns, name)
				if _, dup := t.index[strings.ToLower(name)]; !dup {
					t.index[strings.ToLower(name)] = i
				}
			})
			return
		}
		rows = append(rows, tr)
	})
	for _, c := range columns {
		if _, ok := t.index[strings.ToLower(Clean(c))]; !ok {
			return nil, LayoutChanged("page %s: table %q has no column %q", p.URL.Path, selector, c)
		}
	}
	for i, tr := range rows {
		cells := tr.ChildrenFiltered("td, th")
		if cells.Length() == 1 && cells.Length() < len(t.Columns) && hasAttr(cells, "colspan") {
			continue
		}
		if cells.Length() != len(t.Columns) {
			return nil, LayoutChanged("page %s: table %q row %d has %d cells for %d columns", p.URL.Path, selector, i+1, cells.Length(), len(t.Columns))
		}
		r := Row{t: t}
		cells.Each(func(_ int, c *goquery.Selection) { r.cells = append(r.cells, c) })
		t.Rows = append(t.Rows, r)
	}
	return t, nil
}

// Cell returns the cell of the named column (an empty selection if the
// table has no such column).
func (r Row) Cell(column string) *goquery.Selection {
	i, ok := r.t.index[strings.ToLower(Clean(column))]
	if !ok {
		return &goquery.Selection{}
	}
	return r.cells[i]
}

// Text returns the cleaned text of the named column's cell.
func (r Row) Text(column string) string { return Clean(r.Cell(column).Text()) }

// Link returns the absolute URL of the first link in the named column's
// cell; KindLayoutChanged when there is none.
func (r Row) Link(column string) (string, error) {
	href, ok := r.Cell(column).Find("a[href]").First().Attr("href")
	if !ok {
		return "", LayoutChanged("page %s: no link in column %q", r.t.page.URL.Path, column)
	}
	return r.t.page.resolve(href)
}
