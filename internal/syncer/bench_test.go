package syncer

import (
	"context"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// BenchmarkSyncIngest measures first-sync ingest through Sync into a real
// SQLite store: 100,000 hourly readings (GHG computed by sync) per user.
func BenchmarkSyncIngest(b *testing.B) {
	const rows = 100_000
	ivs := make([]gridlink.Interval, rows)
	for i := range ivs {
		s := testEpoch.Unix() + int64(i)*3600
		ivs[i] = gridlink.Interval{Start: s, End: s + 3600, Usage: baseUsage(i)}
	}
	data := &connector.Data{Accounts: []connector.Account{{
		Account:   gridlink.Account{ExternalID: "A1", Meters: []gridlink.Meter{{ExternalID: "E1", Type: gridlink.Electric}}},
		Intervals: map[string][]gridlink.Interval{"E1": ivs},
	}}}
	e := newEnv(b)
	e.fake.set(returns(func() *connector.Data { return data }))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		u := e.addUser(b, nil)
		b.StartTimer()
		if err := e.s.Sync(ctx, u.RowID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
