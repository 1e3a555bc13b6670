// Package syncer keeps every connected user's utility data fresh: it
// fetches the data through the user's connector and stores it with
// idempotent upserts, on a schedule, with retries, under per-utility
// concurrency limits.
//
// The core is [Syncer.Sync], a plain method that knows nothing about job
// queues: it loads the user, claims one of its utility's sync slots, opens
// the sealed login, calls the connector, stores accounts, meters,
// intervals and bills, and records the outcome in the user's sync state,
// including when the next attempt is due. [Queue] runs Sync as River jobs
// (one job kind, unique per user) on SQLite ([NewSQLiteQueue]) or
// PostgreSQL ([NewPostgresQueue]), where several processes share the jobs.
//
// # Schedule
//
// The user's sync state in the store is the schedule: after a success the
// next sync is due Interval (12 h) ± IntervalJitter later; after a
// retryable failure it is due after an exponential backoff with jitter
// (RetryMin doubling up to RetryMax, or longer when the utility asked for
// it); after a rejected login it is never due (until Connect in update
// mode queues one). A periodic River job, run by one leader process at a
// time, queues a sync for every user due (store.Store.DueForSync); the
// retry of a failed job also waits in River until that time. Each refresh
// asks the utility for readings from LookBack (7 days) before the newest
// stored one, so late or corrected readings replace the stored values.
//
// # Failure policy, by connector.Kind
//
//   - bad credentials, MFA required again: never retried; credentials_valid
//     becomes false and the status needs_reauth; the data stays readable.
//   - utility unavailable, rate limited, internal error, timeouts: status
//     failing, retried with backoff (honouring the connector's RetryAfter).
//   - layout changed: the same, plus an ERROR log marked alert=true and the
//     gridlink_sync_layout_changed_total counter: a connector needs fixing.
//
// # Concurrency
//
// At most UtilityLimit syncs of one utility run at once across all
// processes: Sync claims a slot atomically in the store (the user's status
// becomes syncing) and, when none is free, returns [ErrUtilityBusy]; the
// queue then puts the job back for UtilityBusyDelay without holding a
// worker, so a backlog for one utility never starves the others. Workers
// bounds the syncs running at once in one process.
//
// # Crashes
//
// A sync whose process died (kill -9, power loss) leaves its job marked
// running and its user syncing. Once the attempt is older than
// QueueOptions.RescueAfter (default JobTimeout + 1 minute: 11 minutes),
// River's leader puts the job back and it runs again; its utility slot
// lapses after JobTimeout + 1 minute as well. Readings are upserts keyed by
// meter and start, so the dead attempt's partial writes are overwritten,
// never duplicated.
package syncer

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// stateWriteTimeout bounds the writes that record a failure, which
	// run even when the sync's own context is already done.
	stateWriteTimeout = 10 * time.Second
)

// ErrorInterrupted is the sync error code recorded when a sync was stopped
// before it finished (shutdown or job timeout is reported by its kind).
const ErrorInterrupted = "interrupted"

// ErrUtilityBusy is returned by Sync, which then changed nothing, when the
// user's utility already has UtilityLimit syncs running: try again later.
var ErrUtilityBusy = errors.New("sync: the utility is at its sync concurrency limit; try again later")

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

	// Interval is the time from a successful sync to the next scheduled
	// one; 0 means DefaultInterval.
	Interval time.Duration
	// IntervalJitter spreads scheduled syncs: each is due Interval ±
	// IntervalJitter (uniform) after the last success. 0 means a tenth of
	// Interval; negative means none.
	IntervalJitter time.Duration
	// LookBack is how far before the newest stored reading a refresh asks
	// the utility to start again; 0 means DefaultLookBack, negative none.
	LookBack time.Duration
	// RetryMin and RetryMax bound the backoff of retryable failures; 0
	// means DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// UtilityLimit is the number of syncs of one utility that may run at
	// once, across all processes sharing the database; 0 means
	// DefaultUtilityLimit, negative means no limit.
	UtilityLimit int
	// UtilityBusyDelay is the mean wait before a sync whose utility is at
	// its limit tries again; 0 means DefaultUtilityBusyDelay.
	UtilityBusyDelay time.Duration
	// Rand is the random source of the jitter; nil means crypto/rand.
	Rand io.Reader
	// Metrics receives the sync metrics (gridlink_sync_*); nil keeps them
	// on a registry of their own that nothing exports.
	Metrics prometheus.Registerer
}

