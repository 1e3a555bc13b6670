package espicustodian_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/espicustodian"
	"github.com/gridlink/gridlink/internal/greenbutton"
)

const (
	clientID     = "gridlink"
	clientSecret = "s3cret/with+chars"
	redirectURI  = "https://app.example/connect/oauth/callback"
)

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
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	cust  *espicustodian.Custodian
	srv   *httptest.Server
	clock *clock
	base  string // where the custodian is mounted
}

// newEnv mounts a custodian under /demo-greenbutton/ of a test server, as
// gridlink dev does.
//
// Only the given demo customers are configured, so that the large sample
// files are indexed only by the tests that use them.
func newEnv(t *testing.T, users ...string) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var customers []espicustodian.Customer
	for _, c := range espicustodian.DefaultCustomers() {
		if slices.Contains(users, c.Username) {
			customers = append(customers, c)
		}
	}
	cust, err := espicustodian.New(espicustodian.Config{
		Now:       clk.Now,
		Customers: customers,
		Clients: []espicustodian.Client{{
			ID: clientID, Secret: clientSecret, Name: "gridlink Dev App", RedirectURIs: []string{redirectURI},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/demo-greenbutton/", http.StripPrefix("/demo-greenbutton", cust))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{cust: cust, srv: srv, clock: clk, base: srv.URL + "/demo-greenbutton"}
}

// browser is a cookie-keeping client that does not follow redirects off
// the custodian (to the client's redirect URI).
func (e *env) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != strings.TrimPrefix(e.srv.URL, "http://") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var hiddenRE = regexp.MustCompile(`name="(request|csrf)" value="([^"]*)"`)

// hidden returns the hidden form fields of a page.
func hidden(t *testing.T, body string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func authorizeURL(e *env, q url.Values) string {
	return e.base + "/oauth/authorize?" + q.Encode()
}

func authQuery() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}, "state": {"st-123"}, "scope": {"FB=1_3_4_5_13_14_39"}}
}

// authorize drives the customer's browser through login and consent and
// returns the redirect back to the client.
func (e *env) authorize(t *testing.T, b *http.Client, user, password, decision string) *url.URL {
	t.Helper()
	resp, err := b.Get(authorizeURL(e, authQuery()))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d %s", resp.StatusCode, page)
	}
	if f := hidden(t, page); f["csrf"] == "" { // not signed in yet
		resp, err = b.PostForm(e.base+"/oauth/login", url.Values{"request": {f["request"]}, "username": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		page = readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Authorize") {
			t.Fatalf("login: %d %s", resp.StatusCode, page)
		}
	}
	f := hidden(t, page)
	resp, err = b.PostForm(e.base+"/oauth/consent", url.Values{"request": {f["request"]}, "csrf": {f["csrf"]}, "decision": {decision}})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// tokenReply is a token endpoint answer, success or error.
type tokenReply struct {
	espicustodian.TokenResponse
	Error string `json:"error"`
}

func (e *env) token(t *testing.T, id, secret string, form url.Values) (int, tokenReply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr tokenReply
	body := readBody(t, resp)
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatalf("token answer %d is not JSON: %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token answer Cache-Control %q", cc)
	}
	return resp.StatusCode, tr
}

func (e *env) exchange(t *testing.T, code string) (int, tokenReply) {
	t.Helper()
	return e.token(t, clientID, clientSecret, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}})
}

// grant runs the whole flow for user and returns the tokens.
func (e *env) grant(t *testing.T, user string) espicustodian.TokenResponse {
	t.Helper()
	loc := e.authorize(t, e.browser(t), user, user+"-password", "authorize")
	status, tr := e.exchange(t, loc.Query().Get("code"))
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %+v", status, tr)
	}
	return tr.TokenResponse
}

