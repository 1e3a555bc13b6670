package connectui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/portal"
	"github.com/gridlink/gridlink/internal/store"
)

// Input limits. Longer input is refused with a message on the form.
const (
	maxBody     = 1 << 20
	maxUsername = 256
	maxPassword = 1024
	maxCode     = 32
	maxQuery    = 100
	maxSlug     = 100
	// maxListed caps the utilities listed at once; a search narrows them.
	maxListed = 100
	// maxMFAAttempts wrong codes drop the challenge (one failed login);
	// as many refused delivery choices end the verification step.
	maxMFAAttempts = 3
	// maxPrompt bounds a challenge prompt from the utility's site; a longer
	// or malformed one is replaced by a generic text.
	maxPrompt = 500
	// Delivery choices offered by a utility's site (cleanMethods): at most
	// maxMethods are shown; an id (posted back as is) longer than
	// maxMethodID is dropped, a label is cut to maxMethodLabel runes.
	maxMethods     = 10
	maxMethodID    = 100
	maxMethodLabel = 120
)

// Connect exit statuses (pelm-api.md 4.3) used as session outcomes and as
// the error of the return redirect.
const (
	outcomeExit         = "user_initiated_exit"
	outcomeUnsupported  = "unavailable_utility_credentials_submitted"
	outcomeMaxAttempts  = string(gridlink.ConnectMaxAttemptedLogins)
	outcomeTokenInvalid = "connect_token_invalid"
	outcomeInternal     = string(gridlink.InternalError)
)

// Notices: the result of a POST, carried to the page it redirects to as
// ?notice=. Only these fixed keys are understood; each maps to fixed text.
const (
	noticeBadCredentials = "bad_credentials"
	noticeUnavailable    = "unavailable"
	noticeRateLimited    = "rate_limited"
	noticeLimited        = "limited"
	noticeMFADropped     = "mfa_dropped"
	noticeMFAWrong       = "mfa_wrong"
	noticeMFAExpired     = "mfa_expired"
	noticeMethodFailed   = "method_failed"
)

// start answers GET /: it opens a Connect session from a connect token and
// sends the browser, by 303, to the session's clean URL.
func (u *UI) start(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return errInvalidLink
	}
	if len(q) == 0 {
		u.render(w, http.StatusOK, "landing", view{Title: "gridlink Connect"}, nil, nil)
		return nil
	}
	redirects, states, parents := q["redirect_uri"], q["state"], q[paramParentOrigin]
	embedded := len(redirects) == 0 || (len(redirects) == 1 && redirects[0] == "")
	// The widget names the embedding page's origin; redirect mode ignores it.
	var parent string
	if embedded && len(parents) > 0 && (len(parents) > 1 || parents[0] != "") {
		var ok bool
		if parent, ok = parseOrigin(parents[0]); !ok || len(parents) > 1 {
			u.log.InfoContext(ctx, "connect: malformed parent_origin")
			return errBadOrigin
		}
	}
	tokens := q["connect_token"]
	if len(tokens) != 1 {
		if parent != "" {
			u.embeddedProblem(w, errInvalidLink, parent, outcomeTokenInvalid)
			return nil
		}
		return errInvalidLink
	}
	claims, err := u.auth.ParseConnectToken(tokens[0])
	if err != nil {
		u.log.InfoContext(ctx, "connect: invalid or expired connect token", "embedded", embedded)
		if parent != "" {
			u.embeddedProblem(w, errInvalidLink, parent, outcomeTokenInvalid)
			return nil
		}
		return errInvalidLink
	}
	client, err := u.store.Client(ctx, claims.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		if parent != "" {
			u.embeddedProblem(w, errInvalidLink, parent, outcomeTokenInvalid)
			return nil
		}
		return errInvalidLink
	}
	if err != nil {
		return fmt.Errorf("start connect: load client: %w", err)
	}
	if len(redirects) > 1 || len(states) > 1 {
		return errBadRedirect
	}
	if !embedded && !validRedirectURI(redirects[0], client.RedirectURIs) {
		u.log.InfoContext(ctx, "connect: redirect_uri not registered", "client_id", client.ID)
		return errBadRedirect
	}
	if parent != "" && !originAllowed(parent, client.Origins) {
		// Framing is refused as well (the error page's frame-ancestors is
		// 'none'); the log says why the widget shows nothing.
		u.log.WarnContext(ctx, "connect: embedding origin not registered for the client",
			"client_id", client.ID, "parent_origin", parent)
		return errBadOrigin
	}
	_, err = u.store.User(ctx, client.ID, claims.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("start connect: look up user: %w", err)
	}
	update := err == nil
	tokenUtility := claims.UtilityID
	if _, ok := u.catalog.ByID(tokenUtility); !ok {
		tokenUtility = 0 // none named, or no longer in the catalogue
	}

	sid, err := u.randomString(sidBytes)
	if err != nil {
		return fmt.Errorf("start connect: %w", err)
	}
	secret, err := u.randomString(secretBytes)
	if err != nil {
		return fmt.Errorf("start connect: %w", err)
	}
	sess := store.ConnectSession{
		ID:             sid,
		CookieHash:     auth.Digest(secret),
		TokenHash:      claims.TokenHash,
		ClientID:       client.ID,
		UserID:         claims.UserID,
		UpdateMode:     update,
		TokenUtilityID: tokenUtility,
		Embedded:       embedded,
		Step:           store.StepTerms,
		CreatedAt:      u.now(),
		ExpiresAt:      claims.ExpiresAt,
	}
	if !embedded {
		sess.RedirectURI = redirects[0]
	} else {
		sess.EmbedOrigin = parent // "" without the widget; see embed.go
	}
	if len(states) == 1 {
		sess.State, sess.HasState = states[0], true
	}
	if update {
		sess.Step = store.StepUtility
		if tokenUtility != 0 {
			sess.Step, sess.UtilityID = store.StepCredentials, tokenUtility
		}
	}
	if err := u.store.CreateConnectSession(ctx, sess); err != nil {
		return fmt.Errorf("start connect: create session: %w", err)
	}
	u.log.InfoContext(ctx, "connect: session started", "session", sid, "client_id", client.ID,
		"update_mode", update, "embedded", embedded, "parent_origin", parent, "token_utility_id", tokenUtility)
	http.SetCookie(w, u.sessionCookie(sess, secret))
	seeOther(w, r, pageURL(sid, ""), &sess, &client)
	return nil
}

