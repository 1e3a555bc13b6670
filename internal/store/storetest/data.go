package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

func testUsers(t *testing.T, e *env) {
	e.client("c")
	e.client("d")
	u := e.connect("c", "alice", "row-1", "s1")
	_, err := e.st.User(e.ctx, "c", "nobody")
	e.wantErr("unknown user", err, store.ErrNotFound)
	_, err = e.st.User(e.ctx, "d", "alice")
	e.wantErr("user of another client", err, store.ErrNotFound)
	_, err = e.st.UserByRowID(e.ctx, "no-row")
	e.wantErr("unknown row", err, store.ErrNotFound)

	want := u
	check := func(what string) {
		t.Helper()
		got, err := e.st.UserByRowID(e.ctx, u.RowID)
		e.noErr(what, err)
		e.diff(what, got, want)
		got, err = e.st.User(e.ctx, "c", "alice")
		e.noErr(what, err)
		e.diff(what+" (by user id)", got, want)
	}

	e.noErr("set credentials invalid", e.st.SetCredentialsValid(e.ctx, u.RowID, false))
	want.CredentialsValid = false
	check("after SetCredentialsValid(false)")
	e.noErr("set credentials valid", e.st.SetCredentialsValid(e.ctx, u.RowID, true))
	want.CredentialsValid = true
	check("after SetCredentialsValid(true)")

	e.noErr("set credential", e.st.SetCredential(e.ctx, u.RowID, []byte("refreshed-session")))
	want.Credential = []byte("refreshed-session")
	check("after SetCredential")

	full := gridlink.SyncState{
		Status:        gridlink.SyncFailing,
		LastSuccessAt: ptr(at(-time.Hour)),
		LastAttemptAt: ptr(at(time.Minute)),
		NextAttemptAt: ptr(at(time.Hour)),
		ErrorCode:     string(gridlink.UtilityUnavailable),
	}
	e.noErr("set sync state", e.st.SetSyncState(e.ctx, u.RowID, full))
	want.Sync = full
	check("after SetSyncState")
	ok := gridlink.SyncState{Status: gridlink.SyncOK, LastSuccessAt: ptr(at(2 * time.Hour)), LastAttemptAt: ptr(at(2 * time.Hour))}
	e.noErr("set sync state", e.st.SetSyncState(e.ctx, u.RowID, ok))
	want.Sync = ok
	check("after SetSyncState clearing fields")

	if want.DataReady {
		t.Fatal("a new user starts with DataReady")
	}
	e.noErr("mark data ready", e.st.MarkDataReady(e.ctx, u.RowID))
	want.DataReady = true
	check("after MarkDataReady")
	e.noErr("mark data ready again", e.st.MarkDataReady(e.ctx, u.RowID))
	check("after a second MarkDataReady")

	for name, err := range map[string]error{
		"SetCredentialsValid": e.st.SetCredentialsValid(e.ctx, "no-row", true),
		"SetCredential":       e.st.SetCredential(e.ctx, "no-row", []byte("x")),
		"SetSyncState":        e.st.SetSyncState(e.ctx, "no-row", ok),
		"MarkDataReady":       e.st.MarkDataReady(e.ctx, "no-row"),
		"DeleteUser":          e.st.DeleteUser(e.ctx, "no-row"),
	} {
		e.wantErr(name+" of unknown row", err, store.ErrNotFound)
	}
}

