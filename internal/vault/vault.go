// Package vault seals utility credentials with AES-256-GCM envelope
// encryption: each record gets its own random data key, the data key is
// wrapped by a versioned master key, and the record's row id is associated
// data, so a ciphertext copied to another row fails to open.
//
// Sealed format (all integers big-endian):
//
//	1 byte   version (1)
//	1 byte   length of the master key id, then the id
//	12 bytes nonce of the wrapped data key
//	48 bytes wrapped data key (32 bytes + GCM tag)
//	12 bytes nonce of the payload
//	rest     payload ciphertext + GCM tag
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

const version = 1

// KeySize is the size of a master key and of a data key.
const KeySize = 32

// ErrOpen is returned when a sealed record cannot be opened: wrong row,
// tampered bytes, or a master key that is not loaded.
var ErrOpen = errors.New("vault: cannot open sealed record")

// Vault holds the master keys.
type Vault struct {
	current string
	keys    map[string]cipher.AEAD
	raw     map[string][]byte
	rand    io.Reader
}

// KeyID returns the id of a master key: the first 8 hex digits of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// ParseKey decodes a base64 master key (standard or URL alphabet, padded or
// not) and checks that it is 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("master key is %d bytes, want %d (base64 of 32 random bytes; run `gridlink keys generate`)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("master key is not valid base64 (run `gridlink keys generate` for a new one)")
}

// New returns a vault that seals with current and opens with current and
// any of older (for rotation). rand is the source of keys and nonces
// (crypto/rand.Reader in production).
func New(rand io.Reader, current []byte, older ...[]byte) (*Vault, error) {
	v := &Vault{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}, rand: rand}
	for i, k := range append([][]byte{current}, older...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("vault: master key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		aead, err := newGCM(k)
		if err != nil {
			return nil, err
		}
		id := KeyID(k)
		v.keys[id] = aead
		v.raw[id] = k
		if i == 0 {
			v.current = id
		}
	}
	return v, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return cipher.NewGCM(block)
}

// CurrentKeyID is the id of the key new records are sealed with.
func (v *Vault) CurrentKeyID() string { return v.current }

// KeyIDs lists the loaded master key ids, sorted.
func (v *Vault) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func wrapAD(keyID string) []byte { return []byte("gridlink vault data key v1 " + keyID) }

// Seal encrypts plaintext for the row identified by rowID.
func (v *Vault) Seal(plaintext []byte, rowID string) ([]byte, error) {
	dek := make([]byte, KeySize)
	if _, err := io.ReadFull(v.rand, dek); err != nil {
		return nil, fmt.Errorf("vault: data key: %w", err)
	}
	return v.seal(dek, plaintext, rowID)
}

func (v *Vault) seal(dek, plaintext []byte, rowID string) ([]byte, error) {
	master := v.keys[v.current]
	out := make([]byte, 0, 2+len(v.current)+12+48+12+len(plaintext)+16)
	out = append(out, version, byte(len(v.current)))
	out = append(out, v.current...)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(v.rand, nonce); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	out = append(out, nonce...)
	out = master.Seal(out, nonce, dek, wrapAD(v.current))
	payload, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	nonce2 := make([]byte, 12)
	if _, err := io.ReadFull(v.rand, nonce2); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	out = append(out, nonce2...)
	return payload.Seal(out, nonce2, plaintext, []byte(rowID)), nil
}

type parsed struct {
	keyID      string
	wrapNonce  []byte
	wrapped    []byte
	nonce      []byte
	ciphertext []byte
}

func parse(sealed []byte) (parsed, error) {
	var p parsed
	if len(sealed) < 2 || sealed[0] != version {
		return p, ErrOpen
	}
	n := int(sealed[1])
	rest := sealed[2:]
	if len(rest) < n+12+48+12+16 {
		return p, ErrOpen
	}
	p.keyID, rest = string(rest[:n]), rest[n:]
	p.wrapNonce, rest = rest[:12], rest[12:]
	p.wrapped, rest = rest[:48], rest[48:]
	p.nonce, p.ciphertext = rest[:12], rest[12:]
	return p, nil
}

func (v *Vault) unwrap(p parsed) ([]byte, error) {
	master, ok := v.keys[p.keyID]
	if !ok {
		return nil, fmt.Errorf("%w: master key %s not loaded", ErrOpen, p.keyID)
	}
	dek, err := master.Open(nil, p.wrapNonce, p.wrapped, wrapAD(p.keyID))
	if err != nil {
		return nil, ErrOpen
	}
	return dek, nil
}

// Open decrypts a record sealed for rowID.
func (v *Vault) Open(sealed []byte, rowID string) ([]byte, error) {
	p, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	dek, err := v.unwrap(p)
	if err != nil {
		return nil, err
	}
	payload, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	pt, err := payload.Open(nil, p.nonce, p.ciphertext, []byte(rowID))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealedKeyID returns the id of the master key that wrapped a record.
func SealedKeyID(sealed []byte) (string, error) {
	p, err := parse(sealed)
	return p.keyID, err
}

// Rewrap re-wraps the record's data key under the current master key,
// leaving the payload untouched. Records already under the current key are
// returned unchanged.
func (v *Vault) Rewrap(sealed []byte) ([]byte, error) {
	p, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if p.keyID == v.current {
		return sealed, nil
	}
	dek, err := v.unwrap(p)
	if err != nil {
		return nil, err
	}
	master := v.keys[v.current]
	out := make([]byte, 0, len(sealed)+len(v.current))
	out = append(out, version, byte(len(v.current)))
	out = append(out, v.current...)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(v.rand, nonce); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	out = append(out, nonce...)
	out = master.Seal(out, nonce, dek, wrapAD(v.current))
	out = append(out, p.nonce...)
	return append(out, p.ciphertext...), nil
}

// DeriveKey returns a 32-byte key for a named purpose (e.g. "connect-token"),
// derived from the current master key with HMAC-SHA-256, so that no other
// secret needs configuring.
func (v *Vault) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, v.raw[v.current])
	m.Write([]byte("gridlink derived key v1: " + purpose))
	return m.Sum(nil)
}
