package demoutility

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
)

func TestSignInWithoutMFA(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	login := b.get("/login")
	pre := cookieOf(login, SessionCookie)
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteLaxMode {
		t.Fatalf("pre-login session cookie = %+v", pre)
	}
	r := b.submit(login, "form#login-form", url.Values{"username": {" Alice "}, "password": {AlicePassword}})
	if r.status != http.StatusSeeOther || r.location() != "/accounts" {
		t.Fatalf("sign-in: %d to %q", r.status, r.location())
	}
	if c := cookieOf(r, SessionCookie); c == nil || c.Value == pre.Value {
		t.Error("the session id was not replaced at sign-in")
	}
	page := b.get("/accounts")
	var rows [][]string
	page.doc.Find("table#accounts tbody tr").Each(func(_ int, tr *goquery.Selection) {
		rows = append(rows, strings.Fields(tr.Text()))
	})
	if len(rows) != 1 || rows[0][0] != "3100112358" {
		t.Errorf("alice's accounts: %q", rows)
	}
	if got := page.text(".greeting"); got != "Signed in as Alice Moreau" {
		t.Errorf("greeting %q", got)
	}
	if e.site.Stats().SignIns != 1 || len(e.site.Outbox()) != 0 {
		t.Errorf("stats %+v, outbox %d", e.site.Stats(), len(e.site.Outbox()))
	}
}

func TestWrongPassword(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct{ user, pass string }{{Alice, "nope"}, {"mallory", "x"}, {Bob, AlicePassword}} {
		r := e.browser(t).signIn(tc.user, tc.pass)
		if r.status != 200 || r.text(".alert-error") != "The username or password you entered is incorrect." || r.doc.Find("form#login-form").Length() != 1 {
			t.Errorf("%s/%s: status %d, alert %q", tc.user, tc.pass, r.status, r.text(".alert-error"))
		}
	}
	if n := e.site.Stats().FailedSignIns; n != 3 {
		t.Errorf("failed sign-ins = %d, want 3", n)
	}
}

func TestCSRFIsEnforced(t *testing.T) {
	e := newEnv(t, Config{})
	other := e.browser(t)
	otherToken, _ := other.get("/login").doc.Find("input[name=csrf_token]").Attr("value")
	creds := url.Values{"username": {Alice}, "password": {AlicePassword}}
	for name, token := range map[string]*string{"missing": nil, "wrong": ptr("0123"), "another session's": &otherToken} {
		b := e.browser(t)
		b.get("/login")
		f := url.Values{"username": creds["username"], "password": creds["password"]}
		if token != nil {
			f.Set("csrf_token", *token)
		}
		if r := b.do(http.MethodPost, "/login", f); r.status != http.StatusForbidden {
			t.Errorf("%s token: status %d, want 403", name, r.status)
		}
	}
	// No session at all.
	b := e.browser(t)
	if r := b.do(http.MethodPost, "/login", creds); r.status != http.StatusForbidden {
		t.Errorf("no session: status %d, want 403", r.status)
	}
	if e.site.Stats().SignIns != 0 {
		t.Error("a sign-in without a valid token succeeded")
	}
}

func ptr[T any](v T) *T { return &v }

func TestMFABySMSAndRememberedDevice(t *testing.T) {
	e := newEnv(t, Config{DeviceTTL: 7 * 24 * time.Hour})
	b := e.browser(t)
	r := b.signIn(Bob, BobPassword)
	if r.location() != "/mfa/verify" {
		t.Fatalf("bob's sign-in went to %q, want the code page", r.location())
	}
	verify := b.get("/mfa/verify")
	if got := verify.text(".mfa-prompt"); got != "We sent a 6-digit code by text message to (***) ***-0142. Enter it below to continue." {
		t.Errorf("prompt %q", got)
	}
	if verify.doc.Find("form#mfa-other").Length() != 0 {
		t.Error("bob, who has one method, is offered another")
	}
	// The code is on the outbox page, newest first.
	out := b.get("/outbox")
	msg := out.doc.Find("li.message").First()
	code, _ := e.site.LatestCode(Bob)
	if user, _ := msg.Attr("data-user"); user != Bob || msg.Find(".code").Text() != code || msg.Find(".to").Text() != "(303) 555-0142" {
		t.Errorf("outbox: %q", out.text("li.message"))
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		t.Errorf("code %q is not 6 digits", code)
	}

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r = b.enterCode(wrong, true)
	if r.status != 200 || r.text(".alert-error") != "That code is incorrect. Please check it and try again." {
		t.Fatalf("wrong code: %d %q", r.status, r.text(".alert-error"))
	}
	r = b.enterCode(code, true)
	if r.location() != "/accounts" {
		t.Fatalf("right code went to %q", r.location())
	}
	dev := cookieOf(r, DeviceCookie)
	if dev == nil || dev.MaxAge != 7*24*3600 || !dev.HttpOnly {
		t.Fatalf("remember-device cookie = %+v", dev)
	}
	if n := b.get("/accounts").doc.Find("table#accounts tbody tr").Length(); n != 2 {
		t.Errorf("bob has %d accounts, want 2", n)
	}

	// Signed out, the same browser signs in again without a code.
	e.site.ExpireSessions()
	if r := b.signIn(Bob, BobPassword); r.location() != "/accounts" {
		t.Errorf("remembered device: sign-in went to %q", r.location())
	}
	// Another browser (no device cookie) still gets a code.
	if r := e.browser(t).signIn(Bob, BobPassword); r.location() != "/mfa/verify" {
		t.Errorf("new browser: sign-in went to %q", r.location())
	}
	// After the device's lifetime, a code again.
	e.clock.Advance(8 * 24 * time.Hour)
	if r := b.signIn(Bob, BobPassword); r.location() != "/mfa/verify" {
		t.Errorf("expired device: sign-in went to %q", r.location())
	}
}

