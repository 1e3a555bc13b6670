package demoutility

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// testNow is the fake clock's start: Tuesday 10 March 2026, 10:00 in
// Denver.
var testNow = time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	site  *Site
	srv   *httptest.Server
	clock *clock
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	c := &clock{t: testNow}
	cfg.Now = c.Now
	if cfg.Rand == nil {
		cfg.Rand = rand.NewChaCha8([32]byte{1, 2, 3})
	}
	if cfg.HistoryMonths == 0 {
		cfg.HistoryMonths = 3
	}
	site := New(cfg)
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	return &env{site: site, srv: srv, clock: c}
}

// browser is a cookie-keeping client that does not follow redirects by
// itself, so that tests see each 303.
type browser struct {
	t      *testing.T
	e      *env
	client *http.Client
	header http.Header // extra request headers
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type result struct {
	status int
	header http.Header
	body   []byte
	doc    *goquery.Document
}

func (r result) location() string { return r.header.Get("Location") }

func (r result) text(sel string) string {
	return strings.Join(strings.Fields(r.doc.Find(sel).Text()), " ")
}

func (b *browser) do(method, path string, form url.Values) result {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, body: data}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		r.doc, err = goquery.NewDocumentFromReader(bytes.NewReader(data))
		if err != nil {
			b.t.Fatal(err)
		}
	}
	return r
}

func (b *browser) get(path string) result { return b.do(http.MethodGet, path, nil) }

// follow GETs path and follows redirects (at most 5).
func (b *browser) follow(path string) (result, string) {
	b.t.Helper()
	for range 5 {
		r := b.get(path)
		if r.status != http.StatusSeeOther && r.status != http.StatusFound {
			return r, path
		}
		path = r.location()
	}
	b.t.Fatalf("too many redirects from %s", path)
	return result{}, ""
}

// submit fills the form matched by sel on page with its hidden fields
// plus fields, posts it, and returns the answer (not followed).
func (b *browser) submit(page result, sel string, fields url.Values) result {
	b.t.Helper()
	f := page.doc.Find(sel)
	if f.Length() == 0 {
		b.t.Fatalf("no form %q on the page:\n%s", sel, page.body)
	}
	v := url.Values{}
	f.Find("input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		val, _ := in.Attr("value")
		v.Set(name, val)
	})
	for k, vs := range fields {
		v[k] = vs
	}
	action, _ := f.Attr("action")
	return b.do(http.MethodPost, action, v)
}

// signIn signs in with a username and password and returns where the
// site sent the browser.
func (b *browser) signIn(user, password string) result {
	b.t.Helper()
	login := b.get("/login")
	if login.status != 200 {
		b.t.Fatalf("GET /login: %d", login.status)
	}
	return b.submit(login, "form#login-form", url.Values{"username": {user}, "password": {password}})
}

// enterCode submits the code on the verify page.
func (b *browser) enterCode(code string, remember bool) result {
	b.t.Helper()
	page := b.get("/mfa/verify")
	f := url.Values{"code": {code}}
	if remember {
		f.Set("remember_device", "1")
	}
	return b.submit(page, "form#mfa-verify", f)
}

// signInFully signs in, answering a code request from the outbox.
func (b *browser) signInFully(user, password string) {
	b.t.Helper()
	r := b.signIn(user, password)
	if r.location() == "/mfa/choose" {
		r = b.submit(b.get("/mfa/choose"), "form#mfa-choose", url.Values{"method": {MethodSMS}})
	}
	if r.location() == "/mfa/verify" {
		code, _ := b.e.site.LatestCode(user)
		r = b.enterCode(code, true)
	}
	if r.location() != "/accounts" {
		b.t.Fatalf("sign-in of %s ended at %q (%d)", user, r.location(), r.status)
	}
}

func cookieOf(r result, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
