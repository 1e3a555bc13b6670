package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
)

// t0 is the fake clock's start: 2024-03-15T12:00:00Z, on an hour boundary.
var t0 = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects logs from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testClient is a registered client with its secret.
type testClient struct {
	ID, Secret string
}

// env is a running API over a real SQLite store.
type env struct {
	st      *sqlstore.Store
	auth    *auth.Service
	cat     *catalog.Catalog
	clock   *fakeClock
	logs    *syncBuffer
	logger  *slog.Logger
	srv     *httptest.Server
	mux     *http.ServeMux
	a, b    testClient
	handler http.Handler
}

type envOption func(*api.Config, *http.ServeMux)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "gridlink.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{t: t0}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(st, key, clock.Now, rand.Reader)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{st: st, auth: svc, cat: catalog.Default(), clock: clock, logs: logs, logger: logger}
	e.a = e.newClient(t, "Acme Energy")
	e.b = e.newClient(t, "Other Co")

	cfg := api.Config{Auth: svc, Store: st, Catalog: e.cat, Logger: logger, Now: clock.Now}
	mux := http.NewServeMux()
	for _, o := range opts {
		o(&cfg, mux)
	}
	api.New(cfg).Register(mux)
	e.mux = mux
	e.handler = api.Handler(mux, logger)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) newClient(t testing.TB, name string) testClient {
	t.Helper()
	c, secret, err := e.auth.NewClient(name, []string{"https://app.example/cb"}, []string{"https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("create client: %v", err)
	}
	return testClient{ID: c.ID, Secret: secret}
}

// connect runs the store side of a successful Connect for userID and
// returns the user's row id and a fresh authorization code.
func (e *env) connect(t testing.TB, c testClient, userID string, utilityID int64) (rowID, code string) {
	t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	token, err := e.auth.NewConnectToken(c.ID, userID, utilityID)
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := e.auth.NewSecret()
	cookie, _ := e.auth.NewSecret()
	if err := e.st.CreateConnectSession(ctx, store.ConnectSession{
		ID: sid, CookieHash: auth.Digest(cookie), TokenHash: auth.Digest(token),
		ClientID: c.ID, UserID: userID, Step: store.StepCredentials,
		CreatedAt: now, ExpiresAt: now.Add(gridlink.ConnectTokenTTL),
	}); err != nil {
		t.Fatalf("create session: %v", err)
	}
	rowID = mustID(t, e.auth)
	if existing, err := e.st.User(ctx, c.ID, userID); err == nil {
		rowID = existing.RowID
	}
	code, codeHash, err := e.auth.NewCode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: sid, TokenHash: auth.Digest(token),
		User: gridlink.User{
			RowID: rowID, ClientID: c.ID, ID: userID, UtilityID: utilityID,
			UtilityUsername: "user@pelm.com", CredentialsValid: true, Credential: []byte("sealed"),
		},
		CodeHash: codeHash, CodeExpiresAt: now.Add(gridlink.CodeTTL), Now: now,
	}); err != nil {
		t.Fatalf("complete connect: %v", err)
	}
	return rowID, code
}

