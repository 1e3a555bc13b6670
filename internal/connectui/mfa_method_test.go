package connectui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/demopower"
	"github.com/gridlink/gridlink/internal/connector/portal"
	"github.com/gridlink/gridlink/internal/demoutility"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

// Logins of choiceUtility.
const (
	choiceUser   = "carol@test"
	choicePrompt = "How should Two Ways Gas send your verification code?"
	// messyUser is offered choices with malformed ids and labels.
	messyUser = "messy@test"
)

var twoMethods = []connector.MFAMethod{
	{ID: "sms", Label: "Text message to (***) ***-0199"},
	{ID: "email", Label: "E-mail to c****@example.com"},
}

// choiceUtility asks for a one-time code and lets the user choose how it
// is delivered, as many utility sites do.
type choiceUtility struct {
	// refuse makes ChooseMFAMethod answer KindMFAFailed (the site would
	// not send by that method); expire, that the paused sign-in is gone.
	refuse, expire atomic.Bool
	chosen         atomic.Int64

	mu        sync.Mutex
	choices   []string // the methods ChooseMFAMethod was called with
	codeState string   // the state SubmitMFA last received
}

func (c *choiceUtility) Login(ctx context.Context, cr connector.Credentials) (connector.Login, error) {
	if cr.Password != goodPassword {
		return connector.Login{}, connector.Errorf(connector.KindBadCredentials, "wrong username or password")
	}
	switch cr.Username {
	case choiceUser:
		return connector.Login{Challenge: &connector.Challenge{Prompt: choicePrompt, Methods: twoMethods, State: []byte("choose-state")}}, nil
	case messyUser:
		return connector.Login{Challenge: &connector.Challenge{Prompt: "How?", State: []byte("choose-state"), Methods: []connector.MFAMethod{
			{ID: "", Label: "no id"},
			{ID: "sms", Label: "Text\nmessage \x00to\t 0199"},
			{ID: "sms", Label: "the same id again"},
			{ID: strings.Repeat("x", maxMethodID+1), Label: "id too long"},
			{ID: "bad\xffid", Label: "id not UTF-8"},
			{ID: "email", Label: "E-mail \xff to " + strings.Repeat("é", 200)},
			{ID: "voice", Label: "  "},
		}}}, nil
	}
	return connector.Login{}, connector.Errorf(connector.KindBadCredentials, "wrong username or password")
}

func (c *choiceUtility) ChooseMFAMethod(ctx context.Context, cr connector.Credentials, state []byte, method string) (connector.Challenge, error) {
	c.chosen.Add(1)
	c.mu.Lock()
	c.choices = append(c.choices, method)
	c.mu.Unlock()
	switch {
	case cr.Password != goodPassword || string(state) != "choose-state":
		return connector.Challenge{}, connector.Errorf(connector.KindInternal, "challenge state lost")
	case c.expire.Load():
		return connector.Challenge{}, connector.Errorf(connector.KindMFAFailed, portal.MsgStepExpired)
	case c.refuse.Load():
		return connector.Challenge{}, connector.Errorf(connector.KindMFAFailed, "Please choose one of the offered ways to get a code.")
	}
	return connector.Challenge{Prompt: "Enter the code we sent by " + method + ".", State: []byte("code-state-" + method)}, nil
}

func (c *choiceUtility) SubmitMFA(ctx context.Context, cr connector.Credentials, state []byte, code string) (connector.Login, error) {
	c.mu.Lock()
	c.codeState = string(state)
	c.mu.Unlock()
	if !strings.HasPrefix(string(state), "code-state-") {
		return connector.Login{}, connector.Errorf(connector.KindInternal, "not waiting for a code")
	}
	if code != goodCode {
		return connector.Login{}, connector.Errorf(connector.KindMFAFailed, "wrong code")
	}
	return connector.Login{Session: []byte("session-after-" + string(state))}, nil
}

func (c *choiceUtility) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	return nil, connector.Errorf(connector.KindInternal, "not used in these tests")
}

// noChooserUtility offers delivery choices but cannot take one (a broken
// connector).
type noChooserUtility struct{ fakeUtility }

func (*noChooserUtility) Login(ctx context.Context, cr connector.Credentials) (connector.Login, error) {
	return connector.Login{Challenge: &connector.Challenge{Prompt: "How?", Methods: twoMethods, State: []byte("s")}}, nil
}

