package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Per-connection settings, applied by the driver to every connection it
// opens. busy_timeout comes first (the driver orders it so), so that
// switching to WAL waits for other processes instead of failing.
const (
	sqliteCommonParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	// The writer: WAL, fsync at every commit, BEGIN IMMEDIATE.
	sqliteWriterParams = sqliteCommonParams + "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate" + sqliteCacheParam
	// The readers: opened read-only; journal_mode is persistent in the
	// file.
	sqliteReaderParams = "mode=ro&" + sqliteCommonParams + sqliteCacheParam
	// Every connection keeps a page cache of at most 512 KiB (SQLite's
	// default is 2 MiB a connection, which the driver's allocator keeps
	// once used): the API's data cache keeps what is read again and again,
	// the operating system's file cache the rest, and idle memory stays
	// low. Ingest does not slow down (bench: 330-380k rows/s with it,
	// 335k with the defaults).
	sqliteCacheParam = "&_pragma=cache_size(-512)"
)

// sqlitePath extracts the file path from a dsn: a path, "sqlite:path",
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
	case p == ":memory:" || strings.HasPrefix(p, ":memory:"):
		return "", errors.New("in-memory SQLite is not supported (the store needs a file shared by its read and write pools)")
	case strings.Contains(p, "://"):
		return "", fmt.Errorf("dsn %q: unknown scheme (want a SQLite path, sqlite:path or file:path)", dsn)
	case strings.ContainsAny(p, "?#"):
		return "", fmt.Errorf("SQLite dsn %q: query parameters are not accepted (the store sets its own)", dsn)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// sqliteURI returns the driver DSN for the file at abs with the given
// query parameters, as an SQLite URI filename.
func sqliteURI(abs, params string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + params
}

func openSQLite(ctx context.Context, dsn string, opts Options) (*Store, error) {
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Create the file owner-only before SQLite does (its WAL and shared
	// memory files inherit the mode): it holds sealed credentials.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}

	w, err := sql.Open("sqlite", sqliteURI(path, sqliteWriterParams))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Open the writer first: it creates the file and switches it to WAL,
	// which the read-only connections cannot do.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", sqliteURI(path, sqliteReaderParams))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return &Store{w: w, r: r, d: sqliteDialect(), log: opts.Logger, now: opts.Now}, nil
}
