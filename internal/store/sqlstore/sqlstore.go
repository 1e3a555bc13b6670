// Package sqlstore implements store.Store on database/sql, for SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (pgx through its
// database/sql adapter). The SQL is written once with "?" placeholders and
// ANSI upserts (INSERT ... ON CONFLICT ... DO UPDATE, RETURNING), and
// everything that differs between the databases (placeholder style, error
// classification, migrations, migration locking, bulk interval writes)
// lives in a small dialect value.
//
// # SQLite layout
//
// One *sql.DB with a single connection takes every write, so writers never
// contend inside the process and every write transaction starts with BEGIN
// IMMEDIATE (other processes on the same file, such as the job queue, wait
// through busy_timeout instead of failing on lock upgrade). A second,
// read-only pool of several connections serves reads, which in WAL mode never
// queue behind the writer.
//
// Durability: every connection runs with journal_mode=WAL and
// synchronous=FULL, so a commit is fsynced to the WAL before it is
// acknowledged. synchronous=NORMAL would already survive kill -9 of the
// process (the WAL is in the OS page cache); FULL also survives power loss
// and kernel crashes, at the cost of one fsync per write transaction.
//
// # PostgreSQL layout
//
// One pgx pool (pgxpool, used through database/sql) serves reads and
// writes; transactions run at READ COMMITTED and conflicting writers wait
// on row locks (RedeemCode's conditional UPDATE lets exactly one of many
// concurrent redemptions through). Every connection carries a
// statement_timeout. Migrations take a transaction-scoped advisory lock,
// so several processes may migrate one database at once.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridlink/gridlink/internal/store"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Logger receives migration and maintenance messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock used for bookkeeping (migration timestamps); nil
	// means time.Now. Store methods take their times from their arguments.
	Now func() time.Time
	// ReadConns is the size of the SQLite read-only pool; 0 picks a
	// default (at least 4). PostgreSQL ignores it.
	ReadConns int

	// The PostgreSQL settings below are ignored by SQLite. A non-zero
	// field wins over the matching URL parameter, which wins over the
	// default.

	// MaxConns caps the open connections of the PostgreSQL pool (URL:
	// pool_max_conns; default 10).
	MaxConns int
	// MinConns is how many connections the pool keeps open even when idle
	// (URL: pool_min_conns; default 0).
	MinConns int
	// ConnMaxLifetime closes connections older than this, so that the pool
	// follows failovers and DNS changes (URL: pool_max_conn_lifetime;
	// default 30m; negative: never).
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for longer, down to MinConns
	// (URL: pool_max_conn_idle_time; default 5m; negative: never).
	ConnMaxIdleTime time.Duration
	// StatementTimeout aborts any statement that runs longer, as the
	// server's statement_timeout (URL: statement_timeout, in milliseconds
	// or with a unit such as 30s; default 30s; negative: none). Migrations
	// are exempt.
	StatementTimeout time.Duration
	// Schema is the PostgreSQL schema holding the store's tables, created
	// if missing; it becomes the connections' search_path. Empty: the
	// URL's search_path parameter, else the server's default (public).
	Schema string
}