func testDeleteUser(t *testing.T, e *env) {
	e.client("c")
	u, token := e.login("c", "alice", "row-1", "s1")
	keep, keepToken := e.login("c", "bob", "row-2", "s2")
	// An outstanding code from an update-mode session.
	e.session("c", "alice", "s3", true)
	_, err := e.st.CompleteConnect(e.ctx, completion("c", "alice", u.RowID, "s3"))
	e.noErr("update connect", err)
	for _, row := range []string{u.RowID, keep.RowID} {
		acc, err := e.st.UpsertAccount(e.ctx, row, account("acc-1", "ext-1"))
		e.noErr("upsert account", err)
		e.noErr("upsert intervals", e.st.UpsertIntervals(e.ctx, row, acc.Meters[0].ID, hourly(1_700_000_000, 5, 1)))
		_, err = e.st.UpsertBill(e.ctx, row, gridlink.Bill{ID: "bill-1", AccountID: acc.ID, ExternalID: "b1", StartDate: ptr(int64(1))}, []byte("%PDF"))
		e.noErr("upsert bill", err)
	}

	e.noErr("delete user", e.st.DeleteUser(e.ctx, u.RowID))

	_, err = e.st.UserByRowID(e.ctx, u.RowID)
	e.wantErr("deleted user by row", err, store.ErrNotFound)
	_, err = e.st.User(e.ctx, "c", "alice")
	e.wantErr("deleted user", err, store.ErrNotFound)
	if e.tokenValid(token, "c", u.RowID) {
		t.Error("deleted user's token still valid")
	}
	_, err = e.st.RedeemCode(e.ctx, digest("code-s3"), "c", digest("access-s3"), at(time.Minute))
	e.wantErr("deleted user's outstanding code", err, store.ErrNotFound)
	accs, err := e.st.Accounts(e.ctx, u.RowID)
	e.noErr("accounts", err)
	e.diff("deleted user's accounts", accs, []gridlink.Account(nil))
	_, err = e.st.Account(e.ctx, u.RowID, "acc-1")
	e.wantErr("deleted user's account", err, store.ErrNotFound)
	_, err = e.st.Meter(e.ctx, u.RowID, "acc-1-el")
	e.wantErr("deleted user's meter", err, store.ErrNotFound)
	err = e.st.Intervals(e.ctx, u.RowID, "acc-1-el", 0, 2_000_000_000, func(gridlink.Interval) error {
		t.Error("deleted user's interval read")
		return nil
	})
	e.wantErr("deleted user's intervals", err, store.ErrNotFound)
	bills, err := e.st.Bills(e.ctx, u.RowID, store.BillFilter{})
	e.noErr("bills", err)
	e.diff("deleted user's bills", bills, []gridlink.Bill(nil))
	_, err = e.st.Bill(e.ctx, u.RowID, "bill-1")
	e.wantErr("deleted user's bill", err, store.ErrNotFound)
	_, err = e.st.BillPDF(e.ctx, u.RowID, "bill-1")
	e.wantErr("deleted user's bill pdf", err, store.ErrNotFound)
	e.wantErr("delete again", e.st.DeleteUser(e.ctx, u.RowID), store.ErrNotFound)

	// Bob is untouched.
	if !e.tokenValid(keepToken, "c", keep.RowID) {
		t.Error("another user's token revoked")
	}
	if got := e.intervals(keep.RowID, "acc-1-el", 0, 2_000_000_000); len(got) != 5 {
		t.Errorf("another user's intervals: %d, want 5", len(got))
	}
	if pdf, err := e.st.BillPDF(e.ctx, keep.RowID, "bill-1"); err != nil || string(pdf) != "%PDF" {
		t.Errorf("another user's pdf = %q, %v", pdf, err)
	}

	// Alice can connect again, as a new, empty user.
	again, newToken := e.login("c", "alice", "row-3", "s4")
	if again.RowID != "row-3" || again.DataReady {
		t.Errorf("recreated user = %+v", again)
	}
	accs, err = e.st.Accounts(e.ctx, again.RowID)
	e.noErr("accounts", err)
	e.diff("recreated user's accounts", accs, []gridlink.Account(nil))
	if e.tokenValid(token, "c", u.RowID) {
		t.Error("old token valid again after reconnecting")
	}
	if !e.tokenValid(newToken, "c", again.RowID) {
		t.Error("new token not live")
	}
}

