package e2e

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
)

// plainPage is a developer's page without any framework: it loads
// /initialize.js from gridlink and records the callbacks in window.events.
// initialize is called several times, with an undefined and an empty token
// first, as a React app re-rendering would.
var plainPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plain test app</title>
<script src="{{.Script}}"></script>
</head>
<body>
<h1>Plain test app</h1>
<p style="height: 3000px">A long page, to see that Connect locks its scrolling.</p>
<script>
window.events = [];
window.readyCount = 0;
window.cfg = {
  connectToken: {{.Token}},
  onReady: function () { readyCount++; },
  onSuccess: function (code) { events.push({type: "success", code: code}); },
  onExit: function (status, metadata) { events.push({type: "exit", status: status, metadata: metadata}); }
};
PelmConnect.initialize({connectToken: undefined});
PelmConnect.initialize({connectToken: ""});
PelmConnect.initialize(cfg);
PelmConnect.initialize(Object.assign({}, cfg));
PelmConnect.initialize(cfg);
</script>
</body>
</html>`))

// plainApp serves plainPage; its backend creates a connect token for a new
// user at every load (?utility= names a utility; ?token= overrides it).
func plainApp(t *testing.T, g *gridlink) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app" {
			http.NotFound(w, r)
			return
		}
		tok := r.URL.Query().Get("token")
		if tok == "" {
			tok = g.connectToken(fmt.Sprint("plain-user-", n.Add(1)), r.URL.Query().Get("utility"))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		plainPage.Execute(w, map[string]string{"Script": g.ip + "/initialize.js", "Token": tok})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// event is one callback recorded by the page.
type event struct {
	Type     string            `json:"type"`
	Code     string            `json:"code,omitempty"`
	Status   string            `json:"status,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func events(p *page) []event {
	p.t.Helper()
	raw := eval[[]byte](p, `JSON.stringify(window.events)`)
	var s string
	json.Unmarshal(raw, &s)
	var evs []event
	if err := json.Unmarshal([]byte(s), &evs); err != nil {
		p.t.Fatalf("events %s: %v", s, err)
	}
	return evs
}

// openConnect loads the app, waits for onReady and opens Connect.
func openConnect(p *page, appURL string) {
	p.t.Helper()
	p.do("load the app", chromedp.Navigate(appURL))
	p.waitJS("onReady", `window.readyCount === 1`)
	if n := eval[int](p, `document.querySelectorAll("iframe").length`); n != 1 {
		p.t.Fatalf("%d iframes after five initialize calls, want 1", n)
	}
	if d := eval[string](p, `getComputedStyle(document.querySelector("iframe")).display`); d != "none" {
		p.t.Errorf("iframe display before open = %q", d)
	}
	p.do("open", chromedp.Evaluate[chromedp.Void](`PelmConnect.open()`))
	p.waitJS("Connect shown", `getComputedStyle(document.querySelector("iframe")).display === "block"`)
	if got := eval[string](p, `document.documentElement.style.overflow`); got != "hidden" {
		p.t.Errorf("page scrolling not locked while Connect is open: overflow %q", got)
	}
	if !eval[bool](p, `document.activeElement === document.querySelector("iframe")`) {
		p.t.Error("the focus did not move into Connect")
	}
}

// closed asserts that Connect is hidden and the page restored.
func closed(p *page) {
	p.t.Helper()
	p.waitJS("Connect hidden", `Array.from(document.querySelectorAll("iframe")).every(f => getComputedStyle(f).display === "none")`)
	if got := eval[string](p, `document.documentElement.style.overflow`); got != "" {
		p.t.Errorf("page scrolling still locked after Connect closed: %q", got)
	}
	if n := eval[int](p, `document.querySelectorAll("iframe").length`); n > 1 {
		p.t.Errorf("%d iframes after Connect closed", n)
	}
}

func TestWidgetPlainPageConnects(t *testing.T) {
	ctx := newChrome(t, 1024, 768)
	g := startGridlink(t, 0)
	app := plainApp(t, g)
	p := &page{t: t, ctx: ctx}

	openConnect(p, app.URL+"/app")
	p.in("terms shown, focus inside the dialog", visible(termsButton))
	if !inFrame[bool](p, `document.activeElement && document.activeElement.closest(".dialog") !== null`) {
		t.Error("the focus is not in the dialog")
	}
	// Tab keeps the focus inside Connect.
	for range 6 {
		p.do("tab", chromedp.KeyEvent(kb.Tab))
	}
	if !inFrame[bool](p, `document.activeElement && document.activeElement.closest(".dialog") !== null`) || !eval[bool](p, `document.activeElement === document.querySelector("iframe")`) {
		t.Error("Tab moved the focus out of the dialog")
	}
	p.shot("widget-1-terms")
	p.toCredentials("pge")
	p.shot("widget-2-credentials")
	p.signIn("user@pelm.com", "password")
	p.waitJS("onSuccess", `window.events.length > 0`)
	evs := events(p)
	if len(evs) != 1 || evs[0].Type != "success" || evs[0].Code == "" {
		t.Fatalf("callbacks = %+v, want one onSuccess with a code", evs)
	}
	closed(p)
	if n := eval[int](p, `window.readyCount`); n != 1 {
		t.Errorf("onReady called %d times", n)
	}

	access := g.exchange(evs[0].Code)
	var user struct {
		ID               string `json:"id"`
		UtilityUsername  string `json:"utility_username"`
		CredentialsValid bool   `json:"credentials_valid"`
	}
	if c := g.call("GET", "/users/plain-user-1", nil, access, &user); c != 200 || user.UtilityUsername != "user@pelm.com" || !user.CredentialsValid {
		t.Fatalf("GET /users/plain-user-1 = %d %+v", c, user)
	}
	// The token has connected: opening again reports it instead of a dead end.
	p.do("open again", chromedp.Evaluate[chromedp.Void](`PelmConnect.open()`))
	p.waitJS("second callback", `window.events.length === 2`)
	if evs := events(p); evs[1].Type != "exit" || evs[1].Status != "connect_token_invalid" {
		t.Errorf("open() after success: %+v", evs[1])
	}
	// Nothing secret reached gridlink's logs.
	logs := g.logs.String()
	for name, s := range map[string]string{"code": evs[0].Code, "access token": access, "client secret": g.secret} {
		if strings.Contains(logs, s) {
			t.Errorf("the %s appears in gridlink's log", name)
		}
	}
}

