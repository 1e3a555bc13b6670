package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// SyncKind is the River job kind of a sync.
const SyncKind = "gridlink_sync"

// SyncArgs are the arguments of a sync job: the user's internal row id
// (never a secret, never the developer's user id).
type SyncArgs struct {
	UserRowID string `json:"user_row_id" river:"unique"`
	// Scheduled marks a job queued by the scheduler: its first attempt is
	// skipped if the user is no longer due (a sync ran between the
	// scheduler's listing and its insert). It takes no part in
	// uniqueness: one sync job per user, whoever queued it.
	Scheduled bool `json:"scheduled,omitempty"`

	// retryIn carries the backoff that Sync recorded from Work to
	// NextRetry (River hands both the same job value); never stored.
	retryIn time.Duration
}

// Kind is the job kind, SyncKind.
func (SyncArgs) Kind() string { return SyncKind }

// InsertOpts makes sync jobs unique per user while one is waiting or
// running, so enqueueing twice is harmless. Completed and cancelled jobs do
// not count: a later enqueue syncs again.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable,
				rivertype.JobStatePending,
				rivertype.JobStateRetryable,
				rivertype.JobStateRunning,
				rivertype.JobStateScheduled,
			},
		},
	}
}

// syncWorker is the River adapter of Syncer.Sync.
type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s *Syncer
}

// Timeout bounds one attempt (River's own default of one minute is too
// short for slow utility sites).
func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return w.s.cfg.JobTimeout }

// Work runs one sync attempt and translates its outcome for River: rejected
// logins cancel the job for good; a utility at its concurrency limit puts
// the job back for a while (a snooze: no attempt used, no worker held); a
// login replaced mid-sync runs the job again at once; anything else is
// retried after the backoff Sync recorded as the user's next attempt.
func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	w.s.mem.begin()
	defer w.s.mem.end()
	err := w.s.sync(ctx, job.Args.UserRowID, job.Args.Scheduled && job.Attempt <= 1)
	var later *retryLater
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUtilityBusy):
		return river.JobSnooze(w.s.busyDelay())
	case errors.Is(err, ErrLoginChanged):
		return river.JobSnooze(0)
	case !Retryable(err):
		return river.JobCancel(err)
	case errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, context.Canceled):
		// Stopped by shutdown: River puts the job back (without using
		// up an attempt) only if the error says it was cancelled.
		return fmt.Errorf("%w (%w)", err, context.Canceled)
	case errors.As(err, &later):
		job.Args.retryIn = later.delay
	}
	return err
}

// NextRetry schedules the retry of a failed attempt when Sync decided it
// (the same delay as the user's recorded next attempt, on River's clock);
// otherwise (a rescued or panicked job) the client's retry policy decides.
func (w *syncWorker) NextRetry(job *river.Job[SyncArgs]) time.Time {
	if job.Args.retryIn > 0 {
		return time.Now().Add(job.Args.retryIn)
	}
	return time.Time{}
}

// retryPolicy retries jobs whose attempt Sync did not finish (a process
// that died mid-sync, a panic) after RetryMin doubled per attempt, capped.
type retryPolicy struct{ s *Syncer }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := p.s.cfg.RetryMin
	for i := 1; i < job.Attempt && d < p.s.cfg.RetryMax; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, p.s.cfg.RetryMax))
}

// ScheduleKind is the River job kind of the scheduler pass that queues a
// sync for every user due (see Queue).
const ScheduleKind = "gridlink_sync_schedule"

// scheduleArgs are the (empty) arguments of a scheduler pass.
type scheduleArgs struct{}

func (scheduleArgs) Kind() string { return ScheduleKind }

// InsertOpts: one pass at a time (a pass still queued or running makes the
// next tick's insert a no-op), not retried (the next tick is the retry).
func (scheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable,
			rivertype.JobStatePending,
			rivertype.JobStateRunning,
			rivertype.JobStateScheduled,
			rivertype.JobStateRetryable,
		}},
	}
}

