package connectui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

func ptr(s string) *string { return &s }

// walkToCredentials opens Connect in b and goes through terms and utility
// selection (create mode) up to the credentials form of slug.
func walkToCredentials(t testing.TB, b *browser, startURL, slug string) {
	t.Helper()
	b.get(startURL)
	if b.has(`form[action$="/terms"]`) {
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
	}
	if b.has(`[name=utility_slug]`) {
		b.submit(`[name=utility_slug][value="`+slug+`"]`, nil)
	}
	if !b.has(`input[name=password]`) {
		t.Fatalf("no credentials form at %s: %s", b.url, b.text())
	}
}

// login submits the credentials form.
func login(b *browser, username, password string) {
	b.t.Helper()
	b.submit(`input[name=username]`, map[string]string{"username": username, "password": password})
}

func TestCreateModeHappyPath(t *testing.T) {
	tests := []struct {
		name     string
		redirect string
		state    *string
		wantBase string // the redirect before the added parameters
	}{
		{"state with reserved and unicode characters", "https://app.example/callback", ptr("a b&c=d/é;e+f%20#g?h"), "https://app.example/callback?"},
		{"redirect with its own query", "https://app.example/cb?src=gridlink", ptr("xyz"), "https://app.example/cb?src=gridlink&"},
		{"no state", "https://app.example/callback", nil, "https://app.example/callback?"},
		{"empty state", "https://app.example/callback", ptr(""), "https://app.example/callback?"},
		{"custom scheme", "com.example.app:/oauth", ptr("s"), "com.example.app:/oauth?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			b := e.browser()
			tok := e.token("user-1", 0)
			b.get(e.startURL(tok, tc.redirect, tc.state))

			// The token left the address bar through a 303 to a clean URL.
			if len(b.chain) != 2 || b.chain[0].StatusCode != http.StatusSeeOther {
				t.Fatalf("GET / answered %d, want 303 then the page", b.chain[0].StatusCode)
			}
			if strings.Contains(b.url.String(), tok) || b.url.RawQuery != "" {
				t.Fatalf("after the first redirect the URL is %s", b.url)
			}
			sid := b.sid()
			if !strings.Contains(b.text(), "Acme Solar uses gridlink to connect to your utility account") {
				t.Fatalf("terms screen: %s", b.text())
			}
			b.submit(`form[action$="/terms"] [type=submit]`, nil)
			if !b.has(`input[name=q]`) || !b.has(`[name=utility_slug][value=coned]`) {
				t.Fatalf("utility selection: %s", b.text())
			}
			b.submit(`[name=utility_slug][value=pge]`, nil)
			if got := b.page.Find("h1").Text(); got != "Sign in to Pacific Gas and Electric" {
				t.Fatalf("credentials heading = %q", got)
			}
			for sel, want := range map[string]string{
				`input[name=username]`: "username",
				`input[name=password]`: "current-password",
			} {
				if got := b.page.Find(sel).AttrOr("autocomplete", ""); got != want {
					t.Errorf("%s autocomplete = %q, want %q", sel, got, want)
				}
			}
			if !b.has(`form[action$="/back"]`) || !b.has(`form[action$="/exit"]`) {
				t.Errorf("credentials page lacks Back or Exit")
			}
			login(b, goodUser, goodPassword)
			if !strings.Contains(b.text(), "Connected to Pacific Gas and Electric as "+goodUser) {
				t.Fatalf("confirmation: %s", b.text())
			}
			b.submit(`form[action$="/continue"] [type=submit]`, nil)
			loc := b.left()
			if !strings.HasPrefix(loc.String(), tc.wantBase) {
				t.Fatalf("redirected to %s, want it under %s", loc, tc.wantBase)
			}
			params, err := url.ParseQuery(strings.TrimPrefix(loc.String(), tc.wantBase))
			if err != nil {
				t.Fatal(err)
			}
			gotState, hasState := params["state"]
			switch {
			case tc.state == nil && hasState:
				t.Errorf("state %q returned though none was given", gotState)
			case tc.state != nil && (len(gotState) != 1 || gotState[0] != *tc.state):
				t.Errorf("state = %q, want %q", gotState, *tc.state)
			}
			code := params.Get("code")
			e.secrets = append(e.secrets, code)
			if len(params) != 1+len(gotState) || code == "" {
				t.Fatalf("return parameters = %v", params)
			}

			// The code is exchangeable once, for this user.
			access, user, err := e.auth.Exchange(ctx, e.client.ID, code)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			e.secrets = append(e.secrets, access)
			if user.ID != "user-1" || user.UtilityID != 1 || user.UtilityUsername != goodUser || !user.CredentialsValid {
				t.Errorf("user = %+v", user)
			}
			if got := e.queue.enqueued(); !cmp.Equal(got, []string{user.RowID}) {
				t.Errorf("syncs queued = %v, want [%s]", got, user.RowID)
			}

			// The credential opens for its row only, to what was typed.
			stored, err := e.st.User(ctx, e.client.ID, "user-1")
			if err != nil {
				t.Fatal(err)
			}
			cred, err := syncer.OpenCredential(e.vault, stored.Credential, stored.RowID)
			if err != nil {
				t.Fatalf("open credential: %v", err)
			}
			if cred.Username != goodUser || cred.Password != goodPassword || string(cred.Session) != "upstream-session-"+goodUser {
				t.Errorf("sealed credential holds %q / %q / %q", cred.Username, cred.Password, cred.Session)
			}
			if _, err := e.vault.Open(stored.Credential, "00000000-0000-4000-8000-000000000000"); err == nil {
				t.Error("the credential opens for another row id")
			}

			// Pressing Continue again hands out nothing.
			b.postForm(e.srv.URL+"/connect/"+sid+"/continue", nil)
			if b.last.StatusCode != http.StatusBadRequest || b.last.Header.Get("Location") != "" {
				t.Errorf("second continue = %d (Location %q)", b.last.StatusCode, b.last.Header.Get("Location"))
			}
			if s := e.session(sid); s.Pending != nil || s.Step != store.StepDone {
				t.Errorf("session after delivery: step %s, pending %d bytes", s.Step, len(s.Pending))
			}
			e.checkNoSecretsLogged(goodPassword)
		})
	}
}

