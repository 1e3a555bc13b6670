// Package demo is the demo app of gridlink dev, served at /demo: a page that
// plays the part of a developer's app. Its server side works as a real
// backend would, through the public API over HTTP with the development
// client's id and secret: it creates a connect token, the page opens Connect
// through /initialize.js (window.PelmConnect), and after onSuccess the
// server exchanges the code and shows the user's accounts, a usage chart per
// meter (server-rendered SVG), the bills with their PDFs, and the raw JSON
// and an equivalent curl command for every call it made.
//
// The demo keeps its sessions (which browser holds which access token) in
// memory; it is a development tool, not a template for storing tokens.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the demo needs.
type Config struct {
	// BaseURL is gridlink's base URL as the demo's backend reaches it, e.g.
	// http://localhost:8080. Required.
	BaseURL string
	// ClientID and ClientSecret are the credentials of the client the demo
	// plays (gridlink dev's development client). Required.
	ClientID     string
	ClientSecret string
	// HTTPClient makes the API calls. Nil: a client with a 60-second timeout.
	HTTPClient *http.Client
	// Logger receives operational events; never secrets. Nil: discard.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Rand is the source of demo session ids and user ids. Nil: crypto/rand.
	Rand io.Reader
}

// Demo is the demo app. Create it with New and mount it with Register.
type Demo struct {
	base         string
	clientID     string
	clientSecret string
	http         *http.Client
	log          *slog.Logger
	now          func() time.Time
	rand         io.Reader
	pages        map[string]*template.Template
	static       fs.FS
	csrf         *http.CrossOriginProtection

	mu       sync.Mutex
	sessions map[string]*session
}

// maxSessions bounds the demo's memory; the oldest session goes first.
const maxSessions = 1000

// session is one browser's state in the demo.
type session struct {
	id          string
	userID      string
	accessToken string
	connectedAt time.Time
	created     time.Time
	// exchange is the code exchange call, shown on the dashboard.
	exchange *call
}

// New checks cfg and returns the demo.
func New(cfg Config) (*Demo, error) {
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("demo: Config.BaseURL %q must be an http(s) URL", cfg.BaseURL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("demo: Config.ClientID and ClientSecret are required")
	}
	d := &Demo{
		base: base, clientID: cfg.ClientID, clientSecret: cfg.ClientSecret,
		http: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, rand: cfg.Rand,
		sessions: map[string]*session{},
	}
	if d.http == nil {
		d.http = &http.Client{Timeout: 60 * time.Second}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	d.pages = pages
	if d.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, fmt.Errorf("demo: static files: %w", err)
	}
	d.csrf = http.NewCrossOriginProtection()
	return d, nil
}

// Register mounts the demo on mux:
//
//	GET  /demo                     the app's page: a fresh connect token and the Connect button
//	POST /demo/exchange            onSuccess posts the code here; 303 to the dashboard
//	GET  /demo/dashboard           accounts, charts (?view=hourly|daily&from=&to=), bills, raw calls
//	GET  /demo/bills/{id}/pdf      a bill's PDF, fetched with the user's access token
//	POST /demo/reset               forget this browser's demo user
//	GET  /demo/static/             the page's stylesheet and script
func (d *Demo) Register(mux *http.ServeMux) {
	mux.Handle("GET /demo", d.handle(d.home))
	mux.Handle("GET /demo/{$}", http.RedirectHandler("/demo", http.StatusSeeOther))
	mux.Handle("POST /demo/exchange", d.csrf.Handler(d.handle(d.exchange)))
	mux.Handle("GET /demo/dashboard", d.handle(d.dashboard))
	mux.Handle("GET /demo/bills/{id}/pdf", d.handle(d.billPDF))
	mux.Handle("POST /demo/reset", d.csrf.Handler(d.handle(d.reset)))
	files := http.StripPrefix("/demo/static/", http.FileServerFS(d.static))
	mux.Handle("GET /demo/static/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
}

// pageError is a failure shown to the demo's user as a page.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// handle adapts an error-returning handler.
func (d *Demo) handle(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var pe *pageError
		if !errors.As(err, &pe) {
			d.log.ErrorContext(r.Context(), "demo: request failed", "path", r.URL.Path, "err", err)
			pe = &pageError{http.StatusBadGateway, "The demo could not reach gridlink's API: " + err.Error()}
		}
		d.render(w, pe.status, "error", map[string]any{"Title": "Demo error", "Message": pe.msg})
	})
}

