package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
)

// withOtherZones registers stand-ins for the routes of other zones (the
// Connect pages and the widget script) and deliberately broken handlers on
// the shared mux.
func withOtherZones(_ *api.Config, mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><p>connect")
	})
	mux.HandleFunc("GET /connect/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><p>page")
	})
	mux.HandleFunc("POST /connect/page", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteError(w, r, gridlink.Errorf(gridlink.MFAFailed, "Wrong code."))
	})
	mux.HandleFunc("GET /connect/missing", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	mux.HandleFunc("GET /connect/html-404", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!doctype html><p>no such page")
	})
	mux.HandleFunc("GET /connect/forbidden", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request detected", http.StatusForbidden)
	})
	mux.HandleFunc("GET /connect/secret-error", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, r, io.ErrUnexpectedEOF)
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("deliberate test panic")
	})
	mux.HandleFunc("GET /panic-late", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"partial":`)
		http.NewResponseController(w).Flush()
		panic("deliberate late panic")
	})
	mux.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
}

func TestUnknownPathAndMethod(t *testing.T) {
	e := newEnv(t, withOtherZones)
	_, token := e.newUser(t, e.a, "alice")
	cases := []struct {
		name, method, path string
		status             int
		code               gridlink.ErrorCode
		allow              string
	}{
		{"unknown path", "GET", "/nope", 404, gridlink.NotFound, ""},
		{"unknown nested path", "POST", "/auth/nope", 404, gridlink.NotFound, ""},
		{"trailing slash", "GET", "/accounts/", 404, gridlink.NotFound, ""},
		{"emission rates not served yet", "GET", "/emission-rates", 404, gridlink.NotFound, ""},
		{"PUT /accounts", "PUT", "/accounts", 405, gridlink.MethodNotAllowed, "GET, HEAD"},
		{"POST /users", "POST", "/users/alice", 405, gridlink.MethodNotAllowed, "DELETE, GET, HEAD"},
		{"GET /auth/token", "GET", "/auth/token", 405, gridlink.MethodNotAllowed, "POST"},
		{"DELETE /bills/x/pdf", "DELETE", "/bills/x/pdf", 405, gridlink.MethodNotAllowed, "GET, HEAD"},
		{"connect zone wrong method", "DELETE", "/connect/page", 405, gridlink.MethodNotAllowed, "GET, HEAD, POST"},
		{"handler's http.NotFound", "GET", "/connect/missing", 404, gridlink.NotFound, ""},
		{"handler's http.Error", "GET", "/connect/forbidden", 403, gridlink.PermissionDenied, ""},
		{"unknown connect page", "GET", "/connect/nope", 404, gridlink.NotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{method: tc.method, path: tc.path, header: hdr(e.a, token)})
			wantError(t, r, tc.status, tc.code)
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
		})
	}
	t.Run("HTML error pages are left alone", func(t *testing.T) {
		r := e.do(t, request{path: "/connect/html-404"})
		if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "no such page") {
			t.Errorf("got %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
	})
	t.Run("other zones' WriteError", func(t *testing.T) {
		r := e.do(t, request{method: "POST", path: "/connect/page", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "a=b"})
		wantError(t, r, 400, gridlink.MFAFailed)
		r = e.do(t, request{path: "/connect/secret-error"})
		wantError(t, r, 500, gridlink.InternalError)
		if strings.Contains(string(r.body), "EOF") {
			t.Errorf("internal error detail leaked: %s", r.body)
		}
		if !strings.Contains(e.logs.String(), "unexpected EOF") {
			t.Errorf("internal error not logged")
		}
	})
}

func TestPanicRecovery(t *testing.T) {
	e := newEnv(t, withOtherZones)
	r := e.do(t, request{path: "/panic?connect_token=SECRET-IN-QUERY", header: map[string]string{"Authorization": "Bearer SECRET-IN-HEADER"}})
	wantError(t, r, http.StatusInternalServerError, gridlink.InternalError)
	logs := e.logs.String()
	if !strings.Contains(logs, "deliberate test panic") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic or stack not logged: %s", logs)
	}
	if strings.Contains(logs, "SECRET-IN") {
		t.Errorf("request secrets logged: %s", logs)
	}
	// The server keeps serving.
	if r := e.do(t, request{path: "/utilities"}); r.status != http.StatusOK {
		t.Errorf("after panic: %d", r.status)
	}

	// A panic after the answer began cuts the connection: the client sees
	// a failed response, not a complete one.
	res, err := e.srv.Client().Get(e.srv.URL + "/panic-late")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Error("late panic: response completed normally")
	}
	// http.ErrAbortHandler is re-panicked (the connection is cut, nothing
	// logged as a panic).
	before := strings.Count(e.logs.String(), "panic serving request")
	if res, err := e.srv.Client().Get(e.srv.URL + "/abort"); err == nil {
		res.Body.Close()
		t.Errorf("ErrAbortHandler: got a response %d", res.StatusCode)
	}
	if after := strings.Count(e.logs.String(), "panic serving request"); after != before {
		t.Errorf("ErrAbortHandler logged as a panic")
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, withOtherZones)
	big := "user_id=u&pad=" + strings.Repeat("a", api.MaxBodyBytes)
	mpCT, mpBody := multipartBody(t, [][2]string{{"user_id", "u"}, {"pad", strings.Repeat("a", api.MaxBodyBytes)}})
	jsonBody := `{"user_id":"u","pad":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`
	cases := []struct {
		name, path, ct, body string
		chunked              bool
	}{
		{"urlencoded with length", "/auth/connect-token", "application/x-www-form-urlencoded", big, false},
		{"urlencoded chunked", "/auth/connect-token", "application/x-www-form-urlencoded", big, true},
		{"multipart chunked", "/auth/connect-token", mpCT, mpBody, true},
		{"multipart with length", "/auth/connect-token", mpCT, mpBody, false},
		{"json chunked", "/auth/connect-token", "application/json", jsonBody, true},
		{"token chunked", "/auth/token", "application/x-www-form-urlencoded", "code=x&pad=" + strings.Repeat("a", api.MaxBodyBytes), true},
		{"connect zone chunked", "/connect/page", "application/x-www-form-urlencoded", big, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: "POST", path: tc.path, header: hdr(e.a, "", "Content-Type", tc.ct), body: tc.body}
			if tc.chunked {
				req.bodyReader = strings.NewReader(tc.body)
			}
			wantError(t, e.do(t, req), http.StatusRequestEntityTooLarge, gridlink.RequestTooLarge)
		})
	}
	// Just under the limit is fine.
	ok := "user_id=u&pad=" + strings.Repeat("a", api.MaxBodyBytes-len("user_id=u&pad="))
	r := e.do(t, request{method: "POST", path: "/auth/connect-token", header: hdr(e.a, "", "Content-Type", "application/x-www-form-urlencoded"), body: ok})
	if r.status != http.StatusOK {
		t.Errorf("1 MiB body: %d %s", r.status, r.body)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, withOtherZones)
	_, token := e.newUser(t, e.a, "alice")
	preflight := map[string]string{
		"Origin":                         "https://app.example",
		"Access-Control-Request-Method":  "GET",
		"Access-Control-Request-Headers": "pelm-client-id, pelm-secret, authorization, environment",
	}
	for _, path := range []string{"/accounts", "/intervals", "/auth/connect-token", "/users/alice", "/bills/x/pdf", "/utilities", "/emission-rates"} {
		t.Run("preflight "+path, func(t *testing.T) {
			r := e.do(t, request{method: "OPTIONS", path: path, header: preflight})
			if r.status != http.StatusNoContent {
				t.Errorf("status = %d, want 204", r.status)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Headers": "Pelm-Client-Id, Pelm-Secret, Authorization, Content-Type, Environment, Accept",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, m := range []string{"GET", "POST", "DELETE"} {
				if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), m) {
					t.Errorf("Access-Control-Allow-Methods %q lacks %s", r.header.Get("Access-Control-Allow-Methods"), m)
				}
			}
			if r.header.Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age")
			}
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
		})
	}
	for _, path := range []string{"/", "/connect/page"} {
		t.Run("no CORS on "+path, func(t *testing.T) {
			r := e.do(t, request{method: "OPTIONS", path: path, header: preflight})
			if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("preflight Access-Control-Allow-Origin = %q", got)
			}
			r = e.do(t, request{path: path, header: map[string]string{"Origin": "https://evil.example"}})
			if r.status != http.StatusOK {
				t.Fatalf("status = %d", r.status)
			}
			for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"} {
				if got := r.header.Get(k); got != "" {
					t.Errorf("%s = %q on a Connect page", k, got)
				}
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff on a Connect page")
			}
		})
	}
	for _, tc := range []struct {
		name string
		req  request
	}{
		{"success", request{path: "/users/alice", header: hdr(e.a, token, "Origin", "https://app.example")}},
		{"error", request{path: "/accounts", header: map[string]string{"Origin": "https://app.example"}}},
		{"data unavailable", request{path: "/accounts", header: hdr(e.a, token, "Origin", "https://app.example")}},
	} {
		t.Run("API response "+tc.name, func(t *testing.T) {
			r := e.do(t, tc.req)
			if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
		})
	}
}
