package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gridlink/gridlink/internal/connector"
)

// fakeClock is a clock whose Sleep advances it instantly, so that pacing
// and backoff are observable without waiting.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
		c.slept = append(c.slept, d)
	}
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// zeroRand makes jitter 0: each backoff is exactly half its nominal delay.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// newKit returns a toolkit on the fake clock, with no pacing unless
// limits say otherwise.
func newKit(c *fakeClock, limits Limits) *Toolkit {
	if limits.MinInterval == 0 {
		limits.MinInterval = -1
	}
	return New(Config{Now: c.Now, Sleep: c.Sleep, Rand: zeroRand{}, Limits: limits})
}

func newSession(t *testing.T, tk *Toolkit, srv *httptest.Server, o Options) *Session {
	t.Helper()
	o.BaseURL = srv.URL
	s, err := tk.NewSession(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kindOf(t *testing.T, err error) connector.Kind {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connector.Error", err)
	}
	if ce.Message == "" {
		t.Errorf("error %v has no user message", err)
	}
	return ce.Kind
}

func htmlPage(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte("<!doctype html><html><head><title>t</title></head><body>" + body + "</body></html>"))
}
