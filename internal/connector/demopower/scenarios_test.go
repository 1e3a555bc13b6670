package demopower_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/demoutility"
)

// scenario is one story told against the demo site: live (httptest) and
// from its recorded fixture.
type scenario struct {
	name string
	site demoutility.Config
	run  func(t *testing.T, e *env)
}

// TestScenarios runs every scenario against the live demo site and
// replays it from testdata (with -update: records it instead).
func TestScenarios(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Run("live", func(t *testing.T) { sc.run(t, newEnv(t, live, sc.name, sc.site)) })
			m := replay
			if *update {
				m = record
			}
			t.Run("fixture", func(t *testing.T) { sc.run(t, newEnv(t, m, sc.name, sc.site)) })
		})
	}
}

// recent is a Since that asks for the last two days only, to keep
// fixtures of scenarios that are not about the data small.
func recent() time.Time { return testNow.Add(-48 * time.Hour) }

func scenarios() []scenario {
	return []scenario{
		{name: "alice-success", run: aliceSuccess},
		{name: "wrong-password", run: func(t *testing.T, e *env) {
			_, err := e.login(demoutility.Alice, "not-her-password")
			ce := wantKind(t, err, connector.KindBadCredentials)
			if ce.Message != "Demo Power & Light did not accept this username and password." {
				t.Errorf("message %q", ce.Message)
			}
		}},
		{name: "bob-mfa-text", run: bobMFAText},
		{name: "carol-mfa-email", run: carolMFAEmail},
		{name: "device-forgotten", run: func(t *testing.T, e *env) {
			session := e.mustLogin(demoutility.Bob, demoutility.BobPassword)
			e.onSite(func(s *demoutility.Site) { s.ExpireSessions(); s.ForgetDevices(demoutility.Bob) })
			_, err := e.fetch(demoutility.Bob, demoutility.BobPassword, session, recent())
			wantKind(t, err, connector.KindMFARequired)
		}},
		{name: "device-expired", run: func(t *testing.T, e *env) {
			session := e.mustLogin(demoutility.Bob, demoutility.BobPassword)
			if _, err := e.fetch(demoutility.Bob, demoutility.BobPassword, session, recent()); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(31 * 24 * time.Hour) // past the 30-day remembered device
			_, err := e.fetch(demoutility.Bob, demoutility.BobPassword, session, recent())
			wantKind(t, err, connector.KindMFARequired)
		}},
		{name: "rate-limited", site: demoutility.Config{RateLimit: demoutility.RateLimit{Requests: 4, Window: time.Hour}},
			run: func(t *testing.T, e *env) {
				session := e.mustLogin(demoutility.Alice, demoutility.AlicePassword) // 3 requests
				_, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, session, recent())
				ce := wantKind(t, err, connector.KindRateLimited)
				if ce.RetryAfter < 30*time.Minute || ce.RetryAfter > time.Hour {
					t.Errorf("RetryAfter = %v, want the rest of the hour", ce.RetryAfter)
				}
			}},
		{name: "rate-limited-briefly", site: demoutility.Config{RateLimit: demoutility.RateLimit{Requests: 3, Window: 5 * time.Second}},
			run: func(t *testing.T, e *env) {
				session := e.mustLogin(demoutility.Alice, demoutility.AlicePassword)
				d, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, session, recent())
				if err != nil {
					t.Fatalf("a short Retry-After was not waited out: %v", err)
				}
				if len(d.Accounts) != 1 {
					t.Errorf("%d accounts", len(d.Accounts))
				}
				if st, ok := e.stats(); ok && st.RateLimited == 0 {
					t.Error("the site never rate limited the connector: the scenario tests nothing")
				}
			}},
		{name: "flaky", site: demoutility.Config{Flaky: 0.3}, run: func(t *testing.T, e *env) {
			session := e.mustLogin(demoutility.Bob, demoutility.BobPassword)
			d, err := e.fetch(demoutility.Bob, demoutility.BobPassword, session, recent())
			if err != nil {
				t.Fatalf("retries did not get through a flaky site: %v", err)
			}
			if len(d.Accounts) != 2 {
				t.Errorf("%d accounts", len(d.Accounts))
			}
			if st, ok := e.stats(); ok && st.Unavailable == 0 {
				t.Error("the site never failed: the scenario tests nothing")
			}
		}},
		{name: "site-down", site: demoutility.Config{Flaky: 1}, run: func(t *testing.T, e *env) {
			_, err := e.login(demoutility.Alice, demoutility.AlicePassword)
			wantKind(t, err, connector.KindUnavailable)
		}},
		{name: "maintenance", site: demoutility.Config{Maintenance: true}, run: func(t *testing.T, e *env) {
			_, err := e.login(demoutility.Alice, demoutility.AlicePassword)
			wantKind(t, err, connector.KindUnavailable)
		}},
		{name: "redesign", run: func(t *testing.T, e *env) {
			session := e.mustLogin(demoutility.Alice, demoutility.AlicePassword)
			e.onSite(func(s *demoutility.Site) { s.SetRedesign(true) })
			d, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, session, recent())
			wantKind(t, err, connector.KindLayoutChanged)
			if d != nil {
				t.Error("data returned from a redesigned site")
			}
		}},
		{name: "password-changed", run: func(t *testing.T, e *env) {
			session := e.mustLogin(demoutility.Alice, demoutility.AlicePassword)
			d, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, session, recent())
			if err != nil {
				t.Fatal(err)
			}
			e.onSite(func(s *demoutility.Site) { s.SetPassword(demoutility.Alice, "new-password-1") })
			_, err = e.fetch(demoutility.Alice, demoutility.AlicePassword, d.Session, recent())
			wantKind(t, err, connector.KindBadCredentials)
		}},
	}
}

