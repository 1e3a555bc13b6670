// Package espicustodian is "Demo Green Button Utility", a small but real
// Green Button Connect My Data data custodian for development and tests:
// an OAuth 2.0 authorization server (RFC 6749 authorization-code and
// refresh-token grants, confidential clients authenticated with HTTP
// Basic) and an ESPI resource server that serves real Green Button files.
//
// Endpoints, relative to where the handler is mounted:
//
//	GET  /oauth/authorize   response_type=code, client_id, redirect_uri
//	                        (exact match), scope, state: the customer's
//	                        login page, then the consent page
//	POST /oauth/login       the login form
//	GET  /oauth/consent     the consent page (signed in)
//	POST /oauth/consent     Authorize or Deny: 302 to redirect_uri with
//	                        code and state, or error=access_denied
//	POST /oauth/token       grant_type authorization_code or refresh_token;
//	                        JSON answer with access_token, refresh_token,
//	                        expires_in, scope, resourceURI and
//	                        authorizationURI as ESPI data custodians send
//	GET  /espi/1_1/resource/Batch/Subscription/{id}
//	                        the subscription's full feed (Bearer token),
//	                        optionally filtered by published-min and
//	                        published-max
//	GET  /espi/1_1/resource/Subscription/{id}/UsagePoint
//	                        the subscription's UsagePoint entries
//
// Each demo customer is a login (DefaultCustomers: gbuser1, gbuser2,
// gbuser3, password "<user>-password") mapped to one or more of the
// embedded sample files (data/, listed in data/SOURCES.md). The feeds are
// the files' own bytes: a subscription of one file is served exactly as
// the utility published it, and the entries of several files are served
// under one new feed element. published-min and published-max filter
// IntervalBlock entries by their interval (a block that ends at or before
// published-min, or starts at or after published-max, is left out); other
// resources are always served, and a file whose readings are all in one
// block is served whole.
//
// Codes are single use (a replayed code revokes the tokens issued from
// it), refresh tokens rotate (the old one stops working), access tokens
// last an hour by default. Tokens, codes and sessions are kept in memory,
// as SHA-256 digests: restarting the custodian forgets every
// authorization. Revoke, RevokeCustomer and SetFault let tests and
// demos withdraw an authorization or make the utility fail.
package espicustodian

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Name and Slug of the utility in gridlink's catalogue.
const (
	Name = "Demo Green Button Utility"
	Slug = "demo-greenbutton"
)

// Defaults of Config.
const (
	DefaultAccessTTL  = time.Hour
	DefaultRefreshTTL = 180 * 24 * time.Hour
	DefaultCodeTTL    = 10 * time.Minute
	// SessionTTL is the idle lifetime of a customer's signed-in session
	// and of a pending authorization request.
	SessionTTL = 30 * time.Minute
	// DefaultScope is an ESPI function-block scope: hourly interval data,
	// usage summaries, 13 months of history.
	DefaultScope = "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000"
	// SessionCookie is the customer's session cookie.
	SessionCookie = "gbc_session"
)

//go:embed data/*.xml
var embedded embed.FS

// SampleFiles returns the embedded sample files (data/*.xml, described in
// data/SOURCES.md), for Config.Files.
func SampleFiles() fs.FS {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		panic(err) // "data" is a literal directory of the embed
	}
	return sub
}

// Customer is a demo customer's login at the utility and the files that
// hold its data.
type Customer struct {
	Username string
	Password string
	// Name is shown on the consent page.
	Name string
	// Files are paths in Config.Files; several are served as one feed.
	Files []string
}

// DefaultCustomers returns the demo logins (all with password
// "<username>-password"):
//
//   - gbuser1: PG&E residential E6 time-of-use, a year of hourly readings
//     in one IntervalBlock (9,502 readings);
//   - gbuser2: the Green Button Alliance "Coastal Multi Family" sample, a
//     year of hourly readings (8,760) with a usage summary;
//   - gbuser3: the Green Button SDK's electric and natural gas monthly
//     readings of one retail customer, with usage summaries (14 + 13).
func DefaultCustomers() []Customer {
	return []Customer{
		{Username: "gbuser1", Password: "gbuser1-password", Name: "Pat Example (residential, time of use)",
			Files: []string{"pge-electric-hourly-1year-2011-2012-e6-tou.xml"}},
		{Username: "gbuser2", Password: "gbuser2-password", Name: "Coastal Multi Family",
			Files: []string{"gba-sample-coastal-multi-family-hourly-2011.xml"}},
		{Username: "gbuser3", Password: "gbuser3-password", Name: "Sam Example (electricity and gas)",
			Files: []string{"gba-sdk-electric-monthly-only-2011-2012.xml", "gba-sdk-gas-monthly-therms-2011-2012.xml"}},
	}
}

