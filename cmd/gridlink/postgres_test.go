package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/gridlink/gridlink/internal/testenv"
)

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/var/lib/gridlink/gridlink.db", "/var/lib/gridlink/gridlink.db"},
		{"postgres://gl:s3cret@db.example:5432/gridlink?sslmode=verify-full", "postgres://***@db.example:5432/gridlink?sslmode=verify-full"},
		{"postgresql://db.example/gridlink?password=s3cret&sslmode=require", "postgresql://db.example/gridlink?password=***&sslmode=require"},
		{"postgres://gl:s3%cret@db/x", "postgres://***@db/x"},
	} {
		got := redactDSN(tc.in)
		if got != tc.want || strings.Contains(got, "s3") {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDatabaseErrorsHidePasswords: a PostgreSQL URL that fails to open is
// named in the error without its password.
func TestDatabaseErrorsHidePasswords(t *testing.T) {
	for _, dsn := range []string{
		"postgres://gl:s3cret-pw@127.0.0.1:1/gridlink?connect_timeout=2",
		"postgresql://gl@127.0.0.1:1/gridlink?password=s3cret-pw&connect_timeout=2",
	} {
		code, out, errOut := runCmd(t, nil, "migrate", "--database", dsn)
		if code != 1 || !strings.Contains(errOut, "127.0.0.1:1") || strings.Contains(out+errOut, "s3cret-pw") {
			t.Errorf("migrate --database %s = %d, stderr %q; want 1 naming the host without the password", redactDSN(dsn), code, errOut)
		}
	}
}

// TestServeSyncFlagErrors: inconsistent sync settings are refused.
func TestServeSyncFlagErrors(t *testing.T) {
	env := map[string]string{"GRIDLINK_MASTER_KEY": testMasterKey(t)}
	db := filepath.Join(t.TempDir(), "g.db")
	for _, args := range [][]string{
		{"--sync-workers", "0"},
		{"--sync-job-timeout", "5m", "--sync-rescue-after", "1m"},
		{"--sync-retry-min", "0s"},
		{"--db-max-conns", "-1"},
	} {
		code, _, errOut := runCmd(t, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--database", db}, args...)...)
		if code != 2 || errOut == "" {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	env["GRIDLINK_SANDBOX_SLOW_DELAY"] = "soon"
	if code, _, errOut := runCmd(t, env, "serve", "--addr", "127.0.0.1:0", "--database", db); code != 2 || !strings.Contains(errOut, "GRIDLINK_SANDBOX_SLOW_DELAY") {
		t.Errorf("serve with GRIDLINK_SANDBOX_SLOW_DELAY=soon: exit %d, stderr %q", code, errOut)
	}
}

// TestMetricsEndpoint: serve exports the sync metrics, the answer cache's
// and the Go runtime's at GET /metrics.
func TestMetricsEndpoint(t *testing.T) {
	env := map[string]string{"GRIDLINK_MASTER_KEY": testMasterKey(t)}
	srv := startServe(t, env, "--database", filepath.Join(t.TempDir(), "g.db"))
	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"gridlink_sync_", "gridlink_api_cache_hits_total", "gridlink_api_cache_bytes", "go_goroutines", "process_"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %s:\n%.2000s", want, body)
		}
	}
}

func testMasterKey(t *testing.T) string {
	t.Helper()
	code, out, errOut := runCmd(t, nil, "keys", "generate")
	if code != 0 {
		t.Fatalf("keys generate: %d %s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// TestPostgresProcesses runs real gridlink processes on one PostgreSQL
// database (GRIDLINK_TEST_POSTGRES): migrate from several at once, and two
// serve processes sharing the sync queue, one of them killed mid-sync.
func TestPostgresProcesses(t *testing.T) {
	admin := testenv.Postgres(t)
	bin := buildGridlink(t)
	t.Run("concurrent migrate", func(t *testing.T) { testConcurrentMigrate(t, admin, bin) })
	t.Run("two serve processes", func(t *testing.T) { testTwoServeProcesses(t, admin, bin) })
}

// buildGridlink builds the binary: the processes must be real to be
// killed.
func buildGridlink(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gridlink")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freshDatabase creates an empty database next to admin's, dropped when
// the test ends, and returns its URL.
func freshDatabase(t *testing.T, admin string) string {
	t.Helper()
	ctx := t.Context()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "gl_mp_" + hex.EncodeToString(rnd[:])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// procEnv is the environment of a child process: the test's own without
// any GRIDLINK_* variable, plus extra.
func procEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GRIDLINK_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func testConcurrentMigrate(t *testing.T, admin, bin string) {
	dsn := freshDatabase(t, admin)
	type result struct {
		out []byte
		err error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), bin, "migrate", "--database", dsn)
			cmd.Env = procEnv()
			results[i].out, results[i].err = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || !strings.Contains(string(r.out), "is up to date") {
			t.Errorf("migrate process %d: %v\n%s", i, r.err, r.out)
		}
	}

	// The store's schema is at the newest embedded migration.
	files, err := filepath.Glob("../../internal/store/sqlstore/migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no PostgreSQL migrations found: %v", err)
	}
	latest := 0
	for _, f := range files {
		n, _, _ := strings.Cut(filepath.Base(f), "_")
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("migration file %s: %v", f, err)
		}
		latest = max(latest, v)
	}
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var count, top int
	if err := pool.QueryRow(ctx, `SELECT count(*), coalesce(max(version), 0) FROM schema_migrations`).Scan(&count, &top); err != nil {
		t.Fatal(err)
	}
	if count != len(files) || top != latest {
		t.Errorf("schema_migrations: %d rows up to version %d; want %d up to %d", count, top, len(files), latest)
	}
	// And River's queue schema is complete.
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil || !res.OK {
		t.Errorf("River schema not up to date: %v %+v", err, res)
	}
}

// proc is a gridlink child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	base string
	done chan struct{} // closed when the process has exited
}

// startProc starts `gridlink serve` and waits until it listens.
func startProc(t *testing.T, bin, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(35 * time.Second):
			t.Errorf("%s did not stop within 35 s of SIGTERM", p.name)
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range p.records() {
			if r.Msg == "gridlink listening" {
				p.base = "http://" + r.Addr
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", name, p.cmd.ProcessState, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not start:\n%s", name, p.logs.String())
	return nil
}

// logRec is the part of a JSON log line the test reads.
type logRec struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	UserRowID string    `json:"user_row_id"`
	Addr      string    `json:"addr"`
}

func (p *proc) records() []logRec {
	var recs []logRec
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var r logRec
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg != "" {
			recs = append(recs, r)
		}
	}
	return recs
}

// syncSpan is one sync attempt of a user in one process, from its "sync
// started" line to its outcome line (or to the process's death).
type syncSpan struct {
	proc       string
	user       string
	start, end time.Time
	outcome    string // "" when the process died first
}

// spans returns p's sync attempts; unfinished ones end at death (zero:
// the process is alive and they are still running).
func (p *proc) spans(death time.Time) []syncSpan {
	var out []syncSpan
	open := map[string]int{} // user -> index in out
	for _, r := range p.records() {
		if r.UserRowID == "" || !strings.HasPrefix(r.Msg, "sync ") && !strings.HasPrefix(r.Msg, "scheduled sync") {
			continue
		}
		if r.Msg == "sync started" {
			open[r.UserRowID] = len(out)
			out = append(out, syncSpan{proc: p.name, user: r.UserRowID, start: r.Time})
			continue
		}
		if j, ok := open[r.UserRowID]; ok {
			out[j].end, out[j].outcome = r.Time, r.Msg
			delete(open, r.UserRowID)
		}
	}
	for _, j := range open {
		out[j].end = death
	}
	return out
}

// connectSlowUser walks hosted Connect through base as slow@sandbox.test
// and returns the API headers of the new user.
func connectSlowUser(t *testing.T, base string, client map[string]string, userID string) map[string]string {
	t.Helper()
	const redirect = "https://app.example/cb"
	var ct struct {
		ConnectToken string `json:"connect_token"`
	}
	if code, _ := apiCall(t, "POST", base+"/auth/connect-token", client, url.Values{"user_id": {userID}}, &ct); code != 200 || ct.ConnectToken == "" {
		t.Fatalf("connect-token via %s = %d", base, code)
	}
	b := newBrowser(t, base)
	b.get(base + "/?" + url.Values{"redirect_uri": {redirect}, "connect_token": {ct.ConnectToken}, "state": {"s"}}.Encode())
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	b.submit(`[name=utility_slug][value=sandbox]`, nil)
	b.submit(`input[name=username]`, map[string]string{"username": "slow@sandbox.test", "password": "password"})
	if b.page == nil || b.page.Find(`form[action$="/continue"]`).Length() == 0 {
		t.Fatalf("no confirmation screen via %s: %d %s", base, b.last.StatusCode, b.text())
	}
	b.submit(`form[action$="/continue"] [type=submit]`, nil)
	code, err := codeFrom(b.redirectedTo())
	if err != nil {
		t.Fatalf("connect via %s: %v", base, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if c, _ := apiCall(t, "POST", base+"/auth/token", client, url.Values{"code": {code}, "grant_type": {"code"}}, &tok); c != 200 || tok.AccessToken == "" {
		t.Fatalf("token exchange via %s = %d", base, c)
	}
	hdr := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	for k, v := range client {
		hdr[k] = v
	}
	return hdr
}

// checkIntervals asserts that every electric account of the user has
// readings, ascending and without duplicates.
func checkIntervals(t *testing.T, base string, user map[string]string, accts []map[string]any) {
	t.Helper()
	for _, a := range accts {
		var iv struct {
			Intervals []struct {
				Start json.Number `json:"start"`
			} `json:"intervals"`
		}
		if c, _ := apiCall(t, "GET", base+"/intervals?account_id="+a["id"].(string)+"&type=ELECTRIC", user, nil, &iv); c != 200 || len(iv.Intervals) == 0 {
			t.Fatalf("intervals of account %v = %d with %d readings", a["id"], c, len(iv.Intervals))
		}
		prev := int64(-1 << 62)
		for _, r := range iv.Intervals {
			s, err := r.Start.Int64()
			if err != nil || s <= prev {
				t.Fatalf("intervals of account %v: start %s after %d: not ascending and unique", a["id"], r.Start, prev)
			}
			prev = s
		}
	}
}

// testTwoServeProcesses starts two serve processes on one database, each
// working one sync at a time, connects slow users through both, checks
// that both worked syncs and that no user's sync ran twice at once, then
// kills one mid-sync and checks that the other finishes its job.
func testTwoServeProcesses(t *testing.T, admin, bin string) {
	dsn := freshDatabase(t, admin)
	const (
		slowDelay   = 6 * time.Second  // each user's first sync
		jobTimeout  = 10 * time.Second // > slowDelay
		rescueAfter = 10 * time.Second // >= jobTimeout
	)
	env := procEnv("GRIDLINK_MASTER_KEY="+testMasterKey(t), "GRIDLINK_SANDBOX_SLOW_DELAY="+slowDelay.String())
	args := []string{"--database", dsn, "--sync-workers", "1", "--sync-job-timeout", jobTimeout.String(),
		"--sync-rescue-after", rescueAfter.String(), "--sync-retry-min", "1s"}

	cmd := exec.CommandContext(t.Context(), bin, "clients", "create", "--database", dsn, "--name", "Multi", "--redirect-uri", "https://app.example/cb", "--json")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("clients create: %v %s", err, out)
	}
	var creds map[string]string
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatalf("clients create --json = %s", out)
	}
	client := map[string]string{"pelm-client-id": creds["client_id"], "pelm-secret": creds["client_secret"]}

	procs := []*proc{startProc(t, bin, "A", env, args...), startProc(t, bin, "B", env, args...)}
	if procs[0].base == procs[1].base {
		t.Fatal("both processes listen on the same address")
	}

	// Phase 1: four users, connected alternately through A and B. Each
	// process runs one sync at a time, so while one sleeps through a slow
	// first sync the other must take the next job.
	var users []map[string]string
	for i := range 4 {
		users = append(users, connectSlowUser(t, procs[i%2].base, client, fmt.Sprintf("mp-%d", i)))
	}
	for i, u := range users {
		pollAccounts(t, procs[(i+1)%2].base, u, 90*time.Second)
	}
	phase1 := map[string]bool{}
	for _, p := range procs {
		n := 0
		for _, s := range p.spans(time.Time{}) {
			phase1[s.user] = true
			if s.outcome == "sync ok" {
				n++
			}
		}
		t.Logf("phase 1: process %s ran %d syncs", p.name, n)
		if n == 0 {
			t.Errorf("process %s ran no sync; the queue is not shared:\nA:\n%s\nB:\n%s", p.name, procs[0].logs, procs[1].logs)
		}
	}
	if len(phase1) != 4 {
		t.Fatalf("phase 1 synced %d distinct users, want 4", len(phase1))
	}

	// Phase 2: two more users; SIGKILL whichever process starts one of
	// their syncs first, while it sleeps in the slow fetch.
	for i := 4; i < 6; i++ {
		users = append(users, connectSlowUser(t, procs[i%2].base, client, fmt.Sprintf("mp-%d", i)))
	}
	var victim, survivor *proc
	var victimUser string
	deadline := time.Now().Add(60 * time.Second)
	for victim == nil {
		for i, p := range procs {
			for _, s := range p.spans(time.Time{}) {
				if !phase1[s.user] && s.outcome == "" {
					victim, survivor, victimUser = p, procs[1-i], s.user
					break
				}
			}
			if victim != nil {
				break
			}
		}
		if victim == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no phase-2 sync started within 60 s:\nA:\n%s\nB:\n%s", procs[0].logs, procs[1].logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	killedAt := time.Now()
	t.Logf("killed process %s (SIGKILL) mid-sync of user row %s", victim.name, victimUser)

	// Every user's data arrives through the survivor: the killed job is
	// rescued after --sync-rescue-after (plus River's leader hand-over and
	// rescuer period), then retried after --sync-retry-min.
	for _, u := range users {
		accts := pollAccounts(t, survivor.base, u, 150*time.Second)
		checkIntervals(t, survivor.base, u, accts)
	}
	rescuedAt := time.Since(killedAt)

	// The logs: no user's sync ever ran in two places at once, and the
	// killed sync was run again, to completion, by the survivor.
	all := append(victim.spans(killedAt), survivor.spans(time.Now())...)
	byUser := map[string][]syncSpan{}
	for _, s := range all {
		byUser[s.user] = append(byUser[s.user], s)
	}
	if len(byUser) != len(users) {
		t.Errorf("syncs of %d distinct users logged, want %d", len(byUser), len(users))
	}
	for user, ss := range byUser {
		slices.SortFunc(ss, func(a, b syncSpan) int { return a.start.Compare(b.start) })
		for i := 1; i < len(ss); i++ {
			if ss[i].start.Before(ss[i-1].end) {
				t.Errorf("user %s: sync in %s from %v overlaps the one in %s %v-%v", user, ss[i].proc, ss[i].start, ss[i-1].proc, ss[i-1].start, ss[i-1].end)
			}
		}
	}
	var rescue *syncSpan
	for _, s := range byUser[victimUser] {
		if s.proc == survivor.name && s.outcome == "sync ok" && s.start.After(killedAt) {
			rescue = &s
		}
	}
	if rescue == nil {
		t.Fatalf("the killed sync of %s was not completed by %s: %+v", victimUser, survivor.name, byUser[victimUser])
	}
	t.Logf("rescue: %s's sync of %s restarted in %s %v after the kill, data available %v after the kill",
		victim.name, victimUser, survivor.name, rescue.start.Sub(killedAt).Round(time.Millisecond), rescuedAt.Round(time.Millisecond))
	// The evidence, times relative to the kill.
	rel := func(x time.Time) string { return x.Sub(killedAt).Round(10 * time.Millisecond).String() }
	for _, p := range []*proc{victim, survivor} {
		var ran []syncSpan
		for _, s := range all {
			if s.proc == p.name {
				ran = append(ran, s)
			}
		}
		slices.SortFunc(ran, func(a, b syncSpan) int { return a.start.Compare(b.start) })
		for _, x := range ran {
			t.Logf("process %s: user %s: %s .. %s: %s", p.name, x.user, rel(x.start), rel(x.end), cmp.Or(x.outcome, "killed"))
		}
	}
	if t.Failed() {
		t.Logf("A:\n%s\nB:\n%s", procs[0].logs, procs[1].logs)
	}
}
