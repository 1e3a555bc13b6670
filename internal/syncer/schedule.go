package syncer

import (
	"context"
	"encoding/binary"
	"io"
	"sync"
	"time"

	"github.com/gridlink/gridlink"
)

// Defaults of the schedule (Config).
const (
	// DefaultInterval is the time from a successful sync to the next
	// scheduled one.
	DefaultInterval = 12 * time.Hour
	// DefaultLookBack is how far before the newest stored reading a
	// refresh asks the utility to start again, so that late or corrected
	// readings replace the stored ones.
	DefaultLookBack = 7 * 24 * time.Hour
	// DefaultRetryMin is the delay before the first retry of a failed
	// sync; each further failure doubles it (with jitter) up to
	// DefaultRetryMax.
	DefaultRetryMin = time.Minute
	// DefaultRetryMax caps the delay between retries.
	DefaultRetryMax = 6 * time.Hour
	// DefaultUtilityLimit is the number of syncs of one utility that may
	// run at once across every process sharing the database.
	DefaultUtilityLimit = 4
	// DefaultUtilityBusyDelay is how long a sync waits, on average, before
	// trying again when its utility's slots are all taken.
	DefaultUtilityBusyDelay = 15 * time.Second
)

// retryJitter is the downward jitter of a retry delay: the delay is drawn
// from [(1-retryJitter)·d, d], so that successive delays still grow (by at
// least 2·(1-retryJitter) = 1.6 times) until the cap.
const retryJitter = 0.2

// maxRetryAfter bounds the wait a utility may ask for (connector
// RetryAfter): a site asking for a week is not believed.
const maxRetryAfter = 24 * time.Hour

// randSource draws uniform floats from an io.Reader (crypto/rand by
// default), serialising reads so that any reader may be used.
type randSource struct {
	mu sync.Mutex
	r  io.Reader
}

// float returns a uniform value in [0, 1); 0.5 if the reader fails (no
// jitter is better than no sync).
func (rs *randSource) float() float64 {
	var b [8]byte
	rs.mu.Lock()
	_, err := io.ReadFull(rs.r, b[:])
	rs.mu.Unlock()
	if err != nil {
		return 0.5
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// nextScheduled is when the sync after a success at done is due:
// done + Interval ± IntervalJitter (uniform).
func (s *Syncer) nextScheduled(done time.Time) time.Time {
	j := s.cfg.IntervalJitter
	if j <= 0 {
		return done.Add(s.cfg.Interval)
	}
	offset := time.Duration((2*s.rand.float() - 1) * float64(j))
	return done.Add(s.cfg.Interval + offset)
}

// retryDelay is the wait before retrying a sync that failed with a
// retryable error, given the user's sync state before the failed attempt
// and the wait the utility asked for (0: none).
//
// Exponential backoff with jitter, capped: after a success (or anything
// but a failure) the first delay is about RetryMin; after a failure whose
// retry was scheduled d after its attempt started, the next delay is
// about 2·d; never more than RetryMax. The stored state carries the
// progression, so it survives restarts and moves between processes. A
// RetryAfter longer than the computed delay wins (up to a day).
func (s *Syncer) retryDelay(prev gridlink.SyncState, retryAfter time.Duration) time.Duration {
	d := s.cfg.RetryMin
	if prev.Status == gridlink.SyncFailing && prev.LastAttemptAt != nil && prev.NextAttemptAt != nil {
		if last := prev.NextAttemptAt.Sub(*prev.LastAttemptAt); last > 0 {
			d = max(d, 2*last)
		}
	}
	d = min(d, s.cfg.RetryMax)
	d = time.Duration(float64(d) * (1 - retryJitter*s.rand.float()))
	d = max(d, min(retryAfter, maxRetryAfter))
	return max(d, time.Millisecond)
}

// busyDelay is how long a sync whose utility is at its limit waits before
// trying again: UtilityBusyDelay ± 50%, so that waiting syncs spread out.
func (s *Syncer) busyDelay() time.Duration {
	return time.Duration(float64(s.cfg.UtilityBusyDelay) * (0.5 + s.rand.float()))
}

// ConnectSessionRetention is how long after expiring a Connect session is
// kept before the scheduler job purges it.
const ConnectSessionRetention = 24 * time.Hour

// purgeConnectSessions deletes the Connect sessions that expired more than
// ConnectSessionRetention ago (on the Syncer's clock). It is housekeeping
// run by the scheduler job: a failure is logged, never fails the job.
func (q *Queue) purgeConnectSessions(ctx context.Context) {
	n, err := q.s.cfg.Store.PurgeConnectSessions(ctx, q.s.now().Add(-ConnectSessionRetention))
	if err != nil {
		q.log.WarnContext(ctx, "sync scheduler: purge expired connect sessions", "err", err)
		return
	}
	q.log.DebugContext(ctx, "sync scheduler: purged expired connect sessions", "count", n)
}
