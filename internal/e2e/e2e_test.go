package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridlink/gridlink/internal/testenv"
)

// buildOnce builds the gridlink binary once for the whole test binary.
var buildOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

// binary returns the path of a freshly built gridlink binary.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gridlink-e2e-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "gridlink")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		cmd := exec.Command(goTool, "build", "-o", buildOnce.path, "./cmd/gridlink")
		cmd.Dir = repoRoot(t)
		buildOnce.out, buildOnce.err = cmd.CombinedOutput()
	})
	if buildOnce.err != nil {
		t.Fatalf("go build ./cmd/gridlink: %v\n%s", buildOnce.err, buildOnce.out)
	}
	return buildOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.path != "" {
		os.RemoveAll(filepath.Dir(buildOnce.path))
	}
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s", dir)
	}
	return dir
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gridlink is a running `gridlink dev`.
type gridlink struct {
	t      *testing.T
	base   string // http://localhost:PORT
	ip     string // http://127.0.0.1:PORT
	id     string
	secret string
	logs   *syncBuffer // standard error: the log
	banner *syncBuffer // standard output: the dev banner (prints the secret)
}

// startGridlink runs `gridlink dev` on 127.0.0.1:port (0: a free port) with
// a fresh data directory, and stops it when the test ends.
func startGridlink(t *testing.T, port int) *gridlink {
	t.Helper()
	bin := binary(t)
	for try := 0; ; try++ {
		p := port
		if p == 0 {
			p = freePort(t)
		}
		g, err := tryStart(t, bin, p)
		if err == nil {
			return g
		}
		if port != 0 || try == 2 {
			t.Fatal(err)
		}
		t.Logf("retrying on another port: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tryStart(t *testing.T, bin string, port int) (*gridlink, error) {
	dir := t.TempDir()
	logs, banner := &syncBuffer{}, &syncBuffer{}
	// The demo utility takes a random port too (by default it would take
	// gridlink's port + 10).
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", dir, "--demo-utility-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = banner, logs
	cmd.Env = append(os.Environ(), "GRIDLINK_ADDR=", "GRIDLINK_DATABASE=", "GRIDLINK_DEMO_UTILITY_ADDR=")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	g := &gridlink{t: t, base: fmt.Sprintf("http://localhost:%d", port), ip: fmt.Sprintf("http://127.0.0.1:%d", port), logs: logs, banner: banner}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("gridlink dev exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(g.ip + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("gridlink dev did not answer /healthz within 90 s\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("gridlink dev output:\n%s", tail(logs.String(), 6000))
		}
	})
	b, err := os.ReadFile(filepath.Join(dir, "dev-client.json"))
	if err != nil {
		return nil, err
	}
	var dc struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &dc); err != nil {
		return nil, err
	}
	g.id, g.secret = dc.ID, dc.Secret
	return g, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// call makes an API call with the development client's headers.
func (g *gridlink) call(method, path string, form url.Values, bearer string, out any) int {
	g.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, g.ip+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Pelm-Client-Id", g.id)
	req.Header.Set("Pelm-Secret", g.secret)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// connectToken creates a connect token as the developer's backend would.
func (g *gridlink) connectToken(userID, utility string) string {
	g.t.Helper()
	form := url.Values{"user_id": {userID}}
	if utility != "" {
		form.Set("utility_slug", utility)
	}
	var ct struct {
		ConnectToken string `json:"connect_token"`
	}
	if c := g.call("POST", "/auth/connect-token", form, "", &ct); c != 200 || ct.ConnectToken == "" {
		g.t.Fatalf("connect-token: %d", c)
	}
	return ct.ConnectToken
}

// exchange redeems a code and returns the access token.
func (g *gridlink) exchange(code string) string {
	g.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if c := g.call("POST", "/auth/token", url.Values{"code": {code}}, "", &tok); c != 200 || tok.AccessToken == "" {
		g.t.Fatalf("exchange the code: %d", c)
	}
	return tok.AccessToken
}

// newChrome starts headless Chromium with a desktop window; every step of
// the test runs under one deadline.
func newChrome(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := testenv.Browser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	steps, cancelSteps := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelSteps(); cancelCtx(); cancelAlloc() })
	return steps
}

