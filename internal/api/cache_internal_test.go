package api

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// readingsStore is a store whose meters all have one reading every step
// seconds (n per 30-day window when step divides it), counting reads.
type readingsStore struct {
	store.Store // only Intervals is used
	step        int64
	calls       atomic.Int64
	gate        chan struct{} // when set, Intervals waits for it
	fail        atomic.Bool   // when set, the next Intervals fails
}

func (s *readingsStore) Intervals(ctx context.Context, userRowID, meterID string, start, end int64, fn func(gridlink.Interval) error) error {
	s.calls.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.fail.CompareAndSwap(true, false) {
		return errors.New("database is gone")
	}
	for t := start; t < end; t += s.step {
		if err := fn(gridlink.Interval{Start: t, End: t + s.step, Usage: 1.25, GHG: 0.5}); err != nil {
			return err
		}
	}
	return nil
}

var cacheUser = store.Grant{RowID: "row-1", DataVersion: 7}

func noLog(int) {}

// TestCacheBuildsOnce: requests that ask for a window while it is being
// built wait for that one build.
func TestCacheBuildsOnce(t *testing.T) {
	st := &readingsStore{step: 3600, gate: make(chan struct{})}
	c := newDataCache(st, DefaultCacheBytes)
	const n = 16
	got := make([]*readingsChunk, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ch, err := c.chunk(t.Context(), cacheUser, "m", 3, noLog)
			if err != nil {
				t.Error(err)
			}
			got[i] = ch
		})
	}
	// Wait until the other n-1 requests found the entry being built.
	deadline := time.Now().Add(10 * time.Second)
	for c.hits.Load() < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(st.gate)
	wg.Wait()
	if calls := st.calls.Load(); calls != 1 {
		t.Fatalf("%d reads of the store for one window asked %d times at once, want 1", calls, n)
	}
	for i := range got {
		if got[i] != got[0] || got[0] == nil {
			t.Fatal("requests got different windows")
		}
	}
	if len(got[0].starts) != chunkSpan/3600 {
		t.Fatalf("window holds %d readings, want %d", len(got[0].starts), chunkSpan/3600)
	}
}

// TestCacheVersions: an entry serves only its data version.
func TestCacheVersions(t *testing.T) {
	st := &readingsStore{step: 3600}
	c := newDataCache(st, DefaultCacheBytes)
	u := cacheUser
	for i, v := range []int64{7, 7, 8, 8, 7} {
		u.DataVersion = v
		if _, err := c.chunk(t.Context(), u, "m", 0, noLog); err != nil {
			t.Fatal(err)
		}
		want := []int64{1, 1, 2, 2, 3}[i]
		if calls := st.calls.Load(); calls != want {
			t.Fatalf("after request %d (version %d): %d store reads, want %d", i, v, calls, want)
		}
	}
}

// TestCacheBudget: the cache never holds more than its budget, and what it
// dropped is read again when asked for.
func TestCacheBudget(t *testing.T) {
	st := &readingsStore{step: 3600}
	const budget = 200 << 10
	c := newDataCache(st, budget)
	for idx := range int64(40) {
		if _, err := c.chunk(t.Context(), cacheUser, "m", idx, noLog); err != nil {
			t.Fatal(err)
		}
		if c.size > budget {
			t.Fatalf("after %d windows the cache holds %d bytes, budget %d", idx+1, c.size, budget)
		}
	}
	if c.lru.Len() >= 40 || c.lru.Len() == 0 {
		t.Fatalf("%d of 40 windows kept with a budget of %d bytes", c.lru.Len(), budget)
	}
	before := st.calls.Load()
	if _, err := c.chunk(t.Context(), cacheUser, "m", 0, noLog); err != nil {
		t.Fatal(err)
	}
	if st.calls.Load() != before+1 {
		t.Fatal("an evicted window was not read again")
	}
	if _, err := c.chunk(t.Context(), cacheUser, "m", 39, noLog); err != nil {
		t.Fatal(err)
	}
	if st.calls.Load() != before+1 {
		t.Fatal("the most recent window was read again")
	}
}

// TestCacheDenseWindow: a window whose JSON would pass maxChunkBytes is
// not kept; the handler streams it from the store instead.
func TestCacheDenseWindow(t *testing.T) {
	st := &readingsStore{step: 1}
	c := newDataCache(st, DefaultCacheBytes)
	ch, err := c.chunk(t.Context(), cacheUser, "m", 0, noLog)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.tooBig || len(ch.data) != 0 {
		t.Fatalf("a window of one reading a second: tooBig %v, %d bytes kept", ch.tooBig, len(ch.data))
	}
	if c.size > 1024 {
		t.Fatalf("the cache counts %d bytes for a window it does not keep", c.size)
	}
}

// TestCacheBuildError: a failed build is not cached.
func TestCacheBuildError(t *testing.T) {
	st := &readingsStore{step: 3600}
	st.fail.Store(true)
	c := newDataCache(st, DefaultCacheBytes)
	if _, err := c.chunk(t.Context(), cacheUser, "m", 0, noLog); err == nil {
		t.Fatal("a failed read gave a window")
	}
	ch, err := c.chunk(t.Context(), cacheUser, "m", 0, noLog)
	if err != nil || len(ch.starts) == 0 {
		t.Fatalf("after a failed read: %v, %d readings", err, len(ch.starts))
	}
	if c.size <= 0 {
		t.Fatal("the cache counts nothing for the window it keeps")
	}
}

// TestReadingsChunkSpan: the bytes of any sub-window are exactly its
// readings, comma-separated.
func TestReadingsChunkSpan(t *testing.T) {
	ch := &readingsChunk{}
	for _, s := range []int64{10, 20, 30} {
		ch.starts = append(ch.starts, s)
		ch.offs = append(ch.offs, len(ch.data))
		ch.data, _ = appendInterval(ch.data, gridlink.Interval{Start: s, End: s + 10, Usage: 1})
		ch.data = append(ch.data, ',')
	}
	ch.offs = append(ch.offs, len(ch.data))
	r := func(s int64) string {
		return `{"start":` + itoa(s) + `,"end":` + itoa(s+10) + `,"usage":1,"ghg_emissions":0}`
	}
	for _, tc := range []struct {
		from, to int64
		want     string
	}{
		{0, 100, r(10) + "," + r(20) + "," + r(30)},
		{10, 30, r(10) + "," + r(20)},
		{11, 31, r(20) + "," + r(30)},
		{20, 21, r(20)},
		{21, 30, ""},
		{40, 50, ""},
	} {
		if got := string(ch.span(tc.from, tc.to)); got != tc.want {
			t.Errorf("span(%d, %d) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFloorDiv(t *testing.T) {
	for _, tc := range [][3]int64{{0, 5, 0}, {4, 5, 0}, {5, 5, 1}, {-1, 5, -1}, {-5, 5, -1}, {-6, 5, -2}} {
		if got := floorDiv(tc[0], tc[1]); got != tc[2] {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc[0], tc[1], got, tc[2])
		}
	}
}
