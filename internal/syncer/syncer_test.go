package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

func TestSyncStoresEverythingAndMarksDataReady(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, []byte("session-1"))
	ctx := context.Background()

	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatalf("Sync: %v", err)
	}

	got := e.user(t, u.RowID)
	if !got.DataReady || !got.CredentialsValid {
		t.Errorf("after sync: DataReady=%v CredentialsValid=%v, want both true", got.DataReady, got.CredentialsValid)
	}
	now := e.clock.Now()
	// The next sync is scheduled 12 h ± 72 min later.
	checkNext(t, got.Sync, now.Add(DefaultInterval-DefaultInterval/10), now.Add(DefaultInterval+DefaultInterval/10))
	wantState := gridlink.SyncState{Status: gridlink.SyncOK, LastSuccessAt: &now, LastAttemptAt: &now, NextAttemptAt: got.Sync.NextAttemptAt}
	if diff := cmp.Diff(wantState, got.Sync); diff != "" {
		t.Errorf("sync state (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(expected(u.RowID, testData(24*14, baseUsage)), e.data(t, u.RowID), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stored data (-want +got):\n%s", diff)
	}

	reqs := e.fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("connector fetched %d times, want 1", len(reqs))
	}
	want := connector.FetchRequest{
		Credentials: connector.Credentials{Username: "user@pelm.com", Password: testPassword},
		Session:     []byte("session-1"),
		Now:         e.clock.Now(),
	}
	if diff := cmp.Diff(want, reqs[0]); diff != "" {
		t.Errorf("first fetch request (-want +got):\n%s", diff)
	}
}

func TestDerivedIDsAreStableUUIDs(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := []string{
		AccountID("row-1", "A1"), AccountID("row-2", "A1"), AccountID("row-1", "A2"),
		MeterID("row-1", "A1", "E1"), MeterID("row-1", "A2", "E1"),
		BillID("row-1", "A1", "B1"), BillID("row-1", "A1", "E1"),
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !uuid.MatchString(id) {
			t.Errorf("id %q is not a version-8 UUID", id)
		}
		if seen[id] {
			t.Errorf("id %q derived twice from different inputs", id)
		}
		seen[id] = true
	}
	if AccountID("row-1", "A1") != AccountID("row-1", "A1") {
		t.Error("AccountID is not deterministic")
	}
	// Known answer: SHA-256("account|row-1|A1"), version and variant set.
	if got, want := AccountID("row-1", "A1"), derivedID("account", "row-1", "A1"); got != want {
		t.Errorf("AccountID = %q, want %q", got, want)
	}
}

func TestSyncTwiceIsIdempotent(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	ctx := context.Background()
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	first := e.data(t, u.RowID)

	e.clock.Advance(time.Hour)
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, e.data(t, u.RowID)); diff != "" {
		t.Errorf("second sync changed the data (-first +second):\n%s", diff)
	}
	// The refresh asks for readings from a week before the oldest of the
	// meters' newest readings (the daily gas meter ends last at day 14,
	// the second account's meter at day 2).
	reqs := e.fake.requests()
	if len(reqs) != 2 {
		t.Fatalf("connector fetched %d times, want 2", len(reqs))
	}
	wantSince := testEpoch.Add(2 * 24 * time.Hour).Add(-DefaultLookBack)
	if !reqs[1].Since.Equal(wantSince) {
		t.Errorf("refresh Since = %v, want %v", reqs[1].Since, wantSince)
	}
	if got := e.user(t, u.RowID).Sync; got.Status != gridlink.SyncOK || !got.LastSuccessAt.Equal(e.clock.Now()) {
		t.Errorf("sync state after refresh = %+v, want ok at %v", got, e.clock.Now())
	}
}

func TestSyncReplacesCorrectedReadings(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	ctx := context.Background()
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	corrected := func(i int) float64 {
		if i == 100 {
			return 42
		}
		return baseUsage(i)
	}
	e.fake.set(returns(func() *connector.Data { return testData(24*14, corrected) }))
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	want := expected(u.RowID, testData(24*14, corrected))
	got := e.data(t, u.RowID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after correction (-want +got):\n%s", diff)
	}
	iv := got.Intervals[MeterID(u.RowID, "A1", "E1")][100]
	if iv.Usage != 42 || iv.GHG == 0 {
		t.Errorf("corrected reading = %+v, want usage 42 with its GHG recomputed", iv)
	}
}