// page drives one browser tab that embeds Connect.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) shot(name string) {
	if png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot()); err == nil {
		os.WriteFile(filepath.Join(testenv.ArtifactDir(p.t), name+".png"), png, 0o644)
	}
}

// fail stops the test with a screenshot and the page's state.
func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.shot(strings.NewReplacer("/", "-", " ", "-").Replace(p.t.Name()) + "-failed")
	body, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	inner := ""
	if n, e := p.frame(); e == nil {
		inner, _ = chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("body"), chromedp.FromNode(n)))
	}
	p.t.Fatalf("%s: %v\npage: %s\nConnect: %s", what, err, tail(body, 2000), tail(inner, 2000))
}

// do runs steps on the page.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.fail(what, err)
	}
}

// eval evaluates JavaScript on the page.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.fail("evaluate "+js, err)
	}
	return v
}

// waitJS waits until the expression is truthy on the page, across
// navigations (up to 60 seconds).
func (p *page) waitJS(what, js string) {
	p.t.Helper()
	expr := `(() => { try { return !!(` + js + `); } catch (e) { return false; } })()`
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("still false: %s", js)
			}
			p.fail(what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frame returns the node of Connect's iframe, as it is now (its document
// changes with every Connect page).
func (p *page) frame() (*chromedp.Node, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("iframe")))
	if err != nil {
		return nil, err
	}
	return nodes[0], nil
}

// in runs steps inside Connect's iframe: each step waits (up to its
// deadline) for the selector in the iframe's current document.
func (p *page) in(what string, steps ...func(from chromedp.QueryOption) chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	for _, step := range steps {
		deadline := time.Now().Add(60 * time.Second)
		for {
			n, err := p.frame()
			if err == nil {
				ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
				err = chromedp.Do(ctx, step(chromedp.FromNode(n)))
				cancel()
				if err == nil {
					break
				}
			}
			if time.Now().After(deadline) || p.ctx.Err() != nil {
				p.fail(what, err)
			}
		}
	}
}

// Steps inside the iframe.
func visible(sel string) func(chromedp.QueryOption) chromedp.Action[chromedp.Void] {
	return func(from chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(sel), from)
	}
}

func click(sel string) func(chromedp.QueryOption) chromedp.Action[chromedp.Void] {
	return func(from chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(sel), from)
	}
}

func typeIn(sel, text string) func(chromedp.QueryOption) chromedp.Action[chromedp.Void] {
	return func(from chromedp.QueryOption) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(chromedp.CSS(sel), text, from)
	}
}

// inFrame evaluates JavaScript inside Connect's iframe (its own origin).
func inFrame[T any](p *page, js string) T {
	p.t.Helper()
	n, err := p.frame()
	if err != nil {
		p.fail("find the iframe", err)
	}
	v, err := chromedp.Run(p.ctx, chromedp.Poll[T](js, chromedp.WithPollingInFrame(n), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		p.fail("evaluate in the iframe "+js, err)
	}
	return v
}

// The Connect steps, as a user does them.
const (
	termsButton = `form[action$="/terms"] [type=submit]`
	closeButton = `button.close[data-close]`
)

// toCredentials accepts the terms and picks a utility.
func (p *page) toCredentials(slug string) {
	p.t.Helper()
	p.in("terms and utility",
		click(termsButton),
		visible(`input[name=q]`),
		click(`[name=utility_slug][value="`+slug+`"]`),
		visible(`input[name=password]`),
	)
}

// signIn submits the utility login.
func (p *page) signIn(user, password string) {
	p.t.Helper()
	p.in("sign in",
		typeIn(`input[name=username]`, user),
		typeIn(`input[name=password]`, password),
		click(`form.login [type=submit]`),
	)
}
