// Package syncer fetches each user's utility data through its connector and
// stores it with idempotent upserts.
//
// The core is [Syncer.Sync], a plain method that knows nothing about job
// queues: it loads the user, opens the sealed login, calls the connector,
// stores accounts, meters, intervals and bills, and records the outcome in
// the user's sync state. [Queue] is the adapter that runs Sync as a River job
// (one job kind, unique per user), today on SQLite (riversqlite); the queue
// is built from a River driver, so a PostgreSQL (riverpgxv5) constructor is a
// few lines beside [NewSQLiteQueue].
//
// Failure policy, by connector.Kind: a rejected login (bad credentials, MFA
// required again) flips credentials_valid to false, sets the status to
// needs_reauth and is never retried; every retryable kind sets the status to
// failing and returns the error so that the queue retries with backoff. The
// data stored by earlier syncs stays readable in every case.
package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/emissions"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/vault"
)

// Defaults of Config.
const (
	DefaultWorkers    = 10
	DefaultJobTimeout = 10 * time.Minute
)

const (
	// intervalChunk is the number of readings written per UpsertIntervals
	// call: large enough to amortise a transaction, small enough to keep
	// the single SQLite writer from being held for long.
	intervalChunk = 5000
	// lookBack is how far before the newest stored reading a refresh asks
	// the connector to start, so that late corrections are picked up.
	lookBack = 7 * 24 * time.Hour
	// stateWriteTimeout bounds the writes that record a failure, which
	// run even when the sync's own context is already done.
	stateWriteTimeout = 10 * time.Second
)

// ErrorInterrupted is the sync error code recorded when a sync was stopped
// before it finished (shutdown or job timeout is reported by its kind).
const ErrorInterrupted = "interrupted"

// ErrLoginChanged is returned by Sync when the user's stored login was
// replaced (Connect in update mode) while the sync ran: nothing was decided
// from the old login, and the caller should sync again soon.
var ErrLoginChanged = errors.New("sync: the user's login changed during the sync; sync again")

// Config configures a Syncer.
type Config struct {
	Store      store.Store
	Vault      *vault.Vault
	Catalog    *catalog.Catalog
	Connectors connector.Registry
	// Logger receives one line per sync; nil discards. Credentials are
	// never logged.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Workers is the global limit of syncs running at once in this process
	// (the queue's worker count); 0 means DefaultWorkers.
	Workers int
	// JobTimeout bounds one sync attempt; 0 means DefaultJobTimeout.
	JobTimeout time.Duration
}