// newUser connects userID and redeems its code: it returns the row id and
// an access token.
func (e *env) newUser(t testing.TB, c testClient, userID string) (rowID, token string) {
	t.Helper()
	rowID, code := e.connect(t, c, userID, catalog.PGEID)
	token, _, err := e.auth.Exchange(context.Background(), c.ID, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return rowID, token
}

func mustID(t testing.TB, s *auth.Service) string {
	t.Helper()
	id, err := s.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Fixture ids.
const (
	acct1 = "ea100000-0000-0000-0000-000000000000"
	acct2 = "ea200000-0000-0000-0000-000000000000"
	elec1 = "e1000000-0000-0000-0000-000000000001"
	gas1  = "e1000000-0000-0000-0000-000000000002"
	elec2 = "e2000000-0000-0000-0000-000000000001"
	bill1 = "b1000000-0000-0000-0000-000000000001"
	bill2 = "b1000000-0000-0000-0000-000000000002"
	bill3 = "b1000000-0000-0000-0000-000000000003"
)

// Hourly electric readings on elec1 run from dataStart to t0.
var dataStart = t0.AddDate(0, 0, -100)

var pdfBytes = []byte("%PDF-1.4\n% test statement\n%%EOF\n")

func i64(v int64) *int64            { return &v }
func f64(v float64) *float64        { return &v }
func day(m time.Month, d int) int64 { return time.Date(2024, m, d, 0, 0, 0, 0, time.UTC).Unix() }

// seed stores the sandbox-like data set for a user and marks it ready:
// account 1 (ELECTRIC and GAS, hourly electric, daily gas, three bills, two
// with PDFs) and account 2 (ELECTRIC only, no readings, no bills).
func (e *env) seed(t testing.TB, rowID string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.UpsertAccount(ctx, rowID, gridlink.Account{
		ID: acct1, ExternalID: "1077345636", Number: "1077345636", Address: "1 WARRIORS WAY SAN FRANCISCO CA 94158",
		Meters: []gridlink.Meter{
			{ID: elec1, ExternalID: "E1", Type: gridlink.Electric},
			{ID: gas1, ExternalID: "G1", Type: gridlink.Gas},
		},
	}); err != nil {
		t.Fatalf("upsert account: %v", err)
	}
	if _, err := e.st.UpsertAccount(ctx, rowID, gridlink.Account{
		ID: acct2, ExternalID: "2077345636", Number: "2077345636", Address: "1 FERRY BUILDING SAN FRANCISCO CA 94105",
		Meters: []gridlink.Meter{{ID: elec2, ExternalID: "E2", Type: gridlink.Electric}},
	}); err != nil {
		t.Fatalf("upsert account: %v", err)
	}
	var el []gridlink.Interval
	for s := dataStart.Unix(); s < t0.Unix(); s += 3600 {
		el = append(el, gridlink.Interval{Start: s, End: s + 3600, Usage: 0.25 + float64(s%7)/10, GHG: 0.1})
	}
	if err := e.st.UpsertIntervals(ctx, rowID, elec1, el); err != nil {
		t.Fatalf("upsert intervals: %v", err)
	}
	var gas []gridlink.Interval
	for s := dataStart.Unix(); s < t0.Unix(); s += 86400 {
		gas = append(gas, gridlink.Interval{Start: s, End: s + 86400, Usage: 1.5, GHG: 7.95})
	}
	if err := e.st.UpsertIntervals(ctx, rowID, gas1, gas); err != nil {
		t.Fatalf("upsert intervals: %v", err)
	}
	bills := []struct {
		b   gridlink.Bill
		pdf []byte
	}{
		{gridlink.Bill{ID: bill1, AccountID: acct1, ExternalID: "S1",
			StartDate: i64(day(1, 1)), EndDate: i64(day(1, 31)), StatementDate: i64(day(2, 2)),
			DueDate: i64(day(2, 20)), PaymentDate: i64(day(2, 15)),
			TotalAmountDue: f64(123.45), TotalCharges: f64(123.45),
			ElectricCharge: f64(100.05), GasCharge: f64(20.4), OtherCharge: f64(3),
			ElectricKWh: f64(512.5), GasTherm: f64(30)}, pdfBytes},
		{gridlink.Bill{ID: bill2, AccountID: acct1, ExternalID: "S2",
			StartDate: i64(day(2, 1)), EndDate: i64(day(2, 29)), StatementDate: i64(day(3, 2)),
			TotalAmountDue: f64(99.9), ElectricKWh: f64(400)}, append([]byte(nil), pdfBytes...)},
		{gridlink.Bill{ID: bill3, AccountID: acct1, ExternalID: "S3",
			StartDate: i64(day(3, 1)), EndDate: i64(day(3, 31))}, nil},
	}
	for _, b := range bills {
		if _, err := e.st.UpsertBill(ctx, rowID, b.b, b.pdf); err != nil {
			t.Fatalf("upsert bill: %v", err)
		}
	}
	if err := e.st.MarkDataReady(ctx, rowID); err != nil {
		t.Fatalf("mark data ready: %v", err)
	}
}

// request is one HTTP call. Header keys are sent verbatim (so lower-case
// names reach the wire as written).
type request struct {
	method, path string
	header       map[string]string
	body         string
	bodyReader   io.Reader // instead of body, for unknown lengths
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, truncate(r.body))
	}
	return v
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func (e *env) do(t testing.TB, r request) response {
	t.Helper()
	var body io.Reader = strings.NewReader(r.body)
	if r.bodyReader != nil {
		body = r.bodyReader
	}
	if r.method == "" {
		r.method = http.MethodGet
	}
	req, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.bodyReader != nil {
		req.ContentLength = -1
	}
	for k, v := range r.header {
		req.Header[k] = []string{v}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// hdr returns the client headers of c plus a bearer token (when not empty)
// and extra key/value pairs.
func hdr(c testClient, token string, kv ...string) map[string]string {
	h := map[string]string{"Pelm-Client-Id": c.ID, "Pelm-Secret": c.Secret}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// lower returns h with lower-case header names.
func lower(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = v
	}
	return out
}

// wantError checks a JSON error answer.
func wantError(t testing.TB, r response, status int, code gridlink.ErrorCode) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %q)", r.status, status, truncate(r.body))
	}
	checkErrorBody(t, r, code)
}

// checkErrorBody checks that r is {"error_code": code, "message": "..."}
// served as application/json.
func checkErrorBody(t testing.TB, r response, code gridlink.ErrorCode) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("error body is not a JSON object (%v): %q", err, truncate(r.body))
	}
	if got := keys(m); strings.Join(got, ",") != "error_code,message" {
		t.Errorf("error keys = %v, want [error_code message]", got)
	}
	if m["error_code"] != string(code) {
		t.Errorf("error_code = %v, want %s (message %v)", m["error_code"], code, m["message"])
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Errorf("empty message")
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
