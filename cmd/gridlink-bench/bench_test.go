package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunLoadCountsAndFlagsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flaky" && n.Add(1)%5 == 0 {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write(httpLimitBody)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path     string
		wantErrs bool
	}{
		{"/ok", false},
		{"/flaky", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			spec, cleanup := httpSpec(4, 20*time.Millisecond, 200*time.Millisecond, srv.URL+"/prime", func(int) reqFunc {
				return getReq(srv.URL+tc.path, http.Header{})
			}, http.StatusOK)
			defer cleanup()
			res, err := runLoad(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if res.ops == 0 || len(res.lat) != res.ops {
				t.Fatalf("ops = %d with %d latencies", res.ops, len(res.lat))
			}
			if got := res.bytes; got != int64(res.ops*len(httpLimitBody)) {
				t.Errorf("bytes = %d, want %d (ops x body)", got, res.ops*len(httpLimitBody))
			}
			if (res.errs > 0) != tc.wantErrs {
				t.Errorf("errors = %d (%s), want errors: %v", res.errs, res.firstErr, tc.wantErrs)
			}
			if tc.wantErrs && !strings.Contains(res.firstErr, "status 500") {
				t.Errorf("first error = %q, want the unexpected status", res.firstErr)
			}
			if res.elapsed != 200*time.Millisecond || res.exhausted {
				t.Errorf("elapsed = %v exhausted = %v, want the full window", res.elapsed, res.exhausted)
			}
			rows := []result{loadRow("x", res, 0, "b", ptr(0.4))}
			finalize(rows, map[string]float64{"b": res.rps() * 2})
			row := rows[0]
			if row.Ratio < 0.49 || row.Ratio > 0.51 {
				t.Errorf("ratio = %.3f, want 0.5 (rate over twice the rate)", row.Ratio)
			}
			if tc.wantErrs != !*row.Meets {
				t.Errorf("meets = %v with %d errors: a row with errors must not meet its target", *row.Meets, res.errs)
			}
		})
	}
}

func TestRunLoadStopsWhenPoolIsUsedUp(t *testing.T) {
	var left atomic.Int64
	left.Store(50)
	res, err := runLoad(context.Background(), loadSpec{conns: 8, duration: 10 * time.Second,
		newOp: func(context.Context, int) (op, error) {
			return func(context.Context) (int64, error) {
				if left.Add(-1) < 0 {
					return 0, errPoolEmpty
				}
				time.Sleep(time.Millisecond)
				return 1, nil
			}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ops != 50 || !res.exhausted || res.elapsed <= 0 || res.elapsed > 5*time.Second {
		t.Fatalf("ops %d exhausted %v elapsed %v: want the 50 pooled ops, timed to the last one", res.ops, res.exhausted, res.elapsed)
	}
}

func TestRunOpenLoadKeepsItsRate(t *testing.T) {
	srv := httptest.NewServer(httpLimitHandler())
	defer srv.Close()
	const rate, conns = 200.0, 4
	spec, cleanup := httpSpec(conns, 100*time.Millisecond, time.Second, srv.URL+"/", func(int) reqFunc {
		return getReq(srv.URL+"/", http.Header{})
	}, http.StatusOK)
	defer cleanup()
	res, err := runOpenLoad(context.Background(), spec, rate)
	if err != nil {
		t.Fatal(err)
	}
	if res.planned != 200 || res.ops+res.errs+res.missed != res.planned {
		t.Fatalf("planned %d, completed %d, failed %d, missed %d: want 200 planned, each completed, failed or missed",
			res.planned, res.ops, res.errs, res.missed)
	}
	// A closed loop would complete thousands; an open loop at most the 200
	// it planned, and about all of them from a fast handler.
	if res.ops < 170 || res.errs != 0 {
		t.Fatalf("completed %d with %d errors (%s), want about 200 (rate x duration)", res.ops, res.errs, res.firstErr)
	}
	if len(res.lat) != res.ops || res.bytes != int64(res.ops*len(httpLimitBody)) || res.elapsed != time.Second {
		t.Errorf("%d latencies, %d bytes, elapsed %v for %d completions", len(res.lat), res.bytes, res.elapsed, res.ops)
	}
}

func TestRunOpenLoadCountsTheWaitOfALateGenerator(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(30 * time.Millisecond)
		}
		w.Write(httpLimitBody)
	}))
	defer srv.Close()
	// One connection of 30 ms requests cannot send 100 a second: each
	// request waits longer than the one before for its turn.
	spec, cleanup := httpSpec(1, 0, time.Second, srv.URL+"/", func(int) reqFunc {
		return getReq(srv.URL+"/slow", http.Header{})
	}, http.StatusOK)
	defer cleanup()
	res, err := runOpenLoad(context.Background(), spec, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.ops == 0 || res.errs != 0 {
		t.Fatalf("completed %d with %d errors (%s)", res.ops, res.errs, res.firstErr)
	}
	if p99 := res.percentile(99); p99 < 200 {
		t.Errorf("p99 = %.1f ms, want far above the handler's 30 ms (latency from the intended send time)", p99)
	}
	if res.keptRate() || res.missed == 0 || res.ops+res.errs+res.missed != res.planned {
		t.Errorf("kept rate %v, completed %d, missed %d of %d planned: want the rate not kept and the rest missed",
			res.keptRate(), res.ops, res.missed, res.planned)
	}
	row := loadRow("open", res, 0, baseIntervalsP99, ptr(1.0))
	p99Row(&row, res)
	if *row.Meets || !strings.Contains(row.Note, "rate not kept") {
		t.Errorf("row meets %v, note %q: a row that did not keep its rate must not meet its target", *row.Meets, row.Note)
	}
}

