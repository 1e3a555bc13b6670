package connectui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gridlink/gridlink/internal/store"
)

// Embedded mode (pelm-api.md 4.3).
//
// The widget script (widget/initialize.js, served as /initialize.js and
// /connect/pelm-connect.js) creates one iframe on the embedding page with
// src /?connect_token=TOKEN&parent_origin=ORIGIN, where ORIGIN is the page's
// own location.origin. start checks ORIGIN against the client's registered
// origins and keeps it in the session; every page of that session is then
// framable by ORIGIN only (CSP frame-ancestors) and carries it in
// <body data-parent-origin>, from where static/connect.js posts its messages
// to exactly that origin. The widget script knows gridlink's origin from its
// own script URL and accepts messages only from it.
//
// Embedded sessions keep the checked embedding origin in
// ConnectSession.EmbedOrigin; their RedirectURI stays empty.

// paramParentOrigin is the start parameter naming the embedding page's
// origin.
const paramParentOrigin = "parent_origin"

//go:embed widget/initialize.js
var widgetFS embed.FS

// parentOrigin is the verified embedding origin of a session, or "" when
// the session is not embedded by the widget.
func parentOrigin(s *store.ConnectSession) string {
	if s == nil || !s.Embedded {
		return ""
	}
	return s.EmbedOrigin
}

// parseOrigin returns s when it is a serialized web origin exactly as a
// browser's location.origin gives it: "http" or "https", "://", a lower-case
// host, and a port only when it is not the scheme's default. Anything else
// (a path, userinfo, "null", upper case) is refused.
func parseOrigin(s string) (string, bool) {
	if len(s) > 255 {
		return "", false
	}
	scheme, hostport, ok := strings.Cut(s, "://")
	if !ok || (scheme != "http" && scheme != "https") || hostport == "" {
		return "", false
	}
	for i := 0; i < len(hostport); i++ {
		c := hostport[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host != hostport || u.Hostname() == "" || u.Path != "" || u.User != nil {
		return "", false
	}
	if p := u.Port(); p != "" || strings.HasSuffix(hostport, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p ||
			(scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			return "", false
		}
	}
	return s, true
}

// originAllowed reports whether origin (from parseOrigin) is one of the
// registered origins: an exact match (a registered trailing "/" and the
// case of scheme and host are forgiven), or a registered "scheme://host:*"
// dev wildcard, which matches that host on any port.
func originAllowed(origin string, registered []string) bool {
	for _, r := range registered {
		r = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(r), "/"))
		if r == origin {
			return true
		}
		if base, ok := strings.CutSuffix(r, ":*"); ok {
			if origin == base {
				return true // the scheme's default port
			}
			if port, ok := strings.CutPrefix(origin, base+":"); ok && port != "" && strings.Trim(port, "0123456789") == "" {
				return true
			}
		}
	}
	return false
}

// embeddedProblem answers a start request from the widget that cannot open
// a session (a bad or expired connect token): a static page framable by the
// embedding page, which reports status to the widget when the user closes
// it. The page holds no session, no form and no secret, so letting the
// claimed (syntactically valid, but unverifiable: no client is known)
// origin frame it exposes nothing; without it the widget could only show
// the browser's "refused to connect" page.
func (u *UI) embeddedProblem(w http.ResponseWriter, e *pageError, origin, status string) {
	v := problemView(e)
	v.Parent, v.ErrorStatus = origin, status
	u.render(w, e.status, "problem", v, &store.ConnectSession{Embedded: true, EmbedOrigin: origin}, nil)
}

// sessionLost answers GET /connect/{sid} when the browser did not send the
// session cookie but the session is a widget session: most likely the
// browser refused the cookie in a cross-site iframe (gridlink served over
// plain HTTP, or without --secure-cookies). The page explains it, framed
// by the session's verified embedding origin, and reports internal_error
// to the widget when closed.
func (u *UI) sessionLost(w http.ResponseWriter, r *http.Request) bool {
	sid := r.PathValue("sid")
	if !validSID(sid) {
		return false
	}
	sess, err := u.store.ConnectSession(r.Context(), sid)
	if err != nil || parentOrigin(&sess) == "" {
		return false
	}
	u.log.WarnContext(r.Context(), "connect: widget session without its cookie; cross-site embedding needs HTTPS and --secure-cookies",
		"session", sid, "client_id", sess.ClientID, "parent_origin", parentOrigin(&sess), "secure_cookies", u.secure)
	e := &pageError{http.StatusNotFound, "Connect could not start",
		"Your browser did not keep the Connect session inside this window. Nothing was connected. Close this window and try again; if it keeps happening, the app's gridlink server must be reached over HTTPS."}
	v := problemView(e)
	v.Parent, v.ErrorStatus = parentOrigin(&sess), outcomeInternal
	u.render(w, e.status, "problem", v, &store.ConnectSession{Embedded: true, EmbedOrigin: parentOrigin(&sess)}, nil)
	return true
}

// widgetScript serves initialize.js (and its legacy name pelm-connect.js):
// public, cacheable for a few minutes, loadable from any site (a
// classic <script src>, or fetched with CORS or under COEP).
func (u *UI) widgetScript() http.Handler {
	body := u.widgetJS
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		http.ServeContent(w, r, "initialize.js", time.Time{}, bytes.NewReader(body))
	})
}
