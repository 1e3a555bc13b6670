package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// httpLimitBody is the fixed 2 KB JSON answer of the HTTP-limit baseline.
var httpLimitBody = func() []byte {
	const size = 2048
	head := []byte(`{"id":"ea100000-0000-0000-0000-000000000000","note":"`)
	tail := []byte("\"}\n")
	b := append([]byte{}, head...)
	b = append(b, bytes.Repeat([]byte("x"), size-len(head)-len(tail))...)
	return append(b, tail...)
}()

// httpLargeBody is the answer of the large-body HTTP baseline: a JSON
// array as long as a year of hourly intervals (about 0.67 MB).
var httpLargeBody = func() []byte {
	b := []byte(`{"intervals":[`)
	for i := range 8760 {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"start":%d,"end":%d,"usage":0.%03d,"ghg_emissions":0.0%04d}`, 1700000000+i*3600, 1700003600+i*3600, i%1000, i%10000)
	}
	return append(b, "]}\n"...)
}()

// httpLimitHandler is the bare net/http handler of the HTTP-limit
// baseline: the fixed 2 KB body, or the large body on /large.
func httpLimitHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/large" {
			w.Write(httpLargeBody)
			return
		}
		w.Write(httpLimitBody)
	})
}

// baselineServer is the HTTP-limit server.
type baselineServer struct {
	base string
	pid  int // the child process (0 in-process)
	stop func()
}

// bareSpec is the load of the HTTP limit: GETs of the bare handler of
// srv over conns connections, with srv's CPU time measured.
func bareSpec(srv *baselineServer, conns int, warmup, duration time.Duration) (loadSpec, func()) {
	u := srv.base + "/"
	spec, cleanup := httpSpec(conns, warmup, duration, u, func(int) reqFunc {
		return getReq(u, http.Header{})
	}, http.StatusOK)
	spec.cpu = cpuOf(srv.pid)
	return spec, cleanup
}

// startBaselineServer serves the HTTP-limit handler on loopback: in this
// process (inProcess), or in a child process running this same binary,
// so that it sits in the same process topology as the gridlink child.
func startBaselineServer(ctx context.Context, inProcess bool) (*baselineServer, error) {
	if inProcess {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("baseline server: %w", err)
		}
		srv := &http.Server{Handler: httpLimitHandler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		return &baselineServer{base: "http://" + ln.Addr().String(), stop: func() { srv.Close() }}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("baseline server: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-baseline-server")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("baseline server: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("baseline server did not start: %q %v", line, err)
	}
	return &baselineServer{base: "http://" + addr, pid: cmd.Process.Pid, stop: func() {
		stdin.Close() // the child exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}}, nil
}

// serveBaseline is the child side of startBaselineServer: it prints
// "listening ADDR" and serves until its stdin is closed.
func serveBaseline(stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: httpLimitHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		io.Copy(io.Discard, stdin)
		srv.Close()
	}()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// SQLite settings of the store's writer (internal/store/sqlstore): WAL,
// fsync at every commit, BEGIN IMMEDIATE, one connection.
const sqliteWriterParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

// openBaselineSQLite opens a fresh SQLite file in dir as the store's
// writer does and creates the tables of the store that the baselines
// write, with the same columns, keys and indexes.
func openBaselineSQLite(ctx context.Context, dir, name string) (*sql.DB, error) {
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite", "file:"+path+"?"+sqliteWriterParams)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if _, err := db.ExecContext(ctx, baselineSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("baseline schema: %w", err)
	}
	return db, nil
}

// baselineSchema copies the tables of sqlstore's schema that a code
// redemption and an interval ingest write (users reduced to its key).
const baselineSchema = `
CREATE TABLE users (row_id TEXT PRIMARY KEY) STRICT;
CREATE TABLE auth_codes (
    code_hash   BLOB    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    user_row_id TEXT    NOT NULL REFERENCES users (row_id) ON DELETE CASCADE,
    session_id  TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER
) STRICT;
CREATE INDEX auth_codes_user ON auth_codes (user_row_id);
CREATE TABLE access_tokens (
    token_hash  BLOB    PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    user_row_id TEXT    NOT NULL REFERENCES users (row_id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX access_tokens_user ON access_tokens (user_row_id);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);
CREATE TABLE meters (pk INTEGER PRIMARY KEY) STRICT;
CREATE TABLE intervals (
    meter_pk     INTEGER NOT NULL REFERENCES meters (pk) ON DELETE CASCADE,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    usage        REAL    NOT NULL,
    ghg          REAL    NOT NULL,
    PRIMARY KEY (meter_pk, period_start)
) STRICT, WITHOUT ROWID;
`

// redeemBaseline is the storage limit of a code exchange: a durable
// transaction of the same shape as sqlstore's RedeemCode (a conditional
// UPDATE ... RETURNING of the code row, an INSERT of the token row,
// COMMIT with fsync) with nothing around it: no HTTP, no hashing, no
// client lookup.
type redeemBaseline struct {
	db     *sql.DB
	update *sql.Stmt
	insert *sql.Stmt
	codes  [][]byte
	next   atomic.Int64
}

const (
	baselineClient = "bench-client"
	baselineUser   = "bench-user-row"
)

func newRedeemBaseline(ctx context.Context, dir string, codes int) (*redeemBaseline, error) {
	db, err := openBaselineSQLite(ctx, dir, "baseline-redeem.db")
	if err != nil {
		return nil, err
	}
	b := &redeemBaseline{db: db}
	if err := b.seed(ctx, codes); err != nil {
		db.Close()
		return nil, err
	}
	if b.update, err = db.PrepareContext(ctx, `UPDATE auth_codes SET redeemed_at = ?
		WHERE code_hash = ? AND client_id = ? AND redeemed_at IS NULL AND expires_at > ?
		RETURNING user_row_id`); err != nil {
		db.Close()
		return nil, err
	}
	if b.insert, err = db.PrepareContext(ctx, `INSERT INTO access_tokens (token_hash, client_id, user_row_id, code_hash, created_at)
		VALUES (?, ?, ?, ?, ?)`); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// seed stores n unredeemed codes of random 32-byte digests.
func (b *redeemBaseline) seed(ctx context.Context, n int) error {
	raw := make([]byte, 32*n)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (row_id) VALUES (?)`, baselineUser); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO auth_codes (code_hash, client_id, user_row_id, session_id, expires_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	exp := time.Now().Add(24 * time.Hour).Unix()
	b.codes = make([][]byte, n)
	for i := range n {
		b.codes[i] = raw[32*i : 32*(i+1)]
		if _, err := st.ExecContext(ctx, b.codes[i], baselineClient, baselineUser, "s", exp); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// redeem runs one redemption transaction on the next unused code.
func (b *redeemBaseline) redeem(ctx context.Context) (int64, error) {
	i := b.next.Add(1) - 1
	if i >= int64(len(b.codes)) {
		return 0, errPoolEmpty
	}
	code := b.codes[i]
	var token [32]byte
	rand.Read(token[:])
	now := time.Now().Unix()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var row string
	if err := tx.StmtContext(ctx, b.update).QueryRowContext(ctx, now, code, baselineClient, now).Scan(&row); err != nil {
		return 0, fmt.Errorf("redeem: %w", err)
	}
	if _, err := tx.StmtContext(ctx, b.insert).ExecContext(ctx, token[:], baselineClient, row, code, now); err != nil {
		return 0, fmt.Errorf("redeem: %w", err)
	}
	return 0, tx.Commit()
}

func (b *redeemBaseline) close() error { return b.db.Close() }

// ingestBaseline inserts perMeter readings for each of meters meters into
// the baseline intervals table, in transactions of chunk readings made of 500-row
// multi-row upserts: the statement sqlstore uses, prepared once, with
// nothing else in the transaction. It returns rows per second.
func ingestBaseline(ctx context.Context, dir string, meters, perMeter, chunk int) (float64, error) {
	db, err := openBaselineSQLite(ctx, dir, "baseline-ingest.db")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	for m := 1; m <= meters; m++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO meters (pk) VALUES (?)`, m); err != nil {
			return 0, err
		}
	}
	const stmtRows = 500
	var q strings.Builder
	q.WriteString(`INSERT INTO intervals (meter_pk, period_start, period_end, usage, ghg) VALUES `)
	for i := range stmtRows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(`(?,?,?,?,?)`)
	}
	q.WriteString(` ON CONFLICT (meter_pk, period_start) DO UPDATE SET
	period_end = excluded.period_end, usage = excluded.usage, ghg = excluded.ghg
	WHERE intervals.period_end <> excluded.period_end OR intervals.usage <> excluded.usage
		OR intervals.ghg <> excluded.ghg`)
	st, err := db.PrepareContext(ctx, q.String())
	if err != nil {
		return 0, err
	}
	defer st.Close()
	// Whole statements only: perMeter and chunk round up to multiples of 500.
	chunk = max(stmtRows, (chunk+stmtRows-1)/stmtRows*stmtRows)
	perMeter = (perMeter + stmtRows - 1) / stmtRows * stmtRows
	args := make([]any, 0, 5*stmtRows)
	const t0, step = 1_600_000_000, 900
	start := time.Now()
	for m := 1; m <= meters; m++ {
		for c := 0; c < perMeter; c += chunk {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return 0, err
			}
			txSt := tx.StmtContext(ctx, st)
			for s := c; s < min(c+chunk, perMeter); s += stmtRows {
				n := stmtRows
				args = args[:0]
				for i := s; i < s+n; i++ {
					args = append(args, m, int64(t0+i*step), int64(t0+(i+1)*step), 0.25+float64(i%97)/1000, 0.05)
				}
				if _, err := txSt.ExecContext(ctx, args...); err != nil {
					tx.Rollback()
					return 0, err
				}
			}
			if err := tx.Commit(); err != nil {
				return 0, err
			}
		}
	}
	elapsed := time.Since(start)
	return float64(meters*perMeter) / elapsed.Seconds(), nil
}