func aliceSuccess(t *testing.T, e *env) {
	l, err := e.login(demoutility.Alice, demoutility.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if l.Challenge != nil || l.Session == nil {
		t.Fatalf("alice's login: challenge %v, session %d bytes", l.Challenge, len(l.Session))
	}
	d, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, l.Session, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Accounts) != 1 {
		t.Fatalf("%d accounts, want 1", len(d.Accounts))
	}
	a := d.Accounts[0]
	wantAccount := gridlink.Account{ExternalID: "3100112358", Number: "3100112358", Address: "1208 Juniper Ave, Boulder, CO 80302",
		Meters: []gridlink.Meter{{ExternalID: "E-40112358", Type: gridlink.Electric}}}
	if diff := cmp.Diff(wantAccount, a.Account); diff != "" {
		t.Errorf("account (-want +got):\n%s", diff)
	}
	// Hourly readings from 1 February (the site keeps one whole month
	// before the current one) to midnight today, in Denver.
	denver, _ := time.LoadLocation("America/Denver")
	from, to := time.Date(2026, 2, 1, 0, 0, 0, 0, denver), time.Date(2026, 3, 10, 0, 0, 0, 0, denver)
	ivs := a.Intervals["E-40112358"]
	if want := int(to.Sub(from) / time.Hour); len(ivs) != want {
		t.Fatalf("%d readings, want %d", len(ivs), want)
	}
	var febWh int64
	for i, iv := range ivs {
		if iv.End-iv.Start != 3600 || (i > 0 && iv.Start != ivs[i-1].End) || iv.Usage <= 0 || iv.Usage > 10 {
			t.Fatalf("reading %d: %+v", i, iv)
		}
		if iv.Start < time.Date(2026, 3, 1, 0, 0, 0, 0, denver).Unix() {
			febWh += int64(math.Round(iv.Usage * 1000))
		}
	}
	if ivs[0].Start != from.Unix() || ivs[len(ivs)-1].End != to.Unix() {
		t.Errorf("readings span %v..%v", time.Unix(ivs[0].Start, 0), time.Unix(ivs[len(ivs)-1].End, 0))
	}

	if len(a.Bills) != 1 {
		t.Fatalf("%d bills, want 1 (February)", len(a.Bills))
	}
	b := a.Bills[0]
	if b.ExternalID != "3100112358-202602" || *b.StartDate != from.Unix() || *b.EndDate != time.Date(2026, 3, 1, 0, 0, 0, 0, denver).Unix() ||
		*b.StatementDate != time.Date(2026, 3, 5, 0, 0, 0, 0, denver).Unix() || *b.DueDate != time.Date(2026, 3, 26, 0, 0, 0, 0, denver).Unix() {
		t.Errorf("bill %s dates: %v %v %v %v", b.ExternalID, *b.StartDate, *b.EndDate, *b.StatementDate, *b.DueDate)
	}
	if b.PaymentDate != nil || b.GasCharge != nil || b.GasTherm != nil || !b.HasPDF {
		t.Errorf("bill: paid %v, gas %v %v, PDF %v", b.PaymentDate, b.GasCharge, b.GasTherm, b.HasPDF)
	}
	if got := int64(math.Round(*b.ElectricKWh * 1000)); got != febWh {
		t.Errorf("bill says %d Wh, February's readings sum to %d", got, febWh)
	}
	if math.Abs(*b.ElectricCharge+*b.OtherCharge-*b.TotalAmountDue) > 0.001 || *b.TotalAmountDue < 20 {
		t.Errorf("bill amounts: %v + %v = %v", *b.ElectricCharge, *b.OtherCharge, *b.TotalAmountDue)
	}
	if !bytes.HasPrefix(b.PDF, []byte("%PDF-")) || !bytes.Contains(b.PDF, []byte("3100112358-202602")) {
		t.Errorf("statement: %d bytes", len(b.PDF))
	}

	// The session returned serves the next fetch without signing in.
	before, _ := e.stats()
	d2, err := e.fetch(demoutility.Alice, demoutility.AlicePassword, d.Session, recent())
	if err != nil {
		t.Fatal(err)
	}
	if after, ok := e.stats(); ok && after.SignIns != before.SignIns {
		t.Errorf("the second fetch signed in again (%d -> %d sign-ins)", before.SignIns, after.SignIns)
	}
	// From local midnight two days ago: 8 March, when clocks go forward.
	if n, want := len(d2.Accounts[0].Intervals["E-40112358"]), int(to.Sub(time.Date(2026, 3, 8, 0, 0, 0, 0, denver))/time.Hour); n != want {
		t.Errorf("since two days ago: %d readings, want %d", n, want)
	}
	if d2.Accounts[0].Bills[0].PDF == nil {
		t.Error("a recent statement was not downloaded on refresh")
	}
}

