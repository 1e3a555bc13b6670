// Package connector is the contract between gridlink and the ways it reaches
// utilities. Implementations live in sub-packages (sandbox, greenbutton,
// portal, ...) and are listed in the one registry in cmd/gridlink.
//
// A connector checks a login live (Login), may ask for a one-time code
// (the optional MFA interface), and fetches accounts, meters, intervals and
// bills (Fetch). It never stores anything itself: gridlink seals and keeps
// the credentials and the opaque upstream session it returns.
package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gridlink/gridlink"
)

// Credentials is a utility login as typed into Connect.
type Credentials struct {
	Username string
	Password string
}

// Kind classifies connector failures; the sync engine and Connect apply a
// fixed policy per kind.
type Kind int

// The error kinds.
const (
	// KindInternal: a bug or unexpected failure on our side.
	KindInternal Kind = iota
	// KindBadCredentials: the utility rejected the login. Never retried.
	KindBadCredentials
	// KindMFARequired: the utility wants a one-time code again (an expired
	// remembered device); the user must go through Connect again.
	KindMFARequired
	// KindMFAFailed: the one-time code was wrong.
	KindMFAFailed
	// KindUnavailable: the utility site is down; retry with backoff.
	KindUnavailable
	// KindRateLimited: the utility asked us to slow down; retry later.
	KindRateLimited
	// KindLayoutChanged: the site's pages are not what the connector
	// expects; nothing is stored, an alert is raised, retried with backoff.
	KindLayoutChanged
)

var kindNames = map[Kind]string{
	KindInternal:       "internal_error",
	KindBadCredentials: "bad_credentials",
	KindMFARequired:    "mfa_required",
	KindMFAFailed:      "mfa_failed",
	KindUnavailable:    "utility_unavailable",
	KindRateLimited:    "rate_limited",
	KindLayoutChanged:  "layout_changed",
}

// String returns the kind's stable snake_case name (used as a sync error code).
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether a failure of this kind is worth retrying later
// without the user.
func (k Kind) Retryable() bool {
	return k == KindUnavailable || k == KindRateLimited || k == KindLayoutChanged || k == KindInternal
}

// Error is a classified connector failure. Message is safe to show to the
// end user in Connect; Err (optional) carries detail for logs and must not
// contain secrets.
type Error struct {
	Kind       Kind
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Kind.String() + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Kind.String() + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a classified error with a formatted user-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err: the Kind of the first *Error in its chain,
// KindUnavailable for a context deadline, and KindInternal otherwise.
func KindOf(err error) Kind {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindUnavailable
	}
	return KindInternal
}

// Login is the outcome of a successful credential check.
type Login struct {
	// Challenge, when non-nil, means the utility asks for a one-time code
	// before the login completes (the connector implements MFA).
	Challenge *Challenge
	// Session is the opaque upstream session (cookies, remembered-device
	// tokens) to keep, sealed, for later fetches. May be nil.
	Session []byte
	// Username, when set, names the login at the utility for display
	// (the user's utility_username) instead of the username typed into
	// Connect: OAuth connectors, where the user types none, set it (for
	// Green Button Connect, the subscription id).
	Username string
}

// Challenge is an MFA request from the utility.
type Challenge struct {
	// Prompt is shown to the user, e.g. "Enter the code we texted to ***-***-1234".
	Prompt string
	// Methods, when not empty, are the delivery choices the site offers
	// (text, e-mail, ...): no code has been sent yet, the user picks one and
	// gridlink calls MFAMethodChooser.ChooseMFAMethod, which sends the code
	// and returns the challenge that awaits it.
	Methods []MFAMethod
	// State is opaque connector state needed to continue the login; gridlink
	// keeps it sealed and hands it back to SubmitMFA or ChooseMFAMethod.
	State []byte
}

// MFAMethod is one way the utility can deliver a one-time code.
type MFAMethod struct {
	ID    string // posted back by Connect, e.g. "sms"
	Label string // shown to the user, e.g. "Text to (***) ***-0142"
}

