package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/store"
)

// backends runs fn on SQLite and, when GRIDLINK_TEST_POSTGRES is set, on
// PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, db func(testing.TB) backend)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDB) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDB) })
}

// hourlySite is a utility with one electric meter whose hourly readings
// run from start up to the last full hour before the request's Now. It
// honours Since (as a real connector may), and serves corrected values
// where set.
type hourlySite struct {
	start time.Time

	mu          sync.Mutex
	corrections map[int64]float64
}

func (h *hourlySite) usage(start int64) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.corrections[start]; ok {
		return v
	}
	return 1 + float64(start/3600%24)/10
}

func (h *hourlySite) correct(start int64, usage float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.corrections == nil {
		h.corrections = map[int64]float64{}
	}
	h.corrections[start] = usage
}

func (h *hourlySite) fetch(_ context.Context, req connector.FetchRequest) (*connector.Data, error) {
	from := h.start.Unix()
	if s := req.Since.Unix(); !req.Since.IsZero() && s > from {
		from = s - s%3600
	}
	var ivs []gridlink.Interval
	for s := from; s+3600 <= req.Now.Unix(); s += 3600 {
		ivs = append(ivs, gridlink.Interval{Start: s, End: s + 3600, Usage: h.usage(s)})
	}
	return &connector.Data{Accounts: []connector.Account{{
		Account:   gridlink.Account{ExternalID: "A1", Number: "1", Meters: []gridlink.Meter{{ExternalID: "E1", Type: gridlink.Electric}}},
		Intervals: map[string][]gridlink.Interval{"E1": ivs},
	}}}, nil
}

// readings returns the stored readings of the hourly site's meter and
// checks that they are ascending with neither duplicates nor overlaps.
func (e *env) readings(t *testing.T, rowID string) []gridlink.Interval {
	t.Helper()
	ivs := e.data(t, rowID).Intervals[MeterID(rowID, "A1", "E1")]
	checkSeries(t, ivs)
	return ivs
}

// checkSeries fails on readings out of order, repeated or overlapping.
func checkSeries(t testing.TB, ivs []gridlink.Interval) {
	t.Helper()
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Start < ivs[i-1].End {
			t.Fatalf("reading %d (%d-%d) repeats or overlaps reading %d (%d-%d)", i, ivs[i].Start, ivs[i].End, i-1, ivs[i-1].Start, ivs[i-1].End)
		}
	}
}

// waitJob waits for the user's newest sync job to reach state.
func (q *Queue) waitUserJob(t *testing.T, rowID string, state rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var job *rivertype.JobRow
	waitFor(t, "the user's sync job in state "+string(state), func() bool {
		job = nil
		for _, j := range q.jobs(t) {
			if strings.Contains(string(j.EncodedArgs), rowID) && (job == nil || j.ID > job.ID) {
				job = j
			}
		}
		return job != nil && job.State == state
	})
	return job
}

