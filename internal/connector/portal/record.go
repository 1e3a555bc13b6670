package portal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
)

// Record and replay.
//
// A Recorder is an http.RoundTripper that keeps every exchange a connector
// has with a live site; Fixture scrubs them and Save writes a JSON file
// under testdata. A Replayer answers the same requests from that file, in
// order, so that connector tests run without the site and fail when the
// connector's requests change.
//
// Scrubbing replaces with placeholders ("scrubbed-cookie-1", ...): every
// cookie value, the values of sensitive form and query fields (passwords,
// anti-forgery tokens, one-time codes: see SensitiveField), the values of
// such hidden inputs in recorded pages, and any value given to
// Recorder.AddSecrets, wherever they appear in URLs, headers and text
// bodies. Only a few response headers are kept. Replay compares methods,
// paths, field names and non-sensitive values; sensitive values and cookie
// values match any value, since the replayed site only ever handed out
// placeholders.

// FixtureVersion is the version of the fixture format.
const FixtureVersion = 1

// sensitiveField matches the names of form and query fields whose values
// are scrubbed from fixtures and ignored when replaying. It is compiled
// once and never changed.
var sensitiveField = regexp.MustCompile(`(?i)(pass|pwd|secret|token|csrf|xsrf|nonce|code|otp|pin$|auth|session|sid$)`)

// SensitiveField reports whether values of the form or query field name
// are scrubbed from fixtures (passwords, anti-forgery tokens, one-time
// codes, session ids) and ignored when replaying.
func SensitiveField(name string) bool { return sensitiveField.MatchString(name) }

// keptHeaders are the response headers a fixture keeps.
func keptHeaders() []string {
	return []string{"Content-Type", "Content-Disposition", "Location", "Retry-After", "Set-Cookie"}
}

// Fixture is a recorded, scrubbed conversation with a site.
type Fixture struct {
	Version   int        `json:"version"`
	Exchanges []Exchange `json:"exchanges"`
}

// Exchange is one request and its response.
type Exchange struct {
	Request  RecordedRequest  `json:"request"`
	Response RecordedResponse `json:"response"`
}

// RecordedRequest is a request as kept in a fixture.
type RecordedRequest struct {
	Method string `json:"method"`
	// URL is the path and query (the host is not kept).
	URL string `json:"url"`
	// Cookies are the cookies sent, "name=value".
	Cookies []string `json:"cookies,omitempty"`
	// Form is a URL-encoded body, in order.
	Form []Field `json:"form,omitempty"`
}

// RecordedResponse is a response as kept in a fixture: text bodies as
// Body, binary ones (PDFs) as BodyBase64.
type RecordedResponse struct {
	Status     int                 `json:"status"`
	Header     map[string][]string `json:"header,omitempty"`
	Body       string              `json:"body,omitempty"`
	BodyBase64 []byte              `json:"body_base64,omitempty"`
}

// raw is an exchange as recorded, before scrubbing.
type raw struct {
	method, host, target string // target: path?query
	cookies              []*http.Cookie
	form                 []Field
	status               int
	header               http.Header
	body                 []byte
}

// Recorder records the exchanges that pass through it.
type Recorder struct {
	next http.RoundTripper

	mu      sync.Mutex
	raws    []raw
	secrets []string
}

// NewRecorder returns a Recorder over next (nil: http.DefaultTransport).
func NewRecorder(next http.RoundTripper) *Recorder {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Recorder{next: next}
}

// AddSecrets names further values to scrub wherever they appear (a
// password typed in a test, a code read from a message).
func (r *Recorder) AddSecrets(values ...string) {
	r.mu.Lock()
	r.secrets = append(r.secrets, values...)
	r.mu.Unlock()
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rw := raw{method: req.Method, host: req.URL.Host, target: req.URL.RequestURI(), cookies: req.Cookies()}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		rw.form = parseFields(string(b))
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	rw.status, rw.header, rw.body = resp.StatusCode, resp.Header.Clone(), b
	r.mu.Lock()
	r.raws = append(r.raws, rw)
	r.mu.Unlock()
	return resp, nil
}

