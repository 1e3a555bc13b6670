package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/storetest"
)

// openTemp opens a store on a new file in t's temporary directory.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "gridlink.db"), Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestPragmas checks the per-connection settings on every connection of
// both pools (held at once, so they are distinct connections).
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	pragma := func(c *sql.Conn, name string) string {
		t.Helper()
		var v string
		if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	conns := func(db *sql.DB, n int) []*sql.Conn {
		t.Helper()
		var out []*sql.Conn
		for range n {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatalf("conn: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			out = append(out, c)
		}
		return out
	}

	readers := conns(s.r, s.r.Stats().MaxOpenConnections)
	if len(readers) < 2 {
		t.Fatalf("read pool has %d connections, want several", len(readers))
	}
	writers := conns(s.w, 1)
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
	for i, c := range readers {
		if got := pragma(c, "foreign_keys"); got != "1" {
			t.Errorf("reader %d: foreign_keys = %s, want 1", i, got)
		}
		if got := pragma(c, "journal_mode"); got != "wal" {
			t.Errorf("reader %d: journal_mode = %s, want wal", i, got)
		}
		if got := pragma(c, "busy_timeout"); got != "10000" {
			t.Errorf("reader %d: busy_timeout = %s, want 10000", i, got)
		}
		if _, err := c.ExecContext(ctx, "DELETE FROM clients"); err == nil {
			t.Errorf("reader %d accepted a write", i)
		}
	}
	w := writers[0]
	for name, want := range map[string]string{
		"foreign_keys": "1",
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"busy_timeout": "10000",
	} {
		if got := pragma(w, name); got != want {
			t.Errorf("writer: %s = %s, want %s", name, got, want)
		}
	}
}

// TestWriteTransactionsAreImmediate checks that a write transaction takes
// the write lock at BEGIN: a second connection (as another process would)
// cannot start writing while it is open.
func TestWriteTransactionsAreImmediate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gridlink.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	other, err := sql.Open("sqlite", sqliteURI(path, "_pragma=busy_timeout(0)&_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.BeginTx(ctx, nil); err == nil {
		t.Error("a second writer began a transaction while the store's was open: the store's BEGIN is not IMMEDIATE")
	}
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gridlink.db")
	s1, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	// A second Open of the same file (another process at start-up) and an
	// explicit Migrate find nothing to do and break nothing.
	s2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer s2.Close()
	if err := s1.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	ms, err := loadMigrations(s1.d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	var n, maxVersion int
	if err := s1.r.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || maxVersion != ms[len(ms)-1].version {
		t.Errorf("schema_migrations: %d rows up to %d, want %d up to %d", n, maxVersion, len(ms), ms[len(ms)-1].version)
	}
	// Both stores work on the one file.
	c := gridlink.Client{ID: "c", SecretHash: []byte{1}, Name: "C", CreatedAt: time.Unix(1, 0).UTC()}
	if err := s1.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Client(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "C" {
		t.Errorf("client through the second store: %+v", got)
	}
}

func TestReopenPersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "dir", "gridlink.db")
	s, err := Open(ctx, "sqlite:"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := gridlink.Client{ID: "c", SecretHash: []byte{1, 2}, Name: "C", RedirectURIs: []string{"https://c.example/cb"}, CreatedAt: now}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConnectSession(ctx, store.ConnectSession{ID: "s", ClientID: "c", UserID: "u", Step: store.StepCredentials, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	u, err := s.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: "s", TokenHash: []byte("t"), CodeHash: []byte("code"), CodeExpiresAt: now.Add(time.Minute), Now: now,
		User: gridlink.User{RowID: "row", ClientID: "c", ID: "u", UtilityID: 1, UtilityUsername: "login", Credential: []byte("sealed")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemCode(ctx, []byte("code"), "c", []byte("access"), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertAccount(ctx, "row", gridlink.Account{ID: "a", ExternalID: "ea", Meters: []gridlink.Meter{{ID: "m", ExternalID: "em", Type: gridlink.Electric}}}); err != nil {
		t.Fatal(err)
	}
	ivs := []gridlink.Interval{{Start: 100, End: 200, Usage: 1.5, GHG: 0.5}, {Start: 200, End: 300, Usage: 2.5, GHG: 0.75}}
	if err := s.UpsertIntervals(ctx, "row", "m", ivs); err != nil {
		t.Fatal(err)
	}
	if u, err = s.UserByRowID(ctx, "row"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v is readable by others", perm)
	}

	s, err = Open(ctx, "file:"+path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	owner, _, err := s.TokenUser(ctx, []byte("access"))
	if err != nil || owner != "c" {
		t.Fatalf("token after reopen: %q, %v", owner, err)
	}
	got, err := s.UserByRowID(ctx, "row")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("user after reopen (-want +got):\n%s", diff)
	}
	var read []gridlink.Interval
	if err := s.Intervals(ctx, "row", "m", 0, 1000, func(iv gridlink.Interval) error {
		read = append(read, iv)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ivs, read); diff != "" {
		t.Errorf("intervals after reopen (-want +got):\n%s", diff)
	}
}

func TestOpenDSN(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dsn     string
		wantErr bool
	}{
		{dsn: filepath.Join(dir, "plain.db")},
		{dsn: "sqlite:" + filepath.Join(dir, "prefixed.db")},
		{dsn: "sqlite://" + filepath.Join(dir, "url.db")},
		{dsn: "file:" + filepath.Join(dir, "file.db")},
		{dsn: filepath.Join(dir, "odd name %20 & 1.db")},
		{dsn: "", wantErr: true},
		{dsn: "postgres://user@localhost/gridlink?sslmode=sometimes", wantErr: true}, // refused before connecting
		{dsn: "postgresql://user@localhost/gridlink?pool_max_conns=0", wantErr: true},
		{dsn: "mysql://user@localhost/gridlink", wantErr: true},
		{dsn: ":memory:", wantErr: true},
		{dsn: "sqlite::memory:", wantErr: true},
		{dsn: filepath.Join(dir, "x.db") + "?mode=memory", wantErr: true},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			s, err := Open(t.Context(), tc.dsn, Options{})
			if tc.wantErr {
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if _, err := s.Clients(t.Context()); err != nil {
				t.Fatalf("Clients: %v", err)
			}
			path, _ := sqlitePath(tc.dsn)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	pg := dialect{dollar: true}
	got := pg.rebind(`SELECT a FROM t WHERE x = ? AND y IN (?, ?)`)
	if want := `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)`; got != want {
		t.Errorf("rebind = %q, want %q", got, want)
	}
	if got := sqliteDialect().rebind(`x = ?`); got != `x = ?` {
		t.Errorf("sqlite rebind = %q", got)
	}
}
