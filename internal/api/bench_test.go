package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
)

// discardWriter is a ResponseWriter that only counts bytes.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func benchServe(b *testing.B, e *env, r *http.Request) {
	b.Helper()
	w := &discardWriter{h: http.Header{}}
	e.handler.ServeHTTP(w, r)
	if w.status != http.StatusOK && w.status != 0 {
		b.Fatalf("status %d", w.status)
	}
	b.SetBytes(int64(w.n))
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		e.handler.ServeHTTP(w, r)
	}
}

func BenchmarkAccounts(b *testing.B) {
	e := newEnv(b)
	rowID, token := e.newUser(b, e.a, "alice")
	e.seed(b, rowID)
	r := httptest.NewRequest("GET", "/accounts", nil)
	for k, v := range hdr(e.a, token) {
		r.Header.Set(k, v)
	}
	benchServe(b, e, r)
}

// BenchmarkIntervalsYearHourly streams one year of hourly readings (8784
// intervals); MB/s is the body throughput.
func BenchmarkIntervalsYearHourly(b *testing.B) {
	e := newEnv(b)
	rowID, token := e.newUser(b, e.a, "alice")
	e.seed(b, rowID)
	from := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0).Add(24 * time.Hour)
	var ivs []gridlink.Interval
	for s := from.Unix(); s < to.Unix(); s += 3600 {
		ivs = append(ivs, gridlink.Interval{Start: s, End: s + 3600, Usage: 0.123 + float64(s%97)/13, GHG: 0.0421 * float64(s%11)})
	}
	if err := e.st.UpsertIntervals(context.Background(), rowID, elec2, ivs); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/intervals?account_id="+acct2+"&type=ELECTRIC&start_date="+
		strconv.FormatInt(from.Unix(), 10)+"&end_date="+strconv.FormatInt(to.Unix(), 10), nil)
	for k, v := range hdr(e.a, token) {
		r.Header.Set(k, v)
	}
	benchServe(b, e, r)
}