// Syncer runs syncs. It is safe for concurrent use.
type Syncer struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	rand    *randSource
	metrics *metrics
	mem     *memoryRelease
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
	case cfg.Interval < 0, cfg.RetryMin < 0, cfg.RetryMax < 0, cfg.UtilityBusyDelay < 0:
		return nil, errors.New("syncer: Config.Interval, RetryMin, RetryMax and UtilityBusyDelay must not be negative")
	case cfg.RetryMin > 0 && cfg.RetryMax > 0 && cfg.RetryMin > cfg.RetryMax:
		return nil, fmt.Errorf("syncer: Config.RetryMin %v is above RetryMax %v", cfg.RetryMin, cfg.RetryMax)
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
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.IntervalJitter == 0 {
		cfg.IntervalJitter = cfg.Interval / 10
	}
	if cfg.IntervalJitter >= cfg.Interval {
		return nil, fmt.Errorf("syncer: Config.IntervalJitter %v is not below Interval %v", cfg.IntervalJitter, cfg.Interval)
	}
	switch {
	case cfg.LookBack == 0:
		cfg.LookBack = DefaultLookBack
	case cfg.LookBack < 0:
		cfg.LookBack = 0
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = min(DefaultRetryMin, cmp.Or(cfg.RetryMax, DefaultRetryMin))
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.UtilityLimit == 0 {
		cfg.UtilityLimit = DefaultUtilityLimit
	}
	if cfg.UtilityBusyDelay == 0 {
		cfg.UtilityBusyDelay = DefaultUtilityBusyDelay
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Syncer{cfg: cfg, log: cfg.Logger, now: cfg.Now, rand: &randSource{r: cfg.Rand}, metrics: m, mem: newMemoryRelease()}, nil
}

// Workers is the configured global limit of concurrent syncs.
func (s *Syncer) Workers() int { return s.cfg.Workers }

// JobTimeout is the configured limit of one sync attempt.
func (s *Syncer) JobTimeout() time.Duration { return s.cfg.JobTimeout }

// staleAfter is how long after its start a sync attempt still marked as
// running must have died with its process: no attempt outlives its
// JobTimeout by more than the failure write that follows it.
func (s *Syncer) staleAfter() time.Duration { return s.cfg.JobTimeout + time.Minute }

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
// returns nil. When the user's utility already runs UtilityLimit syncs,
// Sync changes nothing and returns [ErrUtilityBusy]. Otherwise the sync
// status is "syncing" while it runs, then "ok" (and the data marked
// ready) with the next scheduled sync Interval later, or "failing" /
// "needs_reauth" with the connector kind as error code and, for
// "failing", the time of the retry (see the package documentation). A
// returned error keeps its cause in the chain: [Retryable]
// (connector.KindOf) tells whether to try again.
func (s *Syncer) Sync(ctx context.Context, userRowID string) error {
	return s.sync(ctx, userRowID, false)
}

// sync is Sync; with onlyIfDue, a user that is not due any more (another
// sync ran since the scheduler listed it) is skipped.
func (s *Syncer) sync(ctx context.Context, userRowID string, onlyIfDue bool) error {
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
	slug := s.utilitySlug(u.UtilityID)

	started := s.now()
	if onlyIfDue && !s.due(u.Sync, started) {
		s.log.DebugContext(ctx, "scheduled sync skipped: synced since it was scheduled", "user_row_id", u.RowID)
		return nil
	}
	st := u.Sync
	st.Status = gridlink.SyncSyncing
	st.LastAttemptAt = &started
	st.NextAttemptAt = nil
	st.ErrorCode = ""
	claimed, err := s.cfg.Store.BeginSync(ctx, u.RowID, st, s.cfg.UtilityLimit, started.Add(-s.staleAfter()))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.InfoContext(ctx, "sync skipped: user no longer exists", "user_row_id", userRowID)
		return nil
	case err != nil:
		return s.fail(ctx, u, st, fmt.Errorf("sync: begin: %w", err))
	case !claimed:
		s.metrics.deferred.WithLabelValues(slug).Inc()
		s.log.DebugContext(ctx, "sync deferred: utility at its concurrency limit", "user_row_id", u.RowID, "utility", slug)
		return ErrUtilityBusy
	}
	s.log.InfoContext(ctx, "sync started", "user_row_id", u.RowID, "utility", slug)

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
	next := s.nextScheduled(done)
	st.Status = gridlink.SyncOK
	st.LastSuccessAt = &done
	st.NextAttemptAt = &next
	if err := s.cfg.Store.SetSyncState(ctx, u.RowID, st); err != nil {
		return s.fail(ctx, u, st, fmt.Errorf("sync: set status: %w", err))
	}
	s.metrics.attempts.WithLabelValues(slug, "ok").Inc()
	s.metrics.duration.WithLabelValues(slug).Observe(done.Sub(started).Seconds())
	s.log.InfoContext(ctx, "sync ok", "user_row_id", u.RowID, "utility", slug,
		"accounts", n.accounts, "meters", n.meters, "intervals", n.intervals, "bills", n.bills,
		"duration", done.Sub(started), "next_attempt_at", next)
	return nil
}

