package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/demoutility"
	"github.com/gridlink/gridlink/internal/testenv"
)

// devServer is a `gridlink dev` run in-process, with its demo utility.
type devServer struct {
	base string // gridlink, http://127.0.0.1:PORT
	demo string // Demo Power & Light, as the banner names it
	hdr  map[string]string
	logs *syncBuffer
}

// startDev runs `gridlink dev` on random loopback ports (its demo utility
// included) with a fresh data directory, until the test ends.
func startDev(t *testing.T) *devServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	port := freePort(t)
	args := []string{"dev", "--addr", "127.0.0.1:" + port, "--data-dir", filepath.Join(t.TempDir(), "data"), "--demo-utility-addr", "127.0.0.1:0"}
	go func() { done <- run(ctx, args, noEnv, out, logs) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "/admin") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("gridlink dev exited with %d:\n%s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("gridlink dev printed no banner:\n%s\n%s", out.String(), logs.String())
		}
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("gridlink dev exited with %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("gridlink dev did not stop within 30 s")
		}
		if t.Failed() {
			t.Logf("gridlink dev log (end):\n%s", tailOf(logs.String(), 8000))
		}
	})
	banner := out.String()
	id := regexp.MustCompile(`client_id:\s+(\S+)`).FindStringSubmatch(banner)
	secret := regexp.MustCompile(`client_secret:\s+(\S+)`).FindStringSubmatch(banner)
	demo := regexp.MustCompile(`Demo Power & Light, a demo utility website with one-time codes, runs at (http://\S+)`).FindStringSubmatch(banner)
	if id == nil || secret == nil || demo == nil {
		t.Fatalf("banner lacks the client or the demo utility:\n%s", banner)
	}
	for _, want := range []string{"alice / alice-password", "bob / bob-password", "carol / carol-password", demo[1] + "/outbox", "gbuser1", "gbuser1-password", "/demo-greenbutton/", "http://localhost:" + port + "/demo"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	return &devServer{
		base: "http://127.0.0.1:" + port, demo: demo[1], logs: logs,
		hdr: map[string]string{"Pelm-Client-Id": id[1], "Pelm-Secret": secret[1]},
	}
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// connectURL returns the hosted Connect URL for a new connect token of
// userID, returning to gridlink dev's callback page.
func (d *devServer) connectURL(t *testing.T, userID, utilitySlug string) string {
	t.Helper()
	form := url.Values{"user_id": {userID}}
	if utilitySlug != "" {
		form.Set("utility_slug", utilitySlug)
	}
	var ct struct {
		ConnectToken string `json:"connect_token"`
	}
	if c, _ := apiCall(t, "POST", d.base+"/auth/connect-token", d.hdr, form, &ct); c != 200 || ct.ConnectToken == "" {
		t.Fatalf("connect-token: %d", c)
	}
	return d.base + "/?" + url.Values{"redirect_uri": {d.base + "/dev/callback"}, "connect_token": {ct.ConnectToken}}.Encode()
}

// exchange redeems a code and returns the headers of API calls as the user.
func (d *devServer) exchange(t *testing.T, code string) map[string]string {
	t.Helper()
	var tok map[string]any
	if c, _ := apiCall(t, "POST", d.base+"/auth/token", d.hdr, url.Values{"code": {code}}, &tok); c != 200 {
		t.Fatalf("exchange: %d %v", c, tok)
	}
	h := map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}
	for k, v := range d.hdr {
		h[k] = v
	}
	return h
}

// outbox reads the demo utility's /outbox page: the messages sent to user,
// newest first, as channel and code.
func (d *devServer) outbox(t *testing.T, user string) [][2]string {
	t.Helper()
	resp, err := http.Get(d.demo + "/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("outbox: %d %v", resp.StatusCode, err)
	}
	var out [][2]string
	doc.Find(`li.message[data-user="` + user + `"]`).Each(func(_ int, m *goquery.Selection) {
		out = append(out, [2]string{m.AttrOr("data-channel", ""), strings.TrimSpace(m.Find(".code").Text())})
	})
	return out
}

