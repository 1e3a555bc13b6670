package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/demo"
	"github.com/gridlink/gridlink/internal/demoutility"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/vault"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// devClient is the development client kept in the data directory, so that
// its id and secret stay the same across restarts of gridlink dev.
type devClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", getenv, stderr)
	addr := fs.String("addr", ":8080", "address to listen on")
	dataDir := fs.String("data-dir", "gridlink-data", "directory for the SQLite database, the master key and the development client")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.twin("demo-utility-addr", demoUtilityAddrEnv)
	demoAddr := fs.String("demo-utility-addr", "", "address of the demo utility website, Demo Power & Light (empty: --addr's port + 10, e.g. :8090)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *demoAddr == "" {
		*demoAddr = devDemoUtilityAddr(*addr)
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	key, err := devMasterKey(filepath.Join(*dataDir, "master.key"))
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel, false)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(*dataDir, "gridlink.db")
	port := portOf(*addr)
	base := "http://localhost:" + port
	redirects := []string{base + "/dev/callback", "http://127.0.0.1:" + port + "/dev/callback"}

	// Register (or refresh) the development client before serving.
	st, err := openStore(ctx, dbPath, logger)
	if err != nil {
		return err
	}
	dc, err := ensureDevClient(ctx, st, filepath.Join(*dataDir, "dev-client.json"), redirects)
	st.Close()
	if err != nil {
		return err
	}

	app, err := demo.New(demo.Config{BaseURL: base, ClientID: dc.ClientID, ClientSecret: dc.ClientSecret, Logger: logger})
	if err != nil {
		return err
	}

	// Demo Power & Light, in this process on a listener of its own; the
	// demo-power connector reaches it over HTTP as it would a real site.
	ln, err := net.Listen("tcp", *demoAddr)
	if err != nil {
		return fmt.Errorf("demo utility: listen on %s (choose another address with --demo-utility-addr): %w", *demoAddr, err)
	}
	demoLog := logger.With("component", "demo-utility")
	site := demoutility.New(demoutility.Config{Logger: demoLog, RateLimit: demoutility.DefaultRateLimit()})
	demoURL := localURL(ln.Addr())
	siteCtx, stopSite := context.WithCancel(ctx)
	siteDone := make(chan error, 1)
	go func() { siteDone <- serveDemoUtility(siteCtx, ln, site, demoLog) }()
	demoLog.Info("demo utility listening", "addr", ln.Addr().String(), "url", demoURL)

	// Demo Green Button Utility: an ESPI data custodian on this listener.
	gb, err := newDevGreenButton([]string{base, "http://127.0.0.1:" + port}, logger)
	if err != nil {
		stopSite()
		return errors.Join(err, <-siteDone)
	}

	err = serveApp(ctx, appConfig{
		Addr: *addr, Database: dbPath, MasterKey: key, Logger: logger, Stdout: stdout,
		DemoUtilityURL: demoURL,
		Connectors:     gb.register,
		Extra: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /dev/callback", devCallback(dc, base))
			app.Register(mux) // the demo app at /demo
			gb.mount(mux)
		},
		Ready: func(string) { printDevBanner(stdout, dc, base, demoURL) },
	})
	stopSite()
	return errors.Join(err, <-siteDone)
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "8080"
	}
	return port
}

// devMasterKey reads the development master key, creating it on first use.
func devMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write development master key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read development master key: %w", err)
	}
	key, err := vault.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

func ensureDevClient(ctx context.Context, st store.Store, path string, redirects []string) (devClient, error) {
	var dc devClient
	origins := []string{"http://localhost:*", "http://127.0.0.1:*"}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &dc); err != nil {
			return dc, fmt.Errorf("%s: %w", path, err)
		}
		c, err := st.Client(ctx, dc.ClientID)
		if err == nil {
			// Keep the registration in step with the current port.
			if !equal(c.RedirectURIs, redirects) || !equal(c.Origins, origins) {
				c.RedirectURIs, c.Origins = redirects, origins
				if err := st.UpdateClient(ctx, c); err != nil {
					return dc, fmt.Errorf("update development client: %w", err)
				}
			}
			return dc, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return dc, err
		}
	}
	svc, err := auth.New(st, make([]byte, 32), time.Now, rand.Reader)
	if err != nil {
		return dc, err
	}
	c, secret, err := svc.NewClient("gridlink Dev App", redirects, origins)
	if err != nil {
		return dc, err
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return dc, fmt.Errorf("create development client: %w", err)
	}
	dc = devClient{ClientID: c.ID, ClientSecret: secret}
	b, _ := json.MarshalIndent(dc, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return dc, fmt.Errorf("write development client: %w", err)
	}
	return dc, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func printDevBanner(w io.Writer, dc devClient, base, demoURL string) {
	fmt.Fprintf(w, `
gridlink dev is running at %[1]s

Development client (kept in the data directory):
  client_id:     %[2]s
  client_secret: %[3]s

1. Create a connect token:
  curl -s -X POST %[1]s/auth/connect-token \
    -H 'Pelm-Client-Id: %[2]s' -H 'Pelm-Secret: %[3]s' \
    -d user_id=my-first-user

2. Open Connect in a browser (paste the token):
  %[1]s/?redirect_uri=%[1]s/dev/callback&connect_token=TOKEN

   Choose "Pacific Gas and Electric" and log in with the sandbox user:
     username: user@pelm.com   password: password
   (the "gridlink Sandbox" utility has more scenario logins, e.g. mfa@sandbox.test, code 123456)

3. The callback page shows the code and the curl command that exchanges it.

Or try the demo app, which embeds Connect and then shows the user's data:
  %[1]s/demo

%[5]s, a demo utility website with one-time codes, runs at %[4]s
(choose "%[5]s" in Connect; the sync reads its pages as it would a real utility's):
%[6]s%[7]s`, base, dc.ClientID, dc.ClientSecret, demoURL, demoutility.Name, demoUtilityLogins(demoURL), devGreenButtonLogins(base))
}

var callbackPage = template.Must(template.New("cb").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridlink dev callback</title></head>
<body style="font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem">
<h1>gridlink dev callback</h1>
{{if .Code}}<p>Connect succeeded. Exchange the one-time code (valid 10 minutes) for an access token:</p>
<pre style="white-space:pre-wrap;background:#f4f4f4;padding:1rem">curl -s -X POST {{.Base}}/auth/token \
  -H 'Pelm-Client-Id: {{.ClientID}}' -H 'Pelm-Secret: {{.Secret}}' \
  -d code={{.Code}}</pre>
<p>Then read the data:</p>
<pre style="white-space:pre-wrap;background:#f4f4f4;padding:1rem">curl -s {{.Base}}/accounts \
  -H 'Pelm-Client-Id: {{.ClientID}}' -H 'Pelm-Secret: {{.Secret}}' \
  -H 'Authorization: Bearer ACCESS_TOKEN'</pre>
{{else}}<p>Connect ended without a connection: <strong>{{.Error}}</strong></p>{{end}}
{{if .State}}<p>state: <code>{{.State}}</code></p>{{end}}
</body></html>`))

// devCallback is the development client's redirect URI: it shows the code
// (or the error) and how to use it. It exists only in gridlink dev.
func devCallback(dc devClient, base string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		errText := q.Get("error")
		if errText == "" && q.Get("code") == "" {
			errText = "no code in the address"
		}
		callbackPage.Execute(w, map[string]string{
			"Code": q.Get("code"), "Error": errText, "State": q.Get("state"),
			"Base": base, "ClientID": dc.ClientID, "Secret": dc.ClientSecret,
		})
	}
}
