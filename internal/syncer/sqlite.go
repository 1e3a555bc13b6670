package syncer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteParams are the per-connection settings of the queue's own pool on
// the store's SQLite file. They match the store's writer: WAL, a 10 s busy
// timeout (applied first by the driver), foreign keys on, fsync at commit,
// and BEGIN IMMEDIATE, so that a River transaction takes the write lock up
// front and waits through busy_timeout while the store writes, instead of
// failing with SQLITE_BUSY when a deferred read transaction tries to
// upgrade to a write after another connection committed (busy_timeout does
// not apply to that case).
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

// NewSQLiteQueue opens the queue on the SQLite file at dbPath (a path,
// optionally prefixed by "sqlite:" or "file:", as the store accepts), which
// is normally the store's own database file. It opens a pool of its own
// (one connection: River's SQLite driver fails with "database is locked"
// under concurrent connections), applies River's migrations (idempotent,
// on every start) and registers the sync worker. Call Start to work jobs
// and Stop to finish.
//
// NewSQLiteQueue uses the default QueueOptions; OpenQueue takes others.
func NewSQLiteQueue(ctx context.Context, dbPath string, s *Syncer, logger *slog.Logger) (*Queue, error) {
	return newSQLiteQueue(ctx, dbPath, s, logger, QueueOptions{})
}

func newSQLiteQueue(ctx context.Context, dbPath string, s *Syncer, logger *slog.Logger, opts QueueOptions) (*Queue, error) {
	if s == nil {
		return nil, errors.New("sync queue: nil Syncer")
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db, err := openSQLite(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	driver := riversqlite.New(db)
	if err := migrateRiver(ctx, driver, "", logger); err != nil {
		db.Close()
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	q, err := newQueue(driver, s, logger, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sync queue: %w", err)
	}
	q.closeDB = db.Close
	return q, nil
}

// MigrateSQLite applies River's schema migrations to the SQLite file at
// dbPath (for `gridlink migrate`). It is idempotent.
func MigrateSQLite(ctx context.Context, dbPath string) error {
	db, err := openSQLite(ctx, dbPath)
	if err != nil {
		return fmt.Errorf("migrate sync queue: %w", err)
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrateRiver(ctx, riversqlite.New(db), "", logger); err != nil {
		return fmt.Errorf("migrate sync queue: %w", err)
	}
	return nil
}

// openSQLite opens a one-connection pool on the file, creating it
// owner-only when missing (it holds sealed credentials; SQLite's WAL and
// shared-memory files inherit its mode).
func openSQLite(ctx context.Context, dsn string) (*sql.DB, error) {
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	db, err := sql.Open("sqlite", sqliteURI(path))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// sqlitePath extracts the absolute file path from a path, "sqlite:path",
// "sqlite://path", "file:path" or "file://path".
func sqlitePath(dsn string) (string, error) {
	p := dsn
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if strings.HasPrefix(p, prefix) {
			p = strings.TrimPrefix(p, prefix)
			break
		}
	}
	switch {
	case p == "":
		return "", errors.New("empty SQLite path")
	case strings.HasPrefix(p, ":memory:"):
		return "", errors.New("in-memory SQLite is not supported (the queue shares the store's file)")
	case strings.ContainsAny(p, "?#"):
		return "", fmt.Errorf("SQLite path %q: query parameters are not accepted (the queue sets its own)", dsn)
	}
	return filepath.Abs(p)
}

// sqliteURI is the driver DSN for the file at abs, as an SQLite URI.
func sqliteURI(abs string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + sqliteParams
}
