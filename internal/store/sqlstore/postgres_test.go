package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/storetest"
	"github.com/gridlink/gridlink/internal/testenv"
)

// pgSchema returns the test server's DSN (skipping without one) and the
// name of a new schema, unique to this test and dropped with everything in
// it when the test ends, so that runs and parallel tests never collide.
// Open creates the schema (Options.Schema).
func pgSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = testenv.Postgres(t)
	schema = "gl_test_" + hex.EncodeToString(randomBytes(t, 8))
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// openPG opens a store in a fresh schema of the test server.
func openPG(t testing.TB, opts Options) *Store {
	t.Helper()
	dsn, schema := pgSchema(t)
	opts.Schema = schema
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresConformance(t *testing.T) {
	testenv.Postgres(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openPG(t, Options{}) })
}

// TestPostgresSchemaIsolation: stores in two schemas of one database see
// only their own rows, whether the schema comes from Options or from the
// URL's search_path.
func TestPostgresSchemaIsolation(t *testing.T) {
	ctx := t.Context()
	a := openPG(t, Options{})
	dsn, schemaB := pgSchema(t)
	// The URL form: the schema must exist (only Options.Schema creates it).
	b0, err := Open(ctx, dsn, Options{Schema: schemaB})
	if err != nil {
		t.Fatal(err)
	}
	b0.Close()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schemaB)
	u.RawQuery = q.Encode()
	b, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatalf("open with search_path: %v", err)
	}
	defer b.Close()

	c := gridlink.Client{ID: "c", SecretHash: []byte{1}, Name: "In A", CreatedAt: time.Unix(1, 0).UTC()}
	if err := a.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client of schema A seen through schema B: err = %v", err)
	}
	c.Name = "In B"
	if err := b.CreateClient(ctx, c); err != nil {
		t.Fatalf("same id in schema B: %v", err)
	}
	got, err := a.Client(ctx, "c")
	if err != nil || got.Name != "In A" {
		t.Errorf("client in A = %+v, %v", got, err)
	}
	var where string
	if err := b.DB().QueryRowContext(ctx, `SELECT current_schema()`).Scan(&where); err != nil || where != schemaB {
		t.Errorf("current_schema through the URL's search_path = %q, %v; want %q", where, err, schemaB)
	}
}

