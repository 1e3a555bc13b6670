package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// defaultPostgresConns is the queue pool's size when the URL does not set
// pool_max_conns: River holds one connection for LISTEN and uses a few
// for fetching, completing and maintenance (sync work itself goes through
// the store's own pool).
const defaultPostgresConns = 8

// IsPostgresDSN reports whether dsn names a PostgreSQL database
// ("postgres://" or "postgresql://"), as sqlstore.Open decides.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenQueue opens the queue on the database the store uses: a PostgreSQL
// URL (NewPostgresQueue) or a SQLite file path (as NewSQLiteQueue).
func OpenQueue(ctx context.Context, dsn string, s *Syncer, logger *slog.Logger, opts QueueOptions) (*Queue, error) {
	if IsPostgresDSN(dsn) {
		return NewPostgresQueue(ctx, dsn, s, logger, opts)
	}
	return newSQLiteQueue(ctx, dsn, s, logger, opts)
}

// MigrateQueue applies River's schema migrations to the database named by
// dsn (PostgreSQL URL or SQLite path; opts.Schema as for OpenQueue), for
// `gridlink migrate`. It is idempotent and, on PostgreSQL, safe to run from
// several processes at once.
func MigrateQueue(ctx context.Context, dsn string, opts QueueOptions) error {
	if !IsPostgresDSN(dsn) {
		return MigrateSQLite(ctx, dsn)
	}
	pool, err := openPostgresPool(ctx, dsn)
	if err != nil {
		return fmt.Errorf("migrate sync queue: %w", err)
	}
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migratePostgres(ctx, pool, opts.Schema, logger); err != nil {
		return fmt.Errorf("migrate sync queue: %w", err)
	}
	return nil
}

// NewPostgresQueue opens the queue on the PostgreSQL database at dsn (the
// store's URL: libpq parameters, pool_max_conns and server parameters such
// as statement_timeout are understood; the store-only pool_max_idle_conns
// is ignored). It opens a pgx pool of its own, closed by Stop, applies
// River's migrations under an advisory lock (so several processes may
// start at once) and registers the workers. Every process opened on the
// same database and schema works jobs from the same queue: a job runs in
// one process at a time, and a job whose process died is run again by
// another after opts.RescueAfter.
func NewPostgresQueue(ctx context.Context, dsn string, s *Syncer, logger *slog.Logger, opts QueueOptions) (*Queue, error) {
	if s == nil {
		return nil, errors.New("sync queue: nil Syncer")
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pool, err := openPostgresPool(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	if err := migratePostgres(ctx, pool, opts.Schema, logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	q, err := newQueue(riverpgxv5.New(pool), s, logger, opts)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	q.closeDB = func() error { pool.Close(); return nil }
	return q, nil
}

// openPostgresPool opens a pgx pool on dsn.
func openPostgresPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err // pgx redacts the password
	}
	rp := cfg.ConnConfig.RuntimeParams
	// sqlstore's database/sql pool parameter; meaningless here, and the
	// server would refuse it as a runtime parameter.
	delete(rp, "pool_max_idle_conns")
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultPostgresConns
	}
	if rp["application_name"] == "" {
		rp["application_name"] = "gridlink-queue"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// migrateLockKey names the advisory lock that serialises River migrations
// of one schema across processes (rivermigrate takes no lock of its own).
const migrateLockKey = `hashtextextended('gridlink/syncer/river-migrate ' || $1, 0)`

// migratePostgres creates the schema if needed and applies River's
// migrations, holding a session advisory lock on a connection of its own
// for the whole run: concurrent callers wait, then find nothing to do.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, schema string, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	key := schema
	if key == "" {
		if err := conn.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&key); err != nil {
			return err
		}
	}
	// Waiting for another process's migration may take longer than the
	// statement timeout; the setting is restored before the connection
	// goes back to the pool.
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0`); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET statement_timeout`)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrateLockKey+`)`, key); err != nil {
		return fmt.Errorf("river migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+migrateLockKey+`)`, key)
	if schema != "" {
		if err := ensureSchema(ctx, conn.Conn(), schema); err != nil {
			return err
		}
	}
	return migrateRiver(ctx, riverpgxv5.New(pool), schema, logger)
}

// ensureSchema creates schema unless it exists (looking first, so that a
// role without CREATE on the database can use a schema made for it; the
// store may be creating it at the same moment).
func ensureSchema(ctx context.Context, conn *pgx.Conn, schema string) error {
	exists := func() (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok)
		return ok, err
	}
	if ok, err := exists(); err != nil || ok {
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		if ok, _ := exists(); ok {
			return nil // created concurrently
		}
		return fmt.Errorf("create schema %q: %w", schema, err)
	}
	return nil
}
