package auth

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
)

func newTokenService(t testing.TB, now *time.Time) *Service {
	t.Helper()
	s, err := New(nil, bytes.Repeat([]byte{7}, 32), func() time.Time { return *now }, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConnectTokenRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newTokenService(t, &now)
	for _, tc := range []struct {
		client, user string
		utility      int64
	}{
		{"c1", "user-1", 0},
		{"0b6f5a1e-8a9e-4c1b-9d7e-3f2a1b0c9d8e", "ünïcode user with spaces & = ?", 1},
		{"c", "", 1000},
		{"c", strings.Repeat("x", 255), 42},
	} {
		tok, err := s.NewConnectToken(tc.client, tc.user, tc.utility)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(tok) {
			t.Fatalf("token %q is not URL-safe", tok)
		}
		if strings.Contains(tok, tc.user) && tc.user != "" {
			t.Fatal("token reveals the user id")
		}
		c, err := s.ParseConnectToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientID != tc.client || c.UserID != tc.user || c.UtilityID != tc.utility {
			t.Fatalf("claims = %+v, want %+v", c, tc)
		}
		if !c.ExpiresAt.Equal(now.Add(30 * time.Minute)) {
			t.Fatalf("expiry = %v", c.ExpiresAt)
		}
		if !bytes.Equal(c.TokenHash, Digest(tok)) {
			t.Fatal("token hash is not the digest of the token")
		}
	}
}

func TestConnectTokenRejects(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newTokenService(t, &now)
	tok, _ := s.NewConnectToken("c1", "u", 0)
	tok2, _ := s.NewConnectToken("c1", "u", 0)
	if tok == tok2 {
		t.Fatal("two tokens for the same claims are equal")
	}

	other := time.Unix(1_800_000_000, 0)
	foreign := newTokenService(t, &other)
	foreign.ct = mustAEAD(t, bytes.Repeat([]byte{8}, 32))

	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	for name, bad := range map[string]string{
		"empty":     "",
		"garbage":   "not-a-token",
		"flipped":   string(flipped),
		"truncated": tok[:len(tok)-4],
		"huge":      strings.Repeat("A", 5000),
	} {
		if _, err := s.ParseConnectToken(bad); !isCode(err, gridlink.TokenInvalid) {
			t.Errorf("%s: err = %v, want token_invalid", name, err)
		}
	}
	if _, err := foreign.ParseConnectToken(tok); !isCode(err, gridlink.TokenInvalid) {
		t.Errorf("token from another master key accepted: %v", err)
	}
	now = now.Add(30*time.Minute - time.Second)
	if _, err := s.ParseConnectToken(tok); err != nil {
		t.Fatalf("token rejected one second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.ParseConnectToken(tok); !isCode(err, gridlink.TokenInvalid) {
		t.Fatalf("expired token: err = %v", err)
	}
}

func TestSecretsAndIDs(t *testing.T) {
	now := time.Now()
	s := newTokenService(t, &now)
	seen := map[string]bool{}
	for range 100 {
		sec, err := s.NewSecret()
		if err != nil || len(sec) != 43 || seen[sec] {
			t.Fatalf("secret %q (%v): want 43 chars, unique", sec, err)
		}
		seen[sec] = true
		id, _ := s.NewID()
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
			t.Fatalf("id %q is not a v4 UUID", id)
		}
	}
	c, secret, err := s.NewClient("Acme", []string{"https://a.example/cb"}, nil)
	if err != nil || !bytes.Equal(c.SecretHash, Digest(secret)) || c.Name != "Acme" {
		t.Fatalf("NewClient = %+v, %v", c, err)
	}
}

func isCode(err error, code gridlink.ErrorCode) bool {
	var ge *gridlink.Error
	return errors.As(err, &ge) && ge.Code == code
}

func mustAEAD(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	a, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
