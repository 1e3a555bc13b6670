package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gridlink/gridlink/internal/api"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/demopower"
	"github.com/gridlink/gridlink/internal/connector/portal"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/connectui"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/vault"
)

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", getenv, stderr)
	addr := fs.String("addr", ":8080", "address to listen on")
	database := fs.String("database", "", "database: a SQLite file path (sqlite: prefix optional) or a postgres:// URL")
	dbMaxConns := fs.Int("db-max-conns", 0, "PostgreSQL: the store pool's maximum open connections (0: the URL's pool_max_conns, else 10)")
	dbStatementTimeout := fs.Duration("db-statement-timeout", 0, "PostgreSQL: abort any statement that runs longer (0: the URL's statement_timeout, else 30s; negative: none)")
	cacheMB := fs.Int("cache-size", api.DefaultCacheBytes>>20, "MB of memory for the cache of GET /accounts and GET /intervals answers (0: no cache)")
	keyFile := fs.String("master-key-file", "", "read the master key from this file instead of GRIDLINK_MASTER_KEY")
	secure := fs.Bool("secure-cookies", false, "mark Connect cookies Secure with the __Host- prefix (set when clients reach gridlink over HTTPS, e.g. behind a TLS proxy)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	syncInterval := fs.Duration("sync-interval", syncer.DefaultInterval, "time from a user's successful sync to the next scheduled one (±10% jitter)")
	syncLookBack := fs.Duration("sync-lookback", syncer.DefaultLookBack, "how far before the newest stored reading each refresh fetches again, to pick up late or corrected readings")
	syncWorkers := fs.Int("sync-workers", syncer.DefaultWorkers, "syncs running at once in this process")
	syncUtilityLimit := fs.Int("sync-utility-limit", syncer.DefaultUtilityLimit, "syncs of one utility running at once across all processes sharing the database (0 or negative: no limit)")
	syncJobTimeout := fs.Duration("sync-job-timeout", syncer.DefaultJobTimeout, "bound on one sync attempt")
	syncRetryMin := fs.Duration("sync-retry-min", syncer.DefaultRetryMin, "delay before the first retry of a failed or interrupted sync (doubling per attempt)")
	syncRescueAfter := fs.Duration("sync-rescue-after", 0, "how long after its start a sync whose process died (kill -9, power loss) is run again by another process; at least --sync-job-timeout (0: job timeout + 1m)")
	gbFile := fs.String("greenbutton-utilities", "", "a JSON file listing utilities reached through Green Button Connect My Data (see README)")
	demoURL := fs.String("demo-utility-url", "", "address of a running Demo Power & Light (gridlink demo-utility), e.g. http://localhost:8090: registers its connector (empty: the utility is listed as unsupported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *database == "" {
		return usagef("--database is required (or GRIDLINK_DATABASE): a SQLite file path or a postgres:// URL")
	}
	if *demoURL != "" {
		if err := checkDemoUtilityURL(*demoURL); err != nil {
			return err
		}
	}
	var gbUtilities []greenButtonUtility
	if *gbFile != "" {
		var err error
		if gbUtilities, err = loadGreenButtonUtilities(*gbFile, getenv); err != nil {
			return err
		}
	}
	if *syncInterval < time.Minute || *syncLookBack < 0 {
		return usagef("--sync-interval must be at least 1m and --sync-lookback not negative")
	}
	switch {
	case *dbMaxConns < 0:
		return usagef("--db-max-conns must not be negative")
	case *cacheMB < 0 || *cacheMB > 1<<20:
		return usagef("--cache-size must be between 0 and 1048576 (MB)")
	case *syncWorkers < 1:
		return usagef("--sync-workers must be at least 1")
	case *syncJobTimeout <= 0 || *syncRetryMin <= 0:
		return usagef("--sync-job-timeout and --sync-retry-min must be positive")
	case *syncRescueAfter < 0 || (*syncRescueAfter > 0 && *syncRescueAfter < *syncJobTimeout):
		return usagef("--sync-rescue-after must be at least --sync-job-timeout (%v)", *syncJobTimeout)
	}
	if *syncUtilityLimit <= 0 {
		*syncUtilityLimit = -1 // syncer.Config: negative is no limit, 0 the default
	}
	// A testing knob, deliberately not a flag: how long slow@sandbox.test's
	// first fetch takes (tests that need a sync in progress set it short).
	var slowDelay time.Duration
	if v := getenv("GRIDLINK_SANDBOX_SLOW_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return usagef("GRIDLINK_SANDBOX_SLOW_DELAY=%q is not a positive duration", v)
		}
		slowDelay = d
	}
	if *syncLookBack == 0 {
		*syncLookBack = -1 // syncer.Config: negative is none, 0 the default
	}
	key, err := loadMasterKey(getenv, *keyFile)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel, true)
	if err != nil {
		return err
	}
	return serveApp(ctx, appConfig{
		Addr: *addr, Database: *database, MasterKey: key, SecureCookies: *secure,
		Logger: logger, Stdout: stdout, SyncInterval: *syncInterval, SyncLookBack: *syncLookBack,
		DemoUtilityURL: *demoURL, GreenButton: gbUtilities,
		DBMaxConns: *dbMaxConns, DBStatementTimeout: *dbStatementTimeout, CacheBytes: cacheBytes(*cacheMB),
		SyncWorkers: *syncWorkers, SyncUtilityLimit: *syncUtilityLimit, SyncJobTimeout: *syncJobTimeout,
		SyncRetryMin: *syncRetryMin, SyncRescueAfter: *syncRescueAfter, SandboxSlowDelay: slowDelay,
	})
}

