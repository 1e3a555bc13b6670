package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// errPoolEmpty is returned by an op when its pool of single-use inputs
// (fresh authorization codes) is used up: the run ends early.
var errPoolEmpty = errors.New("pool exhausted")

// op performs one request or transaction and returns the bytes it read.
type op func(ctx context.Context) (int64, error)

// loadSpec describes one load run over conns workers: runLoad's closed
// loop (each worker repeats its op back to back) or runOpenLoad's fixed
// rate, for warmup (not recorded) and then duration.
type loadSpec struct {
	conns    int
	warmup   time.Duration
	duration time.Duration
	// newOp returns worker w's op; it is called before the clock starts
	// (e.g. to open a keep-alive connection).
	newOp func(ctx context.Context, w int) (op, error)
	// sample, when set, is called every 100 ms during the run (RSS sampling).
	sample func()
	// cpu, when set, returns the CPU time used so far by the process under
	// test; the run reports what it used during the window.
	cpu func() time.Duration
}

// loadResult is what a run measured. In the closed loop only operations
// that completed inside the measurement window count: throughput is
// completions per second of window, latencies are those completions'
// durations. In the open loop the operations scheduled inside the window
// count, and latencies run from their intended send times.
type loadResult struct {
	ops      int
	errs     int
	firstErr string
	bytes    int64
	elapsed  time.Duration
	lat      []time.Duration // sorted ascending
	// exhausted is set when the op's pool ran out before the window ended.
	exhausted bool
	// cpu is the CPU time the process under test used during the window
	// (0 without loadSpec.cpu).
	cpu time.Duration

	// Open loop only (runOpenLoad).
	rate    float64 // offered operations per second
	planned int     // operations scheduled inside the window
	missed  int     // of those, not started when the window ended
}

// minKeptRate is the share of its planned operations an open-loop run
// must complete to have kept its rate: below it the generator (or the
// server behind it) fell behind.
const minKeptRate = 0.97

// keptRate reports whether an open-loop run completed at least
// minKeptRate of rate × duration operations.
func (r loadResult) keptRate() bool {
	return r.rate > 0 && float64(r.ops) >= minKeptRate*r.rate*r.elapsed.Seconds()
}

// cpuPerOp is the CPU time of the process under test per completed
// operation, in microseconds (0 when not measured).
func (r loadResult) cpuPerOp() float64 {
	if r.cpu <= 0 || r.ops == 0 {
		return 0
	}
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.ops)
}

func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// mbps is the body throughput in MB/s (10^6 bytes).
func (r loadResult) mbps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.bytes) / 1e6 / r.elapsed.Seconds()
}

// percentile returns the nearest-rank percentile p (0..100) of the
// recorded latencies, in milliseconds.
func (r loadResult) percentile(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.999999) - 1
	i = max(0, min(i, len(r.lat)-1))
	return float64(r.lat[i]) / float64(time.Millisecond)
}

// workerStats is one worker's record, merged after the run.
type workerStats struct {
	lat      []time.Duration
	errs     int
	firstErr string
	bytes    int64
	lastDone time.Time
	empty    bool
	started  int // open loop: operations of the window it started
}

// record adds one recorded operation's outcome.
func (st *workerStats) record(lat time.Duration, n int64, err error) {
	if err != nil {
		st.errs++
		if st.firstErr == "" {
			st.firstErr = err.Error()
		}
		return
	}
	st.lat = append(st.lat, lat)
	st.bytes += n
}

// newOps calls spec.newOp for every worker.
func newOps(ctx context.Context, spec loadSpec) ([]op, error) {
	if spec.conns <= 0 {
		return nil, errors.New("load: conns must be positive")
	}
	ops := make([]op, spec.conns)
	for w := range ops {
		o, err := spec.newOp(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("load: worker %d: %w", w, err)
		}
		ops[w] = o
	}
	return ops, nil
}

