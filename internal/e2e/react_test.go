package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// reactBundle returns the React test page's bundle, building it with
// scripts/build-react-test.sh (npm ci + esbuild) when it is missing or
// older than its sources. Without npm the test skips, or fails when
// GRIDLINK_TEST_BROWSER=required (CI).
func reactBundle(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(root, "internal", "e2e", "testdata", "react")
	bundle := filepath.Join(dir, "dist", "app.js")
	if fresh(bundle, filepath.Join(dir, "package.json"), filepath.Join(dir, "package-lock.json"), filepath.Join(dir, "src", "index.jsx")) {
		return bundle
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("GRIDLINK_TEST_BROWSER") == "required" {
			t.Fatal("GRIDLINK_TEST_BROWSER=required but npm is missing: the React test page cannot be built")
		}
		t.Skip("npm not found: the react-pelm-connect test is skipped (install node and npm, or run scripts/build-react-test.sh)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-react-test.sh"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-react-test.sh: %v\n%s", err, out)
	}
	if !fresh(bundle) {
		t.Fatalf("scripts/build-react-test.sh did not produce %s\n%s", bundle, out)
	}
	return bundle
}

// fresh reports whether target exists and is newer than every source.
func fresh(target string, sources ...string) bool {
	ti, err := os.Stat(target)
	if err != nil {
		return false
	}
	for _, s := range sources {
		si, err := os.Stat(s)
		if err != nil || si.ModTime().After(ti.ModTime()) {
			return false
		}
	}
	return true
}

// TestReactPelmConnect runs Pelm's own React wrapper, react-pelm-connect
// 1.2.1 from the npm registry, unmodified, against gridlink dev: with
// environment 'development' it loads http://localhost:8080/initialize.js,
// so this is the one test that binds port 8080.
func TestReactPelmConnect(t *testing.T) {
	ctx := newChrome(t, 1024, 768)
	bundle := reactBundle(t)
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		if os.Getenv("GRIDLINK_TEST_BROWSER") == "required" {
			t.Fatalf("port 8080 is taken (react-pelm-connect hard-codes it): %v", err)
		}
		t.Skipf("port 8080 is taken (react-pelm-connect hard-codes it): %v", err)
	} else {
		ln.Close()
	}
	g := startGridlink(t, 8080)
	js, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}

	// The app: its page, its bundle, and its backend's token endpoint.
	var users atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>React test app</title></head>`+
				`<body><div id="root"></div><script src="/app.js"></script></body></html>`)
		case r.Method == http.MethodGet && r.URL.Path == "/app.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(js)
		case r.Method == http.MethodPost && r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"connect_token": g.connectToken(fmt.Sprint("react-user-", users.Add(1)), "")})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(app.Close)
	// localhost, like gridlink's script URL: one site, so Connect's session
	// cookie works in the iframe over plain HTTP.
	appURL := strings.Replace(app.URL, "127.0.0.1", "localhost", 1) + "/"

	p := &page{t: t, ctx: ctx}
	p.do("load the React app", chromedp.Navigate(appURL))
	p.waitJS("the hook says ready", `document.getElementById("state") && document.getElementById("state").textContent === "ready" && !document.getElementById("connect").disabled`)
	if n := eval[int](p, `document.querySelectorAll("iframe").length`); n != 1 {
		t.Errorf("%d iframes after the React renders, want 1", n)
	}
	if src := eval[string](p, `Array.from(document.scripts).map(s => s.src).find(s => s.endsWith("/initialize.js")) || ""`); src != "http://localhost:8080/initialize.js" {
		t.Errorf("react-pelm-connect loaded %q", src)
	}
	p.do("click Connect", chromedp.Click(chromedp.CSS("#connect")))
	p.in("terms", visible(termsButton))
	p.shot("react-1-terms")
	p.toCredentials("pge")
	p.signIn("user@pelm.com", "password")
	p.waitJS("onSuccess", `window.__events.length > 0`)
	p.shot("react-2-after-success")
	raw := eval[[]byte](p, `JSON.stringify(window.__events)`)
	var s string
	json.Unmarshal(raw, &s)
	var evs []event
	if err := json.Unmarshal([]byte(s), &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != "success" || evs[0].Code == "" {
		t.Fatalf("react-pelm-connect callbacks = %+v, want one onSuccess", evs)
	}
	closed(p)
	access := g.exchange(evs[0].Code)
	var accounts []struct {
		ID string `json:"id"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := g.call("GET", "/accounts", nil, access, &accounts)
		if c == 200 {
			break
		}
		if c != 500 || time.Now().After(deadline) {
			t.Fatalf("GET /accounts = %d", c)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(accounts) != 2 || accounts[0].ID != "ea100000-0000-0000-0000-000000000000" {
		t.Errorf("accounts of the connected user = %+v", accounts)
	}
}
