package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	gbconnect "github.com/gridlink/gridlink/internal/connector/greenbutton"
)

// greenButtonUtility is one entry of the --greenbutton-utilities file: a
// catalogue utility reached through its Green Button Connect My Data
// (OAuth + ESPI) endpoints. The client secret is never in the file: it is
// read from the environment variable named by client_secret_env.
type greenButtonUtility struct {
	Slug            string `json:"slug"`
	AuthorizeURL    string `json:"authorize_url"`
	TokenURL        string `json:"token_url"`
	ResourceURL     string `json:"resource_url"`
	ClientID        string `json:"client_id"`
	ClientSecretEnv string `json:"client_secret_env"`
	Scope           string `json:"scope"`

	secret string
}

// loadGreenButtonUtilities reads and checks the --greenbutton-utilities file.
func loadGreenButtonUtilities(path string, getenv func(string) string) ([]greenButtonUtility, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--greenbutton-utilities: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var list []greenButtonUtility
	if err := dec.Decode(&list); err != nil {
		return nil, usagef("--greenbutton-utilities %s: not a JSON list of utilities: %v", path, err)
	}
	cat := catalog.Default()
	seen := map[string]bool{}
	for i := range list {
		u := &list[i]
		where := fmt.Sprintf("--greenbutton-utilities %s, entry %d (%q)", path, i+1, u.Slug)
		if _, ok := cat.BySlug(u.Slug); !ok {
			return nil, usagef("%s: no utility with this slug in the catalogue (GET /utilities lists them)", where)
		}
		if seen[u.Slug] {
			return nil, usagef("%s: listed twice", where)
		}
		seen[u.Slug] = true
		for name, v := range map[string]string{"authorize_url": u.AuthorizeURL, "token_url": u.TokenURL} {
			if p, err := url.Parse(v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return nil, usagef("%s: %s must be an absolute http(s) URL", where, name)
			}
		}
		if u.ClientID == "" || u.ClientSecretEnv == "" {
			return nil, usagef("%s: client_id and client_secret_env are required", where)
		}
		if u.secret = getenv(u.ClientSecretEnv); u.secret == "" {
			return nil, usagef("%s: the environment variable %s (the OAuth client secret) is empty", where, u.ClientSecretEnv)
		}
	}
	return list, nil
}

// applyGreenButtonUtilities registers a Connect My Data connector for each
// configured utility and marks the utility as reached by it.
func applyGreenButtonUtilities(cat *catalog.Catalog, reg connector.Registry, list []greenButtonUtility, cfg appConfig) (*catalog.Catalog, error) {
	for _, u := range list {
		key := "greenbutton:" + u.Slug
		util, _ := cat.BySlug(u.Slug)
		conn, err := gbconnect.New(gbconnect.Config{
			Name: util.Name, AuthorizeURL: u.AuthorizeURL, TokenURL: u.TokenURL, ResourceURL: u.ResourceURL,
			ClientID: u.ClientID, ClientSecret: u.secret, Scope: u.Scope, Logger: cfg.Logger.With("utility", u.Slug),
		})
		if err != nil {
			return nil, usagef("--greenbutton-utilities, %q: %v", u.Slug, err)
		}
		if cat, err = cat.WithConnector(u.Slug, key); err != nil {
			return nil, err
		}
		reg[key] = conn
	}
	return cat, nil
}
