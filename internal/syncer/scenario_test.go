package syncer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/vault"
)

// TestSandboxExpireFlipsOnScheduledSync: expire@sandbox.test syncs once;
// the scheduled refresh 12 hours later (on the injected clock, through the
// periodic scheduler) finds the login rejected: needs_reauth,
// credentials_valid false, no retry, nothing more scheduled, the data
// still readable. Reconnecting (Connect's update mode: same user row, new
// login, a sync queued) brings it back to ok with the same accounts.
func TestSandboxExpireFlipsOnScheduledSync(t *testing.T) {
	backends(t, func(t *testing.T, db func(testing.TB) backend) {
		e := newEnvOn(t, db(t), withSandbox(nil))
		ctx := context.Background()
		u := e.addLogin(t, catalog.SandboxID, Credential{Username: sandbox.ExpireUser, Password: sandbox.Password})
		opts := fastQueue
		opts.ScheduleEvery = 100 * time.Millisecond
		q := openQueueWith(t, e, opts)
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first sync", func() bool { return e.user(t, u.RowID).Sync.Status == gridlink.SyncOK })
		before := e.data(t, u.RowID)
		if len(before.Accounts) == 0 {
			t.Fatal("first sync stored no accounts")
		}

		e.clock.Advance(13 * time.Hour)
		waitFor(t, "the scheduled sync to find the login rejected", func() bool {
			return e.user(t, u.RowID).Sync.Status == gridlink.SyncNeedsReauth
		})
		got := e.user(t, u.RowID)
		if got.CredentialsValid || !got.DataReady || got.Sync.ErrorCode != "bad_credentials" || got.Sync.NextAttemptAt != nil {
			t.Errorf("after the rejected login: valid %v ready %v state %+v; want invalid, ready, bad_credentials, nothing scheduled", got.CredentialsValid, got.DataReady, got.Sync)
		}
		if diff := cmpData(before, e.data(t, u.RowID)); diff != "" {
			t.Errorf("data changed (-before +after):\n%s", diff)
		}
		job := q.waitUserJob(t, u.RowID, rivertype.JobStateCancelled)
		if job.Attempt != 1 {
			t.Errorf("the rejected sync ran %d attempts, want 1", job.Attempt)
		}
		e.clock.Advance(24 * time.Hour)
		if n, err := q.enqueueDue(ctx); err != nil || n != 0 {
			t.Errorf("scheduler queued %d (%v) for a rejected login, want 0", n, err)
		}

		// Update mode, as Connect does it: the login is checked live, then
		// stored on the same row with credentials_valid true, and a sync
		// queued.
		login, err := sandbox.New(sandbox.Config{}).Login(ctx, connector.Credentials{Username: sandbox.ExpireUser, Password: sandbox.Password})
		if err != nil {
			t.Fatal(err)
		}
		e.reconnect(t, u, Credential{Username: sandbox.ExpireUser, Password: sandbox.Password, Session: login.Session})
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the sync after reconnecting", func() bool { return e.user(t, u.RowID).Sync.Status == gridlink.SyncOK })
		got = e.user(t, u.RowID)
		if !got.CredentialsValid || got.ID != u.ID || got.RowID != u.RowID {
			t.Errorf("after reconnecting: %+v", got)
		}
		after := e.data(t, u.RowID)
		if len(after.Accounts) != len(before.Accounts) || after.Accounts[0].ID != before.Accounts[0].ID {
			t.Errorf("accounts after reconnecting: %v, before %v", after.Accounts, before.Accounts)
		}
	})
}

