package demoutility

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Stages of a session.
const (
	stageAnon   = iota // not signed in
	stageChoose        // password accepted; choose how to get a code
	stageVerify        // code sent; waiting for it
	stageIn            // signed in
)

// session is a browser session. The CSRF token is per session.
type session struct {
	id, csrf string
	user     string
	stage    int
	method   string // delivery method of the pending code
	code     string
	codeExp  time.Time
	attempts int
	seen     time.Time
	flash    string // shown once on the next page
}

// maxForm bounds form bodies.
const maxForm = 64 << 10

// currentLocked returns the request's live session, or nil; s.mu must be
// held.
func (s *Site) currentLocked(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	ss, ok := s.sessions[c.Value]
	if !ok {
		return nil
	}
	now := s.now()
	if now.Sub(ss.seen) > s.sessionTTL {
		delete(s.sessions, ss.id)
		return nil
	}
	ss.seen = now
	return ss
}

// startLocked creates a session of the given stage and sets its cookie,
// ending old (the session being replaced, or nil) so that a session id
// never survives a change of privilege.
func (s *Site) startLocked(w http.ResponseWriter, r *http.Request, old *session, user string, stage int) *session {
	if old != nil {
		delete(s.sessions, old.id)
	}
	ss := &session{id: s.tokenLocked(18), csrf: s.tokenLocked(18), user: user, stage: stage, seen: s.now()}
	s.sessions[ss.id] = ss
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: ss.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	return ss
}

// checkPost parses a form POST and checks its CSRF token against the
// session; on failure it has answered 403.
func (s *Site) checkPost(w http.ResponseWriter, r *http.Request, ss *session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "error", view{Title: "Bad request",
			Data: errorView{Heading: "Bad request", Text: "The form could not be read."}})
		return false
	}
	if ss == nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf_token")), []byte(ss.csrf)) != 1 {
		s.render(w, r, http.StatusForbidden, "error", view{Title: "Session expired",
			Data: errorView{Heading: "Your session has expired", Text: "For your security, please go back to the sign-in page and try again.", Link: "/login"}})
		return false
	}
	return true
}