// pageURL is the clean URL of a session's current step.
func pageURL(sid, notice string) string {
	if notice == "" {
		return "/connect/" + sid
	}
	return "/connect/" + sid + "?notice=" + url.QueryEscape(notice)
}

// page answers GET /connect/{sid}: the session's current step.
func (u *UI) page(w http.ResponseWriter, r *http.Request) error {
	f, err := u.loadFlow(r.Context(), r)
	if errors.Is(err, errSessionNotFound) && u.sessionLost(w, r) {
		return nil
	}
	if err != nil {
		return err
	}
	query := r.URL.Query()
	return u.show(w, r, f, showOpts{notice: query.Get("notice"), query: query.Get("q")})
}

// showOpts tune how the current step is drawn.
type showOpts struct {
	status   int    // 0: 200
	notice   string // result of the previous POST (a notice* key)
	alert    string // validation message for a re-drawn form
	username string // typed username to keep in the form
	query    string // utility search
}

// show renders the session's current step.
func (u *UI) show(w http.ResponseWriter, r *http.Request, f *flow, o showOpts) error {
	ctx := r.Context()
	s := &f.sess
	status := o.status
	if status == 0 {
		status = http.StatusOK
	}
	v := view{SID: s.ID, AppName: f.client.Name, Embedded: s.Embedded, Parent: parentOrigin(s), ShowExit: true, Alert: o.alert}
	draw := func(page string) error {
		if v.Parent != "" && v.ErrorStatus != "" {
			// The widget's failed view has its own Close button, which
			// reports ErrorStatus; the footer exit would repeat it.
			v.ShowExit = false
		}
		u.render(w, status, page, v, s, &f.client)
		return nil
	}
	if f.expired(u.now()) {
		v.Title, v.Heading = "Session expired", "This session has expired"
		v.Message = "For your security, Connect sessions last 30 minutes. Go back to " + f.client.Name + " and start again."
		v.ShowExit, v.CanReturn, v.ErrorStatus = s.Embedded, !s.Embedded, outcomeTokenInvalid
		return draw("failed")
	}
	switch s.Step {
	case store.StepTerms:
		v.Title = "Connect your utility account"
		return draw("terms")

	case store.StepUtility:
		v.Title = "Choose your utility"
		q := strings.TrimSpace(o.query)
		if len(q) > maxQuery || !utf8.ValidString(q) {
			q = ""
			v.Alert = "That search is too long."
		}
		v.Query = q
		v.Utilities = u.catalog.Search(q)
		if len(v.Utilities) > maxListed {
			v.Utilities, v.Truncated = v.Utilities[:maxListed], true
		}
		return draw("utility")

	case store.StepCredentials:
		util, ok := u.catalog.ByID(s.UtilityID)
		if !ok {
			v.Title, v.Heading = "Utility not available", "This utility is no longer available"
			v.Message = "Nothing was connected."
			v.ShowExit, v.CanReturn, v.ErrorStatus = s.Embedded, !s.Embedded, outcomeInternal
			return draw("failed")
		}
		v.Utility = util
		left := gridlink.MaxLoginAttempts - s.LoginAttempts
		switch o.notice {
		case noticeBadCredentials:
			v.Message = "The username or password is incorrect. " + plural(left, "attempt", "attempts") + " left."
		case noticeUnavailable:
			v.Message = "We could not reach " + util.Name + " right now. Please try again in a few minutes."
		case noticeRateLimited:
			v.Message = util.Name + " is busy right now. Please wait a minute and try again."
		case noticeLimited:
			v.Message = "Too many failed attempts from your network; try again later."
		case noticeOAuthCancelled:
			v.Alert = "You cancelled at " + util.Name + ". Nothing was connected; you can try again."
		case noticeOAuthRefused:
			v.Message = util.Name + " did not confirm the authorization. " + plural(left, "attempt", "attempts") + " left."
		case noticeMFADropped:
			v.Alert = "That code was wrong too many times. Sign in again to get a new code. " + plural(left, "attempt", "attempts") + " left."
		case noticeMFAExpired:
			v.Alert = "The verification step has expired. Sign in again to get a new code."
		}
		if v.Message != "" {
			v.Title, v.Heading = "Could not connect", "Could not connect to "+util.Name
			// "Return to <app>" replaces the footer exit control.
			v.CanRetry, v.CanReturn, v.ShowExit = true, !s.Embedded, s.Embedded
			return draw("attempt")
		}
		v.Title = "Sign in to " + util.Name
		v.UtilityFixed = s.TokenUtilityID != 0
		v.Username = o.username
		v.Hint = hintFor(util)
		_, v.OAuth = u.oauthConnector(util.ID)
		v.Upload = u.ingest != nil
		return draw("credentials")

	case store.StepMFA:
		util, _ := u.catalog.ByID(s.UtilityID)
		v.Utility = util
		methods, err := u.pendingMethods(s)
		if err != nil {
			return fmt.Errorf("show: %w", err)
		}
		if len(methods) > 0 {
			v.Title = "Choose how to get your code"
			v.MFAPrompt = s.MFAPrompt
			if v.MFAPrompt == "" {
				v.MFAPrompt = "How should " + util.Name + " send your verification code?"
			}
			v.MFAMethods = methods
			switch o.notice {
			case noticeMethodFailed:
				v.Alert = util.Name + " could not send a code that way. Choose how to get your code again."
			case noticeUnavailable, noticeRateLimited:
				v.Alert = "We could not reach " + util.Name + " right now. Please choose again in a minute."
			}
			return draw("mfa_method")
		}
		v.Title = "Enter your verification code"
		v.MFAPrompt = s.MFAPrompt
		if v.MFAPrompt == "" {
			v.MFAPrompt = "Enter the code " + util.Name + " sent you."
		}
		switch o.notice {
		case noticeMFAWrong:
			v.Alert = "That code is not right. " + plural(maxMFAAttempts-s.MFAAttempts, "try", "tries") + " left."
		case noticeUnavailable, noticeRateLimited:
			v.Alert = "We could not reach " + util.Name + " right now. Please try the code again in a minute."
		}
		return draw("mfa")

	case store.StepDone:
		util, _ := u.catalog.ByID(s.UtilityID)
		v.Utility = util
		v.Title = "Connected"
		if s.Pending == nil {
			v.Delivered, v.ShowExit = true, false
			return draw("done")
		}
		user, err := u.store.User(ctx, f.client.ID, s.UserID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("show confirmation: load user: %w", err)
		}
		v.Username = user.UtilityUsername
		if s.Embedded {
			code, err := u.vault.Open(s.Pending, s.ID)
			if err != nil {
				return fmt.Errorf("show confirmation: open code: %w", err)
			}
			v.Code = string(code)
		}
		return draw("done")

	case store.StepFailed:
		if s.Outcome == outcomeUnsupported {
			v.Utility, _ = u.catalog.ByID(s.UtilityID) // the widget's onExit metadata
		}
		v.Title, v.Heading = "Not connected", "Not connected"
		v.Message = outcomeMessage(s.Outcome, f.client.Name)
		v.ShowExit, v.CanReturn, v.ErrorStatus = s.Embedded, !s.Embedded, s.Outcome
		return draw("failed")
	}
	return fmt.Errorf("show: session %s has unknown step %q", s.ID, s.Step)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprint(n, " ", many)
}