// scheduleWorker runs a scheduler pass.
type scheduleWorker struct {
	river.WorkerDefaults[scheduleArgs]
	q *Queue
}

func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[scheduleArgs]) error {
	_, err := w.q.enqueueDue(ctx)
	w.q.purgeConnectSessions(ctx)
	return err
}

// jobClient is the part of *river.Client[TTx] the queue uses; it does not
// depend on the driver's transaction type, so one Queue serves every driver.
type jobClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// Queue runs syncs as River jobs. Create it with NewSQLiteQueue,
// NewPostgresQueue or OpenQueue; it satisfies the Connect zone's
// interface{ EnqueueSync(ctx context.Context, userRowID string) error }.
//
// Besides the jobs queued by EnqueueSync, a periodic scheduler pass (every
// QueueOptions.ScheduleEvery, run by the one leader among the processes
// sharing the database) queues a sync for every user due: a scheduled
// refresh, a retry whose job was lost or used up, a sync whose process
// died. Sync jobs are unique per user while waiting or running, so the
// scheduler, Connect and POST /users/{id}/refresh never start two syncs of
// one user.
type Queue struct {
	client jobClient
	s      *Syncer
	log    *slog.Logger
	// closeDB releases the database handle the queue opened (nil when the
	// caller owns it).
	closeDB func() error

	mu      sync.Mutex
	stopped bool
}

// Defaults of QueueOptions.
const (
	// DefaultScheduleEvery is how often the scheduler looks for users due.
	DefaultScheduleEvery = time.Minute
	// scheduleBatch is the number of users the scheduler queues per
	// insert.
	scheduleBatch = 500
)

// QueueOptions tune a queue. The zero value gives the production defaults.
type QueueOptions struct {
	// ScheduleEvery is the period of the scheduler pass that queues the
	// syncs of users due; 0 means DefaultScheduleEvery.
	ScheduleEvery time.Duration
	// RescueAfter is how long a job may stay marked running before it is
	// taken for abandoned (its process died: kill -9, power loss) and run
	// again. It must be at least the Syncer's JobTimeout; 0 means
	// JobTimeout + 1 minute (11 minutes with the default JobTimeout). A
	// dead process's job is run again this long after its attempt began
	// (plus up to about 15 s for another process to take over River's
	// leadership, whose maintenance does the rescue).
	RescueAfter time.Duration
	// Schema is the PostgreSQL schema of River's tables (normally the
	// store's sqlstore.Options.Schema), created if missing; empty means
	// the connection's search_path. SQLite ignores it.
	Schema string

	// Test knobs: River's polling intervals (0: River's defaults).
	fetchPollInterval time.Duration
	fetchCooldown     time.Duration
}

// newQueue builds the River client on any River driver and the Queue
// around it.
func newQueue[TTx any](driver riverdriver.Driver[TTx], s *Syncer, logger *slog.Logger, opts QueueOptions) (*Queue, error) {
	every := cmp.Or(opts.ScheduleEvery, DefaultScheduleEvery)
	rescue := cmp.Or(opts.RescueAfter, s.cfg.JobTimeout+time.Minute)
	switch {
	case every < 0:
		return nil, fmt.Errorf("ScheduleEvery is %v", every)
	case rescue < s.cfg.JobTimeout:
		return nil, fmt.Errorf("RescueAfter %v is shorter than the job timeout %v", rescue, s.cfg.JobTimeout)
	}
	q := &Queue{s: s, log: logger}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &syncWorker{s: s}); err != nil {
		return nil, fmt.Errorf("register sync worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &scheduleWorker{q: q}); err != nil {
		return nil, fmt.Errorf("register schedule worker: %w", err)
	}
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     opts.fetchCooldown,
		FetchPollInterval: opts.fetchPollInterval,
		JobTimeout:        s.cfg.JobTimeout,
		Logger:            logger.With("component", "river"),
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return scheduleArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true},
		)},
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: s.cfg.Workers},
		},
		// A job still marked running this long after it started belongs
		// to a process that died (kill -9, power loss): run it again.
		RescueStuckJobsAfter: rescue,
		RetryPolicy:          retryPolicy{s: s},
		Schema:               opts.Schema,
		Workers:              workers,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	q.client = client
	return q, nil
}

