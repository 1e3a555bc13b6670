package syncer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/emissions"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/testenv"
	"github.com/gridlink/gridlink/internal/vault"
)

// fetchFunc is what the fake connector does on Fetch.
type fetchFunc func(ctx context.Context, req connector.FetchRequest) (*connector.Data, error)

// fakeConnector records its fetches and answers with fn.
type fakeConnector struct {
	mu   sync.Mutex
	fn   fetchFunc
	reqs []connector.FetchRequest
}

func (f *fakeConnector) Login(context.Context, connector.Credentials) (connector.Login, error) {
	return connector.Login{}, nil
}

func (f *fakeConnector) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	fn := f.fn
	f.mu.Unlock()
	return fn(ctx, req)
}

func (f *fakeConnector) set(fn fetchFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn = fn
}

func (f *fakeConnector) requests() []connector.FetchRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]connector.FetchRequest(nil), f.reqs...)
}

func returns(d func() *connector.Data) fetchFunc {
	return func(context.Context, connector.FetchRequest) (*connector.Data, error) { return d(), nil }
}

func fails(err error) fetchFunc {
	return func(context.Context, connector.FetchRequest) (*connector.Data, error) { return nil, err }
}

const (
	testUtilityID   = 1
	testUtilitySlug = "pge"
	testPassword    = "hunter2-correct-horse-battery"
)

// testEpoch is the start of the fake readings.
var testEpoch = time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)

// testData is a deterministic fetch result: account A1 with an hourly
// electric meter and a daily gas meter and two bills with PDFs, account A2
// with one electric meter and a bill without PDF. usage(i) gives the i-th
// electric reading.
func testData(hours int, usage func(i int) float64) *connector.Data {
	e1 := make([]gridlink.Interval, hours)
	for i := range e1 {
		s := testEpoch.Unix() + int64(i)*3600
		e1[i] = gridlink.Interval{Start: s, End: s + 3600, Usage: usage(i)}
	}
	g1 := make([]gridlink.Interval, hours/24)
	for i := range g1 {
		s := testEpoch.Unix() + int64(i)*86400
		g1[i] = gridlink.Interval{Start: s, End: s + 86400, Usage: 1 + float64(i%5)/10}
	}
	e2 := []gridlink.Interval{
		{Start: testEpoch.Unix(), End: testEpoch.Unix() + 86400, Usage: 12.5, GHG: 3.25}, // GHG given by the connector
		{Start: testEpoch.Unix() + 86400, End: testEpoch.Unix() + 2*86400, Usage: 0},
	}
	date := func(d int) *int64 { v := testEpoch.Unix() + int64(d)*86400; return &v }
	money := func(v float64) *float64 { return &v }
	return &connector.Data{Accounts: []connector.Account{
		{
			Account: gridlink.Account{ExternalID: "A1", Number: "1077345636", Address: "1 WARRIORS WAY",
				Meters: []gridlink.Meter{{ExternalID: "E1", Type: gridlink.Electric}, {ExternalID: "G1", Type: gridlink.Gas}}},
			Intervals: map[string][]gridlink.Interval{"E1": e1, "G1": g1},
			Bills: []connector.Bill{
				{Bill: gridlink.Bill{ExternalID: "B1", StartDate: date(0), EndDate: date(30), TotalAmountDue: money(101.5)}, PDF: []byte("%PDF-1.4 bill one")},
				{Bill: gridlink.Bill{ExternalID: "B2", StartDate: date(30), EndDate: date(60), TotalAmountDue: money(99.25)}, PDF: []byte("%PDF-1.4 bill two")},
			},
		},
		{
			Account:   gridlink.Account{ExternalID: "A2", Number: "2077345636", Address: "1 FERRY BUILDING", Meters: []gridlink.Meter{{ExternalID: "E2", Type: gridlink.Electric}}},
			Intervals: map[string][]gridlink.Interval{"E2": e2},
			Bills:     []connector.Bill{{Bill: gridlink.Bill{ExternalID: "B3", StartDate: date(0), EndDate: date(30), ElectricKWh: money(12.5)}}},
		},
	}}
}

