package syncer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/gridlink/gridlink/internal/api"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/connectui"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/testenv"
	"github.com/gridlink/gridlink/internal/vault"
)

// clock is the app's injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// app is gridlink wired as cmd/gridlink wires it (API, Connect pages, the
// sync queue and its scheduler, the sandbox utilities) on a real database,
// with an injected clock.
type app struct {
	srv            *httptest.Server
	clock          *clock
	client, secret string
}

const appRedirect = "https://app.example/callback"

func newApp(t *testing.T, dsn, schema string) *app {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, vault.KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(rand.Reader, key)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	authSvc, err := auth.New(st, v.DeriveKey("connect-token"), clk.Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.Default()
	connectors := connector.Registry{
		catalog.ConnectorSandbox:     sandbox.New(sandbox.Config{}),
		catalog.ConnectorPelmSandbox: sandbox.NewPelm(sandbox.Config{}),
	}
	sy, err := syncer.New(syncer.Config{Store: st, Vault: v, Catalog: cat, Connectors: connectors, Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	q, err := syncer.OpenQueue(ctx, dsn, sy, logger, syncer.QueueOptions{Schema: schema, ScheduleEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
	})
	ui, err := connectui.New(connectui.Config{Store: st, Auth: authSvc, Vault: v, Catalog: cat, Connectors: connectors,
		Sync: q, Logger: logger, Now: clk.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Config{Auth: authSvc, Store: st, Catalog: cat, Logger: logger, Now: clk.Now, Connectors: connectors, Sync: q}).Register(mux)
	ui.Register(mux)
	srv := httptest.NewServer(api.Handler(mux, logger))
	t.Cleanup(srv.Close)
	c, secret, err := authSvc.NewClient("Acme Solar", []string{appRedirect}, []string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &app{srv: srv, clock: clk, client: c.ID, secret: secret}
}

// call makes an API request and decodes the JSON answer.
func (a *app) call(t *testing.T, method, path, token string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Pelm-Client-Id", a.client)
	req.Header.Set("Pelm-Secret", a.secret)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	} else {
		out = map[string]any{"raw": string(raw)}
	}
	return res.StatusCode, out
}

// connect walks hosted Connect in redirect mode for userID, logging into
// the sandbox utility, and returns the authorization code.
func (a *app) connect(t *testing.T, userID, username, password string) string {
	t.Helper()
	status, tok := a.call(t, "POST", "/auth/connect-token", "", url.Values{"user_id": {userID}, "utility_slug": {catalog.SandboxSlug}})
	if status != http.StatusOK {
		t.Fatalf("connect token: %d %v", status, tok)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), a.srv.URL) {
			return http.ErrUseLastResponse // back to the app: stop there
		}
		return nil
	}}
	page := func(res *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	start := a.srv.URL + "/?" + url.Values{"connect_token": {tok["connect_token"].(string)}, "redirect_uri": {appRedirect}, "state": {"s1"}}.Encode()
	res, body := page(browser.Get(start))
	sid := strings.TrimPrefix(res.Request.URL.Path, "/connect/")
	if strings.Contains(body, `/connect/`+sid+`/terms"`) { // create mode
		res, body = page(browser.PostForm(a.srv.URL+"/connect/"+sid+"/terms", nil))
	}
	if !strings.Contains(body, `name="password"`) {
		t.Fatalf("no credentials form at %s: %s", res.Request.URL, body)
	}
	res, body = page(browser.PostForm(a.srv.URL+"/connect/"+sid+"/credentials", url.Values{"username": {username}, "password": {password}}))
	if !strings.Contains(body, "/connect/"+sid+"/continue") {
		t.Fatalf("no confirmation after logging in: %s", body)
	}
	res, _ = page(browser.PostForm(a.srv.URL+"/connect/"+sid+"/continue", nil))
	loc, err := res.Location()
	if err != nil || !strings.HasPrefix(loc.String(), appRedirect) {
		t.Fatalf("Connect ended with %d %v, want a redirect to the app", res.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

// exchange trades a code for an access token.
func (a *app) exchange(t *testing.T, code string) string {
	t.Helper()
	status, out := a.call(t, "POST", "/auth/token", "", url.Values{"code": {code}, "grant_type": {"code"}})
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, out)
	}
	return out["access_token"].(string)
}

// syncObject is GET /users/{id}'s sync object and credentials_valid.
func (a *app) syncObject(t *testing.T, userID, token string) (map[string]any, bool) {
	t.Helper()
	status, out := a.call(t, "GET", "/users/"+userID, token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /users: %d %v", status, out)
	}
	st, _ := out["sync"].(map[string]any)
	valid, _ := out["credentials_valid"].(bool)
	return st, valid
}

func (a *app) waitStatus(t *testing.T, userID, token, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := a.syncObject(t, userID, token)
		if st["status"] == status {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync status stayed %v, want %s", st, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accounts returns GET /accounts.
func (a *app) accounts(t *testing.T, token string) []any {
	t.Helper()
	req, err := http.NewRequest("GET", a.srv.URL+"/accounts", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Pelm-Client-Id", a.client)
	req.Header.Set("Pelm-Secret", a.secret)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out []any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /accounts: %d %v", res.StatusCode, err)
	}
	return out
}

// TestExpiredLoginRecoversThroughUpdateMode is the whole story through the
// API and the hosted Connect pages: expire@sandbox.test connects and syncs;
// its scheduled refresh 12 hours later finds the login rejected
// (credentials_valid false, status needs_reauth, the data still served,
// refresh does nothing); the developer sends the user through Connect
// again with a connect token for the same user_id (update mode): the login
// is replaced, credentials_valid is true again, the user id, accounts and
// access token are kept, and a sync runs at once.
func TestExpiredLoginRecoversThroughUpdateMode(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn, schema := filepath.Join(t.TempDir(), "gridlink.db"), ""
			if db == "postgres" {
				dsn, schema = pgSchema(t)
			}
			a := newApp(t, dsn, schema)
			token := a.exchange(t, a.connect(t, "house-1", sandbox.ExpireUser, sandbox.Password))

			first := a.waitStatus(t, "house-1", token, "ok")
			before := a.accounts(t, token)
			if len(before) == 0 {
				t.Fatal("no accounts after the first sync")
			}
			for _, acc := range before {
				if through, _ := acc.(map[string]any)["data_through"].(float64); through <= 0 || through > float64(a.clock.Now().Unix()) {
					t.Errorf("account data_through = %v, want a time up to now", acc.(map[string]any)["data_through"])
				}
			}
			next, _ := first["next_attempt_at"].(float64)
			if want := float64(a.clock.Now().Add(12 * time.Hour).Unix()); next < want-72*60 || next > want+72*60 {
				t.Errorf("next_attempt_at = %v, want 12 h ± 72 min from now (%v)", next, want)
			}

			// The scheduled refresh, 12 h ± 72 min later.
			a.clock.Advance(13*time.Hour + 12*time.Minute)
			st := a.waitStatus(t, "house-1", token, "needs_reauth")
			if _, valid := a.syncObject(t, "house-1", token); valid {
				t.Error("credentials_valid still true after the login was rejected")
			}
			if st["error_code"] != "bad_credentials" || st["next_attempt_at"] != nil || st["last_success_at"] != first["last_success_at"] {
				t.Errorf("sync object after the rejected login: %v", st)
			}
			if diff := cmp.Diff(before, a.accounts(t, token)); diff != "" {
				t.Errorf("accounts changed (-before +after):\n%s", diff)
			}
			status, out := a.call(t, "POST", "/users/house-1/refresh", token, nil)
			if status != http.StatusAccepted || out["sync"].(map[string]any)["status"] != "needs_reauth" {
				t.Errorf("refresh of a rejected login: %d %v", status, out)
			}

			// Update mode: same user_id, a fresh Connect.
			a.clock.Advance(time.Minute)
			code := a.connect(t, "house-1", sandbox.ExpireUser, sandbox.Password)
			if _, valid := a.syncObject(t, "house-1", token); !valid {
				t.Error("credentials_valid not true right after reconnecting")
			}
			st = a.waitStatus(t, "house-1", token, "ok") // the old access token still works
			if st["last_success_at"] != float64(a.clock.Now().Unix()) || st["error_code"] != nil {
				t.Errorf("sync object after reconnecting: %v", st)
			}
			if token2 := a.exchange(t, code); token2 == token {
				t.Error("the update-mode code gave the old token back")
			}
			after := a.accounts(t, token)
			if len(after) != len(before) {
				t.Fatalf("%d accounts after reconnecting, %d before", len(after), len(before))
			}
			for i := range before {
				if after[i].(map[string]any)["id"] != before[i].(map[string]any)["id"] {
					t.Errorf("account %d id changed from %v to %v", i, before[i].(map[string]any)["id"], after[i].(map[string]any)["id"])
				}
			}

			// Refresh on demand: 202, then a sync runs. (A refresh that
			// arrives while a scheduled job is running is absorbed by it;
			// that job may be one finding the user just synced, so the
			// client asks again until it sees the attempt.)
			a.clock.Advance(time.Hour)
			deadline := time.Now().Add(60 * time.Second)
			for {
				status, out = a.call(t, "POST", "/users/house-1/refresh", token, nil)
				if status != http.StatusAccepted {
					t.Fatalf("refresh: %d %v", status, out)
				}
				time.Sleep(100 * time.Millisecond)
				st, _ = a.syncObject(t, "house-1", token)
				if st["last_attempt_at"] == float64(a.clock.Now().Unix()) && st["status"] != "syncing" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no sync after refresh: %v", st)
				}
			}
			// expire@ is rejected on every fetch after its first with a
			// login: the refresh found it so.
			if st["status"] != "needs_reauth" {
				t.Errorf("status after refreshing expire@ = %v, want needs_reauth", st["status"])
			}
		})
	}
}

// pgSchema returns the test server's DSN (skipping without one) and a new
// schema dropped when the test ends.
func pgSchema(t *testing.T) (string, string) {
	t.Helper()
	dsn := testenv.Postgres(t)
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "gl_e2etest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return dsn, schema
}