// Store is the database/sql implementation of store.Store.
type Store struct {
	w   *sql.DB // writes: exactly one connection on SQLite
	r   *sql.DB // reads: a read-only pool on SQLite
	d   dialect
	log *slog.Logger
	now func() time.Time
	// schema is Options.Schema (PostgreSQL), created by Migrate if missing.
	schema string
	// pgPool is the pgx pool under w and r on PostgreSQL (nil on SQLite).
	pgPool *pgxpool.Pool

	// readStmts caches prepared read statements (query -> *sql.Stmt on r):
	// parsing costs more than running the small indexed reads of the API.
	readStmts sync.Map
	// writeStmts caches prepared statements of the hot write paths (query
	// -> *sql.Stmt on w, SQLite only): compiling them inside the one
	// writer's critical section would hold every other writer up.
	writeStmts sync.Map
	// redeems batches concurrent SQLite code redemptions (redeem.go).
	redeems redeemQueue
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database named by dsn and applies any
// pending migrations.
//
// A dsn starting with "postgres://" or "postgresql://" is a PostgreSQL URL:
// postgres://user:password@host:port/database?sslmode=verify-full&...,
// with libpq's parameters (sslmode, sslrootcert, sslcert, sslkey,
// connect_timeout, target_session_attrs, ...), pgxpool's pool parameters
// (pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time, ...) and any server runtime parameter
// (statement_timeout, search_path, application_name, ...); see Options and
// PostgresPoolConfig.
//
// Anything else is a SQLite file path, optionally prefixed by "sqlite:" or
// "file:" (query parameters after "?" are not accepted: the store sets its
// own).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	open := openSQLite
	if isPostgresDSN(dsn) {
		open = openPostgres
	}
	s, err := open(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DB returns the writer pool (one connection on SQLite; the only pool on
// PostgreSQL). Other components that share the database open their own
// pools; this one is for tooling and tests.
func (s *Store) DB() *sql.DB { return s.w }

// Close closes both pools.
func (s *Store) Close() error {
	for _, m := range []*sync.Map{&s.readStmts, &s.writeStmts} {
		m.Range(func(_, v any) bool {
			v.(*sql.Stmt).Close()
			return true
		})
	}
	errW := s.w.Close()
	var errR error
	if s.r != s.w {
		errR = s.r.Close()
	}
	if s.pgPool != nil {
		s.pgPool.Close()
	}
	if err := errors.Join(errW, errR); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// q rewrites a query written with "?" placeholders for the dialect.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// reader runs read queries on the read pool, on SQLite through prepared
// statements cached per Store: parsing costs more than running the small
// indexed reads of the API (pgx keeps its own per-connection cache).
// Queries arrive already rebound (s.q).
type reader struct{ s *Store }

// rd returns the read side of the store.
func (s *Store) rd() reader { return reader{s} }

func (r reader) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if v, ok := r.s.readStmts.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := r.s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if v, loaded := r.s.readStmts.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryRowContext runs a single-row read query.
func (r reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if !r.s.d.prepareReads {
		return r.s.r.QueryRowContext(ctx, query, args...)
	}
	st, err := r.stmt(ctx, query)
	if err != nil {
		// The same query unprepared reports the error through the Row.
		return r.s.r.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext runs a read query.
func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if !r.s.d.prepareReads {
		return r.s.r.QueryContext(ctx, query, args...)
	}
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// writeStmt returns query (already rebound) prepared once on the writer
// pool, on SQLite only (nil elsewhere, or when preparing fails: the caller
// then runs the text, which reports the error). It must be called outside
// any write transaction: the SQLite writer pool has one connection, which
// the transaction would hold.
func (s *Store) writeStmt(ctx context.Context, query string) *sql.Stmt {
	if !s.d.prepareReads {
		return nil
	}
	if v, ok := s.writeStmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	st, err := s.w.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if v, loaded := s.writeStmts.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	return st
}

// txQueryRow runs a single-row query in tx, through st (from writeStmt,
// which database/sql binds to the transaction's connection without
// preparing it again) when st is not nil.
func txQueryRow(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) *sql.Row {
	if st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// txExec runs a statement in tx, through st when not nil (see txQueryRow).
func txExec(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) (sql.Result, error) {
	if st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// inTx runs fn in a write transaction on the writer pool and commits when fn
// returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// wrap wraps err once with the operation, translating database errors that
// have a store meaning (unique and foreign-key violations) into the store's
// sentinel errors.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrCodeExpired), errors.Is(err, store.ErrCodeReplayed):
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, store.ErrNotFound)
	case s.d.isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w (%v)", op, store.ErrConflict, err)
	case s.d.isForeignKeyViolation(err):
		// A referenced row (client, user, session, account) does not exist.
		return fmt.Errorf("sqlstore: %s: %w (%v)", op, store.ErrNotFound, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// mustAffect returns store.ErrNotFound when an UPDATE or DELETE touched no row.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Times are stored as epoch seconds.

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(v int64) time.Time { return time.Unix(v, 0).UTC() }

func nullUnix(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func fromNullUnix(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromUnix(v.Int64)
	return &t
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func fromNullInt(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	x := v.Int64
	return &x
}

func nullFloat(p *float64) sql.NullFloat64 {
	if p == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *p, Valid: true}
}

func fromNullFloat(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	x := v.Float64
	return &x
}

// blob returns b, or nil (SQL NULL) for a nil slice.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