// TestScheduledRefreshIsIncremental: the scheduler queues a user when
// its next sync is due on the injected clock, not before; the refresh asks
// the utility for readings from the look-back window before the newest
// stored one; corrected readings inside the window replace the stored
// values, without duplicates.
func TestScheduledRefreshIsIncremental(t *testing.T) {
	backends(t, func(t *testing.T, db func(testing.TB) backend) {
		e := newEnvOn(t, db(t))
		ctx := context.Background()
		t0 := e.clock.Now()
		site := &hourlySite{start: t0.Add(-30 * 24 * time.Hour)}
		e.fake.set(site.fetch)
		u := e.addUser(t, nil)
		q := startQueue(t, e)

		// The first sync (queued by Connect) fetches everything.
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
		q.waitUserJob(t, u.RowID, rivertype.JobStateCompleted)
		if got := len(e.readings(t, u.RowID)); got != 30*24 {
			t.Fatalf("first sync stored %d readings, want %d", got, 30*24)
		}
		first := e.user(t, u.RowID).Sync
		checkNext(t, first, t0.Add(DefaultInterval-DefaultInterval/10), t0.Add(DefaultInterval+DefaultInterval/10))

		// Not due yet: the scheduler queues nothing.
		e.clock.Set(first.NextAttemptAt.Add(-time.Second))
		if n, err := q.enqueueDue(ctx); err != nil || n != 0 {
			t.Fatalf("scheduler before the next sync is due queued %d (%v), want 0", n, err)
		}

		// The utility corrects a reading 2 days back (inside the 7-day
		// look-back) and one 10 days back (outside it).
		newest := t0.Unix() - t0.Unix()%3600
		inside, outside := newest-2*24*3600, newest-10*24*3600
		site.correct(inside, 99)
		site.correct(outside, 77)
		before := e.readings(t, u.RowID)

		e.clock.Set(*first.NextAttemptAt)
		if n, err := q.enqueueDue(ctx); err != nil || n != 1 {
			t.Fatalf("scheduler when due queued %d (%v), want 1", n, err)
		}
		waitFor(t, "the scheduled sync", func() bool {
			st := e.user(t, u.RowID).Sync
			return st.Status == gridlink.SyncOK && st.LastSuccessAt.Equal(*first.NextAttemptAt)
		})

		reqs := e.fake.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d fetches, want 2", len(reqs))
		}
		if want := time.Unix(newest, 0).Add(-DefaultLookBack); !reqs[1].Since.Equal(want) {
			t.Errorf("refresh asked from %v, want %v (newest reading minus 7 days)", reqs[1].Since, want)
		}
		now := e.clock.Now()
		got := e.readings(t, u.RowID)
		if want := int(now.Sub(site.start) / time.Hour); len(got) != want {
			t.Errorf("%d readings after the refresh, want %d (one per hour, no duplicates)", len(got), want)
		}
		byStart := map[int64]float64{}
		for _, iv := range got {
			byStart[iv.Start] = iv.Usage
		}
		if byStart[inside] != 99 {
			t.Errorf("reading inside the look-back = %v, want the correction 99", byStart[inside])
		}
		for _, iv := range before {
			if iv.Start == outside && byStart[outside] != iv.Usage {
				t.Errorf("reading outside the look-back changed to %v (it was not asked for)", byStart[outside])
			}
		}
		st := e.user(t, u.RowID).Sync
		checkNext(t, st, now.Add(DefaultInterval-DefaultInterval/10), now.Add(DefaultInterval+DefaultInterval/10))
	})
}

// TestPeriodicSchedulerQueuesDueUsers: the periodic pass (not a direct
// call) picks up a user once the injected clock passes its next sync.
func TestPeriodicSchedulerQueuesDueUsers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	opts := fastQueue
	opts.ScheduleEvery = 100 * time.Millisecond
	q := openQueueWith(t, e, opts)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The pass at start queues the new user's first sync by itself.
	waitFor(t, "the first sync", func() bool { return e.user(t, u.RowID).Sync.Status == gridlink.SyncOK })
	next := *e.user(t, u.RowID).Sync.NextAttemptAt
	e.clock.Set(next.Add(time.Minute))
	waitFor(t, "the scheduled refresh", func() bool { return len(e.fake.requests()) == 2 })
	waitFor(t, "the refresh recorded", func() bool { return e.user(t, u.RowID).Sync.LastSuccessAt.Equal(e.clock.Now()) })
}

// TestScheduledJobSkipsUserSyncedSinceListing: a scheduled job whose user
// was synced after the scheduler listed it does not sync again.
func TestScheduledJobSkipsUserSyncedSinceListing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	q := startQueue(t, e)
	if _, err := q.client.Insert(ctx, SyncArgs{UserRowID: u.RowID, Scheduled: true}, nil); err != nil {
		t.Fatal(err)
	}
	q.waitUserJob(t, u.RowID, rivertype.JobStateCompleted)
	if n := len(e.fake.requests()); n != 1 {
		t.Errorf("%d fetches, want 1 (the scheduled job ran though the user was not due)", n)
	}
	// Asked for by Connect or refresh, the same user syncs at once.
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the asked-for sync", func() bool { return len(e.fake.requests()) == 2 })
}

// outage is the sandbox utility whose website goes down and comes back.
// While down, every fetch gets what the sandbox answers for
// down@sandbox.test (the site is unavailable); the sandbox's own down@
// login never comes back, so recovery needs this switch.
type outage struct {
	connector.Connector
	down atomic.Bool
}

func (o *outage) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	if o.down.Load() {
		req.Credentials = connector.Credentials{Username: sandbox.DownUser, Password: sandbox.Password}
	}
	return o.Connector.Fetch(ctx, req)
}