// admin posts an action of the demo utility's /admin page.
func (d *devServer) admin(t *testing.T, form url.Values) {
	t.Helper()
	resp, err := http.PostForm(d.demo+"/admin", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 { // after the 303 back to /admin
		t.Fatalf("admin %v: %d", form, resp.StatusCode)
	}
}

// userState is what GET /users/{id} says about freshness.
type userState struct {
	CredentialsValid bool `json:"credentials_valid"`
	Sync             *struct {
		Status        string  `json:"status"`
		LastSuccessAt *int64  `json:"last_success_at"`
		ErrorCode     *string `json:"error_code"`
	} `json:"sync"`
}

func (u userState) status() string {
	if u.Sync == nil {
		return ""
	}
	return u.Sync.Status
}

func (u userState) lastSuccess() int64 {
	if u.Sync == nil || u.Sync.LastSuccessAt == nil {
		return 0
	}
	return *u.Sync.LastSuccessAt
}

func (u userState) errorCode() string {
	if u.Sync == nil || u.Sync.ErrorCode == nil {
		return ""
	}
	return *u.Sync.ErrorCode
}

// waitUser polls GET /users/{id} until cond holds (up to two minutes).
func (d *devServer) waitUser(t *testing.T, hdr map[string]string, userID, what string, cond func(userState) bool) userState {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var u userState
		if c, _ := apiCall(t, "GET", d.base+"/users/"+userID, hdr, nil, &u); c != 200 {
			t.Fatalf("GET /users/%s: %d", userID, c)
		}
		if cond(u) {
			return u
		}
		if time.Now().After(deadline) {
			raw, _ := json.Marshal(u)
			t.Fatalf("%s: user %s is still %s", what, userID, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// refresh asks for a sync now; false when this build has no
// POST /users/{id}/refresh.
func (d *devServer) refresh(t *testing.T, hdr map[string]string, userID string) bool {
	t.Helper()
	var body map[string]any
	c, _ := apiCall(t, "POST", d.base+"/users/"+userID+"/refresh", hdr, url.Values{}, &body)
	if c == http.StatusNotFound {
		return false
	}
	if c != http.StatusAccepted {
		t.Fatalf("refresh %s: %d %v", userID, c, body)
	}
	return true
}

// TestBrowserDemoPower walks hosted Connect through Demo Power & Light in
// headless Chromium, as gridlink dev serves it: carol chooses to get her
// code by e-mail, bob gets his by text; each code is read from the demo
// utility's /outbox page. The codes are exchanged and the accounts read;
// then a second sync, after the site has signed everyone out, passes
// without a code thanks to the remembered device kept in the vault.
func TestBrowserDemoPower(t *testing.T) {
	ctx := newChrome(t)
	d := startDev(t)
	C := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(testenv.ArtifactDir(t), name+".png"), png, 0o644)
		}
	}
	step := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot("demo-power-" + name + "-failed")
			page, _ := chromedp.Run(ctx, chromedp.Text(C("body")))
			t.Fatalf("%s: %v\npage: %s", name, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(C(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	const terms, cont = `form[action$="/terms"] [type=submit]`, `form[action$="/continue"] [type=submit]`

	// codeFor reads the newest code of user from the outbox, sent by channel.
	codeFor := func(user, channel string) string {
		t.Helper()
		msgs := d.outbox(t, user)
		if len(msgs) == 0 || msgs[0][0] != channel || len(msgs[0][1]) != 6 {
			t.Fatalf("outbox for %s = %v, want a code by %s first", user, msgs, channel)
		}
		return msgs[0][1]
	}
	// finish enters the code, continues to the app and exchanges the code
	// the callback page received.
	finish := func(name, user, channel string) map[string]string {
		t.Helper()
		if ac, _ := chromedp.Run(ctx, chromedp.AttributeValue(C(`input[name=code]`), "autocomplete")); ac.Value != "one-time-code" {
			t.Errorf("code input autocomplete = %q", ac.Value)
		}
		step(name+" code",
			chromedp.SendKeys(C(`input[name=code]`), codeFor(user, channel)),
			chromedp.Submit(C(`input[name=code]`)),
			chromedp.WaitVisible(C(cont)),
		)
		if body := text("main"); !strings.Contains(body, "Connected to Demo Power & Light as "+user) {
			t.Errorf("confirmation says %q", body)
		}
		step(name+" continue", chromedp.Click(C(cont)))
		var loc string
		var err error
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(loc, "/dev/callback?"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not back in the app: at %q (%v)", name, loc, err)
			}
			loc, err = chromedp.Run(ctx, chromedp.Location()) // fails while the page changes
		}
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(loc)
		if err != nil || u.Path != "/dev/callback" || u.Query().Get("code") == "" {
			t.Fatalf("landed on %s", loc)
		}
		return d.exchange(t, u.Query().Get("code"))
	}

	// carol: the utility found by search, the choice of e-mail.
	step("carol to the credentials",
		chromedp.Navigate(d.connectURL(t, "carol-1", "")),
		chromedp.WaitVisible(C(terms)),
		chromedp.Click(C(terms)),
		chromedp.WaitVisible(C(`input[name=q]`)),
		chromedp.SendKeys(C(`input[name=q]`), "Demo Power"),
		chromedp.Submit(C(`input[name=q]`)),
		chromedp.WaitVisible(C(`[name=utility_slug][value=demo-power]`)),
		chromedp.Click(C(`[name=utility_slug][value=demo-power]`)),
		chromedp.WaitVisible(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), demoutility.Carol),
		chromedp.SendKeys(C(`input[name=password]`), demoutility.CarolPassword),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(`input[name=method][value=email]`)),
	)
	shot("demo-power-1-method-choice")
	if h := text("h1"); h != "How should Demo Power & Light send your verification code?" {
		t.Errorf("choice heading = %q", h)
	}
	if labels := text(`form[action$="/mfa-method"] fieldset`); !strings.Contains(labels, "Text message to (***) ***-0199") || !strings.Contains(labels, "E-mail to c****@example.com") {
		t.Errorf("choices shown: %q", labels)
	}
	if msgs := d.outbox(t, demoutility.Carol); len(msgs) != 0 {
		t.Fatalf("codes sent before carol chose how: %v", msgs)
	}
	step("carol chooses e-mail",
		chromedp.Click(C(`label[for=method-1]`)), // the label, as a person clicks
		chromedp.Click(C(`form[action$="/mfa-method"] [type=submit]`)),
		chromedp.WaitVisible(C(`input[name=code]`)),
	)
	shot("demo-power-2-code")
	if p := text("main"); !strings.Contains(p, "by e-mail to c****@example.com") {
		t.Errorf("code step says %q", p)
	}
	carol := finish("carol", demoutility.Carol, demoutility.MethodEmail)

	// bob: the utility named by the token, a code by text without a choice.
	step("bob to the code",
		chromedp.Navigate(d.connectURL(t, "bob-1", "demo-power")),
		chromedp.WaitVisible(C(terms)),
		chromedp.Click(C(terms)),
		chromedp.WaitVisible(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), demoutility.Bob),
		chromedp.SendKeys(C(`input[name=password]`), demoutility.BobPassword),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(`input[name=code]`)),
	)
	if p := text("main"); !strings.Contains(p, "by text message to (***) ***-0142") {
		t.Errorf("bob's code step says %q", p)
	}
	bob := finish("bob", demoutility.Bob, demoutility.MethodSMS)

	accounts := func(hdr map[string]string) []map[string]any { return pollAccounts(t, d.base, hdr, 2*time.Minute) }
	if n := len(accounts(bob)); n != 2 {
		t.Errorf("bob has %d accounts, want 2", n)
	}
	carolAccts := accounts(carol)
	types := map[string]bool{}
	for _, a := range carolAccts {
		meters, _ := a["meters"].([]any)
		for _, m := range meters {
			if mm, ok := m.(map[string]any); ok {
				types[mm["type"].(string)] = true
			}
		}
	}
	if len(carolAccts) != 3 || !types["ELECTRIC"] || !types["GAS"] {
		t.Errorf("carol has %d accounts with meter types %v, want 3 with gas and electric", len(carolAccts), types)
	}

	// The second sync: the site has signed everyone out, the stored
	// remembered device lets the connector sign in again without a code.
	first := d.waitUser(t, bob, "bob-1", "first sync", func(u userState) bool { return u.status() == "ok" && u.lastSuccess() > 0 })
	sent := len(d.outbox(t, demoutility.Bob))
	d.admin(t, url.Values{"action": {"expire-sessions"}})
	if !d.refresh(t, bob, "bob-1") {
		t.Log("POST /users/{id}/refresh is not in this build: the second sync is not checked")
		return
	}
	second := d.waitUser(t, bob, "bob-1", "second sync", func(u userState) bool {
		return u.lastSuccess() > first.lastSuccess() || u.status() == "needs_reauth" || u.status() == "failing"
	})
	if second.status() != "ok" || !second.CredentialsValid {
		t.Fatalf("second sync: status %q (%s), credentials valid %v", second.status(), second.errorCode(), second.CredentialsValid)
	}
	if n := len(d.outbox(t, demoutility.Bob)); n != sent {
		t.Errorf("the second sync had %d more codes sent to bob", n-sent)
	}
	if n := len(accounts(bob)); n != 2 {
		t.Errorf("after the second sync bob has %d accounts", n)
	}
}