// Client is a registered third party (gridlink).
type Client struct {
	ID     string
	Secret string
	// Name is shown on the consent page.
	Name string
	// RedirectURIs are compared exactly with the redirect_uri of
	// authorization and token requests.
	RedirectURIs []string
}

// Config configures a Custodian.
type Config struct {
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Rand is the source of tokens, codes and ids (nil: crypto/rand).
	Rand io.Reader
	// Logger receives sign-ins, grants and refusals (never secrets); nil
	// discards.
	Logger *slog.Logger
	// Files holds the customers' ESPI files (nil: SampleFiles()).
	Files fs.FS
	// Customers are the logins (nil: DefaultCustomers()).
	Customers []Customer
	// Clients are the registered third parties.
	Clients []Client
	// BaseURL is the absolute URL the handler is reached at (e.g.
	// "http://localhost:8080/demo-greenbutton"), used in the resourceURI
	// and authorizationURI of token responses. Empty: derived from each
	// request (scheme, Host and the prefix stripped before the handler).
	BaseURL string
	// AccessTTL, RefreshTTL and CodeTTL are the lifetimes of access tokens,
	// refresh tokens and authorization codes (0: the defaults).
	AccessTTL, RefreshTTL, CodeTTL time.Duration
}

// Custodian is the data custodian, an http.Handler. It is safe for
// concurrent use.
type Custodian struct {
	now        func() time.Time
	rand       io.Reader
	log        *slog.Logger
	baseURL    string
	accessTTL  time.Duration
	refreshTTL time.Duration
	codeTTL    time.Duration
	customers  map[string]*customerData
	order      []string // usernames in configuration order
	clients    map[string]Client
	mux        *http.ServeMux

	mu       sync.Mutex
	pending  map[string]*authRequest // by request id
	sessions map[string]*session     // by digest of the cookie value
	codes    map[string]*grantCode   // by digest
	access   map[string]*token       // by digest
	refresh  map[string]*token       // by digest
	subs     map[string]*subscription
	fault    int
}

// customerData is a customer with its indexed files.
type customerData struct {
	Customer
	files []*feedFile
}

// authRequest is an authorization request awaiting login and consent.
type authRequest struct {
	id, clientID, redirectURI, scope, state string
	expires                                 time.Time
}

// session is a customer signed in to the utility's pages.
type session struct {
	user    string
	csrf    string
	expires time.Time
}

// grantCode is an authorization code.
type grantCode struct {
	clientID, redirectURI, sub string
	expires                    time.Time
	used                       bool
}

// token is an access or refresh token.
type token struct {
	sub, clientID string
	expires       time.Time
	fromCode      string // digest of the code it came from
}

// subscription is one authorization of a client by a customer.
type subscription struct {
	id, user, clientID, scope string
	revoked                   bool
}

// New returns a Custodian. It reads and indexes the customers' files and
// fails on a file that is missing or not an Atom feed, on customers or
// clients without an id, and on several files of one customer that
// declare one namespace prefix differently.
func New(cfg Config) (*Custodian, error) {
	c := &Custodian{
		now: cfg.Now, rand: cfg.Rand, log: cfg.Logger,
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		accessTTL:  cfg.AccessTTL,
		refreshTTL: cfg.RefreshTTL,
		codeTTL:    cfg.CodeTTL,
		customers:  map[string]*customerData{},
		clients:    map[string]Client{},
		pending:    map[string]*authRequest{},
		sessions:   map[string]*session{},
		codes:      map[string]*grantCode{},
		access:     map[string]*token{},
		refresh:    map[string]*token{},
		subs:       map[string]*subscription{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.accessTTL <= 0 {
		c.accessTTL = DefaultAccessTTL
	}
	if c.refreshTTL <= 0 {
		c.refreshTTL = DefaultRefreshTTL
	}
	if c.codeTTL <= 0 {
		c.codeTTL = DefaultCodeTTL
	}
	files := cfg.Files
	if files == nil {
		files = SampleFiles()
	}
	customers := cfg.Customers
	if customers == nil {
		customers = DefaultCustomers()
	}
	indexed := map[string]*feedFile{}
	for _, cu := range customers {
		if cu.Username == "" || len(cu.Files) == 0 {
			return nil, fmt.Errorf("espicustodian: customer %q needs a username and at least one file", cu.Username)
		}
		if _, dup := c.customers[cu.Username]; dup {
			return nil, fmt.Errorf("espicustodian: customer %q listed twice", cu.Username)
		}
		cd := &customerData{Customer: cu}
		for _, name := range cu.Files {
			f, ok := indexed[name]
			if !ok {
				data, err := fs.ReadFile(files, name)
				if err != nil {
					return nil, fmt.Errorf("espicustodian: customer %q: %w", cu.Username, err)
				}
				if f, err = indexFeed(name, data); err != nil {
					return nil, err
				}
				indexed[name] = f
			}
			cd.files = append(cd.files, f)
		}
		if _, err := mergedNamespaces(cd.files); err != nil {
			return nil, fmt.Errorf("espicustodian: customer %q: %w", cu.Username, err)
		}
		c.customers[cu.Username] = cd
		c.order = append(c.order, cu.Username)
	}
	for _, cl := range cfg.Clients {
		if cl.ID == "" || cl.Secret == "" || len(cl.RedirectURIs) == 0 {
			return nil, fmt.Errorf("espicustodian: client %q needs an id, a secret and a redirect URI", cl.ID)
		}
		c.clients[cl.ID] = cl
	}
	c.routes()
	return c, nil
}

func (c *Custodian) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.home)
	mux.HandleFunc("GET /oauth/authorize", c.authorize)
	mux.HandleFunc("POST /oauth/login", c.login)
	mux.HandleFunc("GET /oauth/consent", c.consentPage)
	mux.HandleFunc("POST /oauth/consent", c.consent)
	mux.HandleFunc("POST /oauth/token", c.faulty(c.tokenEndpoint))
	mux.HandleFunc("GET /espi/1_1/resource/Batch/Subscription/{id}", c.faulty(c.batch))
	mux.HandleFunc("GET /espi/1_1/resource/Subscription/{id}/UsagePoint", c.faulty(c.usagePoints))
	c.mux = mux
}

