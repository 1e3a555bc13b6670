package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

func losAngeles(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// testNow is mid-October 2026, Los Angeles: the 13-month history then
// spans two DST changes and holds twelve complete, billed months.
func testNow(t testing.TB) time.Time {
	return time.Date(2026, 10, 15, 10, 17, 23, 0, losAngeles(t))
}

// noSleep records requested delays instead of waiting.
type noSleep struct {
	mu    sync.Mutex
	calls []time.Duration
}

func (n *noSleep) sleep(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	n.calls = append(n.calls, d)
	n.mu.Unlock()
	return ctx.Err()
}

func creds(user, pw string) connector.Credentials {
	return connector.Credentials{Username: user, Password: pw}
}

// kindOf returns the connector kind of err and -1 for nil.
func kindOf(err error) connector.Kind {
	if err == nil {
		return -1
	}
	return connector.KindOf(err)
}

const ok connector.Kind = -1

func TestLogin(t *testing.T) {
	tests := []struct {
		name          string
		pelm          bool
		user, pw      string
		want          connector.Kind
		wantChallenge bool
	}{
		{"pelm user", false, "user@pelm.com", "password", ok, false},
		{"pelm user, case and spaces", false, "  User@Pelm.com ", "password", ok, false},
		{"pelm user wrong password", false, "user@pelm.com", "Password", connector.KindBadCredentials, false},
		{"mfa asks for a code", false, "mfa@sandbox.test", "password", ok, true},
		{"mfa wrong password", false, "mfa@sandbox.test", "nope", connector.KindBadCredentials, false},
		{"locked right password", false, "locked@sandbox.test", "password", connector.KindBadCredentials, false},
		{"locked other password", false, "locked@sandbox.test", "hunter2hunter2", connector.KindBadCredentials, false},
		{"down", false, "down@sandbox.test", "password", connector.KindUnavailable, false},
		{"down any password", false, "down@sandbox.test", "x", connector.KindUnavailable, false},
		{"expire", false, "expire@sandbox.test", "password", ok, false},
		{"expire wrong password", false, "expire@sandbox.test", "passw0rd", connector.KindBadCredentials, false},
		{"slow", false, "slow@sandbox.test", "password", ok, false},
		{"big", false, "big@sandbox.test", "password", ok, false},
		{"big wrong password", false, "big@sandbox.test", "", connector.KindBadCredentials, false},
		{"custom 8 chars", false, "custom@sandbox.test", "12345678", ok, false},
		{"custom long unicode", false, "custom@sandbox.test", "pässwörd-ünïcödé", ok, false},
		{"custom 7 chars", false, "custom@sandbox.test", "1234567", connector.KindBadCredentials, false},
		{"custom 8 bytes but 4 runes", false, "custom@sandbox.test", "éééé", connector.KindBadCredentials, false},
		{"unknown user", false, "someone@example.com", "password", connector.KindBadCredentials, false},
		{"empty", false, "", "", connector.KindBadCredentials, false},

		{"PG&E pelm user", true, "user@pelm.com", "password", ok, false},
		{"PG&E pelm user wrong password", true, "user@pelm.com", "wrong", connector.KindBadCredentials, false},
		{"PG&E has no scenarios: mfa", true, "mfa@sandbox.test", "password", connector.KindBadCredentials, false},
		{"PG&E has no scenarios: down", true, "down@sandbox.test", "password", connector.KindBadCredentials, false},
		{"PG&E has no scenarios: custom", true, "custom@sandbox.test", "long-enough", connector.KindBadCredentials, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			if tt.pelm {
				s = NewPelm(Config{})
			}
			l, err := s.Login(context.Background(), creds(tt.user, tt.pw))
			if got := kindOf(err); got != tt.want {
				t.Fatalf("Login kind = %v (err %v), want %v", got, err, tt.want)
			}
			if err != nil {
				var ce *connector.Error
				if !errors.As(err, &ce) || ce.Message == "" {
					t.Errorf("error %v is not a *connector.Error with a message", err)
				}
				if len(tt.pw) >= 8 && tt.pw != Password && bytes.Contains([]byte(err.Error()), []byte(tt.pw)) {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if (l.Challenge != nil) != tt.wantChallenge {
				t.Fatalf("Challenge = %+v, want challenge %v", l.Challenge, tt.wantChallenge)
			}
			if l.Challenge == nil && len(l.Session) == 0 {
				t.Error("successful login returned no session")
			}
		})
	}
	// down@ says why.
	_, err := New(Config{}).Login(context.Background(), creds(DownUser, Password))
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Message != "The utility's website is unavailable right now. Please try again later." || !ce.Kind.Retryable() {
		t.Errorf("down@ error = %v", err)
	}
}

func TestMFA(t *testing.T) {
	ctx := context.Background()
	s := New(Config{})
	c := creds(MFAUser, Password)
	l, err := s.Login(ctx, c)
	if err != nil || l.Challenge == nil {
		t.Fatalf("Login = %+v, %v; want a challenge", l, err)
	}
	if l.Challenge.Prompt != "Enter the 6-digit code we sent to (***) ***-0142" {
		t.Errorf("Prompt = %q", l.Challenge.Prompt)
	}
	state := l.Challenge.State

	// Wrong codes fail and leave the state usable.
	for _, code := range []string{"000000", "", "12345", "1234567", "abcdef"} {
		if _, err := s.SubmitMFA(ctx, c, state, code); kindOf(err) != connector.KindMFAFailed {
			t.Errorf("SubmitMFA(%q) kind = %v (%v), want mfa_failed", code, kindOf(err), err)
		}
	}
	// Wrong password or a state from another login do not pass.
	if _, err := s.SubmitMFA(ctx, creds(MFAUser, "bad"), state, MFACode); kindOf(err) != connector.KindBadCredentials {
		t.Errorf("SubmitMFA with a wrong password: %v", err)
	}
	if _, err := s.SubmitMFA(ctx, c, []byte("garbage"), MFACode); err == nil {
		t.Error("SubmitMFA accepted garbage state")
	}
	if _, err := s.SubmitMFA(ctx, creds(PelmUser, Password), state, MFACode); err == nil {
		t.Error("SubmitMFA accepted a user that has no MFA")
	}

	done, err := s.SubmitMFA(ctx, c, state, " 123456 ")
	if err != nil {
		t.Fatalf("SubmitMFA(right code): %v", err)
	}
	if done.Challenge != nil || len(done.Session) == 0 {
		t.Fatalf("SubmitMFA = %+v, want a session", done)
	}

	now := testNow(t)
	d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: done.Session, Now: now})
	if err != nil {
		t.Fatalf("Fetch after MFA: %v", err)
	}
	if len(d.Accounts) != 1 || len(d.Accounts[0].Meters) != 2 {
		t.Errorf("mfa@ has %d accounts, want one with electric and gas", len(d.Accounts))
	}
	// The next fetch, with the session the first returned, still works.
	if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: d.Session, Now: now}); err != nil {
		t.Errorf("second Fetch after MFA: %v", err)
	}
	// Without the verified session (a forgotten device) the utility asks again.
	for _, sess := range [][]byte{nil, state, []byte("{}")} {
		if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: sess, Now: now}); kindOf(err) != connector.KindMFARequired {
			t.Errorf("Fetch with session %q: kind %v (%v), want mfa_required", sess, kindOf(err), err)
		}
	}
}

