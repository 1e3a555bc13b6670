package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func key(t testing.TB, b byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{b}, KeySize)
}

func TestSealOpenBoundToRow(t *testing.T) {
	v, err := New(rand.Reader, key(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(`{"username":"u","password":"hunter2-very-secret"}`)
	sealed, err := v.Seal(secret, "row-a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed record contains the plaintext")
	}
	got, err := v.Open(sealed, "row-a")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	if _, err := v.Open(sealed, "row-b"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open on another row = %v, want ErrOpen", err)
	}
	// Every byte flip is detected.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := v.Open(bad, "row-a"); err == nil {
			t.Fatalf("tampered byte %d opened", i)
		}
	}
	for _, short := range [][]byte{nil, {}, {1}, sealed[:20]} {
		if _, err := v.Open(short, "row-a"); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%d bytes) = %v, want ErrOpen", len(short), err)
		}
	}
}

func TestSealUsesFreshDataKeys(t *testing.T) {
	v, _ := New(rand.Reader, key(t, 1))
	a, _ := v.Seal([]byte("same"), "row")
	b, _ := v.Seal([]byte("same"), "row")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestRotation(t *testing.T) {
	oldK, newK := key(t, 1), key(t, 2)
	old, _ := New(rand.Reader, oldK)
	sealed, _ := old.Seal([]byte("pw"), "row")

	// New key current, old still loaded: old records open, rewrap moves them.
	both, err := New(rand.Reader, newK, oldK)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := SealedKeyID(sealed); id != KeyID(oldK) {
		t.Fatalf("sealed key id = %s, want %s", id, KeyID(oldK))
	}
	if got, err := both.Open(sealed, "row"); err != nil || string(got) != "pw" {
		t.Fatalf("open old record with both keys: %q %v", got, err)
	}
	re, err := both.Rewrap(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := SealedKeyID(re); id != KeyID(newK) {
		t.Fatalf("rewrapped key id = %s, want %s", id, KeyID(newK))
	}
	// After the old key is removed, the rewrapped record still opens, the
	// original does not.
	onlyNew, _ := New(rand.Reader, newK)
	if got, err := onlyNew.Open(re, "row"); err != nil || string(got) != "pw" {
		t.Fatalf("open rewrapped with new key only: %q %v", got, err)
	}
	if _, err := onlyNew.Open(sealed, "row"); !errors.Is(err, ErrOpen) {
		t.Fatalf("open old record without old key = %v, want ErrOpen", err)
	}
	// Rewrap keeps the row binding.
	if _, err := onlyNew.Open(re, "other"); !errors.Is(err, ErrOpen) {
		t.Fatal("rewrapped record opened on another row")
	}
}

func TestParseKey(t *testing.T) {
	good := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	if k, err := ParseKey(good); err != nil || len(k) != 32 || k[31] != 31 {
		t.Fatalf("ParseKey(good) = %v, %v", k, err)
	}
	if _, err := ParseKey("  " + good + "\n"); err != nil {
		t.Fatalf("surrounding space: %v", err)
	}
	for _, bad := range []string{"", "not base64!!", "AAAA", good + good} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if _, err := New(rand.Reader, []byte("short")); err == nil {
		t.Fatal("New accepted a short key")
	}
}

func TestDeriveKeyDiffersByPurposeAndKey(t *testing.T) {
	a, _ := New(rand.Reader, key(t, 1))
	b, _ := New(rand.Reader, key(t, 2))
	if bytes.Equal(a.DeriveKey("x"), a.DeriveKey("y")) || bytes.Equal(a.DeriveKey("x"), b.DeriveKey("x")) {
		t.Fatal("derived keys collide")
	}
	if !bytes.Equal(a.DeriveKey("x"), a.DeriveKey("x")) || len(a.DeriveKey("x")) != 32 {
		t.Fatal("derived key not stable or not 32 bytes")
	}
}

func BenchmarkSeal(b *testing.B) {
	v, _ := New(rand.Reader, key(b, 1))
	pt := []byte(`{"username":"user@pelm.com","password":"password"}`)
	for b.Loop() {
		if _, err := v.Seal(pt, "0b6f5a1e-8a9e-4c1b-9d7e-3f2a1b0c9d8e"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	v, _ := New(rand.Reader, key(b, 1))
	s, _ := v.Seal([]byte(`{"username":"user@pelm.com","password":"password"}`), "row")
	for b.Loop() {
		if _, err := v.Open(s, "row"); err != nil {
			b.Fatal(err)
		}
	}
}
