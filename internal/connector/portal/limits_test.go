package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// handlerTransport serves requests in-process through a handler, so that
// a synctest bubble sees every goroutine and blocking point.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func TestPacingPerHost(t *testing.T) {
	c := newClock()
	var mu sync.Mutex
	seen := map[string][]time.Duration{} // host -> request times since start
	start := c.Now()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Host] = append(seen[r.Host], c.Now().Sub(start))
		mu.Unlock()
		htmlPage(w, 200, "ok")
	})
	tk := New(Config{
		HTTPClient: &http.Client{Transport: handlerTransport{h}},
		Now:        c.Now, Sleep: c.Sleep,
		Limits:     Limits{MinInterval: time.Second},
		HostLimits: map[string]Limits{"slow.test": {MinInterval: 5 * time.Second}},
	})
	ctx := context.Background()
	// Two sessions (two connector calls) share the toolkit's pacing.
	a, _ := tk.NewSession(Options{BaseURL: "http://a.test"})
	b, _ := tk.NewSession(Options{BaseURL: "http://a.test"})
	slow, _ := tk.NewSession(Options{BaseURL: "http://slow.test"})
	for _, s := range []*Session{a, b, a, slow, slow} {
		if _, err := s.Get(ctx, "/"); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]time.Duration{
		"a.test":    {0, time.Second, 2 * time.Second},
		"slow.test": {2 * time.Second, 7 * time.Second},
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("request times per host (-want +got):\n%s", diff)
	}
}

func TestConcurrencyCapPerHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		inflight := map[string]int{}
		peak := map[string]int{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inflight[r.Host]++
			peak[r.Host] = max(peak[r.Host], inflight[r.Host])
			mu.Unlock()
			<-release
			mu.Lock()
			inflight[r.Host]--
			mu.Unlock()
			htmlPage(w, 200, "ok")
		})
		tk := New(Config{
			HTTPClient: &http.Client{Transport: handlerTransport{h}},
			Limits:     Limits{MinInterval: -1, MaxConcurrent: 2},
		})
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			host := "http://busy.test"
			if i == 5 {
				host = "http://other.test"
			}
			s, err := tk.NewSession(Options{BaseURL: host}) // one session each, as separate syncs would
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				_, err := s.Get(context.Background(), "/")
				errs <- err
			})
		}
		synctest.Wait() // everyone is either in the handler or waiting for a slot
		mu.Lock()
		got := map[string]int{"busy.test": inflight["busy.test"], "other.test": inflight["other.test"]}
		mu.Unlock()
		if diff := cmp.Diff(map[string]int{"busy.test": 2, "other.test": 1}, got); diff != "" {
			t.Errorf("requests in flight (-want +got):\n%s", diff)
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if peak["busy.test"] != 2 {
			t.Errorf("peak concurrency on busy.test = %d, want 2", peak["busy.test"])
		}
	})
}

func TestRateLimitHoldsOtherSessions(t *testing.T) {
	// A 429 with Retry-After on one session delays the next request of
	// every session to that host.
	c := newClock()
	start := c.Now()
	var mu sync.Mutex
	var times []time.Duration
	first := true
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, c.Now().Sub(start))
		if first {
			first = false
			w.Header().Set("Retry-After", "60")
			htmlPage(w, 429, "slow down")
			return
		}
		htmlPage(w, 200, "ok")
	})
	tk := New(Config{HTTPClient: &http.Client{Transport: handlerTransport{h}}, Now: c.Now, Sleep: c.Sleep, Limits: Limits{MinInterval: -1}})
	a, _ := tk.NewSession(Options{BaseURL: "http://u.test"})
	b, _ := tk.NewSession(Options{BaseURL: "http://u.test"})
	if _, err := a.Get(context.Background(), "/"); err == nil {
		t.Fatal("a 429 with a long Retry-After succeeded")
	}
	if _, err := b.Get(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{0, time.Minute}, times); diff != "" {
		t.Errorf("request times (-want +got):\n%s", diff)
	}
}
