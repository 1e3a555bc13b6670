package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/greenbutton"
	"github.com/gridlink/gridlink/internal/testenv"
)

// TestBrowserGreenButtonConnect drives headless Chromium through the Demo
// Green Button Utility of gridlink dev: Connect sends the browser to the
// utility's own sign-in and consent pages (no password typed into
// gridlink), the utility sends it back with a code, the first sync fetches
// the ESPI feed, and the account exports as a Green Button file again.
func TestBrowserGreenButtonConnect(t *testing.T) {
	d := startDev(t)
	ctx := newChrome(t)
	C := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(testenv.ArtifactDir(t), name+".png"), png, 0o644)
		}
	}
	step := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			shot(name + "-failed")
			page, _ := chromedp.Run(ctx, chromedp.Text(C("body")))
			t.Fatalf("%s: %v\npage: %s", name, err, page)
		}
	}
	const terms, cont = `form[action$="/terms"] [type=submit]`, `form[action$="/continue"] [type=submit]`

	step("to the utility",
		chromedp.Navigate(d.connectURL(t, "gb-browser-user", "demo-greenbutton")),
		chromedp.WaitVisible(C(terms)),
		chromedp.Click(C(terms)),
		chromedp.WaitVisible(C(`#oauth-continue`)),
	)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[type=password]').length`)); n != 0 {
		t.Error("the credentials step of an OAuth utility has a password field")
	}
	shot("gb-1-continue")
	step("sign in at the utility",
		chromedp.Click(C(`#oauth-continue`)),
		chromedp.WaitVisible(C(`input[name=username]`)),
	)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.Contains(loc, "/demo-greenbutton/oauth/authorize") {
		t.Fatalf("the utility's page is %s", loc)
	}
	shot("gb-2-utility-login")
	step("consent",
		chromedp.SendKeys(C(`input[name=username]`), "gbuser3"),
		chromedp.SendKeys(C(`input[name=password]`), "gbuser3-password"),
		chromedp.Submit(C(`input[name=password]`)),
		chromedp.WaitVisible(C(`button[value=authorize]`)),
	)
	shot("gb-3-consent")
	step("back in Connect",
		chromedp.Click(C(`button[value=authorize]`)),
		chromedp.WaitVisible(C(cont)),
	)
	shot("gb-4-connected")
	step("to the app", chromedp.Click(C(cont)), chromedp.WaitVisible(C(`pre`))) // the dev callback page
	landed, _ := chromedp.Run(ctx, chromedp.Location())
	lu, err := url.Parse(landed)
	if err != nil || lu.Query().Get("code") == "" {
		t.Fatalf("landed on %s", landed)
	}
	user := d.exchange(t, lu.Query().Get("code"))
	accts := pollAccounts(t, d.base, user, 90*time.Second)
	if len(accts) != 2 {
		t.Fatalf("gbuser3 has %d accounts, want the electric and the gas one", len(accts))
	}
	var u map[string]any
	if c, _ := apiCall(t, "GET", d.base+"/users/gb-browser-user", user, nil, &u); c != 200 || u["utility_username"] == "" || u["credentials_valid"] != true {
		t.Fatalf("user = %d %v", c, u)
	}

	// The account exports as a Green Button file that parses again.
	req, _ := http.NewRequestWithContext(context.Background(), "GET", d.base+"/accounts/"+accts[0]["id"].(string)+"/greenbutton.xml", nil)
	for k, v := range user {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/atom+xml" {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := greenbutton.ParseXML(context.Background(), bytes.NewReader(body), greenbutton.Options{}); err != nil {
		t.Errorf("the export does not parse: %v", err)
	}
}

// TestUploadThroughListener uploads a Green Button file larger than the
// API's 1 MiB body limit through gridlink dev's real listener and
// middleware, and reads the data back through the API.
func TestUploadThroughListener(t *testing.T) {
	d := startDev(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) *http.Response {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do(mustRequest(t, "GET", d.connectURL(t, "upload-user", "sdge"), nil, ""))
	page, _ := resp.Location()
	sess := d.base + page.Path
	do(mustRequest(t, "POST", sess+"/terms", nil, ""))

	file, err := os.ReadFile(filepath.Join("..", "..", "testdata", "greenbutton", "gba-sample-coastal-multi-family-hourly-2011.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(file) <= 1<<20 {
		t.Fatalf("the file (%d bytes) is not larger than the API body limit", len(file))
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "coastal.xml")
	fw.Write(file)
	mw.Close()
	resp = do(mustRequest(t, "POST", sess+"/upload", &body, mw.FormDataContentType()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	resp = do(mustRequest(t, "POST", sess+"/continue", nil, ""))
	back, err := resp.Location()
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("continue: %d %v", resp.StatusCode, back)
	}
	user := d.exchange(t, back.Query().Get("code"))
	accts := pollAccounts(t, d.base, user, 10*time.Second)
	if len(accts) != 1 {
		t.Fatalf("%d accounts from the uploaded file, want 1", len(accts))
	}
	var iv struct {
		Intervals []map[string]any `json:"intervals"`
	}
	path := d.base + "/intervals?account_id=" + accts[0]["id"].(string) + "&type=ELECTRIC&start_date=0&end_date=99999999999"
	if code, _ := apiCall(t, "GET", path, user, nil, &iv); code != 200 || len(iv.Intervals) != 8760 {
		t.Errorf("intervals: %d, %d readings, want the file's 8760", code, len(iv.Intervals))
	}
}

func mustRequest(t *testing.T, method, u string, body io.Reader, contentType string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}
