package sqlstore

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"time"

	"github.com/gridlink/gridlink"
)

// userColumns are the users columns in scanUser order; "u." qualified so the
// list works in joins.
const userColumns = `u.row_id, u.client_id, u.user_id, u.utility_id, u.utility_username,
	u.credentials_valid, u.credential, u.data_ready, u.sync_status,
	u.sync_last_success_at, u.sync_last_attempt_at, u.sync_next_attempt_at,
	u.sync_error_code, u.created_at, u.updated_at, u.data_version`

func scanUser(sc scanner, extra ...any) (gridlink.User, error) {
	var (
		u                      gridlink.User
		success, attempt, next sql.NullInt64
		created, updated       int64
	)
	dest := append(extra, &u.RowID, &u.ClientID, &u.ID, &u.UtilityID, &u.UtilityUsername,
		&u.CredentialsValid, &u.Credential, &u.DataReady, &u.Sync.Status,
		&success, &attempt, &next, &u.Sync.ErrorCode, &created, &updated, &u.DataVersion)
	if err := sc.Scan(dest...); err != nil {
		return gridlink.User{}, err
	}
	u.Sync.LastSuccessAt = fromNullUnix(success)
	u.Sync.LastAttemptAt = fromNullUnix(attempt)
	u.Sync.NextAttemptAt = fromNullUnix(next)
	u.CreatedAt = fromUnix(created)
	u.UpdatedAt = fromUnix(updated)
	return u, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) userByRowID(ctx context.Context, q querier, rowID string) (gridlink.User, error) {
	return scanUser(q.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users u WHERE u.row_id = ?`), rowID))
}

// User returns the user of a client by the developer's user id.
func (s *Store) User(ctx context.Context, clientID, userID string) (gridlink.User, error) {
	u, err := scanUser(s.rd().QueryRowContext(ctx,
		s.q(`SELECT `+userColumns+` FROM users u WHERE u.client_id = ? AND u.user_id = ?`), clientID, userID))
	return u, s.wrap("get user", err)
}

// UserByRowID returns a user by its internal row id.
func (s *Store) UserByRowID(ctx context.Context, rowID string) (gridlink.User, error) {
	u, err := s.userByRowID(ctx, s.rd(), rowID)
	return u, s.wrap("get user by row id", err)
}

// DeleteUser removes the user; the cascade removes its accounts, meters,
// intervals, bills, PDFs, codes and access tokens (which are thereby
// revoked at once).
func (s *Store) DeleteUser(ctx context.Context, rowID string) error {
	return s.wrap("delete user", mustAffect(s.w.ExecContext(ctx,
		s.q(`DELETE FROM users WHERE row_id = ?`), rowID)))
}

// SetCredentialsValid records whether the stored utility login still works.
func (s *Store) SetCredentialsValid(ctx context.Context, rowID string, valid bool) error {
	return s.wrap("set credentials valid", mustAffect(s.w.ExecContext(ctx,
		s.q(`UPDATE users SET credentials_valid = ? WHERE row_id = ?`), valid, rowID)))
}

// SetCredential replaces the sealed credential.
func (s *Store) SetCredential(ctx context.Context, rowID string, sealed []byte) error {
	return s.wrap("set credential", mustAffect(s.w.ExecContext(ctx,
		s.q(`UPDATE users SET credential = ? WHERE row_id = ?`), blob(sealed), rowID)))
}

// SetSyncState stores the user's sync state.
func (s *Store) SetSyncState(ctx context.Context, rowID string, st gridlink.SyncState) error {
	return s.wrap("set sync state", mustAffect(s.w.ExecContext(ctx, s.q(`UPDATE users SET
		sync_status = ?, sync_last_success_at = ?, sync_last_attempt_at = ?,
		sync_next_attempt_at = ?, sync_error_code = ?
		WHERE row_id = ?`),
		st.Status, nullUnix(st.LastSuccessAt), nullUnix(st.LastAttemptAt),
		nullUnix(st.NextAttemptAt), st.ErrorCode, rowID)))
}

// MarkDataReady records that the first sync stored the user's data.
func (s *Store) MarkDataReady(ctx context.Context, rowID string) error {
	return s.wrap("mark data ready", mustAffect(s.w.ExecContext(ctx,
		s.q(`UPDATE users SET data_ready = ? WHERE row_id = ?`), true, rowID)))
}

// bumpDataVersion gives the user a fresh random data version inside tx
// (see gridlink.User.DataVersion). A random value rather than a counter:
// a user deleted and connected again under the same row id cannot come
// back to a version a reader cached before.
func (s *Store) bumpDataVersion(ctx context.Context, tx *sql.Tx, userRowID string) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE users SET data_version = ? WHERE row_id = ?`), newDataVersion(), userRowID)
	return err
}

// newDataVersion returns a random non-zero int64 (0 is the version of a
// user whose data never changed).
func newDataVersion() int64 {
	for {
		if v := rand.Int64(); v != 0 {
			return v
		}
	}
}

// insertUser creates u inside tx.
func (s *Store) insertUser(ctx context.Context, tx *sql.Tx, u gridlink.User, now time.Time) error {
	created := u.CreatedAt
	if created.IsZero() {
		created = now
	}
	status := u.Sync.Status
	if status == "" {
		status = gridlink.SyncPending
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO users (row_id, client_id, user_id, utility_id,
		utility_username, credentials_valid, credential, data_ready, sync_status,
		sync_last_success_at, sync_last_attempt_at, sync_next_attempt_at, sync_error_code,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		u.RowID, u.ClientID, u.ID, u.UtilityID, u.UtilityUsername, true, blob(u.Credential),
		u.DataReady, status, nullUnix(u.Sync.LastSuccessAt), nullUnix(u.Sync.LastAttemptAt),
		nullUnix(u.Sync.NextAttemptAt), u.Sync.ErrorCode, unix(created), unix(now))
	return err
}
