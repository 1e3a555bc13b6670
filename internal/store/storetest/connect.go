package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

func testClients(t *testing.T, e *env) {
	_, err := e.st.Client(e.ctx, "nope")
	e.wantErr("unknown client", err, store.ErrNotFound)
	got, err := e.st.Clients(e.ctx)
	e.noErr("list empty", err)
	e.diff("clients of an empty store", got, []gridlink.Client(nil))

	// Creation order, not id order: "b" is created before "a" at the same
	// second, "c" later.
	b := e.client("b")
	a := e.client("a")
	c := gridlink.Client{ID: "c", SecretHash: digest("c"), Name: "C", CreatedAt: at(time.Hour)}
	e.noErr("create client without URIs", e.st.CreateClient(e.ctx, c))

	gotA, err := e.st.Client(e.ctx, "a")
	e.noErr("get client", err)
	e.diff("client a", gotA, a)
	gotC, err := e.st.Client(e.ctx, "c")
	e.noErr("get client", err)
	e.diff("client c", gotC, c)

	dup := a
	dup.Name = "Impostor"
	e.wantErr("duplicate client id", e.st.CreateClient(e.ctx, dup), store.ErrConflict)
	gotA, err = e.st.Client(e.ctx, "a")
	e.noErr("get client", err)
	e.diff("client a after a refused duplicate", gotA, a)

	all, err := e.st.Clients(e.ctx)
	e.noErr("list clients", err)
	e.diff("clients in creation order", all, []gridlink.Client{b, a, c})

	e.noErr("set secret", e.st.SetClientSecret(e.ctx, "a", digest("rotated")))
	gotA, err = e.st.Client(e.ctx, "a")
	e.noErr("get client", err)
	a.SecretHash = digest("rotated")
	e.diff("client a after rotation", gotA, a)
	e.wantErr("set secret of unknown client", e.st.SetClientSecret(e.ctx, "nope", digest("x")), store.ErrNotFound)

	// UpdateClient changes name and URIs, never the secret or creation time.
	upd := a
	upd.Name, upd.RedirectURIs, upd.Origins = "A Renamed", []string{"https://new.example/cb"}, []string{"https://new.example"}
	upd.SecretHash, upd.CreatedAt = digest("ignored"), at(99*time.Hour)
	e.noErr("update client", e.st.UpdateClient(e.ctx, upd))
	gotA, err = e.st.Client(e.ctx, "a")
	e.noErr("get client", err)
	a.Name, a.RedirectURIs, a.Origins = upd.Name, upd.RedirectURIs, upd.Origins
	e.diff("client a after update", gotA, a)
	e.wantErr("update unknown client", e.st.UpdateClient(e.ctx, gridlink.Client{ID: "nope"}), store.ErrNotFound)

	e.noErr("delete client", e.st.DeleteClient(e.ctx, "b"))
	_, err = e.st.Client(e.ctx, "b")
	e.wantErr("deleted client", err, store.ErrNotFound)
	e.wantErr("delete unknown client", e.st.DeleteClient(e.ctx, "b"), store.ErrNotFound)
	all, err = e.st.Clients(e.ctx)
	e.noErr("list clients", err)
	e.diff("clients after delete", all, []gridlink.Client{a, c})
}