// TestSiteDownBacksOffAndRecovers: while the utility is down, each failed
// sync is retried after a longer delay (exponential, jittered, capped),
// the status is failing with utility_unavailable, the login stays valid
// and the stored data stays as it was; when the site is back the next
// retry succeeds and the regular schedule resumes.
func TestSiteDownBacksOffAndRecovers(t *testing.T) {
	backends(t, func(t *testing.T, db func(testing.TB) backend) {
		site := &outage{Connector: sandbox.New(sandbox.Config{})}
		e := newEnvOn(t, db(t), func(c *Config) {
			c.Catalog = catalog.Default()
			c.Connectors = connector.Registry{catalog.ConnectorSandbox: site}
			c.RetryMin, c.RetryMax = time.Minute, time.Hour
		})
		ctx := context.Background()
		u := e.addLogin(t, catalog.SandboxID, Credential{Username: sandbox.PelmUser, Password: sandbox.Password})
		if err := e.s.Sync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
		before := e.data(t, u.RowID)
		lastSuccess := e.clock.Now()

		site.down.Store(true)
		e.clock.Set(*e.user(t, u.RowID).Sync.NextAttemptAt)
		var delays []time.Duration
		for attempt := 1; attempt <= 12; attempt++ {
			err := e.s.Sync(ctx, u.RowID)
			if err == nil || !Retryable(err) {
				t.Fatalf("attempt %d while down: %v, want a retryable error", attempt, err)
			}
			got := e.user(t, u.RowID)
			if got.Sync.Status != gridlink.SyncFailing || got.Sync.ErrorCode != "utility_unavailable" || !got.CredentialsValid || !got.DataReady {
				t.Fatalf("attempt %d: valid %v ready %v state %+v; want valid, ready, failing, utility_unavailable", attempt, got.CredentialsValid, got.DataReady, got.Sync)
			}
			if !got.Sync.LastSuccessAt.Equal(lastSuccess) {
				t.Errorf("attempt %d: last success moved to %v", attempt, got.Sync.LastSuccessAt)
			}
			delays = append(delays, got.Sync.NextAttemptAt.Sub(*got.Sync.LastAttemptAt))
			e.clock.Set(*got.Sync.NextAttemptAt)
		}
		t.Logf("delays: %v", delays)
		if d := delays[0]; d < 47*time.Second || d > time.Minute {
			t.Errorf("first delay %v, want within [48s, 1m] (RetryMin with downward jitter)", d)
		}
		for i := 1; i < len(delays); i++ {
			prev, d := delays[i-1], delays[i]
			if d > time.Hour {
				t.Errorf("delay %d is %v, above the cap of 1h", i+1, d)
			}
			// Growing by at least 1.6x (two seconds of rounding
			// allowed) until within the jitter of the cap.
			if want := min(prev*16/10, 48*time.Minute) - 2*time.Second; d < want {
				t.Errorf("delay %d is %v after %v, want at least %v", i+1, d, prev, want)
			}
		}
		if d := delays[len(delays)-1]; d < 48*time.Minute {
			t.Errorf("last delay %v never reached the cap (1h, jittered down to 48m at most)", d)
		}
		if diff := cmpData(before, e.data(t, u.RowID)); diff != "" {
			t.Errorf("data changed while the site was down (-before +after):\n%s", diff)
		}

		// The site is back: the next retry succeeds and refreshes
		// incrementally; the next sync is a regular one.
		site.down.Store(false)
		if err := e.s.Sync(ctx, u.RowID); err != nil {
			t.Fatalf("sync after the outage: %v", err)
		}
		now := e.clock.Now()
		got := e.user(t, u.RowID).Sync
		want := gridlink.SyncState{Status: gridlink.SyncOK, LastSuccessAt: &now, LastAttemptAt: &now, NextAttemptAt: got.NextAttemptAt}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("state after recovery (-want +got):\n%s", diff)
		}
		checkNext(t, got, now.Add(DefaultInterval-DefaultInterval/10), now.Add(DefaultInterval+DefaultInterval/10))
		for _, ivs := range e.data(t, u.RowID).Intervals {
			checkSeries(t, ivs)
		}
	})
}

