package syncer

import (
	"context"
	"fmt"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// Ingest stores accounts that reached gridlink other than through a
// connector's Fetch (a Green Button file uploaded in Connect) as the data
// of the user with row id userRowID, exactly as a sync stores fetched
// data: the same validation (nothing is written when it fails), the same
// stable ids, greenhouse-gas estimates and idempotent upserts. It then
// marks the user's data ready and records a successful sync, with the next
// scheduled one Interval later.
//
// Ingest does not claim a utility sync slot: it calls no utility.
func (s *Syncer) Ingest(ctx context.Context, userRowID string, accounts []connector.Account) error {
	u, err := s.cfg.Store.UserByRowID(ctx, userRowID)
	if err != nil {
		return fmt.Errorf("ingest: load user: %w", err)
	}
	data := &connector.Data{Accounts: accounts}
	if err := validate(data); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	slug := s.utilitySlug(u.UtilityID)
	started := s.now()
	var n stats
	for _, a := range accounts {
		if err := s.storeAccount(ctx, u.RowID, slug, a, &n); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	if err := s.cfg.Store.MarkDataReady(ctx, u.RowID); err != nil {
		return fmt.Errorf("ingest: mark data ready: %w", err)
	}
	done := s.now()
	next := s.nextScheduled(done)
	st := u.Sync
	st.Status = gridlink.SyncOK
	st.LastAttemptAt = &started
	st.LastSuccessAt = &done
	st.NextAttemptAt = &next
	st.ErrorCode = ""
	if err := s.cfg.Store.SetSyncState(ctx, u.RowID, st); err != nil {
		return fmt.Errorf("ingest: set status: %w", err)
	}
	s.log.InfoContext(ctx, "ingest ok", "user_row_id", u.RowID, "utility", slug,
		"accounts", n.accounts, "meters", n.meters, "intervals", n.intervals, "bills", n.bills)
	return nil
}
