// Package gbconnect is the Green Button Connect My Data connector: it
// reaches a utility that publishes ESPI data through OAuth 2.0, as a
// third party the customer authorizes on the utility's own website (no
// password is typed into gridlink).
//
// One Config describes one utility: its authorization and token
// endpoints, the client id and secret gridlink was registered with, and
// the scope to ask for. The connector implements connector.OAuth:
// AuthorizeURL sends the browser to the utility, CompleteOAuth exchanges
// the code the utility sends back for the token set (access token,
// refresh token, expiry, the subscription's resourceURI), which becomes
// the sealed Login.Session. Fetch refreshes the access token when it has
// expired (the rotated token set goes back in Data.Session, also when the
// fetch then fails), downloads the subscription's Batch feed (with
// published-min when the sync asks for recent data only), and converts it
// with internal/greenbutton.
//
// Failures map to connector kinds: a refused code or refresh token
// (invalid_grant) and a 401 or 403 after refreshing are
// KindBadCredentials (the customer revoked the authorization: the user
// must connect again); 429 is KindRateLimited; 5xx, network errors and
// timeouts are KindUnavailable; a feed that is not Green Button data, and
// other unexpected answers, are KindLayoutChanged; a refused client
// registration (invalid_client) is KindInternal.
package gbconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/greenbutton"
)

// Defaults and limits.
const (
	// DefaultMaxFeedBytes bounds a downloaded feed.
	DefaultMaxFeedBytes = 256 << 20
	// DefaultTimeout is the timeout of the default HTTP client.
	DefaultTimeout = 5 * time.Minute
	// expirySkew refreshes an access token this long before it expires.
	expirySkew = time.Minute
	// maxTokenBody bounds a token endpoint answer.
	maxTokenBody = 64 << 10
)

// Config describes one utility's Green Button Connect My Data service.
type Config struct {
	// Name is the utility's name, used in messages to the user.
	Name string
	// AuthorizeURL is the OAuth authorization endpoint (the utility's
	// login and consent page).
	AuthorizeURL string
	// TokenURL is the OAuth token endpoint.
	TokenURL string
	// ResourceURL is the ESPI resource base, e.g.
	// "https://utility.example/DataCustodian/espi/1_1/resource". It
	// resolves a relative resourceURI in token answers; when a token
	// answer has none, the connector cannot fetch and the authorization
	// fails. Optional.
	ResourceURL string
	// ClientID and ClientSecret are gridlink's registration with the
	// utility (sent with HTTP Basic, client_secret_basic).
	ClientID     string
	ClientSecret string
	// Scope is the ESPI scope to request (e.g.
	// "FB=1_3_4_5_13_14_39;IntervalDuration=3600;BlockDuration=monthly;HistoryLength=34128000").
	// Empty: none is sent and the utility applies its default.
	Scope string
	// HTTPClient makes the requests (nil: a client with DefaultTimeout).
	HTTPClient *http.Client
	// Now is the clock of CompleteOAuth (nil: time.Now); Fetch uses
	// FetchRequest.Now.
	Now func() time.Time
	// Logger receives refreshes and failures, never tokens (nil: discard).
	Logger *slog.Logger
	// MaxFeedBytes bounds a feed (0: DefaultMaxFeedBytes).
	MaxFeedBytes int64
}

// Connector is one utility's Green Button Connect My Data connector. It
// is safe for concurrent use.
type Connector struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

var (
	_ connector.Connector = (*Connector)(nil)
	_ connector.OAuth     = (*Connector)(nil)
)

