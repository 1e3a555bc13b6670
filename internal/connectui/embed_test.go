package connectui

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/store"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"http://localhost:3000", true},
		{"https://app.example", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:3000", true},
		{"https://app.example:8443", true},
		{"https://app.example:443", false}, // a browser never serializes the default port
		{"http://app.example:80", false},
		{"https://App.example", false},
		{"https://app.example/", false},
		{"https://app.example/path", false},
		{"https://user@app.example", false},
		{"https://app.example?x", false},
		{"https://app.example#x", false},
		{"https://app.example:", false},
		{"https://app.example:99999", false},
		{"https://app.example:0080", false},
		{"javascript://app.example", false},
		{"null", false},
		{"", false},
		{"https://app.example; script-src *", false},
		{"https://app.example 'unsafe-inline'", false},
		{"https://" + strings.Repeat("a", 300) + ".example", false},
	}
	for _, tc := range tests {
		got, ok := parseOrigin(tc.in)
		if ok != tc.ok || (ok && got != tc.in) {
			t.Errorf("parseOrigin(%q) = %q, %v; want ok=%v", tc.in, got, ok, tc.ok)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	registered := []string{"https://app.example", "http://localhost:*", "HTTPS://Other.Example/"}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example", true},
		{"http://localhost:3000", true},
		{"http://localhost:8080", true},
		{"http://localhost", true},
		{"https://other.example", true},
		{"https://localhost:3000", false}, // another scheme
		{"http://localhost.evil.example:3000", false},
		{"http://127.0.0.1:3000", false},
		{"https://app.example:8443", false},
		{"https://evil.example", false},
		{"http://app.example", false},
	}
	for _, tc := range tests {
		if got := originAllowed(tc.origin, registered); got != tc.want {
			t.Errorf("originAllowed(%q) = %v, want %v", tc.origin, got, tc.want)
		}
	}
}

func TestWidgetScript(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/initialize.js", "/connect/pelm-connect.js"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		got := map[string]string{}
		for _, k := range []string{"Content-Type", "X-Content-Type-Options", "Access-Control-Allow-Origin", "Cross-Origin-Resource-Policy"} {
			got[k] = resp.Header.Get(k)
		}
		want := map[string]string{
			"Content-Type":                 "text/javascript; charset=utf-8",
			"X-Content-Type-Options":       "nosniff",
			"Access-Control-Allow-Origin":  "*",
			"Cross-Origin-Resource-Policy": "cross-origin",
		}
		if resp.StatusCode != http.StatusOK || !cmp.Equal(got, want) {
			t.Errorf("%s: %d %v", path, resp.StatusCode, cmp.Diff(want, got))
		}
		for _, s := range []string{"window.PelmConnect", "initialize:", "open:", "exit:", "create:", "document.currentScript", "parent_origin"} {
			if !strings.Contains(body, s) {
				t.Errorf("%s lacks %q", path, s)
			}
		}
		if len(body) > 16<<10 {
			t.Errorf("%s is %d bytes: keep the widget script small", path, len(body))
		}
		// Revalidation is cheap.
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if resp.Header.Get("ETag") == "" || again.StatusCode != http.StatusNotModified {
			t.Errorf("%s: ETag %q, revalidation %d", path, resp.Header.Get("ETag"), again.StatusCode)
		}
	}
	// The page script is a static file (CSP script-src 'self': no inline script).
	b := e.browser()
	b.get(e.srv.URL + "/connect/static/connect.js")
	if b.last.StatusCode != http.StatusOK || !strings.Contains(b.body, "postMessage(msg, parentOrigin)") {
		t.Errorf("connect.js: %d", b.last.StatusCode)
	}
}

// widgetURL is the iframe URL the widget script builds.
func (e *env) widgetURL(token, parent string) string {
	return e.srv.URL + "/?" + url.Values{"connect_token": {token}, paramParentOrigin: {parent}}.Encode()
}

