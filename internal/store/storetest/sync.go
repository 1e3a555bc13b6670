package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// connectTo connects user userID of clientID under rowID to utilityID.
func (e *env) connectTo(clientID, userID, rowID string, utilityID int64) gridlink.User {
	e.t.Helper()
	secret := "sync-" + rowID
	e.session(clientID, userID, secret, false)
	c := completion(clientID, userID, rowID, secret)
	c.User.UtilityID = utilityID
	u, err := e.st.CompleteConnect(e.ctx, c)
	e.noErr("complete connect "+secret, err)
	return u
}

// syncing is the state BeginSync records for an attempt started at t.
func syncing(t time.Time) gridlink.SyncState {
	return gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: ptr(t)}
}

// testDataThrough: per account, the end of the newest reading over its
// meters; accounts without readings and other users' accounts are absent.
func testDataThrough(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	other := e.connect("c", "bob", "row-2", "s2")

	got, err := e.st.DataThrough(e.ctx, u.RowID)
	e.noErr("data through without accounts", err)
	e.diff("data through without accounts", got, map[string]int64{})
	e.sameAccountsThrough(u.RowID)

	a1, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, account("acc-2", "ext-2"))
	e.noErr("upsert account", err)
	b1, err := e.st.UpsertAccount(e.ctx, other.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	const base = int64(1_740_000_000)
	// acc-1: hourly electric through base+48h, daily gas through base+3d
	// (a daily reading that starts earlier but ends later wins on its
	// meter only if it is the meter's newest).
	e.noErr("electric", e.st.UpsertIntervals(e.ctx, u.RowID, a1.Meters[0].ID, hourly(base, 48, 1)))
	gas := []gridlink.Interval{
		{Start: base, End: base + 86400, Usage: 1},
		{Start: base + 86400, End: base + 2*86400, Usage: 1},
		{Start: base + 2*86400, End: base + 3*86400, Usage: 1},
	}
	e.noErr("gas", e.st.UpsertIntervals(e.ctx, u.RowID, a1.Meters[1].ID, gas))
	// acc-2 has no readings; bob's account has newer ones.
	e.noErr("bob", e.st.UpsertIntervals(e.ctx, other.RowID, b1.Meters[0].ID, hourly(base, 24*30, 1)))

	got, err = e.st.DataThrough(e.ctx, u.RowID)
	e.noErr("data through", err)
	e.diff("data through", got, map[string]int64{a1.ID: base + 3*86400})
	e.sameAccountsThrough(u.RowID)
	e.sameAccountsThrough(other.RowID)

	// A late reading on the electric meter moves its account forward.
	e.noErr("electric", e.st.UpsertIntervals(e.ctx, u.RowID, a1.Meters[0].ID, hourly(base+100*3600, 1, 1)))
	got, err = e.st.DataThrough(e.ctx, u.RowID)
	e.noErr("data through", err)
	e.diff("data through after a newer reading", got, map[string]int64{a1.ID: base + 101*3600})
	e.sameAccountsThrough(u.RowID)

	got, err = e.st.DataThrough(e.ctx, "no-such-row")
	e.noErr("data through of an unknown user", err)
	e.diff("data through of an unknown user", got, map[string]int64{})
	e.sameAccountsThrough("no-such-row")
}

// sameAccountsThrough checks that AccountsThrough answers what Accounts
// and DataThrough answer.
func (e *env) sameAccountsThrough(userRowID string) {
	e.t.Helper()
	accs, through, err := e.st.AccountsThrough(e.ctx, userRowID)
	e.noErr("accounts through", err)
	wantAccs, err := e.st.Accounts(e.ctx, userRowID)
	e.noErr("accounts", err)
	wantThrough, err := e.st.DataThrough(e.ctx, userRowID)
	e.noErr("data through", err)
	e.diff("accounts through: accounts", accs, wantAccs)
	e.diff("accounts through: data through", through, wantThrough)
}

