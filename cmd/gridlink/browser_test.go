package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/testenv"
)

// newChrome starts headless Chromium as this machine requires it.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	path := testenv.Browser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(414, 896), // a phone screen
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first call starts the browser, which lives as long as ctx: no
	// timeout on it; the steps run under a derived deadline.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	steps, cancelSteps := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelSteps(); cancelCtx(); cancelAlloc() })
	return steps
}

// callbackApp plays the developer's app: it records what hosted Connect
// sends to its redirect URI.
type callbackApp struct {
	*httptest.Server
	mu   sync.Mutex
	hits []url.Values
}

func newCallbackApp(t *testing.T) *callbackApp {
	a := &callbackApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" { // e.g. the browser's /favicon.ico
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		a.hits = append(a.hits, r.URL.Query())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>Acme app</title><h1 id="landed">Back in the app</h1>`))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *callbackApp) last() url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.hits) == 0 {
		return nil
	}
	return a.hits[len(a.hits)-1]
}

// TestBrowserRedirectFlow drives headless Chromium through hosted Connect in
// redirect mode: create mode with one wrong password then the right one, and
// the MFA user; then it calls the API with the resulting tokens.
func TestBrowserRedirectFlow(t *testing.T) {
	ctx := newChrome(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "gridlink.db")
	app := newCallbackApp(t)
	redirect := app.URL + "/callback"
	var out, errOut syncBuffer
	if code := run(t.Context(), []string{"clients", "create", "--database", db, "--name", "Acme Solar", "--redirect-uri", redirect, "--json"}, noEnv, &out, &errOut); code != 0 {
		t.Fatalf("clients create: %s", errOut.String())
	}
	var creds map[string]string
	json.Unmarshal([]byte(out.String()), &creds)
	hdr := map[string]string{"Pelm-Client-Id": creds["client_id"], "Pelm-Secret": creds["client_secret"]}
	out = syncBuffer{}
	run(t.Context(), []string{"keys", "generate"}, noEnv, &out, &errOut)
	srv := startServe(t, map[string]string{"GRIDLINK_MASTER_KEY": strings.TrimSpace(out.String())}, "--database", db)

	connectURL := func(userID, utility, state string) string {
		form := url.Values{"user_id": {userID}}
		if utility != "" {
			form.Set("utility_slug", utility)
		}
		var ct struct {
			ConnectToken string `json:"connect_token"`
		}
		if c, _ := apiCall(t, "POST", srv.base+"/auth/connect-token", hdr, form, &ct); c != 200 {
			t.Fatalf("connect-token: %d", c)
		}
		return srv.base + "/?" + url.Values{"redirect_uri": {redirect}, "connect_token": {ct.ConnectToken}, "state": {state}}.Encode()
	}
	exchange := func(q url.Values) map[string]string {
		t.Helper()
		if q == nil || q.Get("code") == "" {
			t.Fatalf("the app received no code: %v", q)
		}
		var tok map[string]any
		if c, _ := apiCall(t, "POST", srv.base+"/auth/token", hdr, url.Values{"code": {q.Get("code")}}, &tok); c != 200 {
			t.Fatalf("exchange: %d %v", c, tok)
		}
		h := map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}
		for k, v := range hdr {
			h[k] = v
		}
		return h
	}
	shot := func(name string) {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(testenv.ArtifactDir(t), name+".png"), png, 0o644)
		}
	}

	// Create mode: terms, search and pick PG&E, a wrong password, then the right one.
	C := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	step := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot(name + "-failed")
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

	step("terms", chromedp.Navigate(connectURL("browser-user-1", "", "st-1")), chromedp.WaitVisible(C(terms)))
	if body := text("body"); !strings.Contains(body, "Acme Solar") {
		t.Fatalf("terms screen does not name the client: %q", body)
	}
	shot("1-terms")
	step("utility search",
		chromedp.Click(C(terms)),
		chromedp.WaitVisible(C(`input[name=q]`)),
		chromedp.SendKeys(C(`input[name=q]`), "Pacific Gas"),
		chromedp.Submit(C(`input[name=q]`)),
		chromedp.WaitVisible(C(`[name=utility_slug][value=pge]`)),
	)
	shot("2-utility")
	step("wrong password",
		chromedp.Click(C(`[name=utility_slug][value=pge]`)),
		chromedp.WaitVisible(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), "user@pelm.com"),
		chromedp.SendKeys(C(`input[name=password]`), "not-the-password"),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(`[role=alert]`)),
	)
	shot("3-wrong-password")
	if msg := text(`[role=alert]`); !strings.Contains(strings.ToLower(msg), "incorrect") {
		t.Errorf("error view says %q, want it to say the login is incorrect", msg)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action$="/retry"] [type=submit]').length`)); n > 0 {
		step("try again", chromedp.Click(C(`form[action$="/retry"] [type=submit]`)), chromedp.WaitVisible(C(`input[name=username]`)))
	}
	step("right password",
		chromedp.Clear(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), "user@pelm.com"),
		chromedp.SendKeys(C(`input[name=password]`), "password"),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(cont)),
	)
	shot("4-confirmation")
	step("continue to the app", chromedp.Click(C(cont)), chromedp.WaitVisible(C(`#landed`)))
	landed, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(landed, redirect+"?") || app.last().Get("state") != "st-1" {
		t.Fatalf("landed on %s with %v", landed, app.last())
	}
	user := exchange(app.last())
	accts := pollAccounts(t, srv.base, user, 60*time.Second)
	ids := []string{}
	for _, a := range accts {
		ids = append(ids, a["id"].(string))
	}
	if strings.Join(ids, ",") != "ea100000-0000-0000-0000-000000000000,ea200000-0000-0000-0000-000000000000" {
		t.Fatalf("sandbox accounts = %v", ids)
	}
	var u map[string]any
	if c, _ := apiCall(t, "GET", srv.base+"/users/browser-user-1", user, nil, &u); c != 200 || u["utility_username"] != "user@pelm.com" || u["credentials_valid"] != true {
		t.Fatalf("user = %d %v", c, u)
	}

	// The MFA user on the sandbox utility (named by the token: no selection).
	step("MFA user to the code screen",
		chromedp.Navigate(connectURL("browser-user-2", "sandbox", "st-2")),
		chromedp.WaitVisible(C(terms)),
		chromedp.Click(C(terms)),
		chromedp.WaitVisible(C(`input[name=username]`)),
		chromedp.SendKeys(C(`input[name=username]`), "mfa@sandbox.test"),
		chromedp.SendKeys(C(`input[name=password]`), "password"),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(`input[name=code]`)),
	)
	if ac, _ := chromedp.Run(ctx, chromedp.AttributeValue(C(`input[name=code]`), "autocomplete")); ac.Value != "one-time-code" {
		t.Errorf("code input autocomplete = %q", ac.Value)
	}
	shot("5-mfa")
	step("MFA code",
		chromedp.SendKeys(C(`input[name=code]`), "123456"),
		chromedp.Submit(C(`input[name=code]`)),
		chromedp.WaitVisible(C(cont)),
		chromedp.Click(C(cont)),
		chromedp.WaitVisible(C(`#landed`)),
	)
	if app.last().Get("state") != "st-2" {
		t.Fatalf("MFA flow returned %v", app.last())
	}
	user2 := exchange(app.last())
	if accts := pollAccounts(t, srv.base, user2, 60*time.Second); len(accts) == 0 {
		t.Fatal("MFA user has no accounts")
	}
	if c, _ := apiCall(t, "GET", srv.base+"/users/browser-user-2", user2, nil, &u); c != 200 || u["utility_username"] != "mfa@sandbox.test" {
		t.Fatalf("MFA user = %d %v", c, u)
	}
}
