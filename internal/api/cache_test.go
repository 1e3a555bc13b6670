package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
)

// uncached starts a second API over e's store and auth with the data cache
// off: the reference every cached answer must equal byte for byte.
func (e *env) uncached(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	api.New(api.Config{Auth: e.auth, Store: e.st, Catalog: e.cat, Logger: e.logger, Now: e.clock.Now, CacheBytes: -1}).Register(mux)
	srv := httptest.NewServer(api.Handler(mux, e.logger))
	t.Cleanup(srv.Close)
	return srv
}

// get calls path on srv with c's headers and token and returns the status
// and body.
func get(t *testing.T, srv *httptest.Server, c testClient, token, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr(c, token) {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return res.StatusCode, b
}

// same checks that the cached and the uncached API answer path alike.
func same(t *testing.T, cached, ref *httptest.Server, c testClient, token, path string) {
	t.Helper()
	gs, gb := get(t, cached, c, token, path)
	ws, wb := get(t, ref, c, token, path)
	if gs != ws || !bytes.Equal(gb, wb) {
		t.Fatalf("GET %s: cached answer differs from the store's:\ncached %d %s\nstore  %d %s", path, gs, truncate(gb), ws, truncate(wb))
	}
}

// TestDataCacheAnswersAsTheStore compares the cached API with an uncached
// one over the same store for many windows, with a budget large enough to
// keep everything and one so small that windows are evicted while a
// request is being answered.
func TestDataCacheAnswersAsTheStore(t *testing.T) {
	for _, budget := range []int64{0, 8 << 10} {
		t.Run(fmt.Sprintf("budget=%d", budget), func(t *testing.T) {
			e := newEnv(t, func(cfg *api.Config, _ *http.ServeMux) { cfg.CacheBytes = budget })
			ref := e.uncached(t)
			row, token := e.newUser(t, e.a, "alice")
			e.seed(t, row)

			same(t, e.srv, ref, e.a, token, "/accounts")
			lo, hi := dataStart.Unix()-40*86400, t0.Unix()+40*86400
			windows := [][2]int64{
				{0, 1 << 40},                   // everything
				{lo, hi},                       // beyond both ends
				{dataStart.Unix(), t0.Unix()},  // exactly the data
				{t0.Unix(), t0.Unix() + 86400}, // after the data
				{dataStart.Unix() - 3600, dataStart.Unix()},  // before it
				{1_707_000_000 - 7200, 1_707_000_000 + 7200}, // across a 30-day window edge
				{1_709_592_000, 1_709_592_000},               // empty, on a window edge
				{1_709_592_000 - 3600, 1_709_592_000 + 1},
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 60 {
				a := lo + rng.Int64N(hi-lo)
				b := a + rng.Int64N(90*86400)
				windows = append(windows, [2]int64{a, b})
			}
			for _, w := range windows {
				q := fmt.Sprintf("&start_date=%d&end_date=%d", w[0], w[1])
				same(t, e.srv, ref, e.a, token, "/intervals?account_id="+acct1+"&type=ELECTRIC"+q)
				same(t, e.srv, ref, e.a, token, "/intervals?meter_id="+gas1+q)
			}
			same(t, e.srv, ref, e.a, token, "/intervals?account_id="+acct2)
			same(t, e.srv, ref, e.a, token, "/accounts/"+acct1+"/intervals?type=GAS")
			same(t, e.srv, ref, e.a, token, "/intervals?account_id="+acct1+"&type=ELECTRIC") // the default window
			same(t, e.srv, ref, e.a, token, "/intervals?meter_id=no-such-meter")
			same(t, e.srv, ref, e.a, token, "/intervals?account_id=no-such-account")
			same(t, e.srv, ref, e.a, token, "/intervals?account_id="+acct1) // two types: 400
		})
	}
}

// TestDataCacheFollowsWrites: a change to the user's data written after an
// answer was cached (as a sync in this or another process writes it)
// shows in the next answer, and a revoked token stops working at once.
func TestDataCacheFollowsWrites(t *testing.T) {
	e := newEnv(t)
	ref := e.uncached(t)
	row, token := e.newUser(t, e.a, "alice")
	e.seed(t, row)
	ctx := context.Background()
	year := fmt.Sprintf("/intervals?account_id=%s&type=ELECTRIC&start_date=%d&end_date=%d", acct1, dataStart.Unix(), t0.Unix()+86400)
	_, before := get(t, e.srv, e.a, token, year)
	_, accountsBefore := get(t, e.srv, e.a, token, "/accounts")

	// One changed reading in the middle, one new reading after the end.
	mid := dataStart.Unix() + 50*86400
	if err := e.st.UpsertIntervals(ctx, row, elec1, []gridlink.Interval{
		{Start: mid, End: mid + 3600, Usage: 42.5, GHG: 1},
		{Start: t0.Unix(), End: t0.Unix() + 3600, Usage: 7.25, GHG: 1},
	}); err != nil {
		t.Fatal(err)
	}
	_, after := get(t, e.srv, e.a, token, year)
	if bytes.Equal(before, after) {
		t.Fatal("the intervals answer did not change after new readings were stored")
	}
	for _, want := range []string{fmt.Sprintf(`{"start":%d,"end":%d,"usage":42.5,`, mid, mid+3600), fmt.Sprintf(`{"start":%d,"end":%d,"usage":7.25,`, t0.Unix(), t0.Unix()+3600)} {
		if !bytes.Contains(after, []byte(want)) {
			t.Errorf("the intervals answer lacks the new reading %s", want)
		}
	}
	same(t, e.srv, ref, e.a, token, year)
	_, accountsAfter := get(t, e.srv, e.a, token, "/accounts")
	if bytes.Equal(accountsBefore, accountsAfter) {
		t.Error("GET /accounts still shows the old data_through")
	}
	same(t, e.srv, ref, e.a, token, "/accounts")

	// A changed account address.
	if _, err := e.st.UpsertAccount(ctx, row, gridlink.Account{ID: acct2, ExternalID: "2077345636", Number: "2077345636",
		Address: "2 NEW ADDRESS", Meters: []gridlink.Meter{{ID: elec2, ExternalID: "E2", Type: gridlink.Electric}}}); err != nil {
		t.Fatal(err)
	}
	if _, b := get(t, e.srv, e.a, token, "/accounts"); !bytes.Contains(b, []byte(`"2 NEW ADDRESS"`)) {
		t.Errorf("GET /accounts does not show the new address: %s", truncate(b))
	}

	// Deleting the user: its token no longer works, cached data or not.
	if err := e.st.DeleteUser(ctx, row); err != nil {
		t.Fatal(err)
	}
	if status, b := get(t, e.srv, e.a, token, year); status != http.StatusUnauthorized {
		t.Fatalf("after deleting the user: %d %s, want 401", status, truncate(b))
	}
}

// TestDataCacheRevokedToken: a replayed code revokes the token at once even
// though the user's answers are cached.
func TestDataCacheRevokedToken(t *testing.T) {
	e := newEnv(t)
	row, code := e.connect(t, e.a, "bob", 1)
	token, _, err := e.auth.Exchange(context.Background(), e.a.ID, code)
	if err != nil {
		t.Fatal(err)
	}
	e.seed(t, row)
	for range 2 {
		if status, b := get(t, e.srv, e.a, token, "/accounts"); status != http.StatusOK {
			t.Fatalf("GET /accounts: %d %s", status, truncate(b))
		}
	}
	if _, _, err := e.auth.Exchange(context.Background(), e.a.ID, code); err == nil {
		t.Fatal("a replayed code was accepted")
	}
	if status, b := get(t, e.srv, e.a, token, "/accounts"); status != http.StatusUnauthorized {
		t.Fatalf("after the replay: %d %s, want 401", status, truncate(b))
	}
}

// TestDataCacheMetrics: /metrics counts the cache's hits and builds and
// shows what it holds, so that an operator can size --cache-size.
func TestDataCacheMetrics(t *testing.T) {
	e := newEnv(t)
	a := api.New(api.Config{Auth: e.auth, Store: e.st, Catalog: e.cat, Logger: e.logger, Now: e.clock.Now})
	reg := prometheus.NewRegistry()
	if err := a.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(api.Handler(mux, e.logger))
	t.Cleanup(srv.Close)
	row, token := e.newUser(t, e.a, "alice")
	e.seed(t, row)

	metric := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if n := metric("gridlink_api_cache_entries"); n != 0 {
		t.Fatalf("entries before any request: %v", n)
	}
	for range 3 {
		if status, b := get(t, srv, e.a, token, "/accounts"); status != http.StatusOK {
			t.Fatalf("GET /accounts: %d %s", status, truncate(b))
		}
	}
	if got := metric("gridlink_api_cache_builds_total"); got != 1 {
		t.Errorf("builds after 3 GET /accounts: %v, want 1", got)
	}
	if got := metric("gridlink_api_cache_hits_total"); got != 2 {
		t.Errorf("hits after 3 GET /accounts: %v, want 2", got)
	}
	if got := metric("gridlink_api_cache_entries"); got != 1 {
		t.Errorf("entries: %v, want 1 (the user's accounts)", got)
	}
	if got := metric("gridlink_api_cache_bytes"); got <= 0 {
		t.Errorf("bytes: %v, want > 0", got)
	}

	// A second registration on the same registry is refused, not panicked on.
	if err := a.RegisterMetrics(reg); err == nil {
		t.Error("registering the cache metrics twice on one registry succeeded")
	}
	// With the cache off there is nothing to export.
	off := api.New(api.Config{Auth: e.auth, Store: e.st, Catalog: e.cat, CacheBytes: -1})
	reg2 := prometheus.NewRegistry()
	if err := off.RegisterMetrics(reg2); err != nil {
		t.Fatal(err)
	}
	if mfs, _ := reg2.Gather(); len(mfs) != 0 {
		t.Errorf("cache off: %d metrics exported, want 0", len(mfs))
	}
}