// newChoiceEnv is a Connect server whose only utilities are reached by a
// choiceUtility (two-ways) and a noChooserUtility (broken).
func newChoiceEnv(t *testing.T) (*env, *choiceUtility) {
	t.Helper()
	cat, err := catalog.New([]gridlink.Utility{
		{ID: 1, Slug: "two-ways", Name: "Two Ways Gas", Connector: "choice"},
		{ID: 2, Slug: "broken", Name: "Broken Power", Connector: "broken"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fake := &choiceUtility{}
	e := newEnv(t, envOptions{catalog: cat, connectors: connector.Registry{"choice": fake, "broken": &noChooserUtility{}}})
	return e, fake
}

// methodsOffered returns the id and label text of each radio on the page.
func methodsOffered(b *browser) []connector.MFAMethod {
	var out []connector.MFAMethod
	b.page.Find(`form[action$="/mfa-method"] input[type=radio][name=method]`).Each(func(_ int, in *goquery.Selection) {
		id, value := in.AttrOr("id", ""), in.AttrOr("value", "")
		label := strings.TrimSpace(b.page.Find(`label[for="` + id + `"]`).Text())
		out = append(out, connector.MFAMethod{ID: value, Label: label})
	})
	return out
}

func TestMFAMethodChoice(t *testing.T) {
	t.Run("choose e-mail, then the code", func(t *testing.T) {
		e, fake := newChoiceEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, ptr("st")), "two-ways")
		login(b, choiceUser, goodPassword)
		sid := b.sid()
		if got := strings.TrimSpace(b.page.Find("h1").Text()); got != choicePrompt {
			t.Errorf("heading = %q, want the site's prompt", got)
		}
		if diff := cmp.Diff(twoMethods, methodsOffered(b)); diff != "" {
			t.Fatalf("choices (-want +got):\n%s\npage: %s", diff, b.text())
		}
		if b.has(`input[name=code]`) || b.page.Find(`input[type=radio][required]`).Length() != 2 {
			t.Errorf("choice page: %s", b.text())
		}
		s := e.session(sid)
		if s.Step != store.StepMFA || s.Pending == nil || strings.Contains(string(s.Pending), goodPassword) || strings.Contains(string(s.Pending), "c****") {
			t.Errorf("session: step %s, pending not sealed", s.Step)
		}
		// Reloading shows the same choice; a code posted now reaches nothing.
		b.get(e.srv.URL + "/connect/" + sid)
		b.postForm(e.srv.URL+"/connect/"+sid+"/mfa", url.Values{"code": {goodCode}})
		if len(methodsOffered(b)) != 2 || fake.codeState != "" {
			t.Fatalf("a code before the choice: %s", b.text())
		}
		// Only an offered method is passed on.
		for _, bad := range []string{"", "pigeon", "SMS", "email "} {
			b.postForm(e.srv.URL+"/connect/"+sid+"/mfa-method", url.Values{"method": {bad}})
			if b.last.StatusCode != http.StatusBadRequest || b.alert() != "Choose how to get your code." || len(methodsOffered(b)) != 2 {
				t.Errorf("method %q: %d %q", bad, b.last.StatusCode, b.alert())
			}
		}
		if n := fake.chosen.Load(); n != 0 {
			t.Fatalf("ChooseMFAMethod called %d times for methods never offered", n)
		}
		b.submit(`input[value=email]`, map[string]string{"method": "email"})
		code := b.page.Find(`input[name=code]`)
		if code.AttrOr("autocomplete", "") != "one-time-code" || !strings.Contains(b.text(), "Enter the code we sent by email.") {
			t.Fatalf("code step after the choice: %s", b.text())
		}
		if b.has(`input[name=method]`) {
			t.Error("the choice is still offered on the code step")
		}
		// The choice is spent: posting it again changes nothing.
		b.postForm(e.srv.URL+"/connect/"+sid+"/mfa-method", url.Values{"method": {"sms"}})
		if n := fake.chosen.Load(); n != 1 || !b.has(`input[name=code]`) {
			t.Errorf("second choice: ChooseMFAMethod called %d times; %s", n, b.text())
		}
		b.submit(`input[name=code]`, map[string]string{"code": "000000"})
		if b.alert() != "That code is not right. 2 tries left." {
			t.Errorf("wrong code: %q", b.alert())
		}
		b.submit(`input[name=code]`, map[string]string{"code": goodCode})
		if fake.codeState != "code-state-email" {
			t.Errorf("SubmitMFA got state %q, want the state ChooseMFAMethod returned", fake.codeState)
		}
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, user, err := e.auth.Exchange(context.Background(), e.client.ID, b.left().Query().Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		cred, err := syncer.OpenCredential(e.vault, user.Credential, user.RowID)
		if err != nil || cred.Password != goodPassword || string(cred.Session) != "session-after-code-state-email" {
			t.Errorf("credential: %v, session %q", err, cred.Session)
		}
		if diff := cmp.Diff([]string{"email"}, fake.choices); diff != "" {
			t.Errorf("choices passed on (-want +got):\n%s", diff)
		}
		e.checkNoSecretsLogged(goodCode)
	})

	t.Run("a refused choice is offered again, three end the step", func(t *testing.T) {
		e, fake := newChoiceEnv(t)
		fake.refuse.Store(true)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "two-ways")
		login(b, choiceUser, goodPassword)
		sid := b.sid()
		b.submit(`input[value=sms]`, map[string]string{"method": "sms"})
		if b.alert() != "Two Ways Gas could not send a code that way. Choose how to get your code again." || len(methodsOffered(b)) != 2 {
			t.Fatalf("after a refused choice: %q %s", b.alert(), b.text())
		}
		b.submit(`input[value=email]`, map[string]string{"method": "email"})
		b.submit(`input[value=email]`, map[string]string{"method": "email"})
		if !b.has(`input[name=password]`) || b.alert() != "The verification step has expired. Sign in again to get a new code." {
			t.Fatalf("after three refused choices: %q %s", b.alert(), b.text())
		}
		if s := e.session(sid); s.Step != store.StepCredentials || s.Pending != nil || s.LoginAttempts != 0 {
			t.Errorf("session: step %s pending %d attempts %d", s.Step, len(s.Pending), s.LoginAttempts)
		}
		// Signing in again offers the choice again.
		fake.refuse.Store(false)
		login(b, choiceUser, goodPassword)
		b.submit(`input[value=sms]`, map[string]string{"method": "sms"})
		b.submit(`input[name=code]`, map[string]string{"code": goodCode})
		if !b.has(`form[action$="/continue"]`) {
			t.Fatalf("after signing in again: %s", b.text())
		}
	})

	t.Run("an expired verification goes back to the credentials", func(t *testing.T) {
		e, fake := newChoiceEnv(t)
		fake.expire.Store(true)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "two-ways")
		login(b, choiceUser, goodPassword)
		sid := b.sid()
		b.submit(`input[value=sms]`, map[string]string{"method": "sms"})
		if !b.has(`input[name=password]`) || b.alert() != "The verification step has expired. Sign in again to get a new code." {
			t.Fatalf("after an expired verification: %q %s", b.alert(), b.text())
		}
		if s := e.session(sid); s.Step != store.StepCredentials || s.Pending != nil || s.LoginAttempts != 0 {
			t.Errorf("session: step %s pending %d attempts %d", s.Step, len(s.Pending), s.LoginAttempts)
		}
	})

	t.Run("in the widget", func(t *testing.T) {
		const parent = "http://localhost:3000"
		e, _ := newChoiceEnv(t)
		b := e.browser()
		b.fa = parent
		walkToCredentials(t, b, e.widgetURL(e.token("user-1", 0), parent), "two-ways")
		login(b, choiceUser, goodPassword)
		if len(methodsOffered(b)) != 2 {
			t.Fatalf("widget choice page: %s", b.text())
		}
		checkWidgetPage(t, b, parent)
		b.submit(`input[value=sms]`, map[string]string{"method": "sms"})
		checkWidgetPage(t, b, parent)
		b.submit(`input[name=code]`, map[string]string{"code": goodCode})
		code := b.page.Find("main").AttrOr("data-code", "")
		if code == "" {
			t.Fatalf("widget confirmation without a code: %s", b.text())
		}
		e.secrets = append(e.secrets, code)
		if _, _, err := e.auth.Exchange(context.Background(), e.client.ID, code); err != nil {
			t.Errorf("exchange: %v", err)
		}
	})

	t.Run("site labels are checked", func(t *testing.T) {
		e, _ := newChoiceEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "two-ways")
		login(b, messyUser, goodPassword)
		want := []connector.MFAMethod{{ID: "sms", Label: "Text message to 0199"}, {ID: "email"}, {ID: "voice", Label: "voice"}}
		got := methodsOffered(b)
		if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] || got[1].ID != "email" ||
			len([]rune(got[1].Label)) != maxMethodLabel || !strings.HasPrefix(got[1].Label, "E-mail \uFFFD to éé") || !strings.HasSuffix(got[1].Label, "é…") {
			t.Errorf("choices = %q", got)
		}
	})

	t.Run("a connector that cannot take the choice", func(t *testing.T) {
		e, _ := newChoiceEnv(t)
		b := e.browser()
		walkToCredentials(t, b, e.startURL(e.token("user-1", 0), e.app, nil), "broken")
		login(b, "someone", "password")
		if !b.has(`form[action$="/retry"]`) || b.has(`input[name=method]`) {
			t.Errorf("choices from a connector without ChooseMFAMethod: %d %s", b.last.StatusCode, b.text())
		}
		if s := e.session(b.sid()); s.Step != store.StepCredentials || s.Pending != nil {
			t.Errorf("session: step %s pending %d", s.Step, len(s.Pending))
		}
	})
}