// outcomeMessage is the failed view's text for an exit status.
func outcomeMessage(outcome, app string) string {
	switch outcome {
	case outcomeMaxAttempts:
		return "There were too many failed sign-in attempts. Nothing was connected."
	case outcomeUnsupported:
		return "This utility is not supported yet. Your login was not kept, and nothing was connected."
	case outcomeExit:
		return "You left Connect. Nothing was connected."
	case outcomeTokenInvalid:
		return "This link was already used or has expired. Go back to " + app + " and start again."
	}
	return "Something went wrong and nothing was connected. Go back to " + app + " and try again."
}

// hintFor returns the help for a utility reached by a sandbox connector or
// the demo utility's.
func hintFor(util gridlink.Utility) *hint {
	switch util.Connector {
	case catalog.ConnectorPelmSandbox:
		return &hint{Text: "Sandbox: user@pelm.com / password"}
	case catalog.ConnectorSandbox:
		return &hint{
			Text: "Sandbox logins (password \"password\" unless noted):",
			Scenarios: []scenario{
				{"user@pelm.com", "connects the sandbox user"},
				{"mfa@sandbox.test", "asks for a code: 123456 passes"},
				{"locked@sandbox.test", "every password is rejected"},
				{"down@sandbox.test", "the utility site is down"},
				{"expire@sandbox.test", "the login is rejected at the first re-sync"},
				{"slow@sandbox.test", "the first sync takes 60 seconds"},
				{"big@sandbox.test", "three accounts, three years of 15-minute data"},
				{"custom@sandbox.test", "any password of 8 or more characters"},
			},
		}
	case catalog.ConnectorDemoGreenButton:
		return &hint{
			Text: "Demo Green Button Utility logins, on its own sign-in page:",
			Scenarios: []scenario{
				{"gbuser1", "password gbuser1-password: a year of hourly electricity"},
				{"gbuser2", "password gbuser2-password: a multi-family building, hourly"},
				{"gbuser3", "password gbuser3-password: monthly electricity and gas with bills"},
			},
		}
	case catalog.ConnectorDemoPower:
		return &hint{
			Text: "Demo utility logins (the codes it sends are listed on its /outbox page):",
			Scenarios: []scenario{
				{"alice", "password alice-password, no code"},
				{"bob", "password bob-password, a code by text"},
				{"carol", "password carol-password, a code by text or e-mail"},
			},
		}
	}
	return nil
}

