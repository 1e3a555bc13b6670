// Package storetest is the conformance suite of store.Store: every backend
// runs Run against fresh, empty stores and must pass it unchanged.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// Run runs the conformance suite. open is called once per subtest and must
// return a fresh, empty store; it arranges closing it (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Clients", testClients},
		{"DeleteClientCascades", testDeleteClientCascades},
		{"ConnectSessions", testConnectSessions},
		{"PurgeConnectSessions", testPurgeConnectSessions},
		{"CompleteConnectCreate", testCompleteConnectCreate},
		{"CompleteConnectUpdate", testCompleteConnectUpdate},
		{"CompleteConnectTokenReuse", testCompleteConnectTokenReuse},
		{"CompleteConnectUserConflict", testCompleteConnectUserConflict},
		{"RedeemCode", testRedeemCode},
		{"RedeemCodeReplay", testRedeemCodeReplay},
		{"RedeemCodeForeignClient", testRedeemCodeForeignClient},
		{"RedeemCodeExpired", testRedeemCodeExpired},
		{"RedeemCodeConcurrent", testRedeemCodeConcurrent}, {"RedeemCodesConcurrent", testRedeemCodesConcurrent},
		{"Users", testUsers},
		{"DeleteUser", testDeleteUser},
		{"UpsertAccount", testUpsertAccount},
		{"Intervals", testIntervals},
		{"IntervalsLargeBatch", testIntervalsLargeBatch},
		{"Bills", testBills},
		{"PerUserScoping", testPerUserScoping},
		{"UserUpdatesConcurrent", testUserUpdatesConcurrent},
		{"IntervalsConcurrent", testIntervalsConcurrent},
		{"DataThrough", testDataThrough}, {"DataVersion", testDataVersion}, {"IntervalSpans", testIntervalSpans}, {"DueForSync", testDueForSync}, {"BeginSync", testBeginSync}, {"BeginSyncConcurrent", testBeginSyncConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &env{t: t, st: open(t), ctx: t.Context()})
		})
	}
}

// t0 is the suite's fixed clock reading (second precision, UTC, as stored).
func t0() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0().Add(d) }

// digest is the SHA-256 of s, the form in which secrets reach the store.
func digest(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func ptr[T any](v T) *T { return &v }

// cmpOpts compares domain values: times with Equal (cmp's default), empty
// and nil slices alike.
func cmpOpts() []cmp.Option { return []cmp.Option{cmpopts.EquateEmpty()} }

type env struct {
	t   *testing.T
	st  store.Store
	ctx context.Context
}

func (e *env) wantErr(op string, err, want error) {
	e.t.Helper()
	if !errors.Is(err, want) {
		e.t.Fatalf("%s: error = %v, want %v", op, err, want)
	}
}

func (e *env) noErr(op string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", op, err)
	}
}

