package connectui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/store"
)

// FuzzFormHandlers posts arbitrary bodies to the form handlers (and
// arbitrary queries to the GET pages) of a session at the matching step:
// nothing may answer 5xx or panic.
func FuzzFormHandlers(f *testing.F) {
	seeds := []struct {
		target uint8
		body   string
	}{
		{0, "username=user%40pelm.com&password=Corr3ct-Horse-Battery"},
		{0, "username=mfa%40test&password=Corr3ct-Horse-Battery"},
		{0, "username=down%40test&password=x"},
		{0, "username=%FF%FE&password=%00"},
		{0, "username=&password="},
		{0, "username=a&username=b&password=c;d=e"},
		{0, "%zz=%zz&username"},
		{0, "username=" + strings.Repeat("u", 300) + "&password=p"},
		{1, "code=123456"},
		{1, "code=000000"},
		{1, "code=" + strings.Repeat("9", 40)},
		{1, "code=%E2%80%8B"},
		{1, ""},
		{2, "utility_slug=pge"},
		{2, "utility_slug=coned"},
		{2, "utility_slug=..%2F..%2Fetc"},
		{2, "utility_slug="},
		{3, "connect_token=x&redirect_uri=javascript:alert(1)&state=%"},
		{3, "state=a;b&state=c"},
		{4, "q=con+ed&notice=bad_credentials"},
		{4, "notice=mfa_wrong&q=" + strings.Repeat("x", 200)},
		{5, "x=1"},
	}
	for _, s := range seeds {
		f.Add(s.target, s.body)
	}
	e := newEnv(f)
	mux := http.NewServeMux()
	e.ui.Register(mux)
	steps := []string{store.StepCredentials, store.StepMFA, store.StepUtility, "", store.StepDone, store.StepTerms}
	actions := []string{"credentials", "mfa", "utility", "", "", "continue"}

	f.Fuzz(func(t *testing.T, target uint8, body string) {
		i := int(target) % len(steps)
		ctx := t.Context()
		sid, err := e.ui.randomString(sidBytes)
		if err != nil {
			t.Fatal(err)
		}
		secret := "fuzz-secret-" + sid
		now := e.clock.Now()
		sess := store.ConnectSession{
			ID: sid, CookieHash: auth.Digest(secret), TokenHash: auth.Digest(sid), ClientID: e.client.ID,
			UserID: "fuzz-" + sid, Step: steps[i], UtilityID: 1, RedirectURI: e.app, State: "s", HasState: true,
			CreatedAt: now, ExpiresAt: now.Add(gridlink.ConnectTokenTTL),
		}
		if sess.Step == store.StepMFA {
			sess.Pending, err = sealPending(e.vault, pendingLogin{Username: mfaUser, Password: goodPassword, State: []byte("challenge-state")}, sid)
			if err != nil {
				t.Fatal(err)
			}
		}
		if sess.Step == store.StepDone {
			sess.Pending, _ = e.vault.Seal([]byte("fuzz-code"), sid)
		}
		if sess.Step != "" {
			if err := e.st.CreateConnectSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		var req *http.Request
		switch i {
		case 3:
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.RawQuery = body
		case 4:
			req = httptest.NewRequest(http.MethodGet, "/connect/"+sid, nil)
			req.URL.RawQuery = body
		default:
			req = httptest.NewRequest(http.MethodPost, "/connect/"+sid+"/"+actions[i], strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.AddCookie(&http.Cookie{Name: e.ui.cookieName(sid), Value: secret})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d: %s", req.Method, req.URL.Path, body, rec.Code, rec.Body)
		}
	})
}
