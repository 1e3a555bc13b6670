package demoutility

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzSite: no request makes the site answer 5xx (other than its
// deliberate flaky 503, which is off here) or panic, signed in or not.
func FuzzSite(f *testing.F) {
	seeds := []struct {
		method, target, body string
	}{
		{"POST", "/login", "username=alice&password=alice-password&csrf_token=x"},
		{"POST", "/mfa/verify", "code=123456&remember_device=1"},
		{"POST", "/mfa/choose", "method=email"},
		{"GET", "/accounts/3100112358/usage/download?format=xml&from=2026-02-30&to=1999-01-01", ""},
		{"GET", "/accounts/3100112358/usage/download?from=0001-01-01&to=9999-12-31", ""},
		{"GET", "/accounts/3100112358/bills/%00/statement.pdf", ""},
		{"POST", "/admin", "action=save&flaky=NaN&rate_requests=-1&rate_window=99999999999999999999"},
		{"POST", "/admin", "action=save&flaky=1e308&rate_requests=1&rate_window=0"},
		{"POST", "/profile/password", "current_password=alice-password&new_password=%ff%fe%fd%fc%fb%fa%f9%f8&confirm_password=%ff%fe%fd%fc%fb%fa%f9%f8"},
		{"GET", "/outbox?user=%zz", ""},
		{"POST", "/logout", "csrf_token="},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if method != http.MethodGet && method != http.MethodPost {
			method = http.MethodGet
		}
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		site := New(Config{Now: func() time.Time { return testNow }, Rand: rand.NewChaCha8([32]byte{}), HistoryMonths: 1})
		// A signed-in browser: the fuzzed request carries its cookie.
		cookie := signedInCookie(t, site)
		req, err := http.NewRequest(method, "http://demo.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		site.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s -> %d", method, target, rec.Code)
		}
	})
}

// signedInCookie signs alice in through the handler and returns her
// session cookie.
func signedInCookie(t *testing.T, site *Site) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	var sess *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			sess = c
		}
	}
	site.mu.Lock()
	token := site.sessions[sess.Value].csrf
	site.mu.Unlock()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("username=alice&password=alice-password&csrf_token="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(sess)
	rec = httptest.NewRecorder()
	site.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatal("no session after sign-in")
	return nil
}
