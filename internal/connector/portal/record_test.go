package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridlink/gridlink/internal/connector"
)

func TestRecordScrubAndReplay(t *testing.T) {
	ctx := context.Background()
	srv := loginSite(t)
	rec := NewRecorder(nil)
	tk := New(Config{HTTPClient: &http.Client{Transport: rec}, Limits: Limits{MinInterval: -1}})
	s := newSession(t, tk, srv, Options{})
	if p, err := signIn(ctx, s, "ann", "s3cret-pass"); err != nil || !p.Has("#welcome") {
		t.Fatalf("recording login: %v", err)
	}
	path := filepath.Join(t.TempDir(), "testdata", "login.json")
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixture := string(raw)
	for _, secret := range []string{"s3cret-pass", "pre-7f3a9c", "sid-9b8c7d6e", "tok-5e1d0b22", srv.Listener.Addr().String()} {
		if strings.Contains(fixture, secret) {
			t.Errorf("the fixture contains %q", secret)
		}
	}
	for _, placeholder := range []string{"scrubbed-password-1", "scrubbed-cookie-1", "scrubbed-cookie-2", "scrubbed-token-1", `"ann"`} {
		if !strings.Contains(fixture, placeholder) {
			t.Errorf("the fixture lacks %s", placeholder)
		}
	}

	// Replay on another base URL, with the site gone.
	srv.Close()
	fx, err := LoadFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(user string) (*Page, *Replayer, error) {
		rp := NewReplayer(fx)
		tk := New(Config{HTTPClient: &http.Client{Transport: rp}, Limits: Limits{MinInterval: -1}})
		s, err := tk.NewSession(Options{BaseURL: "http://portal.invalid", Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		p, err := signIn(ctx, s, user, "any password matches a scrubbed one")
		return p, rp, err
	}
	p, rp, err := replay("ann")
	if err != nil {
		t.Fatalf("replay: %v (replayer: %v)", err, rp.Err())
	}
	if !p.Has("#welcome") {
		t.Errorf("replayed login landed on %s", p.URL)
	}
	if err := rp.Err(); err != nil {
		t.Errorf("replay: %v", err)
	}

	// A request that differs from the recording fails the replay.
	if _, rp, err := replay("bob"); err == nil || rp.Err() == nil || !strings.Contains(rp.Err().Error(), "form") {
		t.Errorf("replay with another username: err %v, replayer %v", err, rp.Err())
	}
}

func TestRecordScrubsExplicitSecretsAsWholeTokens(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/outbox":
			htmlPage(w, 200, `<p>Account 1077345636: your code is <b>345636</b>.</p><a href="/verify?otp=345636&x=1">go</a>`)
		case "/leak.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF-1.4 code 345636 %%EOF"))
		}
	}))
	defer srv.Close()

	record := func(path string) (*Fixture, error) {
		rec := NewRecorder(nil)
		s := newSession(t, New(Config{HTTPClient: &http.Client{Transport: rec}, Limits: Limits{MinInterval: -1}}), srv, Options{})
		if _, err := s.Get(context.Background(), path); err != nil && connector.KindOf(err) != connector.KindLayoutChanged {
			t.Fatal(err)
		}
		rec.AddSecrets("345636")
		return rec.Fixture()
	}
	fx, err := record("/outbox")
	if err != nil {
		t.Fatal(err)
	}
	body := fx.Exchanges[0].Response.Body
	if !strings.Contains(body, "Account 1077345636") || strings.Contains(body, ">345636<") || strings.Contains(body, "otp=345636") {
		t.Errorf("scrubbed body:\n%s", body)
	}
	if _, err := record("/leak.pdf"); err == nil {
		t.Error("a secret in a binary body was recorded")
	}
}