// TestDemoPowerFailureModes connects Demo Power & Light users through the
// Connect pages without JavaScript, then breaks the site on purpose and
// watches the API's sync status: a redesign is layout_changed (failing,
// retried, the stored data kept), a password changed on the site is
// needs_reauth with credentials_valid false.
func TestDemoPowerFailureModes(t *testing.T) {
	d := startDev(t)
	connectAlice := func(userID string) map[string]string {
		t.Helper()
		b := newBrowser(t, d.base)
		b.get(d.connectURL(t, userID, "demo-power"))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		b.submit(`input[name=username]`, map[string]string{"username": demoutility.Alice, "password": demoutility.AlicePassword})
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		if b.url.Path != "/dev/callback" || b.url.Query().Get("code") == "" {
			t.Fatalf("alice (%s) not connected: %s %s", userID, b.url, b.text())
		}
		return d.exchange(t, b.url.Query().Get("code"))
	}
	layout, reauth := connectAlice("alice-layout"), connectAlice("alice-reauth")
	for _, u := range []struct {
		id  string
		hdr map[string]string
	}{{"alice-layout", layout}, {"alice-reauth", reauth}} {
		if n := len(pollAccounts(t, d.base, u.hdr, 2*time.Minute)); n != 1 {
			t.Fatalf("%s has %d accounts, want 1", u.id, n)
		}
		d.waitUser(t, u.hdr, u.id, "first sync", func(s userState) bool { return s.status() == "ok" })
	}

	t.Run("redesign: layout_changed", func(t *testing.T) {
		d.admin(t, url.Values{"action": {"save"}, "flaky": {"0"}, "redesign": {"1"}, "rate_requests": {"300"}, "rate_window": {"60"}})
		defer d.admin(t, url.Values{"action": {"save"}, "flaky": {"0"}, "rate_requests": {"300"}, "rate_window": {"60"}})
		if !d.refresh(t, layout, "alice-layout") {
			t.Skip("POST /users/{id}/refresh is not in this build")
		}
		u := d.waitUser(t, layout, "alice-layout", "sync after the redesign", func(s userState) bool { return s.status() == "failing" })
		if u.errorCode() != "layout_changed" || !u.CredentialsValid {
			t.Errorf("after the redesign: status %q, error_code %q, credentials valid %v", u.status(), u.errorCode(), u.CredentialsValid)
		}
		if n := len(pollAccounts(t, d.base, layout, time.Minute)); n != 1 {
			t.Errorf("the stored data changed: %d accounts", n)
		}
		if !strings.Contains(d.logs.String(), "layout changed") {
			t.Error("no alert about the changed layout in the log")
		}
	})

	t.Run("password changed on the site: needs_reauth", func(t *testing.T) {
		// alice changes her password on the utility's website.
		site := newBrowser(t, d.demo)
		site.get(d.demo + "/login")
		site.submit(`#login-form [type=submit]`, map[string]string{"username": demoutility.Alice, "password": demoutility.AlicePassword})
		site.get(d.demo + "/profile/password")
		site.submit(`#password-form [type=submit]`, map[string]string{
			"current_password": demoutility.AlicePassword, "new_password": "a-new-password-1", "confirm_password": "a-new-password-1",
		})
		if !strings.Contains(site.text(), "Your password has been changed") {
			t.Fatalf("password change on the site: %s", site.text())
		}
		defer d.admin(t, url.Values{"action": {"reset-passwords"}})
		if !d.refresh(t, reauth, "alice-reauth") {
			t.Skip("POST /users/{id}/refresh is not in this build")
		}
		u := d.waitUser(t, reauth, "alice-reauth", "sync after the password change", func(s userState) bool { return !s.CredentialsValid })
		if u.status() != "needs_reauth" || u.errorCode() != "bad_credentials" {
			t.Errorf("after the password change: status %q, error_code %q", u.status(), u.errorCode())
		}
	})
}

