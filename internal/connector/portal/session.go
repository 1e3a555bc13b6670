package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/gridlink/gridlink/internal/connector"
)

// Options are one connector's settings for its sessions.
type Options struct {
	// BaseURL is the site's root; relative URLs resolve against it, and
	// only its host (plus ExtraHosts) may be reached. Required.
	BaseURL string
	// ExtraHosts are further hosts (as in URL.Host) the session may reach,
	// e.g. a separate login or download host.
	ExtraHosts []string
	// UserAgent is sent with every request (empty: DefaultUserAgent).
	UserAgent string
	// Timeout bounds one request, redirects and body included
	// (0: DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times a transient failure is retried
	// (0: DefaultRetries; negative: never).
	Retries int
	// Backoff is the delay before the first retry; later ones double
	// (0: DefaultBackoff).
	Backoff time.Duration
	// MaxRetryAfter is the longest Retry-After the session waits out in
	// place; a longer one ends the call with KindRateLimited
	// (0: DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// MaxBody is the largest response body read (0: DefaultMaxBody).
	MaxBody int64
	// Rules are checked on every HTML page the session loads (site-wide
	// signals such as a maintenance banner).
	Rules []Rule
	// Login describes the site's sign-in pages, for Toolkit.Login,
	// ChooseMFAMethod, SubmitMFA and Resume.
	Login *LoginFlow
}

func (o Options) withDefaults() Options {
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return o
}

// Session is one visit to a site: a cookie jar and an HTTP client over the
// toolkit's paced transport. Save turns it into bytes for gridlink to seal;
// Restore brings it back in a later call. A Session is meant for one
// goroutine at a time.
type Session struct {
	tk     *Toolkit
	opts   Options
	base   *url.URL
	hosts  []string
	jar    *jar
	client *http.Client
}

// Validate reports options a session cannot work with: a BaseURL that is
// not an absolute http(s) URL, or a LoginFlow without its required parts.
// Connectors call it in their constructor.
func (o Options) Validate() error {
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("portal: Options.BaseURL %q is not an absolute http(s) URL", o.BaseURL)
	}
	if fl := o.Login; fl != nil {
		if fl.Path == "" || fl.Form == "" || fl.UserField == "" || fl.PasswordField == "" || fl.SignedIn == "" {
			return errors.New("portal: Options.Login needs Path, Form, UserField, PasswordField and SignedIn")
		}
		if (fl.ChooseForm != "") != (fl.MethodField != "") || (fl.CodeForm != "") != (fl.CodeField != "" && fl.Prompt != "") {
			return errors.New("portal: Options.Login: ChooseForm needs MethodField; CodeForm needs CodeField and Prompt")
		}
	}
	return nil
}

// NewSession starts a session with an empty cookie jar.
func (t *Toolkit) NewSession(o Options) (*Session, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	base, _ := url.Parse(o.BaseURL)
	s := &Session{tk: t, opts: o, base: base, jar: newJar(t.now)}
	s.hosts = append([]string{strings.ToLower(base.Host)}, o.ExtraHosts...)
	for i := range s.hosts {
		s.hosts[i] = strings.ToLower(s.hosts[i])
	}
	s.client = &http.Client{
		Transport: transport{tk: t, next: t.base},
		Jar:       s.jar,
		Timeout:   t.timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return s.allowed(req.URL)
		},
	}
	return s, nil
}

