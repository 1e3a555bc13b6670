package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

const sessionColumns = `id, cookie_hash, token_hash, client_id, user_id, update_mode,
	token_utility_id, utility_id, embedded, redirect_uri, state, has_state, step,
	login_attempts, mfa_attempts, pending, mfa_prompt, outcome, created_at, expires_at, embed_origin`

// CreateConnectSession stores a new Connect session.
func (s *Store) CreateConnectSession(ctx context.Context, cs store.ConnectSession) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO connect_sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		cs.ID, blob(cs.CookieHash), blob(cs.TokenHash), cs.ClientID, cs.UserID, cs.UpdateMode,
		cs.TokenUtilityID, cs.UtilityID, cs.Embedded, cs.RedirectURI, cs.State, cs.HasState, cs.Step,
		cs.LoginAttempts, cs.MFAAttempts, blob(cs.Pending), cs.MFAPrompt, cs.Outcome,
		unix(cs.CreatedAt), unix(cs.ExpiresAt), cs.EmbedOrigin)
	return s.wrap("create connect session", err)
}

// ConnectSession returns one Connect session.
func (s *Store) ConnectSession(ctx context.Context, id string) (store.ConnectSession, error) {
	var (
		cs               store.ConnectSession
		created, expires int64
	)
	err := s.rd().QueryRowContext(ctx, s.q(`SELECT `+sessionColumns+` FROM connect_sessions WHERE id = ?`), id).Scan(
		&cs.ID, &cs.CookieHash, &cs.TokenHash, &cs.ClientID, &cs.UserID, &cs.UpdateMode,
		&cs.TokenUtilityID, &cs.UtilityID, &cs.Embedded, &cs.RedirectURI, &cs.State, &cs.HasState, &cs.Step,
		&cs.LoginAttempts, &cs.MFAAttempts, &cs.Pending, &cs.MFAPrompt, &cs.Outcome, &created, &expires, &cs.EmbedOrigin)
	if err != nil {
		return store.ConnectSession{}, s.wrap("get connect session", err)
	}
	cs.CreatedAt = fromUnix(created)
	cs.ExpiresAt = fromUnix(expires)
	return cs, nil
}

// UpdateConnectSession overwrites the mutable fields of session cs.ID.
func (s *Store) UpdateConnectSession(ctx context.Context, cs store.ConnectSession) error {
	return s.wrap("update connect session", mustAffect(s.w.ExecContext(ctx, s.q(`UPDATE connect_sessions SET
		utility_id = ?, step = ?, login_attempts = ?, mfa_attempts = ?, pending = ?,
		mfa_prompt = ?, outcome = ? WHERE id = ?`),
		cs.UtilityID, cs.Step, cs.LoginAttempts, cs.MFAAttempts, blob(cs.Pending),
		cs.MFAPrompt, cs.Outcome, cs.ID)))
}

// PurgeConnectSessions deletes the Connect sessions that expired before
// before, with their used-token rows (explicitly, not relying on the
// cascade), in one transaction. It returns how many sessions it deleted.
func (s *Store) PurgeConnectSessions(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cutoff := unix(before)
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM used_connect_tokens WHERE session_id IN
			(SELECT id FROM connect_sessions WHERE expires_at < ?)`), cutoff); err != nil {
			return fmt.Errorf("used tokens: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM connect_sessions WHERE expires_at < ?`), cutoff)
		if err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, s.wrap("purge connect sessions", err)
	}
	return n, nil
}

