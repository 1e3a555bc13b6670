package syncer

import (
	"runtime/debug"
	"sync"
	"time"
)

// releaseGap is the least time between two hand-backs of memory.
const releaseGap = 2 * time.Second

// memoryRelease hands the memory of finished syncs back to the operating
// system. A sync allocates in proportion to what it fetches (the first
// sync of a year of 15-minute readings leaves tens of MB of garbage), and
// the Go runtime keeps freed memory until its next collection, which an
// idle server runs only every two minutes: so when the last running sync
// of the process ends, the garbage is collected and the free memory
// returned at once (debug.FreeOSMemory, about a millisecond of CPU with
// gridlink's small live heap). Not more than once every releaseGap: a sync
// that ends sooner is followed by one hand-back when the gap is over.
type memoryRelease struct {
	release func()           // debug.FreeOSMemory
	now     func() time.Time // the clock of the gap
	gap     time.Duration

	mu      sync.Mutex
	running int       // syncs begun and not ended
	last    time.Time // the last hand-back
	pending bool      // a hand-back is scheduled for the end of the gap
}

func newMemoryRelease() *memoryRelease {
	return &memoryRelease{release: debug.FreeOSMemory, now: time.Now, gap: releaseGap}
}

// begin records that a sync started.
func (m *memoryRelease) begin() {
	m.mu.Lock()
	m.running++
	m.mu.Unlock()
}

// end records that a sync ended, after everything it fetched became
// garbage, and hands memory back when it was the last one running.
func (m *memoryRelease) end() {
	m.mu.Lock()
	m.running--
	if m.running > 0 || m.pending {
		m.mu.Unlock()
		return
	}
	now := m.now()
	if wait := m.last.Add(m.gap).Sub(now); !m.last.IsZero() && wait > 0 {
		m.pending = true
		m.mu.Unlock()
		time.AfterFunc(wait, m.deferred)
		return
	}
	m.last = now
	m.mu.Unlock()
	m.release()
}

// deferred is the hand-back at the end of a gap: skipped when a sync is
// running again (its end hands back instead).
func (m *memoryRelease) deferred() {
	m.mu.Lock()
	m.pending = false
	if m.running > 0 {
		m.mu.Unlock()
		return
	}
	m.last = m.now()
	m.mu.Unlock()
	m.release()
}
