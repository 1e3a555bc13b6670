package connectui

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/store"
)

// Session ids are 128 random bits, cookie secrets 256, both base64url
// without padding.
const (
	sidBytes    = 16
	sidLen      = 22
	secretBytes = 32
)

func (u *UI) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(u.rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validSID reports whether s has the shape of a session id, so that
// anything else is refused before it reaches the store or a cookie name.
func validSID(s string) bool {
	if len(s) != sidLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// cookieName is the name of the cookie that binds session sid to a browser.
// One cookie per session lets several Connect sessions coexist in a browser.
func (u *UI) cookieName(sid string) string {
	if u.secure {
		return "__Host-gl_connect_" + sid
	}
	return "gl_connect_" + sid
}

// sessionCookie is the cookie holding the session secret.
//
// Redirect mode uses SameSite=Lax: the cookie must survive the top-level
// navigation from the app, and Lax still keeps it off cross-site POSTs.
//
// Embedded mode runs in an iframe on the app's page. When that page is on
// the same site as gridlink (localhost:3000 and localhost:8080 are one
// site), Lax works. When it is on another site, a browser neither stores
// nor sends a Lax cookie inside the iframe, so over TLS (SecureCookies)
// embedded sessions use SameSite=None; Secure; Partitioned: None lets the
// cookie work in the cross-site iframe, and Partitioned (CHIPS) keys it to
// the embedding site, so it is usable only under that app and survives
// third-party-cookie blocking. Browsers accept None only with Secure,
// hence only over TLS; plain-HTTP cross-site embedding cannot work, and
// the widget then shows sessionLost's explanation. Cross-site POSTs stay
// refused by http.CrossOriginProtection, which judges the request's own
// origin (the iframe's), not the cookie.
//
// The cookie expires with the session: Max-Age (relative, immune to a
// skewed browser clock) and Expires for older browsers.
func (u *UI) sessionCookie(sess store.ConnectSession, secret string) *http.Cookie {
	maxAge := int(sess.ExpiresAt.Sub(u.now()) / time.Second)
	if maxAge <= 0 {
		maxAge = -1
	}
	c := &http.Cookie{
		Name:     u.cookieName(sess.ID),
		Value:    secret,
		Path:     "/",
		Expires:  sess.ExpiresAt,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   u.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if sess.Embedded && u.secure {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	return c
}

// flow is a loaded session with its client.
type flow struct {
	sess   store.ConnectSession
	client gridlink.Client
}

// expired reports whether the session can no longer move forward. A
// session that is done or failed has nothing left to expire.
func (f *flow) expired(now time.Time) bool {
	if f.sess.Step == store.StepDone || f.sess.Step == store.StepFailed {
		return false
	}
	return !now.Before(f.sess.ExpiresAt)
}

// loadFlow loads the session named in the path and checks that this browser
// holds its cookie. Every failure is the same "session not found" page.
func (u *UI) loadFlow(ctx context.Context, r *http.Request) (*flow, error) {
	sid := r.PathValue("sid")
	if !validSID(sid) {
		return nil, errSessionNotFound
	}
	c, err := r.Cookie(u.cookieName(sid))
	if err != nil || len(c.Value) > 128 {
		return nil, errSessionNotFound
	}
	sess, err := u.store.ConnectSession(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load connect session: %w", err)
	}
	if subtle.ConstantTimeCompare(auth.Digest(c.Value), sess.CookieHash) != 1 {
		return nil, errSessionNotFound
	}
	client, err := u.store.Client(ctx, sess.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errSessionNotFound // the client was deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	return &flow{sess: sess, client: client}, nil
}

// save persists the session's mutable fields.
func (u *UI) save(ctx context.Context, f *flow) error {
	if err := u.store.UpdateConnectSession(ctx, f.sess); err != nil {
		return fmt.Errorf("update connect session: %w", err)
	}
	return nil
}

// keyedMutex serialises the POSTs of one session inside this process, so
// that concurrent submissions cannot slip past the attempt limits.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func newKeyedMutex() *keyedMutex { return &keyedMutex{m: map[string]*keyedEntry{}} }

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