func TestPercentile(t *testing.T) {
	var res loadResult
	for i := 1; i <= 200; i++ {
		res.lat = append(res.lat, time.Duration(i)*time.Millisecond)
	}
	got := []float64{res.percentile(50), res.percentile(99), res.percentile(100)}
	if diff := cmp.Diff([]float64{100, 198, 200}, got); diff != "" {
		t.Fatalf("percentiles (-want +got):\n%s", diff)
	}
	if (loadResult{}).percentile(99) != 0 {
		t.Fatal("percentile of nothing is not 0")
	}
}

func TestJSONFileHasExactlyTheSpecifiedFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	rs := []result{
		{Name: "GET /accounts", RPS: 1234.5678, P50: 1.23456, P99: 9.87654, Ratio: 0.61234, Baseline: baseHTTP,
			Target: ptr(0.5), Meets: ptr(true), MBps: 3, Note: "not in the file"},
		{Name: "GET /bills", RPS: 10, Ratio: 0.1, Baseline: baseHTTP},
	}
	if err := writeJSONFile(path, rs); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][]map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]map[string]any{"results": {
		{"name": "GET /accounts", "rps": 1234.568, "p50_ms": 1.235, "p99_ms": 9.877, "ratio": 0.612, "baseline": "http-limit", "target": 0.5, "meets": true},
		{"name": "GET /bills", "rps": 10.0, "p50_ms": 0.0, "p99_ms": 0.0, "ratio": 0.1, "baseline": "http-limit", "target": nil, "meets": nil},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("JSON (-want +got):\n%s", diff)
	}
}

func TestLogWatch(t *testing.T) {
	l := newLogWatch()
	lines := `{"level":"INFO","msg":"gridlink listening","addr":"127.0.0.1:4321"}
{"level":"INFO","msg":"sync ok","user_row_id":"r1","intervals":315750,"duration":1088000000}
not json
{"level":"ERROR","msg":"connect: request failed"}
`
	// Written in pieces that split lines, as a pipe delivers them.
	for i := 0; i < len(lines); i += 7 {
		l.Write([]byte(lines[i:min(i+7, len(lines))]))
	}
	select {
	case addr := <-l.addrCh:
		if addr != "127.0.0.1:4321" {
			t.Errorf("addr = %q", addr)
		}
	default:
		t.Error("listening address not found")
	}
	evs := l.syncEvents()
	if len(evs) != 1 || evs[0].Intervals != 315750 || evs[0].Duration != 1088*time.Millisecond || evs[0].UserRowID != "r1" {
		t.Errorf("sync events = %+v", evs)
	}
	if l.errorCount() != 1 || !strings.Contains(l.firstErrors(), "request failed") {
		t.Errorf("errors = %d %q", l.errorCount(), l.firstErrors())
	}
}

func TestBudgetRow(t *testing.T) {
	for _, tc := range []struct {
		rss   int64
		meets bool
	}{
		{30e6, true},
		{40e6, true},
		{41e6, false},
	} {
		r := budgetRow("rss", tc.rss, budgetIdleRSS, baseIdleRSS, "")
		if *r.Meets != tc.meets || r.Ratio != budgetIdleRSS/float64(tc.rss) {
			t.Errorf("RSS %d: ratio %.3f meets %v, want meets %v", tc.rss, r.Ratio, *r.Meets, tc.meets)
		}
	}
}

