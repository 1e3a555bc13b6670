package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	gbconnect "github.com/gridlink/gridlink/internal/connector/greenbutton"
	"github.com/gridlink/gridlink/internal/espicustodian"
)

// devGreenButtonPrefix is where gridlink dev mounts the Demo Green Button
// Utility's data custodian on its own listener.
const devGreenButtonPrefix = "/demo-greenbutton"

// devGreenButtonClientID is gridlink's client id at the demo custodian.
const devGreenButtonClientID = "gridlink-dev"

// devGreenButton is the Demo Green Button Utility of gridlink dev: a local
// ESPI data custodian (espicustodian) and the Green Button Connect My Data
// connector pointed at it.
type devGreenButton struct {
	custodian *espicustodian.Custodian
	connector *gbconnect.Connector
}

// newDevGreenButton builds the custodian, to be mounted at
// devGreenButtonPrefix on the listener reached at each of bases (e.g.
// http://localhost:8080 and http://127.0.0.1:8080; the first is the one
// the connector calls), with a client registration whose secret is new at
// every start and whose redirect URIs are each base's Connect callback.
func newDevGreenButton(bases []string, logger *slog.Logger) (*devGreenButton, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	var redirects []string
	for _, base := range bases {
		redirects = append(redirects, strings.TrimRight(base, "/")+"/connect/oauth/callback")
	}
	log := logger.With("component", "demo-greenbutton")
	cust, err := espicustodian.New(espicustodian.Config{
		Logger: log,
		Clients: []espicustodian.Client{{
			ID: devGreenButtonClientID, Secret: secret, Name: "gridlink dev", RedirectURIs: redirects,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("demo green button utility: %w", err)
	}
	at := strings.TrimRight(bases[0], "/") + devGreenButtonPrefix
	conn, err := gbconnect.New(gbconnect.Config{
		Name:         espicustodian.Name,
		AuthorizeURL: at + "/oauth/authorize",
		TokenURL:     at + "/oauth/token",
		ResourceURL:  at + "/espi/1_1/resource",
		ClientID:     devGreenButtonClientID,
		ClientSecret: secret,
		Scope:        espicustodian.DefaultScope,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("demo green button utility: %w", err)
	}
	return &devGreenButton{custodian: cust, connector: conn}, nil
}

// register adds the connector under the catalogue's key.
func (d *devGreenButton) register(r connector.Registry) error {
	r[catalog.ConnectorDemoGreenButton] = d.connector
	return nil
}

// mount serves the custodian at devGreenButtonPrefix.
func (d *devGreenButton) mount(mux *http.ServeMux) {
	mux.Handle(devGreenButtonPrefix+"/", http.StripPrefix(devGreenButtonPrefix, d.custodian))
}

// devGreenButtonLogins is the banner's list of the demo customers.
func devGreenButtonLogins(base string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s (Green Button Connect My Data: you sign in on the utility's own page) runs at %s%s/\n", espicustodian.Name, base, devGreenButtonPrefix)
	sb.WriteString("(choose \"" + espicustodian.Name + "\" in Connect, then \"Continue\"; its logins:)\n")
	for _, c := range espicustodian.DefaultCustomers() {
		fmt.Fprintf(&sb, "  %-8s password %-18s %s\n", c.Username, c.Password, c.Name)
	}
	return sb.String()
}