// cacheBytes turns --cache-size (MB, 0: off) into api.Config.CacheBytes.
func cacheBytes(mb int) int64 {
	if mb == 0 {
		return -1
	}
	return int64(mb) << 20
}

// loadMasterKey reads GRIDLINK_MASTER_KEY (or the key file) and refuses to
// go on without a valid 32-byte key.
func loadMasterKey(getenv func(string) string, file string) ([]byte, error) {
	raw := getenv("GRIDLINK_MASTER_KEY")
	if file != "" {
		b, err := readFile(file)
		if err != nil {
			return nil, usagef("read master key file: %v", err)
		}
		raw = string(b)
	}
	if strings.TrimSpace(raw) == "" {
		return nil, usagef("GRIDLINK_MASTER_KEY is not set: gridlink encrypts utility credentials with it and will not start without one.\n" +
			"Generate one with `gridlink keys generate`, keep it safe (losing it makes stored credentials unreadable), and set it:\n" +
			"  export GRIDLINK_MASTER_KEY=$(gridlink keys generate)")
	}
	key, err := vault.ParseKey(raw)
	if err != nil {
		return nil, usagef("GRIDLINK_MASTER_KEY: %v", err)
	}
	return key, nil
}

func newLogger(w io.Writer, level string, asJSON bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// sqlitePath turns a --database value into a SQLite file path; a
// PostgreSQL URL is returned as it is.
func sqlitePath(dsn string) (string, error) {
	switch {
	case syncer.IsPostgresDSN(dsn):
		return dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		return strings.TrimPrefix(dsn, "sqlite://"), nil
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(dsn, "sqlite:"), nil
	}
	return dsn, nil
}

// redactDSN hides the credentials of a database URL: its user
// information and any password, sslpassword or sslkey parameter. A path
// without "://" is returned as it is.
func redactDSN(dsn string) string {
	j := strings.Index(dsn, "://")
	if j < 0 {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparsable: keep only the scheme and what follows the last "@".
		if i := strings.LastIndex(dsn, "@"); i > j {
			return dsn[:j+3] + "***" + dsn[i:]
		}
		return dsn[:j+3] + "***"
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword", "sslkey"} {
		if q.Has(k) {
			q.Set(k, "***")
		}
	}
	u.RawQuery = q.Encode()
	return strings.Replace(u.String(), "%2A%2A%2A", "***", -1)
}

// dbLabel names the database of a --database value in logs and messages:
// the SQLite path, or the PostgreSQL URL without credentials.
func dbLabel(dsn string) string {
	if syncer.IsPostgresDSN(dsn) {
		return redactDSN(dsn)
	}
	path, err := sqlitePath(dsn)
	if err != nil {
		return dsn
	}
	return path
}

func openStore(ctx context.Context, dsn string, logger *slog.Logger) (*sqlstore.Store, error) {
	return openStoreWith(ctx, dsn, sqlstore.Options{Logger: logger})
}

// openStoreWith opens (and migrates) the store of a --database value: a
// SQLite path or a PostgreSQL URL.
func openStoreWith(ctx context.Context, dsn string, opts sqlstore.Options) (*sqlstore.Store, error) {
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	st, err := sqlstore.Open(ctx, path, opts)
	if err != nil {
		// pgx keeps passwords out of its errors; the URL is redacted here.
		return nil, fmt.Errorf("open database %s: %w", dbLabel(dsn), err)
	}
	return st, nil
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", getenv, stderr)
	database := fs.String("database", "", "database: a SQLite file path or a postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *database == "" {
		return usagef("--database is required (or GRIDLINK_DATABASE)")
	}
	st, err := openStore(ctx, *database, discardLogger()) // Open migrates
	if err != nil {
		return err
	}
	defer st.Close()
	path, _ := sqlitePath(*database)
	// Both migrations take a lock (SQLite: the write lock; PostgreSQL: an
	// advisory lock), so several processes may run migrate at once.
	if err := syncer.MigrateQueue(ctx, path, syncer.QueueOptions{}); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	fmt.Fprintf(stdout, "database %s is up to date\n", dbLabel(*database))
	return nil
}

type appConfig struct {
	Addr          string
	Database      string
	MasterKey     []byte
	SecureCookies bool
	Logger        *slog.Logger
	Stdout        io.Writer
	// Extra registers more routes (gridlink dev's helper pages).
	Extra func(mux *http.ServeMux)
	// Ready, when set, is called with the listening address.
	Ready func(addr string)
	// DemoUtilityURL, when set, is the address of a running Demo Power &
	// Light: its connector is registered (else the utility is unsupported).
	DemoUtilityURL string
	// SyncInterval and SyncLookBack tune the scheduled refresh (0: the
	// syncer's defaults, 12 h and 7 days).
	SyncInterval, SyncLookBack time.Duration
	// DBMaxConns and DBStatementTimeout tune the PostgreSQL store pool (0:
	// the URL's values, else sqlstore's defaults).
	DBMaxConns         int
	DBStatementTimeout time.Duration
	// CacheBytes is api.Config.CacheBytes (0: its default; negative: off).
	CacheBytes int64
	// SyncWorkers, SyncUtilityLimit, SyncJobTimeout and SyncRetryMin are
	// syncer.Config's Workers, UtilityLimit, JobTimeout and RetryMin (0:
	// the syncer's defaults); SyncRescueAfter is the queue's RescueAfter.
	SyncWorkers, SyncUtilityLimit                 int
	SyncJobTimeout, SyncRetryMin, SyncRescueAfter time.Duration
	// SandboxSlowDelay is sandbox.Config.SlowDelay (0: its default).
	SandboxSlowDelay time.Duration
	// Connectors, when set, adds connectors to the registry (gridlink
	// dev's Demo Green Button Utility).
	Connectors func(connector.Registry) error
	// GreenButton lists utilities reached through their Green Button
	// Connect My Data endpoints (--greenbutton-utilities).
	GreenButton []greenButtonUtility
}

// serveApp wires every part together and serves until ctx ends, then shuts
// down gracefully: in-flight requests complete and running jobs finish or
// are re-queued, within 30 seconds.
func serveApp(ctx context.Context, cfg appConfig) error {
	logger := cfg.Logger
	st, err := openStoreWith(ctx, cfg.Database, sqlstore.Options{
		Logger: logger, MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := vault.New(rand.Reader, cfg.MasterKey)
	if err != nil {
		return err
	}
	authSvc, err := auth.New(st, v.DeriveKey("connect-token"), time.Now, rand.Reader)
	if err != nil {
		return err
	}
	cat := catalog.Default()
	connectors := connector.Registry{
		"sandbox":      sandbox.New(sandbox.Config{SlowDelay: cfg.SandboxSlowDelay}),
		"pelm-sandbox": sandbox.NewPelm(sandbox.Config{SlowDelay: cfg.SandboxSlowDelay}),
	}
	// One portal toolkit per process: its pacing and per-host concurrency
	// cap hold across every portal connector and sync.
	portals := portal.New(portal.Config{Logger: logger})
	if cfg.DemoUtilityURL != "" {
		dp, err := demopower.New(demopower.Config{BaseURL: cfg.DemoUtilityURL, Toolkit: portals, Logger: logger})
		if err != nil {
			return usagef("--demo-utility-url: %v", err)
		}
		connectors[catalog.ConnectorDemoPower] = dp
	}
	if cat, err = applyGreenButtonUtilities(cat, connectors, cfg.GreenButton, cfg); err != nil {
		return err
	}
	// Metrics: the syncer's gridlink_sync_* plus the Go runtime and
	// process collectors, served at GET /metrics.
	metrics := prometheus.NewRegistry()
	if err := metrics.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := metrics.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if cfg.Connectors != nil {
		if err := cfg.Connectors(connectors); err != nil {
			return err
		}
	}
	sy, err := syncer.New(syncer.Config{
		Store: st, Vault: v, Catalog: cat, Connectors: connectors, Logger: logger, Now: time.Now,
		Interval: cfg.SyncInterval, LookBack: cfg.SyncLookBack, Metrics: metrics,
		Workers: cfg.SyncWorkers, UtilityLimit: cfg.SyncUtilityLimit, JobTimeout: cfg.SyncJobTimeout,
		RetryMin: cfg.SyncRetryMin,
	})
	if err != nil {
		return err
	}
	path, _ := sqlitePath(cfg.Database)
	// SQLite file or PostgreSQL URL: on PostgreSQL every process serving
	// the same database works jobs from one shared queue.
	queue, err := syncer.OpenQueue(ctx, path, sy, logger, syncer.QueueOptions{RescueAfter: cfg.SyncRescueAfter})
	if err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	ui, err := connectui.New(connectui.Config{
		Store: st, Auth: authSvc, Vault: v, Catalog: cat, Connectors: connectors, Sync: queue, Ingest: sy,
		Logger: logger, Now: time.Now, Rand: rand.Reader, SecureCookies: cfg.SecureCookies,
	})
	if err != nil {
		return err
	}
	apiZone := api.New(api.Config{
		Auth: authSvc, Store: st, Catalog: cat, Logger: logger, Now: time.Now, Connectors: connectors,
		Sync: queue, CacheBytes: cfg.CacheBytes,
	})
	if err := apiZone.RegisterMetrics(metrics); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	mux := http.NewServeMux()
	apiZone.Register(mux)
	ui.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: metrics}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	if cfg.Extra != nil {
		cfg.Extra(mux)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           api.Handler(mux, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a large /intervals response streams for a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil { // stopped below, gracefully
		ln.Close()
		return fmt.Errorf("start job queue: %w", err)
	}
	logger.Info("gridlink listening", "addr", ln.Addr().String(), "database", dbLabel(cfg.Database))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		stopCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		queue.Stop(stopCtx)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	if err := queue.Stop(shutdownCtx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Warn("job queue shutdown", "err", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}