func testDeleteClientCascades(t *testing.T, e *env) {
	e.client("doomed")
	e.client("other")
	doomed, doomedToken := e.login("doomed", "alice", "row-doomed", "d1")
	other, otherToken := e.login("other", "alice", "row-other", "o1")
	pending := e.connect("doomed", "bob", "row-doomed-bob", "d2") // unredeemed code
	e.session("doomed", "carol", "d3", false)                     // unfinished session
	for _, u := range []gridlink.User{doomed, other} {
		acc, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
		e.noErr("upsert account", err)
		e.noErr("upsert intervals", e.st.UpsertIntervals(e.ctx, u.RowID, acc.Meters[0].ID, hourly(1_700_000_000, 3, 1)))
		_, err = e.st.UpsertBill(e.ctx, u.RowID, gridlink.Bill{ID: "bill-1", AccountID: acc.ID, ExternalID: "b1"}, []byte("%PDF-1"))
		e.noErr("upsert bill", err)
	}

	e.noErr("delete client", e.st.DeleteClient(e.ctx, "doomed"))

	_, err := e.st.User(e.ctx, "doomed", "alice")
	e.wantErr("user of deleted client", err, store.ErrNotFound)
	for _, row := range []string{doomed.RowID, pending.RowID} {
		_, err = e.st.UserByRowID(e.ctx, row)
		e.wantErr("user row of deleted client", err, store.ErrNotFound)
	}
	if e.tokenValid(doomedToken, "doomed", doomed.RowID) {
		t.Error("access token of a deleted client still valid")
	}
	_, err = e.st.RedeemCode(e.ctx, digest("code-d2"), "doomed", digest("access-d2"), at(time.Minute))
	e.wantErr("code of deleted client", err, store.ErrNotFound)
	for _, id := range []string{"sess-d1", "sess-d2", "sess-d3"} {
		_, err = e.st.ConnectSession(e.ctx, id)
		e.wantErr("session of deleted client", err, store.ErrNotFound)
	}
	accs, err := e.st.Accounts(e.ctx, doomed.RowID)
	e.noErr("accounts", err)
	e.diff("accounts of deleted client's user", accs, []gridlink.Account(nil))
	_, err = e.st.Bill(e.ctx, doomed.RowID, "bill-1")
	e.wantErr("bill of deleted client's user", err, store.ErrNotFound)
	_, err = e.st.BillPDF(e.ctx, doomed.RowID, "bill-1")
	e.wantErr("bill pdf of deleted client's user", err, store.ErrNotFound)

	// The other client is untouched.
	if !e.tokenValid(otherToken, "other", other.RowID) {
		t.Error("other client's token revoked")
	}
	accs, err = e.st.Accounts(e.ctx, other.RowID)
	e.noErr("accounts", err)
	if len(accs) != 1 || len(e.intervals(other.RowID, "acc-1-el", 0, 2_000_000_000)) != 3 {
		t.Errorf("other client's data damaged: %d accounts", len(accs))
	}
	if pdf, err := e.st.BillPDF(e.ctx, other.RowID, "bill-1"); err != nil || string(pdf) != "%PDF-1" {
		t.Errorf("other client's bill pdf = %q, %v", pdf, err)
	}

	// The id can be registered again, starting empty, and the same user id
	// connects as a new user.
	e.client("doomed")
	again := e.connect("doomed", "alice", "row-doomed-2", "d4")
	if again.RowID != "row-doomed-2" {
		t.Errorf("recreated user row = %q", again.RowID)
	}
}

func testConnectSessions(t *testing.T, e *env) {
	e.client("c")
	_, err := e.st.ConnectSession(e.ctx, "nope")
	e.wantErr("unknown session", err, store.ErrNotFound)

	full := store.ConnectSession{
		ID:             "sess-full",
		CookieHash:     digest("cookie"),
		TokenHash:      digest("token"),
		ClientID:       "c",
		UserID:         "user-1",
		UpdateMode:     true,
		TokenUtilityID: 3,
		UtilityID:      3,
		Embedded:       true,
		RedirectURI:    "https://c.example/callback",
		EmbedOrigin:    "https://app.c.example:8443",
		State:          "",
		HasState:       true, // an empty state, not no state
		Step:           store.StepTerms,
		LoginAttempts:  1,
		MFAAttempts:    2,
		Pending:        []byte{0, 1, 2, 255},
		MFAPrompt:      "Enter the code sent to ***-1234",
		Outcome:        "",
		CreatedAt:      t0(),
		ExpiresAt:      at(gridlink.ConnectTokenTTL),
	}
	minimal := store.ConnectSession{
		ID: "sess-min", ClientID: "c", UserID: "user-2", Step: store.StepTerms,
		CreatedAt: t0(), ExpiresAt: at(time.Minute),
	}
	for _, s := range []store.ConnectSession{full, minimal} {
		e.noErr("create session", e.st.CreateConnectSession(e.ctx, s))
		got, err := e.st.ConnectSession(e.ctx, s.ID)
		e.noErr("get session", err)
		e.diff("session "+s.ID, got, s)
	}

	// Only the mutable fields change.
	upd := full
	upd.UtilityID = 9
	upd.Step = store.StepFailed
	upd.LoginAttempts = 5
	upd.MFAAttempts = 0
	upd.Pending = nil
	upd.MFAPrompt = ""
	upd.Outcome = string(gridlink.ConnectMaxAttemptedLogins)
	tampered := upd
	tampered.UserID = "someone-else"
	tampered.ClientID = "other"
	tampered.TokenHash = digest("other-token")
	tampered.RedirectURI = "https://evil.example/"
	tampered.EmbedOrigin = "https://evil.example"
	tampered.State = "changed"
	tampered.ExpiresAt = at(100 * time.Hour)
	e.noErr("update session", e.st.UpdateConnectSession(e.ctx, tampered))
	got, err := e.st.ConnectSession(e.ctx, full.ID)
	e.noErr("get session", err)
	e.diff("updated session", got, upd)
	if got.Pending != nil {
		t.Errorf("Pending after clearing = %v, want nil", got.Pending)
	}

	e.wantErr("update unknown session", e.st.UpdateConnectSession(e.ctx, store.ConnectSession{ID: "nope", Step: store.StepDone}), store.ErrNotFound)
}

