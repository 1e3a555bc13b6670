package sqlstore

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// backend is one database the backend-independent tests and benchmarks
// run on. fresh names a new, empty database (the PostgreSQL one skips
// without GRIDLINK_TEST_POSTGRES); Open on it creates it.
type backend struct {
	name  string
	fresh func(t testing.TB) (dsn string, opts Options)
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB) (string, Options) {
			return filepath.Join(t.TempDir(), "gridlink.db"), Options{}
		}},
		{"postgres", func(t testing.TB) (string, Options) {
			dsn, schema := pgSchema(t)
			return dsn, Options{Schema: schema}
		}},
	}
}

// open opens a store on a fresh database of b.
func (b backend) open(t testing.TB) *Store {
	t.Helper()
	dsn, opts := b.fresh(t)
	s, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConcurrentMigrate opens one fresh database from several goroutines
// at once, as several processes running "gridlink migrate" or starting up
// together would: every Open succeeds and each migration is applied once.
func TestConcurrentMigrate(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			const n = 5
			ctx := t.Context()
			dsn, opts := b.fresh(t)
			stores := make([]*Store, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					stores[i], errs[i] = Open(ctx, dsn, opts)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("open %d: %v", i, err)
					continue
				}
				defer stores[i].Close()
			}
			if t.Failed() {
				return
			}
			s := stores[0]
			for i := range n {
				if err := stores[i].Migrate(ctx); err != nil {
					t.Errorf("migrate again through store %d: %v", i, err)
				}
			}
			ms, err := loadMigrations(s.d.migrations)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := s.DB().QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			var want []int
			for _, m := range ms {
				want = append(want, m.version)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("schema_migrations versions (-want +got):\n%s", diff)
			}
			// Every store works on the one database.
			if _, err := stores[n-1].Clients(ctx); err != nil {
				t.Errorf("clients: %v", err)
			}
		})
	}
}

// TestIntervalStatements writes readings in many small statements (every
// way each backend has of writing them) and reads them back across page
// boundaries: a count that is an exact multiple of the read page, given
// out of order and with repeated starts (the last one wins).
func TestIntervalStatements(t *testing.T) {
	for _, b := range backends() {
		kinds := []string{"values"}
		if b.name == "postgres" {
			kinds = append(kinds, "arrays")
		}
		for _, kind := range kinds {
			t.Run(b.name+"/"+kind, func(t *testing.T) {
				ctx := t.Context()
				s := b.open(t)
				s.d.intervalArrays = kind == "arrays"
				s.d.intervalChunk = 999
				u := seedMeter(t, s)

				const n = 2 * intervalPage
				want := make([]gridlink.Interval, n)
				for i := range want {
					start := int64(1_700_000_000 + 900*i)
					want[i] = gridlink.Interval{Start: start, End: start + 900, Usage: float64(i) / 4, GHG: float64(i%7) / 8}
				}
				// Odd readings first, then even ones; every tenth reading
				// is preceded in the batch by a wrong value for its start.
				var batch []gridlink.Interval
				for _, parity := range []int{1, 0} {
					for i := parity; i < n; i += 2 {
						if i%10 == 0 {
							batch = append(batch, gridlink.Interval{Start: want[i].Start, End: want[i].End, Usage: -1})
						}
						batch = append(batch, want[i])
					}
				}
				if err := s.UpsertIntervals(ctx, u, "m", batch); err != nil {
					t.Fatal(err)
				}
				var got []gridlink.Interval
				if err := s.Intervals(ctx, u, "m", 0, 2_000_000_000, func(iv gridlink.Interval) error {
					got = append(got, iv)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("readings (-want +got):\n%s", diff)
				}
				// A window that starts and ends inside pages.
				got = got[:0]
				if err := s.Intervals(ctx, u, "m", want[100].Start, want[n-100].Start, func(iv gridlink.Interval) error {
					got = append(got, iv)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want[100:n-100], got); diff != "" {
					t.Errorf("window (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// seedMeter stores a client, a connected user and an account with meter
// "m"; it returns the user's row id.
func seedMeter(t *testing.T, s *Store) string {
	t.Helper()
	ctx := t.Context()
	now := time.Unix(1_740_000_000, 0).UTC()
	if err := s.CreateClient(ctx, gridlink.Client{ID: "c", SecretHash: []byte{1}, Name: "C", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConnectSession(ctx, store.ConnectSession{ID: "s", ClientID: "c", UserID: "u", Step: store.StepCredentials, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: "s", TokenHash: []byte("t"), CodeHash: []byte("code"), CodeExpiresAt: now.Add(time.Minute), Now: now,
		User: gridlink.User{RowID: "row", ClientID: "c", ID: "u", UtilityID: 1, UtilityUsername: "login"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertAccount(ctx, "row", gridlink.Account{ID: "a", ExternalID: "ea", Meters: []gridlink.Meter{{ID: "m", ExternalID: "em", Type: gridlink.Electric}}}); err != nil {
		t.Fatal(err)
	}
	return "row"
}