func bobMFAText(t *testing.T, e *env) {
	creds := connector.Credentials{Username: demoutility.Bob, Password: demoutility.BobPassword}
	l, err := e.login(creds.Username, creds.Password)
	if err != nil {
		t.Fatal(err)
	}
	ch := l.Challenge
	if ch == nil || len(ch.Methods) != 0 || ch.Prompt != "We sent a 6-digit code by text message to (***) ***-0142. Enter it below to continue." {
		t.Fatalf("challenge %+v", ch)
	}
	code := e.latestCode(demoutility.Bob)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_, err = e.submit(creds.Username, creds.Password, ch.State, wrong)
	wantKind(t, err, connector.KindMFAFailed)
	// The same state still works with the right code.
	l, err = e.submit(creds.Username, creds.Password, ch.State, " "+code+" ")
	if err != nil {
		t.Fatal(err)
	}
	if l.Session == nil || l.Challenge != nil {
		t.Fatalf("after the code: %+v", l)
	}
	// Another user's credentials cannot continue bob's challenge.
	_, err = e.conn.SubmitMFA(e.ctx, connector.Credentials{Username: demoutility.Alice, Password: "x"}, ch.State, code)
	wantKind(t, err, connector.KindInternal)

	d, err := e.fetch(creds.Username, creds.Password, l.Session, recent())
	if err != nil {
		t.Fatal(err)
	}
	var numbers []string
	for _, a := range d.Accounts {
		numbers = append(numbers, a.Number)
	}
	if diff := cmp.Diff([]string{"3100223344", "3100223345"}, numbers); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	// Remembered device: once the site's session is over, the next fetch
	// signs in again without a code.
	e.onSite(func(s *demoutility.Site) { s.ExpireSessions() })
	before, _ := e.stats()
	if _, err := e.fetch(creds.Username, creds.Password, d.Session, recent()); err != nil {
		t.Fatalf("fetch after the site session ended: %v", err)
	}
	if after, ok := e.stats(); ok && (after.SignIns != before.SignIns+1 || after.CodesSent != before.CodesSent) {
		t.Errorf("re-sign-in: sign-ins %d -> %d, codes %d -> %d", before.SignIns, after.SignIns, before.CodesSent, after.CodesSent)
	}
}

