package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// storeIngest opens a sqlstore on path, connects one user through the
// store as Connect does, and times UpsertIntervals of perMeter 15-minute
// readings on each of meters meters (one account each), in calls of chunk
// readings as the syncer makes them. It returns rows per second.
func storeIngest(ctx context.Context, path string, meters, perMeter, chunk int) (float64, error) {
	st, err := sqlstore.Open(ctx, path, sqlstore.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	now := time.Now()
	const clientID, userID, rowID, sessionID = "bench-client", "bench-user", "00000000-0000-4000-8000-000000000001", "bench-session"
	if err := st.CreateClient(ctx, gridlink.Client{ID: clientID, SecretHash: make([]byte, 32), Name: "bench",
		RedirectURIs: []string{benchRedirect}, CreatedAt: now}); err != nil {
		return 0, err
	}
	if err := st.CreateConnectSession(ctx, store.ConnectSession{ID: sessionID, CookieHash: make([]byte, 32),
		TokenHash: auth.Digest(sessionID), ClientID: clientID, UserID: userID, Step: store.StepCredentials,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		return 0, err
	}
	if _, err := st.CompleteConnect(ctx, store.CompleteConnect{SessionID: sessionID, TokenHash: auth.Digest(sessionID),
		User: gridlink.User{RowID: rowID, ClientID: clientID, ID: userID, UtilityID: 1000, UtilityUsername: "big@sandbox.test",
			CredentialsValid: true, Credential: []byte{1}},
		CodeHash: auth.Digest("code"), CodeExpiresAt: now.Add(time.Minute), Now: now}); err != nil {
		return 0, err
	}
	meterIDs := make([]string, meters)
	for m := range meters {
		acct, err := auth.NewUUID(rand.Reader)
		if err != nil {
			return 0, err
		}
		meter, err := auth.NewUUID(rand.Reader)
		if err != nil {
			return 0, err
		}
		stored, err := st.UpsertAccount(ctx, rowID, gridlink.Account{ID: acct, ExternalID: fmt.Sprintf("A%d", m+1),
			Number: fmt.Sprintf("%010d", m+1), Address: "1 BENCH WAY",
			Meters: []gridlink.Meter{{ID: meter, ExternalID: "electric", Type: gridlink.Electric}}})
		if err != nil {
			return 0, err
		}
		meterIDs[m] = stored.Meters[0].ID
	}
	const t0, step = 1_600_000_000, 900
	buf := make([]gridlink.Interval, 0, chunk)
	start := time.Now()
	for _, meterID := range meterIDs {
		for c := 0; c < perMeter; c += chunk {
			buf = buf[:0]
			for i := c; i < min(c+chunk, perMeter); i++ {
				s := int64(t0 + i*step)
				buf = append(buf, gridlink.Interval{Start: s, End: s + step, Usage: 0.25 + float64(i%97)/1000, GHG: 0.05})
			}
			if err := st.UpsertIntervals(ctx, rowID, meterID, buf); err != nil {
				return 0, err
			}
		}
	}
	return float64(meters*perMeter) / time.Since(start).Seconds(), nil
}

// pingPostgres checks that the -postgres database answers.
func pingPostgres(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("-postgres: %w", err)
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return fmt.Errorf("-postgres: %w", err)
	}
	return nil
}

// pgRedeemBaseline measures the storage limit of a code redemption on the
// -postgres database: the same transaction shape as the SQLite baseline,
// in a scratch schema dropped afterwards, through a pool of 10
// connections (sqlstore's default pool size).
func (b *bench) pgRedeemBaseline(ctx context.Context) (float64, error) {
	b.logf("baseline: raw PostgreSQL redemption transactions, %d goroutines, 10 connections", b.cfg.conns)
	db, err := sql.Open("pgx", b.cfg.postgres)
	if err != nil {
		return 0, fmt.Errorf("postgres baseline: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "gridlink_bench_" + hex.EncodeToString(rnd[:])
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return 0, fmt.Errorf("postgres baseline: %w", err)
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `DROP SCHEMA `+schema+` CASCADE`)
	ddl := []string{
		`CREATE TABLE ` + schema + `.users (row_id TEXT PRIMARY KEY)`,
		`CREATE TABLE ` + schema + `.auth_codes (code_hash BYTEA PRIMARY KEY, client_id TEXT NOT NULL,
			user_row_id TEXT NOT NULL REFERENCES ` + schema + `.users (row_id) ON DELETE CASCADE,
			session_id TEXT NOT NULL, expires_at BIGINT NOT NULL, redeemed_at BIGINT)`,
		`CREATE INDEX ON ` + schema + `.auth_codes (user_row_id)`,
		`CREATE TABLE ` + schema + `.access_tokens (token_hash BYTEA PRIMARY KEY, client_id TEXT NOT NULL,
			user_row_id TEXT NOT NULL REFERENCES ` + schema + `.users (row_id) ON DELETE CASCADE,
			code_hash BYTEA NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT)`,
		`CREATE INDEX ON ` + schema + `.access_tokens (user_row_id)`,
		`CREATE INDEX ON ` + schema + `.access_tokens (code_hash)`,
		`INSERT INTO ` + schema + `.users (row_id) VALUES ('` + baselineUser + `')`,
	}
	for _, q := range ddl {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("postgres baseline: %w", err)
		}
	}
	n := 200_000
	raw := make([]byte, 32*n)
	rand.Read(raw)
	codes := make([][]byte, n)
	exp := time.Now().Add(24 * time.Hour).Unix()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for i := range codes {
		codes[i] = raw[32*i : 32*(i+1)]
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+schema+`.auth_codes (code_hash, client_id, user_row_id, session_id, expires_at)
		SELECT c, $2, $3, 's', $4 FROM unnest($1::bytea[]) AS c`, codes, baselineClient, baselineUser, exp); err != nil {
		tx.Rollback()
		return 0, fmt.Errorf("postgres baseline: seed codes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	var next atomic.Int64
	redeem := func(ctx context.Context) (int64, error) {
		i := next.Add(1) - 1
		if i >= int64(len(codes)) {
			return 0, errPoolEmpty
		}
		var token [32]byte
		rand.Read(token[:])
		now := time.Now().Unix()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		var row string
		if err := tx.QueryRowContext(ctx, `UPDATE `+schema+`.auth_codes SET redeemed_at = $1
			WHERE code_hash = $2 AND client_id = $3 AND redeemed_at IS NULL AND expires_at > $1
			RETURNING user_row_id`, now, codes[i], baselineClient).Scan(&row); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+schema+`.access_tokens (token_hash, client_id, user_row_id, code_hash, created_at)
			VALUES ($1, $2, $3, $4, $5)`, token[:], baselineClient, row, codes[i], now); err != nil {
			return 0, err
		}
		return 0, tx.Commit()
	}
	res, err := runLoad(ctx, loadSpec{conns: b.cfg.conns, warmup: b.warmup(), duration: b.cfg.duration,
		newOp: func(context.Context, int) (op, error) { return redeem, nil }})
	if err != nil {
		return 0, fmt.Errorf("postgres baseline: %w", err)
	}
	b.add(loadRow("baseline: "+basePGRedeem+" (tx/s)", res, 0, basePGRedeem, nil))
	if res.ops == 0 || res.errs > 0 {
		return 0, fmt.Errorf("postgres baseline failed: %d ok, %d errors (%s)", res.ops, res.errs, res.firstErr)
	}
	return res.rps(), nil
}