func (e *env) diff(what string, got, want any) {
	e.t.Helper()
	if d := cmp.Diff(want, got, cmpOpts()...); d != "" {
		e.t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func (e *env) client(id string) gridlink.Client {
	e.t.Helper()
	c := gridlink.Client{
		ID:           id,
		SecretHash:   digest("secret-" + id),
		Name:         "Company " + id,
		RedirectURIs: []string{"https://" + id + ".example/callback", "http://localhost:3000/cb"},
		Origins:      []string{"https://" + id + ".example", "http://localhost:*"},
		CreatedAt:    t0(),
	}
	e.noErr("create client "+id, e.st.CreateClient(e.ctx, c))
	return c
}

// session creates a Connect session named after secret for clientID/userID.
func (e *env) session(clientID, userID, secret string, updateMode bool) store.ConnectSession {
	e.t.Helper()
	s := store.ConnectSession{
		ID:          "sess-" + secret,
		CookieHash:  digest("cookie-" + secret),
		TokenHash:   digest("token-" + secret),
		ClientID:    clientID,
		UserID:      userID,
		UpdateMode:  updateMode,
		RedirectURI: "https://" + clientID + ".example/callback",
		Step:        store.StepCredentials,
		UtilityID:   7,
		CreatedAt:   t0(),
		ExpiresAt:   at(gridlink.ConnectTokenTTL),
	}
	e.noErr("create session "+s.ID, e.st.CreateConnectSession(e.ctx, s))
	return s
}

// completion is the CompleteConnect of the session named after secret.
func completion(clientID, userID, rowID, secret string) store.CompleteConnect {
	return store.CompleteConnect{
		SessionID: "sess-" + secret,
		TokenHash: digest("token-" + secret),
		User: gridlink.User{
			RowID:           rowID,
			ClientID:        clientID,
			ID:              userID,
			UtilityID:       7,
			UtilityUsername: "login-" + userID,
			Credential:      []byte("sealed-" + secret),
			Sync:            gridlink.SyncState{Status: gridlink.SyncPending},
		},
		CodeHash:      digest("code-" + secret),
		CodeExpiresAt: at(gridlink.CodeTTL),
		Pending:       []byte("sealed-code-" + secret),
		Now:           t0(),
	}
}

// connect runs a whole Connect session (named after secret) that creates
// user userID of clientID under rowID; the code is digest("code-"+secret).
func (e *env) connect(clientID, userID, rowID, secret string) gridlink.User {
	e.t.Helper()
	e.session(clientID, userID, secret, false)
	u, err := e.st.CompleteConnect(e.ctx, completion(clientID, userID, rowID, secret))
	e.noErr("complete connect "+secret, err)
	return u
}

// login connects a new user and redeems its code; it returns the user and
// the access token digest (digest("access-"+secret)).
func (e *env) login(clientID, userID, rowID, secret string) (gridlink.User, []byte) {
	e.t.Helper()
	e.connect(clientID, userID, rowID, secret)
	token := digest("access-" + secret)
	u, err := e.st.RedeemCode(e.ctx, digest("code-"+secret), clientID, token, at(time.Minute))
	e.noErr("redeem code "+secret, err)
	return u, token
}

// tokenValid reports whether the access token digest is live, and checks
// that it names clientID and rowID.
func (e *env) tokenValid(token []byte, clientID, rowID string) bool {
	e.t.Helper()
	owner, u, err := e.st.TokenUser(e.ctx, token)
	g, gerr := e.st.TokenGrant(e.ctx, token, clientID)
	if errors.Is(err, store.ErrNotFound) {
		if !errors.Is(gerr, store.ErrNotFound) {
			e.t.Errorf("TokenUser finds no live token but TokenGrant answers (%+v, %v)", g, gerr)
		}
		return false
	}
	e.noErr("token user", err)
	e.noErr("token grant", gerr)
	if owner != clientID || u.RowID != rowID {
		e.t.Errorf("token user = (%q, %q), want (%q, %q)", owner, u.RowID, clientID, rowID)
	}
	e.checkGrant(g, u)
	return true
}

// checkGrant checks that g is the grant of user u.
func (e *env) checkGrant(g store.Grant, u gridlink.User) {
	e.t.Helper()
	want := store.Grant{RowID: u.RowID, UtilityID: u.UtilityID, DataReady: u.DataReady, DataVersion: u.DataVersion}
	if g != want {
		e.t.Errorf("token grant = %+v, want %+v (from the token's user)", g, want)
	}
}

// account is a two-meter account fixture.
func account(id, ext string) gridlink.Account {
	return gridlink.Account{
		ID:         id,
		ExternalID: ext,
		Number:     "number-" + ext,
		Address:    "1 Main St, " + ext,
		Meters: []gridlink.Meter{
			{ID: id + "-el", AccountID: id, ExternalID: ext + "-el", Type: gridlink.Electric},
			{ID: id + "-gas", AccountID: id, ExternalID: ext + "-gas", Type: gridlink.Gas},
		},
	}
}

// hourly returns n hourly readings from start.
func hourly(start int64, n int, usage float64) []gridlink.Interval {
	out := make([]gridlink.Interval, n)
	for i := range out {
		s := start + int64(i)*3600
		out[i] = gridlink.Interval{Start: s, End: s + 3600, Usage: usage + float64(i), GHG: (usage + float64(i)) / 10}
	}
	return out
}

// intervals collects the readings of Intervals.
func (e *env) intervals(rowID, meterID string, start, end int64) []gridlink.Interval {
	e.t.Helper()
	var got []gridlink.Interval
	e.noErr("intervals", e.st.Intervals(e.ctx, rowID, meterID, start, end, func(iv gridlink.Interval) error {
		got = append(got, iv)
		return nil
	}))
	return got
}