func testUpsertAccount(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	accs, err := e.st.Accounts(e.ctx, u.RowID)
	e.noErr("accounts", err)
	e.diff("accounts before sync", accs, []gridlink.Account(nil))

	a := account("acc-1", "ext-1")
	got, err := e.st.UpsertAccount(e.ctx, u.RowID, a)
	e.noErr("upsert account", err)
	e.diff("stored account", got, a)

	// A later sync finds the same account and meters (by external id),
	// with fresh ids, a new number and address, and one more meter.
	again := account("acc-NEW", "ext-1")
	again.Number, again.Address = "renumbered", "2 Side St"
	again.Meters = append(again.Meters, gridlink.Meter{ID: "m-3", ExternalID: "ext-1-el2", Type: gridlink.Electric})
	got, err = e.st.UpsertAccount(e.ctx, u.RowID, again)
	e.noErr("upsert account again", err)
	want := a
	want.Number, want.Address = "renumbered", "2 Side St"
	want.Meters = append(want.Meters, gridlink.Meter{ID: "m-3", AccountID: "acc-1", ExternalID: "ext-1-el2", Type: gridlink.Electric})
	e.diff("account after second upsert", got, want)

	// Idempotent: the same upsert once more changes nothing.
	got, err = e.st.UpsertAccount(e.ctx, u.RowID, again)
	e.noErr("upsert account a third time", err)
	e.diff("account after third upsert", got, want)

	b := account("acc-2", "ext-2")
	b.Meters = b.Meters[:1]
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, b)
	e.noErr("upsert second account", err)
	b.Meters[0].AccountID = "acc-2"

	accs, err = e.st.Accounts(e.ctx, u.RowID)
	e.noErr("accounts", err)
	e.diff("accounts", accs, []gridlink.Account{want, b})
	acc, err := e.st.Account(e.ctx, u.RowID, "acc-1")
	e.noErr("account", err)
	e.diff("account acc-1", acc, want)
	if types := acc.MeterTypes(); len(types) != 2 {
		t.Errorf("meter types = %v", types)
	}
	m, err := e.st.Meter(e.ctx, u.RowID, "acc-1-gas")
	e.noErr("meter", err)
	e.diff("meter", m, gridlink.Meter{ID: "acc-1-gas", AccountID: "acc-1", ExternalID: "ext-1-gas", Type: gridlink.Gas})
	_, err = e.st.Account(e.ctx, u.RowID, "acc-NEW")
	e.wantErr("id offered to an existing account", err, store.ErrNotFound)
	_, err = e.st.Meter(e.ctx, u.RowID, "nope")
	e.wantErr("unknown meter", err, store.ErrNotFound)

	// A new account may not take a public id the user already has.
	clash := account("acc-1", "ext-3")
	clash.Meters = nil
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, clash)
	e.wantErr("new account with a used id", err, store.ErrConflict)
	clash = account("acc-3", "ext-3")
	clash.Meters = []gridlink.Meter{{ID: "acc-1-el", ExternalID: "ext-3-el", Type: gridlink.Electric}}
	_, err = e.st.UpsertAccount(e.ctx, u.RowID, clash)
	e.wantErr("new meter with a used id", err, store.ErrConflict)
	accs, err = e.st.Accounts(e.ctx, u.RowID)
	e.noErr("accounts", err)
	e.diff("accounts after refused upserts", accs, []gridlink.Account{want, b})

	_, err = e.st.UpsertAccount(e.ctx, "no-row", account("acc-9", "ext-9"))
	e.wantErr("account of unknown user", err, store.ErrNotFound)
}

