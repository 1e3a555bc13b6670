package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/store"
)

// authedEndpoints are every route that needs the client headers and a
// bearer token.
var authedEndpoints = []struct{ method, path string }{
	{"GET", "/users/alice"},
	{"DELETE", "/users/alice"},
	{"GET", "/accounts"},
	{"GET", "/intervals?account_id=" + acct1 + "&type=ELECTRIC"},
	{"GET", "/accounts/" + acct1 + "/intervals?type=GAS"},
	{"GET", "/bills"},
	{"GET", "/accounts/" + acct1 + "/bills"},
	{"GET", "/accounts/" + acct1 + "/greenbutton.xml"},
	{"GET", "/bills/" + bill1},
	{"GET", "/bills/" + bill1 + "/pdf"},
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	_, token := e.newUser(t, e.a, "alice")
	badSecret := testClient{ID: e.a.ID, Secret: "wrong"}
	unknown := testClient{ID: "no-such-client", Secret: e.a.Secret}
	cases := []struct {
		name   string
		header map[string]string
	}{
		{"no headers", map[string]string{"Authorization": "Bearer " + token}},
		{"no secret", map[string]string{"Pelm-Client-Id": e.a.ID, "Authorization": "Bearer " + token}},
		{"no client id", map[string]string{"Pelm-Secret": e.a.Secret, "Authorization": "Bearer " + token}},
		{"wrong secret", hdr(badSecret, token)},
		{"unknown client", hdr(unknown, token)},
		{"other client's secret", hdr(testClient{ID: e.a.ID, Secret: e.b.Secret}, token)},
	}
	posts := []struct{ method, path string }{
		{"POST", "/auth/connect-token"},
		{"POST", "/auth/connect_token"},
		{"POST", "/auth/token"},
	}
	for _, tc := range cases {
		for _, ep := range append(posts, authedEndpoints...) {
			t.Run(tc.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				h := tc.header
				body := ""
				if ep.method == "POST" {
					h = mergeHeader(h, "Content-Type", "application/x-www-form-urlencoded")
					body = "user_id=alice&code=x"
				}
				r := e.do(t, request{method: ep.method, path: ep.path, header: h, body: body})
				wantError(t, r, http.StatusUnauthorized, gridlink.CredentialsInvalid)
			})
		}
	}
}

