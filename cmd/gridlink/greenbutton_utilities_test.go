package main

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridlink/gridlink/internal/espicustodian"
)

// TestServeGreenButtonUtilities configures a real catalogue utility (Con
// Edison) as reached through Green Button Connect My Data, with a local
// ESPI data custodian standing in for the utility, and connects a user
// through it with no password typed into gridlink.
func TestServeGreenButtonUtilities(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "g.db")
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	cust, err := espicustodian.New(espicustodian.Config{Clients: []espicustodian.Client{{
		ID: "gridlink-prod", Secret: "s3cret-from-env", Name: "gridlink", RedirectURIs: []string{base + "/connect/oauth/callback"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	utility := httptest.NewServer(cust)
	defer utility.Close()

	conf := filepath.Join(dir, "greenbutton.json")
	entry := map[string]string{
		"slug": "coned", "authorize_url": utility.URL + "/oauth/authorize", "token_url": utility.URL + "/oauth/token",
		"resource_url": utility.URL + "/espi/1_1/resource", "client_id": "gridlink-prod",
		"client_secret_env": "CONED_GB_SECRET", "scope": espicustodian.DefaultScope,
	}
	raw, _ := json.Marshal([]map[string]string{entry})
	os.WriteFile(conf, raw, 0o600)

	// Bad configurations are refused at start with a clear message.
	for name, c := range map[string]struct {
		body string
		env  map[string]string
	}{
		"secret variable empty": {string(raw), nil},
		"unknown slug":          {strings.Replace(string(raw), `"coned"`, `"no-such-utility"`, 1), map[string]string{"CONED_GB_SECRET": "x"}},
		"not JSON":              {"{", map[string]string{"CONED_GB_SECRET": "x"}},
		"unknown field":         {strings.Replace(string(raw), `"scope"`, `"scop"`, 1), map[string]string{"CONED_GB_SECRET": "x"}},
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(c.body), 0o600)
		env := map[string]string{"GRIDLINK_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
		for k, v := range c.env {
			env[k] = v
		}
		if code, _, errOut := runCmd(t, env, "serve", "--database", db, "--addr", "127.0.0.1:0", "--greenbutton-utilities", bad); code != 2 || !strings.Contains(errOut, "greenbutton-utilities") {
			t.Errorf("%s: exit %d, %q; want 2 naming the flag", name, code, errOut)
		}
	}

	_, out, _ := runCmd(t, nil, "clients", "create", "--database", db, "--name", "Acme", "--redirect-uri", "https://app.example/cb", "--json")
	var c map[string]string
	json.Unmarshal([]byte(out), &c)
	hdr := map[string]string{"Pelm-Client-Id": c["client_id"], "Pelm-Secret": c["client_secret"]}
	_, key, _ := runCmd(t, nil, "keys", "generate")
	srv := startServeAt(t, "127.0.0.1:"+port, map[string]string{"GRIDLINK_MASTER_KEY": strings.TrimSpace(key), "CONED_GB_SECRET": "s3cret-from-env"},
		"--database", db, "--greenbutton-utilities", conf)

	var utils []map[string]any
	apiCall(t, "GET", srv.base+"/utilities?q=con+ed", nil, nil, &utils)
	if len(utils) == 0 || utils[0]["slug"] != "coned" || utils[0]["supported"] != true {
		t.Fatalf("utilities = %v, want Con Edison supported", utils)
	}
	var ct map[string]any
	apiCall(t, "POST", srv.base+"/auth/connect-token", hdr, url.Values{"user_id": {"gb-1"}, "utility_slug": {"coned"}}, &ct)
	b := newBrowser(t, srv.base)
	b.get(srv.base + "/?" + url.Values{"redirect_uri": {"https://app.example/cb"}, "connect_token": {ct["connect_token"].(string)}}.Encode())
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	if b.page.Find(`input[name=password]`).Length() != 0 {
		t.Fatal("Connect asks for a password for a Connect My Data utility")
	}
	b.submit(`#oauth-continue`, nil)
	to := b.redirectedTo()
	if to == nil || !strings.HasPrefix(to.String(), utility.URL+"/oauth/authorize?") {
		t.Fatalf("Connect did not send the browser to the utility: %d %v", b.last.StatusCode, to)
	}
	back, err := espicustodian.ActAsCustomer(to.String(), "gbuser1", "gbuser1-password", "authorize")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back.String(), base+"/connect/oauth/callback?") {
		t.Fatalf("the utility sent the browser to %s", back)
	}
	b.get(back.String())
	b.submit(`form[action$="/continue"] [type=submit]`, nil)
	code, err := codeFrom(b.redirectedTo())
	if err != nil {
		t.Fatalf("%v (page: %s)", err, b.text())
	}
	var tok map[string]any
	apiCall(t, "POST", srv.base+"/auth/token", hdr, url.Values{"code": {code}}, &tok)
	user := map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}
	for k, v := range hdr {
		user[k] = v
	}
	if accts := pollAccounts(t, srv.base, user, 60*time.Second); len(accts) == 0 {
		t.Fatal("no accounts from the utility's Green Button feed")
	}
	var u map[string]any
	apiCall(t, "GET", srv.base+"/users/gb-1", user, nil, &u)
	if ut, _ := u["utility"].(map[string]any); ut["full_name"] != "Con Edison" {
		t.Fatalf("user = %v", u)
	}
	if strings.Contains(srv.logs.String(), "s3cret-from-env") {
		t.Fatal("the OAuth client secret appears in the logs")
	}
}

// startServeAt is startServe on a given address.
func startServeAt(t *testing.T, addr string, env map[string]string, args ...string) *server {
	t.Helper()
	return startServe(t, env, append(args, "--addr", addr)...)
}
