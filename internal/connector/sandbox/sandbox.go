// Package sandbox is a deterministic simulated utility. It serves two
// catalogue entries:
//
//   - New: the "gridlink Sandbox" utility, whose scenario logins let
//     developers exercise every path of Connect and sync (pelm-api.md 4.2);
//   - NewPelm: "Pacific Gas and Electric" as Pelm's sandbox, where only
//     user@pelm.com / password logs in.
//
// All data is generated from the username and the reading times only, so a
// re-sync reproduces the same numbers. The connector keeps no state of its
// own: per-login progress (has this login fetched before, did it pass MFA)
// travels in the opaque Session bytes that gridlink stores sealed.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the sandbox's days and months are Los Angeles days; never depend on the host's zoneinfo
	"unicode/utf8"

	"github.com/gridlink/gridlink/internal/connector"
)

// Scenario usernames (pelm-api.md 4.2). Every password is Password unless
// the scenario says otherwise.
const (
	PelmUser    = "user@pelm.com"
	MFAUser     = "mfa@sandbox.test"
	LockedUser  = "locked@sandbox.test"
	DownUser    = "down@sandbox.test"
	ExpireUser  = "expire@sandbox.test"
	SlowUser    = "slow@sandbox.test"
	BigUser     = "big@sandbox.test"
	CustomUser  = "custom@sandbox.test"
	Password    = "password"
	MFACode     = "123456"
	MFAPrompt   = "Enter the 6-digit code we sent to (***) ***-0142"
	DefaultSlow = 60 * time.Second
	// CustomMinPassword is the shortest password custom@sandbox.test accepts.
	CustomMinPassword = 8
)

// The fixed public ids of the Pelm sandbox user's accounts and meters.
const (
	PelmAccount1     = "ea100000-0000-0000-0000-000000000000"
	PelmAccount1Elec = "ea100000-0000-0000-0000-000000000001"
	PelmAccount1Gas  = "ea100000-0000-0000-0000-000000000002"
	PelmAccount2     = "ea200000-0000-0000-0000-000000000000"
	PelmAccount2Elec = "ea200000-0000-0000-0000-000000000001"
	ElectricMeterKey = "electric" // ExternalID of every electric meter
	GasMeterKey      = "gas"      // ExternalID of every gas meter
)

// Utility names printed on statements.
const (
	pelmUtilityName    = "Pacific Gas and Electric"
	sandboxUtilityName = "gridlink Sandbox"
)

// User-facing messages.
const (
	msgBadCredentials = "The username or password you entered is incorrect."
	msgLocked         = "This utility account is locked. Reset your password on the utility's website, then try again."
	msgDown           = "The utility's website is unavailable right now. Please try again later."
	msgMFAFailed      = "The code you entered is incorrect. Please try again."
	msgMFARequired    = "The utility asks for a new verification code. Please reconnect your account."
	msgExpired        = "The utility no longer accepts the saved password. Please reconnect your account."
)

