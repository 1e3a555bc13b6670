package espicustodian

import (
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxForm bounds form bodies.
const maxForm = 64 << 10

// pageHeaders sets the headers of the HTML pages.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// errorPage answers with a page that explains a request the custodian
// cannot redirect back (unknown client, wrong redirect URI...).
func (c *Custodian) errorPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, "error", map[string]any{"Name": Name, "Message": msg})
}

// home lists the demo logins.
func (c *Custodian) home(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w)
	_ = pages.ExecuteTemplate(w, "home", map[string]any{"Name": Name, "Customers": c.demoLogins()})
}

type demoLogin struct{ Username, Password, Name string }

func (c *Custodian) demoLogins() []demoLogin {
	out := make([]demoLogin, 0, len(c.order))
	for _, u := range c.order {
		cu := c.customers[u]
		out = append(out, demoLogin{cu.Username, cu.Password, cu.Name})
	}
	return out
}

// authorize starts an authorization (RFC 6749 4.1.1): a bad client or
// redirect URI is shown, never redirected to; other errors go back to the
// client.
func (c *Custodian) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cl, ok := c.clients[q.Get("client_id")]
	if !ok {
		c.errorPage(w, http.StatusBadRequest, "The application that sent you here is not registered with "+Name+".")
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" && len(cl.RedirectURIs) == 1 {
		redirect = cl.RedirectURIs[0]
	}
	if !slices.Contains(cl.RedirectURIs, redirect) {
		c.log.Warn("authorization refused: redirect URI not registered", "client", cl.ID)
		c.errorPage(w, http.StatusBadRequest, "The application asked to return you to an address it did not register.")
		return
	}
	state := q.Get("state")
	if q.Get("response_type") != "code" {
		http.Redirect(w, r, withParams(redirect, "error", "unsupported_response_type", "state", state), http.StatusFound)
		return
	}
	scope := strings.TrimSpace(q.Get("scope"))
	if scope == "" {
		scope = DefaultScope
	}
	id, err := c.randomToken(16)
	if err != nil {
		c.errorPage(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	now := c.now()
	c.mu.Lock()
	c.purgeLocked(now)
	c.pending[id] = &authRequest{id: id, clientID: cl.ID, redirectURI: redirect, scope: scope, state: state, expires: now.Add(SessionTTL)}
	sess := c.sessionLocked(r, now)
	c.mu.Unlock()
	if sess != nil {
		c.renderConsent(w, id, sess)
		return
	}
	c.renderLogin(w, http.StatusOK, id, "")
}

// withParams adds query parameters to a redirect URI (empty values are
// left out).
func withParams(uri string, kv ...string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// sessionLocked returns the request's live session; c.mu must be held.
func (c *Custodian) sessionLocked(r *http.Request, now time.Time) *session {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	s, ok := c.sessions[digest(ck.Value)]
	if !ok || !now.Before(s.expires) {
		return nil
	}
	s.expires = now.Add(SessionTTL)
	return s
}

func (c *Custodian) renderLogin(w http.ResponseWriter, status int, request, errMsg string) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, "login", map[string]any{
		"Name": Name, "Request": request, "Error": errMsg, "Customers": c.demoLogins(),
	})
}

func (c *Custodian) renderConsent(w http.ResponseWriter, request string, s *session) {
	c.mu.Lock()
	req := c.pending[request]
	var client, scope string
	if req != nil {
		client, scope = c.clients[req.clientID].Name, req.scope
		if client == "" {
			client = req.clientID
		}
	}
	csrf := s.csrf
	c.mu.Unlock()
	if req == nil {
		c.errorPage(w, http.StatusBadRequest, "This authorization request expired. Please start again from the application.")
		return
	}
	cu := c.customers[s.user]
	pageHeaders(w)
	_ = pages.ExecuteTemplate(w, "consent", map[string]any{
		"Name": Name, "Request": request, "CSRF": csrf, "Client": client, "Scope": scope,
		"Customer": cu.Name, "Username": cu.Username,
	})
}

