package api

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// The data cache keeps what GET /accounts and GET /intervals derive from a
// user's data: the accounts with their data-through and reading spans (and
// the serialized /accounts answer), and the serialized readings of each
// meter in fixed windows of chunkSpan seconds. Every entry records the
// user's data version (store.Grant.DataVersion) it was built under, and
// is used only by a request whose token lookup shows that same version:
// the store changes the version in the same transaction as any change to
// the user's accounts, meters or intervals, so a cached answer is never
// older than the data a request sees, in this process or after a write by
// another one (several servers on one PostgreSQL database). The token
// lookup itself is never cached: a revoked token stops working at once.
//
// The cache holds at most its byte budget (least recently used entries go
// first); a window of readings whose JSON would exceed maxChunkBytes is not
// cached but streamed from the store, so memory stays bounded whatever the
// data.

// DefaultCacheBytes is the data cache's budget when Config.CacheBytes is 0.
const DefaultCacheBytes = 32 << 20

const (
	// chunkSpan is the width of a cached window of readings, in seconds
	// (30 days: 720 hourly or 2,880 15-minute readings).
	chunkSpan = 30 * 86400
	// maxChunkBytes bounds one window's JSON; denser data is streamed.
	maxChunkBytes = 4 << 20
	// buildTimeout bounds a cache build, which runs detached from the
	// request that started it (other requests may be waiting for it).
	buildTimeout = time.Minute
)

// errChunkTooBig stops building a window whose JSON exceeds maxChunkBytes.
var errChunkTooBig = errors.New("window too large to cache")

// dataCache is the cache described above; safe for concurrent use.
type dataCache struct {
	st    store.Store
	max   int64
	mu    sync.Mutex
	size  int64
	lru   list.List // of *cacheEntry, most recently used first
	items map[cacheKey]*list.Element
	// hits counts lookups that found their entry (built or being built);
	// builds, the entries built (misses, stale versions included).
	hits, builds atomic.Int64
}

// register exports the cache's counters on reg: lookups answered from the
// cache, entries built, and what it holds now.
func (c *dataCache) register(reg prometheus.Registerer) error {
	stat := func(f func() int64) func() float64 {
		return func() float64 { return float64(f()) }
	}
	locked := func(f func() int64) func() float64 {
		return func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return float64(f())
		}
	}
	for _, m := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gridlink_api_cache_hits_total",
			Help: "GET /accounts and GET /intervals cache lookups that found their entry."}, stat(c.hits.Load)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gridlink_api_cache_builds_total",
			Help: "Cache entries built from the store (misses, and entries whose user's data changed)."}, stat(c.builds.Load)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gridlink_api_cache_bytes",
			Help: "Bytes held by the cache (its budget is serve --cache-size)."}, locked(func() int64 { return c.size })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gridlink_api_cache_entries",
			Help: "Entries held by the cache (a user's accounts, or 30 days of one meter's readings)."}, locked(func() int64 { return int64(c.lru.Len()) })),
	} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}

func newDataCache(st store.Store, maxBytes int64) *dataCache {
	return &dataCache{st: st, max: maxBytes, items: map[cacheKey]*list.Element{}}
}

// cacheKey names an entry: a user's accounts (meter "") or one window of
// one meter's readings.
type cacheKey struct {
	user  string // user row id
	meter string
	chunk int64
}

// cacheEntry is one entry; ready is closed once it is built (or failed).
type cacheEntry struct {
	key     cacheKey
	version int64
	ready   chan struct{}
	err     error
	size    int64
	counted bool // size is part of dataCache.size
	view    *userView
	chunk   *readingsChunk
}

// userView is what the data endpoints need of a user's accounts.
type userView struct {
	accounts []gridlink.Account
	through  map[string]int64
	spans    map[string]store.Span
	// body is the GET /accounts answer; set on cached views only.
	body []byte
}

// readingsChunk is the JSON of one window's readings: reading k is
// data[offs[k]:offs[k+1]-1] (readings are comma-separated, so
// data[offs[i]:offs[j]-1] is readings i to j-1 ready to write).
type readingsChunk struct {
	starts []int64
	offs   []int
	data   []byte
	// tooBig marks a window that is streamed from the store instead.
	tooBig bool
}

// span returns the JSON of the readings with start in [from, to), without
// brackets, or nil when there are none.
func (c *readingsChunk) span(from, to int64) []byte {
	i := sort.Search(len(c.starts), func(k int) bool { return c.starts[k] >= from })
	j := sort.Search(len(c.starts), func(k int) bool { return c.starts[k] >= to })
	if i >= j {
		return nil
	}
	return c.data[c.offs[i] : c.offs[j]-1]
}

