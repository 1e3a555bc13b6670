package connectui

import (
	"context"
	"strings"
	"testing"

	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
)

// TestSandboxUtilities walks the default catalogue with the real sandbox
// connectors, as a developer trying gridlink would (pelm-api.md 4.2).
func TestSandboxUtilities(t *testing.T) {
	e := newEnv(t, envOptions{catalog: catalog.Default(), connectors: connector.Registry{
		catalog.ConnectorSandbox:     sandbox.New(sandbox.Config{}),
		catalog.ConnectorPelmSandbox: sandbox.NewPelm(sandbox.Config{}),
	}})
	ctx := context.Background()

	t.Run("PG&E with the Pelm sandbox login", func(t *testing.T) {
		b := e.browser()
		b.get(e.startURL(e.token("sandbox-pge", 0), e.app, ptr("st")))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		b.submit(`input[name=q]`, map[string]string{"q": "pg&e"})
		if got := b.page.Find(`[name=utility_slug]`).First().AttrOr("value", ""); got != catalog.PGESlug {
			t.Fatalf("first match for pg&e = %q", got)
		}
		b.submit(`[name=utility_slug][value=pge]`, nil)
		if !strings.Contains(b.text(), "Sandbox: user@pelm.com / password") {
			t.Errorf("no sandbox hint: %s", b.text())
		}
		login(b, sandbox.PelmUser, "not-the-password")
		if !strings.Contains(b.alert(), "incorrect") {
			t.Fatalf("wrong password: %s", b.text())
		}
		b.submit(`form[action$="/retry"] [type=submit]`, nil)
		login(b, sandbox.PelmUser, sandbox.Password)
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, u, err := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
		if err != nil || u.UtilityID != catalog.PGEID || u.UtilityUsername != sandbox.PelmUser {
			t.Fatalf("exchange: %v %+v", err, u)
		}
	})

	t.Run("sandbox MFA scenario named by the token", func(t *testing.T) {
		b := e.browser()
		b.get(e.startURL(e.token("sandbox-mfa", catalog.SandboxID), e.app, ptr("st")))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		if !strings.Contains(b.text(), sandbox.MFAUser) || !strings.Contains(b.text(), sandbox.CustomUser) {
			t.Errorf("no scenario list: %s", b.text())
		}
		login(b, sandbox.MFAUser, sandbox.Password)
		if !strings.Contains(b.text(), sandbox.MFAPrompt) {
			t.Fatalf("code step: %s", b.text())
		}
		b.submit(`input[name=code]`, map[string]string{"code": "111111"})
		if !strings.Contains(b.alert(), "2 tries left") {
			t.Errorf("wrong code: %s", b.alert())
		}
		b.submit(`input[name=code]`, map[string]string{"code": sandbox.MFACode})
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		_, u, err := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
		if err != nil || u.UtilityID != catalog.SandboxID {
			t.Fatalf("exchange: %v %+v", err, u)
		}
	})

	t.Run("sandbox site down", func(t *testing.T) {
		b := e.browser()
		b.get(e.startURL(e.token("sandbox-down", catalog.SandboxID), e.app, nil))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		login(b, sandbox.DownUser, sandbox.Password)
		if !b.has(`form[action$="/retry"]`) || e.session(b.sid()).LoginAttempts != 0 {
			t.Errorf("down: %s", b.text())
		}
	})
	t.Run("sandbox custom password", func(t *testing.T) {
		b := e.browser()
		b.get(e.startURL(e.token("sandbox-custom", catalog.SandboxID), e.app, nil))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		login(b, sandbox.CustomUser, "Sandb0x-Secret-Passw0rd")
		b.submit(`form[action$="/continue"] [type=submit]`, nil)
		u, err := e.st.User(ctx, e.client.ID, "sandbox-custom")
		if err != nil {
			t.Fatal(err)
		}
		plain, err := e.vault.Open(u.Credential, u.RowID)
		if err != nil || !strings.Contains(string(plain), "Sandb0x-Secret-Passw0rd") {
			t.Errorf("custom credential: %v", err)
		}
	})
	// ("password" itself is a word in the utility's own error messages.)
	e.checkNoSecretsLogged("not-the-password", "Sandb0x-Secret-Passw0rd")
}