// CompleteConnect records the connect token as used, creates or updates the
// user, marks the session done and stores the authorization code, in one
// transaction. A new user's CredentialsValid is stored as true (its login
// was just verified) and an empty Sync.Status as gridlink.SyncPending.
func (s *Store) CompleteConnect(ctx context.Context, c store.CompleteConnect) (gridlink.User, error) {
	var out gridlink.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := unix(c.Now)
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO used_connect_tokens (token_hash, session_id, completed_at)
			VALUES (?, ?, ?)`), c.TokenHash, c.SessionID, now); err != nil {
			if s.d.isUniqueViolation(err) {
				return fmt.Errorf("connect token already used: %w", store.ErrConflict)
			}
			return err
		}

		var owner, userID string
		err := tx.QueryRowContext(ctx, s.q(`SELECT client_id, user_id FROM users WHERE row_id = ?`), c.User.RowID).Scan(&owner, &userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if err := s.insertUser(ctx, tx, c.User, c.Now); err != nil {
				if s.d.isUniqueViolation(err) {
					return fmt.Errorf("user %q exists under another row id: %w", c.User.ID, store.ErrConflict)
				}
				return err
			}
		case err != nil:
			return err
		case owner != c.User.ClientID || userID != c.User.ID:
			return fmt.Errorf("row id belongs to another user: %w", store.ErrConflict)
		default:
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET utility_id = ?, utility_username = ?,
				credential = ?, credentials_valid = ?, updated_at = ? WHERE row_id = ?`),
				c.User.UtilityID, c.User.UtilityUsername, blob(c.User.Credential), true, now, c.User.RowID); err != nil {
				return err
			}
		}

		if err := mustAffect(tx.ExecContext(ctx, s.q(`UPDATE connect_sessions SET step = ?, pending = ? WHERE id = ?`),
			store.StepDone, blob(c.Pending), c.SessionID)); err != nil {
			return fmt.Errorf("session: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO auth_codes (code_hash, client_id, user_row_id, session_id, expires_at)
			VALUES (?, ?, ?, ?, ?)`), c.CodeHash, c.User.ClientID, c.User.RowID, c.SessionID, unix(c.CodeExpiresAt)); err != nil {
			return err
		}
		out, err = s.userByRowID(ctx, tx, c.User.RowID)
		return err
	})
	if err != nil {
		return gridlink.User{}, s.wrap("complete connect", err)
	}
	return out, nil
}

// The statements of a redemption.
const (
	redeemCodeSQL = `UPDATE auth_codes SET redeemed_at = ?
		WHERE code_hash = ? AND client_id = ? AND redeemed_at IS NULL AND expires_at > ?
		RETURNING user_row_id`
	insertTokenSQL = `INSERT INTO access_tokens (token_hash, client_id, user_row_id, code_hash, created_at)
		VALUES (?, ?, ?, ?, ?)`
)

// RedeemCode exchanges an authorization code for an access token. The
// winning redemption is the one conditional UPDATE that finds the code
// unredeemed; every other outcome is classified afterwards in the same
// transaction. The write transaction holds only the UPDATE and the INSERT
// (prepared once on SQLite); the user is read after the commit, on the
// read pool, so that the single SQLite writer is not held for it. On
// SQLite concurrent redemptions share a transaction and its fsync (see
// redeemGrouped).
func (s *Store) RedeemCode(ctx context.Context, codeHash []byte, clientID string, tokenHash []byte, now time.Time) (gridlink.User, error) {
	var (
		userRowID string
		err       error
	)
	if s.d.name == "sqlite" {
		userRowID, err = s.redeemGrouped(ctx, codeHash, clientID, tokenHash, now)
	} else {
		userRowID, err = s.redeemAlone(ctx, codeHash, clientID, tokenHash, now)
	}
	if err != nil {
		return gridlink.User{}, s.wrap("redeem code", err)
	}
	// Committed: the token is live. The user row is not changed by the
	// redemption; it is read on the read pool (which sees the commit).
	u, err := s.userByRowID(ctx, s.rd(), userRowID)
	if err != nil {
		return gridlink.User{}, s.wrap("redeem code", err)
	}
	return u, nil
}

// redeemAlone redeems a code in a transaction of its own (PostgreSQL,
// where row locks let redemptions of different codes commit in parallel).
func (s *Store) redeemAlone(ctx context.Context, codeHash []byte, clientID string, tokenHash []byte, now time.Time) (string, error) {
	redeemQ, tokenQ := s.q(redeemCodeSQL), s.q(insertTokenSQL)
	redeemSt, tokenSt := s.writeStmt(ctx, redeemQ), s.writeStmt(ctx, tokenQ)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	userRowID, err := s.redeemSteps(ctx, tx, redeemSt, tokenSt, codeHash, clientID, tokenHash, now, true)
	if err != nil {
		return "", err
	}
	return userRowID, tx.Commit()
}

// redeemSteps is the body of a redemption inside tx: the conditional
// UPDATE, then either the token INSERT or the classification of the
// refusal. A replay revokes the tokens of the code, and commits tx when
// commitReplay is set (otherwise the caller commits).
func (s *Store) redeemSteps(ctx context.Context, tx *sql.Tx, redeemSt, tokenSt *sql.Stmt, codeHash []byte, clientID string, tokenHash []byte, now time.Time, commitReplay bool) (string, error) {
	var userRowID string
	err := txQueryRow(ctx, tx, redeemSt, s.q(redeemCodeSQL), unix(now), codeHash, clientID, unix(now)).Scan(&userRowID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", s.codeRefused(ctx, tx, codeHash, clientID, now, commitReplay)
	}
	if err != nil {
		return "", err
	}
	if _, err := txExec(ctx, tx, tokenSt, s.q(insertTokenSQL), tokenHash, clientID, userRowID, codeHash, unix(now)); err != nil {
		return "", err
	}
	return userRowID, nil
}

// codeRefused explains why a redemption lost, inside its transaction. A
// replay revokes the tokens issued from the code (and commits when commit
// is set).
func (s *Store) codeRefused(ctx context.Context, tx *sql.Tx, codeHash []byte, clientID string, now time.Time, commit bool) error {
	var (
		owner    string
		expires  int64
		redeemed sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, s.q(`SELECT client_id, expires_at, redeemed_at FROM auth_codes WHERE code_hash = ?`),
		codeHash).Scan(&owner, &expires, &redeemed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case owner != clientID:
		// Another client's code: reveal nothing, change nothing.
		return store.ErrNotFound
	case redeemed.Valid:
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE access_tokens SET revoked_at = ?
			WHERE code_hash = ? AND revoked_at IS NULL`), unix(now), codeHash); err != nil {
			return err
		}
		if commit {
			if err := tx.Commit(); err != nil {
				return err
			}
		}
		return store.ErrCodeReplayed
	case expires <= unix(now):
		return store.ErrCodeExpired
	}
	// The UPDATE found no row but this one looks redeemable: the code
	// changed between the two statements, which one writer (SQLite) or row
	// locking (PostgreSQL) rules out.
	return errors.New("authorization code changed during redemption")
}