func carolMFAEmail(t *testing.T, e *env) {
	creds := connector.Credentials{Username: demoutility.Carol, Password: demoutility.CarolPassword}
	l, err := e.login(creds.Username, creds.Password)
	if err != nil {
		t.Fatal(err)
	}
	ch := l.Challenge
	if ch == nil {
		t.Fatal("no challenge")
	}
	want := []connector.MFAMethod{{ID: "sms", Label: "Text message to (***) ***-0199"}, {ID: "email", Label: "E-mail to c****@example.com"}}
	if diff := cmp.Diff(want, ch.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if st, ok := e.stats(); ok && st.CodesSent != 0 {
		t.Error("a code was sent before carol chose how")
	}
	if _, err := e.conn.ChooseMFAMethod(e.ctx, creds, ch.State, "pigeon"); err == nil {
		t.Error("an unknown method was accepted")
	}
	// A code state is not a choice state, and the other way round.
	if _, err := e.submit(creds.Username, creds.Password, ch.State, "123456"); connector.KindOf(err) != connector.KindInternal {
		t.Errorf("code submitted on the method choice: %v", err)
	}
	next, err := e.conn.ChooseMFAMethod(e.ctx, creds, ch.State, "email")
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Methods) != 0 || !strings.Contains(next.Prompt, "by e-mail to c****@example.com") {
		t.Fatalf("after choosing e-mail: %+v", next)
	}
	e.sessions = append(e.sessions, next.State)
	l, err = e.submit(creds.Username, creds.Password, next.State, e.latestCode(demoutility.Carol))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.fetch(creds.Username, creds.Password, l.Session, recent())
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, a := range d.Accounts {
		row := []string{a.Number}
		for _, m := range a.Meters {
			row = append(row, string(m.Type)+" "+m.ExternalID)
			if len(a.Intervals[m.ExternalID]) == 0 {
				t.Errorf("meter %s has no readings", m.ExternalID)
			}
		}
		got = append(got, row)
		if len(a.Bills) != 1 || (a.Bills[0].GasTherm == nil) || (a.Bills[0].ElectricKWh == nil) != (a.Number == "3100334457") {
			t.Errorf("account %s bills: %+v", a.Number, a.Bills)
		}
	}
	wantAccounts := [][]string{
		{"3100334455", "ELECTRIC E-40334455", "GAS G-70334455"},
		{"3100334456", "ELECTRIC E-40334456", "GAS G-70334456"},
		{"3100334457", "GAS G-70334457"},
	}
	if diff := cmp.Diff(wantAccounts, got); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	if gas := d.Accounts[2].Intervals["G-70334457"]; len(gas) != 2 || gas[1].End-gas[1].Start != 86400 {
		t.Errorf("daily gas since two days ago: %+v", gas)
	}
}