// TestInProcessSeedAndLoad connects a sandbox user through the hosted
// Connect forms of a real gridlink (wired in-process on a SQLite file) and
// drives GET /accounts with the load generator.
func TestInProcessSeedAndLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gridlink and syncs a sandbox user")
	}
	ctx := t.Context()
	tg, err := startInProcess(ctx, filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.stop()
	api := &apiClient{base: tg.base, clientID: tg.clientID, secret: tg.secret, hc: &http.Client{Timeout: time.Minute}}
	u, err := connectUser(ctx, api, "test-user", hourlyLogin, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range u.accounts {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{"ea100000-0000-0000-0000-000000000000", pelmAccount2}, ids); diff != "" {
		t.Fatalf("accounts of user@pelm.com (-want +got):\n%s", diff)
	}
	if _, err := api.exchange(ctx, "not-a-code"); err == nil {
		t.Fatal("a made-up code was exchanged")
	}
	hdr := http.Header{}
	api.auth(hdr, u.token)
	spec, cleanup := httpSpec(2, 20*time.Millisecond, 200*time.Millisecond, tg.base+"/healthz", func(int) reqFunc {
		return getReq(tg.base+"/accounts", hdr)
	}, http.StatusOK)
	defer cleanup()
	res, err := runLoad(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.ops == 0 || res.errs != 0 {
		t.Fatalf("GET /accounts under load: %d ok, %d errors (%s)", res.ops, res.errs, res.firstErr)
	}
	if len(tg.logs.syncEvents()) == 0 {
		t.Error("the first sync's \"sync ok\" record was not seen")
	}
	if code, err := connect(ctx, api, "test-user-2", login{utility: "sandbox", username: "locked@sandbox.test", password: "password"}); err == nil || code != "" {
		t.Errorf("a rejected login yielded a code: %q %v", code, err)
	}
}

func TestProcReaders(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("memory = %+v, want 0 < RSS <= HWM", m)
	}
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the clock-tick counter moves (it must, within seconds).
	var after time.Duration
	for start := time.Now(); time.Since(start) < 5*time.Second; {
		if after, err = procCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
	}
	if after <= before {
		t.Errorf("CPU time stayed at %v over 5 s of spinning", before)
	}
	if _, err := readMem(0); err == nil {
		t.Error("memory of process 0 read without error")
	}
}

// A paired row's ratio is its rate over the bare handler's rate in the
// same rounds, merged over the rounds; it meets its target only without
// errors.
func TestPairedRows(t *testing.T) {
	ms := time.Millisecond
	scen := mergeResults([]loadResult{
		{ops: 300, elapsed: time.Second, lat: []time.Duration{3 * ms, 1 * ms}, cpu: 30 * ms},
		{ops: 100, elapsed: time.Second, lat: []time.Duration{2 * ms}, cpu: 10 * ms},
	})
	base := mergeResults([]loadResult{{ops: 500, elapsed: time.Second}, {ops: 300, elapsed: time.Second}})
	if scen.ops != 400 || scen.elapsed != 2*time.Second || scen.cpu != 40*ms {
		t.Fatalf("merged = %d ops in %v, cpu %v; want 400 in 2s, 40ms", scen.ops, scen.elapsed, scen.cpu)
	}
	if !slices.IsSorted(scen.lat) || len(scen.lat) != 3 {
		t.Fatalf("merged latencies %v: want the 3 of both rounds, sorted", scen.lat)
	}
	rows := pairedRows("GET /accounts", scen, base, 0, ptr(0.5), "")
	if len(rows) != 2 || rows[0].Baseline != basePairedHTTP || rows[1].Baseline != basePairedHTTP {
		t.Fatalf("rows = %+v", rows)
	}
	if r := rows[1]; r.Ratio != 0.5 || r.Meets == nil || !*r.Meets || r.CPU != 100 {
		t.Errorf("scenario row: ratio %v, meets %v, cpu %v µs/op; want 0.5 (200/400 rps), true, 100", r.Ratio, r.Meets, r.CPU)
	}
	scen.errs = 1
	if r := pairedRows("GET /accounts", scen, base, 0, ptr(0.5), "")[1]; *r.Meets {
		t.Error("a paired row with errors meets its target")
	}
	// finalize leaves the paired ratio alone and notes the other one.
	rs := pairedRows("GET /accounts", mergeResults([]loadResult{{ops: 200, elapsed: time.Second}}), base, 0, ptr(0.5), "")
	finalize(rs, map[string]float64{baseHTTP: 800})
	if rs[1].Ratio != 0.5 || !strings.Contains(rs[1].Note, "(800 requests/s, before/after): 0.250") {
		t.Errorf("after finalize: ratio %v, note %q", rs[1].Ratio, rs[1].Note)
	}
}
