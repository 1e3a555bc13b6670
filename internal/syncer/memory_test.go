package syncer

import (
	"sync"
	"testing"
	"time"
)

// testRelease is a memoryRelease on a settable clock that counts its
// hand-backs.
type testRelease struct {
	*memoryRelease
	mu       sync.Mutex
	clock    time.Time
	released chan struct{}
}

func newTestRelease(gap time.Duration) *testRelease {
	r := &testRelease{clock: time.Unix(1_800_000_000, 0), released: make(chan struct{}, 10)}
	r.memoryRelease = &memoryRelease{
		release: func() { r.released <- struct{}{} },
		now: func() time.Time {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.clock
		},
		gap: gap,
	}
	return r
}

func (r *testRelease) advance(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

// count returns the hand-backs so far (waiting up to wait for one more).
func (r *testRelease) count(wait time.Duration) int {
	n := 0
	timeout := time.After(wait)
	for {
		select {
		case <-r.released:
			n++
		case <-timeout:
			return n
		}
	}
}

// Memory goes back to the OS when the last of overlapping syncs ends, not
// while one is still running, and not more often than the gap allows; a
// sync that ends within the gap gets its hand-back at the end of the gap.
func TestMemoryReleaseAfterLastSync(t *testing.T) {
	r := newTestRelease(200 * time.Millisecond)
	r.begin()
	r.begin()
	r.end()
	if n := r.count(50 * time.Millisecond); n != 0 {
		t.Fatalf("%d hand-backs while a sync still runs, want 0", n)
	}
	r.end()
	if n := r.count(50 * time.Millisecond); n != 1 {
		t.Fatalf("%d hand-backs after the last sync ended, want 1", n)
	}

	// Another sync ends 10 ms (on the clock) later: within the gap, so the
	// hand-back waits for the end of the gap, on the real timer.
	r.advance(10 * time.Millisecond)
	r.begin()
	r.end()
	if n := r.count(50 * time.Millisecond); n != 0 {
		t.Fatalf("%d hand-backs within the gap, want 0 yet", n)
	}
	// A third one ending in the gap adds no second hand-back.
	r.begin()
	r.end()
	if n := r.count(600 * time.Millisecond); n != 1 {
		t.Fatalf("%d hand-backs at the end of the gap, want 1", n)
	}

	// A deferred hand-back finding a sync running again is skipped; that
	// sync's end hands back once the gap since the last one is over.
	r.advance(time.Second)
	r.begin()
	r.end() // hands back at once: the gap is over
	if n := r.count(50 * time.Millisecond); n != 1 {
		t.Fatalf("%d hand-backs, want 1", n)
	}
	r.begin()
	r.end() // within the gap: deferred
	r.begin()
	if n := r.count(600 * time.Millisecond); n != 0 {
		t.Fatalf("%d hand-backs while a sync runs at the end of the gap, want 0", n)
	}
	r.advance(time.Second)
	r.end()
	if n := r.count(50 * time.Millisecond); n != 1 {
		t.Fatalf("%d hand-backs after the running sync ended, want 1", n)
	}
}