// ServeHTTP serves the custodian's pages, OAuth endpoints and ESPI
// resources.
func (c *Custodian) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	c.mux.ServeHTTP(w, r)
}

// SetFault makes the token and resource endpoints answer with status (for
// example 503 or 429, with Retry-After: 60) instead of working; 0 restores
// normal service.
func (c *Custodian) SetFault(status int) {
	c.mu.Lock()
	c.fault = status
	c.mu.Unlock()
}

// faulty wraps an endpoint with the fault switch.
func (c *Custodian) faulty(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		status := c.fault
		c.mu.Unlock()
		if status != 0 {
			w.Header().Set("Retry-After", "60")
			resourceError(w, status, "temporarily_unavailable", http.StatusText(status))
			return
		}
		h(w, r)
	}
}

// Revoke withdraws the authorization of subscription id, as a customer
// does on the utility's website: its tokens stop working. It reports
// whether the subscription existed.
func (c *Custodian) Revoke(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.subs[id]
	if !ok {
		return false
	}
	c.revokeLocked(s)
	return true
}

// RevokeCustomer withdraws every authorization of a customer and returns
// how many there were.
func (c *Custodian) RevokeCustomer(username string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.subs {
		if s.user == username && !s.revoked {
			c.revokeLocked(s)
			n++
		}
	}
	return n
}

func (c *Custodian) revokeLocked(s *subscription) {
	s.revoked = true
	for k, t := range c.access {
		if t.sub == s.id {
			delete(c.access, k)
		}
	}
	for k, t := range c.refresh {
		if t.sub == s.id {
			delete(c.refresh, k)
		}
	}
	c.log.Info("authorization revoked", "subscription", s.id, "customer", s.user)
}

// randomToken returns n random bytes, hex encoded.
func (c *Custodian) randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		return "", fmt.Errorf("espicustodian: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// digest is the map key of a secret value.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// purgeLocked drops expired pending requests, sessions, codes and tokens.
func (c *Custodian) purgeLocked(now time.Time) {
	for k, v := range c.pending {
		if !now.Before(v.expires) {
			delete(c.pending, k)
		}
	}
	for k, v := range c.sessions {
		if !now.Before(v.expires) {
			delete(c.sessions, k)
		}
	}
	for k, v := range c.codes {
		// Used codes are kept until they expire, to detect replays.
		if !now.Before(v.expires) {
			delete(c.codes, k)
		}
	}
	for k, v := range c.access {
		if !now.Before(v.expires) {
			delete(c.access, k)
		}
	}
	for k, v := range c.refresh {
		if !now.Before(v.expires) {
			delete(c.refresh, k)
		}
	}
}

// base returns the absolute URL of the handler's root for r.
func (c *Custodian) base(r *http.Request) string {
	if c.baseURL != "" {
		return c.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// r.URL.Path had the mount prefix stripped; RequestURI did not.
	prefix := strings.SplitN(r.RequestURI, "?", 2)[0]
	prefix = strings.TrimSuffix(prefix, r.URL.Path)
	return scheme + "://" + r.Host + prefix
}