// parseFields splits a URL-encoded body, keeping the order.
func parseFields(s string) []Field {
	var out []Field
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		out = append(out, Field{k, v})
	}
	return out
}

// scrubber maps secret values to placeholders.
type scrubber struct {
	place  map[string]string // secret value -> placeholder
	counts map[string]int
	order  []string
}

func (s *scrubber) add(value, kind string) string {
	if p, ok := s.place[value]; ok {
		return p
	}
	s.counts[kind]++
	p := "scrubbed-" + kind + "-" + strconv.Itoa(s.counts[kind])
	s.place[value] = p
	if len(value) >= 4 { // shorter ones are replaced in their own field only
		s.order = append(s.order, value)
	}
	return p
}

func fieldKind(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "pass") || strings.Contains(n, "pwd"):
		return "password"
	case strings.Contains(n, "csrf") || strings.Contains(n, "xsrf") || strings.Contains(n, "token"):
		return "token"
	case strings.Contains(n, "code") || strings.Contains(n, "otp") || strings.Contains(n, "pin"):
		return "code"
	}
	return "secret"
}

// text replaces every known secret in s (raw, URL-escaped or HTML-escaped)
// where it stands as a whole token.
func (s *scrubber) text(str string) string {
	vals := slices.Clone(s.order)
	slices.SortStableFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) }) // longest first
	for _, v := range vals {
		for _, form := range variants(v) {
			str = replaceBounded(str, form, s.place[v])
		}
	}
	return str
}