func testPurgeConnectSessions(t *testing.T, e *env) {
	e.client("c")
	cutoff := at(45 * time.Minute)
	// Completed, with a used token; expired before the cutoff.
	u := e.connect("c", "user-1", "row-1", "old")
	atCutoff := store.ConnectSession{
		ID: "sess-at-cutoff", ClientID: "c", UserID: "user-2", Step: store.StepTerms,
		CreatedAt: t0(), ExpiresAt: cutoff,
	}
	live := store.ConnectSession{
		ID: "sess-live", ClientID: "c", UserID: "user-3", Step: store.StepTerms,
		CreatedAt: t0(), ExpiresAt: at(2 * time.Hour),
	}
	for _, s := range []store.ConnectSession{atCutoff, live} {
		e.noErr("create session "+s.ID, e.st.CreateConnectSession(e.ctx, s))
	}

	n, err := e.st.PurgeConnectSessions(e.ctx, cutoff)
	e.noErr("purge", err)
	if n != 1 {
		t.Errorf("purged %d sessions, want 1", n)
	}
	_, err = e.st.ConnectSession(e.ctx, "sess-old")
	e.wantErr("get purged session", err, store.ErrNotFound)
	for _, s := range []store.ConnectSession{atCutoff, live} {
		got, err := e.st.ConnectSession(e.ctx, s.ID)
		e.noErr("get kept session "+s.ID, err)
		e.diff("kept session "+s.ID, got, s)
	}
	// The user the purged session connected stays.
	got, err := e.st.UserByRowID(e.ctx, "row-1")
	e.noErr("user after purge", err)
	e.diff("user after purge", got, u)

	n, err = e.st.PurgeConnectSessions(e.ctx, cutoff)
	e.noErr("purge again", err)
	if n != 0 {
		t.Errorf("second purge deleted %d sessions, want 0", n)
	}
}

