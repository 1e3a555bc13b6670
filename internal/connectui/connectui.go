// Package connectui serves hosted Connect: the server-rendered pages through
// which an end user picks a utility, types the utility login (and a one-time
// code when asked), and is sent back to the developer's app with an
// authorization code (pelm-api.md 4.1, 4.2, 4.4).
//
// The pages work without JavaScript. A connect token opens a session; the
// token leaves the address bar at once (303 to /connect/{sid}) and the
// session is bound to a random secret held in an HttpOnly cookie whose
// digest the store keeps. State-changing requests are POSTs guarded by
// http.CrossOriginProtection and the SameSite=Lax cookie. Utility logins are
// checked live through the connector registry; at most
// gridlink.MaxLoginAttempts failures are allowed per session, and a
// per-client-and-IP limiter bounds failures across sessions.
//
// Redirect mode (a redirect_uri was given) ends with a 303 to the app;
// embedded mode (no redirect_uri: the widget's iframe) runs the same pages and
// ends on a confirmation page carrying the code in a data-code attribute.
package connectui

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/vault"
)

// SyncQueue schedules the first sync of a freshly connected (or reconnected)
// user. internal/sync implements it.
type SyncQueue interface {
	EnqueueSync(ctx context.Context, userRowID string) error
}

// LoginLimit bounds failed utility logins per client and client IP across
// Connect sessions: at most Max failures per Window (a sliding allowance
// that refills continuously). Zero fields take the defaults (20 per hour).
type LoginLimit struct {
	Max    int
	Window time.Duration
	// MaxKeys bounds the limiter's memory: the number of client+IP pairs
	// tracked at once (default 100000); the least recently used are evicted.
	MaxKeys int
}

// Config is what the Connect pages need. Store, Auth, Vault, Catalog and
// Sync are required.
type Config struct {
	Store      store.Store
	Auth       *auth.Service
	Vault      *vault.Vault
	Catalog    *catalog.Catalog
	Connectors connector.Registry
	Sync       SyncQueue
	// Logger receives operational events; never secrets. Nil: discard.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Rand is the source of session ids, cookie secrets and user row ids.
	// Nil: crypto/rand.Reader.
	Rand io.Reader
	// SecureCookies marks the session cookie Secure with the __Host- prefix;
	// set it whenever Connect is served over TLS.
	SecureCookies bool
	// LoginLimit is the per-client-and-IP failed-login limit.
	LoginLimit LoginLimit
	// ClientIP returns the address the per-client-and-IP limiter keys on.
	// Nil: the host of r.RemoteAddr. Set it when behind a trusted proxy.
	ClientIP func(r *http.Request) string
	// LoginTimeout bounds one connector call (Login or SubmitMFA).
	// Zero: 60 seconds.
	LoginTimeout time.Duration
	// Ingest stores the data of Green Button files uploaded instead of a
	// login (internal/syncer's *Syncer). Nil: no upload is offered.
	Ingest Ingester
	// PublicURL is gridlink's public base URL (scheme and host, e.g.
	// "https://gridlink.example.com"), used for the OAuth redirect URI
	// <PublicURL>/connect/oauth/callback registered with OAuth utilities.
	// Empty: built from each request's Host (https over TLS or with
	// SecureCookies).
	PublicURL string
}

// UI is the hosted Connect handler set. Create it with New and mount it with
// Register.
type UI struct {
	store      store.Store
	auth       *auth.Service
	vault      *vault.Vault
	catalog    *catalog.Catalog
	connectors connector.Registry
	sync       SyncQueue
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	secure     bool
	clientIP   func(r *http.Request) string
	timeout    time.Duration
	ingest     Ingester
	publicURL  string

	limiter *limiter
	locks   *keyedMutex
	pages   map[string]*template.Template
	// staticFiles is the embedded static directory.
	staticFiles fs.FS
	// widgetJS is widget/initialize.js.
	widgetJS []byte
	csrf     *http.CrossOriginProtection
}

// New checks cfg and returns the Connect UI.
func New(cfg Config) (*UI, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("connectui: Config.Store is required")
	case cfg.Auth == nil:
		return nil, errors.New("connectui: Config.Auth is required")
	case cfg.Vault == nil:
		return nil, errors.New("connectui: Config.Vault is required")
	case cfg.Catalog == nil:
		return nil, errors.New("connectui: Config.Catalog is required")
	case cfg.Sync == nil:
		return nil, errors.New("connectui: Config.Sync is required")
	}
	u := &UI{
		store:      cfg.Store,
		auth:       cfg.Auth,
		vault:      cfg.Vault,
		catalog:    cfg.Catalog,
		connectors: cfg.Connectors,
		sync:       cfg.Sync,
		log:        cfg.Logger,
		now:        cfg.Now,
		rand:       cfg.Rand,
		secure:     cfg.SecureCookies,
		clientIP:   cfg.ClientIP,
		timeout:    cfg.LoginTimeout,
		ingest:     cfg.Ingest,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		locks:      newKeyedMutex(),
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.rand == nil {
		u.rand = rand.Reader
	}
	if u.clientIP == nil {
		u.clientIP = remoteHost
	}
	if u.timeout <= 0 {
		u.timeout = 60 * time.Second
	}
	if u.connectors == nil {
		u.connectors = connector.Registry{}
	}
	lim := cfg.LoginLimit
	if lim.Max <= 0 {
		lim.Max = 20
	}
	if lim.Window <= 0 {
		lim.Window = time.Hour
	}
	if lim.MaxKeys <= 0 {
		lim.MaxKeys = 100000
	}
	u.limiter = newLimiter(lim.Max, lim.Window, lim.MaxKeys)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u.pages = pages
	if u.staticFiles, err = staticRoot(); err != nil {
		return nil, err
	}
	if u.widgetJS, err = widgetFS.ReadFile("widget/initialize.js"); err != nil {
		return nil, fmt.Errorf("connectui: widget script: %w", err)
	}
	u.csrf = http.NewCrossOriginProtection()
	u.csrf.SetDenyHandler(http.HandlerFunc(u.denyCrossOrigin))
	return u, nil
}

// remoteHost is the default ClientIP: the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
