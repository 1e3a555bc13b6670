package storetest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
)

// parallel runs fn(0) ... fn(n-1) in n goroutines released at once and
// returns their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// testUserUpdatesConcurrent updates one user from 100 goroutines at once,
// as the sync workers, the API and Connect may: every call succeeds (no
// lock or serialization error reaches the caller), each SetSyncState lands
// whole (the final state is exactly one of the written states, never a mix
// of two), and writes to different fields of the row do not undo each
// other (a store that rewrote the whole row would lose some).
func testUserUpdatesConcurrent(t *testing.T, e *env) {
	const n = 100
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")

	states := make([]gridlink.SyncState, n)
	statuses := []string{gridlink.SyncOK, gridlink.SyncFailing, gridlink.SyncSyncing, gridlink.SyncNeedsReauth}
	for i := range states {
		st := gridlink.SyncState{
			Status:        statuses[i%len(statuses)],
			LastAttemptAt: ptr(at(time.Duration(i) * time.Minute)),
			ErrorCode:     fmt.Sprintf("E%03d", i),
		}
		if i%2 == 0 {
			st.LastSuccessAt = ptr(at(time.Duration(i) * time.Second))
		}
		if i%3 != 0 {
			st.NextAttemptAt = ptr(at(time.Duration(i) * time.Hour))
		}
		states[i] = st
	}
	// Readers check, while the writers run, that every state they see is
	// whole: the initial one or exactly one of the written ones.
	written := map[string]gridlink.SyncState{u.Sync.ErrorCode: u.Sync}
	for _, st := range states {
		written[st.ErrorCode] = st
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	var torn []string
	var tornMu sync.Mutex
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := e.st.UserByRowID(e.ctx, u.RowID)
				if err != nil {
					t.Errorf("read during updates: %v", err)
					return
				}
				if want, ok := written[got.Sync.ErrorCode]; !ok || !cmp.Equal(got.Sync, want, cmpOpts()...) {
					tornMu.Lock()
					torn = append(torn, fmt.Sprintf("%+v", got.Sync))
					tornMu.Unlock()
					return
				}
			}
		})
	}

	// Goroutine i sets sync state i; every tenth, between two such writes,
	// also invalidates the credentials, stores a refreshed credential or
	// marks the data ready.
	errs := parallel(n, func(i int) error {
		if err := e.st.SetSyncState(e.ctx, u.RowID, states[i]); err != nil {
			return fmt.Errorf("set sync state %d: %w", i, err)
		}
		var err error
		switch i % 10 {
		case 1:
			err = e.st.SetCredentialsValid(e.ctx, u.RowID, false)
		case 2:
			err = e.st.SetCredential(e.ctx, u.RowID, []byte("refreshed-"+strconv.Itoa(i)))
		case 3:
			err = e.st.MarkDataReady(e.ctx, u.RowID)
		}
		if err != nil {
			return err
		}
		if err := e.st.SetSyncState(e.ctx, u.RowID, states[i]); err != nil {
			return fmt.Errorf("set sync state %d again: %w", i, err)
		}
		return nil
	})
	close(done)
	readers.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	for _, st := range torn {
		t.Errorf("a reader saw a sync state mixed from several writes: %s", st)
	}

	got, err := e.st.UserByRowID(e.ctx, u.RowID)
	e.noErr("user", err)
	k, err := strconv.Atoi(strings.TrimPrefix(got.Sync.ErrorCode, "E"))
	if err != nil || k < 0 || k >= n {
		t.Fatalf("final sync state %+v is none of the written states", got.Sync)
	}
	e.diff(fmt.Sprintf("final sync state (written by goroutine %d)", k), got.Sync, states[k])
	if got.CredentialsValid {
		t.Error("SetCredentialsValid(false) was lost")
	}
	if !got.DataReady {
		t.Error("MarkDataReady was lost")
	}
	if c := string(got.Credential); !strings.HasPrefix(c, "refreshed-") {
		t.Errorf("credential = %q: every SetCredential was lost", c)
	}
	want := u
	want.Sync, want.CredentialsValid, want.DataReady, want.Credential = got.Sync, false, true, got.Credential
	e.diff("rest of the user", got, want)
}

// testIntervalsConcurrent stores 100 disjoint day-long batches of readings
// into one meter from 100 goroutines at once: every call succeeds and no
// reading is lost.
func testIntervalsConcurrent(t *testing.T, e *env) {
	const n = 100
	e.client("c")
	u := e.connect("c", "alice", "row-1", "s1")
	acc, err := e.st.UpsertAccount(e.ctx, u.RowID, account("acc-1", "ext-1"))
	e.noErr("upsert account", err)
	meter := acc.Meters[0].ID
	const base = int64(1_700_000_000)
	batch := func(i int) []gridlink.Interval { return hourly(base+int64(i)*24*3600, 24, float64(i)) }

	errs := parallel(n, func(i int) error {
		return e.st.UpsertIntervals(e.ctx, u.RowID, meter, batch(i))
	})
	var want []gridlink.Interval
	for i, err := range errs {
		if err != nil {
			t.Errorf("upsert batch %d: %v", i, err)
		}
		want = append(want, batch(i)...)
	}
	e.diff("readings after concurrent batches", e.intervals(u.RowID, meter, 0, base*2), want)
}