// post wraps a state-changing handler: cross-origin protection, a 1 MiB
// body limit, one request at a time per session, the session and its
// cookie checked, and the urlencoded form parsed into r.PostForm.
func (u *UI) post(h func(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error) http.Handler {
	return u.csrf.Handler(u.handle(func(w http.ResponseWriter, r *http.Request) error {
		sid := r.PathValue("sid")
		if !validSID(sid) {
			return errSessionNotFound
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		unlock := u.locks.lock(sid)
		defer unlock()
		ctx := r.Context()
		f, err := u.loadFlow(ctx, r)
		if err != nil {
			return err
		}
		if err := r.ParseForm(); err != nil {
			return errBadForm
		}
		return h(ctx, w, r, f)
	}))
}

// toPage answers 303 to the session's page, with an optional notice.
func (u *UI) toPage(w http.ResponseWriter, r *http.Request, f *flow, notice string) error {
	seeOther(w, r, pageURL(f.sess.ID, notice), &f.sess, &f.client)
	return nil
}

// leave ends the walk: in redirect mode a 303 to the app's redirect URI with
// params (and state); in embedded mode back to the page, which shows the
// outcome to the widget.
func (u *UI) leave(w http.ResponseWriter, r *http.Request, f *flow, params url.Values) error {
	if f.sess.Embedded {
		return u.toPage(w, r, f, "")
	}
	if f.sess.HasState {
		params.Set("state", f.sess.State)
	}
	seeOther(w, r, returnURL(f.sess.RedirectURI, params), &f.sess, &f.client)
	return nil
}

// end marks the session failed with an exit status and persists it.
func (u *UI) end(ctx context.Context, f *flow, outcome string) error {
	f.sess.Step, f.sess.Outcome = store.StepFailed, outcome
	f.sess.Pending, f.sess.MFAPrompt = nil, ""
	if err := u.save(ctx, f); err != nil {
		return err
	}
	u.log.InfoContext(ctx, "connect: session ended", "session", f.sess.ID, "client_id", f.client.ID, "outcome", outcome)
	return nil
}

// fail ends the session and leaves with error=outcome.
func (u *UI) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, outcome string) error {
	if err := u.end(ctx, f, outcome); err != nil {
		return err
	}
	return u.leave(w, r, f, url.Values{"error": {outcome}})
}

// terms answers POST /connect/{sid}/terms.
func (u *UI) terms(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepTerms || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	f.sess.Step = store.StepUtility
	if f.sess.TokenUtilityID != 0 {
		f.sess.Step, f.sess.UtilityID = store.StepCredentials, f.sess.TokenUtilityID
	}
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, "")
}