// tokenUserColumns are userColumns without the sealed credential, which
// no caller of TokenUser needs (it reads as NULL, so User.Credential is
// nil): copying it on every API request is most of the scan.
var tokenUserColumns = strings.Replace(userColumns, ", u.credential, ", ", NULL, ", 1)

// TokenUser returns the client id and user of a live access token: one
// indexed join on the read pool. The user's Credential is not read.
func (s *Store) TokenUser(ctx context.Context, tokenHash []byte) (string, gridlink.User, error) {
	var clientID string
	u, err := scanUser(s.rd().QueryRowContext(uninterrupted(ctx), s.q(`SELECT t.client_id, `+tokenUserColumns+`
		FROM access_tokens t JOIN users u ON u.row_id = t.user_row_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL`), tokenHash), &clientID)
	if err != nil {
		return "", gridlink.User{}, s.wrap("token user", err)
	}
	return clientID, u, nil
}

// TokenGrant returns the grant of a live access token of clientID: the
// same join as TokenUser, reading four columns instead of seventeen (on
// SQLite the driver's work is per column, and this lookup is all the
// store work of a cached data answer).
func (s *Store) TokenGrant(ctx context.Context, tokenHash []byte, clientID string) (store.Grant, error) {
	var g store.Grant
	err := s.rd().QueryRowContext(uninterrupted(ctx), s.q(`SELECT u.row_id, u.utility_id, u.data_ready, u.data_version
		FROM access_tokens t JOIN users u ON u.row_id = t.user_row_id
		WHERE t.token_hash = ? AND t.client_id = ? AND t.revoked_at IS NULL`), tokenHash, clientID).
		Scan(&g.RowID, &g.UtilityID, &g.DataReady, &g.DataVersion)
	if err != nil {
		return store.Grant{}, s.wrap("token grant", err)
	}
	return g, nil
}

// uninterrupted is ctx without its cancellation, for a query that is one
// indexed lookup: such a query never needs interrupting, and watching for
// cancellation costs the SQLite driver a goroutine per query (a third of
// the lookup). Waiting for a read connection is then not cut short by ctx
// either; behind queries this short, that wait is brief.
func uninterrupted(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