func TestMFAForgottenDevice(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Bob, BobPassword)
	e.site.ExpireSessions()
	e.site.ForgetDevices(Bob)
	if r := b.signIn(Bob, BobPassword); r.location() != "/mfa/verify" {
		t.Errorf("forgotten device: sign-in went to %q", r.location())
	}
}

func TestMFAByEmailWithChoice(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	if r := b.signIn(Carol, CarolPassword); r.location() != "/mfa/choose" {
		t.Fatalf("carol's sign-in went to %q", r.location())
	}
	if len(e.site.Outbox()) != 0 {
		t.Error("a code was sent before carol chose how")
	}
	choose := b.get("/mfa/choose")
	var labels []string
	choose.doc.Find("form#mfa-choose .choice").Each(func(_ int, c *goquery.Selection) {
		labels = append(labels, strings.Join(strings.Fields(c.Text()), " "))
	})
	if diff := cmp.Diff([]string{"Text message to (***) ***-0199", "E-mail to c****@example.com"}, labels); diff != "" {
		t.Errorf("choices (-want +got):\n%s", diff)
	}
	if r := b.submit(choose, "form#mfa-choose", url.Values{"method": {"pigeon"}}); r.status != 200 || r.text(".alert-error") == "" {
		t.Errorf("unknown method: %d %q", r.status, r.text(".alert-error"))
	}
	r := b.submit(choose, "form#mfa-choose", url.Values{"method": {MethodEmail}})
	if r.location() != "/mfa/verify" {
		t.Fatalf("after choosing: %q", r.location())
	}
	if got := b.get("/mfa/verify").text(".mfa-prompt"); !strings.Contains(got, "by e-mail to c****@example.com") {
		t.Errorf("prompt %q", got)
	}
	m := e.site.Outbox()[0]
	if m.Channel != MethodEmail || m.To != "carol@example.com" || m.User != Carol {
		t.Errorf("message %+v", m)
	}
	// Going back to the choice, then text instead: a new code.
	b.submit(b.get("/mfa/verify"), "form#mfa-other", nil)
	b.submit(b.get("/mfa/choose"), "form#mfa-choose", url.Values{"method": {MethodSMS}})
	if out := e.site.Outbox(); len(out) != 2 || out[0].Channel != MethodSMS || out[0].To != "(720) 555-0199" {
		t.Fatalf("outbox after switching: %+v", out)
	}
	if r := b.enterCode(m.Code, false); r.status != 200 {
		t.Error("the superseded e-mail code still works")
	}
	code, _ := e.site.LatestCode(Carol)
	r = b.enterCode(code, false)
	if r.location() != "/accounts" || cookieOf(r, DeviceCookie) != nil {
		t.Fatalf("sign-in without remembering: %q, device cookie %v", r.location(), cookieOf(r, DeviceCookie))
	}
	page := b.get("/accounts")
	var services []string
	page.doc.Find("table#accounts tbody tr td:nth-child(3)").Each(func(_ int, td *goquery.Selection) {
		services = append(services, td.Text())
	})
	if diff := cmp.Diff([]string{"Electric, Gas", "Electric, Gas", "Gas"}, services); diff != "" {
		t.Errorf("carol's services (-want +got):\n%s", diff)
	}
}