func TestSyncFailures(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		status    string
		code      string
		valid     bool
		retryable bool
	}{
		{"bad credentials", connector.Errorf(connector.KindBadCredentials, "wrong password"), gridlink.SyncNeedsReauth, "bad_credentials", false, false},
		{"mfa required", connector.Errorf(connector.KindMFARequired, "enter code"), gridlink.SyncNeedsReauth, "mfa_required", false, false},
		{"utility down", connector.Errorf(connector.KindUnavailable, "site down"), gridlink.SyncFailing, "utility_unavailable", true, true},
		{"rate limited", connector.Errorf(connector.KindRateLimited, "slow down"), gridlink.SyncFailing, "rate_limited", true, true},
		{"layout changed", connector.Errorf(connector.KindLayoutChanged, "unexpected page"), gridlink.SyncFailing, "layout_changed", true, true},
		{"timeout", context.DeadlineExceeded, gridlink.SyncFailing, "utility_unavailable", true, true},
		{"unclassified", errors.New("boom"), gridlink.SyncFailing, "internal_error", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.RetryMin, c.RetryMax = time.Minute, time.Hour })
			u := e.addUser(t, nil)
			ctx := context.Background()
			if err := e.s.Sync(ctx, u.RowID); err != nil {
				t.Fatal(err)
			}
			before := e.data(t, u.RowID)
			firstSuccess := e.clock.Now()

			e.clock.Advance(24 * time.Hour)
			e.fake.set(fails(tc.err))
			err := e.s.Sync(ctx, u.RowID)
			if err == nil {
				t.Fatal("Sync succeeded, want an error")
			}
			if got := Retryable(err); got != tc.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, tc.retryable)
			}
			got := e.user(t, u.RowID)
			if got.CredentialsValid != tc.valid {
				t.Errorf("CredentialsValid = %v, want %v", got.CredentialsValid, tc.valid)
			}
			now := e.clock.Now()
			// A retryable failure is retried in about RetryMin (with
			// downward jitter); a rejected login never.
			var wantNext *time.Time
			if tc.retryable {
				checkNext(t, got.Sync, now.Add(48*time.Second), now.Add(time.Minute))
				wantNext = got.Sync.NextAttemptAt
			}
			wantState := gridlink.SyncState{Status: tc.status, ErrorCode: tc.code, LastSuccessAt: &firstSuccess, LastAttemptAt: &now, NextAttemptAt: wantNext}
			if diff := cmp.Diff(wantState, got.Sync); diff != "" {
				t.Errorf("sync state (-want +got):\n%s", diff)
			}
			if !got.DataReady {
				t.Error("DataReady turned false")
			}
			if diff := cmp.Diff(before, e.data(t, u.RowID)); diff != "" {
				t.Errorf("data from before changed (-before +after):\n%s", diff)
			}

			// A user whose login is known to be rejected is not synced
			// again (each try could count towards a lockout).
			if !tc.valid {
				n := len(e.fake.requests())
				if err := e.s.Sync(ctx, u.RowID); err != nil {
					t.Errorf("Sync of a user with invalid credentials = %v, want nil", err)
				}
				if got := len(e.fake.requests()); got != n {
					t.Errorf("connector called %d more times for a user with invalid credentials", got-n)
				}
			}
		})
	}
}

func TestSyncFirstAttemptFailingKeepsDataUnavailable(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	e.fake.set(fails(connector.Errorf(connector.KindUnavailable, "site down")))
	if err := e.s.Sync(context.Background(), u.RowID); err == nil {
		t.Fatal("Sync succeeded, want an error")
	}
	got := e.user(t, u.RowID)
	if got.DataReady || got.Sync.Status != gridlink.SyncFailing || got.Sync.LastSuccessAt != nil {
		t.Errorf("user after failed first sync: DataReady=%v state=%+v; want not ready, failing, never succeeded", got.DataReady, got.Sync)
	}
}

func TestSyncOfDeletedUserIsNoOp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	if err := e.st.DeleteUser(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{u.RowID, "never-existed"} {
		if err := e.s.Sync(ctx, row); err != nil {
			t.Errorf("Sync(%q) = %v, want nil", row, err)
		}
	}
	if n := len(e.fake.requests()); n != 0 {
		t.Errorf("connector called %d times for deleted users", n)
	}
}

func TestSyncOfUserDeletedMidSyncIsNoOp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		if err := e.st.DeleteUser(ctx, u.RowID); err != nil {
			t.Error(err)
		}
		return testData(48, baseUsage), nil
	})
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Errorf("Sync = %v, want nil (the user is gone)", err)
	}
	if accounts, err := e.st.Accounts(ctx, u.RowID); err != nil || len(accounts) != 0 {
		t.Errorf("accounts of the deleted user = %v, %v; want none", accounts, err)
	}
}

func TestSyncKeepsRefreshedSessionSealed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, []byte("old-session"))
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		d := testData(48, baseUsage)
		d.Session = []byte("new-session-cookie")
		return d, nil
	})
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	got := e.user(t, u.RowID)
	cred, err := OpenCredential(e.v, got.Credential, u.RowID)
	if err != nil {
		t.Fatal(err)
	}
	want := Credential{Username: "user@pelm.com", Password: testPassword, Session: []byte("new-session-cookie")}
	if diff := cmp.Diff(want, cred); diff != "" {
		t.Errorf("stored credential (-want +got):\n%s", diff)
	}
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	if reqs := e.fake.requests(); string(reqs[1].Session) != "new-session-cookie" {
		t.Errorf("second fetch got session %q, want the refreshed one", reqs[1].Session)
	}

	// Neither the database files nor the logs hold the password.
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{e.path, e.path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(testPassword)) || bytes.Contains(b, []byte("new-session-cookie")) {
			t.Errorf("%s contains the plaintext password or session", f)
		}
	}
	if strings.Contains(e.logs.String(), testPassword) {
		t.Error("logs contain the password")
	}
}