// get returns the entry of key built under version, building it with build
// (once, however many requests ask at the same time) when it is missing or
// was built under another version.
func (c *dataCache) get(ctx context.Context, key cacheKey, version int64, build func(ctx context.Context, e *cacheEntry) error) (*cacheEntry, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		if e.version == version {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if e.err != nil {
				return nil, e.err
			}
			return e, nil
		}
		c.removeLocked(el)
	}
	e := &cacheEntry{key: key, version: version, ready: make(chan struct{})}
	c.items[key] = c.lru.PushFront(e)
	c.mu.Unlock()
	c.builds.Add(1)

	// The build outlives a client that goes away: others may wait for it.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
	err := build(bctx, e)
	cancel()

	c.mu.Lock()
	e.err = err
	if el, ok := c.items[key]; ok && el.Value == e {
		if err != nil {
			c.removeLocked(el)
		} else {
			e.counted = true
			c.size += e.size
			for c.size > c.max && c.lru.Len() > 0 {
				c.removeLocked(c.lru.Back())
			}
		}
	}
	c.mu.Unlock()
	close(e.ready)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// removeLocked drops el from the cache; c.mu is held.
func (c *dataCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.items, e.key)
	if e.counted {
		c.size -= e.size
		e.counted = false
	}
}

// view returns the user's accounts view under u.DataVersion.
func (c *dataCache) view(ctx context.Context, u store.Grant) (*userView, error) {
	e, err := c.get(ctx, cacheKey{user: u.RowID}, u.DataVersion, func(ctx context.Context, e *cacheEntry) error {
		v, err := loadView(ctx, c.st, u.RowID)
		if err != nil {
			return err
		}
		if v.body, err = encodeAccounts(v); err != nil {
			return err
		}
		e.view = v
		e.size = int64(len(v.body))*3 + 512 // the body, plus the decoded accounts
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e.view, nil
}

// chunk returns window idx of the meter's readings under u.DataVersion.
func (c *dataCache) chunk(ctx context.Context, u store.Grant, meterID string, idx int64, logNonFinite func(n int)) (*readingsChunk, error) {
	e, err := c.get(ctx, cacheKey{user: u.RowID, meter: meterID, chunk: idx}, u.DataVersion, func(ctx context.Context, e *cacheEntry) error {
		ch := &readingsChunk{}
		nonFinite := 0
		from := idx * chunkSpan
		err := c.st.Intervals(ctx, u.RowID, meterID, from, from+chunkSpan, func(iv gridlink.Interval) error {
			ch.starts = append(ch.starts, iv.Start)
			ch.offs = append(ch.offs, len(ch.data))
			var ok bool
			if ch.data, ok = appendInterval(ch.data, iv); !ok {
				nonFinite++
			}
			ch.data = append(ch.data, ',')
			if len(ch.data) > maxChunkBytes {
				return errChunkTooBig
			}
			return nil
		})
		switch {
		case errors.Is(err, errChunkTooBig):
			e.chunk, e.size = &readingsChunk{tooBig: true}, 64
			return nil
		case err != nil:
			return err
		}
		if nonFinite > 0 {
			logNonFinite(nonFinite)
		}
		ch.offs = append(ch.offs, len(ch.data))
		e.chunk = ch
		e.size = int64(cap(ch.data) + 8*cap(ch.starts) + 8*cap(ch.offs) + 128)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e.chunk, nil
}

// loadView reads the user's accounts view from the store.
func loadView(ctx context.Context, st store.Store, userRowID string) (*userView, error) {
	accts, through, err := st.AccountsThrough(ctx, userRowID)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	spans, err := st.IntervalSpans(ctx, userRowID)
	if err != nil {
		return nil, fmt.Errorf("interval spans: %w", err)
	}
	return &userView{accounts: accts, through: through, spans: spans}, nil
}

// encodeAccounts returns the GET /accounts answer of v.
func encodeAccounts(v *userView) ([]byte, error) {
	out := make([]accountJSON, 0, len(v.accounts))
	for _, ac := range v.accounts {
		out = append(out, newAccountJSON(ac, v.through))
	}
	b, err := encodeJSON(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// account returns the view's account id.
func (v *userView) account(id string) (gridlink.Account, bool) {
	for _, ac := range v.accounts {
		if ac.ID == id {
			return ac, true
		}
	}
	return gridlink.Account{}, false
}

// meter returns the view's meter id.
func (v *userView) meter(id string) (gridlink.Meter, bool) {
	for _, ac := range v.accounts {
		for _, m := range ac.Meters {
			if m.ID == id {
				return m, true
			}
		}
	}
	return gridlink.Meter{}, false
}

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
