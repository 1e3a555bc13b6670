package portal

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJar(t *testing.T) {
	c := newClock()
	j := newJar(c.Now)
	set := func(raw string, cs ...*http.Cookie) { j.SetCookies(mustURL(t, raw), cs) }
	names := func(raw string) []string {
		var out []string
		for _, ck := range j.Cookies(mustURL(t, raw)) {
			out = append(out, ck.Name+"="+ck.Value)
		}
		return out
	}

	set("https://www.portal.example/account/login",
		&http.Cookie{Name: "host", Value: "1"},                                              // host-only, path /account
		&http.Cookie{Name: "dom", Value: "2", Domain: ".portal.example", Path: "/"},         // domain cookie
		&http.Cookie{Name: "sec", Value: "3", Path: "/", Secure: true},                      // https only
		&http.Cookie{Name: "deep", Value: "4", Path: "/account/usage"},                      // longer path
		&http.Cookie{Name: "short", Value: "5", Path: "/", MaxAge: 60},                      // expires in a minute
		&http.Cookie{Name: "evil", Value: "6", Domain: "other.example", Path: "/"},          // another site: refused
		&http.Cookie{Name: "gone", Value: "7", Path: "/", Expires: c.Now().Add(-time.Hour)}, // already expired
	)
	tests := []struct {
		url  string
		want []string
	}{
		{"https://www.portal.example/account/usage/2026", []string{"deep=4", "host=1", "dom=2", "sec=3", "short=5"}},
		{"http://www.portal.example/account", []string{"host=1", "dom=2", "short=5"}},
		{"https://www.portal.example/accounts", []string{"dom=2", "sec=3", "short=5"}},
		{"https://billing.portal.example/", []string{"dom=2"}},
		{"https://portal.example.evil/", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, names(tc.url)); diff != "" {
			t.Errorf("cookies for %s (-want +got):\n%s", tc.url, diff)
		}
	}

	// Replacing keeps the order; Max-Age<0 deletes; time expires.
	set("https://www.portal.example/", &http.Cookie{Name: "dom", Value: "2b", Domain: "portal.example", Path: "/"},
		&http.Cookie{Name: "sec", Path: "/", MaxAge: -1})
	c.Advance(2 * time.Minute)
	if diff := cmp.Diff([]string{"dom=2b"}, names("https://www.portal.example/")); diff != "" {
		t.Errorf("after updates (-want +got):\n%s", diff)
	}

	// Save and load round-trip.
	j2 := newJar(c.Now)
	j2.load(j.snapshot())
	if diff := cmp.Diff(names("https://www.portal.example/account/x"), func() []string {
		var out []string
		for _, ck := range j2.Cookies(mustURL(t, "https://www.portal.example/account/x")) {
			out = append(out, ck.Name+"="+ck.Value)
		}
		return out
	}()); diff != "" {
		t.Errorf("loaded jar differs (-orig +loaded):\n%s", diff)
	}
}