func variants(v string) []string {
	out := []string{v}
	for _, e := range []string{url.QueryEscape(v), url.PathEscape(v), html.EscapeString(v)} {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func isWordByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// indexBounded returns the index of the first occurrence of old in s not
// adjacent to a letter or digit, or -1.
func indexBounded(s, old string, from int) int {
	for i := from; ; {
		j := strings.Index(s[i:], old)
		if j < 0 {
			return -1
		}
		j += i
		end := j + len(old)
		if (j == 0 || !isWordByte(s[j-1]) || !isWordByte(old[0])) &&
			(end == len(s) || !isWordByte(s[end]) || !isWordByte(old[len(old)-1])) {
			return j
		}
		i = j + 1
	}
}

func replaceBounded(s, old, repl string) string {
	if old == "" {
		return s
	}
	var b strings.Builder
	last := 0
	for {
		j := indexBounded(s, old, last)
		if j < 0 {
			break
		}
		b.WriteString(s[last:j])
		b.WriteString(repl)
		last = j + len(old)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Fixture returns the recorded exchanges, scrubbed. It fails if a secret
// would remain in a binary body, where it cannot be replaced.
func (r *Recorder) Fixture() (*Fixture, error) {
	r.mu.Lock()
	raws := slices.Clone(r.raws)
	explicit := slices.Clone(r.secrets)
	r.mu.Unlock()

	s := &scrubber{place: map[string]string{}, counts: map[string]int{}}
	// Pass 1: learn every secret value.
	for _, v := range explicit {
		if v != "" {
			s.add(v, "secret")
		}
	}
	for _, rw := range raws {
		for _, c := range rw.cookies {
			s.add(c.Value, "cookie")
		}
		for _, f := range rw.form {
			if SensitiveField(f.Name) && f.Value != "" {
				s.add(f.Value, fieldKind(f.Name))
			}
		}
		learnQuery(s, rw.target)
		for _, line := range rw.header.Values("Set-Cookie") {
			if c, err := http.ParseSetCookie(line); err == nil && c.Value != "" {
				s.add(c.Value, "cookie")
			}
		}
		learnQuery(s, rw.header.Get("Location"))
		if isHTML(rw.header.Get("Content-Type")) {
			learnHTML(s, rw.body)
		}
	}
	// Pass 2: replace.
	fx := &Fixture{Version: FixtureVersion}
	for i, rw := range raws {
		ex := Exchange{
			Request:  RecordedRequest{Method: rw.method, URL: s.text(scrubQuery(s, rw.target))},
			Response: RecordedResponse{Status: rw.status, Header: map[string][]string{}},
		}
		for _, c := range rw.cookies {
			ex.Request.Cookies = append(ex.Request.Cookies, c.Name+"="+s.add(c.Value, "cookie"))
		}
		for _, f := range rw.form {
			v := s.text(f.Value)
			if SensitiveField(f.Name) && f.Value != "" {
				v = s.add(f.Value, fieldKind(f.Name))
			}
			ex.Request.Form = append(ex.Request.Form, Field{f.Name, v})
		}
		for _, h := range keptHeaders() {
			for _, v := range rw.header.Values(h) {
				switch h {
				case "Set-Cookie":
					c, err := http.ParseSetCookie(v)
					if err != nil {
						continue
					}
					if c.Value != "" {
						c.Value = s.add(c.Value, "cookie")
					}
					v = c.String()
				case "Location":
					v = s.text(scrubQuery(s, relativeTo(rw.host, v)))
				default:
					v = s.text(v)
				}
				ex.Response.Header[h] = append(ex.Response.Header[h], v)
			}
		}
		if isText(rw.header.Get("Content-Type"), rw.body) {
			ex.Response.Body = s.text(string(rw.body))
		} else {
			for _, v := range s.order {
				if indexBounded(string(rw.body), v, 0) >= 0 {
					return nil, fmt.Errorf("portal: exchange %d (%s %s): a secret appears in a binary body", i+1, rw.method, pathOf(rw.target))
				}
			}
			ex.Response.BodyBase64 = rw.body
		}
		fx.Exchanges = append(fx.Exchanges, ex)
	}
	return fx, nil
}

func pathOf(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

func learnQuery(s *scrubber, ref string) {
	u, err := url.Parse(ref)
	if err != nil {
		return
	}
	for k, vs := range u.Query() {
		if SensitiveField(k) {
			for _, v := range vs {
				if v != "" {
					s.add(v, fieldKind(k))
				}
			}
		}
	}
}

// scrubQuery replaces the values of sensitive query parameters.
func scrubQuery(s *scrubber, ref string) string {
	u, err := url.Parse(ref)
	if err != nil || u.RawQuery == "" {
		return ref
	}
	fields := parseFields(u.RawQuery)
	changed := false
	for i, f := range fields {
		if SensitiveField(f.Name) && f.Value != "" {
			fields[i].Value, changed = s.add(f.Value, fieldKind(f.Name)), true
		}
	}
	if !changed {
		return ref
	}
	q := make([]string, len(fields))
	for i, f := range fields {
		q[i] = url.QueryEscape(f.Name) + "=" + url.QueryEscape(f.Value)
	}
	u.RawQuery = strings.Join(q, "&")
	return u.String()
}

// learnHTML registers the values of sensitive hidden inputs and of
// anti-forgery meta tags.
func learnHTML(s *scrubber, body []byte) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return
	}
	doc.Find("input[name]").Each(func(_ int, in *goquery.Selection) {
		if name := attr(in, "name"); SensitiveField(name) && attr(in, "value") != "" {
			s.add(attr(in, "value"), fieldKind(name))
		}
	})
	doc.Find("meta[name][content]").Each(func(_ int, m *goquery.Selection) {
		if SensitiveField(attr(m, "name")) {
			s.add(attr(m, "content"), "token")
		}
	})
}

// relativeTo turns an absolute Location on host into a path, so that a
// fixture does not depend on the recording server's address.
func relativeTo(host, loc string) string {
	u, err := url.Parse(loc)
	if err != nil || !strings.EqualFold(u.Host, host) {
		return loc
	}
	return u.RequestURI()
}

func isText(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	textual := strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "xml") || strings.HasSuffix(mt, "json")
	return textual && utf8.Valid(body)
}

// Save writes the scrubbed fixture as indented JSON to path, creating
// its directory.
func (r *Recorder) Save(path string) error {
	fx, err := r.Fixture()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keeps recorded pages readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(fx); err != nil {
		return fmt.Errorf("portal: encode fixture: %w", err)
	}
	b := buf.Bytes()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("portal: save fixture: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("portal: save fixture: %w", err)
	}
	return nil
}

// LoadFixture reads a fixture written by Recorder.Save.
func LoadFixture(path string) (*Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("portal: load fixture: %w", err)
	}
	var fx Fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		return nil, fmt.Errorf("portal: load fixture %s: %w", path, err)
	}
	if fx.Version != FixtureVersion {
		return nil, fmt.Errorf("portal: load fixture %s: version %d, want %d", path, fx.Version, FixtureVersion)
	}
	return &fx, nil
}

