package portal

import (
	"context"
	"errors"
	"strings"

	"github.com/gridlink/gridlink/internal/connector"
)

// Signing in.
//
// Most utility sites sign in the same way: a login form, then perhaps a
// choice of how to receive a one-time code, then the code form, then a
// page only signed-in customers see. A connector describes its site's
// pages in a LoginFlow (Options.Login) and the toolkit runs the steps:
// Toolkit.Login, Toolkit.ChooseMFAMethod and Toolkit.SubmitMFA implement
// the connector contract's methods of the same names, and Toolkit.Resume
// gives Fetch a signed-in session.
//
// The toolkit keeps two kinds of upstream state, as bytes that gridlink
// seals: a signed-in session (Login.Session, Data.Session) and a sign-in
// paused on a one-time code (Challenge.State), which continues in the same
// upstream session. Both record whose login they are, so that a session
// never serves another username.

// LoginFlow describes a site's sign-in pages. Selectors are CSS.
type LoginFlow struct {
	// Path is the login page, e.g. "/login".
	Path string
	// Form matches the login form; UserField and PasswordField name its
	// fields.
	Form, UserField, PasswordField string
	// SignedIn matches something only signed-in pages have.
	SignedIn string
	// Rules classify what the site says after a step: a wrong password
	// (KindBadCredentials), a wrong or expired code (KindMFAFailed).
	Rules []Rule
	// ChooseForm matches the form offering ways to receive the code ("":
	// the site has none); MethodField names its choice; ChoosePrompt is
	// shown with the choice in Connect.
	ChooseForm, MethodField, ChoosePrompt string
	// CodeForm matches the form awaiting the code, CodeField names its
	// field, and Prompt matches the element asking for the code (its text
	// becomes the challenge's prompt).
	CodeForm, CodeField, Prompt string
	// CodeExtra are sent along with the code, e.g. a "remember this
	// device" checkbox, so that later sign-ins skip the code.
	CodeExtra []Field
}

// MsgStepExpired is the message when a paused sign-in cannot continue.
const MsgStepExpired = "The verification step expired. Please start again."

// Steps of a paused sign-in.
const (
	stepChoose = "choose"
	stepCode   = "code"
)

// savedLogin is the toolkit's data in a saved session.
type savedLogin struct {
	User string `json:"user"`
	Step string `json:"step,omitempty"` // set while a challenge waits
	Form *Form  `json:"form,omitempty"` // the form awaiting the answer
}

// SaveLogin saves the signed-in session of user (for Login.Session and
// Data.Session).
func (s *Session) SaveLogin(user string) ([]byte, error) { return s.Save(savedLogin{User: user}) }

// RestoreLogin restores a session saved by SaveLogin for the same user.
// Anything else (nothing saved, unreadable bytes, another user's session,
// a paused sign-in) gives a new, empty session: the caller then signs in
// again, as a person would.
func (t *Toolkit) RestoreLogin(o Options, saved []byte, user string) (*Session, error) {
	var sl savedLogin
	s, err := t.Restore(o, saved, &sl)
	if err == nil && sl.User == user && sl.Step == "" {
		return s, nil
	}
	if err != nil && !errors.Is(err, ErrBadState) {
		return nil, err
	}
	return t.NewSession(o)
}

func flowOf(o Options) (*LoginFlow, error) {
	if o.Login == nil {
		return nil, Fail(connector.KindInternal, "portal: Options.Login is not set")
	}
	return o.Login, nil
}

// Login starts a session and signs in with cr: the Login method of a
// connector. The site may ask for a one-time code: the result is then a
// challenge.
func (t *Toolkit) Login(ctx context.Context, o Options, cr connector.Credentials) (connector.Login, error) {
	fl, err := flowOf(o)
	if err != nil {
		return connector.Login{}, err
	}
	s, err := t.NewSession(o)
	if err != nil {
		return connector.Login{}, err
	}
	p, err := s.Get(ctx, fl.Path)
	if err != nil {
		return connector.Login{}, err
	}
	l, _, err := s.SignIn(ctx, p, cr)
	return l, err
}

// SignIn submits cr in the login form on p and returns the outcome: a
// signed-in session (with the page reached), or a challenge.
func (s *Session) SignIn(ctx context.Context, p *Page, cr connector.Credentials) (connector.Login, *Page, error) {
	fl, err := flowOf(s.opts)
	if err != nil {
		return connector.Login{}, nil, err
	}
	p, err = s.SubmitForm(ctx, p, fl.Form, Field{fl.UserField, cr.Username}, Field{fl.PasswordField, cr.Password})
	if err != nil {
		return connector.Login{}, nil, err
	}
	l, err := s.step(p, cr.Username)
	return l, p, err
}

// step turns the page after a sign-in step into a Login.
func (s *Session) step(p *Page, user string) (connector.Login, error) {
	fl := s.opts.Login
	if err := p.Check(fl.Rules...); err != nil {
		return connector.Login{}, err
	}
	var ch *connector.Challenge
	var f *Form
	var err error
	switch {
	case p.Has(fl.SignedIn):
		b, err := s.SaveLogin(user)
		return connector.Login{Session: b}, err
	case fl.ChooseForm != "" && p.Has(fl.ChooseForm):
		if f, err = p.Form(fl.ChooseForm); err == nil {
			ch, err = s.challenge(user, stepChoose, fl.ChoosePrompt, f, fl.MethodField)
		}
	case fl.CodeForm != "" && p.Has(fl.CodeForm):
		prompt := p.Text(fl.Prompt)
		if f, err = p.Form(fl.CodeForm); err == nil && prompt == "" {
			err = LayoutChanged("page %s: the code prompt %q is missing", p.URL.Path, fl.Prompt)
		}
		if err == nil {
			err = f.Require(fl.CodeField)
		}
		if err == nil {
			ch, err = s.challenge(user, stepCode, prompt, f, "")
		}
	default:
		err = LayoutChanged("unexpected page %s after a sign-in step", p.URL.Path)
	}
	if err != nil {
		return connector.Login{}, err
	}
	return connector.Login{Challenge: ch}, nil
}