func TestMFATooManyWrongCodesAndExpiry(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signIn(Bob, BobPassword)
	var r result
	for range MaxCodeAttempts {
		r = b.enterCode("999999x", false)
	}
	if r.location() != "/login" {
		t.Fatalf("after %d wrong codes: %d %q", MaxCodeAttempts, r.status, r.location())
	}
	if got := b.get("/login").text(".alert-info"); got != "Too many incorrect codes. Please sign in again." {
		t.Errorf("notice %q", got)
	}

	b.signIn(Bob, BobPassword)
	old, _ := e.site.LatestCode(Bob)
	e.clock.Advance(CodeTTL + time.Second)
	r = b.enterCode(old, false)
	if r.text(".alert-error") != "That code has expired. We sent you a new one." {
		t.Fatalf("expired code: %q", r.text(".alert-error"))
	}
	fresh, _ := e.site.LatestCode(Bob)
	if r := b.enterCode(fresh, false); r.location() != "/accounts" {
		t.Errorf("the new code: %q", r.location())
	}
}

func TestSessionExpiresWhenIdle(t *testing.T) {
	e := newEnv(t, Config{SessionTTL: 15 * time.Minute})
	b := e.browser(t)
	b.signInFully(Alice, AlicePassword)
	e.clock.Advance(14 * time.Minute)
	if r := b.get("/accounts"); r.status != 200 {
		t.Fatalf("active session: %d", r.status)
	}
	e.clock.Advance(16 * time.Minute)
	r := b.get("/accounts")
	if r.location() != "/login" {
		t.Fatalf("idle session: %d %q", r.status, r.location())
	}
	if got := b.get("/login").text(".alert-info"); got != "Please sign in to continue." {
		t.Errorf("notice %q", got)
	}
}

func TestAccountsAreScopedToTheLogin(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	b.signInFully(Alice, AlicePassword)
	for _, p := range []string{"/accounts/3100223344/usage", "/accounts/3100223344/bills", "/accounts/3100223344/usage/download",
		"/accounts/3100223344/bills/3100223344-202602/statement.pdf", "/accounts/3100112358/bills/3100112358-209901/statement.pdf", "/nowhere"} {
		if r := b.get(p); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	signedOut := e.browser(t)
	if r := signedOut.get("/accounts/3100112358/usage/download"); r.location() != "/login" {
		t.Errorf("signed-out download: %d %q", r.status, r.location())
	}
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t, Config{})
	phone := e.browser(t) // another device, signed in with a remembered device
	phone.signInFully(Bob, BobPassword)
	b := e.browser(t)
	b.signInFully(Bob, BobPassword)

	page := b.get("/profile/password")
	for _, tc := range []struct{ cur, nw, confirm, alert string }{
		{"wrong", "new-password-1", "new-password-1", "Your current password is incorrect."},
		{BobPassword, "short", "short", "Your new password must be at least 8 characters long."},
		{BobPassword, BobPassword, BobPassword, "Your new password must be different from your current password."},
		{BobPassword, "new-password-1", "new-password-2", "The new passwords do not match."},
	} {
		r := b.submit(page, "form#password-form", url.Values{"current_password": {tc.cur}, "new_password": {tc.nw}, "confirm_password": {tc.confirm}})
		if got := r.text(".alert-error"); got != tc.alert {
			t.Errorf("change %q->%q: alert %q, want %q", tc.cur, tc.nw, got, tc.alert)
		}
	}
	r := b.submit(page, "form#password-form", url.Values{"current_password": {BobPassword}, "new_password": {"new-password-1"}, "confirm_password": {"new-password-1"}})
	if r.location() != "/profile/password" {
		t.Fatalf("change: %d %q", r.status, r.location())
	}
	if got := b.get("/profile/password").text(".alert-info"); !strings.Contains(got, "Your password has been changed") {
		t.Errorf("notice %q", got)
	}
	if r := b.get("/accounts"); r.status != 200 {
		t.Error("the session that changed the password was signed out")
	}
	if r := phone.get("/accounts"); r.location() != "/login" {
		t.Errorf("the other device is still signed in: %d %q", r.status, r.location())
	}
	if r := phone.signIn(Bob, BobPassword); r.text(".alert-error") == "" {
		t.Error("the old password still works")
	}
	if r := phone.signIn(Bob, "new-password-1"); r.location() != "/mfa/verify" {
		t.Errorf("new password on the formerly remembered device: %q, want a code", r.location())
	}
	e.site.ResetPasswords()
	if r := e.browser(t).signIn(Bob, BobPassword); r.location() != "/mfa/verify" {
		t.Errorf("after reset: %q", r.location())
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{RateLimit: RateLimit{Requests: 3, Window: time.Minute}})
	b := e.browser(t)
	for i := range 3 {
		if r := b.get("/login"); r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	e.clock.Advance(15 * time.Second)
	r := b.get("/login")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "45" || r.text("h1") != "Too many requests" {
		t.Fatalf("4th request: %d, Retry-After %q, %q", r.status, r.header.Get("Retry-After"), r.text("h1"))
	}
	if r := b.get("/outbox"); r.status != 200 {
		t.Errorf("the outbox is rate limited: %d", r.status)
	}
	e.clock.Advance(45 * time.Second)
	if r := b.get("/login"); r.status != 200 {
		t.Errorf("next window: %d", r.status)
	}
	if n := e.site.Stats().RateLimited; n != 1 {
		t.Errorf("RateLimited = %d", n)
	}
}

func TestFlaky(t *testing.T) {
	e := newEnv(t, Config{Flaky: 1})
	b := e.browser(t)
	r := b.get("/login")
	if r.status != http.StatusServiceUnavailable || r.text("h1") != "Service temporarily unavailable" {
		t.Fatalf("flaky=1: %d %q", r.status, r.text("h1"))
	}
	if r := b.get("/outbox"); r.status != 200 {
		t.Errorf("the outbox is flaky: %d", r.status)
	}
	e.site.SetFlaky(0.5)
	counts := map[int]int{}
	for range 60 {
		counts[b.get("/login").status]++
	}
	if counts[200] < 10 || counts[503] < 10 || counts[200]+counts[503] != 60 {
		t.Errorf("flaky=0.5 over 60 requests: %v", counts)
	}
	e.site.SetFlaky(0)
	if r := b.get("/login"); r.status != 200 {
		t.Errorf("flaky=0: %d", r.status)
	}
}

func TestMaintenance(t *testing.T) {
	e := newEnv(t, Config{Maintenance: true})
	r := e.browser(t).get("/login")
	if r.status != 200 || r.doc.Find("#maintenance").Length() != 1 || r.doc.Find("form#login-form").Length() != 0 {
		t.Fatalf("maintenance: %d %q", r.status, r.text("h1"))
	}
}

func TestSecurityHeadersAndAssets(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	for _, p := range []string{"/login", "/outbox", "/admin", "/nowhere", "/assets/site.css"} {
		r := b.get(p)
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	css := b.get("/assets/site.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || len(css.body) < 500 {
		t.Errorf("style sheet: %d %q %d bytes", css.status, css.header.Get("Content-Type"), len(css.body))
	}
	// No page pulls anything from elsewhere.
	page := b.get("/login")
	page.doc.Find("[src], link[href]").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"src", "href"} {
			if v, ok := s.Attr(a); ok && (strings.Contains(v, "//") || strings.HasPrefix(v, "http")) {
				t.Errorf("external asset %q", v)
			}
		}
	})
}