func TestWidgetSessionPages(t *testing.T) {
	const parent = "http://localhost:3000"
	e := newEnv(t)
	b := e.browser()
	b.fa = parent // exactly the embedding page, not every registered origin
	b.get(e.widgetURL(e.token("user-1", 0), parent))
	if b.last.StatusCode != http.StatusOK || !b.has(`form[action$="/terms"]`) {
		t.Fatalf("widget start: %d %s", b.last.StatusCode, b.text())
	}
	s := e.session(b.sid())
	if !s.Embedded || s.EmbedOrigin != parent || s.RedirectURI != "" || parentOrigin(&s) != parent {
		t.Fatalf("session: embedded %v, embed origin %q, redirect %q", s.Embedded, s.EmbedOrigin, s.RedirectURI)
	}
	checkWidgetPage(t, b, parent)
	if b.last.Header.Get("X-Frame-Options") != "" {
		t.Errorf("X-Frame-Options %q on a framable page", b.last.Header.Get("X-Frame-Options"))
	}
	if b.page.Find(`script:not([src])`).Length() != 0 {
		t.Error("inline script on a Connect page")
	}

	walkToCredentials(t, b, e.widgetURL(e.token("user-1", 0), parent), "pge")
	checkWidgetPage(t, b, parent)
	login(b, goodUser, goodPassword)
	code := b.page.Find("main").AttrOr("data-code", "")
	if code == "" {
		t.Fatalf("confirmation without a code: %s", b.text())
	}
	e.secrets = append(e.secrets, code)
	checkWidgetPage(t, b, parent)

	// The page script reports the hand-over: the code leaves the session
	// and the page.
	sid := b.sid()
	b.postForm(e.srv.URL+"/connect/"+sid+"/continue", nil)
	if b.last.StatusCode != http.StatusOK || b.has("[data-code]") || !strings.Contains(b.text(), "You're all set") {
		t.Fatalf("after the hand-over: %d %s", b.last.StatusCode, b.text())
	}
	if s := e.session(sid); s.Pending != nil {
		t.Error("the code is still kept in the session")
	}
	b.get(e.srv.URL + "/connect/" + sid)
	if b.has("[data-code]") {
		t.Error("the code is shown again after the hand-over")
	}
	if _, _, err := e.auth.Exchange(context.Background(), e.client.ID, code); err != nil {
		t.Errorf("exchange the widget's code: %v", err)
	}
	e.checkNoSecretsLogged()
}

// checkWidgetPage asserts the modal markup of a page rendered for the widget.
func checkWidgetPage(t *testing.T, b *browser, parent string) {
	t.Helper()
	for _, sel := range []string{
		`body.widget[data-parent-origin="` + parent + `"]`,
		`.backdrop[data-close]`,
		`.dialog[role=dialog][aria-modal=true]`,
		`.dialog button.close[data-close][aria-label=Close]`,
		`script[src="/connect/static/connect.js"]`,
	} {
		if !b.has(sel) {
			t.Errorf("%s: no %s", b.url.Path, sel)
		}
	}
}

func TestWidgetStartRefusals(t *testing.T) {
	tests := []struct {
		name   string
		parent string
		token  func(e *env) string
		status int
		// framedBy is the expected frame-ancestors; errorStatus the
		// data-error reported to the widget ("" for none).
		framedBy    string
		errorStatus string
	}{
		{"unregistered origin", "https://evil.example", func(e *env) string { return e.token("u", 0) }, http.StatusBadRequest, "'none'", ""},
		{"origin of another scheme", "https://localhost:3000", func(e *env) string { return e.token("u", 0) }, http.StatusBadRequest, "'none'", ""},
		{"malformed origin", "http://localhost:3000/app", func(e *env) string { return e.token("u", 0) }, http.StatusBadRequest, "'none'", ""},
		{"opaque origin", "null", func(e *env) string { return e.token("u", 0) }, http.StatusBadRequest, "'none'", ""},
		{"bad token", "http://localhost:3000", func(e *env) string { return "not-a-token" }, http.StatusBadRequest, "http://localhost:3000", outcomeTokenInvalid},
		{"expired token", "http://localhost:3000", func(e *env) string {
			tok := e.token("u", 0)
			e.clock.Advance(31 * 60 * 1e9)
			return tok
		}, http.StatusBadRequest, "http://localhost:3000", outcomeTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			b.fa = tc.framedBy
			b.get(e.widgetURL(tc.token(e), tc.parent))
			if b.last.StatusCode != tc.status || strings.HasPrefix(b.url.Path, "/connect/") {
				t.Fatalf("status %d at %s, want %d and no session", b.last.StatusCode, b.url, tc.status)
			}
			if got := b.page.Find("main").AttrOr("data-error", ""); got != tc.errorStatus {
				t.Errorf("data-error = %q, want %q", got, tc.errorStatus)
			}
			if tc.errorStatus != "" {
				checkWidgetPage(t, b, tc.parent)
				if !b.has(`main button[data-close]`) {
					t.Error("no Close button on the widget's error page")
				}
			} else if b.has("[data-parent-origin]") {
				t.Error("a refused origin was given to the page")
			}
		})
	}
}

func TestWidgetIgnoredInRedirectMode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.startURL(e.token("u", 0), e.app, nil) + "&" + paramParentOrigin + "=" + url.QueryEscape("http://localhost:3000"))
	s := e.session(b.sid())
	if s.Embedded || s.RedirectURI != e.app || b.has("[data-parent-origin]") {
		t.Fatalf("redirect mode with parent_origin: embedded %v, redirect %q", s.Embedded, s.RedirectURI)
	}
}