func testCompleteConnectCreate(t *testing.T, e *env) {
	e.client("c")
	s := e.session("c", "alice", "s1", false)
	c := completion("c", "alice", "row-1", "s1")
	c.Now = at(5 * time.Minute)
	c.CodeExpiresAt = at(15 * time.Minute)
	u, err := e.st.CompleteConnect(e.ctx, c)
	e.noErr("complete connect", err)
	want := gridlink.User{
		RowID:            "row-1",
		ClientID:         "c",
		ID:               "alice",
		UtilityID:        7,
		UtilityUsername:  "login-alice",
		CredentialsValid: true,
		Credential:       []byte("sealed-s1"),
		CreatedAt:        at(5 * time.Minute),
		UpdatedAt:        at(5 * time.Minute),
		Sync:             gridlink.SyncState{Status: gridlink.SyncPending},
	}
	e.diff("created user", u, want)
	byID, err := e.st.User(e.ctx, "c", "alice")
	e.noErr("user", err)
	e.diff("user by id", byID, want)
	byRow, err := e.st.UserByRowID(e.ctx, "row-1")
	e.noErr("user by row", err)
	e.diff("user by row id", byRow, want)

	gotS, err := e.st.ConnectSession(e.ctx, s.ID)
	e.noErr("session", err)
	s.Step = store.StepDone
	s.Pending = []byte("sealed-code-s1")
	e.diff("completed session", gotS, s)

	// The code is bound to the client and redeemable until it expires.
	ru, err := e.st.RedeemCode(e.ctx, c.CodeHash, "c", digest("access"), at(14*time.Minute))
	e.noErr("redeem", err)
	e.diff("user from code", ru, want)

	// A nil Pending clears the session's.
	e.session("c", "bob", "s2", false)
	e.noErr("set pending", e.st.UpdateConnectSession(e.ctx, store.ConnectSession{ID: "sess-s2", UtilityID: 7, Step: store.StepMFA, Pending: []byte("typed")}))
	c2 := completion("c", "bob", "row-2", "s2")
	c2.Pending = nil
	_, err = e.st.CompleteConnect(e.ctx, c2)
	e.noErr("complete connect", err)
	gotS, err = e.st.ConnectSession(e.ctx, "sess-s2")
	e.noErr("session", err)
	if gotS.Step != store.StepDone || gotS.Pending != nil {
		t.Errorf("session after completion with nil Pending: step %q, pending %q", gotS.Step, gotS.Pending)
	}

	// The same user id under another client is another user.
	e.client("d")
	other := e.connect("d", "alice", "row-3", "s3")
	if other.ClientID != "d" || other.RowID != "row-3" {
		t.Errorf("alice of client d = %+v", other)
	}
	first, err := e.st.User(e.ctx, "c", "alice")
	e.noErr("user", err)
	if first.RowID != "row-1" {
		t.Errorf("alice of client c now has row %q", first.RowID)
	}
	_, err = e.st.User(e.ctx, "d", "bob")
	e.wantErr("bob of client d", err, store.ErrNotFound)
}

func testCompleteConnectUpdate(t *testing.T, e *env) {
	e.client("c")
	orig, token := e.login("c", "alice", "row-1", "s1")
	acc, err := e.st.UpsertAccount(e.ctx, orig.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	e.noErr("invalidate credentials", e.st.SetCredentialsValid(e.ctx, orig.RowID, false))
	before, err := e.st.UserByRowID(e.ctx, orig.RowID)
	e.noErr("user before update", err)

	s := e.session("c", "alice", "s2", true)
	c := completion("c", "alice", orig.RowID, "s2")
	c.User.UtilityID = 8
	c.User.UtilityUsername = "new-login"
	c.User.Credential = []byte("sealed-new")
	c.User.CredentialsValid = false // the store sets it true regardless
	c.Now = at(time.Hour)
	c.CodeExpiresAt = at(time.Hour + gridlink.CodeTTL)
	u, err := e.st.CompleteConnect(e.ctx, c)
	e.noErr("complete connect (update)", err)

	want := orig
	want.UtilityID = 8
	want.UtilityUsername = "new-login"
	want.Credential = []byte("sealed-new")
	want.CredentialsValid = true
	want.UpdatedAt = at(time.Hour)
	want.DataVersion = before.DataVersion // the data is kept, and so is its version
	e.diff("updated user", u, want)
	if !u.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("CreatedAt changed: %v -> %v", orig.CreatedAt, u.CreatedAt)
	}

	// Access tokens and data are kept.
	if !e.tokenValid(token, "c", orig.RowID) {
		t.Error("update mode revoked the existing access token")
	}
	_, tu, err := e.st.TokenUser(e.ctx, token)
	e.noErr("token user", err)
	e.diff("user seen through the old token", tu, withoutCredential(want))
	accs, err := e.st.Accounts(e.ctx, orig.RowID)
	e.noErr("accounts", err)
	e.diff("accounts kept", accs, []gridlink.Account{acc})

	gotS, err := e.st.ConnectSession(e.ctx, s.ID)
	e.noErr("session", err)
	if gotS.Step != store.StepDone {
		t.Errorf("update session step = %q", gotS.Step)
	}

	// The new code gives a second token; both work.
	_, err = e.st.RedeemCode(e.ctx, c.CodeHash, "c", digest("access-2"), at(time.Hour+time.Minute))
	e.noErr("redeem update code", err)
	if !e.tokenValid(token, "c", orig.RowID) || !e.tokenValid(digest("access-2"), "c", orig.RowID) {
		t.Error("after update mode, both tokens should be live")
	}
}