// chooseUtility answers POST /connect/{sid}/utility (utility_slug).
func (u *UI) chooseUtility(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepUtility || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	slug := r.PostForm.Get("utility_slug")
	util, ok := u.catalog.BySlug(slug)
	if len(slug) > maxSlug || !ok {
		return u.show(w, r, f, showOpts{status: http.StatusBadRequest, alert: "Choose your utility from the list."})
	}
	f.sess.Step, f.sess.UtilityID = store.StepCredentials, util.ID
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, "")
}

// back answers POST /connect/{sid}/back: from credentials to utility
// selection, unless the token fixed the utility.
func (u *UI) back(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepCredentials || f.sess.TokenUtilityID != 0 || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	f.sess.Step, f.sess.UtilityID = store.StepUtility, 0
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, "")
}

// retry answers POST /connect/{sid}/retry: from an error view back to the
// credentials form (the view is only a notice on that step).
func (u *UI) retry(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	return u.toPage(w, r, f, "")
}

// checkText validates one typed field.
func checkText(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// credentials answers POST /connect/{sid}/credentials: the utility login is
// checked live through the utility's connector.
func (u *UI) credentials(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepCredentials || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	var alert string
	switch {
	case username == "" || password == "":
		alert = "Enter your username and password."
	case !checkText(username, maxUsername):
		alert = "That username is too long or contains characters that are not allowed."
	case !checkText(password, maxPassword):
		alert = "That password is too long or contains characters that are not allowed."
	}
	if alert != "" {
		keep := username
		if !checkText(keep, maxUsername) {
			keep = ""
		}
		return u.show(w, r, f, showOpts{status: http.StatusBadRequest, alert: alert, username: keep})
	}
	if f.sess.LoginAttempts >= gridlink.MaxLoginAttempts {
		return u.fail(ctx, w, r, f, outcomeMaxAttempts)
	}
	util, ok := u.catalog.ByID(f.sess.UtilityID)
	if !ok {
		return u.toPage(w, r, f, "") // shows that the utility is gone
	}
	key := f.client.ID + "\x00" + u.clientIP(r)
	if !u.limiter.reserve(key, u.now()) {
		u.log.WarnContext(ctx, "connect: failed-login limit reached", "session", f.sess.ID, "client_id", f.client.ID)
		return u.toPage(w, r, f, noticeLimited)
	}
	conn := u.connectors[util.Connector]
	if util.Connector == "" || conn == nil {
		u.limiter.release(key, u.now())
		u.log.InfoContext(ctx, "connect: credentials submitted for an unsupported utility",
			"session", f.sess.ID, "client_id", f.client.ID, "utility_id", util.ID)
		return u.fail(ctx, w, r, f, outcomeUnsupported)
	}
	creds := connector.Credentials{Username: username, Password: password}
	cctx, cancel := context.WithTimeout(ctx, u.timeout)
	login, err := conn.Login(cctx, creds)
	cancel()
	// The login happened upstream: record its outcome even if the browser
	// has gone away meanwhile.
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		kind := connector.KindOf(err)
		u.logConnectorError(ctx, f, "login", kind, err)
		if kind == connector.KindBadCredentials {
			// The reserved limiter slot stays taken: this was a failure.
			return u.loginFailed(ctx, w, r, f, noticeBadCredentials)
		}
		u.limiter.release(key, u.now())
		return u.toPage(w, r, f, noticeFor(kind))
	}
	u.limiter.release(key, u.now())
	if login.Challenge != nil {
		return u.challenge(ctx, w, r, f, conn, creds, login.Challenge)
	}
	return u.complete(ctx, w, r, f, creds, login.Session)
}