// TestRetryAfterIsHonoured: a utility asking to wait longer than the
// backoff gets its wait.
func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RetryMin, c.RetryMax = time.Minute, time.Hour })
	u := e.addUser(t, nil)
	e.fake.set(fails(&connector.Error{Kind: connector.KindRateLimited, Message: "slow down", RetryAfter: 3 * time.Hour}))
	if err := e.s.Sync(context.Background(), u.RowID); err == nil {
		t.Fatal("Sync succeeded, want an error")
	}
	now := e.clock.Now()
	got := e.user(t, u.RowID).Sync
	if got.Status != gridlink.SyncFailing || got.ErrorCode != "rate_limited" {
		t.Errorf("state %+v, want failing, rate_limited", got)
	}
	checkNext(t, got, now.Add(3*time.Hour), now.Add(3*time.Hour))
}

// gather returns the value of the counter name with the given labels in
// reg (0 when absent).
func gather(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestLayoutChangedAlerts: a changed site is an ERROR log line marked
// alert=true and a counter increase, and is retried with backoff.
func TestLayoutChangedAlerts(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Metrics = reg; c.RetryMin, c.RetryMax = time.Minute, time.Hour })
	u := e.addUser(t, nil)
	ctx := context.Background()
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	e.fake.set(fails(connector.Errorf(connector.KindLayoutChanged, "no usage table on the dashboard")))
	if err := e.s.Sync(ctx, u.RowID); err == nil || !Retryable(err) {
		t.Fatalf("Sync = %v, want a retryable error", err)
	}
	got := e.user(t, u.RowID)
	if got.Sync.Status != gridlink.SyncFailing || got.Sync.ErrorCode != "layout_changed" || !got.CredentialsValid {
		t.Errorf("user: valid %v state %+v; want valid, failing, layout_changed", got.CredentialsValid, got.Sync)
	}
	checkNext(t, got.Sync, e.clock.Now().Add(48*time.Second), e.clock.Now().Add(time.Minute))
	var alert string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "alert=true") {
			alert = line
		}
	}
	if !strings.Contains(alert, "level=ERROR") || !strings.Contains(alert, "utility="+testUtilitySlug) || !strings.Contains(alert, "layout") {
		t.Errorf("no ERROR alert line naming the utility; logs:\n%s", e.logs.String())
	}
	if v := gather(t, reg, metricLayoutChanged, map[string]string{"utility": testUtilitySlug}); v != 1 {
		t.Errorf("%s = %v, want 1", metricLayoutChanged, v)
	}
	for result, want := range map[string]float64{"ok": 1, "layout_changed": 1} {
		if v := gather(t, reg, metricAttempts, map[string]string{"utility": testUtilitySlug, "result": result}); v != want {
			t.Errorf("%s{result=%q} = %v, want %v", metricAttempts, result, v, want)
		}
	}
}

// TestQueueRetryWaitsTheRecordedBackoff: River holds a failed job back as
// long as the next attempt Sync recorded for the user.
func TestQueueRetryWaitsTheRecordedBackoff(t *testing.T) {
	e := newEnv(t, slowRetry)
	u := e.addUser(t, nil)
	e.fake.set(fails(connector.Errorf(connector.KindUnavailable, "site down")))
	q := startQueue(t, e)
	if err := q.EnqueueSync(context.Background(), u.RowID); err != nil {
		t.Fatal(err)
	}
	job := q.waitJobState(t, rivertype.JobStateRetryable)
	st := e.user(t, u.RowID).Sync
	recorded := st.NextAttemptAt.Sub(*st.LastAttemptAt)
	waits := job.ScheduledAt.Sub(*job.AttemptedAt)
	if recorded < 48*time.Minute || recorded > time.Hour {
		t.Errorf("recorded backoff %v, want within [48m, 1h]", recorded)
	}
	if diff := waits - recorded; diff < -5*time.Second || diff > 5*time.Second {
		t.Errorf("River retries %v after the attempt, the user's next attempt is %v after it", waits, recorded)
	}
}

