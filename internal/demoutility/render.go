package demoutility

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/site.css
var siteCSS []byte

// view is what every page template gets.
type view struct {
	Title    string
	CSRF     string
	User     *userInfo // nil: signed out (no navigation)
	Nav      string    // the current navigation item
	Notice   string
	Error    string
	Username string // sign-in form prefill
	Redesign bool
	Data     any
}

type userInfo struct{ Name, FullName string }

type errorView struct{ Heading, Text, Link string }

// parseTemplates parses each page with the shared layout. The templates
// are embedded, so a failure is a bug caught by every test.
func parseTemplates() map[string]*template.Template {
	names := []string{"login", "mfa_choose", "mfa_verify", "accounts", "usage", "bills", "password", "outbox", "admin", "error", "maintenance"}
	out := make(map[string]*template.Template, len(names))
	for _, name := range names {
		out[name] = template.Must(template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

// render writes a page; the layout reads the redesign switch itself.
func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.Redesign = s.redesignOn.Load()
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.ErrorContext(r.Context(), "demo utility: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Site) css(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(siteCSS)
}