func TestCleanMethods(t *testing.T) {
	long := strings.Repeat("a", maxMethodLabel+5)
	tests := []struct {
		name string
		in   []connector.MFAMethod
		want []connector.MFAMethod
	}{
		{"kept as is", twoMethods, twoMethods},
		{"none", nil, nil},
		{"bad ids dropped", []connector.MFAMethod{{ID: ""}, {ID: "a\x00b", Label: "x"}, {ID: "\xfe", Label: "x"}, {ID: "ok", Label: "OK"}},
			[]connector.MFAMethod{{ID: "ok", Label: "OK"}}},
		{"duplicate ids dropped", []connector.MFAMethod{{ID: "a", Label: "one"}, {ID: "a", Label: "two"}}, []connector.MFAMethod{{ID: "a", Label: "one"}}},
		{"label cut", []connector.MFAMethod{{ID: "a", Label: long}}, []connector.MFAMethod{{ID: "a", Label: long[:maxMethodLabel-1] + "…"}}},
		{"blank label", []connector.MFAMethod{{ID: "a b", Label: "\t\n"}}, []connector.MFAMethod{{ID: "a b", Label: "a b"}}},
		{"blank label and id", []connector.MFAMethod{{ID: " ", Label: ""}}, []connector.MFAMethod{{ID: " ", Label: "Option 1"}}},
	}
	many := make([]connector.MFAMethod, maxMethods+3)
	for i := range many {
		many[i] = connector.MFAMethod{ID: strings.Repeat("m", i+1), Label: "m"}
	}
	tests = append(tests, struct {
		name string
		in   []connector.MFAMethod
		want []connector.MFAMethod
	}{"at most maxMethods", many, many[:maxMethods]})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cleanMethods(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDemoPowerLive walks Connect with the real Demo Power & Light
// connector against the demo utility website: alice without a code, bob
// by text (no choice), carol choosing e-mail, each code read from the
// site's outbox page; the kept upstream session then fetches without
// asking for a code again.
func TestDemoPowerLive(t *testing.T) {
	site := demoutility.New(demoutility.Config{HistoryMonths: 1, RateLimit: demoutility.DefaultRateLimit()})
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	// No pacing: the site is local and the test should be quick.
	tk := portal.New(portal.Config{Limits: portal.Limits{MinInterval: -1}})
	conn, err := demopower.New(demopower.Config{BaseURL: srv.URL, Toolkit: tk})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{catalog: catalog.Default(), connectors: connector.Registry{catalog.ConnectorDemoPower: conn}})
	ctx := context.Background()

	// outboxCode reads the newest code sent to user from the /outbox page.
	outboxCode := func(user, channel string) string {
		t.Helper()
		ob := e.browser()
		ob.noCheck = true
		ob.get(srv.URL + "/outbox")
		msg := ob.page.Find(`li.message[data-user="` + user + `"]`).First()
		if msg.AttrOr("data-channel", "") != channel {
			t.Fatalf("outbox has no %s message for %s: %s", channel, user, ob.text())
		}
		code := strings.TrimSpace(msg.Find(".code").Text())
		if latest, _ := site.LatestCode(user); code == "" || code != latest {
			t.Fatalf("outbox code %q, site's latest %q", code, latest)
		}
		return code
	}
	connect := func(userID string) *browser {
		t.Helper()
		b := e.browser()
		b.get(e.startURL(e.token(userID, 0), e.app, ptr("st")))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		b.submit(`input[name=q]`, map[string]string{"q": "demo power"})
		if got := b.page.Find(`[name=utility_slug]`).First().AttrOr("value", ""); got != "demo-power" {
			t.Fatalf("first match for demo power = %q: %s", got, b.text())
		}
		b.submit(`[name=utility_slug][value=demo-power]`, nil)
		if !strings.Contains(b.text(), "Sign in to Demo Power & Light") || !strings.Contains(b.text(), "carol: password carol-password, a code by text or e-mail") {
			t.Fatalf("credentials step: %s", b.text())
		}
		return b
	}
	finish := func(b *browser, username string) gridlink.User {
		t.Helper()
		if !strings.Contains(b.text(), "Connected to Demo Power & Light as "+username) {
			t.Fatalf("not connected: %s", b.text())
		}
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, u, err := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
		if err != nil || u.UtilityUsername != username {
			t.Fatalf("exchange: %v %+v", err, u)
		}
		return u
	}
	// fetch fetches with the kept credential, as the sync engine does.
	fetch := func(u gridlink.User) []connector.Account {
		t.Helper()
		cred, err := syncer.OpenCredential(e.vault, u.Credential, u.RowID)
		if err != nil || len(cred.Session) == 0 {
			t.Fatalf("credential: %v (session %d bytes)", err, len(cred.Session))
		}
		data, err := conn.Fetch(ctx, connector.FetchRequest{Credentials: connector.Credentials{Username: cred.Username, Password: cred.Password}, Session: cred.Session, Now: time.Now()})
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		return data.Accounts
	}

	t.Run("alice, no code", func(t *testing.T) {
		b := connect("alice")
		login(b, demoutility.Alice, "wrong-password")
		if !strings.Contains(b.alert(), "incorrect") {
			t.Fatalf("wrong password: %s", b.text())
		}
		b.submit(`form[action$="/retry"] [type=submit]`, nil)
		login(b, demoutility.Alice, demoutility.AlicePassword)
		finish(b, demoutility.Alice)
	})

	t.Run("bob by text", func(t *testing.T) {
		b := connect("bob")
		login(b, demoutility.Bob, demoutility.BobPassword)
		if b.has(`input[name=method]`) || !strings.Contains(b.text(), "by text message to (***) ***-0142") {
			t.Fatalf("bob's code step: %s", b.text())
		}
		b.submit(`input[name=code]`, map[string]string{"code": outboxCode(demoutility.Bob, demoutility.MethodSMS)})
		u := finish(b, demoutility.Bob)
		sent := site.Stats().CodesSent
		if n := len(fetch(u)); n != 2 {
			t.Errorf("bob has %d accounts, want 2", n)
		}
		if site.Stats().CodesSent != sent {
			t.Error("the fetch after Connect asked for a code again")
		}
	})

	t.Run("carol chooses e-mail", func(t *testing.T) {
		b := connect("carol")
		login(b, demoutility.Carol, demoutility.CarolPassword)
		want := []connector.MFAMethod{{ID: "sms", Label: "Text message to (***) ***-0199"}, {ID: "email", Label: "E-mail to c****@example.com"}}
		if diff := cmp.Diff(want, methodsOffered(b)); diff != "" {
			t.Fatalf("carol's choices (-want +got):\n%s\n%s", diff, b.text())
		}
		if got := strings.TrimSpace(b.page.Find("h1").Text()); got != "How should Demo Power & Light send your verification code?" {
			t.Errorf("heading = %q", got)
		}
		if _, sent := site.LatestCode(demoutility.Carol); sent {
			t.Fatal("a code was sent before carol chose how")
		}
		b.submit(`input[value=email]`, map[string]string{"method": demoutility.MethodEmail})
		if !strings.Contains(b.text(), "by e-mail to c****@example.com") || !b.has(`input[name=code][autocomplete=one-time-code]`) {
			t.Fatalf("carol's code step: %s", b.text())
		}
		code := outboxCode(demoutility.Carol, demoutility.MethodEmail)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		b.submit(`input[name=code]`, map[string]string{"code": wrong})
		if !strings.Contains(b.alert(), "not right") {
			t.Errorf("wrong code: %q", b.alert())
		}
		b.submit(`input[name=code]`, map[string]string{"code": code})
		u := finish(b, demoutility.Carol)
		sent := site.Stats().CodesSent
		site.ExpireSessions() // the remembered device must carry the next sign-in
		accts := fetch(u)
		types := map[gridlink.MeterType]bool{}
		for _, a := range accts {
			for _, m := range a.Meters {
				types[m.Type] = true
			}
		}
		if len(accts) != 3 || !types[gridlink.Electric] || !types[gridlink.Gas] {
			t.Errorf("carol: %d accounts, meter types %v; want 3 with gas and electric", len(accts), types)
		}
		if site.Stats().CodesSent != sent {
			t.Error("the fetch after Connect asked for a code again")
		}
	})
	e.checkNoSecretsLogged(demoutility.AlicePassword, demoutility.BobPassword, demoutility.CarolPassword)
}