// enqueueDue queues a sync for every user due now (on the Syncer's
// clock), in batches; it returns how many jobs were new (the others were
// already waiting or running).
func (q *Queue) enqueueDue(ctx context.Context) (int, error) {
	now := q.s.now()
	stale := now.Add(-q.s.staleAfter())
	added, after := 0, ""
	for {
		ids, err := q.s.cfg.Store.DueForSync(ctx, now, stale, after, scheduleBatch)
		if err != nil {
			return added, fmt.Errorf("schedule syncs: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		params := make([]river.InsertManyParams, len(ids))
		for i, id := range ids {
			params[i] = river.InsertManyParams{Args: SyncArgs{UserRowID: id, Scheduled: true}}
		}
		res, err := q.client.InsertMany(ctx, params)
		if err != nil {
			return added, fmt.Errorf("schedule syncs: %w", err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				added++
			}
		}
		if len(ids) < scheduleBatch {
			break
		}
		after = ids[len(ids)-1]
	}
	if added > 0 {
		q.s.metrics.scheduled.Add(float64(added))
		q.log.InfoContext(ctx, "sync scheduler: queued syncs of users due", "count", added)
	}
	return added, nil
}

// migrateRiver applies River's own schema migrations; it is idempotent.
func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], schema string, logger *slog.Logger) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: logger.With("component", "rivermigrate"), Schema: schema})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// Start starts working jobs in the background. The queue runs until Stop:
// cancelling ctx does not stop it (River would treat that as a hard stop
// that cancels running syncs).
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start sync queue: %w", err)
	}
	return nil
}

// Stop stops fetching new jobs and lets running syncs finish. If ctx has a
// deadline and running syncs have not finished shortly before it (a fifth
// of the remaining time, at most five seconds, is kept in reserve), their
// contexts are cancelled and the jobs go back on the queue, to run again
// after the next start without losing an attempt. Stop then releases the
// queue's database handle; call it even if Start never was.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return nil
	}
	soft := ctx
	if deadline, ok := ctx.Deadline(); ok {
		reserve := min(time.Until(deadline)/5, 5*time.Second)
		var cancel context.CancelFunc
		soft, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
		defer cancel()
	}
	err := q.client.Stop(soft)
	if err != nil && ctx.Err() == nil {
		q.log.WarnContext(ctx, "sync queue: running syncs did not finish in time; cancelling them")
		err = q.client.StopAndCancel(ctx)
	}
	if err != nil {
		return fmt.Errorf("stop sync queue: %w", err)
	}
	q.stopped = true
	if q.closeDB != nil {
		if err := q.closeDB(); err != nil {
			return fmt.Errorf("stop sync queue: close database: %w", err)
		}
	}
	return nil
}

// EnqueueSync asks for a sync of the user now (Connect after a login, POST
// /users/{id}/refresh). It is harmless to call it again while a sync of the
// user is waiting or running (the job is unique per user; the one running
// or about to run serves the request). A sync waiting out a retry backoff,
// or waiting for a free slot of its utility, is made available at once: a
// caller asking for a sync (typically a fresh Connect) has reason to
// believe it can succeed now.
func (q *Queue) EnqueueSync(ctx context.Context, userRowID string) error {
	if userRowID == "" {
		return errors.New("enqueue sync: empty user row id")
	}
	res, err := q.client.Insert(ctx, SyncArgs{UserRowID: userRowID}, nil)
	if err != nil {
		return fmt.Errorf("enqueue sync: %w", err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job != nil &&
		(res.Job.State == rivertype.JobStateRetryable || res.Job.State == rivertype.JobStateScheduled) {
		if _, err := q.client.JobRetry(ctx, res.Job.ID); err != nil {
			return fmt.Errorf("enqueue sync: retry waiting job: %w", err)
		}
	}
	return nil
}
