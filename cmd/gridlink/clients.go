package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gridlink/gridlink/internal/auth"
)

func cmdClients(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: gridlink clients create|list|rotate-secret|delete [flags]")
	}
	sub, args := args[0], args[1:]
	fs := newFlags("clients "+sub, getenv, stderr)
	database := fs.String("database", "", "database: a SQLite file path or a postgres:// URL")
	asJSON := fs.Bool("json", false, "print JSON")
	var name *string
	var redirects, origins *list
	if sub == "create" {
		name = fs.String("name", "", "company display name shown in Connect")
		redirects = fs.List("redirect-uri", "an exact redirect URI for hosted Connect")
		origins = fs.List("origin", "a web origin allowed to embed Connect, e.g. https://app.example.com")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *database == "" {
		return usagef("--database is required (or GRIDLINK_DATABASE)")
	}
	switch sub {
	case "create":
		if fs.NArg() != 0 {
			return usagef("unexpected arguments: %v", fs.Args())
		}
		if strings.TrimSpace(*name) == "" {
			return usagef("--name is required")
		}
		if len(redirects.vals) == 0 {
			return usagef("at least one --redirect-uri is required")
		}
		for _, u := range redirects.vals {
			if err := checkRedirectURI(u); err != nil {
				return usagef("--redirect-uri %q: %v", u, err)
			}
		}
		for _, o := range origins.vals {
			if err := checkOrigin(o); err != nil {
				return usagef("--origin %q: %v", o, err)
			}
		}
	case "list":
		if fs.NArg() != 0 {
			return usagef("unexpected arguments: %v", fs.Args())
		}
	case "rotate-secret", "delete":
		if fs.NArg() != 1 {
			return usagef("usage: gridlink clients %s --database PATH|URL ID", sub)
		}
	default:
		return usagef("unknown clients command %q (create, list, rotate-secret, delete)", sub)
	}

	st, err := openStore(ctx, *database, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := auth.New(st, make([]byte, 32), time.Now, rand.Reader) // no connect tokens issued here
	if err != nil {
		return err
	}

	switch sub {
	case "create":
		c, secret, err := svc.NewClient(strings.TrimSpace(*name), redirects.vals, origins.vals)
		if err != nil {
			return err
		}
		if err := st.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("create client: %w", err)
		}
		return printCredentials(stdout, *asJSON, c.ID, secret)
	case "list":
		cs, err := st.Clients(ctx)
		if err != nil {
			return fmt.Errorf("list clients: %w", err)
		}
		if *asJSON {
			type out struct {
				ID           string    `json:"client_id"`
				Name         string    `json:"name"`
				RedirectURIs []string  `json:"redirect_uris"`
				Origins      []string  `json:"origins"`
				CreatedAt    time.Time `json:"created_at"`
			}
			list := []out{}
			for _, c := range cs {
				list = append(list, out{c.ID, c.Name, nonNil(c.RedirectURIs), nonNil(c.Origins), c.CreatedAt})
			}
			return json.NewEncoder(stdout).Encode(list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tREDIRECT URIS\tORIGINS\tCREATED")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.RedirectURIs, " "), strings.Join(c.Origins, " "), c.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "rotate-secret":
		id := fs.Arg(0)
		secret, err := svc.NewSecret()
		if err != nil {
			return err
		}
		if err := st.SetClientSecret(ctx, id, auth.Digest(secret)); err != nil {
			return fmt.Errorf("rotate secret of client %s: %w", id, err)
		}
		return printCredentials(stdout, *asJSON, id, secret)
	default: // delete
		id := fs.Arg(0)
		if err := st.DeleteClient(ctx, id); err != nil {
			return fmt.Errorf("delete client %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "deleted client %s and all its users and data\n", id)
		return nil
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printCredentials(w io.Writer, asJSON bool, id, secret string) error {
	if asJSON {
		return json.NewEncoder(w).Encode(struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}{id, secret})
	}
	_, err := fmt.Fprintf(w, "client_id:     %s\nclient_secret: %s\n\nThe secret is shown only now; gridlink keeps only its hash.\n", id, secret)
	return err
}

// checkRedirectURI applies the registration rules of security.md item 4:
// an absolute http(s) URI without userinfo or fragment.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("must be an absolute http or https URI")
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("must have a host and no userinfo or fragment")
	}
	return nil
}

// checkOrigin accepts scheme://host[:port] (no path), or a dev wildcard port
// such as http://localhost:*.
func checkOrigin(s string) error {
	u, err := url.Parse(strings.Replace(s, ":*", ":1", 1))
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be scheme://host[:port]")
	}
	return nil
}