func TestAdminSwitches(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser(t)
	page := b.get("/admin")
	if page.status != 200 || page.doc.Find("form#switches").Length() != 1 {
		t.Fatalf("admin page: %d", page.status)
	}
	save := url.Values{"action": {"save"}, "flaky": {"0.25"}, "redesign": {"1"}, "rate_requests": {"100"}, "rate_window": {"60"}}

	// A cross-site post is refused.
	evil := e.browser(t)
	evil.header = http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	if r := evil.do(http.MethodPost, "/admin", save); r.status != http.StatusForbidden {
		t.Errorf("cross-site admin post: %d", r.status)
	}
	if e.site.Switches().Redesign {
		t.Fatal("a cross-site post flipped a switch")
	}

	r := b.do(http.MethodPost, "/admin", save)
	if r.status != http.StatusSeeOther {
		t.Fatalf("admin post: %d", r.status)
	}
	want := Switches{Flaky: 0.25, Redesign: true, RateLimit: RateLimit{Requests: 100, Window: time.Minute}}
	if diff := cmp.Diff(want, e.site.Switches()); diff != "" {
		t.Errorf("switches (-want +got):\n%s", diff)
	}
	if got, _ := b.follow(r.location()); got.text(".alert-info") != "Settings saved." {
		t.Errorf("notice %q", got.text(".alert-info"))
	}
	if r := b.do(http.MethodPost, "/admin", url.Values{"action": {"save"}, "flaky": {"x"}}); r.status != http.StatusBadRequest {
		t.Errorf("bad settings: %d", r.status)
	}

	// The buttons.
	b2 := e.browser(t)
	e.site.SetFlaky(0)
	b2.signInFully(Bob, BobPassword)
	b.do(http.MethodPost, "/admin", url.Values{"action": {"expire-sessions"}})
	if r := b2.get("/accounts"); r.location() != "/login" {
		t.Error("expire-sessions left a session")
	}
	b.do(http.MethodPost, "/admin", url.Values{"action": {"forget-devices"}})
	if r := b2.signIn(Bob, BobPassword); r.location() != "/mfa/verify" {
		t.Error("forget-devices left a device")
	}
	b.do(http.MethodPost, "/admin", url.Values{"action": {"clear-outbox"}})
	if len(e.site.Outbox()) != 0 {
		t.Error("clear-outbox left messages")
	}
	if n := strconv.Itoa(e.site.Stats().Requests); b.get("/admin").doc.Find("#stats").Length() == 0 || n == "0" {
		t.Error("no counters")
	}
}
