package syncer

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gridlink/gridlink/internal/vault"
)

// Credential is the plaintext of a user's sealed utility login
// (gridlink.User.Credential): the login typed into Connect and the opaque
// upstream session the connector last returned. Connect seals exactly this
// JSON shape, with the user's row id as associated data:
//
//	{"username": "...", "password": "...", "session": "<base64>"}
//
// A Credential never appears in logs or error messages: its String, GoString
// and LogValue methods redact the password and the session.
type Credential struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Session  []byte `json:"session,omitempty"`
	// Source is SourceUpload for a user whose data was uploaded as a
	// Green Button file in Connect: there is no remote login, and
	// scheduled syncs fetch nothing. Empty for a login.
	Source string `json:"source,omitempty"`
}

// SourceUpload is the Credential.Source of uploaded data.
const SourceUpload = "upload"

// Marshal returns the JSON form of c (the plaintext that gets sealed).
func (c Credential) Marshal() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		// Cannot happen for strings and bytes; never echo the value.
		return nil, errors.New("marshal credential: json encoding failed")
	}
	return b, nil
}

// UnmarshalCredential parses the JSON form of a credential. The error never
// quotes the input.
func UnmarshalCredential(b []byte) (Credential, error) {
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		// json errors can quote input bytes; keep only a generic message.
		return Credential{}, errors.New("unmarshal credential: malformed JSON")
	}
	return c, nil
}

// SealCredential marshals c and seals it for the user row rowID.
func SealCredential(v *vault.Vault, c Credential, rowID string) ([]byte, error) {
	plain, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	sealed, err := v.Seal(plain, rowID)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("seal credential: %w", err)
	}
	return sealed, nil
}

// OpenCredential opens a credential sealed for the user row rowID.
func OpenCredential(v *vault.Vault, sealed []byte, rowID string) (Credential, error) {
	plain, err := v.Open(sealed, rowID)
	if err != nil {
		return Credential{}, fmt.Errorf("open credential: %w", err)
	}
	c, err := UnmarshalCredential(plain)
	clear(plain)
	return c, err
}

// String describes c without its secrets.
func (c Credential) String() string {
	return fmt.Sprintf("Credential{Username: %q, Password: [redacted], Session: [%d bytes redacted]}", c.Username, len(c.Session))
}

// GoString is String, so that %#v does not print the secrets either.
func (c Credential) GoString() string { return c.String() }

// LogValue keeps the secrets out of slog output.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("username", c.Username),
		slog.String("password", "[redacted]"),
		slog.Int("session_bytes", len(c.Session)),
	)
}