func get(t *testing.T, uri, accessToken string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

func readings(t *testing.T, feed string) (usagePoints, n int) {
	t.Helper()
	f, err := greenbutton.ParseXML(context.Background(), strings.NewReader(feed), greenbutton.Options{})
	if err != nil {
		t.Fatalf("parse served feed: %v", err)
	}
	for _, u := range f.UsagePoints {
		for _, s := range u.Series {
			n += len(s.Readings)
		}
	}
	return len(f.UsagePoints), n
}

func TestAuthorizationCodeFlow(t *testing.T) {
	e := newEnv(t, "gbuser2")
	b := e.browser(t)
	loc := e.authorize(t, b, "gbuser2", "gbuser2-password", "authorize")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI || loc.Query().Get("state") != "st-123" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %v, want %s with code and state", loc, redirectURI)
	}
	code := loc.Query().Get("code")
	status, tr := e.exchange(t, code)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %+v", status, tr)
	}
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.AccessToken == "" || tr.RefreshToken == "" || tr.Scope != "FB=1_3_4_5_13_14_39" {
		t.Errorf("token response %+v", tr)
	}
	if !strings.HasPrefix(tr.ResourceURI, e.base+"/espi/1_1/resource/Batch/Subscription/") || !strings.HasPrefix(tr.AuthorizationURI, e.base+"/espi/1_1/resource/Authorization/") {
		t.Errorf("resourceURI %q, authorizationURI %q not under %s", tr.ResourceURI, tr.AuthorizationURI, e.base)
	}

	// The feed is the file's own bytes.
	resp, body := get(t, tr.ResourceURI, tr.AccessToken)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("batch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want, err := os.ReadFile(filepath.Join("data", "gba-sample-coastal-multi-family-hourly-2011.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if body != string(want) {
		t.Errorf("served feed (%d bytes) differs from the file (%d bytes)", len(body), len(want))
	}

	// A second session of the same browser skips the login.
	loc2 := e.authorize(t, b, "", "", "authorize")
	if loc2.Query().Get("code") == "" || loc2.Query().Get("code") == code {
		t.Errorf("second authorization redirect %v", loc2)
	}

	// Codes are single use; a replay revokes the tokens they gave.
	status, tr2 := e.exchange(t, code)
	if status != http.StatusBadRequest || tr2.Error != "invalid_grant" {
		t.Errorf("replayed code: %d %+v, want 400 invalid_grant", status, tr2)
	}
	if resp, _ := get(t, tr.ResourceURI, tr.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of a replayed code: %d, want 401", resp.StatusCode)
	}
	status, tr3 := e.token(t, clientID, clientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
	if status != http.StatusBadRequest || tr3.Error != "invalid_grant" {
		t.Errorf("refresh token of a replayed code: %d %+v", status, tr3)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t, "gbuser3")
	tests := []struct {
		name       string
		change     func(url.Values)
		status     int
		redirected string // error= parameter of the redirect, when redirected
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "evil") }, http.StatusBadRequest, ""},
		{"redirect mismatch", func(q url.Values) { q.Set("redirect_uri", redirectURI+"/x") }, http.StatusBadRequest, ""},
		{"redirect prefix", func(q url.Values) { q.Set("redirect_uri", "https://app.example/") }, http.StatusBadRequest, ""},
		{"implicit grant", func(q url.Values) { q.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := authQuery()
			tt.change(q)
			resp, err := e.browser(t).Get(authorizeURL(e, q))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			loc := resp.Header.Get("Location")
			if tt.redirected == "" && loc != "" {
				t.Errorf("redirected to %q", loc)
			}
			if tt.redirected != "" {
				u, _ := url.Parse(loc)
				if u.Query().Get("error") != tt.redirected || u.Query().Get("state") != "st-123" || !strings.HasPrefix(loc, redirectURI) {
					t.Errorf("redirect %q, want error %s", loc, tt.redirected)
				}
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		b := e.browser(t)
		resp, _ := b.Get(authorizeURL(e, authQuery()))
		f := hidden(t, readBody(t, resp))
		resp, err := b.PostForm(e.base+"/oauth/login", url.Values{"request": {f["request"]}, "username": {"gbuser3"}, "password": {"nope"}})
		if err != nil {
			t.Fatal(err)
		}
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "incorrect") || hidden(t, page)["request"] != f["request"] {
			t.Errorf("wrong password: %d, page keeps the request: %v", resp.StatusCode, hidden(t, page)["request"] == f["request"])
		}
	})
	t.Run("deny", func(t *testing.T) {
		loc := e.authorize(t, e.browser(t), "gbuser3", "gbuser3-password", "deny")
		if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" || loc.Query().Get("state") != "st-123" {
			t.Errorf("deny redirect %v", loc)
		}
	})
	t.Run("consent without csrf", func(t *testing.T) {
		b := e.browser(t)
		resp, _ := b.Get(authorizeURL(e, authQuery()))
		f := hidden(t, readBody(t, resp))
		resp, _ = b.PostForm(e.base+"/oauth/login", url.Values{"request": {f["request"]}, "username": {"gbuser3"}, "password": {"gbuser3-password"}})
		readBody(t, resp)
		resp, err := b.PostForm(e.base+"/oauth/consent", url.Values{"request": {f["request"]}, "decision": {"authorize"}})
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("consent without CSRF token: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, "gbuser3")
	code := func(t *testing.T) string {
		return e.authorize(t, e.browser(t), "gbuser3", "gbuser3-password", "authorize").Query().Get("code")
	}
	tests := []struct {
		name       string
		id, secret string
		form       func(t *testing.T) url.Values
		advance    time.Duration
		status     int
		error      string
	}{
		{name: "no client auth", form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code(t)}, "redirect_uri": {redirectURI}}
		}, status: 401, error: "invalid_client"},
		{name: "wrong secret", id: clientID, secret: "nope", form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code(t)}, "redirect_uri": {redirectURI}}
		}, status: 401, error: "invalid_client"},
		{name: "redirect mismatch", id: clientID, secret: clientSecret, form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code(t)}, "redirect_uri": {"https://evil.example/cb"}}
		}, status: 400, error: "invalid_grant"},
		{name: "expired code", id: clientID, secret: clientSecret, form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {code(t)}, "redirect_uri": {redirectURI}}
		}, advance: 11 * time.Minute, status: 400, error: "invalid_grant"},
		{name: "unknown code", id: clientID, secret: clientSecret, form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "code": {"0123"}, "redirect_uri": {redirectURI}}
		}, status: 400, error: "invalid_grant"},
		{name: "client credentials", id: clientID, secret: clientSecret, form: func(t *testing.T) url.Values {
			return url.Values{"grant_type": {"client_credentials"}}
		}, status: 400, error: "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := tt.form(t)
			e.clock.Advance(tt.advance)
			status, tr := e.token(t, tt.id, tt.secret, form)
			if status != tt.status || tr.Error != tt.error || tr.AccessToken != "" {
				t.Errorf("%d %+v, want %d %s", status, tr, tt.status, tt.error)
			}
		})
	}
}

