package connectui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// The pages, each parsed together with templates/layout.html.
var pageNames = []string{
	"landing", "problem", "terms", "utility", "credentials", "mfa_method",
	"mfa", "attempt", "done", "failed",
}

// staticRoot is the embedded static directory.
func staticRoot() (fs.FS, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("connectui: static files: %w", err)
	}
	return sub, nil
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("connectui: parse layout: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("connectui: clone layout: %w", err)
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("connectui: parse page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page template sees.
type view struct {
	Title string
	// SID is the session id; "" on pages outside a session.
	SID string
	// AppName is the client's company name.
	AppName  string
	Embedded bool
	// Parent is the verified origin of the page embedding Connect through
	// the widget: it switches the layout to the modal dialog, loads
	// static/connect.js and is where that script posts its messages. ""
	// outside the widget.
	Parent string
	// ShowExit adds the footer exit control.
	ShowExit bool
	// Alert, when set, is shown in a role="alert" element.
	Alert string

	// Problem and error views.
	Heading string
	Message string
	// CanRetry offers "Try again" (POST retry); CanReturn offers
	// "Return to <app>" (POST exit).
	CanRetry  bool
	CanReturn bool
	// ErrorStatus is the Connect exit status of a failed session (for the
	// embedded widget).
	ErrorStatus string

	// Steps.
	Utility      gridlink.Utility
	Utilities    []gridlink.Utility
	Query        string
	Truncated    bool
	UtilityFixed bool
	Username     string
	Hint         *hint
	MFAPrompt    string
	// MFAMethods are the code delivery choices offered (mfa_method page).
	MFAMethods []connector.MFAMethod
	Code       string
	Delivered  bool
	// OAuth: the utility authorizes gridlink on its own website (the
	// credentials step shows "Continue to <utility>", no password form).
	OAuth bool
	// Upload offers "Upload a Green Button file instead".
	Upload bool
}

// hint is the sandbox help shown on the credentials step.
type hint struct {
	Text      string
	Scenarios []scenario
}

type scenario struct{ Username, Behaviour string }

// pageError is a handler failure shown as a standalone HTML error page.
type pageError struct {
	status  int
	title   string
	message string
}

func (e *pageError) Error() string { return e.title }

var (
	errInvalidLink = &pageError{http.StatusBadRequest, "This link has expired or is invalid",
		"This link has expired or is invalid. Go back to the app you came from and start again."}
	errBadRedirect = &pageError{http.StatusBadRequest, "This link is not set up correctly",
		"The app that sent you here asked to return to an address it has not registered. Nothing was connected; go back to the app you came from."}
	errSessionNotFound = &pageError{http.StatusNotFound, "Session not found",
		"This Connect session was not found in this browser. Go back to the app you came from and start again."}
	errBadOrigin = &pageError{http.StatusBadRequest, "This site cannot open Connect",
		"The website that opened this window is not registered with this app's gridlink account. Nothing was connected."}
	errBadForm = &pageError{http.StatusBadRequest, "The form could not be read",
		"The form could not be read. Go back and try again."}
	errDelivered = &pageError{http.StatusBadRequest, "This connection is finished",
		"Your account is connected and the app already received it. You can close this window."}
	errCrossOrigin = &pageError{http.StatusForbidden, "Request refused",
		"This request came from another site and was refused. Go back to the app you came from and start again."}
	errInternal = &pageError{http.StatusInternalServerError, "Something went wrong",
		"Something went wrong on our side. Please try again in a few minutes."}
)

// frameAncestors is the CSP frame-ancestors source list for a page: 'none'
// in redirect mode (and outside a session); in embedded mode the verified
// embedding origin of a widget session, or else (an embedded session opened
// without the widget) the client's registered origins.
func frameAncestors(sess *store.ConnectSession, client *gridlink.Client) string {
	if sess == nil || !sess.Embedded {
		return "'none'"
	}
	if o := parentOrigin(sess); o != "" {
		if validSource(o) {
			return o
		}
		return "'none'"
	}
	if client == nil {
		return "'none'"
	}
	var srcs []string
	for _, o := range client.Origins {
		if validSource(o) {
			srcs = append(srcs, o)
		}
	}
	if len(srcs) == 0 {
		return "'none'"
	}
	return strings.Join(srcs, " ")
}

// validSource reports whether o can be placed in a CSP source list as is:
// scheme://host[:port|:*], nothing that would end or extend the directive.
func validSource(o string) bool {
	if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") {
		return false
	}
	for _, c := range o {
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '\'' || c == '"' {
			return false
		}
	}
	return true
}

// setHeaders sets the security headers every Connect response carries.
func setHeaders(h http.Header, sess *store.ConnectSession, client *gridlink.Client) {
	fa := frameAncestors(sess, client)
	h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors "+fa)
	if fa == "'none'" {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// render writes one page. It buffers the output so that a template failure
// becomes a clean error page, not half a page.
func (u *UI) render(w http.ResponseWriter, status int, page string, v view, sess *store.ConnectSession, client *gridlink.Client) {
	var buf bytes.Buffer
	t, ok := u.pages[page]
	var err error
	if !ok {
		err = fmt.Errorf("no page %q", page)
	} else {
		err = t.ExecuteTemplate(&buf, "layout", v)
	}
	if err != nil {
		u.log.Error("connect: render page", "page", page, "err", err)
		if page == "problem" {
			setHeaders(w.Header(), nil, nil)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		u.render(w, http.StatusInternalServerError, "problem", problemView(errInternal), nil, nil)
		return
	}
	setHeaders(w.Header(), sess, client)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func problemView(e *pageError) view {
	return view{Title: e.title, Heading: e.title, Message: e.message}
}

// seeOther answers 303 See Other to loc (already absolute or
// root-relative) with the security headers and no body.
func seeOther(w http.ResponseWriter, r *http.Request, loc string, sess *store.ConnectSession, client *gridlink.Client) {
	setHeaders(w.Header(), sess, client)
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// handle adapts an error-returning handler: a *pageError becomes its page,
// anything else is logged and shown as a generic 500 page.
func (u *UI) handle(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var pe *pageError
		if !errors.As(err, &pe) {
			u.log.ErrorContext(r.Context(), "connect: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			pe = errInternal
		}
		u.render(w, pe.status, "problem", problemView(pe), nil, nil)
	})
}

func (u *UI) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	u.log.InfoContext(r.Context(), "connect: cross-origin request refused", "path", r.URL.Path)
	u.render(w, errCrossOrigin.status, "problem", problemView(errCrossOrigin), nil, nil)
}

// static serves the embedded stylesheet under /connect/static/.
func (u *UI) static() http.Handler {
	files := http.StripPrefix("/connect/static/", http.FileServerFS(u.staticFiles))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(r.URL.Path, "/") {
			u.render(w, http.StatusNotFound, "problem", problemView(&pageError{http.StatusNotFound, "Not found", "There is nothing here."}), nil, nil)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