func mergeHeader(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h)+len(kv)/2)
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestBearer(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	_, tokenB := e.newUser(t, e.b, "alice") // same user_id, other client

	// A token whose code was replayed is revoked.
	_, code := e.connect(t, e.a, "carol", catalog.PGEID)
	revoked, _, err := e.auth.Exchange(context.Background(), e.a.ID, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.auth.Exchange(context.Background(), e.a.ID, code); err == nil {
		t.Fatal("replayed exchange succeeded")
	}

	base := hdr(e.a, "")
	cases := []struct {
		name   string
		header map[string]string
		want   gridlink.ErrorCode // "" = success
	}{
		{"missing", base, gridlink.TokenInvalid},
		{"empty bearer", mergeHeader(base, "Authorization", "Bearer "), gridlink.TokenInvalid},
		{"basic scheme", mergeHeader(base, "Authorization", "Basic "+token), gridlink.TokenInvalid},
		{"no scheme", mergeHeader(base, "Authorization", token), gridlink.TokenInvalid},
		{"unknown token", mergeHeader(base, "Authorization", "Bearer not-a-token"), gridlink.TokenInvalid},
		{"foreign token", mergeHeader(base, "Authorization", "Bearer "+tokenB), gridlink.TokenInvalid},
		{"revoked token", mergeHeader(base, "Authorization", "Bearer "+revoked), gridlink.TokenInvalid},
		{"valid", hdr(e.a, token), ""},
		{"lower-case scheme", mergeHeader(base, "Authorization", "bearer "+token), ""},
		{"lower-case header names", lower(hdr(e.a, token)), ""},
		{"environment header ignored", hdr(e.a, token, "Environment", "sandbox"), ""},
	}
	for _, tc := range cases {
		for _, ep := range authedEndpoints {
			if ep.method == "DELETE" {
				continue
			}
			t.Run(tc.name+" "+ep.path, func(t *testing.T) {
				r := e.do(t, request{method: ep.method, path: ep.path, header: tc.header})
				if tc.want == "" {
					if r.status != http.StatusOK {
						t.Fatalf("status = %d, want 200 (%s)", r.status, truncate(r.body))
					}
					return
				}
				wantError(t, r, http.StatusUnauthorized, tc.want)
			})
		}
	}
}

func TestTokenInQueryRejected(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	for _, ep := range authedEndpoints {
		sep := "?"
		if strings.Contains(ep.path, "?") {
			sep = "&"
		}
		for _, q := range []string{"access_token=" + token, "access_token="} {
			t.Run(ep.method+" "+ep.path+" "+q[:13], func(t *testing.T) {
				r := e.do(t, request{method: ep.method, path: ep.path + sep + q, header: hdr(e.a, token)})
				wantError(t, r, http.StatusBadRequest, gridlink.ParameterInvalid)
				if !strings.Contains(string(r.body), "Authorization") {
					t.Errorf("message does not point to the Authorization header: %s", r.body)
				}
			})
		}
	}
	// The user still exists: nothing ran.
	if _, err := e.st.UserByRowID(context.Background(), rowID); err != nil {
		t.Errorf("user gone after rejected DELETE: %v", err)
	}
}

func TestPermissionDeniedOnOtherUser(t *testing.T) {
	e := newEnv(t)
	_, token := e.newUser(t, e.a, "alice")
	bobRow, _ := e.newUser(t, e.a, "bob")
	for _, method := range []string{"GET", "DELETE"} {
		for _, id := range []string{"bob", "nobody", "Alice", "alice%20"} {
			r := e.do(t, request{method: method, path: "/users/" + id, header: hdr(e.a, token)})
			wantError(t, r, http.StatusForbidden, gridlink.PermissionDenied)
		}
	}
	if _, err := e.st.UserByRowID(context.Background(), bobRow); err != nil {
		t.Errorf("bob deleted by alice's token: %v", err)
	}
}

// multipartBody encodes fields as multipart/form-data.
func multipartBody(t *testing.T, fields [][2]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

func TestConnectToken(t *testing.T) {
	e := newEnv(t)
	mpCT, mpBody := multipartBody(t, [][2]string{{"user_id", "user-mp"}, {"utility_slug", "pge"}})
	cases := []struct {
		name        string
		path        string
		contentType string // "-" = no Content-Type header
		body        string
		wantUser    string
		wantUtility int64
		wantErr     gridlink.ErrorCode
	}{
		{"urlencoded", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=user-1", "user-1", 0, ""},
		{"urlencoded charset", "/auth/connect-token", "application/x-www-form-urlencoded; charset=UTF-8", "user_id=u%C3%A9&utility_slug=pge", "ué", 1, ""},
		{"alias path", "/auth/connect_token", "application/x-www-form-urlencoded", "user_id=user-2&utility_slug=sandbox", "user-2", catalog.SandboxID, ""},
		{"no content type", "/auth/connect-token", "-", "user_id=user-3", "user-3", 0, ""},
		{"multipart", "/auth/connect-token", mpCT, mpBody, "user-mp", 1, ""},
		{"json", "/auth/connect-token", "application/json", `{"user_id":"user-j","utility_slug":"pge"}`, "user-j", 1, ""},
		{"json numeric utility_id", "/auth/connect-token", "application/json", `{"user_id":"user-n","utility_id":1}`, "user-n", 1, ""},
		{"json numeric user_id", "/auth/connect-token", "application/json; charset=utf-8", `{"user_id":42}`, "42", 0, ""},
		{"json null utility", "/auth/connect-token", "application/json", `{"user_id":"u","utility_slug":null}`, "u", 0, ""},
		{"utility_id number string", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_id=1000", "u", catalog.SandboxID, ""},
		{"utility_id slug", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_id=pge", "u", 1, ""},
		{"empty utility_slug is absent", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_slug=&utility_id=pge", "u", 1, ""},
		{"user_id 255 bytes", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=" + strings.Repeat("x", 255), strings.Repeat("x", 255), 0, ""},

		{"missing user_id", "/auth/connect-token", "application/x-www-form-urlencoded", "utility_slug=pge", "", 0, gridlink.ParameterMissing},
		{"empty user_id", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=", "", 0, gridlink.ParameterMissing},
		{"empty body", "/auth/connect-token", "application/json", "", "", 0, gridlink.ParameterMissing},
		{"user_id 256 bytes", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=" + strings.Repeat("x", 256), "", 0, gridlink.ParameterInvalid},
		{"user_id control char", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=a%0Ab", "", 0, gridlink.ParameterInvalid},
		{"user_id NUL", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=a%00b", "", 0, gridlink.ParameterInvalid},
		{"user_id invalid utf8", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=a%FFb", "", 0, gridlink.ParameterInvalid},
		{"both utility params", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_slug=pge&utility_id=1", "", 0, gridlink.ParameterInvalid},
		{"unknown slug", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_slug=nope", "", 0, gridlink.ParameterInvalid},
		{"unknown id", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=u&utility_id=999999", "", 0, gridlink.ParameterInvalid},
		{"json array", "/auth/connect-token", "application/json", `["user_id"]`, "", 0, gridlink.ParameterInvalid},
		{"json object value", "/auth/connect-token", "application/json", `{"user_id":{"a":1}}`, "", 0, gridlink.ParameterInvalid},
		{"json bool", "/auth/connect-token", "application/json", `{"user_id":true}`, "", 0, gridlink.ParameterInvalid},
		{"json trailing data", "/auth/connect-token", "application/json", `{"user_id":"u"} {}`, "", 0, gridlink.ParameterInvalid},
		{"json malformed", "/auth/connect-token", "application/json", `{"user_id":`, "", 0, gridlink.ParameterInvalid},
		{"unsupported content type", "/auth/connect-token", "text/plain", "user_id=u", "", 0, gridlink.ParameterInvalid},
		{"malformed content type", "/auth/connect-token", "multipart/form-data; boundary=\"", "user_id=u", "", 0, gridlink.ParameterInvalid},
		{"multipart without boundary", "/auth/connect-token", "multipart/form-data", "user_id=u", "", 0, gridlink.ParameterInvalid},
		{"multipart malformed", "/auth/connect-token", "multipart/form-data; boundary=xyz", "garbage", "", 0, gridlink.ParameterInvalid},
		{"urlencoded malformed", "/auth/connect-token", "application/x-www-form-urlencoded", "user_id=%zz", "", 0, gridlink.ParameterInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := hdr(e.a, "")
			if tc.contentType != "-" {
				h["Content-Type"] = tc.contentType
			}
			r := e.do(t, request{method: "POST", path: tc.path, header: h, body: tc.body})
			if tc.wantErr != "" {
				wantError(t, r, http.StatusBadRequest, tc.wantErr)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status = %d (%s)", r.status, r.body)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"connect_token", "expires_in"}, keys(body)); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if body["expires_in"] != float64(1800) {
				t.Errorf("expires_in = %v, want 1800", body["expires_in"])
			}
			tok, _ := body["connect_token"].(string)
			claims, err := e.auth.ParseConnectToken(tok)
			if err != nil {
				t.Fatalf("token does not parse: %v", err)
			}
			if claims.ClientID != e.a.ID || claims.UserID != tc.wantUser || claims.UtilityID != tc.wantUtility {
				t.Errorf("claims = client %q user %q utility %d, want %q %q %d",
					claims.ClientID, claims.UserID, claims.UtilityID, e.a.ID, tc.wantUser, tc.wantUtility)
			}
		})
	}
}

func tokenForm(code string, extra ...string) string {
	v := url.Values{"code": {code}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

func (e *env) exchangeHTTP(t *testing.T, c testClient, body string) response {
	t.Helper()
	return e.do(t, request{method: "POST", path: "/auth/token",
		header: hdr(c, "", "Content-Type", "application/x-www-form-urlencoded"), body: body})
}

func TestExchange(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		e := newEnv(t)
		_, code := e.connect(t, e.a, "alice", catalog.PGEID)
		r := e.exchangeHTTP(t, e.a, tokenForm(code, "grant_type", "code"))
		if r.status != http.StatusOK {
			t.Fatalf("status = %d (%s)", r.status, r.body)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		want := []string{"access_token", "access_token_expires_in", "refresh_token", "refresh_token_expires_in"}
		if diff := cmp.Diff(want, keys(body)); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
		if body["access_token_expires_in"] != float64(3600) || body["refresh_token_expires_in"] != float64(31536000) {
			t.Errorf("lifetimes = %v, %v", body["access_token_expires_in"], body["refresh_token_expires_in"])
		}
		access, _ := body["access_token"].(string)
		refresh, _ := body["refresh_token"].(string)
		if len(access) < 22 || len(refresh) < 22 || access == refresh {
			t.Fatalf("tokens: access %d chars, refresh %d chars, equal %v", len(access), len(refresh), access == refresh)
		}
		if r := e.do(t, request{path: "/users/alice", header: hdr(e.a, access)}); r.status != http.StatusOK {
			t.Errorf("access token does not work: %d %s", r.status, r.body)
		}
		// The legacy refresh token is not a usable credential.
		wantError(t, e.do(t, request{path: "/users/alice", header: hdr(e.a, refresh)}), http.StatusUnauthorized, gridlink.TokenInvalid)
		wantError(t, e.exchangeHTTP(t, e.a, tokenForm(refresh)), http.StatusBadRequest, gridlink.ParameterInvalid)
	})

	t.Run("json and multipart bodies", func(t *testing.T) {
		e := newEnv(t)
		_, code1 := e.connect(t, e.a, "alice", catalog.PGEID)
		_, code2 := e.connect(t, e.a, "bob", catalog.PGEID)
		r := e.do(t, request{method: "POST", path: "/auth/token",
			header: hdr(e.a, "", "Content-Type", "application/json"), body: `{"code":"` + code1 + `","grant_type":"code"}`})
		if r.status != http.StatusOK {
			t.Errorf("json: status = %d (%s)", r.status, r.body)
		}
		ct, body := multipartBody(t, [][2]string{{"code", code2}})
		r = e.do(t, request{method: "POST", path: "/auth/token", header: hdr(e.a, "", "Content-Type", ct), body: body})
		if r.status != http.StatusOK {
			t.Errorf("multipart: status = %d (%s)", r.status, r.body)
		}
	})

	t.Run("replay revokes the first token", func(t *testing.T) {
		e := newEnv(t)
		_, code := e.connect(t, e.a, "alice", catalog.PGEID)
		first := e.exchangeHTTP(t, e.a, tokenForm(code))
		if first.status != http.StatusOK {
			t.Fatalf("first exchange: %d %s", first.status, first.body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(first.body, &tok); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.exchangeHTTP(t, e.a, tokenForm(code)), http.StatusBadRequest, gridlink.ParameterInvalid)
		wantError(t, e.do(t, request{path: "/users/alice", header: hdr(e.a, tok.AccessToken)}), http.StatusUnauthorized, gridlink.TokenInvalid)
	})

	t.Run("foreign client", func(t *testing.T) {
		e := newEnv(t)
		_, code := e.connect(t, e.a, "alice", catalog.PGEID)
		wantError(t, e.exchangeHTTP(t, e.b, tokenForm(code)), http.StatusBadRequest, gridlink.ParameterInvalid)
		if r := e.exchangeHTTP(t, e.a, tokenForm(code)); r.status != http.StatusOK {
			t.Errorf("owner cannot redeem after a foreign attempt: %d %s", r.status, r.body)
		}
	})

	t.Run("expired", func(t *testing.T) {
		e := newEnv(t)
		_, code := e.connect(t, e.a, "alice", catalog.PGEID)
		e.clock.Advance(gridlink.CodeTTL + time.Second)
		wantError(t, e.exchangeHTTP(t, e.a, tokenForm(code)), http.StatusBadRequest, gridlink.ParameterInvalid)
	})

	t.Run("parameters", func(t *testing.T) {
		e := newEnv(t)
		_, code := e.connect(t, e.a, "alice", catalog.PGEID)
		for _, tc := range []struct {
			name, body string
			want       gridlink.ErrorCode
		}{
			{"missing code", "grant_type=code", gridlink.ParameterMissing},
			{"empty code", "code=&grant_type=code", gridlink.ParameterMissing},
			{"bad grant_type", tokenForm(code, "grant_type", "authorization_code"), gridlink.ParameterInvalid},
			{"unknown code", tokenForm("nope"), gridlink.ParameterInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, e.exchangeHTTP(t, e.a, tc.body), http.StatusBadRequest, tc.want)
			})
		}
		// None of that used the code up.
		if r := e.exchangeHTTP(t, e.a, tokenForm(code, "grant_type", "")); r.status != http.StatusOK {
			t.Errorf("code unusable after rejected attempts: %d %s", r.status, r.body)
		}
	})
}

func TestGetUser(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	r := e.do(t, request{path: "/users/alice", header: hdr(e.a, token)})
	if r.status != http.StatusOK {
		t.Fatalf("status = %d (%s)", r.status, r.body)
	}
	want := map[string]any{
		"id":                "alice",
		"utility":           map[string]any{"id": float64(1), "full_name": "Pacific Gas and Electric"},
		"utility_username":  "user@pelm.com",
		"credentials_valid": true,
		// Beyond Pelm (sync_test.go covers every state): connected, the
		// first sync not started yet.
		"sync": map[string]any{"status": "syncing", "last_success_at": nil, "last_attempt_at": nil, "next_attempt_at": nil, "error_code": nil},
	}
	if diff := cmp.Diff(want, r.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	// No data needed for GET /users; credentials_valid follows the store.
	if err := e.st.SetCredentialsValid(context.Background(), rowID, false); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, request{path: "/users/alice", header: lower(hdr(e.a, token))})
	if m, _ := r.json(t).(map[string]any); m["credentials_valid"] != false {
		t.Errorf("credentials_valid = %v, want false", m["credentials_valid"])
	}
	// user_id with characters that need escaping in a path.
	_, token2 := e.newUser(t, e.a, "a b/c?d")
	r = e.do(t, request{path: "/users/" + url.PathEscape("a b/c?d"), header: hdr(e.a, token2)})
	if r.status != http.StatusOK {
		t.Fatalf("escaped user_id: status = %d (%s)", r.status, r.body)
	}
}

func TestDeleteUser(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	bobRow, bobToken := e.newUser(t, e.a, "bob")
	e.seed(t, bobRow)

	r := e.do(t, request{method: "DELETE", path: "/users/alice", header: hdr(e.a, token)})
	if r.status != http.StatusOK {
		t.Fatalf("status = %d (%s)", r.status, r.body)
	}
	if diff := cmp.Diff(map[string]any{"id": "alice", "deleted": true}, r.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	// The very next call with the old token is 401, on every endpoint.
	for _, ep := range authedEndpoints {
		wantError(t, e.do(t, request{method: ep.method, path: ep.path, header: hdr(e.a, token)}), http.StatusUnauthorized, gridlink.TokenInvalid)
	}
	ctx := context.Background()
	if _, err := e.st.UserByRowID(ctx, rowID); err == nil {
		t.Error("user still stored")
	}
	if accts, err := e.st.Accounts(ctx, rowID); err != nil || len(accts) != 0 {
		t.Errorf("accounts after delete: %v, %v", accts, err)
	}
	if bills, err := e.st.Bills(ctx, rowID, store.BillFilter{}); err != nil || len(bills) != 0 {
		t.Errorf("bills after delete: %v, %v", bills, err)
	}
	// Bob is untouched.
	if r := e.do(t, request{path: "/accounts", header: hdr(e.a, bobToken)}); r.status != http.StatusOK {
		t.Errorf("bob's accounts: %d %s", r.status, r.body)
	}
}
