// Package portal is the toolkit for connectors that log into a utility's
// customer website the way a person would: an HTTP session with a cookie
// jar that can be sealed and restored, polite request pacing and a per-host
// concurrency cap, retries of transient failures, a declarative sign-in
// flow with one-time codes (LoginFlow), HTML form and table helpers built
// on goquery, rules that map what a page says to the connector error
// kinds, validated downloads (CSV, Green Button XML, PDF), value parsing
// that reports a changed layout rather than guessing (Scan), and a
// record/replay transport that turns real exchanges into scrubbed test
// fixtures. docs/writing-a-connector.md walks through a connector built
// with it.
//
// One *Toolkit is shared by every portal connector of a process: the pacing
// and the concurrency cap are per host and hold across all sessions of all
// connectors that use it. Each login or fetch works in its own *Session.
//
// Errors returned by the toolkit are *connector.Error values whose Message
// is safe to show to the user; their Err carries detail for the logs (paths
// and statuses, never cookie values, passwords or query strings).
package portal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of Limits and Options.
const (
	DefaultMinInterval   = 250 * time.Millisecond
	DefaultMaxConcurrent = 2
	DefaultTimeout       = 30 * time.Second
	DefaultRetries       = 3
	DefaultBackoff       = 500 * time.Millisecond
	DefaultMaxRetryAfter = 10 * time.Second
	DefaultMaxBody       = 32 << 20
	DefaultUserAgent     = "Mozilla/5.0 (compatible; gridlink-portal/1; +https://github.com/gridlink/gridlink)"
	// maxBackoff caps one retry delay.
	maxBackoff = 30 * time.Second
)

// Limits is the politeness policy towards one host.
type Limits struct {
	// MinInterval is the least time between the starts of two requests to
	// the host (0: DefaultMinInterval; negative: no pacing).
	MinInterval time.Duration
	// MaxConcurrent is the most requests in flight to the host at once
	// (0: DefaultMaxConcurrent).
	MaxConcurrent int
}

func (l Limits) withDefaults() Limits {
	if l.MinInterval == 0 {
		l.MinInterval = DefaultMinInterval
	}
	if l.MinInterval < 0 {
		l.MinInterval = 0
	}
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	return l
}

// Config configures a Toolkit.
type Config struct {
	// HTTPClient provides the transport (and an overall Timeout, if set);
	// its Jar and CheckRedirect are not used: every session has its own.
	// nil: a client on http.DefaultTransport.
	HTTPClient *http.Client
	// Now is the clock (nil: time.Now). Cookie expiry and pacing use it.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() in the
	// latter case (nil: a real timer). Tests inject one that advances a
	// fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand is the source of retry jitter (nil: crypto/rand).
	Rand io.Reader
	// Logger receives retries and waits at debug level (nil: discard).
	Logger *slog.Logger
	// Limits is the policy for every host not in HostLimits.
	Limits Limits
	// HostLimits overrides Limits per host name (as in URL.Host).
	HostLimits map[string]Limits
}

// Toolkit holds what portal sessions share: the transport, the clock and
// the per-host pacing and concurrency state. It is safe for concurrent use.
type Toolkit struct {
	base    http.RoundTripper
	timeout time.Duration
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	log     *slog.Logger
	limits  Limits
	perHost map[string]Limits

	randMu sync.Mutex
	rand   io.Reader

	mu    sync.Mutex
	gates map[string]*gate
}

// New returns a Toolkit.
func New(cfg Config) *Toolkit {
	t := &Toolkit{
		base:    http.DefaultTransport,
		now:     cfg.Now,
		sleep:   cfg.Sleep,
		log:     cfg.Logger,
		rand:    cfg.Rand,
		limits:  cfg.Limits.withDefaults(),
		perHost: make(map[string]Limits, len(cfg.HostLimits)),
		gates:   map[string]*gate{},
	}
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			t.base = cfg.HTTPClient.Transport
		}
		t.timeout = cfg.HTTPClient.Timeout
	}
	for h, l := range cfg.HostLimits {
		t.perHost[strings.ToLower(h)] = l.withDefaults()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.sleep == nil {
		t.sleep = sleepCtx
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	return t
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// jitter returns a uniform value in [0, 1).
func (t *Toolkit) jitter() float64 {
	var b [8]byte
	t.randMu.Lock()
	_, err := io.ReadFull(t.rand, b[:])
	t.randMu.Unlock()
	if err != nil {
		return 0.5
	}
	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}

// backoff is the delay before retry number attempt (0-based): exponential
// from base, with "equal jitter" (half fixed, half random).
func (t *Toolkit) backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + time.Duration(t.jitter()*float64(d/2))
}

// gate is the pacing and concurrency state of one host.
type gate struct {
	slots    chan struct{}
	interval time.Duration

	mu   sync.Mutex
	next time.Time // earliest start of the next request
}

func (t *Toolkit) gate(host string) *gate {
	host = strings.ToLower(host)
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.gates[host]
	if !ok {
		l, ok := t.perHost[host]
		if !ok {
			l = t.limits
		}
		g = &gate{slots: make(chan struct{}, l.MaxConcurrent), interval: l.MinInterval}
		t.gates[host] = g
	}
	return g
}

// enter takes a concurrency slot for the host and then waits for the
// request's turn; the caller must call g.leave once done, if enter
// succeeded.
func (t *Toolkit) enter(ctx context.Context, g *gate) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	now := t.now()
	at := now
	if g.next.After(at) {
		at = g.next
	}
	g.next = at.Add(g.interval)
	g.mu.Unlock()
	if wait := at.Sub(now); wait > 0 {
		if err := t.sleep(ctx, wait); err != nil {
			<-g.slots
			return err
		}
	}
	return nil
}

func (g *gate) leave() { <-g.slots }

// hold delays every later request to the host until at least until (the
// host asked us to wait, e.g. with Retry-After).
func (g *gate) hold(until time.Time) {
	g.mu.Lock()
	if until.After(g.next) {
		g.next = until
	}
	g.mu.Unlock()
}

// transport paces requests and caps concurrency per host. A slot stays
// taken until the response body is closed.
type transport struct {
	tk   *Toolkit
	next http.RoundTripper
}

func (tr transport) RoundTrip(req *http.Request) (*http.Response, error) {
	g := tr.tk.gate(req.URL.Host)
	if err := tr.tk.enter(req.Context(), g); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := tr.next.RoundTrip(req)
	if err != nil {
		g.leave()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: g.leave}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
