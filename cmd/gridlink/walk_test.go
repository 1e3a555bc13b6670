package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// syncBuffer is a goroutine-safe buffer for captured output.
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

// server is a gridlink process run in-process through run().
type server struct {
	base   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `gridlink serve` on a random loopback port.
func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{logs: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	getenv := func(k string) string { return env[k] }
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), getenv, s.logs, s.logs)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "gridlink listening" {
				s.base = "http://" + rec.Addr
				t.Cleanup(func() { s.stop(t) })
				return s
			}
		}
		select {
		case code := <-s.done:
			t.Fatalf("gridlink serve exited with %d:\n%s", code, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("gridlink serve did not start:\n%s", s.logs.String())
	return nil
}

func (s *server) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("gridlink serve exited with %d:\n%s", code, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("gridlink serve did not stop within 30 s of cancellation")
	}
}

// browser is a plain HTTP client that walks the Connect forms like a user
// without JavaScript: it keeps cookies and hidden fields, and never follows
// a redirect away from gridlink (so the final redirect to the app is seen).
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	page   *goquery.Document
	url    *url.URL
	last   *http.Response
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: base}
	b.client = &http.Client{Jar: jar, Timeout: 90 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), base) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) load(resp *http.Response, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = resp
	b.url = resp.Request.URL
	b.page = nil
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
		if err != nil {
			b.t.Fatal(err)
		}
		b.page = doc
	}
}

func (b *browser) get(u string) { b.t.Helper(); b.load(b.client.Get(u)) }

// text is the visible text of the current page.
func (b *browser) text() string {
	if b.page == nil {
		return ""
	}
	return strings.Join(strings.Fields(b.page.Find("body").Text()), " ")
}

// redirectedTo returns the Location of the last response when it left gridlink.
func (b *browser) redirectedTo() *url.URL {
	if b.last == nil || b.last.StatusCode/100 != 3 {
		return nil
	}
	loc, err := b.last.Location()
	if err != nil {
		return nil
	}
	return loc
}

// submit finds the form that contains an element matching sel, fills its
// fields (hidden fields kept, then values overrides), adds the clicked
// control's name=value when sel is a named button, and posts it.
func (b *browser) submit(sel string, values map[string]string) {
	b.t.Helper()
	if b.page == nil {
		b.t.Fatalf("no HTML page to submit %q on (status %d)", sel, b.last.StatusCode)
	}
	el := b.page.Find(sel).First()
	if el.Length() == 0 {
		html, _ := b.page.Html()
		b.t.Fatalf("no element %q on %s:\n%s", sel, b.url, html)
	}
	form := el.Closest("form")
	if form.Length() == 0 {
		b.t.Fatalf("%q is not inside a form", sel)
	}
	data := url.Values{}
	form.Find("input").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		typ, _ := in.Attr("type")
		val, _ := in.Attr("value")
		if name == "" || typ == "submit" || ((typ == "radio" || typ == "checkbox") && !in.Is("[checked]")) {
			return
		}
		data.Set(name, val)
	})
	if name, ok := el.Attr("name"); ok && (el.Is("button") || el.Is("input[type=submit]") || el.Is("input[type=radio]")) {
		val, _ := el.Attr("value")
		data.Set(name, val)
	}
	for k, v := range values {
		data.Set(k, v)
	}
	method := strings.ToUpper(form.AttrOr("method", "GET"))
	action, _ := url.Parse(form.AttrOr("action", ""))
	target := b.url.ResolveReference(action)
	if method == "GET" {
		target.RawQuery = data.Encode()
		b.get(target.String())
		return
	}
	b.load(b.client.PostForm(target.String(), data))
}

// api calls the JSON API and decodes the answer.
func apiCall(t *testing.T, method, u string, hdr map[string]string, form url.Values, out any) (int, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: status %d, body not JSON (%v): %s", method, u, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode, resp.Header
}

// pollAccounts calls GET /accounts until it stops answering data_unavailable.
func pollAccounts(t *testing.T, base string, hdr map[string]string, limit time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var raw json.RawMessage
		code, _ := apiCall(t, "GET", base+"/accounts", hdr, nil, &raw)
		if code == 200 {
			var accts []map[string]any
			if err := json.Unmarshal(raw, &accts); err != nil {
				t.Fatal(err)
			}
			return accts
		}
		var e struct {
			ErrorCode string `json:"error_code"`
		}
		json.Unmarshal(raw, &e)
		if code != 500 || e.ErrorCode != "data_unavailable" {
			t.Fatalf("GET /accounts = %d %s", code, raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("data still unavailable after %v", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errNoCode = errors.New("no code")

func codeFrom(loc *url.URL) (string, error) {
	if loc == nil {
		return "", errNoCode
	}
	if c := loc.Query().Get("code"); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("%w in %s", errNoCode, loc.Redacted())
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