func TestWidgetFailedViews(t *testing.T) {
	const parent = "https://app.example"
	t.Run("unsupported utility", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.fa = parent
		walkToCredentials(t, b, e.widgetURL(e.token("user-1", 0), parent), "coned")
		login(b, goodUser, goodPassword)
		main := b.page.Find("main")
		got := map[string]string{
			"data-error":        main.AttrOr("data-error", ""),
			"data-utility-id":   main.AttrOr("data-utility-id", ""),
			"data-utility-name": main.AttrOr("data-utility-name", ""),
		}
		want := map[string]string{
			"data-error":        outcomeUnsupported,
			"data-utility-id":   "2",
			"data-utility-name": "Con Edison",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("failed view (-want +got):\n%s", diff)
		}
		checkWidgetPage(t, b, parent)
		if !b.has(`main button[data-close]`) || b.has(`footer form[action$="/exit"]`) {
			t.Errorf("failed view controls: %s", b.text())
		}
		if n := e.fake.logins.Load(); n != 0 {
			t.Errorf("credentials for an unsupported utility reached a connector %d times", n)
		}
	})
	t.Run("attempt cap", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.fa = parent
		walkToCredentials(t, b, e.widgetURL(e.token("user-1", 0), parent), "pge")
		for i := 1; i <= 5; i++ {
			login(b, goodUser, "wrong")
			if i < 5 {
				b.submit(`form[action$="/retry"] [type=submit]`, nil)
			}
		}
		main := b.page.Find("main")
		if main.AttrOr("data-error", "") != outcomeMaxAttempts || main.AttrOr("data-utility-id", "") != "" {
			t.Fatalf("after 5 failures: %s", b.text())
		}
		checkWidgetPage(t, b, parent)
	})
}

func TestWidgetSessionWithoutCookie(t *testing.T) {
	const parent = "http://localhost:5173"
	e := newEnv(t)
	b := e.browser()
	b.fa = parent
	b.get(e.widgetURL(e.token("user-1", 0), parent))
	sid := b.sid()

	// A browser that refused the cookie (cross-site iframe over HTTP).
	other := e.browser()
	other.fa = parent
	other.get(e.srv.URL + "/connect/" + sid)
	if other.last.StatusCode != http.StatusNotFound || other.page.Find("main").AttrOr("data-error", "") != outcomeInternal {
		t.Fatalf("widget session without cookie: %d %s", other.last.StatusCode, other.text())
	}
	checkWidgetPage(t, other, parent)
	if !strings.Contains(e.logs.String(), "widget session without its cookie") {
		t.Error("the cause is not logged")
	}
	// A session outside the widget keeps the plain page.
	b2 := e.browser()
	b2.get(e.startURL(e.token("user-2", 0), e.app, nil))
	other.fa = "'none'"
	other.get(e.srv.URL + "/connect/" + b2.sid())
	if other.last.StatusCode != http.StatusNotFound || other.has("[data-parent-origin]") {
		t.Errorf("redirect session without cookie: %d", other.last.StatusCode)
	}
}

func TestWidgetCookieOverTLS(t *testing.T) {
	const parent = "https://app.example"
	e := newEnv(t, envOptions{secure: true})
	b := e.browser()
	b.fa, b.crossSite = parent, true
	b.get(e.widgetURL(e.token("user-1", 0), parent))
	c := b.chain[0].Cookies()
	if len(c) != 1 || !c[0].Secure || !strings.HasPrefix(c[0].Name, "__Host-") {
		t.Fatalf("widget cookie over TLS: %v", c)
	}
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	b.submit(`[name=utility_slug][value="pge"]`, nil)
	// SameSite=None does not open the forms to other sites.
	sid := b.sid()
	b.header = http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	b.fa = "'none'"
	b.postForm(e.srv.URL+"/connect/"+sid+"/credentials", url.Values{"username": {goodUser}, "password": {goodPassword}})
	if b.last.StatusCode != http.StatusForbidden || e.fake.logins.Load() != 0 {
		t.Fatalf("cross-site POST: %d, connector called %d times", b.last.StatusCode, e.fake.logins.Load())
	}
	if s := e.session(sid); s.Step != store.StepCredentials {
		t.Errorf("cross-site POST moved the session to %s", s.Step)
	}
	// The redirect mode cookie stays Lax over TLS.
	r := e.browser()
	r.get(e.startURL(e.token("user-2", 0), e.app, nil))
	if c := r.chain[0].Cookies(); len(c) != 1 || c[0].SameSite != http.SameSiteLaxMode || c[0].Partitioned {
		t.Errorf("redirect cookie over TLS: %v", c)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
