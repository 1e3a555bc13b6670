// Package auth implements client authentication, connect tokens,
// authorization codes and access tokens.
//
// Every secret is at least 128 bits from the injected random source
// (crypto/rand in production) and is stored only as its SHA-256 digest,
// compared in constant time. Connect tokens are not stored at all: they are
// sealed (AES-256-GCM under a key derived from the master key) claims that
// carry the client, the developer's user id, the optional utility and the
// expiry; Connect keeps only their digest, to allow one completed connection
// per token.
package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// Digest returns the SHA-256 digest under which a secret is stored.
func Digest(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Service issues and checks credentials.
type Service struct {
	store store.Store
	now   func() time.Time
	rand  io.Reader
	ct    cipher.AEAD
	// clients caches authenticated clients for ClientCacheTTL.
	clients *clientCache
}

// New returns a Service. tokenKey (32 bytes) seals connect tokens; derive it
// from the master key (vault.DeriveKey("connect-token")).
func New(st store.Store, tokenKey []byte, now func() time.Time, rand io.Reader) (*Service, error) {
	aead, err := newAEAD(tokenKey)
	if err != nil {
		return nil, fmt.Errorf("auth: connect-token key: %w", err)
	}
	return &Service{store: st, now: now, rand: rand, ct: aead, clients: newClientCache()}, nil
}

// Now returns the service clock's time.
func (s *Service) Now() time.Time { return s.now() }

// NewSecret returns a fresh 256-bit secret, base64url without padding.
func (s *Service) NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewID returns a random UUID (version 4) string.
func (s *Service) NewID() (string, error) { return NewUUID(s.rand) }

// NewUUID returns a random version-4 UUID string read from r.
func NewUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return gridlink.FormatUUID(b[:], 4), nil
}

// NewClient returns a client with a fresh id and secret; the secret is
// returned once and only its digest is kept in the client.
func (s *Service) NewClient(name string, redirectURIs, origins []string) (gridlink.Client, string, error) {
	id, err := s.NewID()
	if err != nil {
		return gridlink.Client{}, "", err
	}
	secret, err := s.NewSecret()
	if err != nil {
		return gridlink.Client{}, "", err
	}
	return gridlink.Client{
		ID: id, SecretHash: Digest(secret), Name: name,
		RedirectURIs: redirectURIs, Origins: origins, CreatedAt: s.now().UTC(),
	}, secret, nil
}

var errBadClient = &gridlink.Error{Code: gridlink.CredentialsInvalid, Message: "Invalid Pelm-Client-Id or Pelm-Secret."}

// AuthenticateClient checks a client id and secret (from the Pelm-Client-Id
// and Pelm-Secret headers). Failures are *gridlink.Error credentials_invalid.
//
// A client that authenticated is remembered for ClientCacheTTL: within
// that window its secret is checked (in constant time) against the digest
// read then, without a store read. A secret rotated or a client deleted by
// another process is therefore still accepted for at most ClientCacheTTL
// by a server that had just authenticated it; the new secret works at
// once. The returned client's slices are shared: callers must not modify
// them.
func (s *Service) AuthenticateClient(ctx context.Context, id, secret string) (gridlink.Client, error) {
	if id == "" || secret == "" {
		return gridlink.Client{}, &gridlink.Error{Code: gridlink.CredentialsInvalid, Message: "Missing Pelm-Client-Id or Pelm-Secret header."}
	}
	if len(id) > 128 || len(secret) > 256 {
		return gridlink.Client{}, errBadClient
	}
	digest := Digest(secret)
	now := s.now()
	if c, ok := s.clients.get(id, now); ok {
		if subtle.ConstantTimeCompare(digest, c.SecretHash) == 1 {
			return c, nil
		}
		// Perhaps rotated since: forget it and ask the store.
		s.clients.drop(id)
	}
	c, err := s.store.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Compare anyway so that unknown ids take the same time.
		subtle.ConstantTimeCompare(digest, make([]byte, sha256.Size))
		return gridlink.Client{}, errBadClient
	}
	if err != nil {
		return gridlink.Client{}, fmt.Errorf("authenticate client: %w", err)
	}
	if subtle.ConstantTimeCompare(digest, c.SecretHash) != 1 {
		return gridlink.Client{}, errBadClient
	}
	s.clients.put(c, now)
	return c, nil
}

// ConnectClaims is what a connect token says.
type ConnectClaims struct {
	ClientID  string
	UserID    string
	UtilityID int64 // 0: none named
	ExpiresAt time.Time
	// TokenHash is the digest of the token, the key under which Connect
	// records its use.
	TokenHash []byte
}

const claimsVersion = 1