// due reports whether a sync in state st is due at now, by the rule of
// store.DueForSync.
func (s *Syncer) due(st gridlink.SyncState, now time.Time) bool {
	if st.Status == gridlink.SyncSyncing {
		return st.LastAttemptAt == nil || st.LastAttemptAt.Before(now.Add(-s.staleAfter()))
	}
	return st.NextAttemptAt == nil || !st.NextAttemptAt.After(now)
}

// utilitySlug names a utility in logs and metric labels.
func (s *Syncer) utilitySlug(id int64) string {
	if u, ok := s.cfg.Catalog.ByID(id); ok {
		return u.Slug
	}
	return "unknown"
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
	if cred.Source == SourceUpload {
		// Uploaded data has no remote source: nothing to fetch.
		return stats{}, nil
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
		// The connector may have rotated the upstream session (an OAuth
		// refresh token) before failing: keep it, or the next attempt
		// would present a spent one.
		if data != nil && data.Session != nil {
			if kerr := s.keepSession(ctx, u, cred, data.Session); kerr != nil {
				s.log.ErrorContext(ctx, "sync: keep renewed session after a failed fetch", "user_row_id", u.RowID, "err", kerr)
			}
		}
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
	return time.Unix(oldest, 0).UTC().Add(-s.cfg.LookBack), nil
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

// retryLater is a retryable sync failure with the backoff Sync recorded
// as the user's next attempt; the queue waits as long before the retry.
type retryLater struct {
	err   error
	delay time.Duration
}

func (e *retryLater) Error() string { return e.err.Error() }
func (e *retryLater) Unwrap() error { return e.err }

// fail records a failed attempt and returns the error for the caller. u
// is the user as loaded before the attempt (u.Sync: the state before it),
// st the state recorded when the attempt started.
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

	slug := s.utilitySlug(u.UtilityID)
	kind := connector.KindOf(cause)
	interrupted := errors.Is(ctx.Err(), context.Canceled)
	st.ErrorCode = kind.String()
	if interrupted {
		st.ErrorCode = ErrorInterrupted
	}
	failedAt := s.now()
	if st.LastAttemptAt != nil {
		s.metrics.duration.WithLabelValues(slug).Observe(failedAt.Sub(*st.LastAttemptAt).Seconds())
	}
	s.metrics.attempts.WithLabelValues(slug, st.ErrorCode).Inc()
	var (
		recErr error
		out    = cause
	)
	if kind.Retryable() {
		var delay time.Duration // interrupted (shutdown): due again at once
		if !interrupted {
			var ce *connector.Error
			var retryAfter time.Duration
			if errors.As(cause, &ce) {
				retryAfter = ce.RetryAfter
			}
			delay = s.retryDelay(u.Sync, retryAfter)
		}
		next := failedAt.Add(delay)
		st.Status = gridlink.SyncFailing
		st.NextAttemptAt = &next
		recErr = s.cfg.Store.SetSyncState(wctx, u.RowID, st)
		out = &retryLater{err: cause, delay: delay}
		attrs := []any{"user_row_id", u.RowID, "utility", slug, "error_code", st.ErrorCode, "retry_in", delay, "err", cause}
		switch kind {
		case connector.KindLayoutChanged:
			s.metrics.layoutChanged.WithLabelValues(slug).Inc()
			s.log.ErrorContext(ctx, "ALERT: utility website layout changed; the connector needs attention", append(attrs, "alert", true)...)
		case connector.KindInternal:
			s.log.ErrorContext(ctx, "sync failed with an internal error; will retry", attrs...)
		default:
			s.log.WarnContext(ctx, "sync failed; will retry", attrs...)
		}
	} else {
		st.Status = gridlink.SyncNeedsReauth
		st.NextAttemptAt = nil
		recErr = errors.Join(
			s.cfg.Store.SetCredentialsValid(wctx, u.RowID, false),
			s.cfg.Store.SetSyncState(wctx, u.RowID, st),
		)
		s.log.WarnContext(ctx, "sync failed: login rejected, user must reconnect", "user_row_id", u.RowID, "utility", slug, "error_code", st.ErrorCode, "err", cause)
	}
	if recErr != nil {
		s.log.ErrorContext(ctx, "sync failed; cannot record it", "user_row_id", u.RowID, "err", cause, "record_err", recErr)
	}
	return out
}