func testIntervals(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	acc, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	el, gas := acc.Meters[0].ID, acc.Meters[1].ID
	const base = int64(1_740_000_000)

	end, err := e.st.LatestIntervalEnd(e.ctx, u.RowID, el)
	e.noErr("latest end", err)
	if end != 0 {
		t.Errorf("latest end of an empty meter = %d, want 0", end)
	}
	if got := e.intervals(u.RowID, el, 0, base*2); len(got) != 0 {
		t.Errorf("empty meter gave %d readings", len(got))
	}

	all := hourly(base, 10, 1)
	// Given out of order; read back ascending.
	shuffled := []gridlink.Interval{all[5], all[2], all[9], all[0], all[7], all[1], all[8], all[3], all[6], all[4]}
	e.noErr("upsert intervals", e.st.UpsertIntervals(e.ctx, u.RowID, el, shuffled))
	e.diff("all readings", e.intervals(u.RowID, el, 0, base*2), all)
	// [start, end): start included, end excluded, by reading start.
	e.diff("window", e.intervals(u.RowID, el, all[2].Start, all[5].Start), all[2:5])
	e.diff("window inside a reading", e.intervals(u.RowID, el, all[2].Start+1, all[3].Start+1), all[3:4])
	e.diff("empty window", e.intervals(u.RowID, el, all[3].Start, all[3].Start), []gridlink.Interval(nil))
	e.diff("gas meter untouched", e.intervals(u.RowID, gas, 0, base*2), []gridlink.Interval(nil))
	end, err = e.st.LatestIntervalEnd(e.ctx, u.RowID, el)
	e.noErr("latest end", err)
	if end != all[9].End {
		t.Errorf("latest end = %d, want %d", end, all[9].End)
	}

	// Idempotent: the same readings again change nothing.
	e.noErr("upsert intervals again", e.st.UpsertIntervals(e.ctx, u.RowID, el, all))
	e.diff("readings after a repeated upsert", e.intervals(u.RowID, el, 0, base*2), all)

	// A corrected reading replaces the old one; within one batch the last
	// reading for a start wins.
	fixed := all[4]
	fixed.Usage, fixed.GHG = 42.5, 4.25
	e.noErr("upsert correction", e.st.UpsertIntervals(e.ctx, u.RowID, el, []gridlink.Interval{
		{Start: fixed.Start, End: fixed.End, Usage: -1, GHG: -1}, fixed,
	}))
	want := append([]gridlink.Interval(nil), all...)
	want[4] = fixed
	e.diff("readings after correction", e.intervals(u.RowID, el, 0, base*2), want)
	e.noErr("upsert nothing", e.st.UpsertIntervals(e.ctx, u.RowID, el, nil))

	// An error from fn stops the iteration and is returned.
	stop := errors.New("stop")
	calls := 0
	err = e.st.Intervals(e.ctx, u.RowID, el, 0, base*2, func(gridlink.Interval) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Intervals with failing fn: err %v after %d calls, want %v after 3", err, calls, stop)
	}

	e.wantErr("upsert to unknown meter", e.st.UpsertIntervals(e.ctx, u.RowID, "nope", all), store.ErrNotFound)
	e.wantErr("read unknown meter", e.st.Intervals(e.ctx, u.RowID, "nope", 0, base*2, func(gridlink.Interval) error { return nil }), store.ErrNotFound)
	_, err = e.st.LatestIntervalEnd(e.ctx, u.RowID, "nope")
	e.wantErr("latest end of unknown meter", err, store.ErrNotFound)
}

func testIntervalsLargeBatch(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	acc, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	// A year of 15-minute readings in one call, then half of it again with
	// new values.
	const n = 35_040
	const base = int64(1_700_000_000)
	ivs := make([]gridlink.Interval, n)
	for i := range ivs {
		s := base + int64(i)*900
		ivs[i] = gridlink.Interval{Start: s, End: s + 900, Usage: float64(i % 97), GHG: float64(i%13) / 8}
	}
	e.noErr("upsert year", e.st.UpsertIntervals(e.ctx, u.RowID, acc.Meters[0].ID, ivs))
	for i := n / 4; i < 3*n/4; i++ {
		ivs[i].Usage += 1000
	}
	e.noErr("upsert half again", e.st.UpsertIntervals(e.ctx, u.RowID, acc.Meters[0].ID, ivs[n/4:3*n/4]))
	got := e.intervals(u.RowID, acc.Meters[0].ID, 0, base*2)
	e.diff("a year of readings", got, ivs)
	end, err := e.st.LatestIntervalEnd(e.ctx, u.RowID, acc.Meters[0].ID)
	e.noErr("latest end", err)
	if end != ivs[n-1].End {
		t.Errorf("latest end = %d, want %d", end, ivs[n-1].End)
	}
}

