// Package gridlink names the domain of a self-hostable, Pelm-compatible
// utility-data platform: clients, users, utilities, accounts, meters,
// intervals, bills and the API's error codes. It imports the standard
// library only and knows neither HTTP nor SQL.
package gridlink

import (
	"fmt"
	"time"
)

// MeterType is the commodity a meter measures, spelled as the API spells it.
type MeterType string

// The meter types of the API.
const (
	Electric MeterType = "ELECTRIC"
	Gas      MeterType = "GAS"
)

// Valid reports whether t is one of the API's meter types.
func (t MeterType) Valid() bool { return t == Electric || t == Gas }

// Unit returns the unit in which usage of this meter type is reported.
func (t MeterType) Unit() string {
	if t == Gas {
		return "therm"
	}
	return "kwh"
}

// Lifetimes fixed by the contract.
const (
	ConnectTokenTTL = 30 * time.Minute
	CodeTTL         = 10 * time.Minute
	// MaxLoginAttempts is the number of failed utility logins allowed in one
	// Connect session before it ends with connect_max_attempted_logins.
	MaxLoginAttempts = 5
)

// Client is a developer application registered with gridlink.
type Client struct {
	ID string
	// SecretHash is the SHA-256 digest of the client secret; the secret
	// itself is never stored.
	SecretHash []byte
	// Name is the company display name shown on the Connect terms screen.
	Name string
	// RedirectURIs are the exact URIs hosted Connect may redirect to.
	RedirectURIs []string
	// Origins are the web origins allowed to embed Connect (scheme://host[:port],
	// or the dev wildcards "http://localhost:*" and "http://127.0.0.1:*").
	Origins   []string
	CreatedAt time.Time
}

// Utility is one entry of the catalogue.
type Utility struct {
	ID   int64
	Slug string
	Name string
	// Connector is the key of the connector that reaches this utility in the
	// registry, or "" when no connector does (the utility is unsupported).
	Connector string
}

// Supported reports whether a connector reaches the utility.
func (u Utility) Supported() bool { return u.Connector != "" }

// Sync statuses of a user.
const (
	SyncPending     = "pending" // connected, first sync not finished yet
	SyncSyncing     = "syncing"
	SyncOK          = "ok"
	SyncFailing     = "failing"
	SyncNeedsReauth = "needs_reauth"
)

// User is one utility login of one end user of one client.
type User struct {
	// RowID is gridlink's own internal id (a UUID). It is never shown to API
	// clients; it binds sealed credentials to their row.
	RowID string
	// ClientID is the owning client.
	ClientID string
	// ID is the developer's own id for the end user (the user_id given when
	// creating the connect token).
	ID               string
	UtilityID        int64
	UtilityUsername  string
	CredentialsValid bool
	// Credential is the vault-sealed utility login (see internal/vault); it
	// is opaque to everything but the vault.
	Credential []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// DataReady is true once the first sync has stored the user's data;
	// before that, data endpoints answer data_unavailable.
	DataReady bool
	Sync      SyncState
	// DataVersion changes, to a fresh random value, in the same
	// transaction as every change to the user's accounts, meters or
	// intervals: anything derived from that data under one version is
	// still current while the user's row shows the same version.
	DataVersion int64
}

// SyncState is the freshness of a user's data.
type SyncState struct {
	Status        string
	LastSuccessAt *time.Time
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time
	ErrorCode     string
}

// Account is one utility account under a user's login.
type Account struct {
	// ID is the public id (a UUID string).
	ID string
	// ExternalID is the utility's own key for the account (stable across syncs).
	ExternalID string
	Number     string
	Address    string
	Meters     []Meter
}

// MeterTypes returns the distinct meter types of the account in a stable
// order (ELECTRIC before GAS).
func (a Account) MeterTypes() []MeterType {
	var el, gas bool
	for _, m := range a.Meters {
		switch m.Type {
		case Electric:
			el = true
		case Gas:
			gas = true
		}
	}
	var out []MeterType
	if el {
		out = append(out, Electric)
	}
	if gas {
		out = append(out, Gas)
	}
	return out
}

// Meter is one meter of an account.
type Meter struct {
	// ID is the public id (a UUID string).
	ID         string
	AccountID  string
	ExternalID string
	Type       MeterType
}

// Interval is one reading: usage between Start and End (epoch seconds) in
// the meter type's unit, and its greenhouse-gas emissions in kg CO2e.
type Interval struct {
	Start int64
	End   int64
	Usage float64
	GHG   float64
}

// Bill is one statement. Pointer fields are nil where unknown.
type Bill struct {
	// ID is the public id (a UUID string).
	ID             string
	AccountID      string
	ExternalID     string
	StartDate      *int64
	EndDate        *int64
	StatementDate  *int64
	DueDate        *int64
	PaymentDate    *int64
	TotalAmountDue *float64
	TotalCharges   *float64
	ElectricCharge *float64
	GasCharge      *float64
	OtherCharge    *float64
	ElectricKWh    *float64
	GasTherm       *float64
	HasPDF         bool
}

// ErrorCode is a Pelm error_code.
type ErrorCode string

// The error codes of the contract (pelm-api.md section 5).
const (
	ParameterMissing          ErrorCode = "parameter_missing"
	ParameterInvalid          ErrorCode = "parameter_invalid"
	ConnectMaxAttemptedLogins ErrorCode = "connect_max_attempted_logins"
	MFARequired               ErrorCode = "mfa_required"
	MFAFailed                 ErrorCode = "mfa_failed"
	UtilityUnavailable        ErrorCode = "utility_unavailable"
	FeatureUnavailable        ErrorCode = "feature_unavailable"
	CredentialsInvalid        ErrorCode = "credentials_invalid"
	TokenInvalid              ErrorCode = "token_invalid"
	QuotaReached              ErrorCode = "quota_reached"
	PermissionDenied          ErrorCode = "permission_denied"
	NotFound                  ErrorCode = "not_found"
	MethodNotAllowed          ErrorCode = "method_not_allowed"
	RateLimited               ErrorCode = "rate_limited"
	DataUnavailable           ErrorCode = "data_unavailable"
	InternalError             ErrorCode = "internal_error"
	// RequestTooLarge is used for oversized bodies (HTTP 413).
	RequestTooLarge ErrorCode = "request_too_large"
)

// DataUnavailableMessage is Pelm's text for data that is still loading.
const DataUnavailableMessage = "We're currently loading data for this account, please try again in 5 minutes."

// Error is an error with a Pelm error code and a message that is safe to show
// to the API client.
type Error struct {
	Code    ErrorCode
	Message string
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
