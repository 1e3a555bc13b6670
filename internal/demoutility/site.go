// Package demoutility is "Demo Power & Light", a small but realistic
// utility customer website for developing and testing portal connectors
// (and for demos): server-rendered pages with a login protected by a CSRF
// token, optional one-time codes by text or e-mail (delivered to the
// site's /outbox page, a stand-in for a phone), "remember this device",
// several accounts per login, a usage page with CSV and Green Button
// downloads, bills with PDF statements, a password change, rate limiting
// with 429 pages, and switches that make it misbehave on purpose: random
// 503s (flaky), a maintenance page, and a redesign that changes its markup
// and files. The switches can be flipped at run time on /admin or with the
// Site's methods.
//
// All usage and bills are generated deterministically from the account
// and the time, relative to the injected clock. The site keeps its state
// (sessions, remembered devices, passwords, sent codes) in memory.
package demoutility

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"html/template"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the site's days are Mountain Time days on any host
)

// Name and Slug of the demo utility in gridlink's catalogue.
const (
	Name = "Demo Power & Light"
	Slug = "demo-power"
)

// Cookies the site sets.
const (
	SessionCookie = "dpl_session"
	DeviceCookie  = "dpl_device"
)

// Defaults of Config.
const (
	DefaultHistoryMonths = 13
	DefaultSessionTTL    = 20 * time.Minute
	DefaultDeviceTTL     = 30 * 24 * time.Hour
	// CodeTTL is how long a one-time code is valid.
	CodeTTL = 10 * time.Minute
	// MaxCodeAttempts is the number of wrong codes after which the sign-in
	// starts over.
	MaxCodeAttempts = 5
	// TimeZone is where the utility is: its days, months and bills.
	TimeZone = "America/Denver"
)

// RateLimit allows Requests per client address in each Window (fixed
// windows). A zero Requests means no limit.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// DefaultRateLimit is a limit a well-behaved connector never reaches and
// a runaway one does: `gridlink demo-utility` uses it.
func DefaultRateLimit() RateLimit { return RateLimit{Requests: 300, Window: time.Minute} }

// Config configures a Site.
type Config struct {
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Rand is the source of session ids, device tokens, one-time codes and
	// flaky failures (nil: crypto/rand).
	Rand io.Reader
	// Logger receives sign-ins and sent codes (never passwords or codes);
	// nil discards.
	Logger *slog.Logger
	// Flaky is the probability in [0, 1] that a request fails with 503.
	Flaky float64
	// Redesign serves the redesigned site: new markup on the bills page,
	// and usage files in Wh.
	Redesign bool
	// Maintenance answers every page with a maintenance notice (status
	// 200, as many real sites do).
	Maintenance bool
	// RateLimit limits requests per client address (zero: none).
	RateLimit RateLimit
	// HistoryMonths is how many whole months of history precede the
	// current one (0: DefaultHistoryMonths).
	HistoryMonths int
	// SessionTTL is the idle lifetime of a signed-in session
	// (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// DeviceTTL is how long "remember this device" lasts (0: DefaultDeviceTTL).
	DeviceTTL time.Duration
}

// Switches are the run-time settings of a Site.
type Switches struct {
	Flaky       float64
	Redesign    bool
	Maintenance bool
	RateLimit   RateLimit
}

// Stats counts what the site did.
type Stats struct {
	Requests      int // all requests
	RateLimited   int // answered 429
	Unavailable   int // answered 503 (flaky)
	SignIns       int // completed sign-ins
	FailedSignIns int // wrong username or password
	CodesSent     int
}

// Message is a one-time code the site "sent".
type Message struct {
	Time    time.Time
	User    string
	Channel string // MethodSMS or MethodEmail
	To      string
	Body    string
	Code    string
}

// Site is the demo utility website, an http.Handler. It is safe for
// concurrent use.
type Site struct {
	now        func() time.Time
	log        *slog.Logger
	loc        *time.Location
	months     int
	sessionTTL time.Duration
	deviceTTL  time.Duration
	mux        *http.ServeMux
	pages      map[string]*template.Template
	specs      map[string]userSpec
	// redesignOn is the redesign switch, read without s.mu by renders
	// (some of which run with s.mu held).
	redesignOn atomic.Bool

	mu        sync.Mutex
	rand      io.Reader
	sw        Switches
	passwords map[string]string
	sessions  map[string]*session
	devices   map[string]device
	outbox    []Message
	windows   map[string]window
	stats     Stats
}

// device is a remembered device.
type device struct {
	user    string
	expires time.Time
}

// window is a client's rate-limit window.
type window struct {
	start time.Time
	count int
}