// NewConnectToken seals new claims valid for gridlink.ConnectTokenTTL.
func (s *Service) NewConnectToken(clientID, userID string, utilityID int64) (string, error) {
	if len(clientID) > 255 {
		return "", errors.New("connect token: client id too long")
	}
	nonce := make([]byte, s.ct.NonceSize(), s.ct.NonceSize()+64+len(userID))
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return "", fmt.Errorf("connect token: %w", err)
	}
	plain := make([]byte, 0, 1+8+8+16+1+len(clientID)+len(userID))
	plain = append(plain, claimsVersion)
	plain = binary.BigEndian.AppendUint64(plain, uint64(s.now().Add(gridlink.ConnectTokenTTL).Unix()))
	plain = binary.BigEndian.AppendUint64(plain, uint64(utilityID))
	random := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, random); err != nil {
		return "", fmt.Errorf("connect token: %w", err)
	}
	plain = append(plain, random...)
	plain = append(plain, byte(len(clientID)))
	plain = append(plain, clientID...)
	plain = append(plain, userID...)
	sealed := s.ct.Seal(nonce, nonce, plain, []byte("gridlink connect token v1"))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// ErrConnectTokenInvalid is the error for a bad, foreign or expired connect token.
var ErrConnectTokenInvalid = &gridlink.Error{Code: gridlink.TokenInvalid, Message: "The connect token is invalid or has expired."}

// ParseConnectToken opens and checks a connect token.
func (s *Service) ParseConnectToken(token string) (ConnectClaims, error) {
	if token == "" || len(token) > 2048 {
		return ConnectClaims{}, ErrConnectTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < s.ct.NonceSize()+s.ct.Overhead() {
		return ConnectClaims{}, ErrConnectTokenInvalid
	}
	ns := s.ct.NonceSize()
	plain, err := s.ct.Open(nil, raw[:ns], raw[ns:], []byte("gridlink connect token v1"))
	if err != nil || len(plain) < 1+8+8+16+1 || plain[0] != claimsVersion {
		return ConnectClaims{}, ErrConnectTokenInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(plain[1:9])), 0)
	util := int64(binary.BigEndian.Uint64(plain[9:17]))
	rest := plain[33:]
	n := int(rest[0])
	rest = rest[1:]
	if len(rest) < n {
		return ConnectClaims{}, ErrConnectTokenInvalid
	}
	c := ConnectClaims{ClientID: string(rest[:n]), UserID: string(rest[n:]), UtilityID: util, ExpiresAt: exp, TokenHash: Digest(token)}
	if !s.now().Before(exp) {
		return ConnectClaims{}, ErrConnectTokenInvalid
	}
	return c, nil
}

// NewCode returns a fresh authorization code and its digest.
func (s *Service) NewCode() (code string, hash []byte, err error) {
	code, err = s.NewSecret()
	if err != nil {
		return "", nil, err
	}
	return code, Digest(code), nil
}

var errBadCode = &gridlink.Error{Code: gridlink.ParameterInvalid, Message: "The authorization code is invalid, expired or already used."}

// Exchange redeems an authorization code for a never-expiring access token.
// Every failure is a 400 parameter_invalid *gridlink.Error; a replayed code
// also revokes the token issued from it (see store.RedeemCode).
func (s *Service) Exchange(ctx context.Context, clientID, code string) (string, gridlink.User, error) {
	if code == "" || len(code) > 512 {
		return "", gridlink.User{}, errBadCode
	}
	token, err := s.NewSecret()
	if err != nil {
		return "", gridlink.User{}, err
	}
	u, err := s.store.RedeemCode(ctx, Digest(code), clientID, Digest(token), s.now())
	switch {
	case err == nil:
		return token, u, nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCodeExpired), errors.Is(err, store.ErrCodeReplayed):
		return "", gridlink.User{}, errBadCode
	default:
		return "", gridlink.User{}, fmt.Errorf("exchange code: %w", err)
	}
}

var errBadToken = &gridlink.Error{Code: gridlink.TokenInvalid, Message: "The access token is invalid or has been revoked."}

// plausibleToken reports whether token could be an access token at all;
// others are refused without a store read.
func plausibleToken(token string) bool { return token != "" && len(token) <= 512 }

// Authorize checks a bearer access token for a client and returns its user.
// Unknown, revoked or foreign tokens are 401 token_invalid.
func (s *Service) Authorize(ctx context.Context, clientID, token string) (gridlink.User, error) {
	if !plausibleToken(token) {
		return gridlink.User{}, errBadToken
	}
	owner, u, err := s.store.TokenUser(ctx, Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return gridlink.User{}, errBadToken
	}
	if err != nil {
		return gridlink.User{}, fmt.Errorf("authorize: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(owner), []byte(clientID)) != 1 {
		return gridlink.User{}, errBadToken
	}
	return u, nil
}

// AuthorizeData is Authorize for the data endpoints: it returns only what
// serving data needs of the user (store.Grant), which costs the store less
// than the whole user. The same tokens pass and fail as with Authorize.
func (s *Service) AuthorizeData(ctx context.Context, clientID, token string) (store.Grant, error) {
	if !plausibleToken(token) {
		return store.Grant{}, errBadToken
	}
	g, err := s.store.TokenGrant(ctx, Digest(token), clientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, errBadToken
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("authorize: %w", err)
	}
	return g, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
