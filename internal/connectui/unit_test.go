package connectui

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(3, time.Hour, 100)
	for i := 0; i < 3; i++ {
		if !l.reserve("k", t0) {
			t.Fatalf("reserve %d refused", i)
		}
	}
	if l.reserve("k", t0) {
		t.Fatal("fourth failure within the window allowed")
	}
	if !l.reserve("other", t0) {
		t.Fatal("another key is limited too")
	}
	// A login that did not fail gives its slot back.
	l.release("other", t0)
	if l.size() != 1 {
		t.Errorf("released key still tracked: %d keys", l.size())
	}
	// One slot comes back every window/max.
	if l.reserve("k", t0.Add(19*time.Minute)) {
		t.Error("allowed before a slot drained")
	}
	if !l.reserve("k", t0.Add(21*time.Minute)) {
		t.Error("refused after a slot drained")
	}
	// fail() counts without a reservation, capped at the limit.
	l.fail("m", t0)
	l.fail("m", t0)
	l.fail("m", t0)
	l.fail("m", t0)
	if l.reserve("m", t0) {
		t.Error("failures recorded by fail() not counted")
	}
	if !l.reserve("m", t0.Add(21*time.Minute)) {
		t.Error("fail() overfilled the bucket")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(5, time.Hour, 50)
	l.reserve("oldest", t0)
	for i := 0; i < 1000; i++ {
		l.reserve(fmt.Sprint("ip-", i), t0.Add(time.Duration(i+1)*time.Millisecond))
		if n := l.size(); n > 50 {
			t.Fatalf("%d keys tracked, bound is 50", n)
		}
	}
	// The least recently touched went first; the newest survive.
	l.mu.Lock()
	_, oldest := l.m["oldest"]
	_, newest := l.m["ip-999"]
	l.mu.Unlock()
	if oldest || !newest {
		t.Errorf("eviction kept oldest=%v newest=%v", oldest, newest)
	}
	// Drained buckets are dropped before live ones.
	later := t0.Add(2 * time.Hour)
	l.reserve("fresh", later)
	if l.size() != 1 {
		t.Errorf("drained buckets kept: %d keys", l.size())
	}
}

func TestValidRedirectURI(t *testing.T) {
	registered := []string{
		"https://app.example/cb",
		"https://app.example/cb?x=1",
		"http://localhost:3000/callback",
		"com.example.app:/oauth",
		"javascript:alert(1)",
		"JavaScript://app.example/%0aalert(1)",
		"data:text/html,hi",
		"https://u:p@app.example/cb",
		"https://app.example/cb#f",
		"https://app.example/cb#",
		"https:///nohost",
		"mailto:someone@example.com",
	}
	tests := map[string]bool{
		"https://app.example/cb":                true,
		"https://app.example/cb?x=1":            true,
		"http://localhost:3000/callback":        true,
		"com.example.app:/oauth":                true,
		"https://app.example/cb/":               false,
		"https://app.example/c":                 false,
		"https://APP.example/cb":                false,
		"https://app.example/cb?x=1&y=2":        false,
		"https://app.example/cb?x=2":            false,
		"javascript:alert(1)":                   false,
		"JavaScript://app.example/%0aalert(1)":  false,
		"data:text/html,hi":                     false,
		"https://u:p@app.example/cb":            false,
		"https://app.example/cb#f":              false,
		"https://app.example/cb#":               false,
		"https:///nohost":                       false,
		"mailto:someone@example.com":            false,
		"":                                      false,
		"http://localhost:3001/callback":        false,
		"https://app.example/cb\t":              false,
		"https://app.example/cb?x=1#":           false,
		"https://app.example/cb?x=1 ":           false,
		"https://app.example/cb%2F..%2Fevil":    false,
		"https://app.example\\@evil.example/cb": false,
	}
	for uri, want := range tests {
		if got := validRedirectURI(uri, registered); got != want {
			t.Errorf("validRedirectURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

func TestReturnURL(t *testing.T) {
	tests := []struct {
		base   string
		params url.Values
		want   string
	}{
		{"https://app.example/cb", url.Values{"code": {"c1"}, "state": {"a b&c=d/é"}}, "https://app.example/cb?code=c1&state=a+b%26c%3Dd%2F%C3%A9"},
		{"https://app.example/cb?x=1", url.Values{"error": {"user_initiated_exit"}}, "https://app.example/cb?x=1&error=user_initiated_exit"},
		{"https://app.example/cb?", url.Values{"code": {"c"}}, "https://app.example/cb?code=c"},
		{"https://app.example/cb?x=1&", url.Values{"code": {"c"}}, "https://app.example/cb?x=1&code=c"},
		{"com.example.app:/oauth", url.Values{"code": {"c"}, "state": {""}}, "com.example.app:/oauth?code=c&state="},
	}
	for _, tc := range tests {
		got := returnURL(tc.base, tc.params)
		if got != tc.want {
			t.Errorf("returnURL(%q, %v) = %q, want %q", tc.base, tc.params, got, tc.want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.params {
			if diff := cmp.Diff(v, u.Query()[k]); diff != "" {
				t.Errorf("%s round trip (-sent +parsed):\n%s", k, diff)
			}
		}
	}
}

func TestParseQueryKeepsSemicolons(t *testing.T) {
	got, err := parseQuery("state=a;b&&x=%3B&state=c+d&flag")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"state": {"a;b", "c d"}, "x": {";"}, "flag": {""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseQuery("state=%zz"); err == nil {
		t.Error("malformed escape accepted")
	}
}
