package gbconnect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/espicustodian"
	"github.com/gridlink/gridlink/internal/testenv"
)

// TestBrowserAuthorization runs the customer's side in headless Chromium:
// the utility's login and consent pages (their CSP, cookie and forms) up
// to the redirect to gridlink's callback, then the code exchange and a
// fetch.
func TestBrowserAuthorization(t *testing.T) {
	path := testenv.Browser(t)

	// gridlink's callback, recording what the utility sends back.
	var mu sync.Mutex
	var got url.Values
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connect/oauth/callback" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>Connected</title><p id="done">Connected</p>`))
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/connect/oauth/callback"

	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cust, err := espicustodian.New(espicustodian.Config{
		Now:       clk.Now,
		Customers: espicustodian.DefaultCustomers()[2:], // gbuser3
		Clients:   []espicustodian.Client{{ID: clientID, Secret: clientSecret, Name: "gridlink", RedirectURIs: []string{redirect}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/demo-greenbutton/", http.StripPrefix("/demo-greenbutton", cust))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	conn, err := New(Config{
		Name: espicustodian.Name, AuthorizeURL: srv.URL + "/demo-greenbutton/oauth/authorize", TokenURL: srv.URL + "/demo-greenbutton/oauth/token",
		ClientID: clientID, ClientSecret: clientSecret, Scope: espicustodian.DefaultScope, HTTPClient: srv.Client(), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	authURL, err := conn.AuthorizeURL("state-from-connect", redirect)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, time.Minute)
	defer cancel()
	C := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	err = chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(C(`#username`)),
		chromedp.SendKeys(C(`#username`), "gbuser3"),
		chromedp.SendKeys(C(`#password`), "gbuser3-password"),
		chromedp.Click(C(`button[type=submit]`)),
		chromedp.WaitVisible(C(`button[value=authorize]`)),
	)
	if err != nil {
		t.Fatalf("browser, login: %v", err)
	}
	consentText, err := chromedp.Run(ctx, chromedp.Text(C(`body`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(C(`button[value=authorize]`)), chromedp.WaitVisible(C(`#done`))); err != nil {
		t.Fatalf("browser, consent: %v", err)
	}
	finalURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(consentText, "Share your energy data with gridlink") {
		t.Errorf("consent page says %q", consentText)
	}
	if !strings.HasPrefix(finalURL, redirect+"?") {
		t.Errorf("browser ended on %s, want the callback", finalURL)
	}
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "state-from-connect" || q.Get("code") == "" {
		t.Fatalf("callback got %v", q)
	}
	login, err := conn.CompleteOAuth(context.Background(), q.Get("code"), redirect)
	if err != nil {
		t.Fatalf("complete oauth: %v", err)
	}
	e := &env{conn: conn, clock: clk}
	data, err := e.fetch(login.Session, time.Time{})
	if err != nil || len(data.Accounts) != 2 {
		t.Fatalf("fetch after the browser authorization: %v", err)
	}
}
