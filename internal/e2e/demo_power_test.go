package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/gridlink/gridlink/internal/demoutility"
)

// demoUtilityURL is the address of gridlink dev's Demo Power & Light, as its
// banner names it.
func (g *gridlink) demoUtilityURL() string {
	g.t.Helper()
	m := regexp.MustCompile(`runs at (http://\S+)`).FindStringSubmatch(g.banner.String())
	if m == nil {
		g.t.Fatalf("the dev banner names no demo utility:\n%s", g.banner.String())
	}
	return m[1]
}

// TestWidgetDemoPowerChoosesEmail connects carol of Demo Power & Light
// through the widget on a plain page: she chooses to get her code by
// e-mail, reads it on the demo utility's /outbox page and types it; the
// app's onSuccess code then reads her three accounts.
func TestWidgetDemoPowerChoosesEmail(t *testing.T) {
	ctx := newChrome(t, 1024, 768)
	g := startGridlink(t, 0)
	demo := g.demoUtilityURL()
	app := plainApp(t, g)
	p := &page{t: t, ctx: ctx}

	openConnect(p, app.URL+"/app?utility="+demoutility.Slug)
	p.in("terms", click(termsButton), visible(`input[name=password]`))
	p.signIn(demoutility.Carol, demoutility.CarolPassword)
	p.in("the delivery choice", visible(`input[name=method][value=email]`))
	p.shot("widget-demo-power-choice")
	if h := inFrame[string](p, `document.querySelector("h1").textContent`); h != "How should Demo Power & Light send your verification code?" {
		t.Errorf("choice heading = %q", h)
	}
	p.in("choose e-mail",
		click(`label[for=method-1]`),
		click(`form[action$="/mfa-method"] [type=submit]`),
		visible(`input[name=code]`),
	)
	code := outboxCode(t, demo, demoutility.Carol, demoutility.MethodEmail)
	p.in("the code", typeIn(`input[name=code]`, code), click(`form.login [type=submit]`))
	p.waitJS("onSuccess", `window.events.length > 0`)
	evs := events(p)
	if len(evs) != 1 || evs[0].Type != "success" || evs[0].Code == "" {
		t.Fatalf("callbacks = %+v, want one onSuccess with a code", evs)
	}
	closed(p)

	access := g.exchange(evs[0].Code)
	var accounts []struct {
		Meters []struct {
			Type string `json:"type"`
		} `json:"meters"`
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		c := g.call("GET", "/accounts", nil, access, &accounts)
		if c == 200 {
			break
		}
		if c != 500 || time.Now().After(deadline) {
			t.Fatalf("GET /accounts = %d", c)
		}
	}
	types := map[string]bool{}
	for _, a := range accounts {
		for _, m := range a.Meters {
			types[m.Type] = true
		}
	}
	if len(accounts) != 3 || !types["ELECTRIC"] || !types["GAS"] {
		t.Errorf("carol has %d accounts with meter types %v, want 3 with gas and electric", len(accounts), types)
	}
}

// outboxCode reads the newest code sent to user from the demo utility's
// /outbox page, checking it went by channel.
func outboxCode(t *testing.T, demo, user, channel string) string {
	t.Helper()
	resp, err := http.Get(demo + "/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := doc.Find(`li.message[data-user="` + user + `"]`).First()
	code := strings.TrimSpace(m.Find(".code").Text())
	if m.AttrOr("data-channel", "") != channel || len(code) != 6 {
		t.Fatalf("outbox has no %s code for %s: %s", channel, user, strings.Join(strings.Fields(doc.Text()), " "))
	}
	return code
}