// TestRefreshWhileRunningIsNoOp: asking for a sync while one runs starts
// nothing more.
func TestRefreshWhileRunningIsNoOp(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, nil)
	started, release := make(chan struct{}, 1), make(chan struct{})
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		started <- struct{}{}
		<-release
		return testData(48, baseUsage), nil
	})
	q := startQueue(t, e)
	ctx := context.Background()
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	<-started
	for range 3 {
		if err := q.EnqueueSync(ctx, u.RowID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(q.jobs(t)); n != 1 {
		t.Errorf("%d jobs while one sync runs, want 1", n)
	}
	close(release)
	q.waitJobState(t, rivertype.JobStateCompleted)
	if n := len(e.fake.requests()); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// meteredSite is a utility connector that measures how many fetches run
// at once. The first fetches hold until limit of them run together (so
// that the limit is reached, not just respected by accident), then every
// fetch returns at once.
type meteredSite struct {
	limit int

	mu       sync.Mutex
	inFlight int
	max      int
	full     chan struct{}
	fetches  map[string]int
}

func newMeteredSite(limit int) *meteredSite {
	return &meteredSite{limit: limit, full: make(chan struct{}), fetches: map[string]int{}}
}

func (m *meteredSite) Login(context.Context, connector.Credentials) (connector.Login, error) {
	return connector.Login{}, nil
}

func (m *meteredSite) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	m.mu.Lock()
	m.inFlight++
	m.max = max(m.max, m.inFlight)
	m.fetches[req.Credentials.Username]++
	if m.inFlight == m.limit {
		select {
		case <-m.full:
		default:
			close(m.full)
		}
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.inFlight--
		m.mu.Unlock()
	}()
	select {
	case <-m.full:
	case <-time.After(10 * time.Second): // fewer users than the limit
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	time.Sleep(time.Millisecond) // a little overlap between fetches
	return testData(24, baseUsage), nil
}

func (m *meteredSite) stats() (maxInFlight int, fetches map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.fetches))
	for k, v := range m.fetches {
		out[k] = v
	}
	return m.max, out
}

// TestUtilityLimitUnder200QueuedJobs: 200 syncs of one utility queued at
// once, with more workers than the utility's limit, never run more than
// the limit of fetches at once, and a second utility's syncs are not held
// up behind them. On PostgreSQL two queues (two processes' worth of
// workers) share the jobs and the limit.
func TestUtilityLimitUnder200QueuedJobs(t *testing.T) {
	backends(t, func(t *testing.T, db func(testing.TB) backend) {
		const limit, busy, other = 4, 200, 20
		a, b := newMeteredSite(limit), newMeteredSite(limit)
		e := newEnvOn(t, db(t), func(c *Config) {
			cat, err := catalog.New([]gridlink.Utility{
				{ID: 1, Slug: "busy", Name: "Busy Utility", Connector: "a"},
				{ID: 2, Slug: "other", Name: "Other Utility", Connector: "b"},
			})
			if err != nil {
				t.Fatal(err)
			}
			c.Catalog = cat
			c.Connectors = connector.Registry{"a": a, "b": b}
			c.UtilityLimit = limit
			c.Workers = 10
			c.UtilityBusyDelay = 20 * time.Millisecond
		})
		ctx := context.Background()
		var users []gridlink.User
		for i := range busy {
			users = append(users, e.addLogin(t, 1, Credential{Username: fmt.Sprintf("busy-%03d", i), Password: "pw"}))
		}
		for i := range other {
			users = append(users, e.addLogin(t, 2, Credential{Username: fmt.Sprintf("other-%03d", i), Password: "pw"}))
		}
		queues := 1
		if e.schema != "" {
			queues = 2
		}
		var qs []*Queue
		for range queues {
			qs = append(qs, openQueue(t, e))
		}
		// One scheduler pass queues every new user.
		if n, err := qs[0].enqueueDue(ctx); err != nil || n != busy+other {
			t.Fatalf("scheduler queued %d (%v), want %d", n, err, busy+other)
		}
		for _, q := range qs {
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(3 * time.Minute)
		for _, u := range users {
			for !e.user(t, u.RowID).DataReady {
				if time.Now().After(deadline) {
					t.Fatalf("user %s not synced in time", u.UtilityUsername)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		for name, site := range map[string]*meteredSite{"busy": a, "other": b} {
			maxInFlight, fetches := site.stats()
			if maxInFlight != limit {
				t.Errorf("utility %s: at most %d fetches ran at once, want exactly the limit %d", name, maxInFlight, limit)
			}
			for user, n := range fetches {
				if n != 1 {
					t.Errorf("user %s fetched %d times, want once", user, n)
				}
			}
		}
		if _, f := a.stats(); len(f) != busy {
			t.Errorf("%d busy-utility users fetched, want %d", len(f), busy)
		}
	})
}

// TestStaleSyncingUserIsDue: a user left "syncing" by a process that died
// is due again once the attempt is older than JobTimeout + 1 minute.
func TestStaleSyncingUserIsDue(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JobTimeout = time.Minute })
	ctx := context.Background()
	u := e.addUser(t, nil)
	started := e.clock.Now()
	if err := e.st.SetSyncState(ctx, u.RowID, gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: &started}); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t, e)
	e.clock.Set(started.Add(2 * time.Minute))
	if n, err := q.enqueueDue(ctx); err != nil || n != 0 {
		t.Errorf("scheduler queued %d (%v) for an attempt 2 minutes old, want 0", n, err)
	}
	e.clock.Set(started.Add(2*time.Minute + time.Second))
	if n, err := q.enqueueDue(ctx); err != nil || n != 1 {
		t.Errorf("scheduler queued %d (%v) for a dead attempt, want 1", n, err)
	}
}