func testCompleteConnectTokenReuse(t *testing.T, e *env) {
	e.client("c")
	first := e.connect("c", "alice", "row-1", "s1")

	// A second session started from the same connect token.
	e.session("c", "bob", "s2", false)
	c := completion("c", "bob", "row-2", "s2")
	c.TokenHash = digest("token-s1")
	_, err := e.st.CompleteConnect(e.ctx, c)
	e.wantErr("second completion with one token", err, store.ErrConflict)

	// Nothing of the refused completion remains.
	_, err = e.st.User(e.ctx, "c", "bob")
	e.wantErr("user of refused completion", err, store.ErrNotFound)
	_, err = e.st.UserByRowID(e.ctx, "row-2")
	e.wantErr("user row of refused completion", err, store.ErrNotFound)
	s2, err := e.st.ConnectSession(e.ctx, "sess-s2")
	e.noErr("session", err)
	if s2.Step == store.StepDone {
		t.Error("refused completion marked its session done")
	}
	_, err = e.st.RedeemCode(e.ctx, c.CodeHash, "c", digest("access-2"), at(time.Minute))
	e.wantErr("code of refused completion", err, store.ErrNotFound)

	// The same session retried with its own token works.
	e.noErr("complete", func() error {
		_, err := e.st.CompleteConnect(e.ctx, completion("c", "bob", "row-2", "s2"))
		return err
	}())
	// Update mode through the first token again is also refused.
	e.session("c", "alice", "s3", true)
	c3 := completion("c", "alice", first.RowID, "s3")
	c3.TokenHash = digest("token-s1")
	_, err = e.st.CompleteConnect(e.ctx, c3)
	e.wantErr("update through a used token", err, store.ErrConflict)
}

func testCompleteConnectUserConflict(t *testing.T, e *env) {
	e.client("c")
	first, token := e.login("c", "alice", "row-1", "s1")

	// Two sessions for a new user raced; the second arrives with a fresh
	// row id for a user that now exists.
	e.session("c", "alice", "s2", false)
	c := completion("c", "alice", "row-2", "s2")
	c.User.UtilityUsername = "racer"
	_, err := e.st.CompleteConnect(e.ctx, c)
	e.wantErr("new row id for an existing user", err, store.ErrConflict)

	got, err := e.st.User(e.ctx, "c", "alice")
	e.noErr("user", err)
	e.diff("existing user untouched", got, first)
	_, err = e.st.UserByRowID(e.ctx, "row-2")
	e.wantErr("losing row", err, store.ErrNotFound)
	if !e.tokenValid(token, "c", "row-1") {
		t.Error("existing token revoked")
	}
	_, err = e.st.RedeemCode(e.ctx, c.CodeHash, "c", digest("access-2"), at(time.Minute))
	e.wantErr("code of refused completion", err, store.ErrNotFound)

	// The refused completion did not consume its connect token: retried in
	// update mode with the existing row it succeeds.
	_, err = e.st.CompleteConnect(e.ctx, completion("c", "alice", "row-1", "s2"))
	e.noErr("retry in update mode", err)
}

