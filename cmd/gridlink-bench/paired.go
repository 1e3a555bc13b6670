package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// pairRounds is the number of rounds in which a row measured against the
// HTTP limit alternates with the bare handler.
const pairRounds = 4

// pairedLoad measures a closed-loop scenario against the HTTP limit on a
// machine whose speed drifts (these are shared machines: the bare
// handler's own throughput has varied by half between runs minutes
// apart). In each of pairRounds rounds the bare handler (bare) and the
// scenario (spec, whose duration is the whole measurement) each run for
// a quarter of the duration, the bare handler first in odd rounds and
// last in even ones, so that both see the same machine in the same
// minutes. It returns the scenario's and the bare handler's results,
// each merged over the rounds.
func (b *bench) pairedLoad(ctx context.Context, spec loadSpec, bare *baselineServer, conns int) (scen, base loadResult, err error) {
	round := spec.duration / pairRounds
	warm := max(100*time.Millisecond, spec.warmup/pairRounds)
	spec.duration, spec.warmup = round, warm
	bspec, cleanup := bareSpec(bare, conns, warm, round)
	defer cleanup()

	var scens, bases []loadResult
	runBase := func() error {
		r, err := runLoad(ctx, bspec)
		if err == nil && (r.ops == 0 || r.errs > 0) {
			err = fmt.Errorf("bare handler: %d ok, %d errors (%s)", r.ops, r.errs, r.firstErr)
		}
		bases = append(bases, r)
		return err
	}
	for i := range pairRounds {
		if i%2 == 0 {
			if err := runBase(); err != nil {
				return scen, base, err
			}
		}
		r, err := runLoad(ctx, spec)
		if err != nil {
			return scen, base, err
		}
		scens = append(scens, r)
		if i%2 == 1 {
			if err := runBase(); err != nil {
				return scen, base, err
			}
		}
	}
	return mergeResults(scens), mergeResults(bases), nil
}

// mergeResults adds up closed-loop results of back-to-back windows: ops,
// bytes, CPU and window time add, latencies pool.
func mergeResults(rs []loadResult) loadResult {
	var m loadResult
	for _, r := range rs {
		m.ops += r.ops
		m.errs += r.errs
		if m.firstErr == "" {
			m.firstErr = r.firstErr
		}
		m.bytes += r.bytes
		m.elapsed += r.elapsed
		m.cpu += r.cpu
		m.exhausted = m.exhausted || r.exhausted
		m.lat = append(m.lat, r.lat...)
	}
	slices.Sort(m.lat)
	return m
}

// pairedRows are the table rows of a paired measurement: the bare
// handler as measured in its rounds, then the scenario with its ratio to
// that. The scenario row's ratio is final (not divided again by the
// run's before/after baselines, which the table still shows).
func pairedRows(name string, scen, base loadResult, peak int64, target *float64, note string) []result {
	br := loadRow("baseline: "+baseHTTP+" (2 KB JSON), interleaved with "+name, base, 0, basePairedHTTP, nil)
	br.relative, br.Ratio = false, 1
	r := loadRow(name, scen, peak, basePairedHTTP, target)
	r.relative = false
	if base.rps() > 0 {
		r.Ratio = scen.rps() / base.rps()
	}
	if target != nil {
		r.Meets = ptr(r.Ratio >= *target && r.Errs == 0 && r.Ops > 0)
	}
	n := fmt.Sprintf("ratio to the bare handler in the same %d rounds (%.0f requests/s)", pairRounds, base.rps())
	for _, s := range []string{note, r.Note} {
		if s != "" {
			n += "; " + s
		}
	}
	r.Note = n
	return []result{br, r}
}
