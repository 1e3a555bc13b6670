package vault

import (
	"crypto/rand"
	"testing"
)

// Micro-benchmarks beyond BenchmarkSeal and BenchmarkOpen (vault_test.go):
//
//	go test -run '^$' -bench . -benchmem ./internal/vault
//
// Seal and Open run once per Connect login, per MFA step, per code hand-off
// and per sync; DeriveKey runs once at start; Rewrap once per record at key
// rotation.

// credential is a typical sealed payload: a utility login with the
// connector's session state.
var credential = []byte(`{"username":"user@pelm.com","password":"password","session":"eyJmZXRjaGVzIjoxLCJtZmEiOnRydWV9"}`)

const benchRow = "0b6f5a1e-8a9e-4c1b-9d7e-3f2a1b0c9d8e"

// BenchmarkSealOpenParallel is a Connect login's vault work (seal the
// credential, open it again for the sync) from every CPU at once.
func BenchmarkSealOpenParallel(b *testing.B) {
	v, err := New(rand.Reader, key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(credential)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := v.Seal(credential, benchRow)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := v.Open(s, benchRow); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpenOldKey opens records sealed under a previous master key, as
// every sync does after a rotation until the records are rewrapped.
func BenchmarkOpenOldKey(b *testing.B) {
	old, err := New(rand.Reader, key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	s, err := old.Seal(credential, benchRow)
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(rand.Reader, key(b, 2), key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Open(s, benchRow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrap(b *testing.B) {
	old, err := New(rand.Reader, key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	s, err := old.Seal(credential, benchRow)
	if err != nil {
		b.Fatal(err)
	}
	v, err := New(rand.Reader, key(b, 2), key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Rewrap(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeriveKey(b *testing.B) {
	v, err := New(rand.Reader, key(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.DeriveKey("connect-token")
	}
}
