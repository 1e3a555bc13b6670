package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migration is one embedded schema change, migrations/<dialect>/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: want NNNN_name.sql", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own write transaction, in version order.
// It is idempotent and safe to run from several processes at once: each
// migration transaction takes the migration lock first (SQLite: BEGIN
// IMMEDIATE's write lock; PostgreSQL: an advisory lock), then re-checks
// its version. Open calls it.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// schemaMigrationsDDL is valid in every dialect.
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`

// migrationTx runs fn in a write transaction that holds the migration lock.
func (s *Store) migrationTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.lockMigrations != nil {
			if err := s.d.lockMigrations(ctx, tx); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		return fn(tx)
	})
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.migrations)
	if err != nil {
		return err
	}
	bootstrap := func(tx *sql.Tx) error {
		if err := s.ensureSchema(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, schemaMigrationsDDL)
		return err
	}
	err = s.migrationTx(ctx, bootstrap)
	if c := pgCode(err); c == pgUniqueViolation || c == pgDuplicateTable || c == pgDuplicateSchema {
		// A process that does not take the lock created the table (or the
		// schema) between our check and our CREATE: it exists now.
		err = s.migrationTx(ctx, bootstrap)
	}
	if err != nil {
		return err
	}
	for _, m := range ms {
		applied := false
		err := s.migrationTx(ctx, func(tx *sql.Tx) error {
			var one int
			err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM schema_migrations WHERE version = ?`), m.version).Scan(&one)
			if err == nil {
				return nil // already applied
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, unix(s.now())); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("%04d_%s: %w", m.version, m.name, err)
		}
		if applied {
			s.log.InfoContext(ctx, "applied migration", "dialect", s.d.name, "version", m.version, "name", m.name)
		}
	}
	return nil
}