func baseUsage(i int) float64 { return 0.5 + float64(i%24)/8 }

// env is a real store (a temporary SQLite file, or a fresh schema of the
// test PostgreSQL server), a vault, a catalogue with one utility reached by
// the fake connector, and a Syncer on the injected clock.
type env struct {
	// dsn and schema name the database, for the queue; path is the SQLite
	// file ("" on PostgreSQL).
	dsn, schema, path string
	st                *sqlstore.Store
	v                 *vault.Vault
	fake              *fakeConnector
	s                 *Syncer
	clock             *testClock
	logs              *syncBuffer
	n                 int
}

type envOption func(*Config)

// backend is the database of an env.
type backend struct{ dsn, schema string }

// sqliteDB is a new SQLite file.
func sqliteDB(t testing.TB) backend {
	return backend{dsn: filepath.Join(t.TempDir(), "gridlink.db")}
}

// postgresDB is a new schema on the test server (skipping without one),
// dropped with everything in it when the test ends.
func postgresDB(t testing.TB) backend {
	t.Helper()
	dsn := testenv.Postgres(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "gl_synctest_" + hex.EncodeToString(b[:])
	// Registered first, so it runs last: after every queue and store of
	// the test has closed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return backend{dsn: dsn, schema: schema}
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, sqliteDB(t), opts...)
}