// testDueForSync: which users the scheduler picks up, paged by row id.
func testDueForSync(t *testing.T, e *env) {
	e.client("c")
	now := at(24 * time.Hour)
	stale := now.Add(-time.Hour)
	type user struct {
		rowID string
		st    *gridlink.SyncState // nil: as connected (pending, nothing set)
		valid bool
		due   bool
	}
	users := []user{
		{"row-01", nil, true, true}, // never synced
		{"row-02", &gridlink.SyncState{Status: gridlink.SyncOK, NextAttemptAt: ptr(now.Add(-time.Second))}, true, true},
		{"row-03", &gridlink.SyncState{Status: gridlink.SyncOK, NextAttemptAt: ptr(now)}, true, true},
		{"row-04", &gridlink.SyncState{Status: gridlink.SyncOK, NextAttemptAt: ptr(now.Add(time.Second))}, true, false},
		{"row-05", &gridlink.SyncState{Status: gridlink.SyncFailing, NextAttemptAt: ptr(now.Add(-time.Minute))}, true, true},
		{"row-06", &gridlink.SyncState{Status: gridlink.SyncFailing, NextAttemptAt: ptr(now.Add(time.Minute))}, true, false},
		{"row-07", &gridlink.SyncState{Status: gridlink.SyncNeedsReauth}, false, false},
		{"row-08", &gridlink.SyncState{Status: gridlink.SyncOK, NextAttemptAt: ptr(now.Add(-time.Hour))}, false, false},
		{"row-09", &gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: ptr(now.Add(-time.Minute))}, true, false},
		{"row-10", &gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: ptr(stale.Add(-time.Second))}, true, true},
		{"row-11", &gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: ptr(stale)}, true, false},
	}
	var want []string
	for i, u := range users {
		e.connect("c", fmt.Sprintf("user-%d", i), u.rowID, "s"+u.rowID)
		if u.st != nil {
			e.noErr("set sync state", e.st.SetSyncState(e.ctx, u.rowID, *u.st))
		}
		if !u.valid {
			e.noErr("set credentials valid", e.st.SetCredentialsValid(e.ctx, u.rowID, false))
		}
		if u.due {
			want = append(want, u.rowID)
		}
	}

	got, err := e.st.DueForSync(e.ctx, now, stale, "", 100)
	e.noErr("due for sync", err)
	e.diff("due users", got, want)

	// Pages of two, each starting after the last row id of the previous.
	var paged []string
	after := ""
	for range len(users) {
		page, err := e.st.DueForSync(e.ctx, now, stale, after, 2)
		e.noErr("due for sync page", err)
		if len(page) > 2 {
			t.Fatalf("page of %d rows with limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	e.diff("due users, paged", paged, want)
}

// testBeginSync: slot claims per utility, stale claims, re-claims and
// release.
func testBeginSync(t *testing.T, e *env) {
	e.client("c")
	now := at(time.Hour)
	stale := now.Add(-10 * time.Minute)
	for i := range 4 {
		e.connectTo("c", fmt.Sprintf("u%d", i), fmt.Sprintf("row-%d", i), 7)
	}
	e.connectTo("c", "other", "row-other", 8)

	claim := func(rowID string, limit int) bool {
		t.Helper()
		ok, err := e.st.BeginSync(e.ctx, rowID, syncing(now), limit, stale)
		e.noErr("begin sync "+rowID, err)
		return ok
	}
	if !claim("row-0", 2) || !claim("row-1", 2) {
		t.Fatal("the first two claims of a utility with two slots failed")
	}
	before, err := e.st.UserByRowID(e.ctx, "row-2")
	e.noErr("user", err)
	if claim("row-2", 2) {
		t.Fatal("a third claim succeeded with two slots")
	}
	after, err := e.st.UserByRowID(e.ctx, "row-2")
	e.noErr("user", err)
	e.diff("sync state after a refused claim", after.Sync, before.Sync)

	// The state is recorded whole on success.
	got, err := e.st.UserByRowID(e.ctx, "row-0")
	e.noErr("user", err)
	e.diff("sync state after a claim", got.Sync, syncing(now))

	// Another utility has its own slots; a user re-claims its own slot
	// (a job run again after its process died); no limit means none.
	if !claim("row-other", 2) {
		t.Error("claim on another utility refused")
	}
	if !claim("row-0", 2) {
		t.Error("a user's claim refused because of its own slot")
	}
	if !claim("row-3", 0) {
		t.Error("claim with no limit refused")
	}

	// Finishing (any status but syncing) frees the slot.
	e.noErr("finish", e.st.SetSyncState(e.ctx, "row-1", gridlink.SyncState{Status: gridlink.SyncOK, LastAttemptAt: ptr(now)}))
	e.noErr("finish", e.st.SetSyncState(e.ctx, "row-3", gridlink.SyncState{Status: gridlink.SyncFailing, LastAttemptAt: ptr(now)}))
	if !claim("row-2", 2) {
		t.Error("claim refused after a slot was freed")
	}
	// A claim older than staleBefore is a dead attempt: it frees its slot.
	e.noErr("age", e.st.SetSyncState(e.ctx, "row-0", syncing(stale.Add(-time.Second))))
	if !claim("row-1", 2) {
		t.Error("claim refused though one slot is held by a dead attempt")
	}
	e.noErr("age", e.st.SetSyncState(e.ctx, "row-0", syncing(stale)))
	e.noErr("finish", e.st.SetSyncState(e.ctx, "row-1", gridlink.SyncState{Status: gridlink.SyncOK}))
	e.noErr("finish", e.st.SetSyncState(e.ctx, "row-3", gridlink.SyncState{Status: gridlink.SyncOK}))
	// row-0 (at staleBefore exactly: alive) and row-2 hold both slots.
	if claim("row-3", 2) {
		t.Error("claim succeeded though a claim made exactly at staleBefore still counts")
	}

	_, err = e.st.BeginSync(e.ctx, "no-such-row", syncing(now), 2, stale)
	e.wantErr("begin sync of an unknown user", err, store.ErrNotFound)
}

// testBeginSyncConcurrent: 40 users of one utility claim at once, twice
// over, with 3 slots: exactly 3 claims succeed each round.
func testBeginSyncConcurrent(t *testing.T, e *env) {
	const n, limit = 40, 3
	e.client("c")
	now := at(time.Hour)
	for i := range n {
		e.connectTo("c", fmt.Sprintf("u%02d", i), fmt.Sprintf("row-%02d", i), 7)
	}
	for round := range 2 {
		var won atomic.Int32
		var mu sync.Mutex
		var winners []string
		errs := parallel(n, func(i int) error {
			row := fmt.Sprintf("row-%02d", i)
			ok, err := e.st.BeginSync(e.ctx, row, syncing(now), limit, now.Add(-time.Hour))
			if ok {
				won.Add(1)
				mu.Lock()
				winners = append(winners, row)
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, goroutine %d: %v", round, i, err)
			}
		}
		if got := won.Load(); got != limit {
			t.Fatalf("round %d: %d concurrent claims succeeded, want %d", round, got, limit)
		}
		for _, row := range winners {
			e.noErr("finish", e.st.SetSyncState(e.ctx, row, gridlink.SyncState{Status: gridlink.SyncOK}))
		}
	}
}

// testDataVersion: the user's data version changes with every change to
// its accounts, meters or intervals (and only to that user), not when an
// upsert of an account or of readings changes nothing, and every read of
// the user shows it.
func testDataVersion(t *testing.T, e *env) {
	e.client("c")
	u, tok := e.login("c", "alice", "row-1", "s1")
	other := e.connect("c", "bob", "row-2", "s2")
	version := func(rowID string) int64 {
		t.Helper()
		got, err := e.st.UserByRowID(e.ctx, rowID)
		e.noErr("user by row id", err)
		return got.DataVersion
	}
	seen := map[int64]string{}
	changed := func(what string, before int64) int64 {
		t.Helper()
		v := version(u.RowID)
		if v == before {
			t.Fatalf("%s: data version stayed %d", what, v)
		}
		if prev, ok := seen[v]; ok {
			t.Fatalf("%s: data version %d came back (first after %s)", what, v, prev)
		}
		seen[v] = what
		return v
	}
	same := func(what string, want int64) {
		t.Helper()
		if v := version(u.RowID); v != want {
			t.Fatalf("%s: data version changed from %d to %d", what, want, v)
		}
	}
	v := version(u.RowID)
	seen[v] = "connect"
	otherV := version(other.RowID)

	a, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	v = changed("new account", v)
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert the same account", err)
	same("the same account again", v)
	acc := account("acc-1", "ext-1")
	acc.Address = "2 Elm St"
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, acc)
	e.noErr("upsert account again", err)
	v = changed("account address changed", v)

	const base = int64(1_740_000_000)
	el := a.Meters[0].ID
	e.noErr("intervals", e.st.UpsertIntervals(e.ctx, u.RowID, el, hourly(base, 48, 1)))
	v = changed("new readings", v)
	e.noErr("same intervals", e.st.UpsertIntervals(e.ctx, u.RowID, el, hourly(base, 48, 1)))
	same("the same readings again", v)
	e.noErr("no intervals", e.st.UpsertIntervals(e.ctx, u.RowID, el, nil))
	same("no readings", v)
	e.noErr("one changed reading", e.st.UpsertIntervals(e.ctx, u.RowID, el, hourly(base+3600, 1, 99)))
	v = changed("one changed reading", v)

	if got := version(other.RowID); got != otherV {
		t.Fatalf("another user's data version changed from %d to %d", otherV, got)
	}
	_, tu, err := e.st.TokenUser(e.ctx, tok)
	e.noErr("token user", err)
	if tu.DataVersion != v {
		t.Fatalf("TokenUser shows data version %d, UserByRowID %d", tu.DataVersion, v)
	}
	g, err := e.st.TokenGrant(e.ctx, tok, u.ClientID)
	e.noErr("token grant", err)
	if g.DataVersion != v {
		t.Fatalf("TokenGrant shows data version %d, UserByRowID %d", g.DataVersion, v)
	}
}

// testIntervalSpans: per meter with readings, the starts of its oldest
// and newest reading; other users' meters are absent.
func testIntervalSpans(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	other := e.connect("c", "bob", "row-2", "s2")
	got, err := e.st.IntervalSpans(e.ctx, u.RowID)
	e.noErr("spans without meters", err)
	e.diff("spans without meters", got, map[string]store.Span{})

	a, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	b, err := e.st.UpsertAccount(e.ctx, other.RowID, account("acc-9", "ext-9"))
	e.noErr("upsert account", err)
	const base = int64(1_740_000_000)
	e.noErr("electric", e.st.UpsertIntervals(e.ctx, u.RowID, a.Meters[0].ID, hourly(base, 48, 1)))
	e.noErr("early reading", e.st.UpsertIntervals(e.ctx, u.RowID, a.Meters[0].ID, hourly(base-30*86400, 1, 1)))
	e.noErr("bob", e.st.UpsertIntervals(e.ctx, other.RowID, b.Meters[0].ID, hourly(base, 1, 1)))

	got, err = e.st.IntervalSpans(e.ctx, u.RowID)
	e.noErr("spans", err)
	e.diff("spans", got, map[string]store.Span{a.Meters[0].ID: {First: base - 30*86400, Last: base + 47*3600}})
}
