// Command gridlink-bench measures gridlink against baselines taken in the
// same run on the same machine, and reports the ratios against the
// performance targets (see BENCHMARKS.md).
//
//	go run ./cmd/gridlink-bench [-duration 10s] [-postgres DSN] [-json FILE]
//
// It builds ./cmd/gridlink, runs `gridlink serve` as a child process on a
// fresh SQLite file (and, with -postgres, on that database), seeds it with
// sandbox users through the public Connect flow, and drives it over
// loopback keep-alive connections with a Go load generator (64 connections
// by default, a fixed duration per scenario): a closed loop, or for the
// row that checks latency at a given throughput an open loop at a fixed
// rate, with latencies from the intended send times. In the same run
// it measures the HTTP limit (a bare net/http handler answering a fixed
// 2 KB JSON body) and the storage limit (a raw durable SQLite transaction
// shaped like a code redemption).
//
// With -inprocess the server is wired from gridlink's packages inside the
// bench process (as cmd/gridlink's serve does), and -cpuprofile DIR writes
// a CPU profile of every scenario there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	duration   time.Duration
	conns      int
	users      int
	codes      int
	postgres   string
	jsonFile   string
	inProcess  bool
	cpuProfile string
	only       *regexp.Regexp
	gridlink   string
}

// run is the whole program; it returns the exit code: 0 when the run
// completed (whether or not every target is met), 1 when it could not
// run, 2 for bad usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gridlink-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration of each load scenario (after a short warm-up)")
	fs.IntVar(&cfg.conns, "conns", 64, "concurrent keep-alive connections of the load generator")
	fs.IntVar(&cfg.users, "users", 16, "sandbox users with a year of hourly data (user@pelm.com) to seed; one big@sandbox.test user (15-minute data) is always added")
	fs.IntVar(&cfg.codes, "codes", 3000, "fresh authorization codes to prepare for the POST /auth/token scenario (at most 15 s of Connect walks)")
	fs.StringVar(&cfg.postgres, "postgres", "", "also run against gridlink on this PostgreSQL database (a scratch database: the bench writes to it)")
	fs.StringVar(&cfg.jsonFile, "json", "", "write the results to this file as JSON")
	fs.BoolVar(&cfg.inProcess, "inprocess", false, "wire gridlink inside the bench process instead of running the binary (for profiling; no RSS rows)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "with -inprocess: write a CPU profile of each scenario into this directory")
	only := fs.String("only", "", "run only the scenarios whose name matches this regular expression (baselines they need are always run)")
	fs.StringVar(&cfg.gridlink, "gridlink", "", "a gridlink binary to run (default: build ./cmd/gridlink of this module)")
	baselineServer := fs.Bool("baseline-server", false, "internal: serve the HTTP-limit baseline and exit when stdin closes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *baselineServer {
		if err := serveBaseline(stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "gridlink-bench: baseline server: %v\n", err)
			return 1
		}
		return 0
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gridlink-bench: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() != 0:
		return usage("unexpected arguments: %v", fs.Args())
	case cfg.duration <= 0:
		return usage("-duration must be positive")
	case cfg.conns <= 0:
		return usage("-conns must be positive")
	case cfg.users <= 0:
		return usage("-users must be positive")
	case cfg.codes <= 0:
		return usage("-codes must be positive")
	case cfg.cpuProfile != "" && !cfg.inProcess:
		return usage("-cpuprofile needs -inprocess (the gridlink binary serves no profiling endpoint)")
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return usage("-only: %v", err)
		}
		cfg.only = re
	}
	if cfg.cpuProfile != "" {
		if err := os.MkdirAll(cfg.cpuProfile, 0o755); err != nil {
			return usage("-cpuprofile: %v", err)
		}
	}

	var loads [2]string
	rs, err := runBench(ctx, cfg, stderr, &loads)
	if len(rs) > 0 {
		fmt.Fprintf(stdout, "machine: %s\n", machine())
		fmt.Fprintf(stdout, "1-minute load average: %s at the start, %s at the end (other processes share these CPUs)\n", loads[0], loads[1])
		if perr := printTable(stdout, rs); perr != nil && err == nil {
			err = perr
		}
		if cfg.jsonFile != "" {
			if jerr := writeJSONFile(cfg.jsonFile, rs); jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "gridlink-bench: %v\n", err)
		return 1
	}
	return 0
}
