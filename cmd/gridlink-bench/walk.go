package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// benchRedirect is the redirect URI registered for the bench client. It
// is never contacted: the walker stops at the redirect that leaves gridlink.
const benchRedirect = "http://127.0.0.1:9/callback"

// apiClient calls gridlink's JSON API as the bench client.
type apiClient struct {
	base     string
	clientID string
	secret   string
	hc       *http.Client
}

// call sends one API request (form is sent urlencoded when non-nil) and
// decodes a 2xx JSON answer into out. It returns the status and raw body.
func (a *apiClient) call(ctx context.Context, method, path string, form url.Values, token string, out any) (int, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	a.auth(req.Header, token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// auth sets the client headers and, when token is not empty, the bearer token.
func (a *apiClient) auth(h http.Header, token string) {
	h.Set("Pelm-Client-Id", a.clientID)
	h.Set("Pelm-Secret", a.secret)
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
}

// connectToken creates a connect token for userID; utility may be empty.
func (a *apiClient) connectToken(ctx context.Context, userID, utility string) (string, error) {
	form := url.Values{"user_id": {userID}}
	if utility != "" {
		form.Set("utility_slug", utility)
	}
	var out struct {
		ConnectToken string `json:"connect_token"`
	}
	code, raw, err := a.call(ctx, http.MethodPost, "/auth/connect-token", form, "", &out)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || out.ConnectToken == "" {
		return "", fmt.Errorf("POST /auth/connect-token: status %d: %s", code, truncate(raw, 200))
	}
	return out.ConnectToken, nil
}

// exchange redeems an authorization code for an access token.
func (a *apiClient) exchange(ctx context.Context, code string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	status, raw, err := a.call(ctx, http.MethodPost, "/auth/token", url.Values{"code": {code}, "grant_type": {"code"}}, "", &out)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || out.AccessToken == "" {
		return "", fmt.Errorf("POST /auth/token: status %d: %s", status, truncate(raw, 200))
	}
	return out.AccessToken, nil
}

// accountJSON is the part of an account object the bench uses.
type accountJSON struct {
	ID     string `json:"id"`
	Meters []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"meters"`
}

// waitAccounts polls GET /accounts until the user's first sync is done.
func (a *apiClient) waitAccounts(ctx context.Context, token string, limit time.Duration) ([]accountJSON, error) {
	deadline := time.Now().Add(limit)
	for {
		var accts []accountJSON
		status, raw, err := a.call(ctx, http.MethodGet, "/accounts", nil, token, &accts)
		if err != nil {
			return nil, err
		}
		if status == http.StatusOK {
			return accts, nil
		}
		var e struct {
			ErrorCode string `json:"error_code"`
		}
		_ = json.Unmarshal(raw, &e)
		if status != http.StatusInternalServerError || e.ErrorCode != "data_unavailable" {
			return nil, fmt.Errorf("GET /accounts: status %d: %s", status, truncate(raw, 200))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("GET /accounts: data still unavailable after %v", limit)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// walker walks the hosted Connect forms like a user without JavaScript: it
// keeps cookies and hidden fields and never follows a redirect away from
// gridlink, so the final redirect to the app (with the code) is seen.
type walker struct {
	base   string
	client *http.Client
	page   *goquery.Document
	url    *url.URL
	last   *http.Response
}

func newWalker(base string) *walker {
	jar, _ := cookiejar.New(nil) // cannot fail with nil options
	w := &walker{base: base}
	w.client = &http.Client{Jar: jar, Timeout: 90 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), base) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return w
}

func (w *walker) load(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	w.last = resp
	w.url = resp.Request.URL
	w.page = nil
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
		if err != nil {
			return err
		}
		w.page = doc
	}
	return nil
}

func (w *walker) get(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return w.load(w.client.Do(req))
}

// has reports whether the current page has an element matching sel.
func (w *walker) has(sel string) bool { return w.page != nil && w.page.Find(sel).Length() > 0 }

// text is the visible text of the current page, for error messages.
func (w *walker) text() string {
	if w.page == nil {
		return ""
	}
	return truncate([]byte(strings.Join(strings.Fields(w.page.Find("body").Text()), " ")), 300)
}

// submit posts the form that contains the element matching sel, with its
// fields (hidden ones kept), the clicked control's name=value, and values.
func (w *walker) submit(ctx context.Context, sel string, values map[string]string) error {
	if w.page == nil {
		return fmt.Errorf("no HTML page to submit %q on (status %d)", sel, w.last.StatusCode)
	}
	el := w.page.Find(sel).First()
	if el.Length() == 0 {
		return fmt.Errorf("no element %q on %s: %s", sel, w.url.Path, w.text())
	}
	form := el.Closest("form")
	if form.Length() == 0 {
		return fmt.Errorf("%q is not inside a form", sel)
	}
	data := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		typ, _ := in.Attr("type")
		val, _ := in.Attr("value")
		if name == "" || typ == "submit" || ((typ == "radio" || typ == "checkbox") && !in.Is("[checked]")) {
			return
		}
		data.Set(name, val)
	})
	if name, ok := el.Attr("name"); ok && (el.Is("button") || el.Is("input[type=submit]") || el.Is("input[type=radio]")) {
		val, _ := el.Attr("value")
		data.Set(name, val)
	}
	for k, v := range values {
		data.Set(k, v)
	}
	action, err := url.Parse(form.AttrOr("action", ""))
	if err != nil {
		return err
	}
	target := w.url.ResolveReference(action)
	if strings.ToUpper(form.AttrOr("method", "GET")) == http.MethodGet {
		target.RawQuery = data.Encode()
		return w.get(ctx, target.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(data.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.load(w.client.Do(req))
}

// start opens hosted Connect (redirect mode) with a connect token.
func (w *walker) start(ctx context.Context, token string) error {
	return w.get(ctx, w.base+"/?"+url.Values{"redirect_uri": {benchRedirect}, "connect_token": {token}}.Encode())
}

var errNoCode = errors.New("connect: no authorization code")

// login is one utility login for the walk.
type login struct {
	utility  string // slug, named in the connect token
	username string
	password string
}

// connect walks hosted Connect for userID (create or update mode) and
// returns the authorization code.
func connect(ctx context.Context, api *apiClient, userID string, l login) (string, error) {
	token, err := api.connectToken(ctx, userID, l.utility)
	if err != nil {
		return "", err
	}
	w := newWalker(api.base)
	if err := w.start(ctx, token); err != nil {
		return "", fmt.Errorf("connect %s: start: %w", userID, err)
	}
	if w.has(`form[action$="/terms"]`) {
		if err := w.submit(ctx, `form[action$="/terms"] [type=submit]`, nil); err != nil {
			return "", fmt.Errorf("connect %s: terms: %w", userID, err)
		}
	}
	if sel := `[name=utility_slug][value="` + l.utility + `"]`; w.has(sel) {
		if err := w.submit(ctx, sel, nil); err != nil {
			return "", fmt.Errorf("connect %s: utility: %w", userID, err)
		}
	}
	if err := w.submit(ctx, `input[name=username]`, map[string]string{"username": l.username, "password": l.password}); err != nil {
		return "", fmt.Errorf("connect %s: credentials: %w", userID, err)
	}
	if !w.has(`form[action$="/continue"]`) {
		return "", fmt.Errorf("connect %s: no confirmation after login (status %d): %s", userID, w.last.StatusCode, w.text())
	}
	if err := w.submit(ctx, `form[action$="/continue"] [type=submit]`, nil); err != nil {
		return "", fmt.Errorf("connect %s: continue: %w", userID, err)
	}
	if w.last.StatusCode/100 != 3 {
		return "", fmt.Errorf("connect %s: continue: status %d: %w", userID, w.last.StatusCode, errNoCode)
	}
	loc, err := w.last.Location()
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", userID, err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		return "", fmt.Errorf("connect %s: redirect to %s: %w", userID, loc.Redacted(), errNoCode)
	}
	return code, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