// savedSession is the serialized form of a Session.
type savedSession struct {
	V       int             `json:"v"`
	Cookies []savedCookie   `json:"cookies,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

const savedVersion = 1

// Save serializes the session's cookies and data (any JSON-encodable value
// of the connector's own, e.g. the form awaiting an MFA code; nil for
// none). The result holds secrets: gridlink seals it.
func (s *Session) Save(data any) ([]byte, error) {
	ss := savedSession{V: savedVersion, Cookies: s.jar.snapshot()}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, fmt.Errorf("portal: save session data: %w", err)
		}
		ss.Data = raw
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return nil, fmt.Errorf("portal: save session: %w", err)
	}
	return b, nil
}

// ErrBadState reports saved session bytes that cannot be restored (empty,
// malformed or of another version): start a new session instead.
var ErrBadState = errors.New("portal: saved session cannot be restored")

// Restore brings back a session saved by Session.Save, decoding its data
// into data (a pointer; nil to ignore it). Expired cookies are dropped.
// Unusable bytes give ErrBadState.
func (t *Toolkit) Restore(o Options, saved []byte, data any) (*Session, error) {
	var ss savedSession
	if len(saved) == 0 || json.Unmarshal(saved, &ss) != nil || ss.V != savedVersion {
		return nil, ErrBadState
	}
	if data != nil && len(ss.Data) > 0 {
		if json.Unmarshal(ss.Data, data) != nil {
			return nil, ErrBadState
		}
	}
	s, err := t.NewSession(o)
	if err != nil {
		return nil, err
	}
	s.jar.load(ss.Cookies)
	return s, nil
}

// Cookie returns the value of the session's cookie named name, if any.
func (s *Session) Cookie(name string) (string, bool) { return s.jar.value(name) }

// URL resolves ref against the site's base URL.
func (s *Session) URL(ref string) (*url.URL, error) {
	u, err := s.base.Parse(ref)
	if err != nil {
		return nil, LayoutChanged("bad URL reference: %v", err)
	}
	return u, s.allowed(u)
}

func (s *Session) allowed(u *url.URL) error {
	if (u.Scheme != "http" && u.Scheme != "https") || !slices.Contains(s.hosts, strings.ToLower(u.Host)) {
		return LayoutChanged("refusing to leave the site for %s://%s", u.Scheme, u.Host)
	}
	return nil
}

// Get loads the HTML page at ref (relative to the base URL).
func (s *Session) Get(ctx context.Context, ref string) (*Page, error) {
	u, err := s.URL(ref)
	if err != nil {
		return nil, err
	}
	return s.page(ctx, http.MethodGet, u, nil)
}

// Submit sends the form (GET or POST, URL-encoded) and returns the HTML
// page the site answers with, after redirects.
func (s *Session) Submit(ctx context.Context, f *Form) (*Page, error) {
	method, u, body, err := s.formRequest(f)
	if err != nil {
		return nil, err
	}
	return s.page(ctx, method, u, body)
}

// Follow loads the page linked by the first element matched by selector
// on p (KindLayoutChanged when there is none).
func (s *Session) Follow(ctx context.Context, p *Page, selector string) (*Page, error) {
	link, err := p.Link(selector)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, link)
}

// SubmitForm fills in the form matched by selector on p (see Form.Fill)
// and submits it; hidden fields such as CSRF tokens go along as found.
func (s *Session) SubmitForm(ctx context.Context, p *Page, selector string, fields ...Field) (*Page, error) {
	f, err := p.Form(selector)
	if err == nil {
		err = f.Fill(fields...)
	}
	if err != nil {
		return nil, err
	}
	return s.Submit(ctx, f)
}

func (s *Session) formRequest(f *Form) (string, *url.URL, url.Values, error) {
	u, err := s.URL(f.Action)
	if err != nil {
		return "", nil, nil, err
	}
	if f.Method == http.MethodPost {
		return http.MethodPost, u, f.Values(), nil
	}
	q := *u
	q.RawQuery = f.Values().Encode()
	return http.MethodGet, &q, nil, nil
}

func (s *Session) page(ctx context.Context, method string, u *url.URL, form url.Values) (*Page, error) {
	r, err := s.do(ctx, method, u, form)
	if err != nil {
		return nil, err
	}
	if !isHTML(r.header.Get("Content-Type")) {
		return nil, LayoutChanged("%s %s: expected a web page, got %q", method, u.Path, r.header.Get("Content-Type"))
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		return nil, LayoutChanged("%s %s: unreadable HTML: %v", method, u.Path, err)
	}
	p := &Page{URL: r.url, Status: r.status, Header: r.header, Body: r.body, Doc: doc}
	if err := p.Check(s.opts.Rules...); err != nil {
		return nil, err
	}
	return p, nil
}

func isHTML(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// response is a fully read answer.
type response struct {
	url    *url.URL // after redirects
	status int
	header http.Header
	body   []byte
}

// do sends a request with retries: transport errors and 5xx answers are
// retried with exponential backoff (a POST only when nothing can have
// been processed: a failed dial, 503 or 429), and 429 is waited out when
// its Retry-After is short. It maps what remains to connector errors.
func (s *Session) do(ctx context.Context, method string, u *url.URL, form url.Values) (*response, error) {
	g := s.tk.gate(u.Host)
	for attempt := 0; ; attempt++ {
		r, err := s.once(ctx, method, u, form)
		last := attempt >= s.opts.Retries
		if err != nil {
			if cerr := (*connector.Error)(nil); errors.As(err, &cerr) {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("portal: %s %s: %w", method, u.Path, redactURLError(err))
			}
			if last || (method != http.MethodGet && !isDialError(err)) {
				return nil, Fail(connector.KindUnavailable, "%s %s: %v", method, u.Path, redactURLError(err))
			}
			if err := s.wait(ctx, s.tk.backoff(s.opts.Backoff, attempt), method, u, "error"); err != nil {
				return nil, err
			}
			continue
		}
		ra, hasRA := retryAfter(r.header, s.tk.now())
		switch st := r.status; {
		case st >= 200 && st < 300:
			return r, nil
		case st == http.StatusTooManyRequests:
			if !hasRA {
				ra = s.tk.backoff(s.opts.Backoff, attempt)
			}
			if last || ra > s.opts.MaxRetryAfter {
				g.hold(s.tk.now().Add(ra))
				return nil, rateLimited(ra, "%s %s: 429 Too Many Requests (retry after %v)", method, u.Path, ra)
			}
			// The host's gate makes this and every other session to
			// the host wait ra before the next request.
			g.hold(s.tk.now().Add(ra))
			s.tk.log.DebugContext(ctx, "portal: rate limited, waiting", "method", method, "host", u.Host, "path", u.Path, "wait", ra)
		case st == 500 || st == 502 || st == 503 || st == 504:
			replayable := method == http.MethodGet || st == 503 || r.url.String() != u.String()
			if last || !replayable || (hasRA && ra > s.opts.MaxRetryAfter) {
				e := Fail(connector.KindUnavailable, "%s %s: status %d", method, r.url.Path, st)
				e.RetryAfter = ra
				return nil, e
			}
			d := s.tk.backoff(s.opts.Backoff, attempt)
			if hasRA {
				d = max(d, ra)
			}
			if err := s.wait(ctx, d, method, u, strconv.Itoa(st)); err != nil {
				return nil, err
			}
		default:
			return nil, LayoutChanged("%s %s: unexpected status %d", method, r.url.Path, st)
		}
		if r.url.String() != u.String() && method != http.MethodGet {
			// The POST went through and redirected; what failed is the
			// page it led to: load that page again, not the POST.
			method, u, form = http.MethodGet, r.url, nil
		}
	}
}

func (s *Session) wait(ctx context.Context, d time.Duration, method string, u *url.URL, why string) error {
	s.tk.log.DebugContext(ctx, "portal: retrying", "method", method, "host", u.Host, "path", u.Path, "after", why, "wait", d)
	if err := s.tk.sleep(ctx, d); err != nil {
		return fmt.Errorf("portal: %s %s: %w", method, u.Path, err)
	}
	return nil
}

func (s *Session) once(ctx context.Context, method string, u *url.URL, form url.Values) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, Fail(connector.KindInternal, "build request %s %s: %v", method, u.Path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", s.opts.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	resp, err := s.client.Do(req)
	if err != nil {
		var cerr *connector.Error
		if errors.As(err, &cerr) {
			return nil, cerr // a redirect off the site
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > s.opts.MaxBody {
		return nil, LayoutChanged("%s %s: response larger than %d bytes", method, u.Path, s.opts.MaxBody)
	}
	return &response{url: resp.Request.URL, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// retryAfter parses a Retry-After header (seconds or HTTP date).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// redactURLError drops the URL (whose query could hold form values) from
// a *url.Error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