func testBills(t *testing.T, e *env) {
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	for _, a := range []gridlink.Account{account("acc-1", "ext-1"), account("acc-2", "ext-2")} {
		_, err := e.st.UpsertAccount(e.ctx, u.RowID, a)
		e.noErr("upsert account", err)
	}
	const day = int64(86400)
	const jan1 = int64(1_735_689_600) // 2025-01-01T00:00:00Z
	month := func(id, acc string, m int64) gridlink.Bill {
		start := jan1 + m*31*day
		return gridlink.Bill{
			ID: id, AccountID: acc, ExternalID: "ext-" + id,
			StartDate: ptr(start), EndDate: ptr(start + 30*day),
			StatementDate: ptr(start + 31*day), DueDate: ptr(start + 52*day),
			TotalAmountDue: ptr(100.25 + float64(m)), TotalCharges: ptr(90.0),
			ElectricCharge: ptr(60.0), GasCharge: ptr(25.5), OtherCharge: ptr(4.5),
			ElectricKWh: ptr(321.0), GasTherm: ptr(12.0),
		}
	}
	// Stored out of order.
	b2 := month("bill-2", "acc-1", 1)
	b1 := month("bill-1", "acc-1", 0)
	b1.PaymentDate = ptr(*b1.DueDate - 3*day)
	c1 := month("bill-c1", "acc-2", 0)
	bare := gridlink.Bill{ID: "bill-bare", AccountID: "acc-2", ExternalID: "ext-bare"} // every field unknown
	stored := map[string]gridlink.Bill{}
	for _, b := range []gridlink.Bill{b2, c1, bare, b1} {
		var pdf []byte
		if b.ID != "bill-bare" {
			pdf = []byte("%PDF " + b.ID)
		}
		got, err := e.st.UpsertBill(e.ctx, u.RowID, b, pdf)
		e.noErr("upsert bill", err)
		b.HasPDF = pdf != nil
		e.diff("stored bill "+b.ID, got, b)
		stored[b.ID] = b
	}
	b1, b2, c1, bare = stored["bill-1"], stored["bill-2"], stored["bill-c1"], stored["bill-bare"]

	list := func(f store.BillFilter) []gridlink.Bill {
		t.Helper()
		got, err := e.st.Bills(e.ctx, u.RowID, f)
		e.noErr("bills", err)
		return got
	}
	e.diff("all bills, by account then start date", list(store.BillFilter{}), []gridlink.Bill{b1, b2, c1, bare})
	e.diff("bills of acc-2", list(store.BillFilter{AccountID: "acc-2"}), []gridlink.Bill{c1, bare})
	e.diff("bills of an unknown account", list(store.BillFilter{AccountID: "nope"}), []gridlink.Bill(nil))
	// Overlap with [Start, End).
	e.diff("mid-January window", list(store.BillFilter{Start: ptr(jan1 + 10*day), End: ptr(jan1 + 11*day)}), []gridlink.Bill{b1, c1})
	e.diff("window spanning both months", list(store.BillFilter{Start: ptr(jan1 + 20*day), End: ptr(jan1 + 40*day)}), []gridlink.Bill{b1, b2, c1})
	e.diff("start only", list(store.BillFilter{Start: ptr(jan1 + 40*day)}), []gridlink.Bill{b2})
	e.diff("end only", list(store.BillFilter{End: ptr(jan1 + 20*day)}), []gridlink.Bill{b1, c1})
	e.diff("window after every bill", list(store.BillFilter{Start: ptr(jan1 + 400*day), End: ptr(jan1 + 500*day)}), []gridlink.Bill(nil))
	e.diff("window and account", list(store.BillFilter{AccountID: "acc-1", Start: ptr(jan1), End: ptr(jan1 + day)}), []gridlink.Bill{b1})

	got, err := e.st.Bill(e.ctx, u.RowID, "bill-bare")
	e.noErr("bill", err)
	e.diff("bill with unknown fields", got, bare)
	_, err = e.st.Bill(e.ctx, u.RowID, "nope")
	e.wantErr("unknown bill", err, store.ErrNotFound)
	pdf, err := e.st.BillPDF(e.ctx, u.RowID, "bill-1")
	e.noErr("bill pdf", err)
	if string(pdf) != "%PDF bill-1" {
		t.Errorf("pdf = %q", pdf)
	}
	_, err = e.st.BillPDF(e.ctx, u.RowID, "bill-bare")
	e.wantErr("pdf of a bill without one", err, store.ErrNotFound)
	_, err = e.st.BillPDF(e.ctx, u.RowID, "nope")
	e.wantErr("pdf of unknown bill", err, store.ErrNotFound)

	// A re-sync of bill-1 (new offered id, corrected amount, no PDF this
	// time) keeps the id and the stored PDF.
	resync := b1
	resync.ID = "bill-1-NEW"
	resync.TotalAmountDue = ptr(99.0)
	resync.PaymentDate = nil
	resync.HasPDF = false
	got, err = e.st.UpsertBill(e.ctx, u.RowID, resync, nil)
	e.noErr("re-sync bill", err)
	b1.TotalAmountDue = ptr(99.0)
	b1.PaymentDate = nil
	e.diff("re-synced bill", got, b1)
	pdf, err = e.st.BillPDF(e.ctx, u.RowID, "bill-1")
	e.noErr("bill pdf", err)
	if string(pdf) != "%PDF bill-1" {
		t.Errorf("pdf after re-sync without one = %q", pdf)
	}
	// A new PDF replaces the old one; a PDF can be added later.
	_, err = e.st.UpsertBill(e.ctx, u.RowID, resync, []byte("%PDF corrected"))
	e.noErr("re-sync bill with pdf", err)
	got, err = e.st.UpsertBill(e.ctx, u.RowID, bare, []byte("%PDF late"))
	e.noErr("add pdf", err)
	bare.HasPDF = true
	e.diff("bill with a late pdf", got, bare)
	for id, want := range map[string]string{"bill-1": "%PDF corrected", "bill-bare": "%PDF late"} {
		pdf, err = e.st.BillPDF(e.ctx, u.RowID, id)
		e.noErr("bill pdf", err)
		if string(pdf) != want {
			t.Errorf("pdf of %s = %q, want %q", id, pdf, want)
		}
	}
	if n := len(list(store.BillFilter{})); n != 4 {
		t.Errorf("%d bills after re-syncs, want 4", n)
	}

	_, err = e.st.UpsertBill(e.ctx, u.RowID, month("bill-x", "nope", 0), nil)
	e.wantErr("bill of unknown account", err, store.ErrNotFound)
	clash := month("bill-2", "acc-1", 5)
	clash.ExternalID = "ext-other"
	_, err = e.st.UpsertBill(e.ctx, u.RowID, clash, nil)
	e.wantErr("new bill with a used id", err, store.ErrConflict)
}

