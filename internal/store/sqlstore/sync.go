package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// This file holds the sync engine's bookkeeping: which users are due, the
// per-utility sync slots, and how fresh each account's data is. The SQL is
// shared by both dialects; the one difference (serialising slot claims on
// PostgreSQL) is in lockUtilitySlots.

// DataThrough returns, per account of the user, the end of its newest
// reading: for each meter the reading with the largest start (an index
// seek on the intervals primary key), then the largest of those ends per
// account.
func (s *Store) DataThrough(ctx context.Context, userRowID string) (map[string]int64, error) {
	rows, err := s.rd().QueryContext(ctx, s.q(`SELECT t.account_id, MAX(t.period_end) FROM (
			SELECT a.id AS account_id,
				(SELECT i.period_end FROM intervals i WHERE i.meter_pk = m.pk
					ORDER BY i.period_start DESC LIMIT 1) AS period_end
			FROM accounts a JOIN meters m ON m.account_pk = a.pk
			WHERE a.user_row_id = ?
		) t
		WHERE t.period_end IS NOT NULL
		GROUP BY t.account_id`), userRowID)
	if err != nil {
		return nil, s.wrap("data through", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			id  string
			end int64
		)
		if err := rows.Scan(&id, &end); err != nil {
			return nil, s.wrap("data through", err)
		}
		out[id] = end
	}
	return out, s.wrap("data through", rows.Err())
}

// IntervalSpans returns per meter of the user the starts of its oldest
// and newest readings: two index seeks on the intervals primary key per
// meter.
func (s *Store) IntervalSpans(ctx context.Context, userRowID string) (map[string]store.Span, error) {
	rows, err := s.rd().QueryContext(ctx, s.q(`SELECT m.id,
			(SELECT MIN(i.period_start) FROM intervals i WHERE i.meter_pk = m.pk),
			(SELECT MAX(i.period_start) FROM intervals i WHERE i.meter_pk = m.pk)
		FROM meters m WHERE m.user_row_id = ?`), userRowID)
	if err != nil {
		return nil, s.wrap("interval spans", err)
	}
	defer rows.Close()
	out := map[string]store.Span{}
	for rows.Next() {
		var (
			id          string
			first, last sql.NullInt64
		)
		if err := rows.Scan(&id, &first, &last); err != nil {
			return nil, s.wrap("interval spans", err)
		}
		if first.Valid && last.Valid {
			out[id] = store.Span{First: first.Int64, Last: last.Int64}
		}
	}
	return out, s.wrap("interval spans", rows.Err())
}

// DueForSync lists the users whose sync is due, by row id after afterRowID.
func (s *Store) DueForSync(ctx context.Context, now, staleBefore time.Time, afterRowID string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.rd().QueryContext(ctx, s.q(`SELECT row_id FROM users
		WHERE credentials_valid = ? AND row_id > ?
		AND (
			(sync_status <> ? AND (sync_next_attempt_at IS NULL OR sync_next_attempt_at <= ?))
			OR (sync_status = ? AND (sync_last_attempt_at IS NULL OR sync_last_attempt_at < ?))
		)
		ORDER BY row_id LIMIT ?`),
		true, afterRowID,
		gridlink.SyncSyncing, unix(now),
		gridlink.SyncSyncing, unix(staleBefore),
		limit)
	if err != nil {
		return nil, s.wrap("due for sync", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("due for sync", err)
		}
		out = append(out, id)
	}
	return out, s.wrap("due for sync", rows.Err())
}

// BeginSync claims a sync slot of the user's utility and records st.
//
// On SQLite the write transaction (BEGIN IMMEDIATE on the single writer)
// already serialises claims. On PostgreSQL a transaction-scoped advisory
// lock per utility does: a claimer waits for the previous one to commit,
// and its count, a new statement at READ COMMITTED, then sees that claim.
func (s *Store) BeginSync(ctx context.Context, rowID string, st gridlink.SyncState, limit int, staleBefore time.Time) (bool, error) {
	claimed := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var utilityID int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT utility_id FROM users WHERE row_id = ?`), rowID).Scan(&utilityID); err != nil {
			return err
		}
		if limit > 0 {
			if err := s.lockUtilitySlots(ctx, tx, utilityID); err != nil {
				return err
			}
			var busy int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users
				WHERE utility_id = ? AND row_id <> ? AND sync_status = ? AND sync_last_attempt_at >= ?`),
				utilityID, rowID, gridlink.SyncSyncing, unix(staleBefore)).Scan(&busy); err != nil {
				return err
			}
			if busy >= limit {
				return nil
			}
		}
		if err := mustAffect(tx.ExecContext(ctx, s.q(`UPDATE users SET
			sync_status = ?, sync_last_success_at = ?, sync_last_attempt_at = ?,
			sync_next_attempt_at = ?, sync_error_code = ?
			WHERE row_id = ?`),
			st.Status, nullUnix(st.LastSuccessAt), nullUnix(st.LastAttemptAt),
			nullUnix(st.NextAttemptAt), st.ErrorCode, rowID)); err != nil {
			return err
		}
		claimed = true
		return nil
	})
	if err != nil {
		return false, s.wrap("begin sync", err)
	}
	return claimed, nil
}

// postgresUtilitySlotLock serialises the slot claims of one utility, keyed
// by the search_path so that stores in different schemas of one database
// do not wait for each other.
const postgresUtilitySlotLock = `SELECT pg_advisory_xact_lock(hashtextextended(
	'gridlink/sqlstore/sync-slots ' || current_setting('search_path') || ' ' || ?::text, 0))`

// lockUtilitySlots takes the utility's slot lock inside tx (PostgreSQL
// only; SQLite's write transactions are serial already).
func (s *Store) lockUtilitySlots(ctx context.Context, tx *sql.Tx, utilityID int64) error {
	if s.d.name != "postgres" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.q(postgresUtilitySlotLock), strconv.FormatInt(utilityID, 10))
	return err
}
