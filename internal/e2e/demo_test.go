package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/testenv"
)

// TestDemoApp walks gridlink dev's /demo app as a person would: connect the
// sandbox user through the widget, land on the dashboard (polling while the
// first sync runs), switch the chart to hourly, open a bill's PDF; then a
// new user whose first sync is slow shows the loading state.
func TestDemoApp(t *testing.T) {
	ctx := newChrome(t, 1280, 900)
	g := startGridlink(t, 0)
	p := &page{t: t, ctx: ctx}

	p.do("open the demo", chromedp.Navigate(g.base+"/demo"))
	p.waitJS("Connect ready", `!document.getElementById("connect-button").disabled`)
	if got := eval[string](p, `document.querySelector(".calls summary").textContent`); !strings.Contains(got, "POST /auth/connect-token") || !strings.Contains(got, "200") {
		t.Errorf("the connect-token call is not shown: %q", got)
	}
	p.do("click Connect", chromedp.Click(chromedp.CSS("#connect-button")))
	p.toCredentials("pge")
	p.signIn("user@pelm.com", "password")

	// onSuccess posts the code to the demo's backend, which exchanges it.
	p.waitJS("dashboard with accounts", `location.pathname === "/demo/dashboard" && document.querySelectorAll("section.account").length === 2`)
	charts := eval[int](p, `document.querySelectorAll("figure.meter svg.chart rect.bar").length > 0 ? document.querySelectorAll("figure.meter svg.chart").length : 0`)
	if charts != 3 {
		t.Errorf("%d meter charts with bars, want 3 (electric and gas, electric)", charts)
	}
	if n := eval[int](p, `document.querySelectorAll("table.bills tbody tr").length`); n < 12 {
		t.Errorf("%d bills listed", n)
	}
	calls := eval[string](p, `Array.from(document.querySelectorAll(".calls summary")).map(s => s.textContent).join("\n")`)
	for _, want := range []string{"POST /auth/token", "GET /users/", "GET /accounts", "GET /intervals?", "GET /bills"} {
		if !strings.Contains(calls, want) {
			t.Errorf("calls shown:\n%s\nlack %s", calls, want)
		}
	}
	if curl := eval[string](p, `document.querySelector(".calls pre.curl").textContent`); !strings.HasPrefix(curl, "curl -s -X POST '"+g.base+"/auth/token'") {
		t.Errorf("curl command = %q", curl)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(testenv.ArtifactDir(t), "demo-dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The hourly view over a chosen range.
	p.do("hourly view",
		chromedp.SetValue(chromedp.CSS("#view"), "hourly"),
		chromedp.Submit(chromedp.CSS("#view")),
	)
	p.waitJS("hourly charts", `new URLSearchParams(location.search).get("view") === "hourly" && document.querySelectorAll("svg.chart").length === 3`)
	if n := eval[int](p, `document.querySelector("figure.meter[data-meter-type=ELECTRIC] svg.chart").querySelectorAll("rect.bar").length`); n < 100 {
		t.Errorf("hourly electric chart has %d bars, want a week of hours", n)
	}

	// A bill's PDF, fetched by the demo's backend with the access token.
	ct, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector("table.bills a").href).then(r => r.status + " " + r.headers.get("content-type"))`, chromedp.EvalAwaitPromise))
	if err != nil || ct != "200 application/pdf" {
		t.Errorf("bill PDF: %q %v", ct, err)
	}

	// A new user whose first sync takes a minute: the dashboard polls.
	p.do("start over", chromedp.Click(chromedp.CSS(`form[action="/demo/reset"] [type=submit]`)))
	p.waitJS("back on the home page", `location.pathname === "/demo" && document.getElementById("connect-button") !== null`)
	p.do("token for the sandbox utility", chromedp.Navigate(g.base+"/demo?utility=sandbox"))
	p.waitJS("Connect ready", `location.search === "?utility=sandbox" && !document.getElementById("connect-button").disabled`)
	p.do("click Connect", chromedp.Click(chromedp.CSS("#connect-button")))
	p.in("terms", click(termsButton), visible(`input[name=password]`))
	p.signIn("slow@sandbox.test", "password")
	p.waitJS("loading state", `document.querySelector("#loading progress") !== null`)
	p.waitJS("polling", `Number(document.getElementById("loading").dataset.poll) >= 2`)
	if msg := eval[string](p, `document.querySelector("#loading [role=status]").textContent`); !strings.Contains(msg, "data_unavailable") {
		t.Errorf("loading state says %q", msg)
	}
	p.shot("demo-loading")
}
