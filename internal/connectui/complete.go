package connectui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/vault"
)

// pendingLogin is what the session keeps, sealed with the session id as
// associated data, between the credentials step and the code step.
type pendingLogin struct {
	Username string `json:"username"`
	Password string `json:"password"`
	State    []byte `json:"state,omitempty"`
	// Methods are the delivery choices offered with State, already
	// checked (cleanMethods): while set, the session waits for the choice
	// (POST mfa-method) and a posted method must be one of them.
	Methods []connector.MFAMethod `json:"methods,omitempty"`
	// OAuthState is the digest of the secret part of the OAuth state sent
	// to the utility (startOAuth); set only while the browser is away at
	// the utility, on the credentials step.
	OAuthState []byte `json:"oauth_state,omitempty"`
	// OAuthUtility is the utility the state was sent to.
	OAuthUtility int64 `json:"oauth_utility,omitempty"`
}

// LogValue keeps the secrets out of logs should a pendingLogin ever be
// logged by mistake.
func (p pendingLogin) LogValue() slog.Value { return slog.StringValue("[pending login redacted]") }

func sealPending(v *vault.Vault, p pendingLogin, sid string) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, errors.New("seal pending login: encoding failed")
	}
	sealed, err := v.Seal(plain, sid)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("seal pending login: %w", err)
	}
	return sealed, nil
}

func openPending(v *vault.Vault, sealed []byte, sid string) (pendingLogin, error) {
	plain, err := v.Open(sealed, sid)
	if err != nil {
		return pendingLogin{}, fmt.Errorf("open pending login: %w", err)
	}
	var p pendingLogin
	err = json.Unmarshal(plain, &p)
	clear(plain)
	if err != nil {
		return pendingLogin{}, errors.New("open pending login: malformed")
	}
	return p, nil
}

// errTokenUsed: the connect token already completed a connection.
var errTokenUsed = errors.New("connect token already used")

func slogLevelFor(kind connector.Kind) slog.Level {
	switch kind {
	case connector.KindBadCredentials, connector.KindMFAFailed:
		return slog.LevelInfo
	case connector.KindUnavailable, connector.KindRateLimited, connector.KindMFARequired:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// complete records a successful login: the user is created (create mode)
// or updated in place (update mode, same row and access tokens), the
// credential sealed to the user's row, and a one-time code issued and kept
// sealed in the session until the confirmation is left. Then the first sync
// is queued and the browser sent to the confirmation.
func (u *UI) complete(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, creds connector.Credentials, upstream []byte) error {
	return u.completeWith(ctx, w, r, f, syncer.Credential{Username: creds.Username, Password: creds.Password, Session: upstream}, nil)
}

// completeWith is complete for any sealed credential (cred.Username is
// shown as the utility username). With ingest, the user's data is stored
// by ingest (an uploaded file) instead of by a first sync.
func (u *UI) completeWith(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow, cred syncer.Credential, ingest func(ctx context.Context, rowID string) error) error {
	user, err := u.completeConnect(ctx, f, cred)
	if errors.Is(err, errTokenUsed) {
		u.log.InfoContext(ctx, "connect: token already completed a connection", "session", f.sess.ID, "client_id", f.client.ID)
		if err := u.end(ctx, f, outcomeTokenInvalid); err != nil {
			return err
		}
		return u.toPage(w, r, f, "")
	}
	if err != nil {
		return err
	}
	u.log.InfoContext(ctx, "connect: connected", "session", f.sess.ID, "client_id", f.client.ID,
		"user_row", user.RowID, "utility_id", user.UtilityID, "update_mode", f.sess.UpdateMode)
	if ingest != nil {
		if err := ingest(ctx, user.RowID); err != nil {
			// The connection stands, without data: the app sees
			// data_unavailable and the user can upload again.
			u.log.ErrorContext(ctx, "connect: store uploaded data", "user_row", user.RowID, "err", err)
		}
		return u.toPage(w, r, f, "")
	}
	if err := u.sync.EnqueueSync(ctx, user.RowID); err != nil {
		// The connection stands; the scheduled refresh will sync it.
		u.log.ErrorContext(ctx, "connect: enqueue first sync", "user_row", user.RowID, "err", err)
	}
	return u.toPage(w, r, f, "")
}

// completeConnect runs store.CompleteConnect, retrying once as an update
// when a concurrent flow created the same user first.
func (u *UI) completeConnect(ctx context.Context, f *flow, cred syncer.Credential) (gridlink.User, error) {
	existing, err := u.store.User(ctx, f.client.ID, f.sess.UserID)
	var rowID string
	switch {
	case err == nil:
		rowID = existing.RowID
	case errors.Is(err, store.ErrNotFound):
		if rowID, err = auth.NewUUID(u.rand); err != nil {
			return gridlink.User{}, fmt.Errorf("complete connect: %w", err)
		}
	default:
		return gridlink.User{}, fmt.Errorf("complete connect: look up user: %w", err)
	}
	for retried := false; ; retried = true {
		user, err := u.tryComplete(ctx, f, rowID, cred)
		if !errors.Is(err, store.ErrConflict) {
			return user, err
		}
		if retried {
			return gridlink.User{}, errTokenUsed
		}
		again, err := u.store.User(ctx, f.client.ID, f.sess.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return gridlink.User{}, errTokenUsed
		}
		if err != nil {
			return gridlink.User{}, fmt.Errorf("complete connect: look up user: %w", err)
		}
		if again.RowID == rowID {
			return gridlink.User{}, errTokenUsed
		}
		rowID = again.RowID // created concurrently: update it instead
	}
}

func (u *UI) tryComplete(ctx context.Context, f *flow, rowID string, cred syncer.Credential) (gridlink.User, error) {
	sealed, err := syncer.SealCredential(u.vault, cred, rowID)
	if err != nil {
		return gridlink.User{}, fmt.Errorf("complete connect: %w", err)
	}
	code, codeHash, err := u.auth.NewCode()
	if err != nil {
		return gridlink.User{}, fmt.Errorf("complete connect: %w", err)
	}
	pending, err := u.vault.Seal([]byte(code), f.sess.ID)
	if err != nil {
		return gridlink.User{}, fmt.Errorf("complete connect: seal code: %w", err)
	}
	now := u.now()
	user, err := u.store.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: f.sess.ID,
		TokenHash: f.sess.TokenHash,
		User: gridlink.User{
			RowID:            rowID,
			ClientID:         f.client.ID,
			ID:               f.sess.UserID,
			UtilityID:        f.sess.UtilityID,
			UtilityUsername:  cred.Username,
			CredentialsValid: true,
			Credential:       sealed,
		},
		CodeHash:      codeHash,
		CodeExpiresAt: now.Add(gridlink.CodeTTL),
		Pending:       pending,
		Now:           now,
	})
	if err != nil {
		return gridlink.User{}, fmt.Errorf("complete connect: %w", err)
	}
	f.sess.Step, f.sess.Pending, f.sess.MFAPrompt = store.StepDone, pending, ""
	return user, nil
}