func TestRefreshRotationAndExpiry(t *testing.T) {
	e := newEnv(t, "gbuser3")
	tr := e.grant(t, "gbuser3")
	refresh := func(rt string) (int, tokenReply) {
		return e.token(t, clientID, clientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}

	// An hour later the access token has expired.
	e.clock.Advance(time.Hour + time.Second)
	resp, _ := get(t, tr.ResourceURI, tr.AccessToken)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired access token: %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	status, next := refresh(tr.RefreshToken)
	if status != http.StatusOK || next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == tr.RefreshToken || next.ResourceURI != tr.ResourceURI {
		t.Fatalf("refresh: %d %+v", status, next)
	}
	if resp, _ := get(t, next.ResourceURI, next.AccessToken); resp.StatusCode != http.StatusOK {
		t.Errorf("refreshed access token: %d", resp.StatusCode)
	}
	// Rotation: the old refresh token is spent, the new one works.
	if status, r := refresh(tr.RefreshToken); status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Errorf("old refresh token: %d %+v, want 400 invalid_grant", status, r)
	}
	if status, r := refresh(next.RefreshToken); status != http.StatusOK {
		t.Errorf("new refresh token: %d %+v", status, r)
	}
}

func TestResourceAuth(t *testing.T) {
	e := newEnv(t, "gbuser1", "gbuser3")
	a := e.grant(t, "gbuser3")
	b := e.grant(t, "gbuser1")
	subA := a.ResourceURI[strings.LastIndex(a.ResourceURI, "/")+1:]
	tests := []struct {
		name   string
		uri    string
		token  string
		status int
	}{
		{"no token", a.ResourceURI, "", 401},
		{"unknown token", a.ResourceURI, "abc", 401},
		{"other subscription", a.ResourceURI, b.AccessToken, 403},
		{"own subscription", a.ResourceURI, a.AccessToken, 200},
		{"usage points", e.base + "/espi/1_1/resource/Subscription/" + subA + "/UsagePoint", a.AccessToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := get(t, tt.uri, tt.token)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("revoked", func(t *testing.T) {
		if !e.cust.Revoke(subA) {
			t.Fatal("subscription not found")
		}
		if resp, _ := get(t, a.ResourceURI, a.AccessToken); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked access token: %d", resp.StatusCode)
		}
		status, r := e.token(t, clientID, clientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}})
		if status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("revoked refresh token: %d %+v", status, r)
		}
		if resp, _ := get(t, b.ResourceURI, b.AccessToken); resp.StatusCode != http.StatusOK {
			t.Errorf("another customer's token after the revocation: %d", resp.StatusCode)
		}
	})
}