func TestExpire(t *testing.T) {
	ctx := context.Background()
	s := New(Config{})
	c := creds(ExpireUser, Password)
	l, err := s.Login(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow(t)
	d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: l.Session, Now: now})
	if err != nil {
		t.Fatalf("first Fetch: %v", err)
	}
	for i := range 3 {
		_, err = s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: d.Session, Now: now.Add(time.Duration(i+1) * time.Hour)})
		if kindOf(err) != connector.KindBadCredentials {
			t.Fatalf("later Fetch %d: kind %v (%v), want bad_credentials", i, kindOf(err), err)
		}
	}
	// The connector value holds no state: another login starts afresh.
	l2, err := s.Login(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: l2.Session, Now: now}); err != nil {
		t.Errorf("Fetch after a new Login: %v", err)
	}
}

func TestSlow(t *testing.T) {
	ctx := context.Background()
	ns := &noSleep{}
	s := New(Config{SlowDelay: 42 * time.Second, Sleep: ns.sleep})
	c := creds(SlowUser, Password)
	l, err := s.Login(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow(t)
	d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: l.Session, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: d.Session, Now: now}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{42 * time.Second}, ns.calls); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	// Other users never wait.
	ns.calls = nil
	if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: creds(PelmUser, Password), Now: now}); err != nil {
		t.Fatal(err)
	}
	if len(ns.calls) != 0 {
		t.Errorf("user@ slept %v", ns.calls)
	}
	if got := New(Config{Sleep: ns.sleep}).slowDelay; got != 60*time.Second {
		t.Errorf("default SlowDelay = %v, want 60s", got)
	}
}

