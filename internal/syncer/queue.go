package syncer

import (
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
	UserRowID string `json:"user_row_id"`
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
// logins cancel the job for good, a login replaced mid-sync runs the job
// again at once, anything else is retried with River's backoff.
func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	err := w.s.Sync(ctx, job.Args.UserRowID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLoginChanged):
		return river.JobSnooze(0)
	case !Retryable(err):
		return river.JobCancel(err)
	case errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, context.Canceled):
		// Stopped by shutdown: River puts the job back (without using
		// up an attempt) only if the error says it was cancelled.
		return fmt.Errorf("%w (%w)", err, context.Canceled)
	}
	return err
}

// jobClient is the part of *river.Client[TTx] the queue uses; it does not
// depend on the driver's transaction type, so one Queue serves every driver.
type jobClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// Queue runs syncs as River jobs. Create it with NewSQLiteQueue (or, later,
// a PostgreSQL constructor); it satisfies the Connect zone's
// interface{ EnqueueSync(ctx context.Context, userRowID string) error }.
type Queue struct {
	client jobClient
	log    *slog.Logger
	// closeDB releases the database handle the queue opened (nil when the
	// caller owns it).
	closeDB func() error

	mu      sync.Mutex
	stopped bool
}

// queueOptions tune a queue; tests shorten River's intervals.
type queueOptions struct {
	fetchPollInterval time.Duration
	fetchCooldown     time.Duration
	retryPolicy       river.ClientRetryPolicy
}

// newQueue builds the River client on any River driver.
func newQueue[TTx any](driver riverdriver.Driver[TTx], s *Syncer, logger *slog.Logger, opts queueOptions) (*river.Client[TTx], error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &syncWorker{s: s}); err != nil {
		return nil, fmt.Errorf("register sync worker: %w", err)
	}
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     opts.fetchCooldown,
		FetchPollInterval: opts.fetchPollInterval,
		JobTimeout:        s.cfg.JobTimeout,
		Logger:            logger.With("component", "river"),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: s.cfg.Workers},
		},
		// A job still marked running this long after it started belongs
		// to a process that died (kill -9, power loss): run it again.
		RescueStuckJobsAfter: s.cfg.JobTimeout + time.Minute,
		RetryPolicy:          opts.retryPolicy,
		Workers:              workers,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// migrateRiver applies River's own schema migrations; it is idempotent.
func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], logger *slog.Logger) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: logger.With("component", "rivermigrate")})
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

// EnqueueSync asks for a sync of the user soon. It is harmless to call it
// again while a sync of the user is waiting or running (the job is unique
// per user); a sync waiting out a retry backoff is made available at once,
// since a caller asking for a sync (typically a fresh Connect) has reason to
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