// New returns a Site.
func New(cfg Config) *Site {
	s := &Site{
		now: cfg.Now, log: cfg.Logger, rand: cfg.Rand,
		months: cfg.HistoryMonths, sessionTTL: cfg.SessionTTL, deviceTTL: cfg.DeviceTTL,
		sw:        Switches{Flaky: clamp01(cfg.Flaky), Maintenance: cfg.Maintenance, RateLimit: cfg.RateLimit},
		specs:     map[string]userSpec{},
		passwords: map[string]string{},
		sessions:  map[string]*session{},
		devices:   map[string]device{},
		windows:   map[string]window{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.months <= 0 {
		s.months = DefaultHistoryMonths
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	if s.deviceTTL <= 0 {
		s.deviceTTL = DefaultDeviceTTL
	}
	loc, err := time.LoadLocation(TimeZone)
	if err != nil {
		loc = time.FixedZone("MST", -7*3600) // cannot happen: tzdata is linked in
	}
	s.loc = loc
	for _, u := range demoUsers() {
		s.specs[u.name] = u
		s.passwords[u.name] = u.password
	}
	s.redesignOn.Store(cfg.Redesign)
	s.pages = parseTemplates()
	s.routes()
	return s
}

func clamp01(p float64) float64 {
	if math.IsNaN(p) {
		return 0
	}
	return math.Min(1, math.Max(0, p))
}

// Switches returns the current run-time settings.
func (s *Site) Switches() Switches {
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.sw
	sw.Redesign = s.redesignOn.Load()
	return sw
}

// SetFlaky sets the probability of random 503s.
func (s *Site) SetFlaky(p float64) { s.mu.Lock(); s.sw.Flaky = clamp01(p); s.mu.Unlock() }

// SetRedesign turns the redesigned markup on or off.
func (s *Site) SetRedesign(on bool) { s.redesignOn.Store(on) }

// SetMaintenance turns the maintenance page on or off.
func (s *Site) SetMaintenance(on bool) { s.mu.Lock(); s.sw.Maintenance = on; s.mu.Unlock() }

// SetRateLimit replaces the rate limit (and starts new windows).
func (s *Site) SetRateLimit(rl RateLimit) {
	s.mu.Lock()
	s.sw.RateLimit = rl
	s.windows = map[string]window{}
	s.mu.Unlock()
}

// ExpireSessions signs everyone out (as a utility's nightly restart does).
// Remembered devices stay remembered.
func (s *Site) ExpireSessions() { s.mu.Lock(); clear(s.sessions); s.mu.Unlock() }

// ForgetDevices forgets every remembered device of user ("" for all):
// the next sign-in asks for a code again.
func (s *Site) ForgetDevices(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, d := range s.devices {
		if user == "" || d.user == user {
			delete(s.devices, tok)
		}
	}
}

// SetPassword changes a user's password as the password-change page does:
// the user's other sessions end and remembered devices are forgotten.
// It reports whether the user exists.
func (s *Site) SetPassword(user, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.passwords[user]; !ok {
		return false
	}
	s.changePasswordLocked(user, password, "")
	return true
}

func (s *Site) changePasswordLocked(user, password, keepSession string) {
	s.passwords[user] = password
	for id, ss := range s.sessions {
		if ss.user == user && id != keepSession {
			delete(s.sessions, id)
		}
	}
	for tok, d := range s.devices {
		if d.user == user {
			delete(s.devices, tok)
		}
	}
}

// ResetPasswords restores every demo password.
func (s *Site) ResetPasswords() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, u := range s.specs {
		s.passwords[name] = u.password
	}
}

// Outbox returns the codes sent, newest first.
func (s *Site) Outbox() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.outbox))
	for i, m := range s.outbox {
		out[len(out)-1-i] = m
	}
	return out
}

// LatestCode returns the newest code sent to user, if any.
func (s *Site) LatestCode(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.outbox) - 1; i >= 0; i-- {
		if s.outbox[i].User == user {
			return s.outbox[i].Code, true
		}
	}
	return "", false
}

// Stats returns the site's counters.
func (s *Site) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// token returns n random bytes as hex; s.mu must be held.
func (s *Site) tokenLocked(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		panic("demoutility: random source failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// uniformLocked returns a uniform value in [0, 1); s.mu must be held.
func (s *Site) uniformLocked() float64 {
	var b [8]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		panic("demoutility: random source failed: " + err.Error())
	}
	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}

// ServeHTTP serves the site: security headers on everything; then, except
// for the outbox, the admin page and the style sheet, the rate limit, the
// flaky failures and the maintenance page.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")

	exempt := r.URL.Path == "/outbox" || r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/assets/")
	s.mu.Lock()
	s.stats.Requests++
	sw := s.sw
	var retry time.Duration
	limited, flaky := false, false
	if !exempt {
		limited, retry = s.overLimitLocked(clientAddr(r))
		flaky = !limited && sw.Flaky > 0 && s.uniformLocked() < sw.Flaky
		switch {
		case limited:
			s.stats.RateLimited++
		case flaky:
			s.stats.Unavailable++
		}
	}
	s.mu.Unlock()

	switch {
	case limited:
		secs := int(math.Ceil(retry.Seconds()))
		h.Set("Retry-After", strconv.Itoa(max(1, secs)))
		s.render(w, r, http.StatusTooManyRequests, "error", view{Title: "Too many requests",
			Data: errorView{Heading: "Too many requests", Text: "You have made too many requests. Please wait " + strconv.Itoa(max(1, secs)) + " seconds and try again."}})
	case flaky:
		s.render(w, r, http.StatusServiceUnavailable, "error", view{Title: "Service unavailable",
			Data: errorView{Heading: "Service temporarily unavailable", Text: "Our website is having trouble right now. Please try again in a few minutes."}})
	case sw.Maintenance && !exempt:
		s.render(w, r, http.StatusOK, "maintenance", view{Title: "Scheduled maintenance"})
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// overLimitLocked counts a request of addr and reports whether it is over
// the limit, with the time until the window ends.
func (s *Site) overLimitLocked(addr string) (bool, time.Duration) {
	rl := s.sw.RateLimit
	if rl.Requests <= 0 || rl.Window <= 0 {
		return false, 0
	}
	now := s.now()
	win := s.windows[addr]
	if win.start.IsZero() || !now.Before(win.start.Add(rl.Window)) {
		win = window{start: now}
	}
	win.count++
	s.windows[addr] = win
	return win.count > rl.Requests, win.start.Add(rl.Window).Sub(now)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