// Replayer answers requests from a fixture, in order. A request that does
// not match the next exchange gets an error, and Err reports it.
type Replayer struct {
	mu   sync.Mutex
	fx   *Fixture
	next int
	err  error
}

// NewReplayer returns a Replayer over fx.
func NewReplayer(fx *Fixture) *Replayer { return &Replayer{fx: fx} }

// Err returns the first mismatch, or an error if exchanges remain unused.
func (p *Replayer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if n := len(p.fx.Exchanges) - p.next; n > 0 {
		ex := p.fx.Exchanges[p.next]
		return fmt.Errorf("replay: %d recorded exchanges unused, next: %s %s", n, ex.Request.Method, ex.Request.URL)
	}
	return nil
}

// RoundTrip implements http.RoundTripper.
func (p *Replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	var form []Field
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form = parseFields(string(b))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	if p.next >= len(p.fx.Exchanges) {
		p.err = fmt.Errorf("replay: unexpected request %s %s after the last recorded exchange", req.Method, req.URL.Path)
		return nil, p.err
	}
	ex := p.fx.Exchanges[p.next]
	if why := mismatch(ex.Request, req, form); why != "" {
		p.err = fmt.Errorf("replay: exchange %d: %s %s does not match the recorded %s %s: %s",
			p.next+1, req.Method, req.URL.Path, ex.Request.Method, pathOf(ex.Request.URL), why)
		return nil, p.err
	}
	p.next++
	h := http.Header{}
	for k, vs := range ex.Response.Header {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	body := []byte(ex.Response.Body)
	if ex.Response.BodyBase64 != nil {
		body = ex.Response.BodyBase64
	}
	return &http.Response{
		Status:        strconv.Itoa(ex.Response.Status) + " " + http.StatusText(ex.Response.Status),
		StatusCode:    ex.Response.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// mismatch explains how a request differs from a recorded one ("" if it
// matches).
func mismatch(rec RecordedRequest, req *http.Request, form []Field) string {
	if rec.Method != req.Method {
		return "method differs"
	}
	ru, err := url.Parse(rec.URL)
	if err != nil {
		return "recorded URL unreadable"
	}
	if ru.Path != req.URL.Path {
		return "path differs"
	}
	if why := fieldsDiffer(parseFields(ru.RawQuery), parseFields(req.URL.RawQuery)); why != "" {
		return "query: " + why
	}
	if why := fieldsDiffer(rec.Form, form); why != "" {
		return "form: " + why
	}
	var got, want []string
	for _, c := range req.Cookies() {
		got = append(got, c.Name)
	}
	for _, c := range rec.Cookies {
		name, _, _ := strings.Cut(c, "=")
		want = append(want, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("cookies %q, recorded %q", got, want)
	}
	return ""
}

// fieldsDiffer compares field lists as multisets; sensitive values match
// any value.
func fieldsDiffer(rec, got []Field) string {
	key := func(f Field) string {
		if SensitiveField(f.Name) {
			return f.Name + "=*"
		}
		return f.Name + "=" + f.Value
	}
	a := make([]string, len(rec))
	for i, f := range rec {
		a[i] = key(f)
	}
	b := make([]string, len(got))
	for i, f := range got {
		b[i] = key(f)
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		return fmt.Sprintf("fields %q, recorded %q", b, a)
	}
	return ""
}