// reconnect replaces the user's login as Connect's update mode does.
func (e *env) reconnect(t testing.TB, u gridlink.User, cred Credential) {
	t.Helper()
	ctx := context.Background()
	e.n++
	sid := fmt.Sprintf("session-%d", e.n)
	now := e.clock.Now()
	if err := e.st.CreateConnectSession(ctx, store.ConnectSession{
		ID: sid, CookieHash: make([]byte, 32), TokenHash: []byte(sid), ClientID: u.ClientID, UserID: u.ID,
		UpdateMode: true, Step: store.StepCredentials, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	sealed, err := SealCredential(e.v, cred, u.RowID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CompleteConnect(ctx, store.CompleteConnect{
		SessionID: sid, TokenHash: []byte(sid),
		User: gridlink.User{RowID: u.RowID, ClientID: u.ClientID, ID: u.ID, UtilityID: u.UtilityID,
			UtilityUsername: cred.Username, CredentialsValid: true, Credential: sealed},
		CodeHash: []byte("code-" + sid), CodeExpiresAt: now.Add(time.Minute), Now: now,
	}); err != nil {
		t.Fatal(err)
	}
}

// Environment of the sync process that the kill -9 tests start.
const (
	childEnv       = "GRIDLINK_SYNCER_TEST_CHILD"
	childDSNEnv    = "GRIDLINK_SYNCER_TEST_DSN"
	childSchemaEnv = "GRIDLINK_SYNCER_TEST_SCHEMA"
	childKeyEnv    = "GRIDLINK_SYNCER_TEST_KEY"
	childNowEnv    = "GRIDLINK_SYNCER_TEST_NOW"
)

// testVaultKey is the vault key of every env.
var testVaultKey = bytes.Repeat([]byte{7}, vault.KeySize)

// TestHelperSyncProcess is not a test of its own: run with
// GRIDLINK_SYNCER_TEST_CHILD=1 (by TestKill9MidSync), it is a gridlink
// sync process, on the database and clock given in its environment, that
// works the queue until it is killed. Otherwise it returns at once.
func TestHelperSyncProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		return
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dsn, schema := os.Getenv(childDSNEnv), os.Getenv(childSchemaEnv)
	key, err := hex.DecodeString(os.Getenv(childKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339, os.Getenv(childNowEnv))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(rand.Reader, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Vault: v, Logger: logger, Now: func() time.Time { return now }, JobTimeout: killJobTimeout}
	withSandbox(nil)(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := fastQueue
	opts.Schema = schema
	q, err := OpenQueue(ctx, dsn, s, logger, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Minute) // the parent kills it long before
	os.Exit(3)
}

// killJobTimeout is the job timeout of the kill -9 tests: River rescues a
// dead process's job only once its attempt is older than this (and the
// queue's RescueAfter), so it is short; the whole big@ sync takes a couple
// of seconds.
const killJobTimeout = 10 * time.Second

// TestKill9MidSync: a gridlink process is killed with SIGKILL while it
// writes big@sandbox.test's three years of 15-minute readings; after a
// restart the interrupted job is rescued and run again, the sync
// completes, and every meter's readings are whole, with no duplicate or
// overlapping interval.
func TestKill9MidSync(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 scenario: about 20 s per database")
	}
	backends(t, func(t *testing.T, db func(testing.TB) backend) {
		e := newEnvOn(t, db(t), withSandbox(nil), func(c *Config) { c.JobTimeout = killJobTimeout })
		ctx := context.Background()
		u := e.addLogin(t, catalog.SandboxID, Credential{Username: sandbox.BigUser, Password: sandbox.Password})
		// Connect queued the first sync; then the process stopped.
		q0 := openQueue(t, e)
		if err := q0.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
		if err := q0.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		var childLog syncBuffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSyncProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childEnv+"=1", childDSNEnv+"="+e.dsn, childSchemaEnv+"="+e.schema,
			childKeyEnv+"="+hex.EncodeToString(testVaultKey), childNowEnv+"="+e.clock.Now().Format(time.RFC3339))
		cmd.Stdout, cmd.Stderr = &childLog, &childLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		defer func() {
			if !killed {
				cmd.Process.Kill()
				cmd.Wait()
			}
		}()

		// Kill it once some readings are stored and the sync is not done.
		stored := func() int {
			n := 0
			for _, ivs := range e.data(t, u.RowID).Intervals {
				n += len(ivs)
			}
			return n
		}
		deadline := time.Now().Add(time.Minute)
		for {
			if time.Now().After(deadline) {
				t.Fatalf("the child never started writing; its log:\n%s", childLog.String())
			}
			if accounts, err := e.st.Accounts(ctx, u.RowID); err == nil && len(accounts) > 0 {
				end, err := e.st.LatestIntervalEnd(ctx, u.RowID, accounts[0].Meters[0].ID)
				if err == nil && end > 0 {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed = true
		werr := cmd.Wait()
		var exitErr *exec.ExitError
		if !errors.As(werr, &exitErr) || exitErr.ExitCode() != -1 {
			t.Fatalf("child ended with %v, want killed by a signal; its log:\n%s", werr, childLog.String())
		}
		partial := e.user(t, u.RowID)
		if partial.DataReady || partial.Sync.Status != gridlink.SyncSyncing {
			t.Fatalf("the sync finished before the kill (ready %v, status %s); nothing was interrupted", partial.DataReady, partial.Sync.Status)
		}
		t.Logf("killed with %d readings stored", stored())

		// Restart: River rescues the job once its attempt is older than
		// the job timeout, and runs it again.
		opts := fastQueue
		opts.RescueAfter = killJobTimeout
		q := openQueueWith(t, e, opts)
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(2 * time.Minute)
		for e.user(t, u.RowID).Sync.Status != gridlink.SyncOK {
			if time.Now().After(deadline) {
				t.Fatalf("the interrupted sync did not complete after the restart: %+v", e.user(t, u.RowID).Sync)
			}
			time.Sleep(100 * time.Millisecond)
		}
		job := q.waitUserJob(t, u.RowID, rivertype.JobStateCompleted)
		if job.Attempt != 2 {
			t.Errorf("the job completed at attempt %d, want 2 (the killed one, then the rescued one)", job.Attempt)
		}

		// Every meter holds exactly what one uninterrupted fetch gives.
		want, err := sandbox.New(sandbox.Config{}).Fetch(ctx, connector.FetchRequest{
			Credentials: connector.Credentials{Username: sandbox.BigUser, Password: sandbox.Password},
			Now:         e.clock.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := e.data(t, u.RowID)
		meterID := map[[2]string]string{} // (account, meter) external ids -> stored meter id
		for _, a := range got.Accounts {
			for _, m := range a.Meters {
				meterID[[2]string{a.ExternalID, m.ExternalID}] = m.ID
			}
		}
		total := 0
		for _, a := range want.Accounts {
			for _, m := range a.Meters {
				ivs := got.Intervals[meterID[[2]string{a.ExternalID, m.ExternalID}]]
				checkSeries(t, ivs)
				if len(ivs) != len(a.Intervals[m.ExternalID]) {
					t.Errorf("account %s meter %s: %d readings, want %d", a.ExternalID, m.ExternalID, len(ivs), len(a.Intervals[m.ExternalID]))
				}
				total += len(ivs)
			}
		}
		t.Logf("after the restart: %d readings", total)
	})
}

// TestPostgresQueueMigratesConcurrently: several processes starting at
// once on a fresh schema all get a working queue (River's migrations run
// once, under the advisory lock), and share one queue.
func TestPostgresQueueMigratesConcurrently(t *testing.T) {
	e := newEnvOn(t, postgresDB(t))
	ctx := context.Background()
	const n = 4
	qs := make([]*Queue, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			qs[i], errs[i] = NewPostgresQueue(ctx, e.dsn, e.s, nil, QueueOptions{Schema: e.schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
		q := qs[i]
		t.Cleanup(func() {
			if err := q.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	// A job queued through one is seen by all: unique per user across them.
	u := e.addUser(t, nil)
	for _, q := range qs {
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(qs[n-1].jobs(t)); got != 1 {
		t.Errorf("%d jobs after queueing one user through %d queues, want 1", got, n)
	}
	if err := MigrateQueue(ctx, e.dsn, QueueOptions{Schema: e.schema}); err != nil {
		t.Errorf("MigrateQueue on a migrated schema: %v", err)
	}
}
