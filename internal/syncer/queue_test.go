package syncer

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// startQueue opens and starts a queue on the env's database file; it is
// stopped when the test ends.
func startQueue(t *testing.T, e *env) *Queue {
	t.Helper()
	q := openQueue(t, e)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return q
}

// fastQueue shortens River's polling for tests (newEnv shortens the retry
// backoff).
var fastQueue = QueueOptions{
	fetchPollInterval: 100 * time.Millisecond,
	fetchCooldown:     10 * time.Millisecond,
}

func openQueue(t *testing.T, e *env) *Queue {
	t.Helper()
	return openQueueWith(t, e, fastQueue)
}

func openQueueWith(t *testing.T, e *env, opts QueueOptions) *Queue {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Schema = e.schema
	q, err := OpenQueue(context.Background(), e.dsn, e.s, logger, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return q
}

func (q *Queue) jobs(t *testing.T) []*rivertype.JobRow {
	t.Helper()
	res, err := q.client.JobList(context.Background(), river.NewJobListParams().Kinds(SyncKind).First(100))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

func (q *Queue) waitJobState(t *testing.T, state rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var job *rivertype.JobRow
	waitFor(t, "a sync job in state "+string(state), func() bool {
		for _, j := range q.jobs(t) {
			if j.State == state {
				job = j
				return true
			}
		}
		return false
	})
	return job
}

func TestQueueRunsFirstSync(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	ctx := context.Background()
	released := make(chan struct{}, 10)
	e.s.mem.release = func() { released <- struct{}{} }
	// The exported constructor, with River's default intervals.
	q, err := NewSQLiteQueue(ctx, e.path, e.s, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}

	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "data ready", func() bool { return e.user(t, u.RowID).DataReady })
	if diff := cmpData(expected(u.RowID, testData(24*14, baseUsage)), e.data(t, u.RowID)); diff != "" {
		t.Errorf("stored data (-want +got):\n%s", diff)
	}
	job := q.waitJobState(t, rivertype.JobStateCompleted)
	if job.Attempt != 1 {
		t.Errorf("job completed after %d attempts, want 1", job.Attempt)
	}
	// The finished sync handed its memory back.
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Error("no memory hand-back after the sync job")
	}

	// Once done, a later enqueue syncs again.
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second sync", func() bool { return len(e.fake.requests()) == 2 })
}

func TestQueueDoubleEnqueueRunsOnce(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	other := e.addUser(t, nil)
	q := openQueue(t, e)
	ctx := context.Background()
	for _, row := range []string{u.RowID, u.RowID, other.RowID, u.RowID} {
		if err := q.EnqueueSync(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(q.jobs(t)); n != 2 {
		t.Fatalf("%d jobs queued for two users, want 2", n)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both users synced", func() bool {
		return e.user(t, u.RowID).DataReady && e.user(t, other.RowID).DataReady
	})
	waitFor(t, "both jobs completed", func() bool {
		jobs := q.jobs(t)
		return len(jobs) == 2 && jobs[0].State == rivertype.JobStateCompleted && jobs[1].State == rivertype.JobStateCompleted
	})
	if n := len(e.fake.requests()); n != 2 {
		t.Errorf("connector fetched %d times for two users, want 2", n)
	}
}

func TestQueueDoesNotRetryRejectedLogin(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	ctx := context.Background()
	// expire@sandbox.test: the first sync works, the next finds the login
	// rejected.
	var calls atomic.Int32
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		if calls.Add(1) == 1 {
			return testData(48, baseUsage), nil
		}
		return nil, connector.Errorf(connector.KindBadCredentials, "wrong password")
	})
	q := startQueue(t, e)
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	q.waitJobState(t, rivertype.JobStateCompleted)
	before := e.data(t, u.RowID)

	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	job := q.waitJobState(t, rivertype.JobStateCancelled)
	if job.Attempt != 1 || len(job.Errors) != 1 {
		t.Errorf("cancelled job: attempt %d with %d errors, want 1 and 1", job.Attempt, len(job.Errors))
	}
	got := e.user(t, u.RowID)
	if got.CredentialsValid || got.Sync.Status != gridlink.SyncNeedsReauth || got.Sync.ErrorCode != "bad_credentials" {
		t.Errorf("user: valid %v state %+v; want invalid, needs_reauth, bad_credentials", got.CredentialsValid, got.Sync)
	}
	if diff := cmpData(before, e.data(t, u.RowID)); diff != "" {
		t.Errorf("data changed (-before +after):\n%s", diff)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("connector called %d times, want 2 (no retry)", n)
	}
}

func TestQueueRetriesTransientFailure(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	var calls atomic.Int32
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		if calls.Add(1) == 1 {
			return nil, connector.Errorf(connector.KindUnavailable, "site down")
		}
		return testData(48, baseUsage), nil
	})
	q := startQueue(t, e)
	if err := q.EnqueueSync(context.Background(), u.RowID); err != nil {
		t.Fatal(err)
	}
	job := q.waitJobState(t, rivertype.JobStateCompleted)
	if job.Attempt != 2 || len(job.Errors) != 1 {
		t.Errorf("job: attempt %d with %d errors, want 2 and 1", job.Attempt, len(job.Errors))
	}
	if got := e.user(t, u.RowID); !got.DataReady || !got.CredentialsValid || got.Sync.Status != gridlink.SyncOK {
		t.Errorf("user: ready %v valid %v state %+v; want ready, valid, ok", got.DataReady, got.CredentialsValid, got.Sync)
	}
}

