package connectui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	gbconnect "github.com/gridlink/gridlink/internal/connector/greenbutton"
	"github.com/gridlink/gridlink/internal/espicustodian"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

// oauthEnv is a Connect env whose catalogue has the Demo Green Button
// Utility, reached through gbconnect at a real local data custodian.
type oauthEnv struct {
	*env
	custodian *espicustodian.Custodian
	custURL   string
	gb        *gbconnect.Connector
}

const gbUtilityID = 6

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	var cust http.Handler
	custSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cust.ServeHTTP(w, r) }))
	t.Cleanup(custSrv.Close)
	gb, err := gbconnect.New(gbconnect.Config{
		Name: espicustodian.Name, AuthorizeURL: custSrv.URL + "/oauth/authorize", TokenURL: custSrv.URL + "/oauth/token",
		ResourceURL: custSrv.URL + "/espi/1_1/resource", ClientID: "gridlink-test", ClientSecret: "test-secret",
		Scope: espicustodian.DefaultScope, HTTPClient: custSrv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	utilities := append(append([]gridlink.Utility(nil), testUtilities...),
		gridlink.Utility{ID: gbUtilityID, Slug: espicustodian.Slug, Name: espicustodian.Name, Connector: catalog.ConnectorDemoGreenButton})
	cat, err := catalog.New(utilities)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{catalog: cat, connectors: connector.Registry{catalog.ConnectorDemoGreenButton: gb}, ingest: true})
	c, err := espicustodian.New(espicustodian.Config{Clients: []espicustodian.Client{{
		ID: "gridlink-test", Secret: "test-secret", Name: "gridlink", RedirectURIs: []string{e.srv.URL + callbackPath},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cust = c
	return &oauthEnv{env: e, custodian: c, custURL: custSrv.URL, gb: gb}
}

// atUtility plays the customer at the utility: from the authorization
// URL, sign in and decide; it returns where the utility sends the browser
// back.
func atUtility(t *testing.T, authorize, username, password, decision string) *url.URL {
	t.Helper()
	loc, err := espicustodian.ActAsCustomer(authorize, username, password, decision)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestOAuthUtility connects the Demo Green Button Utility: Connect sends
// the browser to the utility (no password form), the customer signs in and
// authorizes there, the callback completes the connection, and a sync
// fetches the ESPI feed with the kept tokens.
func TestOAuthUtility(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()

	start := func(t *testing.T, userID string) *browser {
		t.Helper()
		b := e.browser()
		b.get(e.startURL(e.token(userID, gbUtilityID), e.app, ptr("st")))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		if b.has(`input[name=password]`) || !b.has(`#oauth-continue`) || !strings.Contains(b.text(), "Continue to "+espicustodian.Name) {
			t.Fatalf("credentials step of an OAuth utility: %s", b.text())
		}
		if !b.has(`form[enctype="multipart/form-data"]`) {
			t.Error("no upload offered for an OAuth utility")
		}
		b.submit(`#oauth-continue`, nil)
		if b.last.StatusCode != http.StatusSeeOther {
			t.Fatalf("continue: %d %s", b.last.StatusCode, b.text())
		}
		return b
	}

	t.Run("authorized", func(t *testing.T) {
		b := start(t, "gb-ok")
		to, _ := b.last.Location()
		if !strings.HasPrefix(to.String(), e.custURL+"/oauth/authorize?") || to.Query().Get("redirect_uri") != e.srv.URL+callbackPath {
			t.Fatalf("sent to %s", to)
		}
		back := atUtility(t, to.String(), "gbuser3", "gbuser3-password", "authorize")
		if back.Query().Get("code") == "" || !strings.HasPrefix(back.String(), e.srv.URL+callbackPath) {
			t.Fatalf("utility sent the browser to %s", back)
		}
		// A browser without the session cookie cannot use the callback.
		other := e.browser()
		other.get(back.String())
		if other.last.StatusCode != http.StatusNotFound {
			t.Errorf("callback without the cookie: %d", other.last.StatusCode)
		}
		b.get(back.String())
		if !b.has(`form[action$="/continue"]`) {
			t.Fatalf("after the callback: %s", b.text())
		}
		// The state is used once.
		b.get(back.String())
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, u, err := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if u.UtilityID != gbUtilityID || u.UtilityUsername == "" || len(e.queue.enqueued()) != 1 {
			t.Errorf("user %+v, %d syncs queued", u, len(e.queue.enqueued()))
		}
		cred, err := syncer.OpenCredential(e.vault, u.Credential, u.RowID)
		if err != nil || cred.Password != "" || len(cred.Session) == 0 {
			t.Fatalf("credential: %v, password set %v, session %d bytes", err, cred.Password != "", len(cred.Session))
		}
		// The first sync fetches the feed through the tokens.
		if err := e.syncer.Sync(ctx, u.RowID); err != nil {
			t.Fatalf("sync: %v", err)
		}
		accounts, err := e.st.Accounts(ctx, u.RowID)
		if err != nil || len(accounts) != 2 {
			t.Fatalf("accounts after the sync: %d, %v (want gbuser3's electric and gas)", len(accounts), err)
		}
		if got, _ := e.st.UserByRowID(ctx, u.RowID); !got.DataReady || got.Sync.Status != gridlink.SyncOK {
			t.Errorf("after the sync: ready %v status %q", got.DataReady, got.Sync.Status)
		}
	})

	t.Run("cancelled at the utility", func(t *testing.T) {
		b := start(t, "gb-deny")
		to, _ := b.last.Location()
		back := atUtility(t, to.String(), "gbuser1", "gbuser1-password", "deny")
		if back.Query().Get("error") != "access_denied" {
			t.Fatalf("deny sent the browser to %s", back)
		}
		b.get(back.String())
		if !strings.Contains(b.alert(), "You cancelled at "+espicustodian.Name) || !b.has(`#oauth-continue`) {
			t.Errorf("after cancelling: alert %q, page %s", b.alert(), b.text())
		}
		if s := e.session(b.sid()); s.Step != store.StepCredentials || s.Pending != nil {
			t.Errorf("session after cancelling: step %q, pending %v", s.Step, s.Pending != nil)
		}
		if _, err := e.st.User(ctx, e.client.ID, "gb-deny"); err == nil {
			t.Error("a user was stored after cancelling")
		}
	})

	t.Run("forged state", func(t *testing.T) {
		b := start(t, "gb-forged")
		b.get(e.srv.URL + callbackPath + "?code=x&state=" + url.QueryEscape(b.sid()+".not-the-secret"))
		if !b.has(`#oauth-continue`) {
			t.Errorf("forged state: %s", b.text())
		}
		if _, err := e.st.User(ctx, e.client.ID, "gb-forged"); err == nil {
			t.Error("a forged state connected a user")
		}
	})
}
