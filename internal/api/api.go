// Package api serves gridlink's Pelm-compatible JSON API (pelm-api.md
// sections 1, 2 and 5): connect tokens, code exchange, users, accounts,
// intervals, bills and the utility catalogue; and, beyond Pelm, data
// freshness (the "sync" object of GET /users/{user_id}, data_through on
// accounts) and POST /users/{user_id}/refresh.
//
// The API is a header-credential zone: clients authenticate with the
// Pelm-Client-Id and Pelm-Secret headers and users with an
// "Authorization: Bearer" access token; it never reads or sets cookies.
//
// Register adds the API's routes to a mux (all of them are listed in
// routes.go). Handler wraps the one mux of the listener (API, Connect pages
// and widget script) with the middleware every zone shares: panic recovery,
// JSON 404/405 answers, CORS for the API, a request body limit and
// X-Content-Type-Options. WriteError is the one place where an error becomes
// an HTTP answer; other zones use it for their JSON answers too.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
)

// Config is what the API needs.
type Config struct {
	// Auth authenticates clients and access tokens and issues connect
	// tokens and access tokens.
	Auth *auth.Service
	// Store holds users and their data.
	Store store.Store
	// Catalog is the utility catalogue.
	Catalog *catalog.Catalog
	// Logger receives operational logs; nil discards them. Nothing secret
	// is ever logged.
	Logger *slog.Logger
	// Now is the clock used for the default intervals window; nil means
	// time.Now.
	Now func() time.Time
	// Connectors is the connector registry; a utility is "supported" in GET
	// /utilities when its connector key is present in it. A nil registry
	// falls back to gridlink.Utility.Supported.
	Connectors connector.Registry
	// Sync queues the syncs asked for by POST /users/{user_id}/refresh
	// (internal/syncer's Queue). Nil: the endpoint answers
	// feature_unavailable.
	Sync SyncQueue
	// CacheBytes is the budget of the data cache of GET /accounts and GET
	// /intervals (see cache.go): 0 means DefaultCacheBytes, a negative
	// value turns the cache off (every request then reads the store).
	CacheBytes int64
}

// RegisterMetrics exports the data cache's metrics on reg
// (gridlink_api_cache_*: hits, builds, bytes and entries); with the cache
// off there are none.
func (a *API) RegisterMetrics(reg prometheus.Registerer) error {
	if a.cache == nil {
		return nil
	}
	return a.cache.register(reg)
}

// SyncQueue queues a sync of a user; queueing again while one is waiting
// or running is a no-op.
type SyncQueue interface {
	EnqueueSync(ctx context.Context, userRowID string) error
}

// API is the JSON API. Create it with New and add its routes to a mux with
// Register.
type API struct {
	auth       *auth.Service
	store      store.Store
	catalog    *catalog.Catalog
	logger     *slog.Logger
	now        func() time.Time
	connectors connector.Registry
	sync       SyncQueue
	cache      *dataCache // nil when off
}

// New returns the API for cfg. Auth, Store and Catalog are required.
func New(cfg Config) *API {
	a := &API{
		auth:       cfg.Auth,
		store:      cfg.Store,
		catalog:    cfg.Catalog,
		logger:     cfg.Logger,
		now:        cfg.Now,
		connectors: cfg.Connectors,
		sync:       cfg.Sync,
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	switch {
	case cfg.CacheBytes == 0:
		a.cache = newDataCache(cfg.Store, DefaultCacheBytes)
	case cfg.CacheBytes > 0:
		a.cache = newDataCache(cfg.Store, cfg.CacheBytes)
	}
	return a
}
