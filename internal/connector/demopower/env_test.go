package demopower_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/demopower"
	"github.com/gridlink/gridlink/internal/connector/portal"
	"github.com/gridlink/gridlink/internal/demoutility"
)

// update re-records the fixtures under testdata against a live demo site:
//
//	go test ./internal/connector/demopower -run TestScenarios -update
var update = flag.Bool("update", false, "re-record the fixtures in testdata against a live demo site")

// testNow is the start of the fake clock: Tuesday 10 March 2026, 10:00
// in Denver (the demo utility's time zone).
var testNow = time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)

// clock is shared by the demo site and the connector; sleeping (pacing,
// backoff, Retry-After) advances it at once.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(max(d, 0))
	return ctx.Err()
}

type mode int

const (
	live   mode = iota // against the demo site, served by httptest
	record             // live, recording the fixture
	replay             // from the fixture, without a site
)

func (m mode) String() string { return [...]string{"live", "record", "replay"}[m] }

// env is one scenario run.
type env struct {
	t     *testing.T
	mode  mode
	clock *clock
	site  *demoutility.Site // nil when replaying
	conn  *demopower.Connector
	// http reads the outbox through the same recorded or replayed
	// transport as the connector.
	http *http.Client
	base string
	ctx  context.Context
	// sessions are the upstream sessions the connector returned, whose
	// cookie values must not reach a fixture.
	sessions [][]byte
}

type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func fixturePath(name string) string { return filepath.Join("testdata", name+".json") }

func newEnv(t *testing.T, m mode, name string, cfg demoutility.Config) *env {
	t.Helper()
	e := &env{t: t, mode: m, clock: &clock{t: testNow}, ctx: context.Background()}
	var transport http.RoundTripper
	switch m {
	case replay:
		fx, err := portal.LoadFixture(fixturePath(name))
		if err != nil {
			t.Fatalf("%v (record it with: go test ./internal/connector/demopower -run 'TestScenarios/%s' -update)", err, name)
		}
		rp := portal.NewReplayer(fx)
		transport, e.base = rp, "http://demo-power.invalid"
		t.Cleanup(func() {
			if err := rp.Err(); err != nil {
				t.Errorf("%v (if the connector changed on purpose, re-record with -update)", err)
			}
		})
	default:
		cfg.Now = e.clock.Now
		cfg.Rand = rand.NewChaCha8([32]byte{7})
		cfg.HistoryMonths = 1
		e.site = demoutility.New(cfg)
		srv := httptest.NewServer(e.site)
		t.Cleanup(srv.Close)
		transport, e.base = http.DefaultTransport, srv.URL
		if m == record {
			rec := portal.NewRecorder(http.DefaultTransport)
			transport = rec
			t.Cleanup(func() { e.save(rec, name) })
		}
	}
	e.http = &http.Client{Transport: transport}
	tk := portal.New(portal.Config{HTTPClient: e.http, Now: e.clock.Now, Sleep: e.clock.Sleep, Rand: zeroRand{}})
	conn, err := demopower.New(demopower.Config{BaseURL: e.base, Toolkit: tk})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	return e
}

// save writes the fixture and checks that it holds no secret: no typed
// password, no code, no cookie value.
func (e *env) save(rec *portal.Recorder, name string) {
	t := e.t
	if t.Failed() {
		t.Logf("not saving fixture %s: the scenario failed", name)
		return
	}
	var secrets []string
	for _, p := range []string{demoutility.AlicePassword, demoutility.BobPassword, demoutility.CarolPassword, "new-password-1"} {
		secrets = append(secrets, p)
	}
	for _, m := range e.site.Outbox() {
		secrets = append(secrets, m.Code)
	}
	rec.AddSecrets(secrets...)
	path := fixturePath(name)
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range e.sessions {
		var saved struct {
			Cookies []struct{ Value string } `json:"cookies"`
		}
		if err := json.Unmarshal(s, &saved); err != nil {
			t.Fatalf("session is not the toolkit's JSON: %v", err)
		}
		for _, c := range saved.Cookies {
			secrets = append(secrets, c.Value)
		}
	}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("fixture %s contains the secret %q", path, s)
		}
	}
	t.Logf("recorded %s (%d bytes)", path, len(raw))
}

// onSite runs f against the live site; when replaying, the fixture
// already holds its effects.
func (e *env) onSite(f func(s *demoutility.Site)) {
	if e.site != nil {
		f(e.site)
	}
}

// stats returns the site's counters (ok=false when replaying).
func (e *env) stats() (demoutility.Stats, bool) {
	if e.site == nil {
		return demoutility.Stats{}, false
	}
	return e.site.Stats(), true
}

// latestCode reads the newest code sent to user from the /outbox page, as
// a person would read their phone.
func (e *env) latestCode(user string) string {
	e.t.Helper()
	resp, err := e.http.Get(e.base + "/outbox?user=" + user)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		e.t.Fatal(err)
	}
	code := strings.TrimSpace(doc.Find("li.message .code").First().Text())
	if code == "" {
		e.t.Fatalf("no code for %s in the outbox", user)
	}
	return code
}

func (e *env) login(user, password string) (connector.Login, error) {
	l, err := e.conn.Login(e.ctx, connector.Credentials{Username: user, Password: password})
	if l.Session != nil {
		e.sessions = append(e.sessions, l.Session)
	}
	if l.Challenge != nil {
		e.sessions = append(e.sessions, l.Challenge.State)
	}
	return l, err
}

func (e *env) submit(user, password string, state []byte, code string) (connector.Login, error) {
	l, err := e.conn.SubmitMFA(e.ctx, connector.Credentials{Username: user, Password: password}, state, code)
	if l.Session != nil {
		e.sessions = append(e.sessions, l.Session)
	}
	return l, err
}

func (e *env) fetch(user, password string, session []byte, since time.Time) (*connector.Data, error) {
	d, err := e.conn.Fetch(e.ctx, connector.FetchRequest{
		Credentials: connector.Credentials{Username: user, Password: password},
		Session:     session, Since: since, Now: e.clock.Now(),
	})
	if d != nil && d.Session != nil {
		e.sessions = append(e.sessions, d.Session)
	}
	return d, err
}

// mustLogin signs in fully (answering a code by text if asked) and
// returns the session.
func (e *env) mustLogin(user, password string) []byte {
	e.t.Helper()
	l, err := e.login(user, password)
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	if l.Challenge != nil {
		state := l.Challenge.State
		if len(l.Challenge.Methods) > 0 {
			ch, err := e.conn.ChooseMFAMethod(e.ctx, connector.Credentials{Username: user, Password: password}, state, demoutility.MethodSMS)
			if err != nil {
				e.t.Fatalf("choose method: %v", err)
			}
			state = ch.State
		}
		if l, err = e.submit(user, password, state, e.latestCode(user)); err != nil {
			e.t.Fatalf("submit code: %v", err)
		}
	}
	if l.Session == nil {
		e.t.Fatalf("login %s: no session", user)
	}
	return l.Session
}

// wantKind checks that err is a classified connector error of kind with
// a user-safe message.
func wantKind(t *testing.T, err error, kind connector.Kind) *connector.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v", kind)
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connector.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("kind %v (%v), want %v", ce.Kind, err, kind)
	}
	if ce.Message == "" || strings.Contains(ce.Message, "password-") {
		t.Errorf("message %q", ce.Message)
	}
	return ce
}