// TestPostgresSessionSettings checks what every connection of the pool
// runs with: the statement timeout (default, from the URL, from Options)
// and the schema.
func TestPostgresSessionSettings(t *testing.T) {
	dsn := testenv.Postgres(t)
	withParam := func(key, value string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, tc := range []struct {
		name        string
		dsn         string
		opts        Options
		wantTimeout string
	}{
		{name: "default", dsn: dsn, wantTimeout: "30s"},
		{name: "url", dsn: withParam("statement_timeout", "5000"), wantTimeout: "5s"},
		{name: "options over url", dsn: withParam("statement_timeout", "5000"), opts: Options{StatementTimeout: 2 * time.Minute}, wantTimeout: "2min"},
		{name: "disabled", dsn: dsn, opts: Options{StatementTimeout: -1}, wantTimeout: "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			_, schema := pgSchema(t)
			tc.opts.Schema = schema
			tc.opts.MaxConns = 3
			s, err := Open(ctx, tc.dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// Hold every connection of the pool at once, so each is checked.
			var conns []*sql.Conn
			for range s.DB().Stats().MaxOpenConnections {
				c, err := s.DB().Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			if len(conns) != 3 {
				t.Fatalf("pool of %d connections, want 3", len(conns))
			}
			for i, c := range conns {
				var timeout, where, app string
				if err := c.QueryRowContext(ctx, `SELECT current_setting('statement_timeout'), current_schema(), current_setting('application_name')`).Scan(&timeout, &where, &app); err != nil {
					t.Fatal(err)
				}
				if timeout != tc.wantTimeout || where != schema || app != "gridlink" {
					t.Errorf("connection %d: statement_timeout %q, schema %q, application_name %q; want %q, %q, gridlink",
						i, timeout, where, app, tc.wantTimeout, schema)
				}
			}
		})
	}
}

// TestPostgresStatementTimeout: a statement running past the timeout is
// cancelled by the server and the caller gets an error.
func TestPostgresStatementTimeout(t *testing.T) {
	s := openPG(t, Options{StatementTimeout: 50 * time.Millisecond})
	_, err := s.DB().ExecContext(t.Context(), `SELECT pg_sleep(10)`)
	if pgCode(err) != "57014" { // query_canceled
		t.Fatalf("10 s statement under a 50 ms timeout: err = %v, want SQLSTATE 57014", err)
	}
	// The store still works afterwards.
	if _, err := s.Clients(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresTLS: sslmode reaches the connection. With a server that
// offers TLS, sslmode=require gives an encrypted session and
// sslmode=disable a plain one; without, sslmode=require refuses to connect.
func TestPostgresTLS(t *testing.T) {
	dsn, schema := pgSchema(t)
	ctx := t.Context()
	withMode := func(mode string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("sslmode", mode)
		u.RawQuery = q.Encode()
		return u.String()
	}
	plain, err := Open(ctx, withMode("disable"), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	encrypted := func(s *Store) bool {
		t.Helper()
		var ssl bool
		if err := s.DB().QueryRowContext(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil {
			t.Fatal(err)
		}
		return ssl
	}
	if encrypted(plain) {
		t.Error("sslmode=disable gave an encrypted session")
	}
	var serverTLS string
	if err := plain.DB().QueryRowContext(ctx, `SHOW ssl`).Scan(&serverTLS); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, withMode("require"), Options{Schema: schema})
	if serverTLS != "on" {
		if err == nil {
			s.Close()
			t.Fatal("sslmode=require connected to a server without TLS")
		}
		return
	}
	if err != nil {
		t.Fatalf("sslmode=require: %v", err)
	}
	defer s.Close()
	if !encrypted(s) {
		t.Error("sslmode=require gave a plain session")
	}
}

// TestPostgresConfig covers how Options and URL parameters combine, without
// a server.
func TestPostgresConfig(t *testing.T) {
	const base = "postgres://gridlink:s3cret@db.example:5433/gridlink"
	// pool is the part of the pool configuration Options and the URL set.
	type pool struct {
		MaxConns, MinConns               int32
		MaxConnLifetime, MaxConnIdleTime time.Duration
	}
	defaults := pool{MaxConns: 10, MinConns: 0, MaxConnLifetime: 30 * time.Minute, MaxConnIdleTime: 5 * time.Minute}
	for _, tc := range []struct {
		name    string
		dsn     string
		opts    Options
		want    pool
		params  map[string]string // runtime parameters expected (absent: "")
		tls     bool
		connect time.Duration // 0: the default, 10s
		wantErr string
	}{
		{
			name:   "defaults",
			dsn:    base + "?sslmode=disable",
			want:   defaults,
			params: map[string]string{"statement_timeout": "30000", "application_name": "gridlink", "search_path": ""},
		},
		{
			name:    "url parameters",
			dsn:     base + "?sslmode=disable&pool_max_conns=25&pool_min_conns=5&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=1m&statement_timeout=10s&search_path=tenant_a&application_name=api&connect_timeout=3",
			want:    pool{MaxConns: 25, MinConns: 5, MaxConnLifetime: time.Hour, MaxConnIdleTime: time.Minute},
			connect: 3 * time.Second,
			params: map[string]string{
				"statement_timeout": "10s", "search_path": "tenant_a", "application_name": "api",
				"pool_max_conns": "", "pool_min_conns": "", "pool_max_conn_lifetime": "", "pool_max_conn_idle_time": "",
			},
		},
		{
			name: "options win over the url",
			dsn:  base + "?sslmode=disable&pool_max_conns=25&pool_min_conns=5&pool_max_conn_lifetime=1h&statement_timeout=10s&search_path=tenant_a",
			opts: Options{MaxConns: 4, MinConns: 2, ConnMaxLifetime: time.Minute, ConnMaxIdleTime: -1, StatementTimeout: 1500 * time.Millisecond, Schema: `odd "name"`},
			want: pool{MaxConns: 4, MinConns: 2, MaxConnLifetime: time.Minute, MaxConnIdleTime: 0},
			params: map[string]string{
				"statement_timeout": "1500", "search_path": `"odd ""name"""`,
			},
		},
		{
			name:   "min capped by max, negatives mean none",
			dsn:    base + "?sslmode=disable",
			opts:   Options{MaxConns: 3, MinConns: 8, ConnMaxLifetime: -1, StatementTimeout: -1},
			want:   pool{MaxConns: 3, MinConns: 3, MaxConnLifetime: 0, MaxConnIdleTime: 5 * time.Minute},
			params: map[string]string{"statement_timeout": "0"},
		},
		{
			name: "sslmode require",
			dsn:  "postgresql://gridlink@db.example/gridlink?sslmode=require",
			want: defaults,
			tls:  true,
		},
		{name: "bad pool size", dsn: base + "?pool_max_conns=many", wantErr: "pool_max_conns"},
		{name: "bad lifetime", dsn: base + "?pool_max_conn_lifetime=soon", wantErr: "pool_max_conn_lifetime"},
		{name: "bad sslmode", dsn: base + "?sslmode=sometimes", wantErr: "sslmode"},
		{name: "missing root certificate", dsn: base + "?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", wantErr: "ca.pem"},
		{name: "not postgres", dsn: "mysql://gridlink:s3cret@db.example/gridlink", wantErr: "postgres://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := PostgresPoolConfig(tc.dsn, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := pool{cfg.MaxConns, cfg.MinConns, cfg.MaxConnLifetime, cfg.MaxConnIdleTime}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pool (-want +got):\n%s", diff)
			}
			for k, want := range tc.params {
				if got := cfg.ConnConfig.RuntimeParams[k]; got != want {
					t.Errorf("runtime parameter %s = %q, want %q", k, got, want)
				}
			}
			if got := cfg.ConnConfig.TLSConfig != nil; got != tc.tls {
				t.Errorf("TLS configured = %v, want %v", got, tc.tls)
			}
			wantConnect := tc.connect
			if wantConnect == 0 {
				wantConnect = 10 * time.Second
			}
			if cfg.ConnConfig.ConnectTimeout != wantConnect {
				t.Errorf("connect timeout = %v, want %v", cfg.ConnConfig.ConnectTimeout, wantConnect)
			}
		})
	}
}