func TestSlowHonoursCancel(t *testing.T) {
	// The real timer: an hour-long delay must end with the context.
	s := New(Config{SlowDelay: time.Hour})
	c := creds(SlowUser, Password)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := s.Login(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: l.Session, Now: testNow(t)})
	if !errors.Is(err, context.Canceled) || d != nil {
		t.Fatalf("Fetch = %v, %v; want context.Canceled", d, err)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	_, err = s.Fetch(dctx, connector.FetchRequest{Credentials: c, Session: l.Session, Now: testNow(t)})
	if kindOf(err) != connector.KindUnavailable {
		t.Errorf("Fetch past its deadline: kind %v (%v), want utility_unavailable (retryable)", kindOf(err), err)
	}
}

func TestFetchRejectsBadLogins(t *testing.T) {
	tests := []struct {
		name string
		pelm bool
		c    connector.Credentials
		want connector.Kind
	}{
		{"wrong password", false, creds(PelmUser, "nope"), connector.KindBadCredentials},
		{"locked", false, creds(LockedUser, Password), connector.KindBadCredentials},
		{"down", false, creds(DownUser, Password), connector.KindUnavailable},
		{"unknown", false, creds("who@example.com", Password), connector.KindBadCredentials},
		{"PG&E scenario user", true, creds(BigUser, Password), connector.KindBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			if tt.pelm {
				s = NewPelm(Config{})
			}
			_, err := s.Fetch(context.Background(), connector.FetchRequest{Credentials: tt.c, Now: testNow(t)})
			if kindOf(err) != tt.want {
				t.Errorf("Fetch kind = %v (%v), want %v", kindOf(err), err, tt.want)
			}
		})
	}
}

func fetch(t testing.TB, s *Sandbox, user, pw string, now, since time.Time) *connector.Data {
	t.Helper()
	ctx := context.Background()
	l, err := s.Login(ctx, creds(user, pw))
	if err != nil {
		t.Fatalf("Login %s: %v", user, err)
	}
	d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: creds(user, pw), Session: l.Session, Now: now, Since: since})
	if err != nil {
		t.Fatalf("Fetch %s: %v", user, err)
	}
	return d
}