// Syncer runs syncs. It is safe for concurrent use.
type Syncer struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New checks cfg, fills in defaults and returns a Syncer.
func New(cfg Config) (*Syncer, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("syncer: Config.Store is nil")
	case cfg.Vault == nil:
		return nil, errors.New("syncer: Config.Vault is nil")
	case cfg.Catalog == nil:
		return nil, errors.New("syncer: Config.Catalog is nil")
	case cfg.Connectors == nil:
		return nil, errors.New("syncer: Config.Connectors is nil")
	case cfg.Workers < 0:
		return nil, fmt.Errorf("syncer: Config.Workers is %d", cfg.Workers)
	case cfg.JobTimeout < 0:
		return nil, fmt.Errorf("syncer: Config.JobTimeout is %v", cfg.JobTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	return &Syncer{cfg: cfg, log: cfg.Logger, now: cfg.Now}, nil
}

// Workers is the configured global limit of concurrent syncs.
func (s *Syncer) Workers() int { return s.cfg.Workers }

// JobTimeout is the configured limit of one sync attempt.
func (s *Syncer) JobTimeout() time.Duration { return s.cfg.JobTimeout }

// Retryable reports whether a sync that failed with err is worth retrying
// later without the user. It is false only for rejected logins (and the
// other connector kinds that need the user back in Connect); store errors,
// timeouts and unavailable utilities are retryable.
func Retryable(err error) bool {
	return err == nil || connector.KindOf(err).Retryable()
}

// stats counts what one sync stored.
type stats struct {
	accounts, meters, intervals, bills int
}

// Sync fetches the user's data from its utility and stores it.
//
// A user that no longer exists (deleted, possibly while the sync ran) or
// whose credentials are already known to be invalid is not synced: Sync
// returns nil. Otherwise the sync status is "syncing" while it runs, then
// "ok" (and the data marked ready), or "failing" / "needs_reauth" with the
// connector kind as error code. A returned error keeps its cause in the
// chain: [Retryable] (connector.KindOf) tells whether to try again.
func (s *Syncer) Sync(ctx context.Context, userRowID string) error {
	u, err := s.cfg.Store.UserByRowID(ctx, userRowID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "sync skipped: user no longer exists", "user_row_id", userRowID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync: load user: %w", err)
	}
	if !u.CredentialsValid {
		// Only Connect can fix a rejected login; trying it again would
		// only risk locking the user out of their utility account.
		s.log.InfoContext(ctx, "sync skipped: credentials invalid", "user_row_id", u.RowID)
		return nil
	}

	started := s.now()
	st := u.Sync
	st.Status = gridlink.SyncSyncing
	st.LastAttemptAt = &started
	st.NextAttemptAt = nil
	st.ErrorCode = ""
	if err := s.cfg.Store.SetSyncState(ctx, u.RowID, st); err != nil {
		return s.fail(ctx, u, st, fmt.Errorf("sync: set status: %w", err))
	}

	n, err := s.run(ctx, &u)
	if err != nil {
		return s.fail(ctx, u, st, err)
	}
	cur, err := s.cfg.Store.UserByRowID(ctx, u.RowID)
	if err != nil {
		return s.fail(ctx, u, st, fmt.Errorf("sync: reload user: %w", err))
	}
	if !bytes.Equal(cur.Credential, u.Credential) {
		s.log.InfoContext(ctx, "sync superseded: login replaced while syncing", "user_row_id", u.RowID)
		return ErrLoginChanged
	}
	if err := s.cfg.Store.MarkDataReady(ctx, u.RowID); err != nil {
		return s.fail(ctx, u, st, fmt.Errorf("sync: mark data ready: %w", err))
	}
	done := s.now()
	st.Status = gridlink.SyncOK
	st.LastSuccessAt = &done
	if err := s.cfg.Store.SetSyncState(ctx, u.RowID, st); err != nil {
		return s.fail(ctx, u, st, fmt.Errorf("sync: set status: %w", err))
	}
	s.log.InfoContext(ctx, "sync ok", "user_row_id", u.RowID,
		"accounts", n.accounts, "meters", n.meters, "intervals", n.intervals, "bills", n.bills,
		"duration", done.Sub(started))
	return nil
}

// run does the work of one sync attempt: fetch, then store. When it stores
// a refreshed session it updates u.Credential to the new sealed value.
func (s *Syncer) run(ctx context.Context, u *gridlink.User) (stats, error) {
	util, ok := s.cfg.Catalog.ByID(u.UtilityID)
	if !ok {
		return stats{}, fmt.Errorf("sync: utility %d is not in the catalogue", u.UtilityID)
	}
	conn, ok := s.cfg.Connectors[util.Connector]
	if !ok || conn == nil {
		return stats{}, fmt.Errorf("sync: utility %q: no connector %q in the registry", util.Slug, util.Connector)
	}
	cred, err := OpenCredential(s.cfg.Vault, u.Credential, u.RowID)
	if err != nil {
		return stats{}, fmt.Errorf("sync: %w", err)
	}
	since, err := s.since(ctx, *u)
	if err != nil {
		return stats{}, err
	}
	data, err := conn.Fetch(ctx, connector.FetchRequest{
		Credentials: connector.Credentials{Username: cred.Username, Password: cred.Password},
		Session:     cred.Session,
		Since:       since,
		Now:         s.now(),
	})
	if err != nil {
		return stats{}, fmt.Errorf("sync: fetch from %s: %w", util.Slug, err)
	}
	if data == nil {
		return stats{}, connector.Errorf(connector.KindInternal, "connector %q returned no data", util.Connector)
	}
	if err := s.keepSession(ctx, u, cred, data.Session); err != nil {
		return stats{}, err
	}
	if err := validate(data); err != nil {
		return stats{}, fmt.Errorf("sync: connector %q: %w", util.Connector, err)
	}
	var n stats
	for _, a := range data.Accounts {
		if err := s.storeAccount(ctx, u.RowID, util.Slug, a, &n); err != nil {
			return n, err
		}
	}
	return n, nil
}

// since is the earliest reading start to ask for: everything on the first
// sync, else the oldest of the meters' newest stored readings minus the
// look-back (meters without readings are ignored).
func (s *Syncer) since(ctx context.Context, u gridlink.User) (time.Time, error) {
	if !u.DataReady {
		return time.Time{}, nil
	}
	accounts, err := s.cfg.Store.Accounts(ctx, u.RowID)
	if err != nil {
		return time.Time{}, fmt.Errorf("sync: list accounts: %w", err)
	}
	var oldest int64
	for _, a := range accounts {
		for _, m := range a.Meters {
			end, err := s.cfg.Store.LatestIntervalEnd(ctx, u.RowID, m.ID)
			if err != nil {
				return time.Time{}, fmt.Errorf("sync: latest reading: %w", err)
			}
			if end > 0 && (oldest == 0 || end < oldest) {
				oldest = end
			}
		}
	}
	if oldest == 0 {
		return time.Time{}, nil
	}
	return time.Unix(oldest, 0).UTC().Add(-lookBack), nil
}

// keepSession re-seals the credential with the upstream session the
// connector returned, unless the login was replaced in the meantime, and
// records the new sealed value in u.
func (s *Syncer) keepSession(ctx context.Context, u *gridlink.User, cred Credential, session []byte) error {
	if session == nil || bytes.Equal(session, cred.Session) {
		return nil
	}
	cred.Session = session
	sealed, err := SealCredential(s.cfg.Vault, cred, u.RowID)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	cur, err := s.cfg.Store.UserByRowID(ctx, u.RowID)
	if err != nil {
		return fmt.Errorf("sync: reload user: %w", err)
	}
	if !bytes.Equal(cur.Credential, u.Credential) {
		return nil // a new login arrived; its own session wins
	}
	if err := s.cfg.Store.SetCredential(ctx, u.RowID, sealed); err != nil {
		return fmt.Errorf("sync: store session: %w", err)
	}
	u.Credential = sealed
	return nil
}

// validate checks what the connector contract requires before anything is
// written, so that a broken connector stores nothing.
func validate(d *connector.Data) error {
	seenAccounts := map[string]bool{}
	for i, a := range d.Accounts {
		if a.ExternalID == "" {
			return connector.Errorf(connector.KindInternal, "account %d has no external id", i)
		}
		if seenAccounts[a.ExternalID] {
			return connector.Errorf(connector.KindInternal, "account %q listed twice", a.ExternalID)
		}
		seenAccounts[a.ExternalID] = true
		meters := map[string]bool{}
		for _, m := range a.Meters {
			if m.ExternalID == "" || !m.Type.Valid() {
				return connector.Errorf(connector.KindInternal, "account %q: a meter lacks an external id or a valid type", a.ExternalID)
			}
			if meters[m.ExternalID] {
				return connector.Errorf(connector.KindInternal, "account %q: meter %q listed twice", a.ExternalID, m.ExternalID)
			}
			meters[m.ExternalID] = true
		}
		for ext, ivs := range a.Intervals {
			if !meters[ext] {
				return connector.Errorf(connector.KindInternal, "account %q: readings for unknown meter %q", a.ExternalID, ext)
			}
			var prevEnd int64
			for j, iv := range ivs {
				if iv.End <= iv.Start || (j > 0 && iv.Start < prevEnd) {
					return connector.Errorf(connector.KindInternal, "account %q meter %q: reading %d is empty, unordered or overlapping", a.ExternalID, ext, j)
				}
				prevEnd = iv.End
			}
		}
		bills := map[string]bool{}
		for _, b := range a.Bills {
			if b.ExternalID == "" {
				return connector.Errorf(connector.KindInternal, "account %q: a bill has no external id", a.ExternalID)
			}
			if bills[b.ExternalID] {
				return connector.Errorf(connector.KindInternal, "account %q: bill %q listed twice", a.ExternalID, b.ExternalID)
			}
			bills[b.ExternalID] = true
		}
	}
	return nil
}

// storeAccount upserts one account with its meters, readings and bills.
// The connector's values are copied, never modified.
func (s *Syncer) storeAccount(ctx context.Context, rowID, utilitySlug string, a connector.Account, n *stats) error {
	acc := a.Account
	if acc.ID == "" {
		acc.ID = AccountID(rowID, acc.ExternalID)
	}
	acc.Meters = slices.Clone(a.Meters)
	for i := range acc.Meters {
		m := &acc.Meters[i]
		if m.ID == "" {
			m.ID = MeterID(rowID, acc.ExternalID, m.ExternalID)
		}
		m.AccountID = acc.ID
	}
	stored, err := s.cfg.Store.UpsertAccount(ctx, rowID, acc)
	if err != nil {
		return fmt.Errorf("sync: store account: %w", err)
	}
	n.accounts++
	n.meters += len(stored.Meters)

	// Readings, meter by meter in the connector's meter order.
	buf := make([]gridlink.Interval, 0, intervalChunk)
	for _, m := range acc.Meters {
		ivs := a.Intervals[m.ExternalID]
		if len(ivs) == 0 {
			continue
		}
		meterID, ok := storedMeterID(stored, m.ExternalID)
		if !ok {
			return fmt.Errorf("sync: store account: meter %q missing after upsert", m.ExternalID)
		}
		for start := 0; start < len(ivs); start += intervalChunk {
			buf = append(buf[:0], ivs[start:min(start+intervalChunk, len(ivs))]...)
			for i := range buf {
				if buf[i].GHG == 0 && buf[i].Usage != 0 {
					buf[i].GHG = emissions.GHG(utilitySlug, m.Type, time.Unix(buf[i].Start, 0).UTC(), buf[i].Usage)
				}
			}
			if err := s.cfg.Store.UpsertIntervals(ctx, rowID, meterID, buf); err != nil {
				return fmt.Errorf("sync: store readings: %w", err)
			}
			n.intervals += len(buf)
		}
	}

	for _, cb := range a.Bills {
		b := cb.Bill
		if b.ID == "" {
			b.ID = BillID(rowID, acc.ExternalID, b.ExternalID)
		}
		b.AccountID = stored.ID
		b.HasPDF = b.HasPDF || cb.PDF != nil
		if _, err := s.cfg.Store.UpsertBill(ctx, rowID, b, cb.PDF); err != nil {
			return fmt.Errorf("sync: store bill: %w", err)
		}
		n.bills++
	}
	return nil
}

func storedMeterID(a gridlink.Account, ext string) (string, bool) {
	for _, m := range a.Meters {
		if m.ExternalID == ext {
			return m.ID, true
		}
	}
	return "", false
}

// fail records a failed attempt and returns the error for the caller.
func (s *Syncer) fail(ctx context.Context, u gridlink.User, st gridlink.SyncState, cause error) error {
	// The sync's context may be what failed (timeout, shutdown): record
	// the outcome on a context of its own.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateWriteTimeout)
	defer cancel()

	cur, err := s.cfg.Store.UserByRowID(wctx, u.RowID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "sync abandoned: user deleted while syncing", "user_row_id", u.RowID)
		return nil
	}
	if err != nil {
		s.log.ErrorContext(ctx, "sync failed; cannot record it", "user_row_id", u.RowID, "err", cause, "record_err", err)
		return cause
	}
	if !bytes.Equal(cur.Credential, u.Credential) {
		// The failure concerns a login that no longer exists.
		s.log.InfoContext(ctx, "sync superseded: login replaced while syncing", "user_row_id", u.RowID, "err", cause)
		return ErrLoginChanged
	}

	kind := connector.KindOf(cause)
	st.ErrorCode = kind.String()
	if errors.Is(ctx.Err(), context.Canceled) {
		st.ErrorCode = ErrorInterrupted
	}
	var recErr error
	if kind.Retryable() {
		st.Status = gridlink.SyncFailing
		recErr = s.cfg.Store.SetSyncState(wctx, u.RowID, st)
		s.log.WarnContext(ctx, "sync failed; will retry", "user_row_id", u.RowID, "error_code", st.ErrorCode, "err", cause)
	} else {
		st.Status = gridlink.SyncNeedsReauth
		recErr = errors.Join(
			s.cfg.Store.SetCredentialsValid(wctx, u.RowID, false),
			s.cfg.Store.SetSyncState(wctx, u.RowID, st),
		)
		s.log.WarnContext(ctx, "sync failed: login rejected, user must reconnect", "user_row_id", u.RowID, "error_code", st.ErrorCode, "err", cause)
	}
	if recErr != nil {
		s.log.ErrorContext(ctx, "sync failed; cannot record it", "user_row_id", u.RowID, "err", cause, "record_err", recErr)
	}
	return cause
}