// noticeFor maps a non-credential connector failure to the notice shown.
func noticeFor(kind connector.Kind) string {
	if kind == connector.KindRateLimited {
		return noticeRateLimited
	}
	return noticeUnavailable
}

func (u *UI) logConnectorError(ctx context.Context, f *flow, op string, kind connector.Kind, err error) {
	level := slogLevelFor(kind)
	u.log.Log(ctx, level, "connect: "+op+" failed", "session", f.sess.ID, "client_id", f.client.ID,
		"utility_id", f.sess.UtilityID, "kind", kind.String(), "err", err)
}

// loginFailed counts a failed login in the session; the fifth ends it.
func (u *UI) loginFailed(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, notice string) error {
	f.sess.LoginAttempts++
	if f.sess.LoginAttempts >= gridlink.MaxLoginAttempts {
		return u.fail(ctx, w, r, f, outcomeMaxAttempts)
	}
	f.sess.Step, f.sess.Pending, f.sess.MFAPrompt, f.sess.MFAAttempts = store.StepCredentials, nil, "", 0
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, notice)
}

// challenge keeps the typed login and the connector's challenge state,
// sealed to the session, and moves to the code step.
//
// A challenge with delivery choices (Challenge.Methods) first shows the
// choice; the checked list of choices is sealed along with the state.
func (u *UI) challenge(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, conn connector.Connector, creds connector.Credentials, ch *connector.Challenge) error {
	if _, ok := conn.(connector.MFA); !ok {
		u.log.ErrorContext(ctx, "connect: connector asked for a code but cannot take one",
			"session", f.sess.ID, "utility_id", f.sess.UtilityID)
		return u.dropChallenge(ctx, w, r, f, noticeUnavailable)
	}
	var methods []connector.MFAMethod
	if len(ch.Methods) > 0 {
		if _, ok := conn.(connector.MFAMethodChooser); !ok {
			u.log.ErrorContext(ctx, "connect: connector offered code delivery choices but cannot take one",
				"session", f.sess.ID, "utility_id", f.sess.UtilityID)
			return u.dropChallenge(ctx, w, r, f, noticeUnavailable)
		}
		if methods = cleanMethods(ch.Methods); len(methods) == 0 {
			u.log.ErrorContext(ctx, "connect: connector offered no usable code delivery choice",
				"session", f.sess.ID, "utility_id", f.sess.UtilityID, "offered", len(ch.Methods))
			return u.dropChallenge(ctx, w, r, f, noticeUnavailable)
		}
	}
	sealed, err := sealPending(u.vault, pendingLogin{Username: creds.Username, Password: creds.Password, State: ch.State, Methods: methods}, f.sess.ID)
	if err != nil {
		return err
	}
	prompt := ch.Prompt
	if len(prompt) > maxPrompt || !utf8.ValidString(prompt) {
		prompt = ""
	}
	f.sess.Step, f.sess.Pending, f.sess.MFAPrompt, f.sess.MFAAttempts = store.StepMFA, sealed, prompt, 0
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, "")
}

// dropChallenge abandons the challenge under way, without counting a failed
// login, and goes back to the credentials form with a notice.
func (u *UI) dropChallenge(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, notice string) error {
	f.sess.Step, f.sess.Pending, f.sess.MFAPrompt, f.sess.MFAAttempts = store.StepCredentials, nil, "", 0
	if err := u.save(ctx, f); err != nil {
		return err
	}
	return u.toPage(w, r, f, notice)
}

// verificationExpired reports whether a connector error means that the
// paused sign-in cannot go on (the site dropped it, or its state is gone):
// the user must sign in again for a new code.
func verificationExpired(err error) bool {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return false
	}
	return ce.Kind == connector.KindMFARequired || ce.Message == portal.MsgStepExpired
}