func TestQueueStopRequeuesInterruptedSync(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	started := make(chan struct{}, 1)
	e.fake.set(func(ctx context.Context, _ connector.FetchRequest) (*connector.Data, error) {
		started <- struct{}{}
		<-ctx.Done() // a slow utility: only shutdown ends it
		return nil, ctx.Err()
	})
	q := openQueue(t, e)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("sync did not start")
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := e.user(t, u.RowID); got.CredentialsValid != true || got.Sync.ErrorCode != ErrorInterrupted {
		t.Errorf("user after interrupted sync: valid %v state %+v; want valid, interrupted", got.CredentialsValid, got.Sync)
	}

	// After a restart the sync runs again and finishes.
	e.fake.set(returns(func() *connector.Data { return testData(48, baseUsage) }))
	q2 := startQueue(t, e)
	waitFor(t, "data ready after restart", func() bool { return e.user(t, u.RowID).DataReady })
	job := q2.waitJobState(t, rivertype.JobStateCompleted)
	if job.Attempt != 1 {
		t.Errorf("job finished at attempt %d, want 1 (an interruption costs no attempt)", job.Attempt)
	}
}

func TestMigrateSQLiteIsIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 2 {
		if err := MigrateSQLite(ctx, "sqlite:"+e.path); err != nil {
			t.Fatal(err)
		}
	}
	// The store still works on the same file, and a queue opens on it.
	u := e.addUser(t, nil)
	q := startQueue(t, e)
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "data ready", func() bool { return e.user(t, u.RowID).DataReady })
}

// TestQueueAndStoreShareTheFile runs many syncs with large writes at once
// while jobs are being inserted, and checks that no attempt failed (a
// "database is locked" error would show up as a job error).
func TestQueueAndStoreShareTheFile(t *testing.T) {
	e := newEnv(t)
	e.fake.set(returns(func() *connector.Data { return testData(24*365, baseUsage) }))
	var users []gridlink.User
	for range 6 {
		users = append(users, e.addUser(t, nil))
	}
	q := startQueue(t, e)
	ctx := context.Background()
	for _, u := range users {
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all jobs completed", func() bool {
		jobs := q.jobs(t)
		for _, j := range jobs {
			if j.State != rivertype.JobStateCompleted {
				return false
			}
		}
		return len(jobs) == len(users)
	})
	for _, j := range q.jobs(t) {
		if len(j.Errors) != 0 {
			t.Errorf("job %d had errors: %+v", j.ID, j.Errors)
		}
	}
	for _, u := range users {
		d := e.data(t, u.RowID)
		if n := len(d.Intervals[MeterID(u.RowID, "A1", "E1")]); n != 24*365 {
			t.Errorf("user %s: %d electric readings, want %d", u.RowID, n, 24*365)
		}
	}
}

// slowRetry makes the first retry wait about an hour.
func slowRetry(c *Config) { c.RetryMin, c.RetryMax = time.Hour, 6*time.Hour }

func TestEnqueueSyncCutsRetryBackoffShort(t *testing.T) {
	e := newEnv(t, slowRetry)
	u := e.addUser(t, nil)
	e.fake.set(fails(connector.Errorf(connector.KindUnavailable, "site down")))
	q := openQueue(t, e)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	q.waitJobState(t, rivertype.JobStateRetryable)
	if got := e.user(t, u.RowID); got.Sync.Status != gridlink.SyncFailing || got.Sync.ErrorCode != "utility_unavailable" || !got.CredentialsValid {
		t.Errorf("user while backing off: valid %v state %+v; want valid, failing, utility_unavailable", got.CredentialsValid, got.Sync)
	}

	// The user reconnects: the waiting job runs now, not in an hour.
	e.fake.set(returns(func() *connector.Data { return testData(48, baseUsage) }))
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	job := q.waitJobState(t, rivertype.JobStateCompleted)
	if job.Attempt != 2 {
		t.Errorf("job completed at attempt %d, want 2", job.Attempt)
	}
	if n := len(q.jobs(t)); n != 1 {
		t.Errorf("%d jobs, want the one", n)
	}
}

func TestJobTimeoutIsRetryable(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = 100 * time.Millisecond }, slowRetry)
	u := e.addUser(t, nil)
	e.fake.set(func(ctx context.Context, _ connector.FetchRequest) (*connector.Data, error) {
		<-ctx.Done() // a utility that never answers
		return nil, ctx.Err()
	})
	q := openQueue(t, e)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	q.waitJobState(t, rivertype.JobStateRetryable)
	if got := e.user(t, u.RowID); got.Sync.Status != gridlink.SyncFailing || got.Sync.ErrorCode != "utility_unavailable" || !got.CredentialsValid {
		t.Errorf("user after timeout: valid %v state %+v; want valid, failing, utility_unavailable", got.CredentialsValid, got.Sync)
	}
}

func TestEnqueuedJobSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	ctx := context.Background()
	// Enqueued by a process that stops before working it.
	q := openQueue(t, e)
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	if err := q.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.EnqueueSync(ctx, u.RowID); err == nil {
		t.Error("EnqueueSync after Stop succeeded, want an error")
	}
	startQueue(t, e)
	waitFor(t, "data ready", func() bool { return e.user(t, u.RowID).DataReady })
}
