package espicustodian

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
)

var hiddenField = regexp.MustCompile(`name="(request|csrf)" value="([^"]*)"`)

// ActAsCustomer plays the utility's customer for tests and demos: from an
// authorization URL of this custodian it signs in with username and
// password, answers the consent page ("authorize" or "deny"), and returns
// where the custodian sends the browser back (the client's redirect URI
// with code or error, and state). It uses its own cookie jar.
func ActAsCustomer(authorizeURL, username, password, decision string) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	read := func(resp *http.Response, err error) (string, *http.Response, error) {
		if err != nil {
			return "", nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return string(b), resp, err
	}
	hidden := func(body string) url.Values {
		v := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], m[2])
		}
		return v
	}
	au, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, err
	}
	body, _, err := read(c.Get(authorizeURL))
	if err != nil {
		return nil, err
	}
	form := hidden(body)
	form.Set("username", username)
	form.Set("password", password)
	body, resp, err := read(c.PostForm(au.ResolveReference(&url.URL{Path: "login"}).String(), form))
	for err == nil && resp.StatusCode/100 == 3 {
		var loc *url.URL
		if loc, err = resp.Location(); err == nil {
			body, resp, err = read(c.Get(loc.String()))
		}
	}
	if err != nil {
		return nil, err
	}
	form = hidden(body)
	if form.Get("csrf") == "" {
		return nil, fmt.Errorf("no consent page after signing in as %s (status %d)", username, resp.StatusCode)
	}
	form.Set("decision", decision)
	_, resp, err = read(c.PostForm(au.ResolveReference(&url.URL{Path: "consent"}).String(), form))
	if err != nil {
		return nil, err
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("consent answered %d without a redirect", resp.StatusCode)
	}
	return loc, nil
}