// cleanMethods checks the delivery choices a utility's site offers before
// they are kept and shown: ids must be short, valid text, and unique (they
// are posted back byte for byte); labels are site text, so they are made
// valid UTF-8 without control characters, whitespace collapsed, cut to
// maxMethodLabel runes; an empty label shows the id.
func cleanMethods(in []connector.MFAMethod) []connector.MFAMethod {
	var out []connector.MFAMethod
	seen := map[string]bool{}
	for _, m := range in {
		if len(out) == maxMethods {
			break
		}
		if !checkText(m.ID, maxMethodID) || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		label := oneLine(strings.ToValidUTF8(m.Label, "\uFFFD"))
		if rs := []rune(label); len(rs) > maxMethodLabel {
			label = strings.TrimSpace(string(rs[:maxMethodLabel-1])) + "…"
		}
		if label == "" {
			label = oneLine(m.ID)
		}
		if label == "" {
			label = fmt.Sprint("Option ", len(out)+1)
		}
		out = append(out, connector.MFAMethod{ID: m.ID, Label: label})
	}
	return out
}

// oneLine turns control characters into spaces and collapses whitespace.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// pendingMethods returns the delivery choices the session waits on (none:
// it waits for a code, or for nothing).
func (u *UI) pendingMethods(s *store.ConnectSession) ([]connector.MFAMethod, error) {
	if s.Step != store.StepMFA || s.Pending == nil {
		return nil, nil
	}
	p, err := openPending(u.vault, s.Pending, s.ID)
	if err != nil {
		return nil, err
	}
	return p.Methods, nil
}

// chooseMethod answers POST /connect/{sid}/mfa-method (method): how the
// utility should send the one-time code. The choice must be one the site
// offered; the connector then has the code sent and the session waits for
// it, with the connector's new state.
func (u *UI) chooseMethod(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepMFA || f.sess.Pending == nil || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	p, err := openPending(u.vault, f.sess.Pending, f.sess.ID)
	if err != nil {
		return err
	}
	if len(p.Methods) == 0 {
		return u.toPage(w, r, f, "") // the code step: nothing to choose
	}
	id := r.PostForm.Get("method")
	if !slices.ContainsFunc(p.Methods, func(m connector.MFAMethod) bool { return m.ID == id }) {
		return u.show(w, r, f, showOpts{status: http.StatusBadRequest, alert: "Choose how to get your code."})
	}
	util, ok := u.catalog.ByID(f.sess.UtilityID)
	conn := u.connectors[util.Connector]
	chooser, canChoose := conn.(connector.MFAMethodChooser)
	if !ok || conn == nil || !canChoose {
		u.log.ErrorContext(ctx, "connect: delivery choice without a usable connector", "session", f.sess.ID, "utility_id", f.sess.UtilityID)
		return u.dropChallenge(ctx, w, r, f, noticeUnavailable)
	}
	creds := connector.Credentials{Username: p.Username, Password: p.Password}
	cctx, cancel := context.WithTimeout(ctx, u.timeout)
	ch, err := chooser.ChooseMFAMethod(cctx, creds, p.State, id)
	cancel()
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		kind := connector.KindOf(err)
		u.logConnectorError(ctx, f, "code delivery choice", kind, err)
		switch {
		case verificationExpired(err):
			return u.dropChallenge(ctx, w, r, f, noticeMFAExpired)
		case kind == connector.KindMFAFailed:
			f.sess.MFAAttempts++
			if f.sess.MFAAttempts >= maxMFAAttempts {
				return u.dropChallenge(ctx, w, r, f, noticeMFAExpired)
			}
			if err := u.save(ctx, f); err != nil {
				return err
			}
			return u.toPage(w, r, f, noticeMethodFailed)
		case kind == connector.KindBadCredentials:
			u.limiter.fail(f.client.ID+"\x00"+u.clientIP(r), u.now())
			return u.loginFailed(ctx, w, r, f, noticeBadCredentials)
		}
		return u.toPage(w, r, f, noticeFor(kind))
	}
	u.log.InfoContext(ctx, "connect: code delivery chosen", "session", f.sess.ID, "utility_id", f.sess.UtilityID, "method", id)
	return u.challenge(ctx, w, r, f, conn, creds, &ch)
}

