package connectui

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

// callbackPath is gridlink's OAuth redirect URI path, to register with
// every OAuth utility as <public URL>/connect/oauth/callback.
const callbackPath = "/connect/oauth/callback"

// Notices of the OAuth flow.
const (
	noticeOAuthCancelled = "oauth_cancelled"
	noticeOAuthRefused   = "oauth_refused"
)

// oauthConnector returns the OAuth side of the session's utility's
// connector, if it has one.
func (u *UI) oauthConnector(utilityID int64) (connector.OAuth, bool) {
	util, ok := u.catalog.ByID(utilityID)
	if !ok || util.Connector == "" {
		return nil, false
	}
	oc, ok := u.connectors[util.Connector].(connector.OAuth)
	return oc, ok
}

// callbackURL is the redirect URI sent to OAuth utilities: PublicURL's,
// else built from the request (https when served over TLS or with secure
// cookies).
func (u *UI) callbackURL(r *http.Request) string {
	if u.publicURL != "" {
		return u.publicURL + callbackPath
	}
	scheme := "http"
	if r.TLS != nil || u.secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host + callbackPath
}

// startOAuth answers POST /connect/{sid}/oauth ("Continue to <utility>"):
// a fresh state, "<sid>.<random secret>", is bound to the session (the
// secret's digest kept sealed in Pending) and the browser is sent, by 303,
// to the utility's authorization page.
func (u *UI) startOAuth(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepCredentials || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	oc, ok := u.oauthConnector(f.sess.UtilityID)
	if !ok {
		return u.toPage(w, r, f, "")
	}
	if f.sess.LoginAttempts >= gridlink.MaxLoginAttempts {
		return u.fail(ctx, w, r, f, outcomeMaxAttempts)
	}
	secret, err := u.randomString(secretBytes)
	if err != nil {
		return err
	}
	sealed, err := sealPending(u.vault, pendingLogin{OAuthState: auth.Digest(secret), OAuthUtility: f.sess.UtilityID}, f.sess.ID)
	if err != nil {
		return err
	}
	target, err := oc.AuthorizeURL(f.sess.ID+"."+secret, u.callbackURL(r))
	if err != nil {
		u.log.ErrorContext(ctx, "connect: authorization URL", "session", f.sess.ID, "utility_id", f.sess.UtilityID, "err", err)
		return u.toPage(w, r, f, noticeUnavailable)
	}
	f.sess.Pending = sealed
	if err := u.save(ctx, f); err != nil {
		return err
	}
	u.log.InfoContext(ctx, "connect: sent to the utility to authorize", "session", f.sess.ID, "client_id", f.client.ID, "utility_id", f.sess.UtilityID)
	seeOther(w, r, target, &f.sess, &f.client)
	return nil
}

// oauthCallback answers GET /connect/oauth/callback?code=&state= (or
// error=): the utility sends the browser back here. The state names the
// session, whose cookie this browser must hold (SameSite=Lax cookies come
// along on this top-level navigation), and must match the one bound by
// startOAuth; it is used once. A refusal at the utility goes back to the
// credentials step with a notice; a code is exchanged and completes the
// connection as a login does.
func (u *UI) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sid, secret, ok := strings.Cut(q.Get("state"), ".")
	if !ok || !validSID(sid) || secret == "" || len(secret) > 128 {
		return errInvalidLink
	}
	r.SetPathValue("sid", sid)
	unlock := u.locks.lock(sid)
	defer unlock()
	ctx := r.Context()
	f, err := u.loadFlow(ctx, r)
	if err != nil {
		return err
	}
	if f.sess.Step != store.StepCredentials || f.sess.Pending == nil || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	p, err := openPending(u.vault, f.sess.Pending, f.sess.ID)
	if err != nil {
		return err
	}
	if len(p.OAuthState) == 0 || subtle.ConstantTimeCompare(p.OAuthState, auth.Digest(secret)) != 1 || p.OAuthUtility != f.sess.UtilityID {
		u.log.InfoContext(ctx, "connect: OAuth callback with a stale or wrong state", "session", f.sess.ID)
		return u.toPage(w, r, f, "")
	}
	// The state is spent whatever happens next.
	f.sess.Pending = nil
	if err := u.save(ctx, f); err != nil {
		return err
	}
	oc, ok := u.oauthConnector(f.sess.UtilityID)
	if !ok {
		return u.toPage(w, r, f, noticeUnavailable)
	}
	if e := q.Get("error"); e != "" {
		u.log.InfoContext(ctx, "connect: the utility returned an OAuth error", "session", f.sess.ID, "utility_id", f.sess.UtilityID, "error", truncateText(e, 64))
		if e == "access_denied" {
			return u.toPage(w, r, f, noticeOAuthCancelled)
		}
		return u.toPage(w, r, f, noticeUnavailable)
	}
	code := q.Get("code")
	if !checkText(code, 2048) {
		return u.toPage(w, r, f, noticeOAuthRefused)
	}
	cctx, cancel := context.WithTimeout(ctx, u.timeout)
	login, err := oc.CompleteOAuth(cctx, code, u.callbackURL(r))
	cancel()
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		kind := connector.KindOf(err)
		u.logConnectorError(ctx, f, "authorization", kind, err)
		if kind == connector.KindBadCredentials {
			return u.loginFailed(ctx, w, r, f, noticeOAuthRefused)
		}
		return u.toPage(w, r, f, noticeFor(kind))
	}
	name := login.Username
	if name == "" || !checkText(name, maxUsername) {
		util, _ := u.catalog.ByID(f.sess.UtilityID)
		name = util.Name + " (Green Button Connect)"
	}
	return u.completeWith(ctx, w, r, f, syncer.Credential{Username: name, Session: login.Session}, nil)
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