// New checks cfg and returns the connector.
func New(cfg Config) (*Connector, error) {
	if cfg.Name == "" {
		return nil, errors.New("gbconnect: Name is required")
	}
	for name, v := range map[string]string{"AuthorizeURL": cfg.AuthorizeURL, "TokenURL": cfg.TokenURL} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("gbconnect: %s: %s %q is not an absolute http(s) URL", cfg.Name, name, v)
		}
	}
	if cfg.ResourceURL != "" {
		if u, err := url.Parse(cfg.ResourceURL); err != nil || u.Host == "" {
			return nil, fmt.Errorf("gbconnect: %s: ResourceURL %q is not an absolute URL", cfg.Name, cfg.ResourceURL)
		}
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("gbconnect: %s: ClientID and ClientSecret are required", cfg.Name)
	}
	c := &Connector{cfg: cfg, client: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger}
	if c.client == nil {
		c.client = &http.Client{Timeout: DefaultTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cfg.MaxFeedBytes <= 0 {
		c.cfg.MaxFeedBytes = DefaultMaxFeedBytes
	}
	return c, nil
}

// tokenSet is the session: the utility's tokens for one subscription.
type tokenSet struct {
	V            int    `json:"v"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// Expiry of the access token, epoch seconds (0: unknown).
	Expiry           int64  `json:"expiry,omitempty"`
	ResourceURI      string `json:"resource_uri"`
	AuthorizationURI string `json:"authorization_uri,omitempty"`
	Scope            string `json:"scope,omitempty"`
	Subscription     string `json:"subscription,omitempty"`
}

func (ts tokenSet) encode() []byte {
	b, err := json.Marshal(ts)
	if err != nil {
		panic(err) // strings and ints always marshal
	}
	return b
}

func decodeSession(b []byte) (tokenSet, bool) {
	var ts tokenSet
	if len(b) == 0 || json.Unmarshal(b, &ts) != nil || ts.V != 1 || ts.AccessToken == "" || ts.ResourceURI == "" {
		return tokenSet{}, false
	}
	return ts, true
}

// expired reports whether the access token must be refreshed at now.
func (ts tokenSet) expired(now time.Time) bool {
	return ts.Expiry != 0 && !now.Add(expirySkew).Before(time.Unix(ts.Expiry, 0))
}

// Login refuses passwords: the customer authorizes gridlink on the
// utility's website (connector.OAuth).
func (c *Connector) Login(ctx context.Context, _ connector.Credentials) (connector.Login, error) {
	return connector.Login{}, c.reconnect()
}

// reconnect is the error of a login that only the utility's website can
// (re)establish.
func (c *Connector) reconnect() *connector.Error {
	return connector.Errorf(connector.KindBadCredentials,
		"%s connects through its own website: choose \u201cContinue to %s\u201d to sign in there and authorize access.", c.cfg.Name, c.cfg.Name)
}

// AuthorizeURL returns the utility's authorization page for this request
// (RFC 6749 4.1.1).
func (c *Connector) AuthorizeURL(state, redirectURI string) (string, error) {
	if state == "" || redirectURI == "" {
		return "", errors.New("gbconnect: state and redirect URI are required")
	}
	u, err := url.Parse(c.cfg.AuthorizeURL)
	if err != nil {
		return "", fmt.Errorf("gbconnect: authorize URL: %w", err)
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", c.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	if c.cfg.Scope != "" {
		q.Set("scope", c.cfg.Scope)
	}
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// CompleteOAuth exchanges an authorization code for the token set, which
// becomes Login.Session; Login.Username is the subscription id.
func (c *Connector) CompleteOAuth(ctx context.Context, code, redirectURI string) (connector.Login, error) {
	if code == "" {
		return connector.Login{}, connector.Errorf(connector.KindBadCredentials, "%s did not authorize access. Please try again.", c.cfg.Name)
	}
	ts, err := c.tokenRequest(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}, tokenSet{V: 1}, c.now())
	if err != nil {
		return connector.Login{}, err
	}
	c.log.Info("green button authorization completed", "utility", c.cfg.Name, "subscription", ts.Subscription)
	return connector.Login{Session: ts.encode(), Username: ts.Subscription}, nil
}

// tokenAnswer is the token endpoint's JSON (RFC 6749 5.1 and 5.2, with
// ESPI's resourceURI and authorizationURI).
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.Number     `json:"expires_in"`
	RefreshToken     string          `json:"refresh_token"`
	Scope            string          `json:"scope"`
	ResourceURI      string          `json:"resourceURI"`
	AuthorizationURI string          `json:"authorizationURI"`
	Error            string          `json:"error"`
	ErrorDescription json.RawMessage `json:"error_description"`
}

// tokenRequest posts a grant to the token endpoint and returns prev
// updated with the answer.
func (c *Connector) tokenRequest(ctx context.Context, form url.Values, prev tokenSet, now time.Time) (tokenSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return prev, fmt.Errorf("gbconnect: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 2.3.1: the id and secret are form-encoded, then Basic.
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	resp, err := c.client.Do(req)
	if err != nil {
		return prev, c.unavailable("token request", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return prev, c.unavailable("token answer", err)
	}
	var ans tokenAnswer
	jsonErr := json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return prev, c.rateLimited(resp)
	case resp.StatusCode >= 500:
		return prev, &connector.Error{Kind: connector.KindUnavailable, Message: c.msgUnavailable(),
			Err: fmt.Errorf("token endpoint answered %d", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		if jsonErr == nil {
			switch ans.Error {
			case "invalid_grant":
				return prev, &connector.Error{Kind: connector.KindBadCredentials,
					Message: fmt.Sprintf("%s no longer accepts this authorization (it expired or was revoked). Please connect again.", c.cfg.Name),
					Err:     fmt.Errorf("token endpoint: invalid_grant")}
			case "invalid_client", "unauthorized_client":
				return prev, &connector.Error{Kind: connector.KindInternal,
					Message: fmt.Sprintf("%s refused gridlink's registration. Please try again later.", c.cfg.Name),
					Err:     fmt.Errorf("token endpoint: %s (check the client id and secret)", ans.Error)}
			}
		}
		return prev, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(),
			Err: fmt.Errorf("token endpoint answered %d (error %q)", resp.StatusCode, truncate(ans.Error))}
	case jsonErr != nil || len(body) > maxTokenBody || ans.AccessToken == "" || (ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer")):
		return prev, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(),
			Err: errors.New("token endpoint answer is not an RFC 6749 bearer token")}
	}
	ts := prev
	ts.V = 1
	ts.AccessToken = ans.AccessToken
	if ans.RefreshToken != "" {
		ts.RefreshToken = ans.RefreshToken
	}
	ts.Expiry = 0
	if n, err := ans.ExpiresIn.Int64(); err == nil && n > 0 {
		ts.Expiry = now.Add(time.Duration(n) * time.Second).Unix()
	}
	if ans.Scope != "" {
		ts.Scope = ans.Scope
	}
	if ans.AuthorizationURI != "" {
		ts.AuthorizationURI = ans.AuthorizationURI
	}
	if ans.ResourceURI != "" {
		batch, sub, err := c.batchURI(ans.ResourceURI)
		if err != nil {
			return prev, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(), Err: err}
		}
		ts.ResourceURI, ts.Subscription = batch, sub
	}
	if ts.ResourceURI == "" {
		return prev, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(),
			Err: errors.New("token answer has no resourceURI")}
	}
	return ts, nil
}

// batchURI turns a token answer's resourceURI into the subscription's
// Batch URI (".../resource/Batch/Subscription/{id}") and returns the
// subscription id. A relative URI is resolved against ResourceURL (else
// TokenURL); a "Subscription/{id}/..." URI becomes the Batch URI.
func (c *Connector) batchURI(raw string) (string, string, error) {
	base := c.cfg.TokenURL
	if c.cfg.ResourceURL != "" {
		base = strings.TrimRight(c.cfg.ResourceURL, "/") + "/"
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", "", fmt.Errorf("resource base: %w", err)
	}
	ref, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", "", fmt.Errorf("resourceURI is not a URL")
	}
	u := b.ResolveReference(ref)
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", "", fmt.Errorf("resourceURI scheme %q", u.Scheme)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] != "Subscription" || segs[i+1] == "" {
			continue
		}
		sub := segs[i+1]
		if i == 0 || segs[i-1] != "Batch" {
			segs = append(append(segs[:i:i], "Batch", "Subscription"), sub)
		} else {
			segs = segs[:i+2]
		}
		u.Path = "/" + strings.Join(segs, "/")
		u.RawPath = ""
		return u.String(), sub, nil
	}
	// Not a subscription URI (a Batch/Bulk or RetailCustomer URI): used
	// as it is.
	return u.String(), "", nil
}

// Fetch refreshes the access token when needed and downloads and converts
// the subscription's feed.
func (c *Connector) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	ts, ok := decodeSession(req.Session)
	if !ok {
		return nil, c.reconnect()
	}
	now := req.Now
	if now.IsZero() {
		now = c.now()
	}
	orig := ts
	rotated := false
	refresh := func() error {
		if ts.RefreshToken == "" {
			return &connector.Error{Kind: connector.KindBadCredentials,
				Message: fmt.Sprintf("The authorization given to %s expired. Please connect again.", c.cfg.Name),
				Err:     errors.New("access token expired and no refresh token")}
		}
		next, err := c.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}}, ts, now)
		if err != nil {
			return err
		}
		c.log.Info("green button access token refreshed", "utility", c.cfg.Name, "subscription", ts.Subscription, "rotated", next.RefreshToken != ts.RefreshToken)
		ts, rotated = next, true
		return nil
	}
	// keep returns the session to hand back with an error: the renewed
	// tokens when a refresh succeeded (the old refresh token may be spent).
	keep := func() *connector.Data {
		if rotated && ts != orig {
			return &connector.Data{Session: ts.encode()}
		}
		return nil
	}
	if ts.expired(now) {
		if err := refresh(); err != nil {
			return nil, err
		}
	}
	feed, err := c.download(ctx, ts, req.Since)
	if errors.Is(err, errUnauthorized) && !rotated {
		// The token may have been revoked early or the clocks disagree:
		// refresh once and try again.
		if rerr := refresh(); rerr != nil {
			return keep(), rerr
		}
		feed, err = c.download(ctx, ts, req.Since)
	}
	if errors.Is(err, errUnauthorized) {
		err = &connector.Error{Kind: connector.KindBadCredentials,
			Message: fmt.Sprintf("%s no longer grants access to your data (the authorization was revoked). Please connect again.", c.cfg.Name),
			Err:     err}
	}
	if err != nil {
		return keep(), err
	}
	var since int64
	if !req.Since.IsZero() {
		since = req.Since.Unix()
	}
	var accounts []connector.Account
	if feed != nil {
		if accounts, err = feed.Accounts(greenbutton.AccountOptions{Since: since}); err != nil {
			return keep(), &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(), Err: err}
		}
		for _, w := range feed.Warnings {
			c.log.Debug("green button feed warning", "utility", c.cfg.Name, "warning", w)
		}
	}
	return &connector.Data{Accounts: accounts, Session: ts.encode()}, nil
}

// errUnauthorized marks a 401 from the resource server.
var errUnauthorized = errors.New("resource server answered 401")

// download GETs the Batch feed and parses it. A feed without any ESPI
// resource (nothing published since the given time) gives a nil Feed.
func (c *Connector) download(ctx context.Context, ts tokenSet, since time.Time) (*greenbutton.Feed, error) {
	u, err := url.Parse(ts.ResourceURI)
	if err != nil {
		return nil, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(), Err: errors.New("stored resource URI is not a URL")}
	}
	if !since.IsZero() {
		q := u.Query()
		q.Set("published-min", since.UTC().Format(time.RFC3339))
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("gbconnect: feed request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.AccessToken)
	req.Header.Set("Accept", "application/atom+xml, application/xml;q=0.9")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.unavailable("feed request", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, errUnauthorized
	case resp.StatusCode == http.StatusForbidden:
		return nil, &connector.Error{Kind: connector.KindBadCredentials,
			Message: fmt.Sprintf("%s no longer grants access to your data. Please connect again.", c.cfg.Name),
			Err:     errors.New("resource server answered 403")}
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, c.rateLimited(resp)
	case resp.StatusCode >= 500:
		return nil, &connector.Error{Kind: connector.KindUnavailable, Message: c.msgUnavailable(),
			Err: fmt.Errorf("resource server answered %d", resp.StatusCode)}
	default:
		return nil, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(),
			Err: fmt.Errorf("resource server answered %d", resp.StatusCode)}
	}
	b := greenbutton.NewBuilder(greenbutton.Options{MaxBytes: c.cfg.MaxFeedBytes})
	if err := b.AddXML(ctx, resp.Body); err != nil {
		var ge *greenbutton.Error
		if errors.As(err, &ge) {
			return nil, &connector.Error{Kind: connector.KindLayoutChanged,
				Message: fmt.Sprintf("%s sent data gridlink could not read.", c.cfg.Name), Err: err}
		}
		return nil, c.unavailable("feed download", err)
	}
	feed, err := b.Feed()
	if errors.Is(err, greenbutton.ErrNotGreenButton) {
		return nil, nil // an Atom feed with no resources: nothing new
	}
	if err != nil {
		return nil, &connector.Error{Kind: connector.KindLayoutChanged, Message: c.msgUnexpected(), Err: err}
	}
	return feed, nil
}

// unavailable classifies a transport failure.
func (c *Connector) unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("gbconnect: %s: %w", op, err)
	}
	return &connector.Error{Kind: connector.KindUnavailable, Message: c.msgUnavailable(), Err: fmt.Errorf("%s: %w", op, err)}
}

func (c *Connector) rateLimited(resp *http.Response) error {
	return &connector.Error{Kind: connector.KindRateLimited,
		Message:    fmt.Sprintf("%s asked gridlink to slow down. Your data will be updated later.", c.cfg.Name),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now()),
		Err:        errors.New("utility answered 429")}
}

func (c *Connector) msgUnavailable() string {
	return fmt.Sprintf("%s is unavailable right now. Please try again later.", c.cfg.Name)
}

func (c *Connector) msgUnexpected() string {
	return fmt.Sprintf("%s answered in a way gridlink does not understand. Please try again later.", c.cfg.Name)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