func TestSyncKeepsConnectorIDs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	const accID, meterID, billID = "ea100000-0000-0000-0000-000000000000", "ee100000-0000-0000-0000-000000000000", "eb100000-0000-0000-0000-000000000000"
	e.fake.set(returns(func() *connector.Data {
		d := testData(48, baseUsage)
		d.Accounts[0].ID = accID
		d.Accounts[0].Meters[0].ID = meterID
		d.Accounts[0].Bills[0].ID = billID
		return d
	}))
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Account(ctx, u.RowID, accID); err != nil {
		t.Errorf("account by connector id: %v", err)
	}
	if m, err := e.st.Meter(ctx, u.RowID, meterID); err != nil || m.AccountID != accID {
		t.Errorf("meter by connector id = %+v, %v", m, err)
	}
	if b, err := e.st.Bill(ctx, u.RowID, billID); err != nil || b.AccountID != accID {
		t.Errorf("bill by connector id = %+v, %v", b, err)
	}
}

func TestSyncDoesNotModifyConnectorData(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	shared := testData(48, baseUsage)
	e.fake.set(returns(func() *connector.Data { return shared }))
	if err := e.s.Sync(context.Background(), u.RowID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testData(48, baseUsage), shared); diff != "" {
		t.Errorf("sync modified the connector's data (-original +after):\n%s", diff)
	}
}

func TestSyncRejectsInvalidConnectorDataWithoutStoring(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *connector.Data)
	}{
		{"account without external id", func(d *connector.Data) { d.Accounts[1].ExternalID = "" }},
		{"meter type unknown", func(d *connector.Data) { d.Accounts[1].Meters[0].Type = "WATER" }},
		{"readings for unknown meter", func(d *connector.Data) { d.Accounts[1].Intervals["X"] = d.Accounts[1].Intervals["E2"] }},
		{"overlapping readings", func(d *connector.Data) { d.Accounts[1].Intervals["E2"][1].Start -= 60 }},
		{"bill without external id", func(d *connector.Data) { d.Accounts[1].Bills[0].ExternalID = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.addUser(t, nil)
			e.fake.set(returns(func() *connector.Data { d := testData(48, baseUsage); tc.mutate(d); return d }))
			err := e.s.Sync(context.Background(), u.RowID)
			if err == nil || !Retryable(err) {
				t.Fatalf("Sync = %v, want a retryable error", err)
			}
			if d := e.data(t, u.RowID); len(d.Accounts) != 0 {
				t.Errorf("stored %d accounts from invalid data", len(d.Accounts))
			}
			if got := e.user(t, u.RowID); got.Sync.Status != gridlink.SyncFailing || !got.CredentialsValid {
				t.Errorf("user = valid %v, state %+v; want valid and failing", got.CredentialsValid, got.Sync)
			}
		})
	}
}

func TestSyncSupersededByNewLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		// The user reconnects (Connect update mode) while the old login
		// is being rejected.
		sealed, err := SealCredential(e.v, Credential{Username: "user@pelm.com", Password: "the-new-password"}, u.RowID)
		if err != nil {
			t.Error(err)
		}
		if err := e.st.SetCredential(ctx, u.RowID, sealed); err != nil {
			t.Error(err)
		}
		return nil, connector.Errorf(connector.KindBadCredentials, "wrong password")
	})
	if err := e.s.Sync(ctx, u.RowID); !errors.Is(err, ErrLoginChanged) {
		t.Fatalf("Sync = %v, want ErrLoginChanged", err)
	}
	if got := e.user(t, u.RowID); !got.CredentialsValid {
		t.Error("the new login was marked invalid because the old one was rejected")
	}
}

func TestCredentialNeverPrintsSecrets(t *testing.T) {
	c := Credential{Username: "u@example.com", Password: testPassword, Session: []byte("cookie-secret")}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logger.Info("x", "cred", c)
	for _, s := range []string{c.String(), c.GoString(), logs.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, testPassword) || strings.Contains(s, "cookie-secret") {
			t.Errorf("secret printed: %s", s)
		}
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"username":"u@example.com","password":"` + testPassword + `","session":"Y29va2llLXNlY3JldA=="}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	back, err := UnmarshalCredential(b)
	if err != nil || !cmp.Equal(back, c) {
		t.Errorf("UnmarshalCredential = %v, %v; want the original", back, err)
	}
	if _, err := UnmarshalCredential([]byte(`{"password":"` + testPassword)); err == nil || strings.Contains(err.Error(), testPassword) {
		t.Errorf("UnmarshalCredential of broken JSON = %v; want an error without the input", err)
	}
}
