package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
)

// TestClientCacheRotation checks what a running server does when another
// process (gridlink clients rotate-secret / delete) changes a client it
// has just authenticated: the new secret works at once, the old one stops
// working within ClientCacheTTL, and a deleted client within the same
// window.
func TestClientCacheRotation(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "auth.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Unix(1_800_000_000, 0)
	s, err := New(st, bytes.Repeat([]byte{7}, 32), func() time.Time { return now }, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, oldSecret, err := s.NewClient("A", []string{"https://a.example/cb"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	accepted := func(secret string) bool {
		t.Helper()
		_, err := s.AuthenticateClient(ctx, c.ID, secret)
		var ge *gridlink.Error
		switch {
		case err == nil:
			return true
		case errors.As(err, &ge) && ge.Code == gridlink.CredentialsInvalid:
			return false
		}
		t.Fatalf("authenticate: %v", err)
		return false
	}
	if !accepted(oldSecret) {
		t.Fatal("fresh client refused")
	}
	if accepted("wrong") {
		t.Fatal("wrong secret accepted from the cache")
	}
	if !accepted(oldSecret) { // cached again
		t.Fatal("client refused after a wrong secret")
	}

	// Rotation by another process (straight to the store).
	newSecret, err := s.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetClientSecret(ctx, c.ID, Digest(newSecret)); err != nil {
		t.Fatal(err)
	}
	if !accepted(oldSecret) {
		t.Fatal("old secret refused inside the cache window (the test's premise changed)")
	}
	if !accepted(newSecret) {
		t.Fatal("new secret refused right after rotation")
	}
	// The miss on the new secret refreshed the entry: the old one is out.
	if accepted(oldSecret) {
		t.Fatal("old secret accepted after the new one was seen")
	}

	// Deletion by another process: refused once the window has passed.
	if err := st.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(ClientCacheTTL)
	if accepted(newSecret) {
		t.Fatal("deleted client accepted after the cache window")
	}
}

func TestClientCacheBounded(t *testing.T) {
	cc := newClientCache()
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 * clientCacheMax {
		cc.put(gridlink.Client{ID: string(rune('a'+i%26)) + time.Duration(i).String()}, now)
		if len(cc.m) > clientCacheMax {
			t.Fatalf("cache holds %d clients, more than %d", len(cc.m), clientCacheMax)
		}
	}
	cc.put(gridlink.Client{ID: "x"}, now)
	if _, ok := cc.get("x", now.Add(ClientCacheTTL)); ok {
		t.Fatal("entry served after its expiry")
	}
	if _, ok := cc.get("x", now.Add(ClientCacheTTL-time.Nanosecond)); !ok {
		t.Fatal("entry not served before its expiry")
	}
}