// connect walks a whole create-mode flow and returns the user.
func (e *env) connect(userID, username, password string) gridlink.User {
	e.t.Helper()
	b := e.browser()
	walkToCredentials(e.t, b, e.startURL(e.token(userID, 0), e.app, ptr("s")), "pge")
	login(b, username, password)
	b.submit(`form[action$="/continue"] [type=submit]`, nil)
	if b.left().Query().Get("code") == "" {
		e.t.Fatalf("no code in %s", b.left())
	}
	u, err := e.st.User(context.Background(), e.client.ID, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestUpdateModeKeepsTheUser(t *testing.T) {
	tests := []struct {
		name    string
		utility int64
	}{
		{"selection", 0},
		{"utility named by the token", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			first := e.connect("user-1", goodUser, goodPassword)

			b := e.browser()
			b.get(e.startURL(e.token("user-1", tc.utility), e.app, ptr("again")))
			if s := e.session(b.sid()); !s.UpdateMode {
				t.Error("session not in update mode")
			}
			if b.has(`form[action$="/terms"]`) {
				t.Fatal("update mode shows the terms screen")
			}
			if tc.utility == 0 {
				if !b.has(`[name=utility_slug]`) {
					t.Fatalf("update mode does not start at utility selection: %s", b.text())
				}
				b.submit(`[name=utility_slug][value=pge]`, nil)
			} else if b.has(`form[action$="/back"]`) {
				t.Error("Back offered though the token fixed the utility")
			}
			login(b, customUser, "a-new-password")
			b.submit(`form[action$="/continue"] [type=submit]`, nil)
			code := b.left().Query().Get("code")
			_, user, err := e.auth.Exchange(context.Background(), e.client.ID, code)
			if err != nil {
				t.Fatal(err)
			}
			if user.RowID != first.RowID || user.UtilityUsername != customUser {
				t.Errorf("after update: row %s user %s, want row %s user %s", user.RowID, user.UtilityUsername, first.RowID, customUser)
			}
			plain, err := e.vault.Open(user.Credential, first.RowID)
			if err != nil || !strings.Contains(string(plain), "a-new-password") {
				t.Errorf("credential not replaced (%v)", err)
			}
		})
	}
}

func TestTokenNamingUtilitySkipsSelection(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.startURL(e.token("user-1", 1), e.app, nil))
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	if !b.has(`input[name=password]`) || b.has(`[name=utility_slug]`) {
		t.Fatalf("after terms: %s", b.text())
	}
	if b.has(`form[action$="/back"]`) {
		t.Error("Back offered though the token fixed the utility")
	}
	// A Back POST anyway changes nothing.
	b.postForm(e.srv.URL+"/connect/"+b.sid()+"/back", nil)
	if !b.has(`input[name=password]`) {
		t.Errorf("Back left the credentials step: %s", b.text())
	}
}