func newEnvOn(t testing.TB, db backend, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, db.dsn, sqlstore.Options{Schema: db.schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	path := ""
	if !IsPostgresDSN(db.dsn) {
		path = db.dsn
	}
	v, err := vault.New(rand.Reader, bytes.Repeat([]byte{7}, vault.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New([]gridlink.Utility{{ID: testUtilityID, Slug: testUtilitySlug, Name: "Pacific Gas and Electric", Connector: "fake"}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dsn: db.dsn, schema: db.schema, path: path, st: st, v: v, fake: &fakeConnector{}, clock: &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	e.fake.set(returns(func() *connector.Data { return testData(24*14, baseUsage) }))
	cfg := Config{
		Store:      st,
		Vault:      v,
		Catalog:    cat,
		Connectors: connector.Registry{"fake": e.fake},
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        e.clock.Now,
		// Retries come quickly in tests (the queue's retry waits this on
		// River's real clock); the jitter is reproducible.
		RetryMin: 50 * time.Millisecond,
		RetryMax: time.Second,
		// A sync deferred by its utility's limit tries again soon.
		UtilityBusyDelay: 50 * time.Millisecond,
		Rand:             seededRand(1),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, gridlink.Client{ID: "client1", SecretHash: make([]byte, 32), Name: "Acme", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// testClock is the injected clock: it moves only when the test says.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func ptr[T any](v T) *T { return &v }

// seededRand is a reproducible random source for the jitter.
func seededRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

// syncBuffer is a buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// addUser connects a new user of the test utility with the test login.
func (e *env) addUser(t testing.TB, session []byte) gridlink.User {
	t.Helper()
	return e.addLogin(t, testUtilityID, Credential{Username: "user@pelm.com", Password: testPassword, Session: session})
}

// addLogin connects a new user through the store, as Connect does.
func (e *env) addLogin(t testing.TB, utilityID int64, cred Credential) gridlink.User {
	t.Helper()
	ctx := context.Background()
	e.n++
	rowID := fmt.Sprintf("00000000-0000-4000-8000-%012d", e.n)
	sessionID := fmt.Sprintf("session-%d", e.n)
	if err := e.st.CreateConnectSession(ctx, store.ConnectSession{
		ID: sessionID, CookieHash: make([]byte, 32), TokenHash: []byte(sessionID), ClientID: "client1",
		UserID: fmt.Sprintf("user-%d", e.n), Step: store.StepCredentials, CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	sealed, err := SealCredential(e.v, cred, rowID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.st.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: sessionID, TokenHash: []byte(sessionID),
		User: gridlink.User{RowID: rowID, ClientID: "client1", ID: fmt.Sprintf("user-%d", e.n),
			UtilityID: utilityID, UtilityUsername: cred.Username, CredentialsValid: true, Credential: sealed},
		CodeHash: []byte("code-" + sessionID), CodeExpiresAt: e.clock.Now().Add(time.Minute), Now: e.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) user(t testing.TB, rowID string) gridlink.User {
	t.Helper()
	u, err := e.st.UserByRowID(context.Background(), rowID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// userData is everything a user can read back through the API.
type userData struct {
	Accounts  []gridlink.Account
	Intervals map[string][]gridlink.Interval // by meter id
	Bills     []gridlink.Bill
	PDFs      map[string]string // by bill id
}

func (e *env) data(t testing.TB, rowID string) userData {
	t.Helper()
	ctx := context.Background()
	accounts, err := e.st.Accounts(ctx, rowID)
	if err != nil {
		t.Fatal(err)
	}
	d := userData{Accounts: accounts, Intervals: map[string][]gridlink.Interval{}, PDFs: map[string]string{}}
	for _, a := range accounts {
		for _, m := range a.Meters {
			var ivs []gridlink.Interval
			if err := e.st.Intervals(ctx, rowID, m.ID, 0, math.MaxInt64, func(iv gridlink.Interval) error {
				ivs = append(ivs, iv)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			d.Intervals[m.ID] = ivs
		}
	}
	if d.Bills, err = e.st.Bills(ctx, rowID, store.BillFilter{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range d.Bills {
		pdf, err := e.st.BillPDF(ctx, rowID, b.ID)
		if err == nil {
			d.PDFs[b.ID] = string(pdf)
		}
	}
	return d
}

// expected is what a sync of d must store for the user rowID: derived ids
// and GHG computed where the connector left it zero.
func expected(rowID string, d *connector.Data) userData {
	out := userData{Intervals: map[string][]gridlink.Interval{}, PDFs: map[string]string{}}
	for _, a := range d.Accounts {
		acc := a.Account
		acc.ID = AccountID(rowID, a.ExternalID)
		acc.Meters = nil
		for _, m := range a.Meters {
			m.ID = MeterID(rowID, a.ExternalID, m.ExternalID)
			m.AccountID = acc.ID
			acc.Meters = append(acc.Meters, m)
			var ivs []gridlink.Interval
			for _, iv := range a.Intervals[m.ExternalID] {
				if iv.GHG == 0 {
					iv.GHG = emissions.GHG(testUtilitySlug, m.Type, time.Unix(iv.Start, 0), iv.Usage)
				}
				ivs = append(ivs, iv)
			}
			out.Intervals[m.ID] = ivs
		}
		out.Accounts = append(out.Accounts, acc)
		for _, b := range a.Bills {
			bill := b.Bill
			bill.ID = BillID(rowID, a.ExternalID, b.ExternalID)
			bill.AccountID = acc.ID
			bill.HasPDF = b.PDF != nil
			out.Bills = append(out.Bills, bill)
			if b.PDF != nil {
				out.PDFs[bill.ID] = string(b.PDF)
			}
		}
	}
	return out
}

// waitFor polls cond every 20 ms for up to 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmpData compares stored data, treating nil and empty alike.
func cmpData(want, got userData) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// checkNext checks that st's next attempt is within [lo, hi] (stored times
// have second precision).
func checkNext(t testing.TB, st gridlink.SyncState, lo, hi time.Time) {
	t.Helper()
	switch {
	case st.NextAttemptAt == nil:
		t.Errorf("next attempt unset, want between %v and %v", lo, hi)
	case st.NextAttemptAt.Before(lo.Truncate(time.Second)) || st.NextAttemptAt.After(hi):
		t.Errorf("next attempt at %v, want between %v and %v", st.NextAttemptAt, lo, hi)
	}
}
