package connectui

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/vault"
)

// Utilities of the test catalogue.
var testUtilities = []gridlink.Utility{
	{ID: 1, Slug: "pge", Name: "Pacific Gas and Electric", Connector: "fake"},
	{ID: 2, Slug: "coned", Name: "Con Edison", Connector: ""},
	{ID: 3, Slug: "consumers-energy", Name: "Consumers Energy", Connector: ""},
	{ID: 4, Slug: "ghost-power", Name: "Ghost Power", Connector: "not-in-registry"},
	{ID: 5, Slug: "nomfa", Name: "No MFA Electric", Connector: "nomfa"},
}

const (
	goodUser     = "user@pelm.com"
	goodPassword = "Corr3ct-Horse-Battery"
	mfaUser      = "mfa@test"
	goodCode     = "123456"
	downUser     = "down@test"
	// customUser accepts any password of 8 or more characters.
	customUser = "custom@test"
)

// fakeUtility is a utility login checker implementing connector.Connector
// and connector.MFA; it counts the calls that reach it.
type fakeUtility struct {
	logins atomic.Int64
	codes  atomic.Int64
}

func (f *fakeUtility) Login(ctx context.Context, c connector.Credentials) (connector.Login, error) {
	f.logins.Add(1)
	switch {
	case c.Username == goodUser && c.Password == goodPassword:
		return connector.Login{Session: []byte("upstream-session-" + c.Username)}, nil
	case c.Username == customUser && len(c.Password) >= 8:
		return connector.Login{Session: []byte("custom-session")}, nil
	case c.Username == mfaUser && c.Password == goodPassword:
		return connector.Login{Challenge: &connector.Challenge{Prompt: "Enter the code we texted to ***-***-1234", State: []byte("challenge-state")}}, nil
	case c.Username == downUser:
		return connector.Login{}, connector.Errorf(connector.KindUnavailable, "the utility site is down")
	}
	return connector.Login{}, connector.Errorf(connector.KindBadCredentials, "wrong username or password")
}

func (f *fakeUtility) SubmitMFA(ctx context.Context, c connector.Credentials, state []byte, code string) (connector.Login, error) {
	f.codes.Add(1)
	if c.Username != mfaUser || c.Password != goodPassword || string(state) != "challenge-state" {
		return connector.Login{}, connector.Errorf(connector.KindInternal, "challenge state lost")
	}
	if code != goodCode {
		return connector.Login{}, connector.Errorf(connector.KindMFAFailed, "wrong code")
	}
	return connector.Login{Session: []byte("mfa-session")}, nil
}

func (f *fakeUtility) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	return nil, connector.Errorf(connector.KindInternal, "not used in these tests")
}

// noMFAUtility asks for a code but cannot take one (a broken connector).
type noMFAUtility struct{}

func (noMFAUtility) Login(ctx context.Context, c connector.Credentials) (connector.Login, error) {
	return connector.Login{Challenge: &connector.Challenge{Prompt: "code?"}}, nil
}

func (noMFAUtility) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	return nil, connector.Errorf(connector.KindInternal, "not used")
}

// queue records the users whose first sync was asked for.
type queue struct {
	mu   sync.Mutex
	rows []string
}

func (q *queue) EnqueueSync(ctx context.Context, rowID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rows = append(q.rows, rowID)
	return nil
}

func (q *queue) enqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.rows...)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one Connect server over a real SQLite store.
type env struct {
	t       testing.TB
	st      *sqlstore.Store
	auth    *auth.Service
	vault   *vault.Vault
	clock   *clock
	logs    *syncBuffer
	fake    *fakeUtility
	queue   *queue
	ui      *UI
	srv     *httptest.Server
	client  gridlink.Client
	secret  string
	app     string // the registered redirect URI used by default
	secrets []string
	// syncer is the sync engine (envOptions.ingest), nil otherwise.
	syncer *syncer.Syncer
}

type envOptions struct {
	limit  LoginLimit
	secure bool
	// catalog and connectors replace the test catalogue and the fake
	// utility when set.
	catalog    *catalog.Catalog
	connectors connector.Registry
	// ingest wires a real sync engine as the upload's Ingester (e.syncer).
	ingest bool
}

