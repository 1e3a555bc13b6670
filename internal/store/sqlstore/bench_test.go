package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// Every benchmark runs on each backend (PostgreSQL when
// GRIDLINK_TEST_POSTGRES is set): go test -run ^$ -bench . ./internal/store/sqlstore

// benchUser opens a store of backend be holding one client, one connected
// user (row "row-1") and one account with meter "m-el".
func benchUser(b *testing.B, be backend) *Store {
	b.Helper()
	ctx := context.Background()
	s := be.open(b)
	now := time.Unix(1_740_000_000, 0).UTC()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(s.CreateClient(ctx, gridlink.Client{ID: "c", SecretHash: []byte("h"), Name: "C", CreatedAt: now}))
	must(s.CreateConnectSession(ctx, store.ConnectSession{ID: "s", ClientID: "c", UserID: "u", Step: store.StepCredentials, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	_, err := s.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: "s", TokenHash: []byte("token"), CodeHash: []byte("code"), CodeExpiresAt: now.Add(time.Hour), Now: now,
		User: gridlink.User{RowID: "row-1", ClientID: "c", ID: "u", UtilityID: 1, UtilityUsername: "login", Credential: make([]byte, 200)},
	})
	must(err)
	_, err = s.UpsertAccount(ctx, "row-1", gridlink.Account{ID: "a", ExternalID: "ea", Meters: []gridlink.Meter{{ID: "m-el", ExternalID: "em", Type: gridlink.Electric}}})
	must(err)
	return s
}

func benchDigest(prefix string, i int) []byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	binary.Write(h, binary.BigEndian, int64(i))
	return h.Sum(nil)
}

// BenchmarkRedeemCode measures one code exchange (a durable write
// transaction) per operation.
func BenchmarkRedeemCode(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { benchRedeemCode(b, be) })
	}
}

func benchRedeemCode(b *testing.B, be backend) {
	ctx := context.Background()
	s := benchUser(b, be)
	now := time.Unix(1_740_000_000, 0).UTC()
	// Issue b.N codes up front, in one transaction.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO auth_codes (code_hash, client_id, user_row_id, session_id, expires_at) VALUES (?, 'c', 'row-1', 's', ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range b.N {
			if _, err := stmt.ExecContext(ctx, benchDigest("code", i), unix(now.Add(time.Hour))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.RedeemCode(ctx, benchDigest("code", i), "c", benchDigest("token", i), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenUser measures the bearer-token lookup of every API call,
// from parallel goroutines, among 10,000 live tokens.
func BenchmarkTokenUser(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { benchTokenUser(b, be) })
	}
}

func benchTokenUser(b *testing.B, be backend) {
	ctx := context.Background()
	s := benchUser(b, be)
	const tokens = 10_000
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range tokens {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO access_tokens (token_hash, client_id, user_row_id, code_hash, created_at) VALUES (?, 'c', 'row-1', ?, 0)`),
				benchDigest("token", i), benchDigest("code", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := s.TokenUser(ctx, benchDigest("token", i%tokens)); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

func benchIntervals(start int64, n int) []gridlink.Interval {
	ivs := make([]gridlink.Interval, n)
	for i := range ivs {
		s := start + int64(i)*900
		ivs[i] = gridlink.Interval{Start: s, End: s + 900, Usage: float64(i%100) / 7, GHG: float64(i%100) / 70}
	}
	return ivs
}

// BenchmarkUpsertIntervals stores a year of 15-minute readings (35,040
// rows) per operation: new rows ("insert"), the stored rows again unchanged
// ("resend", what most of a re-sync sends) and the stored rows with new
// values ("change"). On PostgreSQL it also measures the multi-row VALUES
// statements that SQLite uses, against which the array statement was
// chosen.
func BenchmarkUpsertIntervals(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { benchUpsertIntervals(b, be, true) })
		if be.name == "postgres" {
			b.Run(be.name+"-multirow", func(b *testing.B) { benchUpsertIntervals(b, be, false) })
		}
	}
}

func benchUpsertIntervals(b *testing.B, be backend, arrays bool) {
	const n = 35_040
	for _, mode := range []string{"insert", "resend", "change"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := benchUser(b, be)
			if !arrays {
				s.d.intervalArrays, s.d.intervalChunk = false, intervalChunk
			}
			base := int64(1_600_000_000)
			stored := benchIntervals(base, n)
			if mode != "insert" {
				if err := s.UpsertIntervals(ctx, "row-1", "m-el", stored); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				var ivs []gridlink.Interval
				switch mode {
				case "insert":
					ivs = benchIntervals(base+int64(i+1)*n*900, n)
				case "resend":
					ivs = stored
				case "change":
					ivs = benchIntervals(base, n)
					for j := range ivs {
						ivs[j].Usage += float64(i + 1)
					}
				}
				if err := s.UpsertIntervals(ctx, "row-1", "m-el", ivs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkIntervals streams a year of 15-minute readings per operation.
func BenchmarkIntervals(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) { benchReadIntervals(b, be) })
	}
}

func benchReadIntervals(b *testing.B, be backend) {
	const n = 35_040
	ctx := context.Background()
	s := benchUser(b, be)
	base := int64(1_600_000_000)
	if err := s.UpsertIntervals(ctx, "row-1", "m-el", benchIntervals(base, n)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		rows := 0
		if err := s.Intervals(ctx, "row-1", "m-el", base, base+n*900, func(gridlink.Interval) error {
			rows++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}
