package auth

import (
	"sync"
	"time"

	"github.com/gridlink/gridlink"
)

// Client cache bounds. Every API call authenticates its client; the cache
// saves the store read (and the decoding of the client's redirect URIs and
// origins) for calls within ClientCacheTTL of the last read.
const (
	// ClientCacheTTL is how long an authenticated client is trusted
	// without reading the store again. It is the window during which a
	// secret rotated or a client deleted by another process (gridlink
	// clients rotate-secret / delete) is still accepted by a running
	// server that authenticated the client just before: at most this long.
	ClientCacheTTL = time.Second
	// clientCacheMax bounds the number of cached clients; when full, the
	// expired entries are dropped, and if none were, the whole cache.
	clientCacheMax = 1024
)

// clientCache maps a client id to the client as last read from the store,
// valid until its expiry. Only clients whose secret was just checked
// against the store are put in; a lookup still compares the presented
// secret's digest with the cached digest in constant time, and a mismatch
// drops the entry (the caller then asks the store, so that a secret rotated
// in another process is honoured at once for the new secret).
type clientCache struct {
	mu sync.RWMutex
	m  map[string]cachedClient
}

type cachedClient struct {
	c       gridlink.Client
	expires time.Time
}

func newClientCache() *clientCache {
	return &clientCache{m: make(map[string]cachedClient)}
}

// get returns the cached, unexpired client id.
func (cc *clientCache) get(id string, now time.Time) (gridlink.Client, bool) {
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return gridlink.Client{}, false
	}
	return e.c, true
}

// put caches c until now+ClientCacheTTL.
func (cc *clientCache) put(c gridlink.Client, now time.Time) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.m[c.ID]; !ok && len(cc.m) >= clientCacheMax {
		for id, e := range cc.m {
			if !now.Before(e.expires) {
				delete(cc.m, id)
			}
		}
		if len(cc.m) >= clientCacheMax {
			clear(cc.m)
		}
	}
	cc.m[c.ID] = cachedClient{c: c, expires: now.Add(ClientCacheTTL)}
}

// drop forgets client id.
func (cc *clientCache) drop(id string) {
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}