func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gridlink.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, vault.KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(rand.Reader, key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	as, err := auth.New(st, v.DeriveKey("connect-token"), clk.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(testUtilities)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, auth: as, vault: v, clock: clk, logs: &syncBuffer{}, fake: &fakeUtility{}, queue: &queue{}}
	conns := connector.Registry{"fake": e.fake, "nomfa": noMFAUtility{}}
	if o.catalog != nil {
		cat, conns = o.catalog, o.connectors
	}
	var ingest Ingester
	if o.ingest {
		if e.syncer, err = syncer.New(syncer.Config{Store: st, Vault: v, Catalog: cat, Connectors: conns, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		ingest = e.syncer
	}
	e.ui, err = New(Config{
		Store: st, Auth: as, Vault: v, Catalog: cat,
		Connectors: conns,
		Sync:       e.queue,
		Ingest:     ingest,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        clk.Now, Rand: rand.Reader, SecureCookies: o.secure, LoginLimit: o.limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.ui.Register(mux)
	if o.secure {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	e.app = "https://app.example/callback"
	e.client, e.secret, err = as.NewClient("Acme Solar", []string{
		e.app,
		"https://app.example/cb?src=gridlink",
		"javascript:alert(1)",
		"https://user:pw@app.example/cb",
		"https://app.example/cb#frag",
		"com.example.app:/oauth",
	}, []string{"https://app.example", "http://localhost:*"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, e.client); err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, e.secret)
	return e
}

// token returns a connect token for user_id (utilityID 0: none named).
func (e *env) token(userID string, utilityID int64) string {
	e.t.Helper()
	tok, err := e.auth.NewConnectToken(e.client.ID, userID, utilityID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok)
	return tok
}

// startURL is the hosted Connect URL an app sends the browser to.
func (e *env) startURL(token, redirectURI string, state *string) string {
	q := url.Values{"connect_token": {token}}
	if redirectURI != "" {
		q.Set("redirect_uri", redirectURI)
	}
	if state != nil {
		q.Set("state", *state)
	}
	return e.srv.URL + "/?" + q.Encode()
}

// checkNoSecretsLogged fails if any secret seen in the test reached the log.
func (e *env) checkNoSecretsLogged(extra ...string) {
	e.t.Helper()
	logs := e.logs.String()
	if logs == "" {
		e.t.Fatal("nothing was logged: the check below would prove nothing")
	}
	for _, s := range append(e.secrets, extra...) {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("a secret (%d bytes, starting %q) appears in the log", len(s), s[:min(4, len(s))])
		}
	}
}

// session returns the stored session with the given id.
func (e *env) session(sid string) store.ConnectSession {
	e.t.Helper()
	s, err := e.st.ConnectSession(context.Background(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// browser is a plain HTTP client walking the Connect forms without
// JavaScript. It follows redirects inside the server itself, so that every
// response is checked, and stops at a redirect that leaves it.
type browser struct {
	e       *env
	t       testing.TB
	c       *http.Client
	jar     *cookiejar.Jar
	header  http.Header // extra request headers
	page    *goquery.Document
	url     *url.URL
	last    *http.Response
	body    string
	chain   []*http.Response // the responses of the last action
	fa      string           // expected CSP frame-ancestors
	noCheck bool             // skip the per-response header checks
	// crossSite expects the embedded-over-TLS cookie (SameSite=None,
	// Partitioned) instead of SameSite=Lax.
	crossSite bool
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{
		Transport:     e.srv.Client().Transport, // trusts the TLS test server
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &browser{e: e, t: e.t, c: c, jar: jar, header: http.Header{}, fa: "'none'"}
}

func (b *browser) do(req *http.Request) {
	b.t.Helper()
	b.chain = nil
	for hops := 0; ; hops++ {
		for k, vs := range b.header {
			req.Header[k] = vs
		}
		resp, err := b.c.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.chain = append(b.chain, resp)
		b.last, b.url, b.body, b.page = resp, resp.Request.URL, string(raw), nil
		if !b.noCheck {
			b.checkResponse(resp)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			doc, err := goquery.NewDocumentFromReader(bytes.NewReader(raw))
			if err != nil {
				b.t.Fatal(err)
			}
			b.page = doc
		}
		loc, err := resp.Location()
		if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), b.e.srv.URL) {
			return
		}
		if hops > 10 {
			b.t.Fatal("redirect loop")
		}
		if req, err = http.NewRequest(http.MethodGet, loc.String(), nil); err != nil {
			b.t.Fatal(err)
		}
	}
}

// checkResponse asserts the headers every Connect response must carry.
func (b *browser) checkResponse(resp *http.Response) {
	b.t.Helper()
	where := resp.Request.Method + " " + resp.Request.URL.Path
	isHTML := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
	if isHTML || resp.StatusCode/100 == 3 {
		csp := resp.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors " + b.fa} {
			if !strings.Contains(csp, d) {
				b.t.Errorf("%s: CSP %q lacks %q", where, csp, d)
			}
		}
		if strings.Contains(csp, "form-action") {
			b.t.Errorf("%s: CSP %q has form-action (it would block the redirect to the app)", where, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
		} {
			if got := resp.Header.Get(k); got != want {
				b.t.Errorf("%s: %s = %q, want %q", where, k, got, want)
			}
		}
	}
	if isHTML {
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.body))
		if err == nil {
			if doc.Find(`html[lang=en]`).Length() != 1 || doc.Find(`meta[name=viewport]`).Length() != 1 || strings.TrimSpace(doc.Find("title").Text()) == "" {
				b.t.Errorf("%s: page lacks lang, viewport or title", where)
			}
			doc.Find("input:not([type=hidden])").Each(func(_ int, in *goquery.Selection) {
				id, _ := in.Attr("id")
				if id == "" || doc.Find(`label[for="`+id+`"]`).Length() != 1 {
					b.t.Errorf("%s: input %s has no label", where, in.AttrOr("name", "?"))
				}
			})
		}
	}
	for _, c := range resp.Cookies() {
		wantSite, wantPartitioned := http.SameSiteLaxMode, false
		if b.crossSite {
			wantSite, wantPartitioned = http.SameSiteNoneMode, true
		}
		if !c.HttpOnly || c.SameSite != wantSite || c.Partitioned != wantPartitioned || c.Path != "/" {
			b.t.Errorf("%s: cookie %s: HttpOnly=%v SameSite=%v Partitioned=%v Path=%q, want HttpOnly, SameSite %v, Partitioned %v, /",
				where, c.Name, c.HttpOnly, c.SameSite, c.Partitioned, c.Path, wantSite, wantPartitioned)
		}
		if b.e.ui.secure != c.Secure || b.e.ui.secure != strings.HasPrefix(c.Name, "__Host-") {
			b.t.Errorf("%s: cookie %s Secure=%v with SecureCookies=%v", where, c.Name, c.Secure, b.e.ui.secure)
		}
		b.e.secrets = append(b.e.secrets, c.Value)
	}
}

func (b *browser) get(u string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.do(req)
}

func (b *browser) postForm(u string, data url.Values) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(data.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.do(req)
}

// submit finds the form containing sel, fills it (inputs kept, values
// override), adds the clicked button's name=value and sends it.
func (b *browser) submit(sel string, values map[string]string) {
	b.t.Helper()
	if b.page == nil {
		b.t.Fatalf("no page to submit %q on (status %d)", sel, b.last.StatusCode)
	}
	el := b.page.Find(sel).First()
	if el.Length() == 0 {
		b.t.Fatalf("no %q on %s (status %d): %s", sel, b.url, b.last.StatusCode, b.text())
	}
	form := el.Closest("form")
	if form.Length() == 0 {
		b.t.Fatalf("%q is not in a form", sel)
	}
	data := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		if name := in.AttrOr("name", ""); name != "" && in.AttrOr("type", "text") != "submit" {
			data.Set(name, in.AttrOr("value", ""))
		}
	})
	if name, ok := el.Attr("name"); ok && el.Is("button") {
		data.Set(name, el.AttrOr("value", ""))
	}
	for k, v := range values {
		data.Set(k, v)
	}
	action, err := url.Parse(form.AttrOr("action", ""))
	if err != nil {
		b.t.Fatal(err)
	}
	target := b.url.ResolveReference(action)
	if strings.EqualFold(form.AttrOr("method", "get"), "get") {
		target.RawQuery = data.Encode()
		b.get(target.String())
		return
	}
	b.postForm(target.String(), data)
}

// text is the page's visible text, whitespace collapsed.
func (b *browser) text() string {
	if b.page == nil {
		return b.body
	}
	return strings.Join(strings.Fields(b.page.Find("body").Text()), " ")
}

// alert is the text of the page's role=alert element.
func (b *browser) alert() string {
	if b.page == nil {
		return ""
	}
	return strings.Join(strings.Fields(b.page.Find("[role=alert]").Text()), " ")
}

// left returns where the last redirect away from the server pointed.
func (b *browser) left() *url.URL {
	b.t.Helper()
	if b.last.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("status %d at %s, want 303 to the app: %s", b.last.StatusCode, b.url, b.text())
	}
	loc, err := b.last.Location()
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// sid is the session id of the current page.
func (b *browser) sid() string {
	b.t.Helper()
	parts := strings.Split(strings.TrimPrefix(b.url.Path, "/connect/"), "/")
	if !strings.HasPrefix(b.url.Path, "/connect/") || !validSID(parts[0]) {
		b.t.Fatalf("not on a session page: %s", b.url)
	}
	return parts[0]
}

// has reports whether the page has an element matching sel.
func (b *browser) has(sel string) bool { return b.page != nil && b.page.Find(sel).Length() > 0 }
