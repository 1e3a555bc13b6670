package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
)

// withUploadRoute registers a stand-in for Connect's file upload that
// answers with the number of body bytes it could read.
func withUploadRoute(_ *api.Config, mux *http.ServeMux) {
	count := func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, n)
	}
	mux.HandleFunc("POST /connect/{sid}/upload", count)
	mux.HandleFunc("POST /connect/{sid}/credentials", count)
	mux.HandleFunc("POST /connect/{sid}/x/upload", count)
}

// Only POST /connect/{sid}/upload takes bodies larger than MaxBodyBytes,
// up to MaxUploadBytes.
func TestUploadRouteBodyLimit(t *testing.T) {
	e := newEnv(t, withUploadRoute)
	twoMiB := strings.Repeat("a", 2<<20)
	cases := []struct {
		name, path, body string
		chunked          bool
		want             int
	}{
		{"upload 2 MiB", "/connect/abc/upload", twoMiB, false, http.StatusOK},
		{"upload 2 MiB chunked", "/connect/abc/upload", twoMiB, true, http.StatusOK},
		{"upload over the limit", "/connect/abc/upload", strings.Repeat("a", api.MaxUploadBytes+1), false, http.StatusRequestEntityTooLarge},
		{"upload over the limit chunked", "/connect/abc/upload", strings.Repeat("a", api.MaxUploadBytes+1), true, http.StatusRequestEntityTooLarge},
		{"other connect route", "/connect/abc/credentials", twoMiB, true, http.StatusRequestEntityTooLarge},
		{"deeper path", "/connect/abc/x/upload", twoMiB, false, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: "POST", path: tc.path, header: map[string]string{"Content-Type": "application/octet-stream"}, body: tc.body}
			if tc.chunked {
				req.bodyReader = strings.NewReader(tc.body)
			}
			r := e.do(t, req)
			if tc.want == http.StatusOK {
				if r.status != http.StatusOK || string(r.body) != fmt.Sprint(len(tc.body)) {
					t.Errorf("got %d %q, want 200 with %d bytes read", r.status, r.body, len(tc.body))
				}
				return
			}
			wantError(t, r, http.StatusRequestEntityTooLarge, gridlink.RequestTooLarge)
		})
	}
}