// mfa answers POST /connect/{sid}/mfa: the one-time code.
func (u *UI) mfa(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepMFA || f.expired(u.now()) {
		return u.toPage(w, r, f, "")
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if !checkText(code, maxCode) {
		alert := "Enter the code."
		if code != "" {
			alert = "That code is too long or contains characters that are not allowed."
		}
		return u.show(w, r, f, showOpts{status: http.StatusBadRequest, alert: alert})
	}
	util, ok := u.catalog.ByID(f.sess.UtilityID)
	conn := u.connectors[util.Connector]
	mfaConn, canMFA := conn.(connector.MFA)
	if !ok || conn == nil || !canMFA || f.sess.Pending == nil {
		u.log.ErrorContext(ctx, "connect: code step without a usable challenge", "session", f.sess.ID, "utility_id", f.sess.UtilityID)
		f.sess.Step, f.sess.Pending, f.sess.MFAPrompt, f.sess.MFAAttempts = store.StepCredentials, nil, "", 0
		if err := u.save(ctx, f); err != nil {
			return err
		}
		return u.toPage(w, r, f, noticeUnavailable)
	}
	p, err := openPending(u.vault, f.sess.Pending, f.sess.ID)
	if err != nil {
		return err
	}
	if len(p.Methods) > 0 {
		return u.toPage(w, r, f, "") // no code was sent yet: choose first
	}
	creds := connector.Credentials{Username: p.Username, Password: p.Password}
	cctx, cancel := context.WithTimeout(ctx, u.timeout)
	login, err := mfaConn.SubmitMFA(cctx, creds, p.State, code)
	cancel()
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		kind := connector.KindOf(err)
		u.logConnectorError(ctx, f, "code", kind, err)
		if verificationExpired(err) {
			return u.dropChallenge(ctx, w, r, f, noticeMFAExpired)
		}
		key := f.client.ID + "\x00" + u.clientIP(r)
		switch kind {
		case connector.KindMFAFailed:
			f.sess.MFAAttempts++
			if f.sess.MFAAttempts < maxMFAAttempts {
				if err := u.save(ctx, f); err != nil {
					return err
				}
				return u.toPage(w, r, f, noticeMFAWrong)
			}
			u.limiter.fail(key, u.now())
			return u.loginFailed(ctx, w, r, f, noticeMFADropped)
		case connector.KindBadCredentials:
			u.limiter.fail(key, u.now())
			return u.loginFailed(ctx, w, r, f, noticeBadCredentials)
		}
		return u.toPage(w, r, f, noticeFor(kind))
	}
	if login.Challenge != nil {
		return u.challenge(ctx, w, r, f, conn, creds, login.Challenge)
	}
	return u.complete(ctx, w, r, f, creds, login.Session)
}

// continueToApp answers POST /connect/{sid}/continue on the confirmation:
// the code is handed over once, by 303 to redirect_uri?code=&state=.
func (u *UI) continueToApp(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepDone {
		return u.toPage(w, r, f, "")
	}
	if f.sess.Pending == nil {
		return errDelivered
	}
	if f.sess.Embedded {
		// The widget's page posted the code to the app and says so: the
		// code leaves the session, and the confirmation shows no code again.
		f.sess.Pending = nil
		if err := u.save(ctx, f); err != nil {
			return err
		}
		u.log.InfoContext(ctx, "connect: code handed to the widget", "session", f.sess.ID, "client_id", f.client.ID)
		return u.toPage(w, r, f, "")
	}
	code, err := u.vault.Open(f.sess.Pending, f.sess.ID)
	if err != nil {
		return fmt.Errorf("continue: open code: %w", err)
	}
	f.sess.Pending = nil
	if err := u.save(ctx, f); err != nil {
		return err
	}
	u.log.InfoContext(ctx, "connect: code handed to the app", "session", f.sess.ID, "client_id", f.client.ID)
	return u.leave(w, r, f, url.Values{"code": {string(code)}})
}

// exit answers POST /connect/{sid}/exit, the exit control of every page.
func (u *UI) exit(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	var outcome string
	switch {
	case f.sess.Step == store.StepDone && f.sess.Pending == nil:
		return errDelivered
	case f.sess.Step == store.StepFailed:
		outcome = f.sess.Outcome
		if outcome == "" {
			outcome = outcomeInternal
		}
		return u.leave(w, r, f, url.Values{"error": {outcome}})
	case f.expired(u.now()):
		outcome = outcomeTokenInvalid
	default:
		outcome = outcomeExit
	}
	return u.fail(ctx, w, r, f, outcome)
}