// testPerUserScoping gives two users the same public ids (as the sandbox
// does) and checks that each sees only its own rows, and that a third user
// sees nothing.
func testPerUserScoping(t *testing.T, e *env) {
	e.client("c")
	e.client("d")
	a := e.connect("c", "alice", "row-a", "sa")
	b := e.connect("d", "bob", "row-b", "sb")
	other := e.connect("c", "carol", "row-c", "sc")
	const accID = "ea100000-0000-4000-8000-000000000001"
	for i, u := range []gridlink.User{a, b} {
		acc := account(accID, "ext-1")
		acc.Number = "number-of-" + u.ID
		_, err := e.st.UpsertAccount(e.ctx, u.RowID, acc)
		e.noErr("upsert account", err)
		e.noErr("upsert intervals", e.st.UpsertIntervals(e.ctx, u.RowID, accID+"-el", hourly(1_700_000_000, 2+i, float64(10*i))))
		_, err = e.st.UpsertBill(e.ctx, u.RowID, gridlink.Bill{ID: "bill-1", AccountID: accID, ExternalID: "b1", TotalCharges: ptr(float64(i))}, []byte("%PDF "+u.ID))
		e.noErr("upsert bill", err)
	}
	for i, u := range []gridlink.User{a, b} {
		acc, err := e.st.Account(e.ctx, u.RowID, accID)
		e.noErr("account", err)
		if acc.Number != "number-of-"+u.ID {
			t.Errorf("%s reads account number %q", u.ID, acc.Number)
		}
		if got := e.intervals(u.RowID, accID+"-el", 0, 2_000_000_000); len(got) != 2+i || got[0].Usage != float64(10*i) {
			t.Errorf("%s reads %d intervals: %v", u.ID, len(got), got)
		}
		bill, err := e.st.Bill(e.ctx, u.RowID, "bill-1")
		e.noErr("bill", err)
		if *bill.TotalCharges != float64(i) {
			t.Errorf("%s reads bill total %v", u.ID, *bill.TotalCharges)
		}
		pdf, err := e.st.BillPDF(e.ctx, u.RowID, "bill-1")
		e.noErr("pdf", err)
		if string(pdf) != "%PDF "+u.ID {
			t.Errorf("%s reads pdf %q", u.ID, pdf)
		}
	}

	// Carol knows the ids but has no such rows.
	_, err := e.st.Account(e.ctx, other.RowID, accID)
	e.wantErr("foreign account", err, store.ErrNotFound)
	_, err = e.st.Meter(e.ctx, other.RowID, accID+"-el")
	e.wantErr("foreign meter", err, store.ErrNotFound)
	err = e.st.Intervals(e.ctx, other.RowID, accID+"-el", 0, 2_000_000_000, func(gridlink.Interval) error {
		t.Error("foreign interval read")
		return nil
	})
	e.wantErr("foreign intervals", err, store.ErrNotFound)
	_, err = e.st.LatestIntervalEnd(e.ctx, other.RowID, accID+"-el")
	e.wantErr("foreign latest end", err, store.ErrNotFound)
	_, err = e.st.Bill(e.ctx, other.RowID, "bill-1")
	e.wantErr("foreign bill", err, store.ErrNotFound)
	_, err = e.st.BillPDF(e.ctx, other.RowID, "bill-1")
	e.wantErr("foreign pdf", err, store.ErrNotFound)
	accs, err := e.st.Accounts(e.ctx, other.RowID)
	e.noErr("accounts", err)
	e.diff("carol's accounts", accs, []gridlink.Account(nil))
	bills, err := e.st.Bills(e.ctx, other.RowID, store.BillFilter{AccountID: accID})
	e.noErr("bills", err)
	e.diff("carol's bills", bills, []gridlink.Bill(nil))
	// Nor can she write into them.
	e.wantErr("foreign interval write", e.st.UpsertIntervals(e.ctx, other.RowID, accID+"-el", hourly(1, 1, 1)), store.ErrNotFound)
	_, err = e.st.UpsertBill(e.ctx, other.RowID, gridlink.Bill{ID: "bill-9", AccountID: accID, ExternalID: "b9"}, nil)
	e.wantErr("foreign bill write", err, store.ErrNotFound)
	if got := e.intervals(a.RowID, accID+"-el", 0, 2_000_000_000); len(got) != 2 {
		t.Errorf("alice's intervals after foreign writes: %d", len(got))
	}
}
