package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzHandler sends arbitrary requests through the whole middleware and
// API, authenticated as a user with data (or, when pending is set, as one
// whose first sync has not finished). No input may produce a 5xx other than
// data_unavailable, a panic, or a non-JSON error.
func FuzzHandler(f *testing.F) {
	e := newEnv(f)
	rowID, token := e.newUser(f, e.a, "alice")
	e.seed(f, rowID)
	_, pendingToken := e.newUser(f, e.a, "pending")

	methods := []string{"GET", "POST", "DELETE", "PUT", "OPTIONS", "HEAD"}
	seeds := []struct {
		method  uint8
		path    string
		query   string
		ct      string
		body    string
		auth    bool
		pending bool
	}{
		{0, "/accounts", "", "", "", true, false},
		{0, "/accounts", "", "", "", true, true},
		{0, "/intervals", "account_id=" + acct1 + "&type=ELECTRIC&start_date=1704067200", "", "", true, false},
		{0, "/intervals", "meter_id=" + gas1 + "&start_date=&end_date=", "", "", true, false},
		{0, "/intervals", "account_id=" + acct1 + "&start_date=-5&end_date=1e3", "", "", true, false},
		{0, "/accounts/" + acct2 + "/intervals", "type=gas", "", "", true, false},
		{0, "/bills", "account_id=" + acct1 + "&start_date=0&end_date=9999999999", "", "", true, false},
		{0, "/bills/" + bill1, "", "", "", true, false},
		{0, "/bills/" + bill1 + "/pdf", "", "", "", true, false},
		{0, "/bills/%00/pdf", "", "", "", true, false},
		{0, "/users/alice", "access_token=x", "", "", true, false},
		{2, "/users/bob", "", "", "", true, false},
		{1, "/auth/connect-token", "", "application/x-www-form-urlencoded", "user_id=u&utility_slug=pge", true, false},
		{1, "/auth/connect_token", "", "application/json", `{"user_id":"u","utility_id":1e999}`, true, false},
		{1, "/auth/connect-token", "", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\nu\r\n--X--\r\n", true, false},
		{1, "/auth/token", "", "application/x-www-form-urlencoded", "code=abc&grant_type=code", true, false},
		{1, "/auth/token", "", "application/json", `{"code":["a"]}`, true, false},
		{0, "/utilities", "q=pg%26e", "", "", false, false},
		{0, "/utilities", "q=%", "", "", false, false},
		{3, "/accounts", "", "", "", true, false},
		{4, "/accounts", "", "", "", false, false},
		{0, "/nope", "", "", "", false, false},
		{0, "/accounts//../bills", "", "", "", true, false},
		{0, "/emission-rates", "utility_slug=pge", "", "", true, false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ct, []byte(s.body), s.auth, s.pending)
	}
	f.Fuzz(func(t *testing.T, method uint8, path, query, ct string, body []byte, withAuth, pending bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u := &url.URL{Path: path, RawQuery: query}
		r := &http.Request{
			Method:     methods[int(method)%len(methods)],
			URL:        u,
			RequestURI: u.RequestURI(),
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{},
			Host:          "example.com",
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		r = r.WithContext(t.Context())
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if withAuth {
			tok := token
			if pending {
				tok = pendingToken
			}
			for k, v := range hdr(e.a, tok) {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		if r.Method == "DELETE" {
			// Keep exploring with data: bring alice back if the input
			// deleted her.
			if _, err := e.st.UserByRowID(t.Context(), rowID); err != nil {
				rowID, token = e.newUser(t, e.a, "alice")
				e.seed(t, rowID)
			}
		}
		res := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
		if res.status >= 400 {
			var m map[string]any
			if err := json.Unmarshal(res.body, &m); err != nil || res.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %s?%s: %d error is not JSON: %q %q", r.Method, path, query, res.status, res.header.Get("Content-Type"), truncate(res.body))
			}
			if res.status >= 500 && m["error_code"] != "data_unavailable" {
				t.Fatalf("%s %s?%s: %d %s", r.Method, path, query, res.status, res.body)
			}
		}
		if res.status == http.StatusOK && res.header.Get("Content-Type") == "application/json" && r.Method != "HEAD" && !json.Valid(res.body) {
			t.Fatalf("%s %s?%s: invalid JSON body %q", r.Method, path, query, truncate(res.body))
		}
	})
}