func testRedeemCode(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	_, err := e.st.RedeemCode(e.ctx, digest("no such code"), "c", digest("access-x"), at(time.Minute))
	e.wantErr("unknown code", err, store.ErrNotFound)

	got, err := e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-1"), at(time.Minute))
	e.noErr("redeem", err)
	e.diff("user from code", got, u)
	owner, tu, err := e.st.TokenUser(e.ctx, digest("access-1"))
	e.noErr("token user", err)
	if owner != "c" {
		t.Errorf("token client = %q, want c", owner)
	}
	e.diff("token user", tu, withoutCredential(u))

	_, _, err = e.st.TokenUser(e.ctx, digest("never issued"))
	e.wantErr("unknown token", err, store.ErrNotFound)

	g, err := e.st.TokenGrant(e.ctx, digest("access-1"), "c")
	e.noErr("token grant", err)
	e.checkGrant(g, u)
	_, err = e.st.TokenGrant(e.ctx, digest("never issued"), "c")
	e.wantErr("grant of an unknown token", err, store.ErrNotFound)
	// A live token presented with another client's id grants nothing.
	e.client("c2")
	_, err = e.st.TokenGrant(e.ctx, digest("access-1"), "c2")
	e.wantErr("grant of another client's token", err, store.ErrNotFound)
	_, err = e.st.TokenGrant(e.ctx, digest("access-1"), "")
	e.wantErr("grant without a client", err, store.ErrNotFound)
	if e.tokenValid(digest("access-x"), "c", u.RowID) {
		t.Error("a failed redemption stored its token")
	}
}

func testRedeemCodeReplay(t *testing.T, e *env) {
	e.client("c")
	u, first := e.login("c", "alice", "row-1", "s1")
	// Another token of the same user, from another code, is not affected.
	e.session("c", "alice", "s2", true)
	_, err := e.st.CompleteConnect(e.ctx, completion("c", "alice", u.RowID, "s2"))
	e.noErr("update connect", err)
	other := digest("access-s2")
	_, err = e.st.RedeemCode(e.ctx, digest("code-s2"), "c", other, at(time.Minute))
	e.noErr("redeem second code", err)

	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-replay"), at(2*time.Minute))
	e.wantErr("replay", err, store.ErrCodeReplayed)
	if e.tokenValid(first, "c", u.RowID) {
		t.Error("replay left the first token valid")
	}
	if e.tokenValid(digest("access-replay"), "c", u.RowID) {
		t.Error("replay issued a token")
	}
	if !e.tokenValid(other, "c", u.RowID) {
		t.Error("replay revoked a token issued from another code")
	}
	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-replay-2"), at(3*time.Minute))
	e.wantErr("second replay", err, store.ErrCodeReplayed)
	// A replay after expiry still revokes and still says replayed.
	_, err = e.st.RedeemCode(e.ctx, digest("code-s2"), "c", digest("access-late"), at(time.Hour))
	e.wantErr("replay after expiry", err, store.ErrCodeReplayed)
	if e.tokenValid(other, "c", u.RowID) {
		t.Error("late replay left its code's token valid")
	}
}

func testRedeemCodeForeignClient(t *testing.T, e *env) {
	e.client("owner")
	e.client("thief")
	u := e.connect("owner", "alice", "row-1", "s1")

	// Before the owner: refused as unknown, nothing consumed.
	_, err := e.st.RedeemCode(e.ctx, digest("code-s1"), "thief", digest("access-thief"), at(time.Minute))
	e.wantErr("foreign client", err, store.ErrNotFound)
	if e.tokenValid(digest("access-thief"), "thief", u.RowID) {
		t.Error("foreign client got a token")
	}
	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "owner", digest("access-owner"), at(time.Minute))
	e.noErr("owner redeems after a foreign attempt", err)

	// After the owner: still unknown to the thief, and revokes nothing.
	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "thief", digest("access-thief-2"), at(2*time.Minute))
	e.wantErr("foreign client after redemption", err, store.ErrNotFound)
	if !e.tokenValid(digest("access-owner"), "owner", u.RowID) {
		t.Error("a foreign client's attempt revoked the owner's token")
	}
}