// Config configures a Sandbox.
type Config struct {
	// SlowDelay is how long the first fetch of slow@sandbox.test takes
	// (zero: DefaultSlow).
	SlowDelay time.Duration
	// Sleep waits d or until ctx is done, returning ctx.Err() in the latter
	// case (nil: a real timer).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Sandbox is the simulated utility. It implements connector.Connector and
// connector.MFA and is safe for concurrent use.
type Sandbox struct {
	pelm      bool // only the Pelm sandbox user, as PG&E
	slowDelay time.Duration
	sleep     func(ctx context.Context, d time.Duration) error
	loc       *time.Location
}

var (
	_ connector.Connector = (*Sandbox)(nil)
	_ connector.MFA       = (*Sandbox)(nil)
)

// New returns the "gridlink Sandbox" utility with all scenario logins.
func New(cfg Config) *Sandbox { return newSandbox(cfg, false) }

// NewPelm returns "Pacific Gas and Electric" as Pelm's sandbox: only
// user@pelm.com / password logs in; every other login is rejected as wrong
// credentials.
func NewPelm(cfg Config) *Sandbox { return newSandbox(cfg, true) }

func newSandbox(cfg Config, pelm bool) *Sandbox {
	s := &Sandbox{pelm: pelm, slowDelay: cfg.SlowDelay, sleep: cfg.Sleep}
	if s.slowDelay <= 0 {
		s.slowDelay = DefaultSlow
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		// Cannot happen: time/tzdata is linked in. Pacific Standard Time
		// keeps the sandbox working if it ever did.
		loc = time.FixedZone("PST", -8*3600)
	}
	s.loc = loc
	return s
}

func (s *Sandbox) utilityName() string {
	if s.pelm {
		return pelmUtilityName
	}
	return sandboxUtilityName
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scenario is what a username does.
type scenario int

const (
	scNormal scenario = iota
	scMFA
	scExpire
	scSlow
	scBig
	scCustom
)

// authenticate checks a login and returns the normalized username and its
// scenario.
func (s *Sandbox) authenticate(c connector.Credentials) (string, scenario, error) {
	user := strings.ToLower(strings.TrimSpace(c.Username))
	if s.pelm {
		if user == PelmUser && c.Password == Password {
			return user, scNormal, nil
		}
		return "", 0, connector.Errorf(connector.KindBadCredentials, msgBadCredentials)
	}
	var sc scenario
	switch user {
	case LockedUser:
		return "", 0, connector.Errorf(connector.KindBadCredentials, msgLocked)
	case DownUser:
		return "", 0, connector.Errorf(connector.KindUnavailable, msgDown)
	case CustomUser:
		if utf8.RuneCountInString(c.Password) >= CustomMinPassword {
			return user, scCustom, nil
		}
		return "", 0, connector.Errorf(connector.KindBadCredentials, msgBadCredentials)
	case PelmUser:
		sc = scNormal
	case MFAUser:
		sc = scMFA
	case ExpireUser:
		sc = scExpire
	case SlowUser:
		sc = scSlow
	case BigUser:
		sc = scBig
	default:
		return "", 0, connector.Errorf(connector.KindBadCredentials, msgBadCredentials)
	}
	if c.Password != Password {
		return "", 0, connector.Errorf(connector.KindBadCredentials, msgBadCredentials)
	}
	return user, sc, nil
}

// session is the opaque upstream session (and, with Step "mfa", the MFA
// challenge state). It names its user so that a session of another login
// is ignored.
type session struct {
	V       int    `json:"v"`
	User    string `json:"user"`
	Step    string `json:"step,omitempty"` // "mfa": waiting for the code
	MFA     bool   `json:"mfa,omitempty"`  // the code was accepted
	Fetches int    `json:"fetches"`
}

func (ss session) encode() []byte {
	b, err := json.Marshal(ss)
	if err != nil {
		panic(err) // a struct of strings, ints and bools always marshals
	}
	return b
}

// decodeSession returns the session in b if it is a valid one of user, and
// a fresh one otherwise (as a utility site would start a new session).
func decodeSession(b []byte, user string) session {
	var ss session
	if len(b) == 0 || json.Unmarshal(b, &ss) != nil || ss.V != 1 || ss.User != user || ss.Step != "" || ss.Fetches < 0 {
		return session{V: 1, User: user}
	}
	return ss
}

// Login checks the credentials. mfa@sandbox.test gets a Challenge; every
// other accepted login gets a session.
func (s *Sandbox) Login(ctx context.Context, c connector.Credentials) (connector.Login, error) {
	if err := ctx.Err(); err != nil {
		return connector.Login{}, fmt.Errorf("sandbox login: %w", err)
	}
	user, sc, err := s.authenticate(c)
	if err != nil {
		return connector.Login{}, err
	}
	if sc == scMFA {
		return connector.Login{Challenge: &connector.Challenge{
			Prompt: MFAPrompt,
			State:  session{V: 1, User: user, Step: "mfa"}.encode(),
		}}, nil
	}
	return connector.Login{Session: session{V: 1, User: user}.encode()}, nil
}

// SubmitMFA completes the login of mfa@sandbox.test: MFACode passes, any
// other code is KindMFAFailed and the same state may be submitted again.
func (s *Sandbox) SubmitMFA(ctx context.Context, c connector.Credentials, state []byte, code string) (connector.Login, error) {
	if err := ctx.Err(); err != nil {
		return connector.Login{}, fmt.Errorf("sandbox mfa: %w", err)
	}
	user, sc, err := s.authenticate(c)
	if err != nil {
		return connector.Login{}, err
	}
	var st session
	if sc != scMFA || json.Unmarshal(state, &st) != nil || st.V != 1 || st.Step != "mfa" || st.User != user {
		return connector.Login{}, connector.Errorf(connector.KindInternal, "The verification step expired. Please start again.")
	}
	if strings.TrimSpace(code) != MFACode {
		return connector.Login{}, connector.Errorf(connector.KindMFAFailed, msgMFAFailed)
	}
	return connector.Login{Session: session{V: 1, User: user, MFA: true}.encode()}, nil
}

// Fetch logs in again with the stored credentials and returns the user's
// generated accounts, intervals and bills. Scenario effects:
// mfa@ needs the session from SubmitMFA (else KindMFARequired); expire@
// succeeds once, then every fetch is KindBadCredentials; slow@ waits
// SlowDelay on its first fetch.
func (s *Sandbox) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox fetch: %w", err)
	}
	if req.Now.IsZero() {
		return nil, connector.Errorf(connector.KindInternal, "The sandbox needs the current time.")
	}
	user, sc, err := s.authenticate(req.Credentials)
	if err != nil {
		return nil, err
	}
	ss := decodeSession(req.Session, user)
	switch {
	case sc == scMFA && !ss.MFA:
		return nil, connector.Errorf(connector.KindMFARequired, msgMFARequired)
	case sc == scExpire && ss.Fetches >= 1:
		return nil, connector.Errorf(connector.KindBadCredentials, msgExpired)
	case sc == scSlow && ss.Fetches == 0:
		if err := s.sleep(ctx, s.slowDelay); err != nil {
			return nil, fmt.Errorf("sandbox fetch: %w", err)
		}
	}
	accounts := s.generate(user, sc, req.Now, req.Since)
	ss.Fetches++
	return &connector.Data{Accounts: accounts, Session: ss.encode()}, nil
}