func (s *Site) home(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.currentLocked(r)
	s.mu.Unlock()
	if ss != nil && ss.stage == stageIn {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.currentLocked(r)
	if ss != nil && ss.stage == stageIn {
		s.mu.Unlock()
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	if ss == nil || ss.stage != stageAnon {
		ss = s.startLocked(w, r, ss, "", stageAnon)
	}
	v := view{Title: "Sign in", CSRF: ss.csrf, Notice: ss.flash}
	ss.flash = ""
	s.mu.Unlock()
	s.render(w, r, http.StatusOK, "login", v)
}

func (s *Site) login(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.currentLocked(r)
	if !s.checkPost(w, r, ss) {
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	pw := r.PostForm.Get("password")
	u, known := s.specs[name]
	want := s.passwords[name]
	if !known || subtle.ConstantTimeCompare([]byte(pw), []byte(want)) != 1 {
		s.stats.FailedSignIns++
		s.log.InfoContext(r.Context(), "demo utility: sign-in failed", "known_user", known)
		typed := r.PostForm.Get("username")
		if !utf8.ValidString(typed) || len(typed) > 100 {
			typed = ""
		}
		s.render(w, r, http.StatusOK, "login", view{Title: "Sign in", CSRF: ss.csrf, Username: typed,
			Error: "The username or password you entered is incorrect."})
		return
	}
	remembered := false
	if c, err := r.Cookie(DeviceCookie); err == nil {
		d, ok := s.devices[c.Value]
		remembered = ok && d.user == name && s.now().Before(d.expires)
	}
	switch {
	case len(u.methods) == 0 || remembered:
		s.startLocked(w, r, ss, name, stageIn)
		s.stats.SignIns++
		s.log.InfoContext(r.Context(), "demo utility: signed in", "user", name, "remembered_device", remembered)
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
	case len(u.methods) == 1:
		ns := s.startLocked(w, r, ss, name, stageVerify)
		s.sendCodeLocked(r, ns, u, u.methods[0])
		http.Redirect(w, r, "/mfa/verify", http.StatusSeeOther)
	default:
		s.startLocked(w, r, ss, name, stageChoose)
		http.Redirect(w, r, "/mfa/choose", http.StatusSeeOther)
	}
}

// sendCodeLocked makes a new code for the session and "sends" it.
func (s *Site) sendCodeLocked(r *http.Request, ss *session, u userSpec, method string) {
	ss.code = fmt.Sprintf("%06d", int(s.uniformLocked()*1_000_000))
	ss.method, ss.codeExp, ss.attempts = method, s.now().Add(CodeTTL), 0
	to := u.phone
	if method == MethodEmail {
		to = u.email
	}
	s.outbox = append(s.outbox, Message{Time: s.now(), User: u.name, Channel: method, To: to, Code: ss.code,
		Body: fmt.Sprintf("Your %s verification code is %s. It expires in %d minutes. We will never call you to ask for it.", Name, ss.code, int(CodeTTL.Minutes()))})
	s.stats.CodesSent++
	s.log.InfoContext(r.Context(), "demo utility: one-time code sent", "user", u.name, "channel", method)
}

// maskedTo is how the site names a delivery address on its pages.
func maskedTo(u userSpec, method string) string {
	if method == MethodEmail {
		at := strings.IndexByte(u.email, '@')
		return u.email[:1] + strings.Repeat("*", max(1, at-1)) + u.email[at:]
	}
	return "(***) ***-" + u.phone[len(u.phone)-4:]
}

func methodLabel(u userSpec, method string) string {
	if method == MethodEmail {
		return "E-mail to " + maskedTo(u, method)
	}
	return "Text message to " + maskedTo(u, method)
}

// pending returns the session waiting at stage, or redirects to the
// sign-in page and returns nil.
func (s *Site) pendingLocked(w http.ResponseWriter, r *http.Request, stage int) *session {
	ss := s.currentLocked(r)
	if ss == nil || ss.stage != stage {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	return ss
}

func (s *Site) choosePage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.pendingLocked(w, r, stageChoose); ss != nil {
		s.renderChoose(w, r, ss, http.StatusOK, "")
	}
}

type choice struct{ Value, Label string }

func (s *Site) renderChoose(w http.ResponseWriter, r *http.Request, ss *session, status int, errMsg string) {
	u := s.specs[ss.user]
	var cs []choice
	for _, m := range u.methods {
		cs = append(cs, choice{m, methodLabel(u, m)})
	}
	s.render(w, r, status, "mfa_choose", view{Title: "Verify it's you", CSRF: ss.csrf, Error: errMsg, Data: cs})
}

func (s *Site) choose(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.pendingLocked(w, r, stageChoose)
	if ss == nil || !s.checkPost(w, r, ss) {
		return
	}
	u := s.specs[ss.user]
	m := r.PostForm.Get("method")
	if !slices.Contains(u.methods, m) {
		s.renderChoose(w, r, ss, http.StatusOK, "Please choose how you would like to receive your code.")
		return
	}
	ss.stage = stageVerify
	s.sendCodeLocked(r, ss, u, m)
	http.Redirect(w, r, "/mfa/verify", http.StatusSeeOther)
}

func (s *Site) verifyPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.pendingLocked(w, r, stageVerify); ss != nil {
		s.renderVerify(w, r, ss, "")
	}
}

type verifyView struct {
	Prompt       string
	OtherMethods bool
	RememberDays int
}

func (s *Site) renderVerify(w http.ResponseWriter, r *http.Request, ss *session, errMsg string) {
	u := s.specs[ss.user]
	how := "by text message to " + maskedTo(u, ss.method)
	if ss.method == MethodEmail {
		how = "by e-mail to " + maskedTo(u, ss.method)
	}
	s.render(w, r, http.StatusOK, "mfa_verify", view{Title: "Enter your code", CSRF: ss.csrf, Error: errMsg,
		Data: verifyView{Prompt: "We sent a 6-digit code " + how + ". Enter it below to continue.", OtherMethods: len(u.methods) > 1,
			RememberDays: max(1, int(s.deviceTTL/(24*time.Hour)))}})
}

func (s *Site) verify(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.pendingLocked(w, r, stageVerify)
	if ss == nil || !s.checkPost(w, r, ss) {
		return
	}
	u := s.specs[ss.user]
	code := strings.TrimSpace(r.PostForm.Get("code"))
	switch {
	case !s.now().Before(ss.codeExp):
		s.sendCodeLocked(r, ss, u, ss.method)
		s.renderVerify(w, r, ss, "That code has expired. We sent you a new one.")
		return
	case subtle.ConstantTimeCompare([]byte(code), []byte(ss.code)) != 1:
		ss.attempts++
		if ss.attempts >= MaxCodeAttempts {
			ns := s.startLocked(w, r, ss, "", stageAnon)
			ns.flash = "Too many incorrect codes. Please sign in again."
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		s.renderVerify(w, r, ss, "That code is incorrect. Please check it and try again.")
		return
	}
	s.startLocked(w, r, ss, ss.user, stageIn)
	if r.PostForm.Get("remember_device") != "" {
		tok := s.tokenLocked(24)
		s.devices[tok] = device{user: u.name, expires: s.now().Add(s.deviceTTL)}
		http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: tok, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, MaxAge: int(s.deviceTTL / time.Second)})
	}
	s.stats.SignIns++
	s.log.InfoContext(r.Context(), "demo utility: signed in with a code", "user", u.name, "remember_device", r.PostForm.Get("remember_device") != "")
	http.Redirect(w, r, "/accounts", http.StatusSeeOther)
}

// useOtherMethod goes back from the code page to the method choice.
func (s *Site) useOtherMethod(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.pendingLocked(w, r, stageVerify)
	if ss == nil || !s.checkPost(w, r, ss) {
		return
	}
	if len(s.specs[ss.user].methods) > 1 {
		ss.stage, ss.code = stageChoose, ""
		http.Redirect(w, r, "/mfa/choose", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/mfa/verify", http.StatusSeeOther)
}

func (s *Site) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.currentLocked(r)
	if !s.checkPost(w, r, ss) {
		return
	}
	ns := s.startLocked(w, r, ss, "", stageAnon)
	ns.flash = "You have signed out."
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// signedInLocked returns the signed-in session, or redirects to the
// sign-in page (saying the session expired) and returns nil.
func (s *Site) signedInLocked(w http.ResponseWriter, r *http.Request) *session {
	ss := s.currentLocked(r)
	if ss != nil && ss.stage == stageIn {
		return ss
	}
	ns := s.startLocked(w, r, ss, "", stageAnon)
	ns.flash = "Please sign in to continue."
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Site) passwordPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.signedInLocked(w, r); ss != nil {
		v := s.userView(ss, "Change password", "profile")
		v.Notice, ss.flash = ss.flash, ""
		s.render(w, r, http.StatusOK, "password", v)
	}
}

func (s *Site) changePassword(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.signedInLocked(w, r)
	if ss == nil || !s.checkPost(w, r, ss) {
		return
	}
	cur, nw, confirm := r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), r.PostForm.Get("confirm_password")
	v := s.userView(ss, "Change password", "profile")
	switch {
	case subtle.ConstantTimeCompare([]byte(cur), []byte(s.passwords[ss.user])) != 1:
		v.Error = "Your current password is incorrect."
	case utf8.RuneCountInString(nw) < 8 || len(nw) > 200:
		v.Error = "Your new password must be at least 8 characters long."
	case nw == cur:
		v.Error = "Your new password must be different from your current password."
	case nw != confirm:
		v.Error = "The new passwords do not match."
	}
	if v.Error != "" {
		s.render(w, r, http.StatusOK, "password", v)
		return
	}
	s.changePasswordLocked(ss.user, nw, ss.id)
	s.log.InfoContext(r.Context(), "demo utility: password changed", "user", ss.user)
	ss.flash = "Your password has been changed. Other devices have been signed out."
	http.Redirect(w, r, "/profile/password", http.StatusSeeOther)
}
