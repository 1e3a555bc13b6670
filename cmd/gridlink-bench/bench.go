package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Targets of the performance issue, as ratios to the baselines.
const (
	targetHTTPRatio     = 0.5   // connect-token creation, GET /accounts: of the HTTP limit
	targetStorageRatio  = 0.7   // code exchange: of the storage limit
	targetIntervalsMBps = 100.0 // GET /intervals, a year of hourly data: MB/s of JSON at -conns connections ...
	targetIntervalsP99  = 25.0  // ... and p99 under this many ms while 100 MB/s of it is offered (open loop)
	targetIngestRows    = 50_000.0
	budgetIdleRSS       = 40e6  // bytes
	budgetLoadRSS       = 150e6 // bytes
)

// Baseline names used in the report.
const (
	baseHTTP          = "http-limit"
	basePairedHTTP    = "http-limit, interleaved"
	baseSQLiteRedeem  = "sqlite-redeem-limit"
	baseSQLiteIngest  = "sqlite-ingest-limit"
	basePGRedeem      = "postgres-redeem-limit"
	baseIntervalsMBps = "100 MB/s (absolute)"
	baseIntervalsP99  = "p99 < 25 ms at 100 MB/s offered (absolute)"
	baseIngestAbs     = "50000 rows/s (absolute)"
	baseIdleRSS       = "40 MB budget / RSS"
	baseLoadRSS       = "150 MB budget / RSS"
)

// Sandbox logins the bench connects.
var (
	hourlyLogin = login{utility: "pge", username: "user@pelm.com", password: "password"}
	bigLogin    = login{utility: "sandbox", username: "big@sandbox.test", password: "password"}
	// slow@sandbox.test's first sync sleeps 60 s before it fetches: the
	// users behind the code pool add no sync work while the exchange is
	// measured.
	poolLogin = login{utility: "sandbox", username: "slow@sandbox.test", password: "password"}
)

// The Pelm sandbox user's second account: electric only, hourly.
const pelmAccount2 = "ea200000-0000-0000-0000-000000000000"

// Rows of a big@sandbox.test-shaped ingest: three meters of three years of
// 15-minute readings.
const (
	bigMeters   = 3
	bigPerMeter = 3 * 365 * 96
)

