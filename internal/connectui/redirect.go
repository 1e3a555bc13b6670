package connectui

import (
	"errors"
	"net/url"
	"strings"
)

// parseQuery splits a raw query on '&' only (unlike url.ParseQuery, which
// drops pairs holding a ';'), so that a state with a literal ';' still comes
// back byte for byte. A malformed %-escape is an error.
func parseQuery(raw string) (map[string][]string, error) {
	q := map[string][]string{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errors.New("malformed query")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, errors.New("malformed query")
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}

// blockedSchemes are never followed, even when registered.
var blockedSchemes = map[string]bool{
	"javascript": true, "data": true, "vbscript": true, "file": true, "blob": true, "about": true,
}

// validRedirectURI reports whether uri may be redirected to for a client
// that registered the given URIs: an exact, byte-for-byte member of the list
// (no prefix, case or trailing-slash tolerance) that is also an absolute
// URL with a safe scheme, no userinfo and no fragment.
func validRedirectURI(uri string, registered []string) bool {
	found := false
	for _, r := range registered {
		if r == uri {
			found = true
			break
		}
	}
	if !found || strings.ContainsAny(uri, "#\\") {
		return false
	}
	for i := 0; i < len(uri); i++ {
		if uri[i] <= ' ' || uri[i] == 0x7f {
			return false
		}
	}
	p, err := url.Parse(uri)
	if err != nil || !p.IsAbs() || p.User != nil || p.Fragment != "" || p.Opaque != "" {
		return false
	}
	scheme := strings.ToLower(p.Scheme)
	if blockedSchemes[scheme] {
		return false
	}
	if (scheme == "http" || scheme == "https") && p.Host == "" {
		return false
	}
	return true
}

// returnURL appends params to a validated redirect URI, keeping the URI's
// own bytes and query: "?" when it has none, "&" otherwise.
func returnURL(redirectURI string, params url.Values) string {
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
		if strings.HasSuffix(redirectURI, "?") || strings.HasSuffix(redirectURI, "&") {
			sep = ""
		}
	}
	return redirectURI + sep + params.Encode()
}