func TestPelmUser(t *testing.T) {
	want := []gridlink.Account{
		{
			ID: "ea100000-0000-0000-0000-000000000000", ExternalID: "1077345636", Number: "1077345636",
			Address: "1 WARRIORS WAY SAN FRANCISCO CA 94158",
			Meters: []gridlink.Meter{
				{ID: "ea100000-0000-0000-0000-000000000001", AccountID: "ea100000-0000-0000-0000-000000000000", ExternalID: "electric", Type: gridlink.Electric},
				{ID: "ea100000-0000-0000-0000-000000000002", AccountID: "ea100000-0000-0000-0000-000000000000", ExternalID: "gas", Type: gridlink.Gas},
			},
		},
		{
			ID: "ea200000-0000-0000-0000-000000000000", ExternalID: "2077345636", Number: "2077345636",
			Address: "1 FERRY BUILDING SAN FRANCISCO CA 94105",
			Meters: []gridlink.Meter{
				{ID: "ea200000-0000-0000-0000-000000000001", AccountID: "ea200000-0000-0000-0000-000000000000", ExternalID: "electric", Type: gridlink.Electric},
			},
		},
	}
	now := testNow(t)
	for _, s := range []*Sandbox{NewPelm(Config{}), New(Config{})} {
		d := fetch(t, s, PelmUser, Password, now, time.Time{})
		var got []gridlink.Account
		for _, a := range d.Accounts {
			got = append(got, a.Account)
			for _, b := range a.Bills {
				if b.AccountID != a.ID {
					t.Errorf("bill %s has account id %q, want %q", b.ExternalID, b.AccountID, a.ID)
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("accounts (-want +got):\n%s", diff)
		}
	}
	// PG&E and the gridlink Sandbox give the Pelm user the same readings.
	a := fetch(t, NewPelm(Config{}), PelmUser, Password, now, time.Time{})
	b := fetch(t, New(Config{}), PelmUser, Password, now, time.Time{})
	if !cmp.Equal(a.Accounts[0].Intervals, b.Accounts[0].Intervals) {
		t.Error("PG&E and sandbox readings of user@pelm.com differ")
	}
}

func TestDeterministic(t *testing.T) {
	now := testNow(t)
	for _, user := range []string{PelmUser, CustomUser, BigUser} {
		t.Run(user, func(t *testing.T) {
			pw := Password
			if user == CustomUser {
				pw = "correct horse"
			}
			a := fetch(t, New(Config{}), user, pw, now, time.Time{})
			b := fetch(t, New(Config{}), user, pw, now, time.Time{})
			sameAccounts(t, a.Accounts, b.Accounts)
			// A later sync reproduces every reading and bill they share.
			later := fetch(t, New(Config{}), user, pw, now.Add(50*24*time.Hour+5*time.Hour), time.Time{})
			for i, acc := range a.Accounts {
				lacc := later.Accounts[i]
				if lacc.ExternalID != acc.ExternalID || lacc.Address != acc.Address {
					t.Fatalf("account %d changed: %q %q -> %q %q", i, acc.ExternalID, acc.Address, lacc.ExternalID, lacc.Address)
				}
				for key, ivs := range acc.Intervals {
					byStart := map[int64]gridlink.Interval{}
					for _, iv := range lacc.Intervals[key] {
						byStart[iv.Start] = iv
					}
					shared := 0
					for _, iv := range ivs {
						if liv, ok := byStart[iv.Start]; ok {
							shared++
							if liv != iv {
								t.Fatalf("%s %s: reading %+v became %+v", acc.ExternalID, key, iv, liv)
							}
						}
					}
					if shared < len(ivs)/2 {
						t.Errorf("%s %s: only %d of %d readings shared", acc.ExternalID, key, shared, len(ivs))
					}
				}
				laterBills := map[string]connector.Bill{}
				for _, b := range lacc.Bills {
					laterBills[b.ExternalID] = b
				}
				for _, b := range acc.Bills {
					lb, ok := laterBills[b.ExternalID]
					if !ok {
						continue
					}
					// The payment date appears once a newer bill exists.
					lb.PaymentDate, b.PaymentDate = nil, nil
					if diff := cmp.Diff(b, lb, fastBytes()); diff != "" {
						t.Errorf("bill %s changed (-first +later):\n%s", b.ExternalID, diff)
					}
				}
			}
			// Different users get different readings.
			other := fetch(t, New(Config{}), ExpireUser, Password, now, time.Time{})
			if cmp.Equal(other.Accounts[0].Intervals[ElectricMeterKey][:48], a.Accounts[0].Intervals[ElectricMeterKey][:48]) {
				t.Error("expire@ and " + user + " have the same readings")
			}
		})
	}
}

func TestSince(t *testing.T) {
	now := testNow(t)
	full := fetch(t, New(Config{}), PelmUser, Password, now, time.Time{})
	tests := []struct {
		name  string
		since time.Time
	}{
		{"mid-hour three days ago", now.Add(-72*time.Hour - 30*time.Minute)},
		{"exactly on an hour", now.Truncate(time.Hour).Add(-5 * time.Hour)},
		{"before the history", now.AddDate(-5, 0, 0)},
		{"after now", now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fetch(t, New(Config{}), PelmUser, Password, now, tt.since)
			for i, acc := range d.Accounts {
				facc := full.Accounts[i]
				for key, fivs := range facc.Intervals {
					var want []gridlink.Interval
					for _, iv := range fivs {
						if iv.Start >= tt.since.Unix() {
							want = append(want, iv)
						}
					}
					sameIntervals(t, acc.ExternalID+" "+key, want, acc.Intervals[key])
				}
				if diff := cmp.Diff(facc.Bills, acc.Bills, fastBytes()); diff != "" {
					t.Errorf("%s bills differ from a full fetch (-full +since):\n%s", acc.ExternalID, diff)
				}
			}
		})
	}
}

// fastBytes compares byte slices (the PDFs) with bytes.Equal: cmp's
// element-wise comparison is slow on them.
func fastBytes() cmp.Option { return cmp.Comparer(bytes.Equal) }

// sameIntervals compares long series quickly (cmp is slow on 100k
// elements) and reports the first difference.
func sameIntervals(t *testing.T, name string, want, got []gridlink.Interval) {
	t.Helper()
	if slices.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	var w, g any = "(none)", "(none)"
	if i < len(want) {
		w = want[i]
	}
	if i < len(got) {
		g = got[i]
	}
	t.Errorf("%s: %d readings, want %d; first difference at %d: got %+v, want %+v", name, len(got), len(want), i, g, w)
}

// sameAccounts reports differences between two fetches' accounts.
func sameAccounts(t *testing.T, want, got []connector.Account) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d accounts, want %d", len(got), len(want))
	}
	for i := range want {
		if diff := cmp.Diff(want[i].Account, got[i].Account); diff != "" {
			t.Errorf("account %d (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(want[i].Bills, got[i].Bills, fastBytes()); diff != "" {
			t.Errorf("account %d bills (-want +got):\n%s", i, diff)
		}
		if len(want[i].Intervals) != len(got[i].Intervals) {
			t.Errorf("account %d: %d interval series, want %d", i, len(got[i].Intervals), len(want[i].Intervals))
		}
		for key, ivs := range want[i].Intervals {
			sameIntervals(t, want[i].ExternalID+" "+key, ivs, got[i].Intervals[key])
		}
	}
}