// bench is one run.
type bench struct {
	cfg config
	log io.Writer
	dir string
	rs  []result
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// want reports whether the scenario named name was selected with -only.
func (b *bench) want(name string) bool { return b.cfg.only == nil || b.cfg.only.MatchString(name) }

func (b *bench) add(r result) {
	b.rs = append(b.rs, r)
	meets := "-"
	if r.Meets != nil {
		meets = map[bool]string{true: "meets", false: "MISSES"}[*r.Meets]
	}
	ratio := fmt.Sprintf("ratio %.3f (%s) %s", r.Ratio, r.Baseline, meets)
	if r.relative {
		ratio = "ratio to " + r.Baseline + " in the report"
	}
	b.logf("  %-44s rps %9.1f  p50 %7.2f ms  p99 %7.2f ms  %s", r.Name, r.RPS, r.P50, r.P99, ratio)
}

// profile starts a CPU profile named after name when -cpuprofile is set;
// the returned function stops it.
func (b *bench) profile(name string) func() {
	if b.cfg.cpuProfile == "" {
		return func() {}
	}
	path := filepath.Join(b.cfg.cpuProfile, slug(name)+".pprof")
	f, err := os.Create(path)
	if err != nil {
		b.logf("cpu profile %s: %v", path, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.logf("cpu profile %s: %v", path, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// slug turns a scenario name into a file name.
func slug(name string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(sb.String(), "-")
}

// runBench runs the baselines and every selected scenario.
//
// The HTTP and storage baselines are measured before gridlink starts and
// again (for half the duration) after it has stopped; ratios use the
// higher of the two, so that a machine that got busier during the run
// cannot flatter gridlink.
func runBench(ctx context.Context, cfg config, log io.Writer, loads *[2]string) ([]result, error) {
	dir, err := os.MkdirTemp("", "gridlink-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, log: log, dir: dir}
	loads[0] = loadAvg()
	defer func() { loads[1] = loadAvg() }()
	b.logf("machine: %s; load average %s", machine(), loads[0])

	bin := cfg.gridlink
	if !cfg.inProcess && bin == "" {
		b.logf("building ./cmd/gridlink")
		if bin, err = buildGridlink(ctx, dir, log); err != nil {
			return nil, err
		}
	}
	if cfg.postgres != "" {
		// Fail before the long SQLite run when the database does not answer.
		if err := pingPostgres(ctx, cfg.postgres); err != nil {
			return nil, err
		}
	}
	lim := map[string]float64{}
	keep := func(name string, v float64) { lim[name] = max(lim[name], v) }

	// Baselines first, while no gridlink runs.
	v, err := b.httpBaseline(ctx, "before", cfg.duration)
	if err != nil {
		return b.rs, err
	}
	keep(baseHTTP, v)
	if v, err = b.sqliteRedeemBaseline(ctx, "before", cfg.duration); err != nil {
		return b.rs, err
	}
	keep(baseSQLiteRedeem, v)
	if v, err = b.ingestRows(ctx); err != nil {
		return b.rs, err
	}
	keep(baseSQLiteIngest, v)

	db := filepath.Join(dir, "bench.db")
	if err := b.runGridlink(ctx, bin, "", db, baseSQLiteRedeem); err != nil {
		return b.rs, err
	}
	if cfg.postgres != "" {
		pg, err := b.pgRedeemBaseline(ctx)
		if err != nil {
			return b.rs, err
		}
		keep(basePGRedeem, pg)
		if err := b.runGridlink(ctx, bin, " (postgres)", cfg.postgres, basePGRedeem); err != nil {
			return b.rs, err
		}
	}

	// The baselines again, now that gridlink has stopped.
	if v, err = b.httpBaseline(ctx, "after", max(cfg.duration/2, 100*time.Millisecond)); err != nil {
		return b.rs, err
	}
	keep(baseHTTP, v)
	if v, err = b.sqliteRedeemBaseline(ctx, "after", max(cfg.duration/2, 100*time.Millisecond)); err != nil {
		return b.rs, err
	}
	keep(baseSQLiteRedeem, v)
	finalize(b.rs, lim)
	return b.rs, nil
}

func (b *bench) warmup() time.Duration {
	return min(time.Second, max(100*time.Millisecond, b.cfg.duration/10))
}

// httpBaseline measures the HTTP limit for duration.
func (b *bench) httpBaseline(ctx context.Context, when string, duration time.Duration) (float64, error) {
	b.logf("baseline (%s): bare net/http handler, fixed %d-byte JSON body", when, len(httpLimitBody))
	srv, err := startBaselineServer(ctx, b.cfg.inProcess)
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	u := srv.base + "/"
	spec, cleanup := bareSpec(srv, b.cfg.conns, b.warmup(), duration)
	defer cleanup()
	stopProf := b.profile("baseline " + baseHTTP + " " + when)
	res, err := runLoad(ctx, spec)
	stopProf()
	if err != nil {
		return 0, err
	}
	b.add(loadRow("baseline: "+baseHTTP+" (2 KB JSON), "+when, res, 0, baseHTTP, nil))
	if res.ops == 0 || res.errs > 0 {
		return 0, fmt.Errorf("HTTP baseline failed: %d ok, %d errors (%s)", res.ops, res.errs, res.firstErr)
	}
	if when == "before" && b.want("GET /intervals") {
		// What the bare HTTP stack does with bodies the size of a year of
		// hourly intervals: the ceiling of the intervals targets.
		large := srv.base + "/large"
		lspec, lcleanup := httpSpec(b.cfg.conns, b.warmup(), max(duration/2, 100*time.Millisecond), u, func(int) reqFunc {
			return getReq(large, http.Header{})
		}, http.StatusOK)
		defer lcleanup()
		lspec.cpu = cpuOf(srv.pid)
		lres, err := runLoad(ctx, lspec)
		if err != nil {
			return 0, err
		}
		r := loadRow(fmt.Sprintf("baseline: %s (%.2f MB JSON)", baseHTTP, float64(len(httpLargeBody))/1e6), lres, 0, baseIntervalsMBps, nil)
		r.relative, r.Ratio = false, lres.mbps()/targetIntervalsMBps
		b.add(r)
	}
	return res.rps(), nil
}

// sqliteRedeemBaseline measures the storage limit of a code redemption
// for duration.
func (b *bench) sqliteRedeemBaseline(ctx context.Context, when string, duration time.Duration) (float64, error) {
	b.logf("baseline (%s): raw durable SQLite redemption transactions, %d goroutines, one writer connection", when, b.cfg.conns)
	// Calibrate: size the pool of codes to the machine's rate.
	cal, err := newRedeemBaseline(ctx, b.dir, 2000)
	if err != nil {
		return 0, fmt.Errorf("storage baseline: %w", err)
	}
	calRes, err := runLoad(ctx, loadSpec{conns: b.cfg.conns, duration: 300 * time.Millisecond,
		newOp: func(context.Context, int) (op, error) { return cal.redeem, nil }})
	cal.close()
	os.Remove(filepath.Join(b.dir, "baseline-redeem.db"))
	if err != nil {
		return 0, fmt.Errorf("storage baseline: %w", err)
	}
	need := int(calRes.rps()*(duration+b.warmup()).Seconds()*2) + 1000
	base, err := newRedeemBaseline(ctx, b.dir, need)
	if err != nil {
		return 0, fmt.Errorf("storage baseline: %w", err)
	}
	defer func() {
		base.close()
		os.Remove(filepath.Join(b.dir, "baseline-redeem.db"))
	}()
	stopProf := b.profile("baseline " + baseSQLiteRedeem + " " + when)
	res, err := runLoad(ctx, loadSpec{conns: b.cfg.conns, warmup: b.warmup(), duration: duration, cpu: cpuOf(os.Getpid()),
		newOp: func(context.Context, int) (op, error) { return base.redeem, nil }})
	stopProf()
	if err != nil {
		return 0, fmt.Errorf("storage baseline: %w", err)
	}
	r := loadRow("baseline: "+baseSQLiteRedeem+" (tx/s), "+when, res, 0, baseSQLiteRedeem, nil)
	if res.exhausted {
		r.Note = fmt.Sprintf("pool of %d codes used up after %v", need, res.elapsed.Round(time.Millisecond))
	}
	b.add(r)
	if res.ops == 0 || res.errs > 0 {
		return 0, fmt.Errorf("storage baseline failed: %d ok, %d errors (%s)", res.ops, res.errs, res.firstErr)
	}
	return res.rps(), nil
}

// ingestRows measures the raw SQLite ingest limit and sqlstore's
// UpsertIntervals in this process, on big@sandbox.test-shaped data. It
// returns the ingest limit (0 when not selected).
func (b *bench) ingestRows(ctx context.Context) (float64, error) {
	name := "store ingest: sqlstore.UpsertIntervals (rows/s)"
	if !b.want(name) {
		return 0, nil
	}
	b.logf("baseline: raw SQLite ingest of %d readings in 5000-row transactions", bigMeters*bigPerMeter)
	stopProf := b.profile("baseline " + baseSQLiteIngest)
	limit, err := ingestBaseline(ctx, b.dir, bigMeters, bigPerMeter, 5000)
	stopProf()
	if err != nil {
		return 0, fmt.Errorf("ingest baseline: %w", err)
	}
	b.add(result{Name: "baseline: " + baseSQLiteIngest + " (rows/s)", RPS: limit, Baseline: baseSQLiteIngest,
		Value: fmt.Sprintf("%.0f rows/s", limit), metric: limit, relative: true})
	b.logf("store ingest: sqlstore.UpsertIntervals of %d readings in 5000-row calls", bigMeters*bigPerMeter)
	stopProf = b.profile("store ingest")
	rate, err := storeIngest(ctx, filepath.Join(b.dir, "store-ingest.db"), bigMeters, bigPerMeter, 5000)
	stopProf()
	if err != nil {
		return 0, fmt.Errorf("store ingest: %w", err)
	}
	b.add(result{Name: name, RPS: rate, Baseline: baseSQLiteIngest, Value: fmt.Sprintf("%.0f rows/s", rate),
		Note: "in-process, no HTTP, no connector: the store's share of sync ingest", metric: rate, relative: true})
	return limit, nil
}

// reqFunc builds one request of a scenario.
type reqFunc func(ctx context.Context) (*http.Request, error)

// httpSpec is a load spec whose workers each own a keep-alive connection
// (opened with a GET of primeURL before the clock starts) and send the
// requests of mk(worker), expecting status want.
func httpSpec(conns int, warmup, duration time.Duration, primeURL string, mk func(w int) reqFunc, want int) (loadSpec, func()) {
	var mu sync.Mutex
	var workers []*httpWorker
	spec := loadSpec{conns: conns, warmup: warmup, duration: duration,
		newOp: func(ctx context.Context, w int) (op, error) {
			hw := newHTTPWorker()
			mu.Lock()
			workers = append(workers, hw)
			mu.Unlock()
			if err := hw.prime(ctx, primeURL); err != nil {
				return nil, err
			}
			build := mk(w)
			return func(ctx context.Context) (int64, error) {
				req, err := build(ctx)
				if err != nil {
					return 0, err
				}
				return hw.do(req, want)
			}, nil
		}}
	return spec, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, hw := range workers {
			hw.close()
		}
	}
}

// getReq returns GETs of u with a copy of hdr.
func getReq(u string, hdr http.Header) reqFunc {
	hdr = hdr.Clone()
	return func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header = hdr
		return req, nil
	}
}

// postFormReq returns urlencoded POSTs of body to u with a copy of hdr.
func postFormReq(u string, hdr http.Header, body string) reqFunc {
	hdr = hdr.Clone()
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	return func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = hdr
		return req, nil
	}
}

// loadRow turns a load result into a report row whose ratio is its rate
// over the final value of baseline baseName (see finalize).
func loadRow(name string, res loadResult, peak int64, baseName string, target *float64) result {
	r := result{Name: name, RPS: res.rps(), P50: res.percentile(50), P99: res.percentile(99),
		MBps: res.mbps(), Ops: res.ops, Errs: res.errs, PeakRSS: peak, Baseline: baseName, Target: target,
		CPU: res.cpuPerOp(), metric: res.rps(), relative: true}
	if res.errs > 0 {
		r.Note = fmt.Sprintf("%d errors, first: %s", res.errs, res.firstErr)
	}
	return r
}

// mbpsRow makes an intervals row's ratio its MB/s over 100 MB/s; with a
// target, the row meets it when that ratio does and no request failed.
func mbpsRow(r *result, res loadResult) {
	r.relative = false
	r.Ratio = res.mbps() / targetIntervalsMBps
	if r.Target != nil {
		r.Meets = ptr(r.Ratio >= *r.Target && r.Errs == 0 && r.Ops > 0)
	}
}

// p99Row makes an open-loop intervals row's ratio 25 ms over its p99. With
// a target, the row meets it when p99 is under 25 ms, no request failed
// and the rate was kept (see loadResult.keptRate). Its note gives the
// offered and achieved rates and the missed requests.
func p99Row(r *result, res loadResult) {
	r.relative = false
	r.Ratio = 0
	if r.P99 > 0 {
		r.Ratio = targetIntervalsP99 / r.P99
	}
	kept := res.keptRate()
	if r.Target != nil {
		r.Meets = ptr(r.Ratio >= *r.Target && r.P99 < targetIntervalsP99 && r.Errs == 0 && r.Ops > 0 && kept)
	}
	note := fmt.Sprintf("offered %.1f requests/s, achieved %.1f/s (%.1f MB/s), missed %d of %d",
		res.rate, res.rps(), res.mbps(), res.missed, res.planned)
	if !kept {
		note += fmt.Sprintf(": rate not kept (under %.0f%% completed)", minKeptRate*100)
	}
	r.Note = strings.TrimSuffix(note+"; "+r.Note, "; ")
}

// user is a seeded user: its access token and accounts.
type user struct {
	id       string
	token    string
	accounts []accountJSON
}

// runGridlink starts gridlink on database, seeds it and runs every
// selected scenario against it. suffix tells the backend in row names.
func (b *bench) runGridlink(ctx context.Context, bin, suffix, database, redeemBase string) error {
	var (
		t   *target
		err error
	)
	if b.cfg.inProcess {
		b.logf("starting gridlink in-process on %s", database)
		t, err = startInProcess(ctx, database)
	} else {
		b.logf("starting gridlink serve%s", suffix)
		t, err = startChild(ctx, bin, database)
	}
	if err != nil {
		return err
	}
	defer t.stop()
	api := &apiClient{base: t.base, clientID: t.clientID, secret: t.secret, hc: &http.Client{Timeout: 5 * time.Minute}}
	name := func(s string) string { return s + suffix }
	hasRSS := t.pid != 0

	if hasRSS {
		time.Sleep(time.Second)
		if err := b.rssRow(name("rss idle after start"), t.pid, budgetIdleRSS, baseIdleRSS); err != nil {
			return err
		}
	}

	// What the selected scenarios need.
	nIntervals15 := name("GET /intervals 1y 15-min")
	needBig := b.want(nIntervals15) || b.want(name("sync ingest"))
	nCT, nAcc, nBills := name("POST /auth/connect-token"), name("GET /accounts"), name("GET /bills")
	nIntH, nIntH1 := name("GET /intervals 1y hourly"), name("GET /intervals 1y hourly, 1 conn")
	nIntHOpen := name("GET /intervals 1y hourly at 100 MB/s (open loop)")
	nPage, nStart := name("GET /connect/{sid} (Connect page)"), name("GET /?connect_token= (Connect start)")
	nTok := name("POST /auth/token (fresh codes)")
	needHourly := b.want(nAcc) || b.want(nBills) || b.want(nIntH) || b.want(nIntHOpen) || b.want(nIntH1)

	var big *user
	if needBig {
		if big, err = b.seedBig(ctx, api, t, name("sync ingest: first sync of big@sandbox.test (rows/s)")); err != nil {
			return err
		}
	}
	var hourly []*user
	if needHourly {
		if hourly, err = b.seedHourly(ctx, api); err != nil {
			return err
		}
	}
	if hasRSS {
		time.Sleep(2 * time.Second)
		if err := b.rssRow(name("rss idle after seeding"), t.pid, budgetIdleRSS, baseIdleRSS); err != nil {
			return err
		}
	}

	hdr := http.Header{}
	api.auth(hdr, "")
	healthz := t.base + "/healthz"
	userHdr := func(u *user) http.Header {
		h := hdr.Clone()
		h.Set("Authorization", "Bearer "+u.token)
		return h
	}
	pick := func(w int) *user { return hourly[w%len(hourly)] }
	now := time.Now().Unix()
	yearQuery := "&start_date=" + strconv.FormatInt(now-365*86400, 10) + "&end_date=" + strconv.FormatInt(now, 10)

	type scenario struct {
		name     string
		conns    int
		mk       func(w int) reqFunc
		want     int
		baseName string
		target   *float64
		rowFix   func(*result, loadResult)
		// openMBps, when set, runs the scenario as an open loop offering
		// this many MB/s: requests per second are openMBps divided by the
		// size of the pre-flight answer.
		openMBps float64
	}
	scenarios := []scenario{
		{name: nCT, mk: func(w int) reqFunc {
			return postFormReq(t.base+"/auth/connect-token", hdr, "user_id=bench-connect-token-"+strconv.Itoa(w))
		}, want: 200, baseName: baseHTTP, target: ptr(targetHTTPRatio)},
	}
	hourlyReq := func(w int) reqFunc {
		return getReq(t.base+"/intervals?account_id="+pelmAccount2+"&type=ELECTRIC"+yearQuery, userHdr(pick(w)))
	}
	if needHourly {
		scenarios = append(scenarios,
			scenario{name: nAcc, mk: func(w int) reqFunc {
				return getReq(t.base+"/accounts", userHdr(pick(w)))
			}, want: 200, baseName: baseHTTP, target: ptr(targetHTTPRatio)},
			scenario{name: nBills, mk: func(w int) reqFunc {
				return getReq(t.base+"/bills", userHdr(pick(w)))
			}, want: 200, baseName: baseHTTP},
			scenario{name: nIntH, mk: hourlyReq, want: 200, baseName: baseIntervalsMBps, target: ptr(1.0),
				rowFix: mbpsRow},
			scenario{name: nIntHOpen, mk: hourlyReq, want: 200, baseName: baseIntervalsP99, target: ptr(1.0),
				rowFix: p99Row, openMBps: targetIntervalsMBps},
			scenario{name: nIntH1, conns: 1, mk: hourlyReq, want: 200, baseName: baseIntervalsMBps, rowFix: mbpsRow},
		)
	}
	if big != nil && len(big.accounts) > 0 {
		acct := big.accounts[0].ID
		scenarios = append(scenarios, scenario{name: nIntervals15, mk: func(int) reqFunc {
			return getReq(t.base+"/intervals?account_id="+acct+"&type=ELECTRIC"+yearQuery, userHdr(big))
		}, want: 200, baseName: baseIntervalsMBps, rowFix: mbpsRow})
	}
	if b.want(nPage) || b.want(nStart) {
		pageURL, cookie, startURL, err := b.connectSession(ctx, api)
		if err != nil {
			return err
		}
		pageHdr := http.Header{"Cookie": {cookie}}
		scenarios = append(scenarios,
			scenario{name: nPage, mk: func(int) reqFunc { return getReq(pageURL, pageHdr) },
				want: 200, baseName: baseHTTP},
			scenario{name: nStart, mk: func(int) reqFunc { return getReq(startURL, http.Header{}) },
				want: http.StatusSeeOther, baseName: redeemBase},
		)
	}

	// The bare handler, for the rows measured against the HTTP limit: it
	// runs interleaved with each of them (see pairedLoad).
	var bare *baselineServer
	for _, sc := range scenarios {
		if b.want(sc.name) && sc.baseName == baseHTTP && bare == nil {
			if bare, err = startBaselineServer(ctx, b.cfg.inProcess); err != nil {
				return err
			}
			defer bare.stop()
		}
	}

	for _, sc := range scenarios {
		if !b.want(sc.name) {
			continue
		}
		conns := b.cfg.conns
		if sc.conns > 0 {
			conns = sc.conns
		}
		note, size, err := preflight(ctx, sc.mk(0), sc.want)
		if err != nil {
			b.add(result{Name: sc.name, Baseline: sc.baseName, Target: sc.target, Meets: boolPtrIf(sc.target != nil, false),
				Errs: 1, Note: "pre-flight request failed: " + err.Error()})
			continue
		}
		dur := b.cfg.duration
		if conns == 1 {
			dur = max(b.cfg.duration/4, 500*time.Millisecond)
		}
		spec, cleanup := httpSpec(conns, b.warmup(), dur, healthz, sc.mk, sc.want)
		peak := &rssPeak{pid: t.pid}
		spec.sample = peak.sample
		spec.cpu = cpuOf(t.pid)
		stopProf := b.profile(sc.name)
		var res loadResult
		if sc.baseName == baseHTTP {
			b.logf("%s: %d connections, %v, in %d rounds with the bare handler", sc.name, conns, dur, pairRounds)
			var baseRes loadResult
			res, baseRes, err = b.pairedLoad(ctx, spec, bare, conns)
			stopProf()
			cleanup()
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			for _, r := range pairedRows(sc.name, res, baseRes, peak.peak.Load(), sc.target, note) {
				b.add(r)
			}
			continue
		}
		if sc.openMBps > 0 {
			rate := sc.openMBps * 1e6 / float64(size)
			b.logf("%s: %d connections, %v, open loop at %.1f requests/s (%.0f MB/s of %d-byte answers)",
				sc.name, conns, dur, rate, sc.openMBps, size)
			res, err = runOpenLoad(ctx, spec, rate)
		} else {
			b.logf("%s: %d connections, %v", sc.name, conns, dur)
			res, err = runLoad(ctx, spec)
		}
		stopProf()
		cleanup()
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		r := loadRow(sc.name, res, peak.peak.Load(), sc.baseName, sc.target)
		if sc.rowFix != nil {
			sc.rowFix(&r, res)
		}
		if note != "" {
			r.Note = strings.TrimPrefix(note+"; "+r.Note, "; ")
			r.Note = strings.TrimSuffix(r.Note, "; ")
		}
		b.add(r)
	}

	if b.want(nTok) {
		if err := b.exchangeScenario(ctx, api, t, nTok, redeemBase); err != nil {
			return err
		}
	}

	if hasRSS {
		m, err := readMem(t.pid)
		if err != nil {
			return err
		}
		b.add(budgetRow(name("rss peak, whole run (VmHWM)"), m.HWM, budgetLoadRSS, baseLoadRSS,
			"peak resident memory since start, seeding syncs included"))
	}
	if n := t.logs.errorCount(); n > 0 {
		b.logf("gridlink logged %d ERROR records; the first ones:\n%s", n, t.logs.firstErrors())
	}
	if b.cfg.inProcess && b.cfg.cpuProfile != "" {
		b.writeHeapProfile()
	}
	return nil
}

func boolPtrIf(cond, v bool) *bool {
	if !cond {
		return nil
	}
	return &v
}

// rssRow adds a row for gridlink's current RSS against budget.
func (b *bench) rssRow(name string, pid int, budget float64, baseName string) error {
	m, err := readMem(pid)
	if err != nil {
		return err
	}
	b.add(budgetRow(name, m.RSS, budget, baseName, fmt.Sprintf("anonymous %.1f MB, file-backed %.1f MB", mb(m.Anon), mb(m.File))))
	return nil
}

func budgetRow(name string, bytes int64, budget float64, baseName, note string) result {
	ratio := 0.0
	if bytes > 0 {
		ratio = budget / float64(bytes)
	}
	return result{Name: name, Ratio: ratio, Baseline: baseName, Target: ptr(1.0), Meets: ptr(ratio >= 1),
		PeakRSS: bytes, Value: fmt.Sprintf("%.1f MB", mb(bytes)), Note: note}
}

// preflight sends one request, checks its status and returns the size of
// its body; for an intervals answer it also describes the body.
func preflight(ctx context.Context, build reqFunc, want int) (note string, size int64, err error) {
	req, err := build(ctx)
	if err != nil {
		return "", 0, err
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != want {
		return "", 0, fmt.Errorf("status %d, want %d: %s", resp.StatusCode, want, truncate(body, 200))
	}
	if strings.HasPrefix(req.URL.Path, "/intervals") {
		var out struct {
			Intervals []json.RawMessage `json:"intervals"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return "", 0, fmt.Errorf("intervals answer: %w", err)
		}
		if len(out.Intervals) == 0 {
			return "", 0, errors.New("intervals answer has no readings")
		}
		note = fmt.Sprintf("%d intervals, %.2f MB per response", len(out.Intervals), float64(len(body))/1e6)
	}
	return note, int64(len(body)), nil
}

// seedBig connects one big@sandbox.test user, waits for its first sync and
// reports the sync's ingest rate (from gridlink's "sync ok" log record:
// readings stored over the sync's duration).
func (b *bench) seedBig(ctx context.Context, api *apiClient, t *target, rowName string) (*user, error) {
	b.logf("seeding 1 big@sandbox.test user (3 accounts, 3 years of 15-minute readings)")
	before := len(t.logs.syncEvents())
	stopProf := b.profile("sync ingest")
	u, err := connectUser(ctx, api, "bench-big-1", bigLogin, 10*time.Minute)
	stopProf()
	if err != nil {
		return nil, fmt.Errorf("seed big user: %w", err)
	}
	if !b.want(rowName) {
		return u, nil
	}
	var ev *syncEvent
	deadline := time.Now().Add(5 * time.Second) // the log record may trail data_ready by a moment
	for ev == nil && time.Now().Before(deadline) {
		evs := t.logs.syncEvents()
		for i := before; i < len(evs); i++ {
			if ev == nil || evs[i].Intervals > ev.Intervals {
				ev = &evs[i]
			}
		}
		if ev == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if ev == nil || ev.Duration <= 0 {
		b.add(result{Name: rowName, Baseline: baseIngestAbs, Target: ptr(1.0), Meets: ptr(false), Errs: 1,
			Note: "no \"sync ok\" log record with a duration was seen"})
		return u, nil
	}
	rate := float64(ev.Intervals) / ev.Duration.Seconds()
	r := result{Name: rowName, RPS: rate, Ratio: rate / targetIngestRows, Baseline: baseIngestAbs, Target: ptr(1.0),
		Value: fmt.Sprintf("%d rows in %v", ev.Intervals, ev.Duration.Round(time.Millisecond)),
		Note:  "whole first sync as the syncer logs it: connector fetch, GHG, upserts, bills and PDFs"}
	r.Meets = ptr(r.Ratio >= 1)
	b.add(r)
	return u, nil
}

// seedHourly connects -users user@pelm.com users, a few at a time.
func (b *bench) seedHourly(ctx context.Context, api *apiClient) ([]*user, error) {
	b.logf("seeding %d user@pelm.com users (a year of hourly readings each)", b.cfg.users)
	users := make([]*user, b.cfg.users)
	errs := make([]error, b.cfg.users)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			users[i], errs[i] = connectUser(ctx, api, fmt.Sprintf("bench-hourly-%d", i+1), hourlyLogin, 10*time.Minute)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("seed hourly users: %w", err)
	}
	return users, nil
}

// connectUser walks Connect for userID, exchanges the code and waits until
// the first sync has stored the user's data.
func connectUser(ctx context.Context, api *apiClient, userID string, l login, wait time.Duration) (*user, error) {
	code, err := connect(ctx, api, userID, l)
	if err != nil {
		return nil, err
	}
	token, err := api.exchange(ctx, code)
	if err != nil {
		return nil, err
	}
	accts, err := api.waitAccounts(ctx, token, wait)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", userID, err)
	}
	return &user{id: userID, token: token, accounts: accts}, nil
}

// connectSession opens one Connect session for the page scenarios. It
// returns the session page URL with its cookie, and a Connect start URL
// (a connect token that is valid for 30 minutes and never completes, so
// every GET of it starts a new session).
func (b *bench) connectSession(ctx context.Context, api *apiClient) (pageURL, cookie, startURL string, err error) {
	token, err := api.connectToken(ctx, "bench-connect-page", "sandbox")
	if err != nil {
		return "", "", "", err
	}
	w := newWalker(api.base)
	if err := w.start(ctx, token); err != nil {
		return "", "", "", fmt.Errorf("connect page: %w", err)
	}
	if w.last.StatusCode != http.StatusOK || !strings.HasPrefix(w.url.Path, "/connect/") {
		return "", "", "", fmt.Errorf("connect page: start landed on %s with status %d", w.url.Path, w.last.StatusCode)
	}
	var parts []string
	for _, c := range w.client.Jar.Cookies(w.url) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) == 0 {
		return "", "", "", errors.New("connect page: no session cookie")
	}
	start := api.base + "/?" + url.Values{"redirect_uri": {benchRedirect}, "connect_token": {token}}.Encode()
	return w.url.String(), strings.Join(parts, "; "), start, nil
}

// exchangeScenario prepares a pool of fresh authorization codes by walking
// Connect (time-boxed), then measures POST /auth/token until the pool is
// used up or the duration ends.
func (b *bench) exchangeScenario(ctx context.Context, api *apiClient, t *target, name, redeemBase string) error {
	const walkers = 8
	budget := 15 * time.Second
	b.logf("preparing up to %d fresh codes (Connect walks by %d users of slow@sandbox.test, at most %v)", b.cfg.codes, walkers, budget)
	var (
		mu    sync.Mutex
		codes []string
		errs  []error
		taken atomic.Int64
	)
	deadline := time.Now().Add(budget)
	walkStart := time.Now()
	var wg sync.WaitGroup
	for k := range walkers {
		wg.Go(func() {
			userID := fmt.Sprintf("bench-pool-%d", k+1)
			for time.Now().Before(deadline) && ctx.Err() == nil && taken.Add(1) <= int64(b.cfg.codes) {
				code, err := connect(ctx, api, userID, poolLogin)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					codes = append(codes, code)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("prepare codes: %w", errors.Join(errs...))
	}
	b.logf("prepared %d codes in %v (%.0f Connect walks/s)", len(codes), time.Since(walkStart).Round(time.Millisecond),
		float64(len(codes))/time.Since(walkStart).Seconds())

	var next atomic.Int64
	hdr := http.Header{}
	api.auth(hdr, "")
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	spec, cleanup := httpSpec(b.cfg.conns, 0, b.cfg.duration, t.base+"/healthz", func(int) reqFunc {
		return func(ctx context.Context) (*http.Request, error) {
			i := next.Add(1) - 1
			if i >= int64(len(codes)) {
				return nil, errPoolEmpty
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/auth/token",
				strings.NewReader("grant_type=code&code="+url.QueryEscape(codes[i])))
			if err != nil {
				return nil, err
			}
			req.Header = hdr
			return req, nil
		}
	}, http.StatusOK)
	defer cleanup()
	peak := &rssPeak{pid: t.pid}
	spec.sample = peak.sample
	spec.cpu = cpuOf(t.pid)
	b.logf("%s: %d connections, pool of %d codes", name, b.cfg.conns, len(codes))
	stopProf := b.profile(name)
	res, err := runLoad(ctx, spec)
	stopProf()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r := loadRow(name, res, peak.peak.Load(), redeemBase, ptr(targetStorageRatio))
	note := fmt.Sprintf("%d exchanges of a pool of %d fresh codes in %v", res.ops, len(codes), res.elapsed.Round(time.Millisecond))
	if !res.exhausted {
		note += " (the pool outlasted the duration)"
	}
	r.Note = strings.TrimSuffix(note+"; "+r.Note, "; ")
	b.add(r)
	return nil
}

// writeHeapProfile writes an in-use heap profile next to the CPU profiles.
func (b *bench) writeHeapProfile() {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		b.logf("heap profile: %v", err)
		return
	}
	path := filepath.Join(b.cfg.cpuProfile, "heap.pprof")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.logf("heap profile: %v", err)
	}
}