// meter measures the process under test around a run: its CPU time from
// the start of the window to its end (or to an earlier end, see endCPU),
// and loadSpec.sample every 100 ms.
type meter struct {
	spec       loadSpec
	mu         sync.Mutex
	cpu0, cpu1 time.Duration
	ended      bool
	startTimer *time.Timer
	done       chan struct{}
}

// startMeter starts measuring; the window opens spec.warmup from now.
func startMeter(spec loadSpec) *meter {
	m := &meter{spec: spec, done: make(chan struct{})}
	if spec.cpu != nil {
		if spec.warmup <= 0 {
			m.cpu0 = spec.cpu()
		} else {
			m.startTimer = time.AfterFunc(spec.warmup, func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				m.cpu0 = spec.cpu()
			})
		}
	}
	if spec.sample != nil {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				spec.sample()
				select {
				case <-m.done:
					return
				case <-t.C:
				}
			}
		}()
	}
	return m
}

// endCPU reads the CPU time at the end of the window; only the first call
// counts.
func (m *meter) endCPU() {
	if m.spec.cpu == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ended {
		m.cpu1, m.ended = m.spec.cpu(), true
	}
}

// stop ends the measurement (the CPU time too, if the window has not
// ended yet) and returns the CPU time used during the window.
func (m *meter) stop() time.Duration {
	m.endCPU()
	if m.startTimer != nil {
		m.startTimer.Stop()
	}
	close(m.done)
	if m.spec.sample != nil {
		m.spec.sample()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpu1 - m.cpu0
}

// merge adds up the workers' records: counts, bytes, sorted latencies.
// It returns whether every worker found its pool empty and the last
// completion time.
func merge(stats []workerStats) (res loadResult, allEmpty bool, last time.Time) {
	allEmpty = true
	for _, st := range stats {
		res.ops += len(st.lat)
		res.lat = append(res.lat, st.lat...)
		res.errs += st.errs
		res.bytes += st.bytes
		if res.firstErr == "" {
			res.firstErr = st.firstErr
		}
		if st.lastDone.After(last) {
			last = st.lastDone
		}
		allEmpty = allEmpty && st.empty
	}
	slices.Sort(res.lat)
	return res, allEmpty, last
}

// runLoad runs spec as a closed loop and returns what it measured.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	ops, err := newOps(ctx, spec)
	if err != nil {
		return loadResult{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	winStart := start.Add(spec.warmup)
	winEnd := winStart.Add(spec.duration)
	m := startMeter(spec)
	// When the window closes no new operation starts; those in flight
	// finish (uncounted) so that the server sees no aborted requests,
	// unless they take another minute.
	var closed atomic.Bool
	closeTimer := time.AfterFunc(time.Until(winEnd), func() {
		closed.Store(true)
		m.endCPU()
	})
	defer closeTimer.Stop()
	stopTimer := time.AfterFunc(time.Until(winEnd)+time.Minute, cancel)
	defer stopTimer.Stop()

	stats := make([]workerStats, spec.conns)
	var wg sync.WaitGroup
	for w := range spec.conns {
		st := &stats[w]
		st.lat = make([]time.Duration, 0, 4096)
		o := ops[w]
		wg.Go(func() {
			for !closed.Load() && runCtx.Err() == nil {
				t0 := time.Now()
				n, err := o(runCtx)
				t1 := time.Now()
				if errors.Is(err, errPoolEmpty) {
					st.empty = true
					return
				}
				if runCtx.Err() != nil || t1.After(winEnd) {
					return
				}
				if t1.Before(winStart) {
					continue // warm-up
				}
				st.lastDone = t1
				st.record(t1.Sub(t0), n, err)
			}
		})
	}
	wg.Wait()
	cpu := m.stop() // the CPU time ends early when a pool ran out
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	res, allEmpty, last := merge(stats)
	res.elapsed = spec.duration
	if allEmpty {
		// The pool ran out: the window ends at the last completion.
		res.exhausted = true
		res.elapsed = last.Sub(winStart)
	}
	res.cpu = cpu
	return res, nil
}

// runOpenLoad runs spec as an open loop at a fixed rate: operation k
// (k = 0, 1, ...) has the intended send time winStart + k/rate, and the
// schedule starts the warm-up earlier (negative k, not recorded). A free
// worker takes the next operation of the schedule and sleeps until its
// time, or sends it at once when it is late. Latencies run from the
// intended send times (no coordinated omission: the time an operation
// waited for a free worker counts). The operations scheduled inside the
// window are measured: each completes, fails, or is missed when it has not
// started by the end of the window; those in flight then are waited for
// (at most a minute) and counted. Throughput and bytes are per second of
// window, CPU time is the window's.
func runOpenLoad(ctx context.Context, spec loadSpec, rate float64) (loadResult, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return loadResult{}, fmt.Errorf("load: rate %v must be positive and finite", rate)
	}
	ops, err := newOps(ctx, spec)
	if err != nil {
		return loadResult{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	winStart := start.Add(spec.warmup)
	winEnd := winStart.Add(spec.duration)
	at := func(k int64) time.Time {
		return winStart.Add(time.Duration(float64(k) * float64(time.Second) / rate))
	}
	first := -int64(spec.warmup.Seconds() * rate) // the first warm-up operation
	planned := int64(math.Ceil(spec.duration.Seconds() * rate))
	for planned > 0 && !at(planned-1).Before(winEnd) {
		planned--
	}
	for at(planned).Before(winEnd) {
		planned++
	}
	m := startMeter(spec)
	endTimer := time.AfterFunc(time.Until(winEnd), m.endCPU)
	defer endTimer.Stop()
	stopTimer := time.AfterFunc(time.Until(winEnd)+time.Minute, cancel)
	defer stopTimer.Stop()

	var next atomic.Int64
	next.Store(first)
	stats := make([]workerStats, spec.conns)
	var wg sync.WaitGroup
	for w := range spec.conns {
		st := &stats[w]
		st.lat = make([]time.Duration, 0, 1024)
		o := ops[w]
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for {
				k := next.Add(1) - 1
				if k >= planned {
					return // the schedule ends with the window
				}
				due := at(k)
				if now := time.Now(); now.Before(due) {
					timer.Reset(due.Sub(now))
					select {
					case <-timer.C:
					case <-runCtx.Done():
						return
					}
				} else if !now.Before(winEnd) {
					return // late past the window: this and the rest are missed
				}
				if k >= 0 {
					st.started++
				}
				n, err := o(runCtx)
				t1 := time.Now()
				if k < 0 {
					continue // warm-up
				}
				st.record(t1.Sub(due), n, err)
			}
		})
	}
	wg.Wait()
	cpu := m.stop()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	res, _, _ := merge(stats)
	res.elapsed = spec.duration
	res.cpu = cpu
	res.rate = rate
	res.planned = int(planned)
	res.missed = res.planned
	for _, st := range stats {
		res.missed -= st.started
	}
	return res, nil
}

// httpWorker is one load-generator connection: its own transport, so its
// own keep-alive connection, never following redirects or sending
// cookies it was not given.
type httpWorker struct {
	tr  *http.Transport
	buf []byte
}

func newHTTPWorker() *httpWorker {
	return &httpWorker{
		tr: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		buf: make([]byte, 64<<10),
	}
}

// do sends req and reads the whole body; a status other than want is an
// error.
func (h *httpWorker) do(req *http.Request, want int) (int64, error) {
	resp, err := h.tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	for {
		m, err := resp.Body.Read(h.buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if resp.StatusCode != want {
		return n, fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return n, nil
}

// prime opens the worker's keep-alive connection with one request to url.
func (h *httpWorker) prime(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	_, err = h.do(req, http.StatusOK)
	return err
}

func (h *httpWorker) close() { h.tr.CloseIdleConnections() }
