package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL defaults, used when neither Options nor the URL set a value.
const (
	defaultMaxConns         = 10
	defaultConnMaxLifetime  = 30 * time.Minute
	defaultConnMaxIdleTime  = 5 * time.Minute
	defaultStatementTimeout = 30 * time.Second
	defaultConnectTimeout   = 10 * time.Second
)

// isPostgresDSN reports whether dsn names a PostgreSQL database.
func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// PostgresPoolConfig returns the pgxpool configuration that Open uses for
// the PostgreSQL URL dsn with opts applied: the URL's libpq parameters
// (sslmode, sslrootcert, sslcert, sslkey, connect_timeout,
// target_session_attrs, several hosts, PG* environment variables, ...),
// pgxpool's pool parameters (pool_max_conns, pool_min_conns,
// pool_max_conn_lifetime, pool_max_conn_idle_time,
// pool_health_check_period, ...) and any server runtime parameter
// (statement_timeout, search_path, application_name, lock_timeout, ...),
// then Options over them: a value set in Options wins over the URL, which
// wins over the defaults. Other components that reach the same database
// through pgx (the job queue) can build their pool from it, so that they
// share its TLS settings, timeouts and schema.
func PostgresPoolConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	if !isPostgresDSN(dsn) {
		return nil, errors.New("sqlstore: not a postgres:// URL")
	}
	cfg, err := postgresConfig(dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return cfg, nil
}

func postgresConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	// pgxpool fills in its own defaults for pool parameters the URL leaves
	// out; look first at which ones it names.
	raw, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err // pgx redacts the password
	}
	named := func(key string) bool { _, ok := raw.RuntimeParams[key]; return ok }
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}

	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(min(opts.MaxConns, math.MaxInt32))
	case !named("pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = int32(min(opts.MinConns, math.MaxInt32))
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	switch {
	case opts.ConnMaxLifetime != 0:
		cfg.MaxConnLifetime = max(opts.ConnMaxLifetime, 0)
	case !named("pool_max_conn_lifetime"):
		cfg.MaxConnLifetime = defaultConnMaxLifetime
	}
	switch {
	case opts.ConnMaxIdleTime != 0:
		cfg.MaxConnIdleTime = max(opts.ConnMaxIdleTime, 0)
	case !named("pool_max_conn_idle_time"):
		cfg.MaxConnIdleTime = defaultConnMaxIdleTime
	}

	cc := cfg.ConnConfig
	rp := cc.RuntimeParams
	switch {
	case opts.StatementTimeout < 0:
		rp["statement_timeout"] = "0"
	case opts.StatementTimeout > 0:
		rp["statement_timeout"] = strconv.FormatInt(max(opts.StatementTimeout.Milliseconds(), 1), 10)
	case rp["statement_timeout"] == "":
		rp["statement_timeout"] = strconv.FormatInt(defaultStatementTimeout.Milliseconds(), 10)
	}
	if opts.Schema != "" {
		rp["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	if rp["application_name"] == "" {
		rp["application_name"] = "gridlink"
	}
	if cc.ConnectTimeout == 0 && !named("connect_timeout") {
		// Without it, a dial to an unreachable server waits for the OS.
		cc.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}

func openPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := postgresConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// database/sql borrows a pgx connection per use (its own idle list
	// stays empty) and queues callers at the pool's size.
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	// One pool takes reads and writes: the server serialises conflicting
	// writes with row locks, so there is no single-writer rule.
	return &Store{w: db, r: db, pgPool: pool, d: postgresDialect(), log: opts.Logger, now: opts.Now, schema: opts.Schema}, nil
}

// ensureSchema creates the store's own schema (Options.Schema) if it does
// not exist, inside a migration transaction. It looks first, so that a
// role without CREATE on the database can use a schema made for it.
func (s *Store) ensureSchema(ctx context.Context, tx *sql.Tx) error {
	if s.schema == "" {
		return nil
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)`), s.schema).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %q: %w", s.schema, err)
	}
	return nil
}