func TestWidgetExits(t *testing.T) {
	ctx := newChrome(t, 1024, 768)
	g := startGridlink(t, 0)
	app := plainApp(t, g)
	tests := []struct {
		name  string
		query string
		steps func(p *page)
		want  event
	}{
		{"close button", "", func(p *page) {
			p.in("close", visible(termsButton), click(closeButton))
		}, event{Type: "exit", Status: "user_initiated_exit", Metadata: map[string]string{}}},
		{"Escape", "", func(p *page) {
			p.in("terms", visible(termsButton))
			p.do("Escape", chromedp.KeyEvent(kb.Escape))
		}, event{Type: "exit", Status: "user_initiated_exit", Metadata: map[string]string{}}},
		{"click outside", "", func(p *page) {
			p.in("terms", visible(termsButton))
			p.do("click the backdrop", chromedp.MouseClickXY(15, 400))
		}, event{Type: "exit", Status: "user_initiated_exit", Metadata: map[string]string{}}},
		{"exit()", "", func(p *page) {
			p.in("terms", visible(termsButton))
			p.do("exit()", chromedp.Evaluate[chromedp.Void](`PelmConnect.exit()`))
		}, event{Type: "exit", Status: "user_initiated_exit", Metadata: map[string]string{}}},
		{"unsupported utility", "", func(p *page) {
			p.toCredentials("coned")
			p.signIn("someone@example.com", "hunter22")
			p.in("failed view", visible(`main[data-error] button[data-close]`))
			p.shot("widget-unsupported")
			p.in("close", click(`main button[data-close]`))
		}, event{Type: "exit", Status: "unavailable_utility_credentials_submitted",
			Metadata: map[string]string{"utility_id": "7", "utility_name": "Con Edison"}}},
		{"attempt cap", "", func(p *page) {
			p.toCredentials("pge")
			for i := 1; i <= 5; i++ {
				p.signIn("user@pelm.com", fmt.Sprint("wrong-", i))
				if i < 5 {
					p.in("try again", click(`form[action$="/retry"] [type=submit]`), visible(`input[name=password]`))
				}
			}
			p.in("failed view", visible(`main[data-error="connect_max_attempted_logins"]`))
			p.do("Escape", chromedp.KeyEvent(kb.Escape))
		}, event{Type: "exit", Status: "connect_max_attempted_logins", Metadata: map[string]string{}}},
		{"invalid token", "?token=not-a-connect-token", func(p *page) {
			p.in("error view", visible(`main[data-error="connect_token_invalid"]`), click(closeButton))
		}, event{Type: "exit", Status: "connect_token_invalid", Metadata: map[string]string{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &page{t: t, ctx: ctx}
			openConnect(p, app.URL+"/app"+tc.query)
			tc.steps(p)
			p.waitJS("onExit", `window.events.length > 0`)
			if diff := cmp.Diff([]event{tc.want}, events(p)); diff != "" {
				t.Errorf("callbacks (-want +got):\n%s", diff)
			}
			closed(p)
		})
	}

	// After an exit, Connect opens again on a fresh session.
	t.Run("reopen after exit", func(t *testing.T) {
		p := &page{t: t, ctx: ctx}
		openConnect(p, app.URL+"/app")
		p.in("close", visible(termsButton), click(closeButton))
		p.waitJS("onExit", `window.events.length === 1`)
		closed(p)
		p.do("open again", chromedp.Evaluate[chromedp.Void](`PelmConnect.open()`))
		p.in("terms again", visible(termsButton))
		p.toCredentials("pge")
		p.signIn("user@pelm.com", "password")
		p.waitJS("onSuccess", `window.events.length === 2`)
		if evs := events(p); evs[1].Type != "success" {
			t.Errorf("second run: %+v", evs[1])
		}
		if n := eval[int](p, `window.readyCount`); n != 1 {
			t.Errorf("onReady called %d times", n)
		}
	})
}

func TestWidgetSmallScreen(t *testing.T) {
	ctx := newChrome(t, 360, 740)
	g := startGridlink(t, 0)
	app := plainApp(t, g)
	p := &page{t: t, ctx: ctx}
	openConnect(p, app.URL+"/app?utility=sandbox")
	p.in("terms", visible(termsButton), click(termsButton), visible(`input[name=password]`))
	p.shot("widget-360px-credentials")
	width := eval[int](p, `window.innerWidth`)
	if got := inFrame[int](p, `document.documentElement.scrollWidth`); got > width {
		t.Errorf("Connect is %d px wide in a %d px window", got, width)
	}
	if !inFrame[bool](p, `(() => { const r = document.querySelector("button.close").getBoundingClientRect(); return r.right <= innerWidth && r.width >= 44 && r.height >= 44; })()`) {
		t.Error("the close button is cut off or smaller than 44 px")
	}
}