func TestFeeds(t *testing.T) {
	e := newEnv(t, "gbuser2", "gbuser3")
	parseFile := func(name string) (int, int) {
		b, err := os.ReadFile(filepath.Join("data", name))
		if err != nil {
			t.Fatal(err)
		}
		return readings(t, string(b))
	}
	// gbuser3: two files, one feed.
	tr := e.grant(t, "gbuser3")
	_, body := get(t, tr.ResourceURI, tr.AccessToken)
	_, elec := parseFile("gba-sdk-electric-monthly-only-2011-2012.xml")
	_, gas := parseFile("gba-sdk-gas-monthly-therms-2011-2012.xml")
	ups, n := readings(t, body)
	if ups != 2 || n != elec+gas {
		t.Errorf("combined feed: %d usage points, %d readings; want 2 and %d", ups, n, elec+gas)
	}
	f, err := greenbutton.ParseXML(context.Background(), strings.NewReader(body), greenbutton.Options{})
	if err != nil {
		t.Fatal(err)
	}
	accts, err := f.Accounts(greenbutton.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range accts {
		for _, m := range a.Meters {
			kinds = append(kinds, string(m.Type))
		}
	}
	if diff := cmp.Diff([]string{"ELECTRIC", "GAS"}, kinds); diff != "" {
		t.Errorf("meters of the combined feed (-want +got):\n%s", diff)
	}

	// gbuser2: published-min and published-max leave out whole monthly blocks.
	tr = e.grant(t, "gbuser2")
	_, all := parseFile("gba-sample-coastal-multi-family-hourly-2011.xml")
	tests := []struct {
		query string
		want  int
	}{
		{"", all},
		// 2011-07-01T07:00Z is a block boundary: January-June are left out.
		{"published-min=2011-07-01T07:00:00Z", all - 4343},
		{"published-max=2011-02-01T08:00:00Z", 744},
		{"published-min=2011-03-15T00:00:00Z&published-max=2011-04-01T00:00:00Z", 743},
		{"published-min=2030-01-01T00:00:00Z", 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := get(t, tr.ResourceURI+"?"+tt.query, tr.AccessToken)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			f, err := greenbutton.ParseXML(context.Background(), strings.NewReader(body), greenbutton.Options{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, u := range f.UsagePoints {
				for _, s := range u.Series {
					n += len(s.Readings)
				}
				if len(u.Summaries) != 1 {
					t.Errorf("%d usage summaries, want the one of the file", len(u.Summaries))
				}
			}
			if n != tt.want {
				t.Errorf("%d readings, want %d", n, tt.want)
			}
		})
	}
	if resp, _ := get(t, tr.ResourceURI+"?published-min=yesterday", tr.AccessToken); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad published-min: %d", resp.StatusCode)
	}
	sub := tr.ResourceURI[strings.LastIndex(tr.ResourceURI, "/")+1:]
	_, body = get(t, e.base+"/espi/1_1/resource/Subscription/"+sub+"/UsagePoint", tr.AccessToken)
	if ups, n := readings(t, body); ups != 1 || n != 0 || strings.Count(body, "<entry>") != 1 {
		t.Errorf("UsagePoint resource: %d usage points, %d readings, %d entries", ups, n, strings.Count(body, "<entry>"))
	}
}

func TestFault(t *testing.T) {
	e := newEnv(t, "gbuser3")
	tr := e.grant(t, "gbuser3")
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		e.cust.SetFault(status)
		resp, _ := get(t, tr.ResourceURI, tr.AccessToken)
		if resp.StatusCode != status || resp.Header.Get("Retry-After") == "" {
			t.Errorf("resource with fault %d: %d, Retry-After %q", status, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", bytes.NewReader(nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != status {
			t.Errorf("token endpoint with fault %d: %d", status, resp.StatusCode)
		}
	}
	e.cust.SetFault(0)
	if resp, _ := get(t, tr.ResourceURI, tr.AccessToken); resp.StatusCode != http.StatusOK {
		t.Errorf("after the fault: %d", resp.StatusCode)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	// The defaults (what gridlink dev runs) are valid: every embedded file
	// of every demo customer indexes.
	if _, err := espicustodian.New(espicustodian.Config{}); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name string
		cfg  espicustodian.Config
	}{
		{"missing file", espicustodian.Config{Customers: []espicustodian.Customer{{Username: "u", Password: "p", Files: []string{"nope.xml"}}}}},
		{"no files", espicustodian.Config{Customers: []espicustodian.Customer{{Username: "u", Password: "p"}}}},
		{"client without secret", espicustodian.Config{Clients: []espicustodian.Client{{ID: "c", RedirectURIs: []string{redirectURI}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := espicustodian.New(tt.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}
