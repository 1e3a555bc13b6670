// Package store is gridlink's storage contract. Every backend (SQLite and
// PostgreSQL, in internal/store/sqlstore) implements Store and passes the
// conformance suite in internal/store/storetest.
//
// Secrets never reach the store in usable form: client secrets, connect
// tokens, session cookies, codes and access tokens arrive as SHA-256 digests,
// and utility credentials arrive sealed by internal/vault.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/gridlink/gridlink"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound: no such row (or not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule would be broken (duplicate client id, a
	// connect token that already completed a connection, a user created
	// concurrently under another row id).
	ErrConflict = errors.New("conflict")
	// ErrCodeExpired: the authorization code is past its expiry. Nothing changed.
	ErrCodeExpired = errors.New("authorization code expired")
	// ErrCodeReplayed: the authorization code was already redeemed; every
	// access token issued from it has now been revoked.
	ErrCodeReplayed = errors.New("authorization code already redeemed")
)

// Connect session steps.
const (
	StepTerms       = "terms"
	StepUtility     = "utility"
	StepCredentials = "credentials"
	StepMFA         = "mfa"
	StepDone        = "done"   // completed: a code was issued
	StepFailed      = "failed" // ended without a connection (Outcome says why)
)

// Grant is what serving a data request needs of the user an access token
// was issued for: the fields of gridlink.User of the same names.
type Grant struct {
	RowID       string
	UtilityID   int64
	DataReady   bool
	DataVersion int64
}

