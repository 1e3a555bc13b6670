package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
)

// Micro-benchmarks of the per-request costs of the API's authentication:
//
//	go test -run '^$' -bench . -benchmem ./internal/auth
//
// The token benchmarks are pure CPU (AES-GCM, SHA-256, crypto/rand); the
// client and bearer checks run on a real SQLite store (one indexed read
// each) and are the floor under every data call.

func BenchmarkNewConnectToken(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	s := newTokenService(b, &now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.NewConnectToken("0b6f5a1e-8a9e-4c1b-9d7e-3f2a1b0c9d8e", "user-12345", 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseConnectToken(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	s := newTokenService(b, &now)
	tok, err := s.NewConnectToken("0b6f5a1e-8a9e-4c1b-9d7e-3f2a1b0c9d8e", "user-12345", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ParseConnectToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	secret := "pM2x7VfQ9ZkC3nW8yT1rB6hL4dS0aJ5eU2iO7gK9qXc" // 43 chars, as NewSecret makes
	b.SetBytes(int64(len(secret)))
	b.ReportAllocs()
	for b.Loop() {
		Digest(secret)
	}
}

func BenchmarkNewSecret(b *testing.B) {
	now := time.Now()
	s := newTokenService(b, &now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.NewSecret(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewUUID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewUUID(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStore returns a Service on a real SQLite store holding one client
// and one user with a live access token.
func benchStore(b *testing.B) (s *Service, clientID, secret, token string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(b.TempDir(), "auth.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s, err = New(st, bytes.Repeat([]byte{7}, 32), time.Now, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	c, secret, err := s.NewClient("Bench", []string{"https://app.example/cb"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateConnectSession(ctx, store.ConnectSession{ID: "s1", CookieHash: make([]byte, 32), TokenHash: Digest("t1"),
		ClientID: c.ID, UserID: "u1", Step: store.StepCredentials, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	code, codeHash, err := s.NewCode()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CompleteConnect(ctx, store.CompleteConnect{SessionID: "s1", TokenHash: Digest("t1"),
		User: gridlink.User{RowID: "00000000-0000-4000-8000-000000000001", ClientID: c.ID, ID: "u1", UtilityID: 1,
			UtilityUsername: "user@pelm.com", CredentialsValid: true, Credential: []byte{1}},
		CodeHash: codeHash, CodeExpiresAt: now.Add(gridlink.CodeTTL), Now: now}); err != nil {
		b.Fatal(err)
	}
	token, _, err = s.Exchange(ctx, c.ID, code)
	if err != nil {
		b.Fatal(err)
	}
	return s, c.ID, secret, token
}

// BenchmarkAuthenticateClient is the Pelm-Client-Id/Pelm-Secret check of
// every API call: one client read and one SHA-256.
func BenchmarkAuthenticateClient(b *testing.B) {
	s, id, secret, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AuthenticateClient(ctx, id, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAuthorize is the bearer-token check of every data call: one
// token-and-user read and one SHA-256.
func BenchmarkAuthorize(b *testing.B) {
	s, id, _, token := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authorize(ctx, id, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAuthorizeData is the bearer-token check of the data endpoints:
// the same read as BenchmarkAuthorize, narrowed to a store.Grant.
func BenchmarkAuthorizeData(b *testing.B) {
	s, id, _, token := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AuthorizeData(ctx, id, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
