package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one row of the report.
//
// Every ratio is "higher is better": a measured rate divided by its
// baseline's rate, a latency bound divided by the measured p99 (the
// open-loop intervals row), or a budget divided by the measured amount
// (RSS). A row with a target meets it when ratio >= target and no request
// failed (the open-loop row also needs its offered rate kept). Rows
// without a target are informational: target and meets are null in the
// JSON.
type result struct {
	Name     string
	RPS      float64 // requests (or transactions, or rows) per second
	P50      float64 // ms
	P99      float64 // ms
	Ratio    float64
	Baseline string
	Target   *float64
	Meets    *bool

	// Table-only details.
	MBps    float64 // response bytes per second, 10^6
	Ops     int     // completed operations in the window
	Errs    int     // failed operations (transport errors, unexpected status)
	PeakRSS int64   // peak RSS of gridlink during the row's run, bytes
	Value   string  // the measured amount for non-load rows (RSS, rows/s)
	CPU     float64 // CPU time of the process under test per operation, µs
	Note    string

	// metric, when relative, is divided by the final value of the
	// baseline named Baseline (see finalize); other rows carry their
	// ratio already.
	metric   float64
	relative bool
}

// finalize sets the ratio (and whether the target is met) of every row
// measured against a baseline, once the baselines are final.
func finalize(rs []result, lim map[string]float64) {
	for i := range rs {
		r := &rs[i]
		if r.Baseline == basePairedHTTP && r.Target != nil && lim[baseHTTP] > 0 {
			// For comparison: the same rate against the run's best
			// bare-handler figure (before or after gridlink ran).
			r.Note += fmt.Sprintf("; against the run's best bare-handler figure (%.0f requests/s, before/after): %.3f",
				lim[baseHTTP], r.RPS/lim[baseHTTP])
		}
		if !r.relative {
			continue
		}
		r.Ratio = 0
		if l := lim[r.Baseline]; l > 0 {
			r.Ratio = r.metric / l
		}
		if r.Target != nil {
			r.Meets = ptr(r.Ratio >= *r.Target && r.Errs == 0 && r.metric > 0)
		}
	}
}

// jsonResult is the -json form of a result: exactly the specified fields.
type jsonResult struct {
	Name     string   `json:"name"`
	RPS      float64  `json:"rps"`
	P50      float64  `json:"p50_ms"`
	P99      float64  `json:"p99_ms"`
	Ratio    float64  `json:"ratio"`
	Baseline string   `json:"baseline"`
	Target   *float64 `json:"target"`
	Meets    *bool    `json:"meets"`
}

func ptr[T any](v T) *T { return &v }

// round keeps 3 significant decimals for the JSON file.
func round(f float64) float64 {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1000) / 1000
}

// writeJSON writes {"results": [...]} to path.
func writeJSONFile(path string, rs []result) error {
	out := struct {
		Results []jsonResult `json:"results"`
	}{Results: make([]jsonResult, 0, len(rs))}
	for _, r := range rs {
		out.Results = append(out.Results, jsonResult{
			Name: r.Name, RPS: round(r.RPS), P50: round(r.P50), P99: round(r.P99),
			Ratio: round(r.Ratio), Baseline: r.Baseline, Target: r.Target, Meets: r.Meets,
		})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// printTable writes the human report.
func printTable(w io.Writer, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\trps\tp50 ms\tp99 ms\tMB/s\tCPU µs/op\tpeak RSS MB\tvalue\tratio\tbaseline\ttarget\tmeets\terrors\t")
	for _, r := range rs {
		target, meets := "-", "-"
		if r.Target != nil {
			target = strconv.FormatFloat(*r.Target, 'f', -1, 64)
		}
		if r.Meets != nil {
			meets = map[bool]string{true: "yes", false: "NO"}[*r.Meets]
		}
		errs := "0"
		if r.Errs > 0 {
			errs = fmt.Sprintf("%d FLAGGED", r.Errs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t\n",
			r.Name, num(r.RPS, 0), num(r.P50, 2), num(r.P99, 2), num(r.MBps, 1), num(r.CPU, 0),
			num(mb(r.PeakRSS), 1), dash(r.Value), r.Ratio, r.Baseline, target, meets, errs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
	}
	met, total := 0, 0
	for _, r := range rs {
		if r.Meets != nil {
			total++
			if *r.Meets {
				met++
			}
		}
	}
	_, err := fmt.Fprintf(w, "targets met: %d of %d\n", met, total)
	return err
}

func num(f float64, prec int) string {
	if f == 0 {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// machine describes this computer for the report.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	memory := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					memory = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
				}
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d)%s, %s %s/%s",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), memory, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