// MFAMethodChooser is implemented by connectors whose sites let the user
// choose how the one-time code is delivered.
type MFAMethodChooser interface {
	// ChooseMFAMethod asks the site to send a code by the chosen method and
	// returns the challenge awaiting it (Methods empty).
	ChooseMFAMethod(ctx context.Context, c Credentials, state []byte, methodID string) (Challenge, error)
}

// Connector reaches one kind of utility.
type Connector interface {
	// Login checks the credentials live against the utility.
	// Wrong credentials: an *Error of KindBadCredentials.
	Login(ctx context.Context, c Credentials) (Login, error)
	// Fetch downloads the user's data. Readings that start before
	// req.Since need not be returned (zero Since: everything the utility has).
	//
	// A failing Fetch may still return a non-nil *Data holding only a
	// Session: the connector renewed the upstream session before failing
	// (an OAuth refresh token that the utility rotated), and the caller
	// must keep that session, or the next fetch would present a spent one.
	Fetch(ctx context.Context, req FetchRequest) (*Data, error)
}

// MFA is implemented by connectors whose utilities ask for one-time codes.
type MFA interface {
	// SubmitMFA continues a login that returned a Challenge. A wrong code is
	// an *Error of KindMFAFailed (the same challenge state stays usable).
	SubmitMFA(ctx context.Context, c Credentials, state []byte, code string) (Login, error)
}

// OAuth is implemented by connectors whose utilities authorize gridlink on
// their own website (OAuth 2.0 authorization code, as Green Button Connect
// My Data does) instead of taking a password typed into Connect. For such
// a utility Connect shows "Continue to <utility>" instead of the password
// form and:
//
//  1. redirects the browser to AuthorizeURL(state, redirectURI), where
//     state binds the authorization to the Connect session (it comes back
//     unchanged and must be checked) and redirectURI is gridlink's
//     callback, GET /connect/oauth/callback, registered with the utility;
//  2. the utility signs the user in, asks for consent and redirects back
//     to redirectURI with code and state (or error=access_denied);
//  3. the callback calls CompleteOAuth(ctx, code, redirectURI), which
//     exchanges the code for the utility's tokens, and completes the
//     connection as after a password login: Login.Session (the token set)
//     is sealed with empty Credentials, Login.Username is shown as the
//     utility username, and the first sync starts.
//
// Fetch then works from the sealed session alone (Credentials empty),
// refreshing and rotating the tokens it holds. Login (a password) is
// refused with a KindBadCredentials error whose message sends the user to
// the utility's website.
type OAuth interface {
	// AuthorizeURL returns the utility's authorization page URL for this
	// request.
	AuthorizeURL(state, redirectURI string) (string, error)
	// CompleteOAuth exchanges the authorization code. A code the utility
	// refuses (expired, used, revoked) is an *Error of KindBadCredentials;
	// an unreachable utility is KindUnavailable.
	CompleteOAuth(ctx context.Context, code, redirectURI string) (Login, error)
}

// FetchRequest is what a fetch needs.
type FetchRequest struct {
	Credentials Credentials
	// Session is the upstream session from Login or the previous Fetch.
	Session []byte
	// Since is the earliest reading start wanted (zero: everything).
	Since time.Time
	// Now is the current time from gridlink's clock.
	Now time.Time
}

// Data is what a fetch found.
type Data struct {
	Accounts []Account
	// Session is the upstream session to keep for the next fetch (nil: keep
	// the old one).
	Session []byte
}

// Account is one account with its readings and bills. Account.ExternalID and
// each meter's ExternalID and Type are required; IDs may be left empty (sync
// then derives stable ones) or fixed by the connector.
type Account struct {
	gridlink.Account
	// Intervals per meter ExternalID, ascending by start, non-overlapping,
	// usage in the meter type's unit (kWh or therms). GHG may be left zero:
	// sync computes it.
	Intervals map[string][]gridlink.Interval
	Bills     []Bill
}

// Bill is a statement with its PDF (nil when the utility has none).
type Bill struct {
	gridlink.Bill
	PDF []byte
}

// Registry maps a connector key (gridlink.Utility.Connector) to its
// connector. It is built once, explicitly, in cmd/gridlink.
type Registry map[string]Connector
