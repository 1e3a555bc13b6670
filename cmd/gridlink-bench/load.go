package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// loadSpec describes one closed-loop load run: conns workers each repeat
// their op back to back for warmup (not recorded) and then duration.
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

// loadResult is what a run measured. Only operations that completed inside
// the measurement window count: throughput is completions per second of
// window, latencies are those completions' durations.
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
}

// runLoad runs spec and returns what it measured.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	if spec.conns <= 0 {
		return loadResult{}, errors.New("load: conns must be positive")
	}
	ops := make([]op, spec.conns)
	for w := range ops {
		o, err := spec.newOp(ctx, w)
		if err != nil {
			return loadResult{}, fmt.Errorf("load: worker %d: %w", w, err)
		}
		ops[w] = o
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	winStart := start.Add(spec.warmup)
	winEnd := winStart.Add(spec.duration)
	// When the window closes no new operation starts; those in flight
	// finish (uncounted) so that the server sees no aborted requests,
	// unless they take another minute.
	var (
		closed     atomic.Bool
		cpuMu      sync.Mutex
		cpu0, cpu1 time.Duration
		cpuEnded   bool
	)
	endCPU := func() {
		if spec.cpu == nil {
			return
		}
		cpuMu.Lock()
		defer cpuMu.Unlock()
		if !cpuEnded {
			cpu1, cpuEnded = spec.cpu(), true
		}
	}
	if spec.cpu != nil {
		if spec.warmup <= 0 {
			cpu0 = spec.cpu()
		} else {
			t := time.AfterFunc(spec.warmup, func() {
				cpuMu.Lock()
				defer cpuMu.Unlock()
				cpu0 = spec.cpu()
			})
			defer t.Stop()
		}
	}
	closeTimer := time.AfterFunc(time.Until(winEnd), func() {
		closed.Store(true)
		endCPU()
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
				if err != nil {
					st.errs++
					if st.firstErr == "" {
						st.firstErr = err.Error()
					}
					continue
				}
				st.lat = append(st.lat, t1.Sub(t0))
				st.bytes += n
			}
		})
	}
	done := make(chan struct{})
	if spec.sample != nil {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				spec.sample()
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	endCPU() // when a pool ran out before the window closed
	close(done)
	if spec.sample != nil {
		spec.sample()
	}
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	var res loadResult
	allEmpty := true
	var last time.Time
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
	res.elapsed = spec.duration
	if allEmpty {
		// The pool ran out: the window ends at the last completion.
		res.exhausted = true
		res.elapsed = last.Sub(winStart)
	}
	if spec.cpu != nil {
		cpuMu.Lock()
		res.cpu = cpu1 - cpu0
		cpuMu.Unlock()
	}
	slices.Sort(res.lat)
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
