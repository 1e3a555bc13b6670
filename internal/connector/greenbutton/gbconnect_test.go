package gbconnect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/espicustodian"
	"github.com/gridlink/gridlink/internal/greenbutton"
)

const (
	clientID     = "gridlink-dev"
	clientSecret = "dev-secret"
	callback     = "http://127.0.0.1:8080/connect/oauth/callback"
)

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
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a custodian mounted as in gridlink dev, with switches that break
// only its resource server.
type env struct {
	t     *testing.T
	cust  *espicustodian.Custodian
	srv   *httptest.Server
	clock *clock
	base  string
	conn  *Connector
	// resourceDown answers 503 on /espi/ paths; resourceHTML answers an
	// HTML page there.
	resourceDown, resourceHTML atomic.Bool
	feedRequests               atomic.Int32
	lastQuery                  atomic.Value // url.Values of the last feed request
}

// newEnv starts a custodian with the given demo customers (indexing the
// large sample files only when a test needs them).
func newEnv(t *testing.T, users ...string) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	var customers []espicustodian.Customer
	for _, c := range espicustodian.DefaultCustomers() {
		if slices.Contains(users, c.Username) {
			customers = append(customers, c)
		}
	}
	cust, err := espicustodian.New(espicustodian.Config{
		Now:       e.clock.Now,
		Customers: customers,
		Clients:   []espicustodian.Client{{ID: clientID, Secret: clientSecret, Name: "gridlink", RedirectURIs: []string{callback}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.cust = cust
	inner := http.StripPrefix("/demo-greenbutton", cust)
	mux := http.NewServeMux()
	mux.HandleFunc("/demo-greenbutton/", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/espi/") {
			e.feedRequests.Add(1)
			e.lastQuery.Store(r.URL.Query())
			switch {
			case e.resourceDown.Load():
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
				return
			case e.resourceHTML.Load():
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<html><body>We moved!</body></html>")
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL + "/demo-greenbutton"
	e.conn = e.connector(t, clientSecret)
	return e
}

func (e *env) connector(t *testing.T, secret string) *Connector {
	t.Helper()
	c, err := New(Config{
		Name:         espicustodian.Name,
		AuthorizeURL: e.base + "/oauth/authorize",
		TokenURL:     e.base + "/oauth/token",
		ClientID:     clientID,
		ClientSecret: secret,
		Scope:        espicustodian.DefaultScope,
		HTTPClient:   e.srv.Client(),
		Now:          e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var hiddenRE = regexp.MustCompile(`name="(request|csrf)" value="([^"]*)"`)

func hidden(body string) map[string]string {
	out := map[string]string{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// authorize plays the customer's browser: from AuthorizeURL through the
// utility's login and consent pages, up to the redirect to gridlink's
// callback, and returns the code.
func (e *env) authorize(t *testing.T, user string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	b := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	u, err := e.conn.AuthorizeURL("connect-session-42", callback)
	if err != nil {
		t.Fatal(err)
	}
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
		}
		return string(body)
	}
	login := hidden(page(b.Get(u)))
	consent := hidden(page(b.PostForm(e.base+"/oauth/login", url.Values{"request": {login["request"]}, "username": {user}, "password": {user + "-password"}})))
	resp, err := b.PostForm(e.base+"/oauth/consent", url.Values{"request": {consent["request"]}, "csrf": {consent["csrf"]}, "decision": {"authorize"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback || loc.Query().Get("state") != "connect-session-42" {
		t.Fatalf("redirected to %v, want the callback with the state", loc)
	}
	return loc.Query().Get("code")
}

// connect runs the authorization and returns the login.
func (e *env) connect(t *testing.T, user string) connector.Login {
	t.Helper()
	login, err := e.conn.CompleteOAuth(context.Background(), e.authorize(t, user), callback)
	if err != nil {
		t.Fatalf("complete oauth: %v", err)
	}
	return login
}

func (e *env) fetch(session []byte, since time.Time) (*connector.Data, error) {
	return e.conn.Fetch(context.Background(), connector.FetchRequest{Session: session, Since: since, Now: e.clock.Now()})
}

// fileAccounts parses the customer's sample files as the connector should.
func fileAccounts(t *testing.T, since int64, names ...string) []connector.Account {
	t.Helper()
	b := greenbutton.NewBuilder(greenbutton.Options{})
	for _, n := range names {
		data, err := fs.ReadFile(espicustodian.SampleFiles(), n)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddXML(context.Background(), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := b.Feed()
	if err != nil {
		t.Fatal(err)
	}
	accts, err := f.Accounts(greenbutton.AccountOptions{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	return accts
}

func countIntervals(accts []connector.Account) int {
	n := 0
	for _, a := range accts {
		for _, ivs := range a.Intervals {
			n += len(ivs)
		}
	}
	return n
}

func kindOf(t *testing.T, err error) connector.Kind {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connector.Error", err)
	}
	return ce.Kind
}

func TestConnectAndFetch(t *testing.T) {
	e := newEnv(t, "gbuser1")
	login := e.connect(t, "gbuser1")
	ts, ok := decodeSession(login.Session)
	if !ok || login.Username == "" || login.Username != ts.Subscription || ts.RefreshToken == "" ||
		!strings.HasPrefix(ts.ResourceURI, e.base+"/espi/1_1/resource/Batch/Subscription/") || ts.Expiry != e.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("login %q with session %+v", login.Username, ts)
	}
	data, err := e.fetch(login.Session, time.Time{})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	want := fileAccounts(t, 0, "pge-electric-hourly-1year-2011-2012-e6-tou.xml")
	if n := countIntervals(data.Accounts); n != 9502 || n != countIntervals(want) {
		t.Errorf("%d intervals fetched, want the file's %d", n, countIntervals(want))
	}
	if diff := cmp.Diff(want, data.Accounts); diff != "" {
		t.Errorf("accounts differ from the file's (-file +fetched):\n%.2000s", diff)
	}
	if !bytes.Equal(data.Session, login.Session) {
		t.Error("session changed although the access token was fresh")
	}
	if q, _ := e.lastQuery.Load().(url.Values); q.Get("published-min") != "" {
		t.Errorf("published-min %q sent without Since", q.Get("published-min"))
	}
}

func TestFetchElectricAndGas(t *testing.T) {
	e := newEnv(t, "gbuser3")
	login := e.connect(t, "gbuser3")
	data, err := e.fetch(login.Session, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := fileAccounts(t, 0, "gba-sdk-electric-monthly-only-2011-2012.xml", "gba-sdk-gas-monthly-therms-2011-2012.xml")
	if diff := cmp.Diff(want, data.Accounts); diff != "" {
		t.Errorf("accounts differ from the files' (-files +fetched):\n%.2000s", diff)
	}
	if len(data.Accounts) != 2 || len(data.Accounts[0].Bills)+len(data.Accounts[1].Bills) == 0 {
		t.Errorf("%d accounts, want an electric and a gas one with bills", len(data.Accounts))
	}
}

func TestFetchSince(t *testing.T) {
	e := newEnv(t, "gbuser2")
	login := e.connect(t, "gbuser2")
	since := time.Date(2011, 9, 15, 0, 0, 0, 0, time.UTC)
	data, err := e.fetch(login.Session, since)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := e.lastQuery.Load().(url.Values); q.Get("published-min") != "2011-09-15T00:00:00Z" {
		t.Errorf("published-min %q", q.Get("published-min"))
	}
	want := fileAccounts(t, since.Unix(), "gba-sample-coastal-multi-family-hourly-2011.xml")
	if diff := cmp.Diff(want, data.Accounts); diff != "" {
		t.Errorf("accounts since %v differ (-file +fetched):\n%.2000s", since, diff)
	}
	if n := countIntervals(data.Accounts); n == 0 || n >= 8760 {
		t.Errorf("%d intervals since %v", n, since)
	}
}

func TestRefresh(t *testing.T) {
	e := newEnv(t, "gbuser3")
	login := e.connect(t, "gbuser3")
	before, _ := decodeSession(login.Session)

	e.clock.Advance(time.Hour) // within the skew of the expiry
	data, err := e.fetch(login.Session, time.Time{})
	if err != nil {
		t.Fatalf("fetch after expiry: %v", err)
	}
	after, ok := decodeSession(data.Session)
	if !ok || after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken || after.Expiry != e.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("session not rotated: %+v", after)
	}
	if after.ResourceURI != before.ResourceURI || after.Subscription != before.Subscription {
		t.Errorf("resource changed by the refresh: %+v", after)
	}
	if len(data.Accounts) != 2 {
		t.Errorf("%d accounts after the refresh", len(data.Accounts))
	}
	// The rotated refresh token works; the spent one does not.
	e.clock.Advance(2 * time.Hour)
	if _, err := e.fetch(data.Session, time.Time{}); err != nil {
		t.Errorf("fetch with the rotated session: %v", err)
	}
	_, err = e.fetch(login.Session, time.Time{})
	if k := kindOf(t, err); k != connector.KindBadCredentials {
		t.Errorf("fetch with the spent refresh token: %v (kind %v), want bad credentials", err, k)
	}
}

// TestUnauthorizedRefreshesOnce: the utility refuses an access token that
// gridlink's clock still thinks valid (clock skew, early revocation of the
// token alone): the connector refreshes once and tries again.
func TestUnauthorizedRefreshesOnce(t *testing.T) {
	e := newEnv(t, "gbuser3")
	login := e.connect(t, "gbuser3")
	e.clock.Advance(2 * time.Hour) // the utility's clock
	before := e.feedRequests.Load()
	data, err := e.conn.Fetch(context.Background(), connector.FetchRequest{Session: login.Session, Now: e.clock.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if n := e.feedRequests.Load() - before; n != 2 {
		t.Errorf("%d feed requests, want the refused one and the retry", n)
	}
	if bytes.Equal(data.Session, login.Session) || len(data.Accounts) != 2 {
		t.Errorf("session not rotated or accounts missing: %d accounts", len(data.Accounts))
	}
}

// TestRotatedSessionKeptOnFailure: a refresh rotates the tokens, then the
// feed fails: the error comes with the new session, which still works.
func TestRotatedSessionKeptOnFailure(t *testing.T) {
	e := newEnv(t, "gbuser3")
	login := e.connect(t, "gbuser3")
	e.clock.Advance(2 * time.Hour)
	e.resourceDown.Store(true)
	data, err := e.fetch(login.Session, time.Time{})
	if k := kindOf(t, err); k != connector.KindUnavailable {
		t.Fatalf("fetch with the resource server down: %v, want unavailable", err)
	}
	if data == nil || len(data.Session) == 0 || bytes.Equal(data.Session, login.Session) || len(data.Accounts) != 0 {
		t.Fatalf("no rotated session returned with the error: %+v", data)
	}
	e.resourceDown.Store(false)
	if _, err := e.fetch(data.Session, time.Time{}); err != nil {
		t.Errorf("fetch with the session returned with the error: %v", err)
	}
}

func TestFetchFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, session []byte) []byte
		kind  connector.Kind
		retry time.Duration
		// session reports whether a session must come back with the error.
		session bool
	}{
		{name: "revoked", kind: connector.KindBadCredentials, setup: func(e *env, s []byte) []byte {
			if n := e.cust.RevokeCustomer("gbuser3"); n != 1 {
				e.t.Fatalf("%d authorizations revoked", n)
			}
			return s
		}},
		{name: "revoked, token expired", kind: connector.KindBadCredentials, setup: func(e *env, s []byte) []byte {
			e.cust.RevokeCustomer("gbuser3")
			e.clock.Advance(3 * time.Hour)
			return s
		}},
		{name: "utility down", kind: connector.KindUnavailable, setup: func(e *env, s []byte) []byte {
			e.cust.SetFault(http.StatusServiceUnavailable)
			return s
		}},
		{name: "utility down at refresh", kind: connector.KindUnavailable, setup: func(e *env, s []byte) []byte {
			e.cust.SetFault(http.StatusServiceUnavailable)
			e.clock.Advance(3 * time.Hour)
			return s
		}},
		{name: "rate limited", kind: connector.KindRateLimited, retry: time.Minute, setup: func(e *env, s []byte) []byte {
			e.cust.SetFault(http.StatusTooManyRequests)
			return s
		}},
		{name: "not green button", kind: connector.KindLayoutChanged, setup: func(e *env, s []byte) []byte {
			e.resourceHTML.Store(true)
			return s
		}},
		{name: "no session", kind: connector.KindBadCredentials, setup: func(e *env, s []byte) []byte { return nil }},
		{name: "garbage session", kind: connector.KindBadCredentials, setup: func(e *env, s []byte) []byte { return []byte("{") }},
		{name: "network down", kind: connector.KindUnavailable, setup: func(e *env, s []byte) []byte {
			e.srv.CloseClientConnections()
			e.srv.Close()
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "gbuser3")
			session := tt.setup(e, e.connect(t, "gbuser3").Session)
			data, err := e.fetch(session, time.Time{})
			if err == nil {
				t.Fatal("no error")
			}
			var ce *connector.Error
			if !errors.As(err, &ce) || ce.Kind != tt.kind {
				t.Fatalf("error %v, want kind %v", err, tt.kind)
			}
			if ce.RetryAfter != tt.retry {
				t.Errorf("retry after %v, want %v", ce.RetryAfter, tt.retry)
			}
			if data != nil && len(data.Accounts) > 0 {
				t.Error("accounts returned with an error")
			}
			if strings.Contains(ce.Message, "token") && strings.Contains(ce.Message, "Bearer") {
				t.Errorf("message %q talks protocol", ce.Message)
			}
		})
	}
}

func TestCompleteOAuthFailures(t *testing.T) {
	tests := []struct {
		name  string
		code  func(e *env) string
		setup func(e *env)
		conn  func(e *env) *Connector
		kind  connector.Kind
	}{
		{name: "unknown code", code: func(e *env) string { return "nope" }, kind: connector.KindBadCredentials},
		{name: "empty code", code: func(e *env) string { return "" }, kind: connector.KindBadCredentials},
		{name: "code used twice", code: func(e *env) string {
			code := e.authorize(e.t, "gbuser3")
			if _, err := e.conn.CompleteOAuth(context.Background(), code, callback); err != nil {
				e.t.Fatal(err)
			}
			return code
		}, kind: connector.KindBadCredentials},
		{name: "expired code", code: func(e *env) string {
			code := e.authorize(e.t, "gbuser3")
			e.clock.Advance(11 * time.Minute)
			return code
		}, kind: connector.KindBadCredentials},
		{name: "wrong client secret", code: func(e *env) string { return e.authorize(e.t, "gbuser3") },
			conn: func(e *env) *Connector { return e.connector(e.t, "wrong") }, kind: connector.KindInternal},
		{name: "utility down", code: func(e *env) string { return e.authorize(e.t, "gbuser3") },
			setup: func(e *env) { e.cust.SetFault(http.StatusServiceUnavailable) }, kind: connector.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "gbuser3")
			code := tt.code(e)
			if tt.setup != nil {
				tt.setup(e)
			}
			conn := e.conn
			if tt.conn != nil {
				conn = tt.conn(e)
			}
			login, err := conn.CompleteOAuth(context.Background(), code, callback)
			if err == nil {
				t.Fatalf("no error, login %q", login.Username)
			}
			if k := kindOf(t, err); k != tt.kind {
				t.Errorf("error %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	e := newEnv(t, "gbuser3")
	_, err := e.conn.Login(context.Background(), connector.Credentials{Username: "gbuser3", Password: "gbuser3-password"})
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.KindBadCredentials || !strings.Contains(ce.Message, "its own website") {
		t.Errorf("login: %v", err)
	}
}

func TestAuthorizeURL(t *testing.T) {
	e := newEnv(t, "gbuser3")
	u, err := e.conn.AuthorizeURL("s t&ate", callback)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {callback}, "scope": {espicustodian.DefaultScope}, "state": {"s t&ate"}}
	if diff := cmp.Diff(want, pu.Query()); diff != "" || !strings.HasPrefix(u, e.base+"/oauth/authorize?") {
		t.Errorf("authorize URL %s (-want +got query):\n%s", u, diff)
	}
	if _, err := e.conn.AuthorizeURL("", callback); err == nil {
		t.Error("no error without state")
	}
}

func TestBatchURI(t *testing.T) {
	c, err := New(Config{Name: "U", AuthorizeURL: "https://u.example/oauth/authorize", TokenURL: "https://u.example/oauth/token",
		ResourceURL: "https://api.u.example/DataCustodian/espi/1_1/resource", ClientID: "i", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want, sub string }{
		{"https://api.u.example/DataCustodian/espi/1_1/resource/Batch/Subscription/42", "https://api.u.example/DataCustodian/espi/1_1/resource/Batch/Subscription/42", "42"},
		{"https://api.u.example/DataCustodian/espi/1_1/resource/Subscription/42/UsagePoint", "https://api.u.example/DataCustodian/espi/1_1/resource/Batch/Subscription/42", "42"},
		{"https://api.u.example/espi/1_1/resource/Batch/Subscription/42/UsagePoint/7", "https://api.u.example/espi/1_1/resource/Batch/Subscription/42", "42"},
		{"Batch/Subscription/9", "https://api.u.example/DataCustodian/espi/1_1/resource/Batch/Subscription/9", "9"},
		{"https://api.u.example/espi/1_1/resource/Batch/Bulk/3", "https://api.u.example/espi/1_1/resource/Batch/Bulk/3", ""},
	}
	for _, tt := range tests {
		got, sub, err := c.batchURI(tt.in)
		if err != nil || got != tt.want || sub != tt.sub {
			t.Errorf("batchURI(%q) = %q, %q, %v; want %q, %q", tt.in, got, sub, err, tt.want, tt.sub)
		}
	}
	if _, _, err := c.batchURI("javascript:alert(1)"); err == nil {
		t.Error("a non-http resourceURI was accepted")
	}
}

func TestNewValidates(t *testing.T) {
	good := Config{Name: "U", AuthorizeURL: "https://u.example/a", TokenURL: "https://u.example/t", ClientID: "i", ClientSecret: "s"}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no name", func(c *Config) { c.Name = "" }},
		{"relative token URL", func(c *Config) { c.TokenURL = "/oauth/token" }},
		{"no secret", func(c *Config) { c.ClientSecret = "" }},
		{"bad resource URL", func(c *Config) { c.ResourceURL = "resource" }},
	}
	for _, tt := range tests {
		cfg := good
		tt.change(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := New(good); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {"-5", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
