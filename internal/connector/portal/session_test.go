package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink/internal/connector"
)

// loginSite is a tiny portal: GET /login sets a pre-login cookie and
// renders a form with a CSRF token bound to it; POST /login checks the
// token and the password and sets a session cookie; /home needs it.
func loginSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "pre", Value: "pre-7f3a9c", Path: "/", HttpOnly: true})
		htmlPage(w, 200, `<form id="login" method="post" action="/login">
			<input type="hidden" name="csrf_token" value="tok-5e1d0b22">
			<input name="username"><input type="password" name="password">
			<label><input type="checkbox" name="remember" value="yes"> Remember me</label>
			<button type="submit" name="go" value="1">Sign in</button></form>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("pre")
		if err != nil || c.Value != "pre-7f3a9c" || r.PostFormValue("csrf_token") != "tok-5e1d0b22" {
			htmlPage(w, http.StatusForbidden, "bad token")
			return
		}
		if r.PostFormValue("username") != "ann" || r.PostFormValue("password") != "s3cret-pass" {
			htmlPage(w, 200, `<div class="error">Incorrect username or password</div>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "sid-9b8c7d6e", Path: "/", HttpOnly: true, MaxAge: 3600})
		http.Redirect(w, r, "/home", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "sid-9b8c7d6e" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		htmlPage(w, 200, `<h1 id="welcome">Welcome, ann</h1>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func signIn(ctx context.Context, s *Session, user, pass string) (*Page, error) {
	p, err := s.Get(ctx, "/login")
	if err != nil {
		return nil, err
	}
	f, err := p.Form("form#login")
	if err != nil {
		return nil, err
	}
	f.Set("username", user)
	f.Set("password", pass)
	return s.Submit(ctx, f)
}

func TestSessionLoginSaveRestore(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	tk := newKit(c, Limits{})
	srv := loginSite(t)
	s := newSession(t, tk, srv, Options{})

	p, err := signIn(ctx, s, "ann", "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Text("#welcome"); got != "Welcome, ann" {
		t.Fatalf("after login: page %s says %q", p.URL.Path, got)
	}
	saved, err := s.Save(map[string]string{"step": "done"})
	if err != nil {
		t.Fatal(err)
	}

	// A later call restores the session: no login needed.
	var data map[string]string
	s2, err := tk.Restore(Options{BaseURL: srv.URL}, saved, &data)
	if err != nil {
		t.Fatal(err)
	}
	if data["step"] != "done" {
		t.Errorf("restored data = %v", data)
	}
	p, err = s2.Get(ctx, "/home")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("#welcome") {
		t.Errorf("restored session was not signed in: landed on %s", p.URL.Path)
	}

	// After the session cookie's Max-Age, a restore drops it.
	c.Advance(2 * time.Hour)
	s3, err := tk.Restore(Options{BaseURL: srv.URL}, saved, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s3.Cookie("sid"); ok {
		t.Error("expired session cookie survived the restore")
	}
	p, err = s3.Get(ctx, "/home")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("form#login") {
		t.Errorf("expired session: landed on %s, want the login page", p.URL.Path)
	}

	for _, bad := range [][]byte{nil, []byte("{"), []byte(`{"v":99}`)} {
		if _, err := tk.Restore(Options{BaseURL: srv.URL}, bad, nil); !errors.Is(err, ErrBadState) {
			t.Errorf("Restore(%q) = %v, want ErrBadState", bad, err)
		}
	}
}

func TestSessionWrongPasswordRule(t *testing.T) {
	ctx := context.Background()
	srv := loginSite(t)
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	p, err := signIn(ctx, s, "ann", "nope")
	if err != nil {
		t.Fatal(err)
	}
	rules := []Rule{
		{Kind: connector.KindUnavailable, Selector: ".maintenance"},
		{Kind: connector.KindBadCredentials, Selector: ".error", Text: "INCORRECT username"},
	}
	if k := kindOf(t, p.Check(rules...)); k != connector.KindBadCredentials {
		t.Errorf("kind = %v, want bad_credentials", k)
	}
	if err := p.Check(rules[0]); err != nil {
		t.Errorf("a rule that does not match fired: %v", err)
	}
}

// statusSite answers each path with a scripted sequence of statuses.
type statusSite struct {
	hits  atomic.Int32
	plan  []int // status per attempt; the last one repeats
	extra func(w http.ResponseWriter, attempt int)
	post  bool
}

func (st *statusSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(st.hits.Add(1)) - 1
	code := st.plan[min(n, len(st.plan)-1)]
	if st.extra != nil {
		st.extra(w, n)
	}
	if code == 200 {
		htmlPage(w, 200, `<p id="ok">fine</p>`)
		return
	}
	htmlPage(w, code, fmt.Sprintf("<h1>%d</h1>", code))
}

func TestSessionRetriesAndStatuses(t *testing.T) {
	tests := []struct {
		name      string
		post      bool
		plan      []int
		retryHdr  string
		wantKind  connector.Kind // KindInternal: success
		wantHits  int32
		wantSleep []time.Duration // the fake clock's sleeps (pacing is off)
		wantRA    time.Duration
	}{
		{name: "503 twice then ok", plan: []int{503, 503, 200}, wantKind: connector.KindInternal, wantHits: 3,
			wantSleep: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "502 then ok", plan: []int{502, 200}, wantKind: connector.KindInternal, wantHits: 2,
			wantSleep: []time.Duration{250 * time.Millisecond}},
		{name: "always 503", plan: []int{503}, wantKind: connector.KindUnavailable, wantHits: 4,
			wantSleep: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}},
		{name: "503 with long Retry-After", plan: []int{503}, retryHdr: "600", wantKind: connector.KindUnavailable, wantHits: 1, wantRA: 10 * time.Minute},
		{name: "POST 500 is not replayed", post: true, plan: []int{500, 200}, wantKind: connector.KindUnavailable, wantHits: 1},
		{name: "POST 503 is replayed", post: true, plan: []int{503, 200}, wantKind: connector.KindInternal, wantHits: 2,
			wantSleep: []time.Duration{250 * time.Millisecond}},
		{name: "429 with short Retry-After is waited out", plan: []int{429, 200}, retryHdr: "3", wantKind: connector.KindInternal, wantHits: 2,
			wantSleep: []time.Duration{3 * time.Second}},
		{name: "429 with long Retry-After", plan: []int{429}, retryHdr: "120", wantKind: connector.KindRateLimited, wantHits: 1, wantRA: 2 * time.Minute},
		{name: "404 means the page moved", plan: []int{404}, wantKind: connector.KindLayoutChanged, wantHits: 1},
		{name: "403", plan: []int{403}, wantKind: connector.KindLayoutChanged, wantHits: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &statusSite{plan: tc.plan}
			if tc.retryHdr != "" {
				st.extra = func(w http.ResponseWriter, _ int) { w.Header().Set("Retry-After", tc.retryHdr) }
			}
			srv := httptest.NewServer(st)
			defer srv.Close()
			c := newClock()
			s := newSession(t, newKit(c, Limits{}), srv, Options{})
			var err error
			if tc.post {
				_, err = s.Submit(context.Background(), &Form{Method: "POST", Action: srv.URL + "/x", Fields: []Field{{"a", "b"}}})
			} else {
				_, err = s.Get(context.Background(), "/x")
			}
			if tc.wantKind == connector.KindInternal {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else if k := kindOf(t, err); k != tc.wantKind {
				t.Fatalf("kind = %v, want %v (%v)", k, tc.wantKind, err)
			}
			if got := st.hits.Load(); got != tc.wantHits {
				t.Errorf("site saw %d requests, want %d", got, tc.wantHits)
			}
			if diff := cmp.Diff(tc.wantSleep, c.Slept()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			var ce *connector.Error
			if errors.As(err, &ce) && ce.RetryAfter != tc.wantRA {
				t.Errorf("RetryAfter = %v, want %v", ce.RetryAfter, tc.wantRA)
			}
		})
	}
}

func TestSessionRetryJitterStaysInRange(t *testing.T) {
	// With a real random source every wait is in [d/2, d).
	st := &statusSite{plan: []int{503, 503, 503, 200}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	c := newClock()
	tk := New(Config{Now: c.Now, Sleep: c.Sleep, Limits: Limits{MinInterval: -1}})
	s := newSession(t, tk, srv, Options{Backoff: time.Second})
	if _, err := s.Get(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	slept := c.Slept()
	if len(slept) != 3 {
		t.Fatalf("waits = %v, want 3", slept)
	}
	for i, d := range slept {
		nominal := time.Second << i
		if d < nominal/2 || d >= nominal {
			t.Errorf("wait %d = %v, want in [%v, %v)", i, d, nominal/2, nominal)
		}
	}
}

func TestSessionPostRedirectRetryReloadsTarget(t *testing.T) {
	// The POST succeeds and redirects; the page it leads to fails once.
	var posts, gets atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /go", func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Redirect(w, r, "/done", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		if gets.Add(1) == 1 {
			htmlPage(w, 503, "busy")
			return
		}
		htmlPage(w, 200, `<p id="ok">ok</p>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	p, err := s.Submit(context.Background(), &Form{Method: "POST", Action: srv.URL + "/go"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("#ok") || posts.Load() != 1 || gets.Load() != 2 {
		t.Errorf("posts=%d gets=%d ok=%v; want the POST once and the page twice", posts.Load(), gets.Load(), p.Has("#ok"))
	}
}

func TestSessionStaysOnSite(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		htmlPage(w, 200, "other")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	if _, err := s.Get(context.Background(), "/"); kindOf(t, err) != connector.KindLayoutChanged {
		t.Errorf("redirect off the site: %v", err)
	}
	if _, err := s.Get(context.Background(), other.URL+"/x"); kindOf(t, err) != connector.KindLayoutChanged {
		t.Errorf("direct request off the site: %v", err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	s2 := newSession(t, newKit(newClock(), Limits{}), srv, Options{ExtraHosts: []string{strings.TrimPrefix(other.URL, "http://")}})
	if _, err := s2.Get(context.Background(), other.URL+"/x"); err != nil || reached.Load() != 1 {
		t.Errorf("an extra host: %v, %d requests", err, reached.Load())
	}
}

func TestSessionNotAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{})
	if _, err := s.Get(context.Background(), "/"); kindOf(t, err) != connector.KindLayoutChanged {
		t.Errorf("JSON instead of a page: %v", err)
	}
}

func TestSessionSiteWideRules(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		htmlPage(w, 200, `<main class="maintenance"><h1>We are down for scheduled maintenance</h1></main>`)
	}))
	defer srv.Close()
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{Rules: []Rule{
		{Kind: connector.KindUnavailable, Selector: "main.maintenance"},
	}})
	_, err := s.Get(context.Background(), "/")
	if kindOf(t, err) != connector.KindUnavailable {
		t.Errorf("maintenance page: %v", err)
	}
}

func TestSessionTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newSession(t, newKit(newClock(), Limits{}), srv, Options{Timeout: 50 * time.Millisecond, Retries: -1})
	_, err := s.Get(context.Background(), "/")
	if k := connector.KindOf(err); k != connector.KindUnavailable {
		t.Errorf("a site that never answers: kind %v (%v), want utility_unavailable", k, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	flow := func(edit func(*LoginFlow)) *LoginFlow {
		fl := &LoginFlow{Path: "/login", Form: "form", UserField: "u", PasswordField: "p", SignedIn: "#home",
			CodeForm: "#code", CodeField: "code", Prompt: ".prompt"}
		edit(fl)
		return fl
	}
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"plain", Options{BaseURL: "https://portal.example"}, true},
		{"with a flow", Options{BaseURL: "http://localhost:8090", Login: flow(func(*LoginFlow) {})}, true},
		{"relative base", Options{BaseURL: "/login"}, false},
		{"no base", Options{}, false},
		{"ftp base", Options{BaseURL: "ftp://portal.example"}, false},
		{"flow without a signed-in marker", Options{BaseURL: "https://p.example", Login: flow(func(f *LoginFlow) { f.SignedIn = "" })}, false},
		{"choice without its field", Options{BaseURL: "https://p.example", Login: flow(func(f *LoginFlow) { f.ChooseForm = "#choose" })}, false},
		{"code form without a prompt", Options{BaseURL: "https://p.example", Login: flow(func(f *LoginFlow) { f.Prompt = "" })}, false},
	}
	for _, tc := range tests {
		err := tc.o.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
		if _, serr := New(Config{}).NewSession(tc.o); (serr == nil) != tc.ok {
			t.Errorf("%s: NewSession = %v", tc.name, serr)
		}
	}
}