// setHeaders: the demo page may load gridlink's widget script and frame
// Connect from its own origin (the demo is served by gridlink itself), and
// nothing else.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (d *Demo) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := d.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.log.Error("demo: render", "page", page, "err", err)
		setHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<!doctype html><title>Demo error</title><p>The demo page could not be drawn.</p>")
		return
	}
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

const cookieName = "gl_demo"

func (d *Demo) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(d.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// session returns this browser's demo session, creating it (and its
// cookie) when create is set.
func (d *Demo) session(w http.ResponseWriter, r *http.Request, create bool) (*session, error) {
	if c, err := r.Cookie(cookieName); err == nil {
		d.mu.Lock()
		s := d.sessions[c.Value]
		d.mu.Unlock()
		if s != nil {
			return s, nil
		}
	}
	if !create {
		return nil, nil
	}
	id, err := d.randomHex(16)
	if err != nil {
		return nil, err
	}
	user, err := d.randomHex(4)
	if err != nil {
		return nil, err
	}
	s := &session{id: id, userID: "demo-user-" + user, created: d.now()}
	d.mu.Lock()
	if len(d.sessions) >= maxSessions {
		var oldest *session
		for _, o := range d.sessions {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(d.sessions, oldest.id)
	}
	d.sessions[id] = s
	d.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/demo", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 24 * 3600})
	return s, nil
}

// call is one API call as the page shows it.
type call struct {
	Method string
	Path   string
	Status int
	Curl   string
	// Body is the response, indented when it is JSON, cut when long.
	Body string
}

// maxShownBody caps the raw JSON shown for one call.
const maxShownBody = 64 << 10

// apiError is a JSON API error answer.
type apiError struct {
	Status int
	Code   string `json:"error_code"`
	Msg    string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Msg) }

// api calls gridlink's API as the developer's backend: client headers, the
// user's bearer token when given, a urlencoded form for POSTs. It decodes a
// 2xx JSON answer into out and returns the call for display; a JSON error
// answer is an *apiError.
func (d *Demo) api(ctx context.Context, method, path string, form url.Values, bearer string, out any) (*call, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Pelm-Client-Id", d.clientID)
	req.Header.Set("Pelm-Secret", d.clientSecret)
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	c := &call{Method: method, Path: path, Status: resp.StatusCode, Curl: d.curl(method, path, form, bearer != ""), Body: shown(raw)}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code, e.Msg = "unexpected_answer", strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		}
		return c, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return c, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return c, nil
}

// shown is a response body as displayed: indented JSON, cut when long.
func shown(raw []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	if buf.Len() > maxShownBody {
		return buf.String()[:maxShownBody] + fmt.Sprintf("\n… (%d more bytes not shown)", buf.Len()-maxShownBody)
	}
	return buf.String()
}

// curl is the shell command equivalent to a call. The secret and the access
// token are shell variables, set by the page's "shell setup" block.
func (d *Demo) curl(method, path string, form url.Values, bearer bool) string {
	var b strings.Builder
	b.WriteString("curl -s")
	if method != http.MethodGet {
		b.WriteString(" -X " + method)
	}
	b.WriteString(" " + shellQuote(d.base+path) + " \\\n  -H " + shellQuote("Pelm-Client-Id: "+d.clientID) + ` -H "Pelm-Secret: $PELM_SECRET"`)
	if bearer {
		b.WriteString(` \` + "\n" + `  -H "Authorization: Bearer $ACCESS_TOKEN"`)
	}
	for _, k := range sortedKeys(form) {
		for _, v := range form[k] {
			b.WriteString(" \\\n  -d " + shellQuote(k+"="+v))
		}
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func sortedKeys(v url.Values) []string { return slices.Sorted(maps.Keys(v)) }