func TestUtilitySearchAndBack(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.startURL(e.token("user-1", 0), e.app, nil))
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	names := func() []string {
		var out []string
		b.page.Find(`[name=utility_slug]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("value", "")) })
		return out
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"con ed", []string{"coned"}},
		{"CONS", []string{"consumers-energy"}},
		{"", []string{"coned", "consumers-energy", "ghost-power", "nomfa", "pge"}},
	}
	for _, tc := range tests {
		b.submit(`input[name=q]`, map[string]string{"q": tc.q})
		if b.url.Query().Get("q") != tc.q || b.page.Find(`input[name=q]`).AttrOr("value", "") != tc.q {
			t.Errorf("search %q: URL %s, field %q", tc.q, b.url, b.page.Find(`input[name=q]`).AttrOr("value", ""))
		}
		if diff := cmp.Diff(tc.want, names()); diff != "" {
			t.Errorf("search %q (-want +got):\n%s", tc.q, diff)
		}
	}
	b.submit(`input[name=q]`, map[string]string{"q": "zzzz"})
	if len(names()) != 0 || !strings.Contains(b.text(), "No utility matches") {
		t.Errorf("search with no match: %s", b.text())
	}

	// An unknown slug re-renders the list with an error.
	b.postForm(e.srv.URL+"/connect/"+b.sid()+"/utility", url.Values{"utility_slug": {"atlantis"}})
	if b.last.StatusCode != http.StatusBadRequest || b.alert() == "" || len(names()) == 0 {
		t.Errorf("unknown slug: %d alert %q", b.last.StatusCode, b.alert())
	}
	// Back from the credentials returns to the list.
	b.submit(`[name=utility_slug][value=coned]`, nil)
	b.submit(`form[action$="/back"] [type=submit]`, nil)
	if !b.has(`[name=utility_slug]`) {
		t.Fatalf("Back did not return to selection: %s", b.text())
	}
	if s := e.session(b.sid()); s.Step != store.StepUtility || s.UtilityID != 0 {
		t.Errorf("after Back: step %s utility %d", s.Step, s.UtilityID)
	}
}

func TestRedirectURIMismatchShowsErrorPage(t *testing.T) {
	e := newEnv(t)
	tok := e.token("user-1", 0)
	for _, uri := range []string{
		"https://app.example/callback/",              // trailing slash
		"https://APP.example/callback",               // case
		"https://app.example/call",                   // prefix
		"https://app.example/callback/more",          // extension
		"https://app.example/callback?x=1",           // extra query
		"https://app.example/callback#",              // fragment
		"http://app.example/callback",                // scheme
		"https://evil.example/callback",              // another host
		"javascript:alert(1)",                        // registered, but a script
		"https://user:pw@app.example/cb",             // registered, but userinfo
		"https://app.example/cb#frag",                // registered, but a fragment
		" https://app.example/callback",              // leading space
		"https://app.example/callback%00",            // encoded NUL
		"https://app.example/cb?src=gridlink&x=evil", // extended query
	} {
		t.Run(uri, func(t *testing.T) {
			b := e.browser()
			b.get(e.startURL(tok, uri, ptr("s")))
			if b.last.StatusCode != http.StatusBadRequest || b.last.Header.Get("Location") != "" || len(b.chain) != 1 {
				t.Fatalf("status %d, Location %q, want 400 and no Location", b.last.StatusCode, b.last.Header.Get("Location"))
			}
			if len(b.last.Cookies()) != 0 {
				t.Error("a session cookie was set for a bad redirect_uri")
			}
			if !strings.Contains(b.text(), "not set up correctly") {
				t.Errorf("page: %s", b.text())
			}
		})
	}
}

func TestInvalidConnectLinks(t *testing.T) {
	e := newEnv(t)
	expired := e.token("user-1", 0)
	e.clock.Advance(gridlink.ConnectTokenTTL + time.Second)
	valid := e.token("user-1", 0)
	tests := map[string]string{
		"garbage token":     e.startURL("not-a-token", e.app, ptr("s")),
		"expired token":     e.startURL(expired, e.app, ptr("s")),
		"empty token":       e.srv.URL + "/?connect_token=&redirect_uri=" + url.QueryEscape(e.app),
		"no token":          e.srv.URL + "/?redirect_uri=" + url.QueryEscape(e.app),
		"two tokens":        e.srv.URL + "/?connect_token=" + valid + "&connect_token=" + valid,
		"tampered token":    e.startURL(tamper(valid), e.app, nil),
		"malformed escapes": e.srv.URL + "/?connect_token=" + valid + "&state=%zz",
	}
	for name, u := range tests {
		t.Run(name, func(t *testing.T) {
			b := e.browser()
			b.get(u)
			if b.last.StatusCode != http.StatusBadRequest || b.last.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q", b.last.StatusCode, b.last.Header.Get("Location"))
			}
			if !strings.Contains(b.text(), "This link has expired or is invalid") {
				t.Errorf("page: %s", b.text())
			}
		})
	}
	t.Run("landing", func(t *testing.T) {
		b := e.browser()
		b.get(e.srv.URL + "/")
		if b.last.StatusCode != http.StatusOK || !strings.Contains(b.text(), "gridlink Connect") {
			t.Errorf("landing: %d %s", b.last.StatusCode, b.text())
		}
	})
}

// tamper changes one character in the middle of a token.
func tamper(tok string) string {
	b := []byte(tok)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func TestFiveWrongPasswordsEndTheSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	state := "st&=1"
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, &state), "pge")
	sid := b.sid()
	for i := 1; i < gridlink.MaxLoginAttempts; i++ {
		login(b, goodUser, "wrong-"+string(rune('0'+i)))
		want := "The username or password is incorrect. " + plural(gridlink.MaxLoginAttempts-i, "attempt", "attempts") + " left."
		if b.last.StatusCode != http.StatusOK || b.alert() != want {
			t.Fatalf("attempt %d: %d, alert %q, want %q", i, b.last.StatusCode, b.alert(), want)
		}
		if !b.has(`form[action$="/retry"]`) || !b.has(`form[action$="/exit"]`) {
			t.Fatalf("attempt %d: error view lacks Try again or Return", i)
		}
		b.submit(`form[action$="/retry"] [type=submit]`, nil)
	}
	login(b, goodUser, "wrong-5")
	loc := b.left()
	if got := loc.Query(); got.Get("error") != "connect_max_attempted_logins" || got.Get("state") != state || !strings.HasPrefix(loc.String(), e.app+"?") {
		t.Fatalf("after 5 failures: %s", loc)
	}
	if n := e.fake.logins.Load(); n != 5 {
		t.Fatalf("connector called %d times, want 5", n)
	}

	// A sixth POST, even with the right password, reaches no connector.
	b.postForm(e.srv.URL+"/connect/"+sid+"/credentials", url.Values{"username": {goodUser}, "password": {goodPassword}})
	if n := e.fake.logins.Load(); n != 5 {
		t.Errorf("connector called %d times after the session ended", n)
	}
	if b.last.StatusCode != http.StatusOK || b.page.Find("main").AttrOr("data-error", "") != "connect_max_attempted_logins" {
		t.Errorf("sixth POST: %d %s", b.last.StatusCode, b.text())
	}
	b.submit(`form[action$="/exit"] [type=submit]`, nil)
	if b.left().Query().Get("error") != "connect_max_attempted_logins" {
		t.Errorf("return from the failed view: %s", b.left())
	}
	if _, err := e.st.User(context.Background(), e.client.ID, "user-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user stored after failures: %v", err)
	}
	e.checkNoSecretsLogged(goodPassword, "wrong-1", "wrong-5")
}

func TestMFA(t *testing.T) {
	t.Run("right code", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
		login(b, mfaUser, goodPassword)
		code := b.page.Find(`input[name=code]`)
		if code.AttrOr("autocomplete", "") != "one-time-code" || code.AttrOr("inputmode", "") != "numeric" {
			t.Fatalf("code step: %s", b.text())
		}
		if !strings.Contains(b.text(), "Enter the code we texted to ***-***-1234") {
			t.Errorf("prompt missing: %s", b.text())
		}
		if s := e.session(b.sid()); strings.Contains(string(s.Pending), goodPassword) || s.Pending == nil {
			t.Error("pending login not sealed")
		}
		b.submit(`input[name=code]`, map[string]string{"code": "000000"})
		if b.alert() != "That code is not right. 2 tries left." {
			t.Errorf("wrong code alert = %q", b.alert())
		}
		b.submit(`input[name=code]`, map[string]string{"code": " " + goodCode + " "})
		if !strings.Contains(b.text(), "Connected to Pacific Gas and Electric as "+mfaUser) {
			t.Fatalf("after the right code: %s", b.text())
		}
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, user, err := e.auth.Exchange(context.Background(), e.client.ID, b.left().Query().Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := e.vault.Open(user.Credential, user.RowID)
		if err != nil || !strings.Contains(string(plain), `"password":"`+goodPassword+`"`) {
			t.Errorf("credential after MFA: %v", err)
		}
		e.checkNoSecretsLogged(goodCode)
	})
	t.Run("three wrong codes", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
		login(b, mfaUser, goodPassword)
		sid := b.sid()
		for i := 0; i < 3; i++ {
			b.submit(`input[name=code]`, map[string]string{"code": "99999" + string(rune('0'+i))})
		}
		if !b.has(`input[name=password]`) || !strings.Contains(b.alert(), "4 attempts left") {
			t.Fatalf("after 3 wrong codes: %s", b.text())
		}
		s := e.session(sid)
		if s.Step != store.StepCredentials || s.Pending != nil || s.LoginAttempts != 1 || s.MFAAttempts != 0 {
			t.Errorf("session: step %s pending %d attempts %d mfa %d", s.Step, len(s.Pending), s.LoginAttempts, s.MFAAttempts)
		}
		// A code POST after the challenge was dropped reaches no connector.
		b.postForm(e.srv.URL+"/connect/"+sid+"/mfa", url.Values{"code": {goodCode}})
		if n := e.fake.codes.Load(); n != 3 {
			t.Errorf("SubmitMFA called %d times, want 3", n)
		}
	})
	t.Run("connector without MFA", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "nomfa")
		login(b, "someone", "password")
		if b.last.StatusCode != http.StatusOK || !b.has(`form[action$="/retry"]`) {
			t.Errorf("challenge from a connector without MFA: %d %s", b.last.StatusCode, b.text())
		}
	})
}

func TestUnavailableUtilityIsRetryable(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
	login(b, downUser, "whatever")
	if !strings.Contains(b.alert(), "could not reach Pacific Gas and Electric") {
		t.Fatalf("down utility: %s", b.text())
	}
	if s := e.session(b.sid()); s.LoginAttempts != 0 {
		t.Errorf("an unavailable utility counted as a failed login (%d)", s.LoginAttempts)
	}
	b.submit(`form[action$="/retry"] [type=submit]`, nil)
	login(b, goodUser, goodPassword)
	if !b.has(`form[action$="/continue"]`) {
		t.Fatalf("retry after outage: %s", b.text())
	}
}

func TestUnsupportedUtilityEndsTheFlow(t *testing.T) {
	for _, slug := range []string{"coned", "ghost-power"} {
		t.Run(slug, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s t")), slug)
			login(b, "someone@example.com", "their-secret-password")
			loc := b.left()
			if q := loc.Query(); q.Get("error") != "unavailable_utility_credentials_submitted" || q.Get("state") != "s t" {
				t.Fatalf("redirected to %s", loc)
			}
			if _, err := e.st.User(context.Background(), e.client.ID, "user-1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a user was stored: %v", err)
			}
			if n := e.fake.logins.Load(); n != 0 {
				t.Errorf("connector called %d times", n)
			}
			e.checkNoSecretsLogged("their-secret-password")
		})
	}
}

func TestExitFromEveryStep(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name string
		walk func(b *browser)
	}{
		{"terms", func(b *browser) {}},
		{"utility", func(b *browser) { b.submit(`form[action$="/terms"] [type=submit]`, nil) }},
		{"credentials", func(b *browser) {
			b.submit(`form[action$="/terms"] [type=submit]`, nil)
			b.submit(`[name=utility_slug][value=pge]`, nil)
		}},
		{"mfa", func(b *browser) {
			b.submit(`form[action$="/terms"] [type=submit]`, nil)
			b.submit(`[name=utility_slug][value=pge]`, nil)
			login(b, mfaUser, goodPassword)
		}},
		{"confirmation", func(b *browser) {
			b.submit(`form[action$="/terms"] [type=submit]`, nil)
			b.submit(`[name=utility_slug][value=pge]`, nil)
			login(b, goodUser, goodPassword)
		}},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			b := e.browser()
			b.get(e.startURL(e.token("exit-user-"+string(rune('a'+i)), 0), e.app, ptr("é")))
			st.walk(b)
			sid := b.sid()
			b.submit(`form[action$="/exit"] [type=submit]`, nil)
			loc := b.left()
			if loc.String() != e.app+"?error=user_initiated_exit&state=%C3%A9" {
				t.Errorf("exit redirected to %s", loc)
			}
			if s := e.session(sid); s.Step != store.StepFailed || s.Outcome != "user_initiated_exit" || s.Pending != nil {
				t.Errorf("session after exit: %s %s", s.Step, s.Outcome)
			}
		})
	}
}

// A raw ';' in state (url.ParseQuery would drop the pair) comes back intact.
func TestStateWithRawSemicolon(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.srv.URL + "/?connect_token=" + e.token("user-1", 0) + "&redirect_uri=" + url.QueryEscape(e.app) + "&state=a;b=c")
	b.submit(`form[action$="/exit"] [type=submit]`, nil)
	if got := b.left().Query().Get("state"); got != "a;b=c" {
		t.Errorf("state = %q, want %q", got, "a;b=c")
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
	sid := b.sid()
	for name, h := range map[string]http.Header{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": {"same-site"}},
		"Origin of another site":    {"Origin": {"https://evil.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			b.header = h
			defer func() { b.header = http.Header{} }()
			for _, action := range []string{"credentials", "exit", "back"} {
				b.postForm(e.srv.URL+"/connect/"+sid+"/"+action, url.Values{"username": {goodUser}, "password": {goodPassword}})
				if b.last.StatusCode != http.StatusForbidden || b.last.Header.Get("Location") != "" {
					t.Errorf("%s: status %d", action, b.last.StatusCode)
				}
			}
		})
	}
	if n := e.fake.logins.Load(); n != 0 {
		t.Errorf("a cross-site POST reached the connector %d times", n)
	}
	if s := e.session(sid); s.Step != store.StepCredentials {
		t.Errorf("a cross-site POST changed the step to %s", s.Step)
	}
	// The same POST from the page itself goes through.
	b.header = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.srv.URL}}
	b.get(e.srv.URL + "/connect/" + sid)
	login(b, goodUser, goodPassword)
	if !b.has(`form[action$="/continue"]`) {
		t.Errorf("same-origin POST: %d %s", b.last.StatusCode, b.text())
	}
}

func TestSessionNeedsItsCookie(t *testing.T) {
	e := newEnv(t)
	owner := e.browser()
	walkToCredentials(t, owner, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
	sid := owner.sid()
	page := e.srv.URL + "/connect/" + sid
	pageURL, _ := url.Parse(page)

	stranger := e.browser()
	forged := e.browser()
	forged.jar.SetCookies(pageURL, []*http.Cookie{{Name: "gl_connect_" + sid, Value: "forged-secret-value", Path: "/"}})
	other := e.browser() // holds a cookie of another session
	other.get(e.startURL(e.token("user-2", 0), e.app, nil))
	otherCookie := other.jar.Cookies(pageURL)
	if len(otherCookie) != 1 {
		t.Fatalf("other browser cookies: %d", len(otherCookie))
	}
	other.jar.SetCookies(pageURL, []*http.Cookie{{Name: "gl_connect_" + sid, Value: otherCookie[0].Value, Path: "/"}})

	for name, b := range map[string]*browser{"no cookie": stranger, "forged cookie": forged, "another session's cookie": other} {
		t.Run(name, func(t *testing.T) {
			b.get(page)
			if b.last.StatusCode != http.StatusNotFound || !strings.Contains(b.text(), "Session not found") {
				t.Errorf("GET: %d %s", b.last.StatusCode, b.text())
			}
			b.postForm(page+"/credentials", url.Values{"username": {goodUser}, "password": {goodPassword}})
			if b.last.StatusCode != http.StatusNotFound {
				t.Errorf("POST: %d", b.last.StatusCode)
			}
		})
	}
	for _, bad := range []string{"/connect/short", "/connect/" + strings.Repeat("A", 22), "/connect/" + sid + "x"} {
		owner.get(e.srv.URL + bad)
		if owner.last.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", bad, owner.last.StatusCode)
		}
	}
	if n := e.fake.logins.Load(); n != 0 {
		t.Errorf("connector called %d times without the session cookie", n)
	}
}

func TestTokenCompletesOnlyOnce(t *testing.T) {
	e := newEnv(t)
	tok := e.token("user-1", 0)
	first, second := e.browser(), e.browser()
	walkToCredentials(t, first, e.startURL(tok, e.app, ptr("1")), "pge")
	walkToCredentials(t, second, e.startURL(tok, e.app, ptr("2")), "pge")
	login(first, goodUser, goodPassword)
	if !first.has(`form[action$="/continue"]`) {
		t.Fatalf("first: %s", first.text())
	}
	login(second, goodUser, goodPassword)
	if second.has(`form[action$="/continue"]`) || !strings.Contains(second.text(), "already used") {
		t.Fatalf("second completion with the same token: %s", second.text())
	}
	second.submit(`form[action$="/exit"] [type=submit]`, nil)
	if second.left().Query().Get("error") != "connect_token_invalid" {
		t.Errorf("return after the refused completion: %s", second.left())
	}
	first.submit(`form[action$="/continue"] [type=submit]`, nil)
	if _, _, err := e.auth.Exchange(context.Background(), e.client.ID, first.left().Query().Get("code")); err != nil {
		t.Errorf("the first code no longer works: %v", err)
	}
	// A fresh session from the used token gets as far as the login and no further.
	third := e.browser()
	walkToCredentials(t, third, e.startURL(tok, e.app, nil), "pge")
	login(third, goodUser, goodPassword)
	if !strings.Contains(third.text(), "already used") {
		t.Errorf("third: %s", third.text())
	}
}

func TestTwoTokensForOneNewUserShareTheRow(t *testing.T) {
	e := newEnv(t)
	a, b := e.browser(), e.browser()
	walkToCredentials(t, a, e.startURL(e.token("user-1", 0), e.app, nil), "pge")
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "pge")
	login(a, goodUser, goodPassword)
	login(b, customUser, "another-password")
	if !a.has(`form[action$="/continue"]`) || !b.has(`form[action$="/continue"]`) {
		t.Fatalf("a: %s / b: %s", a.text(), b.text())
	}
	a.submit(`form[action$="/continue"] [type=submit]`, nil)
	b.submit(`form[action$="/continue"] [type=submit]`, nil)
	ctx := context.Background()
	_, ua, errA := e.auth.Exchange(ctx, e.client.ID, a.left().Query().Get("code"))
	_, ub, errB := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
	if errA != nil || errB != nil || ua.RowID != ub.RowID || ub.UtilityUsername != customUser {
		t.Errorf("exchanges: %v %v, rows %s %s", errA, errB, ua.RowID, ub.RowID)
	}
}

func TestFailedLoginLimitAcrossSessions(t *testing.T) {
	e := newEnv(t, envOptions{limit: LoginLimit{Max: 3, Window: time.Hour}})
	b1, b2 := e.browser(), e.browser()
	walkToCredentials(t, b1, e.startURL(e.token("user-1", 0), e.app, nil), "pge")
	walkToCredentials(t, b2, e.startURL(e.token("user-2", 0), e.app, nil), "pge")
	login(b1, goodUser, "wrong-1")
	b1.submit(`form[action$="/retry"] [type=submit]`, nil)
	login(b1, goodUser, "wrong-2")
	login(b2, goodUser, "wrong-3")
	b2.submit(`form[action$="/retry"] [type=submit]`, nil)
	calls := e.fake.logins.Load()

	login(b2, goodUser, goodPassword)
	if got := b2.alert(); got != "Too many failed attempts from your network; try again later." {
		t.Fatalf("over the limit: alert %q, page %s", got, b2.text())
	}
	if e.fake.logins.Load() != calls {
		t.Fatal("the connector was called beyond the limit")
	}
	if s := e.session(b2.sid()); s.LoginAttempts != 1 {
		t.Errorf("a refused attempt counted in the session: %d", s.LoginAttempts)
	}
	// The allowance refills with time (3 per hour: one every 20 minutes).
	e.clock.Advance(21 * time.Minute)
	b2.submit(`form[action$="/retry"] [type=submit]`, nil)
	login(b2, goodUser, goodPassword)
	if !b2.has(`form[action$="/continue"]`) {
		t.Fatalf("after the window: %s", b2.text())
	}
}

func TestExpiredSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("s")), "pge")
	sid := b.sid()
	e.clock.Advance(gridlink.ConnectTokenTTL)
	b.get(e.srv.URL + "/connect/" + sid)
	if !strings.Contains(b.text(), "expired") || b.has(`input[name=password]`) {
		t.Fatalf("expired session: %s", b.text())
	}
	b.postForm(e.srv.URL+"/connect/"+sid+"/credentials", url.Values{"username": {goodUser}, "password": {goodPassword}})
	if n := e.fake.logins.Load(); n != 0 {
		t.Errorf("connector called on an expired session")
	}
	b.submit(`form[action$="/exit"] [type=submit]`, nil)
	if q := b.left().Query(); q.Get("error") != "connect_token_invalid" || q.Get("state") != "s" {
		t.Errorf("return from an expired session: %s", b.left())
	}
}

func TestBadInputIsRefusedWithoutServerError(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "pge")
	sid := b.sid()
	post := e.srv.URL + "/connect/" + sid + "/credentials"
	tests := []struct {
		name string
		form url.Values
	}{
		{"empty", url.Values{}},
		{"long username", url.Values{"username": {strings.Repeat("u", maxUsername+1)}, "password": {"p"}}},
		{"long password", url.Values{"username": {"u"}, "password": {strings.Repeat("p", maxPassword+1)}}},
		{"invalid UTF-8", url.Values{"username": {"\xff\xfe"}, "password": {"p"}}},
		{"NUL", url.Values{"username": {"a\x00b"}, "password": {"p"}}},
	}
	for _, tc := range tests {
		b.postForm(post, tc.form)
		if b.last.StatusCode != http.StatusBadRequest || b.alert() == "" || !b.has(`input[name=password]`) {
			t.Errorf("%s: %d alert %q", tc.name, b.last.StatusCode, b.alert())
		}
	}
	// Typed username is kept after a validation error; the password is not.
	b.postForm(post, url.Values{"username": {"kept@example.com"}, "password": {strings.Repeat("p", maxPassword+1)}})
	if got := b.page.Find(`input[name=username]`).AttrOr("value", ""); got != "kept@example.com" {
		t.Errorf("username field = %q", got)
	}
	if b.page.Find(`input[name=password]`).AttrOr("value", "") != "" {
		t.Error("the password was echoed into the page")
	}
	// A body over 1 MiB.
	big := url.Values{"username": {"u"}, "password": {strings.Repeat("x", maxBody+10)}}
	b.postForm(post, big)
	if b.last.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized body: %d", b.last.StatusCode)
	}
	if n := e.fake.logins.Load(); n != 0 {
		t.Errorf("connector called %d times for invalid input", n)
	}
}

func TestEmbeddedModeShowsTheCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.fa = "https://app.example http://localhost:*"
	walkToCredentials(t, b, e.startURL(e.token("user-1", 0), "", nil), "pge")
	if s := e.session(b.sid()); !s.Embedded || s.RedirectURI != "" {
		t.Fatalf("session: embedded %v redirect %q", s.Embedded, s.RedirectURI)
	}
	login(b, goodUser, goodPassword)
	code := b.page.Find("[data-code]").AttrOr("data-code", "")
	if code == "" || b.has(`form[action$="/continue"]`) {
		t.Fatalf("embedded confirmation: %s", b.text())
	}
	e.secrets = append(e.secrets, code)
	if _, _, err := e.auth.Exchange(context.Background(), e.client.ID, code); err != nil {
		t.Errorf("exchange the embedded code: %v", err)
	}
	e.checkNoSecretsLogged()
}

func TestSecureCookies(t *testing.T) {
	e := newEnv(t, envOptions{secure: true})
	b := e.browser()
	start := e.startURL(e.token("user-1", 0), e.app, nil)
	b.get(start)
	c := b.chain[0].Cookies()
	if len(c) != 1 || c[0].Name != "__Host-gl_connect_"+b.sid() || !c[0].Secure {
		t.Fatalf("cookies over TLS: %v", c)
	}
	walkToCredentials(t, b, start, "pge")
	login(b, goodUser, goodPassword)
	if !b.has(`form[action$="/continue"]`) {
		t.Fatalf("over TLS: %s", b.text())
	}
}

func TestStaticStylesheet(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.srv.URL + "/connect/static/connect.css")
	if b.last.StatusCode != http.StatusOK || !strings.HasPrefix(b.last.Header.Get("Content-Type"), "text/css") ||
		b.last.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(b.body, ":focus-visible") {
		t.Errorf("stylesheet: %d %q", b.last.StatusCode, b.last.Header.Get("Content-Type"))
	}
	b.get(e.srv.URL + "/connect/static/")
	if b.last.StatusCode != http.StatusNotFound {
		t.Errorf("static directory listing: %d", b.last.StatusCode)
	}
}
