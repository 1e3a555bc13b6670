package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// migrationFiles holds the schema of every dialect, one folder each
// (migrations/<dialect>/NNNN_name.sql).
//
//go:embed migrations
var migrationFiles embed.FS

// dialect is everything the SQL layer needs to know about one database.
// Queries are written once, with "?" placeholders, ON CONFLICT upserts and
// RETURNING, which SQLite (3.35+) and PostgreSQL both understand.
type dialect struct {
	name string
	// dollar is true for $1, $2, ... placeholders (PostgreSQL).
	dollar bool
	// migrations is the dialect's migration folder.
	migrations fs.FS
	// isUniqueViolation and isForeignKeyViolation classify driver errors.
	isUniqueViolation     func(error) bool
	isForeignKeyViolation func(error) bool
	// prepareReads is true when read queries are worth preparing through
	// database/sql (SQLite). pgx caches prepared statements per connection
	// by itself, so PostgreSQL runs them directly (which also keeps the
	// store usable behind a transaction-pooling proxy with
	// default_query_exec_mode=exec or simple_protocol).
	prepareReads bool
	// lockMigrations, when set, runs first in every migration transaction
	// and serialises migration runs across processes (PostgreSQL; SQLite's
	// BEGIN IMMEDIATE already does).
	lockMigrations func(ctx context.Context, tx *sql.Tx) error
	// intervalArrays is true when UpsertIntervals sends a whole batch as
	// five arrays in one statement (postgresIntervalUpsert) instead of
	// multi-row VALUES chunks.
	intervalArrays bool
	// intervalChunk is the most rows one interval upsert statement takes.
	intervalChunk int
}

// rebind rewrites "?" placeholders to the dialect's style. Queries in this
// package never contain a literal "?" in a string.
func (d dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// SQLite extended result codes (sqlite3.h).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func sqliteDialect() dialect {
	sub, err := fs.Sub(migrationFiles, "migrations/sqlite")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	return dialect{
		name:          "sqlite",
		migrations:    sub,
		prepareReads:  true,
		intervalChunk: intervalChunk,
		isUniqueViolation: func(err error) bool {
			c := sqliteCode(err)
			return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
		},
		isForeignKeyViolation: func(err error) bool {
			return sqliteCode(err) == sqliteConstraintForeignKey
		},
	}
}

// PostgreSQL SQLSTATE codes (Appendix A of the PostgreSQL manual).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgDuplicateTable      = "42P07"
	pgDuplicateSchema     = "42P06"
)

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// postgresMigrationLock is taken (transaction-scoped) by every migration
// transaction, keyed by the search_path so that stores in different
// schemas of one database migrate independently. Migrations may run
// longer than the statement timeout, and so may waiting for another
// process's migration: the timeout is lifted for the transaction.
const postgresMigrationLock = `SET LOCAL statement_timeout = 0;
SELECT pg_advisory_xact_lock(hashtextextended('gridlink/sqlstore/migrate ' || current_setting('search_path'), 0))`

// postgresIntervalUpsert stores a whole batch of readings of one meter from
// five parallel arrays: one statement and one round trip whatever the
// batch size, with no statement text that depends on it.
const postgresIntervalUpsert = `INSERT INTO intervals (meter_pk, period_start, period_end, usage, ghg)
	SELECT ?::bigint, r.period_start, r.period_end, r.usage, r.ghg
	FROM unnest(?::bigint[], ?::bigint[], ?::double precision[], ?::double precision[])
		AS r (period_start, period_end, usage, ghg)` + intervalOnConflict

func postgresDialect() dialect {
	sub, err := fs.Sub(migrationFiles, "migrations/postgres")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	return dialect{
		name:       "postgres",
		dollar:     true,
		migrations: sub,
		isUniqueViolation: func(err error) bool {
			return pgCode(err) == pgUniqueViolation
		},
		isForeignKeyViolation: func(err error) bool {
			return pgCode(err) == pgForeignKeyViolation
		},
		lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, postgresMigrationLock)
			return err
		},
		intervalArrays: true,
		intervalChunk:  intervalArrayChunk,
	}
}