// ConnectSession is one walk through hosted Connect, started from a connect
// token. The browser holds a random session secret in a cookie; the store
// keeps its digest.
type ConnectSession struct {
	ID         string // random, URL-safe; appears in Connect page URLs
	CookieHash []byte // SHA-256 of the session cookie secret
	TokenHash  []byte // SHA-256 of the connect token that started it
	ClientID   string
	UserID     string // the developer's user_id from the token
	// UpdateMode is true when the user already existed at start.
	UpdateMode bool
	// TokenUtilityID is the utility named by the token (0: none).
	TokenUtilityID int64
	// UtilityID is the utility chosen so far (0: none yet).
	UtilityID int64
	// Embedded is true for the widget (iframe) mode, false for redirect mode.
	Embedded bool
	// RedirectURI and State are the redirect-mode return leg (State echoed
	// byte for byte; HasState distinguishes an empty state from none).
	RedirectURI string
	State       string
	HasState    bool
	// EmbedOrigin is the checked origin of the page embedding the widget
	// ("" outside the widget); set once at creation.
	EmbedOrigin string
	Step        string
	// LoginAttempts counts failed utility logins in this session.
	LoginAttempts int
	// MFAAttempts counts wrong one-time codes for the current challenge.
	MFAAttempts int
	// Pending is vault-sealed (associated data: the session ID) state kept
	// between the credentials step and the MFA step: the typed credentials
	// and the connector's challenge state. Nil otherwise.
	Pending []byte
	// MFAPrompt is the human text of the current MFA challenge.
	MFAPrompt string
	// Outcome is the Connect exit status when Step is StepFailed
	// (e.g. "connect_max_attempted_logins").
	Outcome   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CompleteConnect is everything that happens, atomically, when a Connect
// session succeeds.
type CompleteConnect struct {
	SessionID string
	TokenHash []byte
	// User is the user to create (RowID new) or update (RowID existing:
	// utility, username and credential replaced, CredentialsValid set true,
	// ID and access tokens kept).
	User gridlink.User
	// CodeHash is the digest of the one-time authorization code to issue,
	// valid until CodeExpiresAt, bound to User.ClientID and the session.
	CodeHash      []byte
	CodeExpiresAt time.Time
	// Pending becomes the session's Pending (e.g. the sealed code kept until
	// the confirmation screen is left); nil clears it.
	Pending []byte
	Now     time.Time
}

// BillFilter narrows Bills. Zero values mean no filter.
type BillFilter struct {
	AccountID string
	// Start and End, when non-nil, keep bills whose period overlaps
	// [Start, End) (epoch seconds).
	Start *int64
	End   *int64
}

// Span is the range of a meter's readings: the starts (epoch seconds) of
// its oldest and newest ones.
type Span struct {
	First, Last int64
}

// Store is the storage contract. All methods honour ctx.
type Store interface {
	Close() error

	// Clients.
	CreateClient(ctx context.Context, c gridlink.Client) error // ErrConflict on duplicate id
	Client(ctx context.Context, id string) (gridlink.Client, error)
	Clients(ctx context.Context) ([]gridlink.Client, error) // ordered by creation
	SetClientSecret(ctx context.Context, id string, secretHash []byte) error
	// UpdateClient replaces the name, redirect URIs and origins of client
	// c.ID (the secret and creation time are kept).
	UpdateClient(ctx context.Context, c gridlink.Client) error
	// DeleteClient removes the client with all its users, their data,
	// codes, tokens and Connect sessions.
	DeleteClient(ctx context.Context, id string) error

	// Connect sessions.
	CreateConnectSession(ctx context.Context, s ConnectSession) error
	ConnectSession(ctx context.Context, id string) (ConnectSession, error)
	// UpdateConnectSession overwrites the mutable fields (UtilityID, Step,
	// LoginAttempts, MFAAttempts, Pending, MFAPrompt, Outcome) of session s.ID.
	UpdateConnectSession(ctx context.Context, s ConnectSession) error
	// CompleteConnect, in one transaction: records the token as used
	// (ErrConflict if it already completed a connection), creates or updates
	// the user (ErrConflict when c.User.RowID is new but the client already
	// has a user with that ID), marks the session StepDone with Pending
	// set to c.Pending, and stores the code. It returns the stored user.
	CompleteConnect(ctx context.Context, c CompleteConnect) (gridlink.User, error)
	// PurgeConnectSessions deletes the Connect sessions that expired before
	// before, with their used-token rows, and returns how many sessions it
	// deleted.
	PurgeConnectSessions(ctx context.Context, before time.Time) (int64, error)

	// Codes and access tokens.
	//
	// RedeemCode exchanges a code for an access token, atomically: exactly
	// one of any number of concurrent redemptions of one code succeeds.
	// Unknown code, or a code of another client: ErrNotFound, nothing
	// changes. Expired: ErrCodeExpired. Already redeemed: every token issued
	// from it is revoked and ErrCodeReplayed returned. On success the access
	// token (by digest) is stored and the user returned.
	RedeemCode(ctx context.Context, codeHash []byte, clientID string, tokenHash []byte, now time.Time) (gridlink.User, error)
	// TokenUser returns the client id and user of a live access token
	// (ErrNotFound when unknown or revoked). The user's Credential is left
	// nil: the token's holder never needs the sealed login.
	TokenUser(ctx context.Context, tokenHash []byte) (clientID string, u gridlink.User, err error)
	// TokenGrant is TokenUser for data requests: the few fields of the
	// user of a live access token issued to clientID that serving data
	// needs (ErrNotFound when the token is unknown, revoked or another
	// client's). It is the one store read of every cached data answer, so
	// it reads no more than that.
	TokenGrant(ctx context.Context, tokenHash []byte, clientID string) (Grant, error)

	// Users.
	User(ctx context.Context, clientID, userID string) (gridlink.User, error)
	UserByRowID(ctx context.Context, rowID string) (gridlink.User, error)
	// DeleteUser removes the user, its credential, accounts, meters,
	// intervals, bills, PDFs, codes and access tokens.
	DeleteUser(ctx context.Context, rowID string) error
	SetCredentialsValid(ctx context.Context, rowID string, valid bool) error
	// SetCredential replaces the sealed credential (e.g. a refreshed
	// upstream session).
	SetCredential(ctx context.Context, rowID string, sealed []byte) error
	SetSyncState(ctx context.Context, rowID string, s gridlink.SyncState) error
	// MarkDataReady records that the first sync stored the user's data.
	MarkDataReady(ctx context.Context, rowID string) error

	// Data writes (idempotent upserts; used by sync).
	//
	// UpsertAccount stores the account and its meters, keyed by the user and
	// ExternalID (meters by account and ExternalID). New rows take the IDs
	// given in a (which must be set); existing rows keep their IDs and get
	// Number and Address updated. It returns the account as stored.
	UpsertAccount(ctx context.Context, userRowID string, a gridlink.Account) (gridlink.Account, error)
	// UpsertIntervals stores readings keyed by (meter, Start); a reading for
	// an existing start replaces the old one.
	UpsertIntervals(ctx context.Context, userRowID, meterID string, ivs []gridlink.Interval) error
	// UpsertBill stores a bill keyed by (account, ExternalID); new bills take
	// b.ID. A non-nil pdf replaces the stored statement.
	UpsertBill(ctx context.Context, userRowID string, b gridlink.Bill, pdf []byte) (gridlink.Bill, error)

	// Data reads, always scoped to one user.
	Accounts(ctx context.Context, userRowID string) ([]gridlink.Account, error)
	Account(ctx context.Context, userRowID, accountID string) (gridlink.Account, error)
	Meter(ctx context.Context, userRowID, meterID string) (gridlink.Meter, error)
	// Intervals calls fn for each reading of the meter with start in
	// [start, end), ascending by start, streaming from the database. An
	// error from fn stops the iteration and is returned.
	Intervals(ctx context.Context, userRowID, meterID string, start, end int64, fn func(gridlink.Interval) error) error
	// LatestIntervalEnd returns the end of the newest reading of the meter
	// (0 when none).
	LatestIntervalEnd(ctx context.Context, userRowID, meterID string) (int64, error)
	Bills(ctx context.Context, userRowID string, f BillFilter) ([]gridlink.Bill, error) // by account, then start date
	Bill(ctx context.Context, userRowID, billID string) (gridlink.Bill, error)
	BillPDF(ctx context.Context, userRowID, billID string) ([]byte, error) // ErrNotFound when none
	// DataThrough returns, per account id of the user, the end of the
	// account's newest reading (the largest LatestIntervalEnd over its
	// meters). Accounts without readings are absent.
	DataThrough(ctx context.Context, userRowID string) (map[string]int64, error)
	// AccountsThrough is Accounts and DataThrough in one read (the hot
	// path of GET /accounts): the user's accounts with their meters, in
	// creation order, and per account id the end of its newest reading
	// (accounts without readings absent; never nil).
	AccountsThrough(ctx context.Context, userRowID string) ([]gridlink.Account, map[string]int64, error)
	// IntervalSpans returns, per meter id of the user, the starts of the
	// meter's oldest and newest readings (meters without readings absent;
	// never nil).
	IntervalSpans(ctx context.Context, userRowID string) (map[string]Span, error)

	// Sync bookkeeping (the sync engine, internal/syncer).
	//
	// DueForSync returns, ascending, up to limit row ids greater than
	// afterRowID (keyset paging; "" starts) of the users whose sync is due:
	// credentials valid, and either not syncing with a next attempt that is
	// unset or at or before now, or syncing since before staleBefore (an
	// attempt whose process died).
	DueForSync(ctx context.Context, now, staleBefore time.Time, afterRowID string, limit int) ([]string, error)
	// BeginSync atomically claims one of the limit sync slots of the
	// user's utility and records st (normally Status SyncSyncing with
	// LastAttemptAt set) as the user's sync state. The slots taken are the
	// other users of the same utility whose status is SyncSyncing with a
	// last attempt at or after staleBefore (older ones belong to attempts
	// that died). When all are taken it changes nothing and returns false.
	// limit <= 0 means no limit. Unknown user: ErrNotFound. Any number of
	// concurrent callers, in any number of processes, never hold more than
	// limit slots of one utility.
	BeginSync(ctx context.Context, rowID string, st gridlink.SyncState, limit int, staleBefore time.Time) (bool, error)
}