// login checks the customer's password and signs them in.
func (c *Custodian) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	request := r.PostForm.Get("request")
	now := c.now()
	c.mu.Lock()
	req := c.pending[request]
	live := req != nil && now.Before(req.expires)
	c.mu.Unlock()
	if !live {
		c.errorPage(w, http.StatusBadRequest, "This authorization request expired. Please start again from the application.")
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("username"))
	cu, ok := c.customers[user]
	if !ok || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(cu.Password)) != 1 {
		c.log.Info("customer sign-in failed")
		c.renderLogin(w, http.StatusUnauthorized, request, "The username or password is incorrect.")
		return
	}
	value, err := c.randomToken(32)
	if err != nil {
		c.errorPage(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	csrf, err := c.randomToken(16)
	if err != nil {
		c.errorPage(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	c.mu.Lock()
	c.sessions[digest(value)] = &session{user: cu.Username, csrf: csrf, expires: now.Add(SessionTTL)}
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	c.log.Info("customer signed in", "customer", cu.Username)
	// A relative Location (http.Redirect would make it absolute with the
	// path the mount prefix was stripped from).
	w.Header().Set("Location", "consent?request="+url.QueryEscape(request))
	w.WriteHeader(http.StatusSeeOther)
}

// consentPage shows the consent form to a signed-in customer.
func (c *Custodian) consentPage(w http.ResponseWriter, r *http.Request) {
	request := r.URL.Query().Get("request")
	c.mu.Lock()
	sess := c.sessionLocked(r, c.now())
	c.mu.Unlock()
	if sess == nil {
		c.renderLogin(w, http.StatusOK, request, "")
		return
	}
	c.renderConsent(w, request, sess)
}

// consent records the customer's decision and sends them back to the
// client with a code (or access_denied).
func (c *Custodian) consent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	now := c.now()
	c.mu.Lock()
	sess := c.sessionLocked(r, now)
	req := c.pending[r.PostForm.Get("request")]
	c.mu.Unlock()
	switch {
	case sess == nil:
		c.errorPage(w, http.StatusForbidden, "Please sign in again: your session ended.")
		return
	case subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.csrf)) != 1:
		c.errorPage(w, http.StatusForbidden, "This form is out of date. Please start again from the application.")
		return
	case req == nil || !now.Before(req.expires):
		c.errorPage(w, http.StatusBadRequest, "This authorization request expired. Please start again from the application.")
		return
	}
	c.mu.Lock()
	delete(c.pending, req.id)
	c.mu.Unlock()
	if r.PostForm.Get("decision") != "authorize" {
		c.log.Info("authorization denied", "customer", sess.user, "client", req.clientID)
		http.Redirect(w, r, withParams(req.redirectURI, "error", "access_denied", "state", req.state), http.StatusFound)
		return
	}
	code, err := c.randomToken(24)
	if err != nil {
		c.errorPage(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	subID, err := c.randomToken(6)
	if err != nil {
		c.errorPage(w, http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	c.mu.Lock()
	c.subs[subID] = &subscription{id: subID, user: sess.user, clientID: req.clientID, scope: req.scope}
	c.codes[digest(code)] = &grantCode{clientID: req.clientID, redirectURI: req.redirectURI, sub: subID, expires: now.Add(c.codeTTL)}
	c.mu.Unlock()
	c.log.Info("authorization granted", "customer", sess.user, "client", req.clientID, "subscription", subID)
	http.Redirect(w, r, withParams(req.redirectURI, "code", code, "state", req.state), http.StatusFound)
}

// TokenResponse is the token endpoint's JSON answer (RFC 6749 5.1 with the
// ESPI resourceURI and authorizationURI).
type TokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	Scope            string `json:"scope,omitempty"`
	ResourceURI      string `json:"resourceURI,omitempty"`
	AuthorizationURI string `json:"authorizationURI,omitempty"`
}

// oauthError answers with an RFC 6749 5.2 error.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="`+Name+`"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// tokenEndpoint serves POST /oauth/token.
func (c *Custodian) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a form.")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 2.3.1: the id and secret are form-encoded first.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	}
	cl, known := c.clients[id]
	if !ok || !known || subtle.ConstantTimeCompare([]byte(secret), []byte(cl.Secret)) != 1 {
		c.log.Warn("token request: client authentication failed")
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed (HTTP Basic with the client id and secret).")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c.exchangeCode(w, r, cl)
	case "refresh_token":
		c.refreshGrant(w, r, cl)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing.")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Only authorization_code and refresh_token are supported.")
	}
}

func (c *Custodian) exchangeCode(w http.ResponseWriter, r *http.Request, cl Client) {
	code := r.PostForm.Get("code")
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked(now)
	key := digest(code)
	g, ok := c.codes[key]
	switch {
	case code == "" || !ok || g.clientID != cl.ID:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is unknown or expired.")
		return
	case g.used:
		// RFC 6749 4.1.2: a replayed code revokes what it granted.
		for k, t := range c.access {
			if t.fromCode == key {
				delete(c.access, k)
			}
		}
		for k, t := range c.refresh {
			if t.fromCode == key {
				delete(c.refresh, k)
			}
		}
		c.log.Warn("authorization code replayed: its tokens are revoked", "client", cl.ID, "subscription", g.sub)
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code was already used.")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI && !(r.PostForm.Get("redirect_uri") == "" && len(cl.RedirectURIs) == 1):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request.")
		return
	}
	g.used = true
	sub := c.subs[g.sub]
	if sub == nil || sub.revoked {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization was revoked.")
		return
	}
	resp, err := c.issueLocked(r, sub, key, now)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "Tokens could not be issued.")
		return
	}
	c.log.Info("tokens issued for a code", "client", cl.ID, "subscription", sub.id)
	writeToken(w, resp)
}