// TestSchedulerPurgesExpiredConnectSessions: the scheduler job deletes
// Connect sessions expired more than a day ago and keeps the others.
func TestSchedulerPurgesExpiredConnectSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, nil)
	now := e.clock.Now()
	for _, s := range []store.ConnectSession{
		{ID: "old", ExpiresAt: now.Add(-ConnectSessionRetention - time.Minute)},
		{ID: "recent", ExpiresAt: now.Add(-ConnectSessionRetention + time.Minute)},
	} {
		s.ClientID, s.UserID, s.Step, s.CreatedAt = u.ClientID, u.ID, store.StepTerms, s.ExpiresAt.Add(-time.Hour)
		if err := e.st.CreateConnectSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	q := openQueue(t, e)
	if err := (&scheduleWorker{q: q}).Work(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ConnectSession(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session expired over a day ago: err %v, want ErrNotFound", err)
	}
	if _, err := e.st.ConnectSession(ctx, "recent"); err != nil {
		t.Errorf("session expired under a day ago: %v", err)
	}
}

// TestNewRejectsBadSchedule covers the configuration checks.
func TestNewRejectsBadSchedule(t *testing.T) {
	e := newEnv(t)
	base := e.s.cfg
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"negative interval", func(c *Config) { c.Interval = -time.Hour }},
		{"jitter as long as the interval", func(c *Config) { c.Interval, c.IntervalJitter = time.Hour, time.Hour }},
		{"retry min above max", func(c *Config) { c.RetryMin, c.RetryMax = time.Hour, time.Minute }},
		{"negative busy delay", func(c *Config) { c.UtilityBusyDelay = -time.Second }},
	}
	for _, tc := range tests {
		cfg := base
		cfg.Metrics = prometheus.NewRegistry()
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	// RescueAfter below the job timeout would run live jobs twice.
	if _, err := OpenQueue(context.Background(), e.dsn, e.s, nil, QueueOptions{RescueAfter: time.Second}); err == nil {
		t.Error("OpenQueue accepted RescueAfter below JobTimeout")
	}
}

// TestRetryDelayTable checks the backoff arithmetic on its own.
func TestRetryDelayTable(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RetryMin, c.RetryMax = time.Minute, 6*time.Hour
		c.Rand = zeroReader{} // no jitter: the upper end of each range
	})
	at := func(d time.Duration) *time.Time { v := e.clock.Now().Add(d); return &v }
	tests := []struct {
		name       string
		prev       gridlink.SyncState
		retryAfter time.Duration
		want       time.Duration
	}{
		{"after a success", gridlink.SyncState{Status: gridlink.SyncOK, LastAttemptAt: at(0), NextAttemptAt: at(12 * time.Hour)}, 0, time.Minute},
		{"first ever", gridlink.SyncState{Status: gridlink.SyncPending}, 0, time.Minute},
		{"after a 1m retry", gridlink.SyncState{Status: gridlink.SyncFailing, LastAttemptAt: at(0), NextAttemptAt: at(time.Minute)}, 0, 2 * time.Minute},
		{"after a 4h retry", gridlink.SyncState{Status: gridlink.SyncFailing, LastAttemptAt: at(0), NextAttemptAt: at(4 * time.Hour)}, 0, 6 * time.Hour},
		{"retry after wins", gridlink.SyncState{Status: gridlink.SyncOK}, 2 * time.Hour, 2 * time.Hour},
		{"retry after bounded", gridlink.SyncState{Status: gridlink.SyncOK}, 30 * 24 * time.Hour, 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := e.s.retryDelay(tc.prev, tc.retryAfter); got != tc.want {
			t.Errorf("%s: delay %v, want %v", tc.name, got, tc.want)
		}
	}
}

// zeroReader reads zeros (uniform draws of 0).
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
