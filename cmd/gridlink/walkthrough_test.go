package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWalkthrough is what a new user does, through the binary's own entry
// point: create a client, start serve, create a connect token, walk the
// hosted Connect forms without JavaScript (one wrong password, then the
// right one), exchange the code, read the data. Afterwards the database
// files and the logs must not contain any secret (security.md 8).
func TestWalkthrough(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gridlink.db")
	var keyOut, errOut syncBuffer
	if code := run(t.Context(), []string{"keys", "generate"}, noEnv, &keyOut, &errOut); code != 0 {
		t.Fatalf("keys generate: %d %s", code, errOut.String())
	}
	env := map[string]string{"GRIDLINK_MASTER_KEY": strings.TrimSpace(keyOut.String())}

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	defer app.Close()
	redirect := app.URL + "/callback"

	var out syncBuffer
	if code := run(t.Context(), []string{"clients", "create", "--database", db, "--name", "Acme Solar", "--redirect-uri", redirect, "--json"}, noEnv, &out, &errOut); code != 0 {
		t.Fatalf("clients create: %d %s", code, errOut.String())
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(out.String()), &creds); err != nil || len(creds) != 2 || creds["client_id"] == "" || creds["client_secret"] == "" {
		t.Fatalf("clients create --json = %q, want exactly {client_id, client_secret}", out.String())
	}
	hdr := map[string]string{"pelm-client-id": creds["client_id"], "pelm-secret": creds["client_secret"]}

	srv := startServe(t, env, "--database", db)

	var ct struct {
		ConnectToken string  `json:"connect_token"`
		ExpiresIn    float64 `json:"expires_in"`
	}
	if code, h := apiCall(t, "POST", srv.base+"/auth/connect-token", hdr, url.Values{"user_id": {"walk-user-1"}}, &ct); code != 200 || ct.ConnectToken == "" || ct.ExpiresIn != 1800 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("connect-token = %d %+v (Cache-Control %q)", code, ct, h.Get("Cache-Control"))
	}

	const state = "s t&a=te/ü"
	// custom@sandbox.test accepts any password of 8 or more characters.
	const wrong, password = "Wr0ng-x", "Walk-Secret-Passw0rd-xyz"
	b := newBrowser(t, srv.base)
	b.get(srv.base + "/?" + url.Values{"redirect_uri": {redirect}, "connect_token": {ct.ConnectToken}, "state": {state}}.Encode())
	if strings.Contains(b.url.String(), ct.ConnectToken) {
		t.Fatalf("the connect token is still in the address bar: %s", b.url)
	}
	if !strings.Contains(b.text(), "Acme Solar") {
		t.Fatalf("terms screen does not name the client: %s", b.text())
	}
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	b.submit(`[name=utility_slug][value=sandbox]`, nil)
	b.submit(`input[name=username]`, map[string]string{"username": "custom@sandbox.test", "password": wrong})
	if b.last.StatusCode != 200 || b.page.Find("input[name=password]").Length()+b.page.Find(`form[action$="/retry"]`).Length() == 0 {
		t.Fatalf("after a wrong password: status %d, page %s", b.last.StatusCode, b.text())
	}
	if b.page.Find(`form[action$="/retry"]`).Length() > 0 {
		b.submit(`form[action$="/retry"] [type=submit]`, nil)
	}
	b.submit(`input[name=username]`, map[string]string{"username": "custom@sandbox.test", "password": password})
	if b.page == nil || b.page.Find(`form[action$="/continue"]`).Length() == 0 {
		t.Fatalf("no confirmation screen after the right password: %d %s", b.last.StatusCode, b.text())
	}
	b.submit(`form[action$="/continue"] [type=submit]`, nil)
	loc := b.redirectedTo()
	if b.last.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("continue: %d to %v, want 303 to %s", b.last.StatusCode, loc, redirect)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("state = %q, want %q", got, state)
	}
	code, err := codeFrom(loc)
	if err != nil {
		t.Fatal(err)
	}

	var tok map[string]any
	if c, h := apiCall(t, "POST", srv.base+"/auth/token", hdr, url.Values{"code": {code}, "grant_type": {"code"}}, &tok); c != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("exchange = %d %v", c, tok)
	}
	access, _ := tok["access_token"].(string)
	for _, k := range []string{"access_token", "access_token_expires_in", "refresh_token", "refresh_token_expires_in"} {
		if _, ok := tok[k]; !ok {
			t.Errorf("token response lacks %s: %v", k, tok)
		}
	}
	user := map[string]string{"Authorization": "Bearer " + access}
	for k, v := range hdr {
		user[k] = v
	}
	accts := pollAccounts(t, srv.base, user, 60*time.Second)
	if len(accts) != 1 {
		t.Fatalf("accounts = %v, want one", accts)
	}
	acct := accts[0]
	var iv struct {
		Type      string           `json:"type"`
		Intervals []map[string]any `json:"intervals"`
	}
	if c, _ := apiCall(t, "GET", srv.base+"/intervals?account_id="+acct["id"].(string)+"&type=ELECTRIC&start_date=&end_date=", user, nil, &iv); c != 200 || len(iv.Intervals) < 24*28 {
		t.Fatalf("intervals = %d with %d readings", c, len(iv.Intervals))
	}
	var groups []struct {
		AccountID string           `json:"account_id"`
		Bills     []map[string]any `json:"bills"`
	}
	if c, _ := apiCall(t, "GET", srv.base+"/bills", user, nil, &groups); c != 200 || len(groups) != 1 || len(groups[0].Bills) == 0 {
		t.Fatalf("bills = %d %v", c, groups)
	}
	billID := groups[0].Bills[0]["id"].(string)
	req, _ := http.NewRequest("GET", srv.base+"/bills/"+billID+"/pdf", nil)
	for k, v := range user {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	pdf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("bill pdf = %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), pdf.Bytes()[:min(10, pdf.Len())])
	}

	// Replay: 400, and the token issued from the code stops working at once.
	var e map[string]string
	if c, _ := apiCall(t, "POST", srv.base+"/auth/token", hdr, url.Values{"code": {code}}, &e); c != 400 {
		t.Fatalf("replayed code = %d %v, want 400", c, e)
	}
	if c, _ := apiCall(t, "GET", srv.base+"/accounts", user, nil, &e); c != 401 || e["error_code"] != "token_invalid" {
		t.Fatalf("token after replay = %d %v, want 401 token_invalid", c, e)
	}

	srv.stop(t)
	secrets := map[string]string{
		"client secret": creds["client_secret"], "connect token": ct.ConnectToken, "code": code,
		"access token": access, "utility password": password, "wrong password": wrong,
	}
	files, _ := filepath.Glob(db + "*")
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	haystacks := map[string][]byte{"logs": []byte(srv.logs.String() + errOut.String() + out.String())}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		haystacks[filepath.Base(f)] = raw
	}
	for where, hay := range haystacks {
		for what, s := range secrets {
			if what == "client secret" && where == "logs" {
				continue // printed once to the operator by clients create, by design
			}
			if bytes.Contains(hay, []byte(s)) {
				t.Errorf("the %s appears in %s", what, where)
			}
		}
	}
}

func noEnv(string) string { return "" }
