package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gridlink/gridlink/internal/demoutility"
)

// Demo Power & Light, the demo utility website (package demoutility).
const (
	// defaultDemoUtilityAddr is where `gridlink demo-utility` listens.
	defaultDemoUtilityAddr = ":8090"
	// demoUtilityAddrEnv is the environment twin of `gridlink demo-utility
	// --addr` and of `gridlink dev --demo-utility-addr`: not GRIDLINK_ADDR,
	// which is gridlink's own address.
	demoUtilityAddrEnv = "GRIDLINK_DEMO_UTILITY_ADDR"
	// demoUtilityPortOffset: gridlink dev serves the demo utility this
	// many ports above its own (8080: 8090) unless told otherwise.
	demoUtilityPortOffset = 10
)

// cmdDemoUtility runs Demo Power & Light on its own:
//
//	gridlink demo-utility [--addr :8090]
//
// and gridlink serve reaches it with --demo-utility-url.
func cmdDemoUtility(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("demo-utility", getenv, stderr)
	fs.twin("addr", demoUtilityAddrEnv)
	addr := fs.String("addr", defaultDemoUtilityAddr, "address to listen on")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	logger, err := newLogger(stderr, *logLevel, false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	site := demoutility.New(demoutility.Config{Logger: logger, RateLimit: demoutility.DefaultRateLimit()})
	base := localURL(ln.Addr())
	logger.Info("demo utility listening", "addr", ln.Addr().String(), "url", base)
	fmt.Fprintf(stdout, `
%[2]s, a demo utility website, is running at %[1]s
%[3]s
Point gridlink at it:
  gridlink serve --demo-utility-url %[1]s ...   (or GRIDLINK_DEMO_UTILITY_URL=%[1]s)
`, base, demoutility.Name, demoUtilityLogins(base))
	return serveDemoUtility(ctx, ln, site, logger)
}

// demoUtilityLogins is the part of a banner that lists the demo logins
// and the site's helper pages.
func demoUtilityLogins(base string) string {
	return fmt.Sprintf(`
  Logins (username / password):
    %s / %s   no code, one account
    %s / %s       a code by text, two accounts
    %s / %s   a code by text or e-mail, three accounts (gas and electric)
  The codes it "sends" are listed at %s/outbox
  Switches that make it misbehave (flaky, maintenance, redesign): %s/admin
`, demoutility.Alice, demoutility.AlicePassword, demoutility.Bob, demoutility.BobPassword,
		demoutility.Carol, demoutility.CarolPassword, base, base)
}

// serveDemoUtility serves site on ln until ctx ends, then shuts down
// gracefully: in-flight requests get 10 seconds to complete.
func serveDemoUtility(ctx context.Context, ln net.Listener, site http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           site,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("demo utility: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("demo utility: http shutdown", "err", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo utility: serve: %w", err)
	}
	logger.Info("demo utility stopped")
	return nil
}

// localURL is the http:// URL of a listening address, as a browser on this
// machine reaches it: an unspecified host (":8090") is localhost.
func localURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// devDemoUtilityAddr is gridlink dev's default address for the demo
// utility: its own host, demoUtilityPortOffset ports up (a random port when
// gridlink dev's own is random or too high).
func devDemoUtilityAddr(devAddr string) string {
	host, port, err := net.SplitHostPort(devAddr)
	if err != nil {
		return defaultDemoUtilityAddr
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 || p+demoUtilityPortOffset > 65535 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+demoUtilityPortOffset))
}

// checkDemoUtilityURL validates --demo-utility-url: an absolute http(s)
// URL of a site root.
func checkDemoUtilityURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return usagef("--demo-utility-url %q: want the demo utility's address, e.g. http://localhost:8090", raw)
	}
	return nil
}