// challenge pauses the sign-in on form f and returns the challenge for
// Connect; its State is the saved session and form. With methodField, the
// form's options for that field are the delivery methods offered.
func (s *Session) challenge(user, step, prompt string, f *Form, methodField string) (*connector.Challenge, error) {
	ch := &connector.Challenge{Prompt: prompt}
	if methodField != "" {
		for _, o := range f.Options(methodField) {
			ch.Methods = append(ch.Methods, connector.MFAMethod{ID: o.Value, Label: o.Label})
		}
		if len(ch.Methods) == 0 {
			return nil, LayoutChanged("form %q offers no %q choices", f.ID, methodField)
		}
	}
	state, err := s.Save(savedLogin{User: user, Step: step, Form: f})
	if err != nil {
		return nil, err
	}
	ch.State = state
	return ch, nil
}

// resume restores a sign-in paused at step for user, with a copy of the
// form awaiting the answer. Anything else is KindInternal, MsgStepExpired.
func (t *Toolkit) resume(o Options, state []byte, user, step string) (*Session, *Form, error) {
	var sl savedLogin
	s, err := t.Restore(o, state, &sl)
	if err != nil || sl.User != user || sl.Step != step || sl.Form == nil || o.Login == nil {
		return nil, nil, connector.Errorf(connector.KindInternal, MsgStepExpired)
	}
	return s, sl.Form.Clone(), nil
}

// ChooseMFAMethod continues a sign-in paused on the choice of how to get
// the code: the site sends the code by method, and the result is the
// challenge awaiting it. An unknown method is KindMFAFailed.
func (t *Toolkit) ChooseMFAMethod(ctx context.Context, o Options, cr connector.Credentials, state []byte, method string) (connector.Challenge, error) {
	s, f, err := t.resume(o, state, cr.Username, stepChoose)
	if err != nil {
		return connector.Challenge{}, err
	}
	if !f.HasOption(o.Login.MethodField, method) {
		return connector.Challenge{}, connector.Errorf(connector.KindMFAFailed, "Please choose one of the offered ways to get a code.")
	}
	f.Set(o.Login.MethodField, method)
	l, err := s.answer(ctx, f, cr.Username)
	if err == nil && (l.Challenge == nil || len(l.Challenge.Methods) > 0) {
		err = LayoutChanged("choosing a method did not lead to the code form")
	}
	if err != nil {
		return connector.Challenge{}, err
	}
	return *l.Challenge, nil
}

// SubmitMFA continues a sign-in paused on the code, in the same upstream
// session. A wrong code is KindMFAFailed (per LoginFlow.Rules) and the
// same state may be submitted again.
func (t *Toolkit) SubmitMFA(ctx context.Context, o Options, cr connector.Credentials, state []byte, code string) (connector.Login, error) {
	s, f, err := t.resume(o, state, cr.Username, stepCode)
	if err != nil {
		return connector.Login{}, err
	}
	f.Set(o.Login.CodeField, strings.TrimSpace(code))
	for _, x := range o.Login.CodeExtra {
		f.Set(x.Name, x.Value)
	}
	return s.answer(ctx, f, cr.Username)
}

// answer submits a challenge's form and classifies the page reached.
func (s *Session) answer(ctx context.Context, f *Form, user string) (connector.Login, error) {
	p, err := s.Submit(ctx, f)
	if err != nil {
		return connector.Login{}, err
	}
	if err := p.Check(s.opts.Login.Rules...); err == nil && p.Has(s.opts.Login.Form) {
		// Back on the login page with nothing said: the site dropped
		// the paused sign-in.
		return connector.Login{}, connector.Errorf(connector.KindMFAFailed, MsgStepExpired)
	}
	return s.step(p, user)
}

// Resume gives Fetch a signed-in session and the page at path: the saved
// session if the site still honours it, else a new sign-in with cr, which
// a remembered device lets through without a code. A site that asks for a
// code again is KindMFARequired; a rejected password, KindBadCredentials.
func (t *Toolkit) Resume(ctx context.Context, o Options, cr connector.Credentials, saved []byte, path string) (*Session, *Page, error) {
	fl, err := flowOf(o)
	if err != nil {
		return nil, nil, err
	}
	s, err := t.RestoreLogin(o, saved, cr.Username)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Get(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	if p.Has(fl.Form) { // the site's session is over
		t.log.DebugContext(ctx, "portal: session over, signing in again", "host", s.base.Host)
		l, next, err := s.SignIn(ctx, p, cr)
		if err != nil {
			return nil, nil, err
		}
		if l.Challenge != nil {
			return nil, nil, Fail(connector.KindMFARequired, "the site asks for a one-time code again")
		}
		if p = next; p.URL.Path != path {
			if p, err = s.Get(ctx, path); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := p.Require(fl.SignedIn); err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

// HasOption reports whether the form offers value for the field.
func (f *Form) HasOption(field, value string) bool {
	for _, c := range f.Choices {
		if c.Field == field && c.Value == value {
			return true
		}
	}
	return false
}