func testRedeemCodeExpired(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1") // code valid until t0 + CodeTTL
	_, err := e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-late"), at(gridlink.CodeTTL+time.Second))
	e.wantErr("expired code", err, store.ErrCodeExpired)
	if e.tokenValid(digest("access-late"), "c", u.RowID) {
		t.Error("expired code issued a token")
	}
	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-later"), at(time.Hour))
	e.wantErr("expired code again", err, store.ErrCodeExpired)

	// Nothing changed: at a time before expiry, the code still works.
	_, err = e.st.RedeemCode(e.ctx, digest("code-s1"), "c", digest("access-1"), at(gridlink.CodeTTL-time.Second))
	e.noErr("redeem before expiry", err)
	if !e.tokenValid(digest("access-1"), "c", u.RowID) {
		t.Error("token not live")
	}
}

// testRedeemCodeConcurrent redeems one code from 50 goroutines at once:
// exactly one wins. Every loser finds the code already redeemed, which is a
// replay: per the contract the token issued from it is then revoked.
func testRedeemCodeConcurrent(t *testing.T, e *env) {
	const n = 50
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")

	type result struct {
		token []byte
		user  gridlink.User
		err   error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			token := digest("access-" + string(rune('A'+i)))
			got, err := e.st.RedeemCode(e.ctx, digest("code-s1"), "c", token, at(time.Minute))
			results[i] = result{token, got, err}
		})
	}
	close(start)
	wg.Wait()

	var winners []result
	for _, r := range results {
		switch {
		case r.err == nil:
			winners = append(winners, r)
		case errors.Is(r.err, store.ErrCodeReplayed):
		default:
			t.Errorf("loser error = %v, want ErrCodeReplayed", r.err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1", len(winners), n)
	}
	e.diff("winner's user", winners[0].user, u)
	for _, r := range results {
		if r.err != nil && e.tokenValid(r.token, "c", u.RowID) {
			t.Error("a losing redemption's token is live")
		}
	}
	if e.tokenValid(winners[0].token, "c", u.RowID) {
		t.Error("the code was replayed 49 times, yet the token issued from it is still live")
	}
}

// testRedeemCodesConcurrent redeems 30 different codes from 30 goroutines
// at once, alongside redemptions of an unknown code and of an expired one:
// every valid code wins with its own token live, and the refusals change
// nothing for the others (a store may run concurrent redemptions in one
// transaction).
func testRedeemCodesConcurrent(t *testing.T, e *env) {
	const n = 30
	e.client("c")
	users := make([]gridlink.User, n)
	for i := range n {
		users[i] = e.connect("c", fmt.Sprintf("user-%d", i), fmt.Sprintf("row-%d", i), fmt.Sprintf("s%d", i))
	}
	expired := e.connect("c", "late", "row-late", "late")
	errs := parallel(n+2, func(i int) error {
		switch i {
		case n:
			_, err := e.st.RedeemCode(e.ctx, digest("no-such-code"), "c", digest("access-none"), at(time.Minute))
			return err
		case n + 1:
			_, err := e.st.RedeemCode(e.ctx, digest("code-late"), "c", digest("access-late"), at(time.Hour))
			return err
		}
		u, err := e.st.RedeemCode(e.ctx, digest(fmt.Sprintf("code-s%d", i)), "c", digest(fmt.Sprintf("access-s%d", i)), at(time.Minute))
		if err == nil && u.RowID != users[i].RowID {
			return fmt.Errorf("redeemed for user %s, want %s", u.RowID, users[i].RowID)
		}
		return err
	})
	for i := range n {
		if errs[i] != nil {
			t.Errorf("redemption %d: %v", i, errs[i])
		} else if !e.tokenValid(digest(fmt.Sprintf("access-s%d", i)), "c", users[i].RowID) {
			t.Errorf("redemption %d succeeded but its token is not live", i)
		}
	}
	if !errors.Is(errs[n], store.ErrNotFound) {
		t.Errorf("unknown code: %v, want ErrNotFound", errs[n])
	}
	if !errors.Is(errs[n+1], store.ErrCodeExpired) {
		t.Errorf("expired code: %v, want ErrCodeExpired", errs[n+1])
	}
	if e.tokenValid(digest("access-late"), "c", expired.RowID) {
		t.Error("the expired code's token is live")
	}
}

// withoutCredential is u as TokenUser returns it: without the sealed
// credential.
func withoutCredential(u gridlink.User) gridlink.User {
	u.Credential = nil
	return u
}