// checkIntervals verifies order, contiguity and length of a meter's
// readings, and the history they cover.
func checkIntervals(t *testing.T, ivs []gridlink.Interval, typ gridlink.MeterType, step int64, now time.Time, months int) {
	t.Helper()
	loc := losAngeles(t)
	if len(ivs) == 0 {
		t.Fatal("no readings")
	}
	back := now.In(loc).AddDate(0, -months, 0)
	wantFirst := time.Date(back.Year(), back.Month(), back.Day(), 0, 0, 0, 0, loc).Unix()
	if ivs[0].Start != wantFirst {
		t.Errorf("first reading starts %v, want Los Angeles midnight %d months back (%v)", time.Unix(ivs[0].Start, 0).In(loc), months, time.Unix(wantFirst, 0).In(loc))
	}
	last := ivs[len(ivs)-1].End
	if typ == gridlink.Gas {
		ln := now.In(loc)
		if want := time.Date(ln.Year(), ln.Month(), ln.Day(), 0, 0, 0, 0, loc).Unix(); last != want {
			t.Errorf("last gas reading ends %v, want last midnight", time.Unix(last, 0).In(loc))
		}
	} else if last > now.Unix() || now.Unix()-last >= step {
		t.Errorf("last reading ends %v, want the last complete interval before %v", time.Unix(last, 0).In(loc), now)
	}
	for i, iv := range ivs {
		if i > 0 && iv.Start != ivs[i-1].End {
			t.Fatalf("reading %d starts %d, previous ended %d (gap or overlap)", i, iv.Start, ivs[i-1].End)
		}
		d := iv.End - iv.Start
		if typ == gridlink.Electric && d != step {
			t.Fatalf("reading %d lasts %ds, want %ds", i, d, step)
		}
		if typ == gridlink.Gas {
			st := time.Unix(iv.Start, 0).In(loc)
			if h, m, s := st.Clock(); h != 0 || m != 0 || s != 0 || time.Unix(iv.End, 0).In(loc) != st.AddDate(0, 0, 1) {
				t.Fatalf("gas reading %d [%v, %v) is not one Los Angeles day", i, st, time.Unix(iv.End, 0).In(loc))
			}
		}
		if iv.Usage <= 0 || iv.Usage != math.Round(iv.Usage*1000)/1000 {
			t.Fatalf("reading %d usage %v is not a positive 3-decimal value", i, iv.Usage)
		}
	}
}

