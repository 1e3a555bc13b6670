package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestKeysGenerate(t *testing.T) {
	code, out, _ := runCmd(t, nil, "keys", "generate")
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if code != 0 || err != nil || len(key) != 32 {
		t.Fatalf("keys generate = %d %q (%v), want base64 of 32 bytes", code, out, err)
	}
	_, out2, _ := runCmd(t, nil, "keys", "generate")
	if out2 == out {
		t.Fatal("two generated keys are equal")
	}
}

func TestServeRefusesWithoutMasterKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	for name, env := range map[string]map[string]string{
		"unset":      nil,
		"not base64": {"GRIDLINK_MASTER_KEY": "not a key!"},
		"too short":  {"GRIDLINK_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))},
	} {
		code, _, errOut := runCmd(t, env, "serve", "--database", db, "--addr", "127.0.0.1:0")
		if code != 2 || !strings.Contains(errOut, "GRIDLINK_MASTER_KEY") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a message naming GRIDLINK_MASTER_KEY", name, code, errOut)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("serve created the database although it refused to start")
	}
	code, _, errOut := runCmd(t, map[string]string{"GRIDLINK_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32))}, "serve")
	if code != 2 || !strings.Contains(errOut, "--database") {
		t.Errorf("serve without a database: %d %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"keys"},
		{"clients"},
		{"clients", "create", "--database", "x.db"},
		{"clients", "create", "--database", "x.db", "--name", "A"},
		{"clients", "create", "--database", "x.db", "--name", "A", "--redirect-uri", "javascript:alert(1)"},
		{"clients", "create", "--database", "x.db", "--name", "A", "--redirect-uri", "https://a.example/cb#frag"},
		{"clients", "create", "--database", "x.db", "--name", "A", "--redirect-uri", "https://u:p@a.example/cb"},
		{"clients", "create", "--database", "x.db", "--name", "A", "--redirect-uri", "https://a.example/cb", "--origin", "https://a.example/path"},
		{"clients", "delete", "--database", "x.db"},
		{"serve", "--no-such-flag"},
		{"migrate"},
	} {
		dir := t.TempDir()
		for i, a := range args {
			if a == "x.db" {
				args[i] = filepath.Join(dir, "x.db")
			}
		}
		if code, _, errOut := runCmd(t, nil, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	if code, out, _ := runCmd(t, nil, "help"); code != 0 || !strings.Contains(out, "gridlink serve") {
		t.Errorf("help = %d %q", code, out)
	}
	if code, _, _ := runCmd(t, nil, "serve", "--help"); code != 0 {
		t.Errorf("serve --help exit %d, want 0", code)
	}
}

func TestClientsLifecycle(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	// Flags from environment twins; repeatable flags comma-separated.
	env := map[string]string{"GRIDLINK_DATABASE": db, "GRIDLINK_REDIRECT_URI": "https://a.example/cb, https://a.example/cb2"}
	code, out, errOut := runCmd(t, env, "clients", "create", "--name", "Acme", "--origin", "https://a.example", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &c)
	code, out, _ = runCmd(t, env, "clients", "list", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 {
		t.Fatalf("list = %d %q", code, out)
	}
	if list[0]["client_id"] != c.ID || list[0]["name"] != "Acme" || len(list[0]["redirect_uris"].([]any)) != 2 || strings.Contains(out, c.Secret) {
		t.Fatalf("list = %v", list)
	}
	// A flag on the command line wins over the environment.
	code, out, _ = runCmd(t, env, "clients", "create", "--name", "Beta", "--redirect-uri", "https://b.example/cb")
	if code != 0 || !regexp.MustCompile(`client_secret: \S{43}`).MatchString(out) {
		t.Fatalf("create (text) = %d %q", code, out)
	}
	code, out, _ = runCmd(t, env, "clients", "list")
	if code != 0 || !strings.Contains(out, "https://b.example/cb") || strings.Contains(out, "https://b.example/cb https://a.example") {
		t.Fatalf("list (text) = %q", out)
	}

	code, out, _ = runCmd(t, env, "clients", "rotate-secret", "--json", c.ID)
	var rotated struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if json.Unmarshal([]byte(out), &rotated); code != 0 || rotated.ID != c.ID || rotated.Secret == c.Secret || rotated.Secret == "" {
		t.Fatalf("rotate = %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, env, "clients", "rotate-secret", "no-such-client"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("rotate unknown = %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t, env, "clients", "delete", c.ID); code != 0 {
		t.Fatal("delete failed")
	}
	if code, _, _ := runCmd(t, env, "clients", "delete", c.ID); code != 1 {
		t.Fatal("second delete succeeded")
	}
	if code, out, _ := runCmd(t, env, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate = %d %q", code, out)
	}
}

// TestServeSecretsWork checks that rotate-secret takes effect: the old
// secret is refused by a running server and the new one accepted.
func TestRotatedSecretIsEnforced(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	_, out, _ := runCmd(t, nil, "clients", "create", "--database", db, "--name", "A", "--redirect-uri", "https://a.example/cb", "--json")
	var c map[string]string
	json.Unmarshal([]byte(out), &c)
	_, key, _ := runCmd(t, nil, "keys", "generate")
	srv := startServe(t, map[string]string{"GRIDLINK_MASTER_KEY": strings.TrimSpace(key)}, "--database", db)
	_, out, _ = runCmd(t, nil, "clients", "rotate-secret", "--database", db, "--json", c["client_id"])
	var r map[string]string
	json.Unmarshal([]byte(out), &r)
	for secret, want := range map[string]int{c["client_secret"]: 401, r["client_secret"]: 200} {
		var body map[string]any
		got, _ := apiCall(t, "POST", srv.base+"/auth/connect-token", map[string]string{"Pelm-Client-Id": c["client_id"], "Pelm-Secret": secret}, map[string][]string{"user_id": {"u"}}, &body)
		if got != want {
			t.Errorf("secret %s…: status %d, want %d (%v)", secret[:6], got, want, body)
		}
	}
}

func TestDevMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := func() (string, string, context.CancelFunc, chan int) {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		done := make(chan int, 1)
		port := freePort(t)
		go func() {
			done <- run(ctx, []string{"dev", "--addr", "127.0.0.1:" + port, "--data-dir", dir, "--demo-utility-addr", "127.0.0.1:0"}, noEnv, &out, &errOut)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "client_secret:") {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("dev did not print its banner:\n%s\n%s", out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return out.String(), port, cancel, done
	}
	banner, port, cancel, done := start()
	id := regexp.MustCompile(`client_id:\s+(\S+)`).FindStringSubmatch(banner)
	secret := regexp.MustCompile(`client_secret:\s+(\S+)`).FindStringSubmatch(banner)
	if id == nil || secret == nil || !strings.Contains(banner, "user@pelm.com") || !strings.Contains(banner, "curl") {
		t.Fatalf("banner lacks the client, the curl command or the sandbox login:\n%s", banner)
	}
	base := "http://127.0.0.1:" + port
	hdr := map[string]string{"Pelm-Client-Id": id[1], "Pelm-Secret": secret[1]}
	var ct map[string]any
	if code, _ := apiCall(t, "POST", base+"/auth/connect-token", hdr, map[string][]string{"user_id": {"dev-user"}}, &ct); code != 200 {
		t.Fatalf("connect-token with the printed client: %d %v", code, ct)
	}
	// The dev callback page is the registered redirect URI.
	resp, err := http.Get(base + "/dev/callback?code=abc&state=s")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("dev callback: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, f := range []string{"gridlink.db", "master.key", "dev-client.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("data dir lacks %s: %v", f, err)
		}
		if f != "gridlink.db" && st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", f, st.Mode())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("dev exited with %d", code)
	}
	// A restart keeps the same client and secret.
	banner2, _, cancel2, done2 := start()
	defer func() { cancel2(); <-done2 }()
	if !strings.Contains(banner2, id[1]) || !strings.Contains(banner2, secret[1]) {
		t.Fatalf("restart changed the development client:\n%s", banner2)
	}
}

// The server commands collect garbage at GOGC=200 unless the operator set
// GOGC or GOMEMLIMIT; other commands keep Go's default.
func TestServerGCPercent(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want int
		ok   bool
	}{
		{[]string{"serve", "--database", "x.db"}, env(), 200, true},
		{[]string{"dev"}, env(), 200, true},
		{[]string{"serve"}, env("GOGC", "100"), 0, false},
		{[]string{"dev"}, env("GOMEMLIMIT", "200MiB"), 0, false},
		{[]string{"migrate", "--database", "x.db"}, env(), 0, false},
		{[]string{"clients", "list"}, env(), 0, false},
		{nil, env(), 0, false},
	} {
		got, ok := serverGCPercent(tc.args, tc.env)
		if got != tc.want || ok != tc.ok {
			t.Errorf("serverGCPercent(%q) = %d, %v; want %d, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}
