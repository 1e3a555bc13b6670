package connectui

import (
	"sync"
	"time"
)

// limiter counts failed utility logins per key (client id and client IP)
// in a leaky bucket: each failure adds one, the level drains at max per
// window, and a login is allowed only while a failure would still fit. Its
// memory is bounded by maxKeys; drained buckets are dropped first, then the
// least recently touched.
type limiter struct {
	mu      sync.Mutex
	max     float64
	window  time.Duration
	maxKeys int
	m       map[string]*bucket
}

type bucket struct {
	level float64
	at    time.Time
}

func newLimiter(max int, window time.Duration, maxKeys int) *limiter {
	return &limiter{max: float64(max), window: window, maxKeys: maxKeys, m: map[string]*bucket{}}
}

// levelAt is b's level drained up to now.
func (l *limiter) levelAt(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed < 0 {
		elapsed = 0
	}
	lv := b.level - l.max*float64(elapsed)/float64(l.window)
	if lv < 0 {
		return 0
	}
	return lv
}

// reserve takes one failure slot for key before a login is tried, so that
// concurrent logins cannot overshoot the limit. It reports false, taking
// nothing, when the key is at its limit. A login that does not fail gives
// the slot back with release.
func (l *limiter) reserve(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	lv := 0.0
	if b != nil {
		lv = l.levelAt(b, now)
	}
	if lv+1 > l.max {
		return false
	}
	if b == nil {
		l.makeRoom(now)
		b = &bucket{}
		l.m[key] = b
	}
	b.level, b.at = lv+1, now
	return true
}

// release gives back a slot taken by reserve.
func (l *limiter) release(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return
	}
	lv := l.levelAt(b, now) - 1
	if lv <= 0 {
		delete(l.m, key)
		return
	}
	b.level, b.at = lv, now
}

// fail records a failure that had no reservation (a login dropped after
// too many wrong one-time codes).
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	lv := 0.0
	if b != nil {
		lv = l.levelAt(b, now)
	} else {
		l.makeRoom(now)
		b = &bucket{}
		l.m[key] = b
	}
	b.level, b.at = min(lv+1, l.max), now
}

// makeRoom evicts buckets until one more key fits. Called with mu held.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.m) < l.maxKeys {
		return
	}
	for k, b := range l.m {
		if l.levelAt(b, now) == 0 {
			delete(l.m, k)
		}
	}
	for len(l.m) >= l.maxKeys {
		var oldest string
		var at time.Time
		first := true
		for k, b := range l.m {
			if first || b.at.Before(at) {
				oldest, at, first = k, b.at, false
			}
		}
		delete(l.m, oldest)
	}
}

// size is the number of tracked keys (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