// TestServeDemoUtilityURL: serve lists Demo Power & Light as supported only
// with --demo-utility-url; without it the utility behaves as any
// unsupported one.
func TestServeDemoUtilityURL(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	// The standalone demo utility; GRIDLINK_ADDR, gridlink's own address,
	// must not move it.
	go func() {
		done <- run(ctx, []string{"demo-utility"}, func(k string) string {
			return map[string]string{"GRIDLINK_ADDR": "127.0.0.1:1", demoUtilityAddrEnv: "127.0.0.1:0"}[k]
		}, out, logs)
	}()
	re := regexp.MustCompile(`is running at (http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for re.FindStringSubmatch(out.String()) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("demo-utility printed no address:\n%s\n%s", out.String(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	demo := re.FindStringSubmatch(out.String())[1]
	if resp, err := http.Get(demo + "/login"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("demo utility /login: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	dir := t.TempDir()
	_, key, _ := runCmd(t, nil, "keys", "generate")
	env := map[string]string{"GRIDLINK_MASTER_KEY": strings.TrimSpace(key)}
	supported := func(base string) bool {
		var us []struct {
			Slug      string `json:"slug"`
			Supported bool   `json:"supported"`
		}
		if c, _ := apiCall(t, "GET", base+"/utilities?q=demo+power", nil, nil, &us); c != 200 || len(us) == 0 || us[0].Slug != "demo-power" {
			t.Fatalf("GET /utilities?q=demo power = %d %v", c, us)
		}
		return us[0].Supported
	}

	without := startServe(t, env, "--database", filepath.Join(dir, "a.db"))
	if supported(without.base) {
		t.Error("demo-power is supported without --demo-utility-url")
	}
	code, stdout, _ := runCmd(t, nil, "clients", "create", "--database", filepath.Join(dir, "a.db"), "--name", "Acme", "--redirect-uri", "https://app.example/cb", "--json")
	var creds map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &creds) != nil {
		t.Fatalf("clients create: %d %s", code, stdout)
	}
	var ct map[string]any
	apiCall(t, "POST", without.base+"/auth/connect-token", map[string]string{"Pelm-Client-Id": creds["client_id"], "Pelm-Secret": creds["client_secret"]},
		url.Values{"user_id": {"u1"}, "utility_slug": {"demo-power"}}, &ct)
	b := newBrowser(t, without.base)
	b.get(without.base + "/?" + url.Values{"redirect_uri": {"https://app.example/cb"}, "connect_token": {ct["connect_token"].(string)}}.Encode())
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	b.submit(`input[name=username]`, map[string]string{"username": demoutility.Alice, "password": demoutility.AlicePassword})
	// As for any unsupported utility: back to the app with the exit status.
	if loc := b.redirectedTo(); loc == nil || loc.Query().Get("error") != "unavailable_utility_credentials_submitted" {
		t.Errorf("credentials for demo-power without a connector: left Connect to %v (%s)", loc, b.text())
	}

	with := startServe(t, env, "--database", filepath.Join(dir, "b.db"), "--demo-utility-url", demo)
	if !supported(with.base) {
		t.Error("demo-power is not supported with --demo-utility-url")
	}
	for _, bad := range []string{"localhost:8090", "ftp://localhost:8090", "http://localhost:8090/x", "http://localhost:8090/?a=b", "http://u:p@localhost:8090"} {
		code, _, errOut := runCmd(t, env, "serve", "--database", filepath.Join(dir, "c.db"), "--addr", "127.0.0.1:0", "--demo-utility-url", bad)
		if code != 2 || !strings.Contains(errOut, "--demo-utility-url") {
			t.Errorf("--demo-utility-url %q: exit %d, %q", bad, code, errOut)
		}
	}

	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Errorf("demo-utility exited with %d:\n%s", c, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("demo-utility did not stop")
	}
}

func TestDevDemoUtilityAddr(t *testing.T) {
	for in, want := range map[string]string{
		":8080":           ":8090",
		"127.0.0.1:9000":  "127.0.0.1:9010",
		"127.0.0.1:0":     "127.0.0.1:0",
		"localhost:65530": "localhost:0",
		"nonsense":        defaultDemoUtilityAddr,
	} {
		if got := devDemoUtilityAddr(in); got != want {
			t.Errorf("devDemoUtilityAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