func TestIntervals(t *testing.T) {
	now := testNow(t)
	tests := []struct {
		user, pw   string
		accounts   int
		gas        []bool
		step       int64
		months     int
		wantPerDay int // electric readings on a normal day
	}{
		{PelmUser, Password, 2, []bool{true, false}, 3600, 13, 24},
		{MFAUser, Password, 1, []bool{true}, 3600, 13, 24},
		{CustomUser, "12345678", 1, []bool{true}, 3600, 13, 24},
		{BigUser, Password, 3, []bool{false, false, false}, 900, 36, 96},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			s := New(Config{})
			var d *connector.Data
			if tt.user == MFAUser {
				l, _ := s.Login(context.Background(), creds(tt.user, tt.pw))
				done, err := s.SubmitMFA(context.Background(), creds(tt.user, tt.pw), l.Challenge.State, MFACode)
				if err != nil {
					t.Fatal(err)
				}
				d, err = s.Fetch(context.Background(), connector.FetchRequest{Credentials: creds(tt.user, tt.pw), Session: done.Session, Now: now})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				d = fetch(t, s, tt.user, tt.pw, now, time.Time{})
			}
			if len(d.Accounts) != tt.accounts {
				t.Fatalf("%d accounts, want %d", len(d.Accounts), tt.accounts)
			}
			numbers := map[string]bool{}
			for i, a := range d.Accounts {
				if numbers[a.ExternalID] || a.ExternalID == "" || a.Address == "" {
					t.Errorf("account %d: external id %q (dup %v), address %q", i, a.ExternalID, numbers[a.ExternalID], a.Address)
				}
				numbers[a.ExternalID] = true
				if got := a.MeterTypes(); (len(got) == 2) != tt.gas[i] {
					t.Errorf("account %d meter types %v, want gas %v", i, got, tt.gas[i])
				}
				if len(a.Intervals) != len(a.Meters) {
					t.Errorf("account %d: %d interval series for %d meters", i, len(a.Intervals), len(a.Meters))
				}
				for _, m := range a.Meters {
					step := tt.step
					if m.Type == gridlink.Gas {
						step = 86400
					}
					checkIntervals(t, a.Intervals[m.ExternalID], m.Type, step, now, tt.months)
				}
				// ~365 days per year of readings.
				days := float64(len(a.Intervals[ElectricMeterKey])) / float64(tt.wantPerDay)
				if wantDays := float64(tt.months) * 30.44; math.Abs(days-wantDays) > 5 {
					t.Errorf("account %d: %.1f days of readings, want about %.0f", i, days, wantDays)
				}
			}
		})
	}
}

// dailyTotals sums readings per Los Angeles day.
func dailyTotals(loc *time.Location, ivs []gridlink.Interval) map[time.Time]float64 {
	out := map[time.Time]float64{}
	for _, iv := range ivs {
		st := time.Unix(iv.Start, 0).In(loc)
		out[time.Date(st.Year(), st.Month(), st.Day(), 0, 0, 0, 0, loc)] += iv.Usage
	}
	return out
}