func (c *Custodian) refreshGrant(w http.ResponseWriter, r *http.Request, cl Client) {
	rt := r.PostForm.Get("refresh_token")
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked(now)
	key := digest(rt)
	t, ok := c.refresh[key]
	if rt == "" || !ok || t.clientID != cl.ID || !now.Before(t.expires) {
		c.log.Info("refresh refused", "client", cl.ID)
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is unknown, expired, already used or revoked.")
		return
	}
	sub := c.subs[t.sub]
	if sub == nil || sub.revoked {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization was revoked.")
		return
	}
	// Rotation: the refresh token is spent.
	delete(c.refresh, key)
	resp, err := c.issueLocked(r, sub, t.fromCode, now)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "Tokens could not be issued.")
		return
	}
	c.log.Info("tokens refreshed", "client", cl.ID, "subscription", sub.id)
	writeToken(w, resp)
}

// issueLocked creates an access and a refresh token for sub, derived from
// the code with digest fromCode; c.mu must be held.
func (c *Custodian) issueLocked(r *http.Request, sub *subscription, fromCode string, now time.Time) (TokenResponse, error) {
	access, err := c.randomToken(32)
	if err != nil {
		return TokenResponse{}, err
	}
	refresh, err := c.randomToken(32)
	if err != nil {
		return TokenResponse{}, err
	}
	ak, rk := digest(access), digest(refresh)
	c.access[ak] = &token{sub: sub.id, clientID: sub.clientID, expires: now.Add(c.accessTTL), fromCode: fromCode}
	c.refresh[rk] = &token{sub: sub.id, clientID: sub.clientID, expires: now.Add(c.refreshTTL), fromCode: fromCode}
	base := c.base(r)
	return TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(c.accessTTL / time.Second),
		RefreshToken: refresh, Scope: sub.scope,
		ResourceURI:      base + "/espi/1_1/resource/Batch/Subscription/" + sub.id,
		AuthorizationURI: base + "/espi/1_1/resource/Authorization/" + sub.id,
	}, nil
}

func writeToken(w http.ResponseWriter, resp TokenResponse) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(resp)
}

// pages are the custodian's HTML pages. Form actions are relative, so the
// custodian works wherever it is mounted.
var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Name}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d2b24}h1{color:#1b7f3b;font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}.primary{background:#1b7f3b;color:#fff;border:0;border-radius:4px}.error{color:#a11;font-weight:600}.demo{margin-top:2rem;font-size:.9rem;color:#555}code{background:#eef;padding:0 .2rem}</style></head><body><h1>{{.Name}}</h1>{{end}}
{{define "demo"}}<div class="demo"><p>Demo logins:</p><ul>{{range .Customers}}<li><code>{{.Username}}</code> / <code>{{.Password}}</code>: {{.Name}}</li>{{end}}</ul></div>{{end}}
{{define "home"}}{{template "head" .}}<p>A Green Button Connect My Data data custodian for development: applications send you here to authorize access to your energy data.</p>{{template "demo" .}}</body></html>{{end}}
{{define "error"}}{{template "head" .}}<p class="error">{{.Message}}</p></body></html>{{end}}
{{define "login"}}{{template "head" .}}<h2>Sign in to share your energy data</h2>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="login"><input type="hidden" name="request" value="{{.Request}}">
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button class="primary" type="submit">Sign in</button></form>{{template "demo" .}}</body></html>{{end}}
{{define "consent"}}{{template "head" .}}<h2>Share your energy data with {{.Client}}?</h2>
<p>Signed in as <strong>{{.Username}}</strong> ({{.Customer}}).</p>
<p><strong>{{.Client}}</strong> asks to read your Green Button data: interval usage, usage summaries and bill amounts, now and as new data arrives, until you revoke this authorization.</p>
<p>Scope: <code>{{.Scope}}</code></p>
<form method="post" action="consent"><input type="hidden" name="request" value="{{.Request}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button class="primary" type="submit" name="decision" value="authorize">Authorize</button> <button type="submit" name="decision" value="deny">Deny</button></form></body></html>{{end}}
`))
