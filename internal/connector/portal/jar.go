package portal

import (
	"cmp"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// jar is an http.CookieJar whose content can be saved and restored, which
// net/http/cookiejar does not allow. It follows RFC 6265 for domain, path,
// expiry and Secure, without a public-suffix list: a portal session talks
// to the few hosts its connector allows.
type jar struct {
	now func() time.Time

	mu      sync.Mutex
	seq     int64
	cookies []savedCookie
}

// savedCookie is one cookie as kept in the jar and in a saved session.
type savedCookie struct {
	Name     string    `json:"name"`
	Value    string    `json:"value"`
	Domain   string    `json:"domain"` // lower case, no leading dot
	HostOnly bool      `json:"host_only,omitempty"`
	Path     string    `json:"path"`
	Expires  time.Time `json:"expires,omitzero"` // zero: a session cookie
	Secure   bool      `json:"secure,omitempty"`
	HTTPOnly bool      `json:"http_only,omitempty"`
	Seq      int64     `json:"seq"` // creation order
}

func newJar(now func() time.Time) *jar { return &jar{now: now} }

func canonicalHost(u *url.URL) string {
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

func (c *savedCookie) domainMatch(host string) bool {
	if c.HostOnly || net.ParseIP(host) != nil {
		return host == c.Domain
	}
	return host == c.Domain || strings.HasSuffix(host, "."+c.Domain)
}

// pathMatch is RFC 6265 5.1.4.
func pathMatch(cookiePath, reqPath string) bool {
	if reqPath == "" {
		reqPath = "/"
	}
	if cookiePath == reqPath {
		return true
	}
	if strings.HasPrefix(reqPath, cookiePath) {
		return strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/'
	}
	return false
}

// defaultPath is RFC 6265 5.1.4's default-path of a request path.
func defaultPath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndex(p, "/")
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// SetCookies implements http.CookieJar.
func (j *jar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	host := canonicalHost(u)
	if host == "" {
		return
	}
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cookies {
		if c == nil || c.Name == "" {
			continue
		}
		sc := savedCookie{Name: c.Name, Value: c.Value, Path: c.Path, Secure: c.Secure, HTTPOnly: c.HttpOnly}
		if d := strings.TrimPrefix(strings.ToLower(c.Domain), "."); d == "" {
			sc.Domain, sc.HostOnly = host, true
		} else {
			sc.Domain = d
			if !sc.domainMatch(host) {
				continue // a cookie for another site: refused
			}
		}
		if sc.Path == "" || sc.Path[0] != '/' {
			sc.Path = defaultPath(u.Path)
		}
		deleted := false
		switch {
		case c.MaxAge < 0:
			deleted = true
		case c.MaxAge > 0:
			sc.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
		case !c.Expires.IsZero():
			sc.Expires = c.Expires
			deleted = !c.Expires.After(now)
		}
		i := slices.IndexFunc(j.cookies, func(o savedCookie) bool {
			return o.Name == sc.Name && o.Domain == sc.Domain && o.Path == sc.Path
		})
		switch {
		case deleted && i >= 0:
			j.cookies = slices.Delete(j.cookies, i, i+1)
		case deleted:
		case i >= 0:
			sc.Seq = j.cookies[i].Seq // keeps its creation order
			j.cookies[i] = sc
		default:
			j.seq++
			sc.Seq = j.seq
			j.cookies = append(j.cookies, sc)
		}
	}
}

// Cookies implements http.CookieJar.
func (j *jar) Cookies(u *url.URL) []*http.Cookie {
	host := canonicalHost(u)
	secure := u.Scheme == "https"
	now := j.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.expire(now)
	var match []savedCookie
	for _, c := range j.cookies {
		if c.domainMatch(host) && pathMatch(c.Path, u.Path) && (!c.Secure || secure) {
			match = append(match, c)
		}
	}
	// RFC 6265 5.4: longer paths first, then older cookies first.
	slices.SortStableFunc(match, func(a, b savedCookie) int {
		if c := cmp.Compare(len(b.Path), len(a.Path)); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	out := make([]*http.Cookie, len(match))
	for i, c := range match {
		out[i] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
	return out
}

// expire drops expired cookies; j.mu must be held.
func (j *jar) expire(now time.Time) {
	j.cookies = slices.DeleteFunc(j.cookies, func(c savedCookie) bool {
		return !c.Expires.IsZero() && !c.Expires.After(now)
	})
}

// snapshot returns the live cookies, oldest first.
func (j *jar) snapshot() []savedCookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.expire(j.now())
	return slices.Clone(j.cookies)
}

// load replaces the jar's content with saved cookies, dropping malformed
// and expired ones.
func (j *jar) load(cs []savedCookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cookies = j.cookies[:0]
	j.seq = 0
	for _, c := range cs {
		if c.Name == "" || c.Domain == "" || c.Path == "" || c.Path[0] != '/' {
			continue
		}
		j.cookies = append(j.cookies, c)
		j.seq = max(j.seq, c.Seq)
	}
	j.expire(j.now())
}

// value returns the value of the first cookie named name.
func (j *jar) value(name string) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.expire(j.now())
	for _, c := range j.cookies {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}