func TestMagnitudes(t *testing.T) {
	loc := losAngeles(t)
	now := testNow(t)
	for _, user := range []string{PelmUser, ExpireUser, SlowUser, BigUser} {
		t.Run(user, func(t *testing.T) {
			d := fetch(t, New(Config{SlowDelay: time.Nanosecond, Sleep: (&noSleep{}).sleep}), user, Password, now, time.Time{})
			for _, a := range d.Accounts {
				el := a.Intervals[ElectricMeterKey]
				var sum float64
				days := dailyTotals(loc, el)
				ln := now.In(loc)
				delete(days, time.Date(ln.Year(), ln.Month(), ln.Day(), 0, 0, 0, 0, loc)) // today is not over
				for day, kwh := range days {
					if kwh < 5 || kwh > 60 {
						t.Errorf("%s: %v used %.1f kWh, want 5..60", a.ExternalID, day.Format(time.DateOnly), kwh)
					}
					sum += kwh
				}
				if avg := sum / float64(len(days)); avg < 12 || avg > 35 {
					t.Errorf("%s: average %.1f kWh/day, want a typical home's 15..30", a.ExternalID, avg)
				}
				// Evenings use more than the small hours; summer more than spring.
				var evening, night float64
				for _, iv := range el {
					switch h := time.Unix(iv.Start, 0).In(loc).Hour(); {
					case h >= 18 && h < 21:
						evening += iv.Usage
					case h >= 2 && h < 5:
						night += iv.Usage
					}
				}
				if evening < 2*night {
					t.Errorf("%s: evening usage %.0f not well above overnight %.0f", a.ExternalID, evening, night)
				}
				var july, april float64
				for day, kwh := range days {
					switch {
					case day.Month() == time.July:
						july += kwh
					case day.Month() == time.April:
						april += kwh
					}
				}
				if july <= april {
					t.Errorf("%s: July %.0f kWh not above April %.0f (air conditioning)", a.ExternalID, july, april)
				}

				gas, ok := a.Intervals[GasMeterKey]
				if !ok {
					continue
				}
				var summer, winter []float64
				for _, iv := range gas {
					switch time.Unix(iv.Start, 0).In(loc).Month() {
					case time.July, time.August:
						summer = append(summer, iv.Usage)
					case time.December, time.January:
						winter = append(winter, iv.Usage)
					}
				}
				ms, mw := mean(summer), mean(winter)
				if ms < 0.1 || ms > 0.6 || mw < 1.5 || mw > 5 || ms >= mw {
					t.Errorf("%s gas: summer %.2f therms/day, winter %.2f; want ~0.3 and 2..4", a.ExternalID, ms, mw)
				}
			}
		})
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func TestBills(t *testing.T) {
	loc := losAngeles(t)
	now := testNow(t)
	for _, user := range []string{PelmUser, BigUser} {
		t.Run(user, func(t *testing.T) {
			d := fetch(t, New(Config{}), user, Password, now, time.Time{})
			for _, a := range d.Accounts {
				var want []string
				first := time.Date(2025, 10, 1, 0, 0, 0, 0, loc)
				if user == BigUser {
					first = time.Date(2023, 11, 1, 0, 0, 0, 0, loc)
				}
				for m := first; m.Before(time.Date(2026, 10, 1, 0, 0, 0, 0, loc)); m = m.AddDate(0, 1, 0) {
					want = append(want, m.Format("bill-2006-01"))
				}
				var got []string
				for _, b := range a.Bills {
					got = append(got, b.ExternalID)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%s bills (-want +got):\n%s", a.ExternalID, diff)
				}
				for i, b := range a.Bills {
					checkBill(t, loc, a, b, i == len(a.Bills)-1)
				}
			}
		})
	}
}

func checkBill(t *testing.T, loc *time.Location, a connector.Account, b connector.Bill, latest bool) {
	t.Helper()
	name := a.ExternalID + " " + b.ExternalID
	for _, p := range []*int64{b.StartDate, b.EndDate, b.StatementDate, b.DueDate} {
		if p == nil {
			t.Fatalf("%s: a date is missing: %+v", name, b.Bill)
		}
	}
	start, end := time.Unix(*b.StartDate, 0).In(loc), time.Unix(*b.EndDate, 0).In(loc)
	if start.Day() != 1 || start.Hour() != 0 || !end.Equal(start.AddDate(0, 1, 0)) {
		t.Errorf("%s: period [%v, %v) is not a calendar month", name, start, end)
	}
	if start.Format("bill-2006-01") != b.ExternalID {
		t.Errorf("%s: external id does not name the month %v", name, start)
	}
	st := time.Unix(*b.StatementDate, 0).In(loc)
	if !st.After(end) || st.Sub(end) > 10*24*time.Hour {
		t.Errorf("%s: statement %v not a few days after the period", name, st)
	}
	if due := time.Unix(*b.DueDate, 0).In(loc); !due.Equal(st.AddDate(0, 0, 21)) {
		t.Errorf("%s: due %v, want 21 days after statement %v", name, due, st)
	}
	if latest != (b.PaymentDate == nil) {
		t.Errorf("%s: payment date %v, latest %v", name, b.PaymentDate, latest)
	}
	if b.PaymentDate != nil && (*b.PaymentDate < *b.StatementDate || *b.PaymentDate > *b.DueDate) {
		t.Errorf("%s: paid %v outside statement..due", name, time.Unix(*b.PaymentDate, 0).In(loc))
	}

	// Usage equals the sum of the period's readings.
	sumIn := func(key string) float64 {
		var s float64
		for _, iv := range a.Intervals[key] {
			if iv.Start >= *b.StartDate && iv.Start < *b.EndDate {
				if iv.End > *b.EndDate {
					t.Errorf("%s: reading straddles the period end", name)
				}
				s += iv.Usage
			}
		}
		return math.Round(s*1000) / 1000
	}
	if b.ElectricKWh == nil || *b.ElectricKWh != sumIn(ElectricMeterKey) {
		t.Errorf("%s: electric usage %v, intervals sum to %v", name, deref(b.ElectricKWh), sumIn(ElectricMeterKey))
	}
	_, hasGas := a.Intervals[GasMeterKey]
	if hasGas {
		if b.GasTherm == nil || *b.GasTherm != sumIn(GasMeterKey) || b.GasCharge == nil {
			t.Errorf("%s: gas usage %v, intervals sum to %v", name, deref(b.GasTherm), sumIn(GasMeterKey))
		}
	} else if b.GasTherm != nil || b.GasCharge != nil {
		t.Errorf("%s: electric-only account has gas on its bill", name)
	}

	// Totals are the sum of the charges, in whole cents.
	c := func(p *float64) int64 { return int64(math.Round(deref(p) * 100)) }
	for _, p := range []*float64{b.ElectricCharge, b.GasCharge, b.OtherCharge, b.TotalCharges, b.TotalAmountDue} {
		if p != nil && *p != math.Round(*p*100)/100 {
			t.Errorf("%s: amount %v is not whole cents", name, *p)
		}
	}
	if sum := c(b.ElectricCharge) + c(b.GasCharge) + c(b.OtherCharge); sum != c(b.TotalCharges) || b.TotalAmountDue == nil || *b.TotalAmountDue != *b.TotalCharges {
		t.Errorf("%s: charges sum to %d cents, total %v, due %v", name, sum, deref(b.TotalCharges), deref(b.TotalAmountDue))
	}
	perKWh := deref(b.ElectricCharge) / *b.ElectricKWh
	if perKWh < 0.25 || perKWh > 0.7 {
		t.Errorf("%s: electricity costs $%.2f/kWh", name, perKWh)
	}

	// The statement is a real PDF that shows the account and the total.
	if !b.HasPDF || !bytes.HasPrefix(b.PDF, []byte("%PDF-")) || !bytes.HasSuffix(bytes.TrimRight(b.PDF, "\r\n"), []byte("%%EOF")) {
		t.Fatalf("%s: HasPDF %v, PDF %q...", name, b.HasPDF, b.PDF[:min(len(b.PDF), 16)])
	}
	for _, want := range []string{a.Number, a.Address, money(c(b.TotalCharges)), start.Format("Jan 2, 2006")} {
		if !bytes.Contains(b.PDF, []byte("("+want)) {
			t.Errorf("%s: statement PDF does not show %q", name, want)
		}
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func TestMoney(t *testing.T) {
	for c, want := range map[int64]string{0: "$0.00", 5: "$0.05", 123456: "$1,234.56", 100000000: "$1,000,000.00", -250: "-$2.50"} {
		if got := money(c); got != want {
			t.Errorf("money(%d) = %q, want %q", c, got, want)
		}
	}
}

func BenchmarkFetchBig(b *testing.B) {
	s := New(Config{})
	now := testNow(b)
	c := creds(BigUser, Password)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Now: now})
		if err != nil || len(d.Accounts) != 3 {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchPelm(b *testing.B) {
	s := New(Config{})
	now := testNow(b)
	c := creds(PelmUser, Password)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}

func Example() {
	s := New(Config{})
	ctx := context.Background()
	c := connector.Credentials{Username: "user@pelm.com", Password: "password"}
	l, _ := s.Login(ctx, c)
	d, _ := s.Fetch(ctx, connector.FetchRequest{Credentials: c, Session: l.Session, Now: time.Date(2026, 10, 15, 17, 0, 0, 0, time.UTC)})
	for _, a := range d.Accounts {
		fmt.Println(a.ID, a.Number, a.MeterTypes())
	}
	// Output:
	// ea100000-0000-0000-0000-000000000000 1077345636 [ELECTRIC GAS]
	// ea200000-0000-0000-0000-000000000000 2077345636 [ELECTRIC]
}
