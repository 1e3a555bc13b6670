package portal_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/portal"
	"github.com/gridlink/gridlink/internal/demoutility"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	c.mu.Unlock()
	return ctx.Err()
}

// flow describes the demo utility's sign-in pages.
func flow() *portal.LoginFlow {
	return &portal.LoginFlow{
		Path: "/login", Form: "form#login-form", UserField: "username", PasswordField: "password",
		SignedIn: "table#accounts",
		Rules: []portal.Rule{
			{Kind: connector.KindBadCredentials, Selector: ".alert-error", Text: "username or password"},
			{Kind: connector.KindMFAFailed, Selector: ".alert-error", Text: "code is incorrect"},
		},
		ChooseForm: "form#mfa-choose", MethodField: "method", ChoosePrompt: "How should we send your code?",
		CodeForm: "form#mfa-verify", CodeField: "code", Prompt: ".mfa-prompt",
		CodeExtra: []portal.Field{{Name: "remember_device", Value: "1"}},
	}
}

func demoSite(t *testing.T) (*demoutility.Site, *portal.Toolkit, portal.Options) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)}
	site := demoutility.New(demoutility.Config{Now: c.Now, Rand: rand.NewChaCha8([32]byte{9}), HistoryMonths: 1})
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	tk := portal.New(portal.Config{Now: c.Now, Sleep: c.Sleep})
	return site, tk, portal.Options{BaseURL: srv.URL, Login: flow()}
}

func kind(err error) connector.Kind { return connector.KindOf(err) }

func TestLoginFlowWithChoiceAndCode(t *testing.T) {
	ctx := context.Background()
	site, tk, o := demoSite(t)
	carol := connector.Credentials{Username: demoutility.Carol, Password: demoutility.CarolPassword}

	l, err := tk.Login(ctx, o, carol)
	if err != nil || l.Challenge == nil || len(l.Challenge.Methods) != 2 || l.Challenge.Prompt != "How should we send your code?" {
		t.Fatalf("login: %+v, %v", l.Challenge, err)
	}
	choice := l.Challenge.State
	if _, err := tk.ChooseMFAMethod(ctx, o, carol, choice, "fax"); kind(err) != connector.KindMFAFailed {
		t.Errorf("unknown method: %v", err)
	}
	other := connector.Credentials{Username: demoutility.Bob, Password: demoutility.BobPassword}
	if _, err := tk.ChooseMFAMethod(ctx, o, other, choice, "sms"); kind(err) != connector.KindInternal {
		t.Errorf("another user's state: %v", err)
	}
	if _, err := tk.SubmitMFA(ctx, o, carol, choice, "123456"); kind(err) != connector.KindInternal {
		t.Errorf("a code on the choice state: %v", err)
	}
	ch, err := tk.ChooseMFAMethod(ctx, o, carol, choice, "sms")
	if err != nil || len(ch.Methods) != 0 || ch.Prompt == "" {
		t.Fatalf("choose: %+v, %v", ch, err)
	}
	code, _ := site.LatestCode(demoutility.Carol)
	if _, err := tk.SubmitMFA(ctx, o, carol, ch.State, "not-"+code); kind(err) != connector.KindMFAFailed {
		t.Errorf("wrong code: %v", err)
	}
	l, err = tk.SubmitMFA(ctx, o, carol, ch.State, code)
	if err != nil || l.Session == nil {
		t.Fatalf("right code after a wrong one: %+v, %v", l, err)
	}

	// Fetch: the saved session works; after the site's session ends, the
	// remembered device signs in again without a code.
	s, p, err := tk.Resume(ctx, o, carol, l.Session, "/accounts")
	if err != nil || !p.Has("table#accounts") {
		t.Fatalf("resume: %v", err)
	}
	saved, _ := s.SaveLogin(carol.Username)
	site.ExpireSessions()
	sent := site.Stats().CodesSent
	if _, p, err = tk.Resume(ctx, o, carol, saved, "/accounts"); err != nil || !p.Has("table#accounts") {
		t.Fatalf("resume after the site session ended: %v", err)
	}
	if site.Stats().CodesSent != sent {
		t.Error("a remembered device was asked for a code")
	}
	// Someone else's session is not used: bob signs in himself.
	if _, _, err := tk.Resume(ctx, o, other, saved, "/accounts"); kind(err) != connector.KindMFARequired {
		t.Errorf("bob with carol's session: %v, want mfa_required (his own sign-in, no device)", err)
	}
	site.ExpireSessions()
	site.ForgetDevices("")
	if _, _, err := tk.Resume(ctx, o, carol, saved, "/accounts"); kind(err) != connector.KindMFARequired {
		t.Errorf("forgotten device: %v", err)
	}
	site.SetPassword(demoutility.Carol, "changed-password")
	if _, _, err := tk.Resume(ctx, o, carol, saved, "/accounts"); kind(err) != connector.KindBadCredentials {
		t.Errorf("changed password: %v", err)
	}
}

func TestLoginFlowStepExpired(t *testing.T) {
	ctx := context.Background()
	site, tk, o := demoSite(t)
	bob := connector.Credentials{Username: demoutility.Bob, Password: demoutility.BobPassword}
	l, err := tk.Login(ctx, o, bob)
	if err != nil || l.Challenge == nil || len(l.Challenge.Methods) != 0 {
		t.Fatalf("login: %+v, %v", l, err)
	}
	// The site gives up after five wrong codes and drops the sign-in.
	var last error
	for range demoutility.MaxCodeAttempts {
		_, last = tk.SubmitMFA(ctx, o, bob, l.Challenge.State, "x")
	}
	var ce *connector.Error
	if !errors.As(last, &ce) || ce.Kind != connector.KindMFAFailed || ce.Message != portal.MsgStepExpired {
		t.Errorf("after the site dropped the sign-in: %v", last)
	}
	code, _ := site.LatestCode(demoutility.Bob)
	if _, err := tk.SubmitMFA(ctx, o, bob, l.Challenge.State, code); kind(err) != connector.KindMFAFailed {
		t.Errorf("the right code on a dropped sign-in: %v", err)
	}
}

func TestLoginFlowNeedsAFlow(t *testing.T) {
	_, tk, o := demoSite(t)
	o.Login = nil
	ctx := context.Background()
	if _, err := tk.Login(ctx, o, connector.Credentials{}); kind(err) != connector.KindInternal {
		t.Errorf("Login without a flow: %v", err)
	}
	if _, _, err := tk.Resume(ctx, o, connector.Credentials{}, nil, "/"); kind(err) != connector.KindInternal {
		t.Errorf("Resume without a flow: %v", err)
	}
}
