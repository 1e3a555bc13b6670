// Command gridlink is the gridlink server and its administration tool.
//
//	gridlink dev           zero set-up local mode (SQLite in ./gridlink-data), with the demo utility
//	gridlink serve         production server
//	gridlink demo-utility  Demo Power & Light, the demo utility website
//	gridlink migrate       apply database migrations
//	gridlink clients       create | list | rotate-secret | delete
//	gridlink keys          generate
//
// Every flag has a GRIDLINK_* environment variable twin (flag --redirect-uri
// is GRIDLINK_REDIRECT_URI); a flag given on the command line wins. The one
// exception: demo-utility's --addr is GRIDLINK_DEMO_UTILITY_ADDR, as dev's
// --demo-utility-addr, so that it never takes gridlink's own GRIDLINK_ADDR.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if p, ok := serverGCPercent(os.Args[1:], os.Getenv); ok {
		debug.SetGCPercent(p)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `gridlink: a self-hostable, Pelm-compatible utility-data platform.

Usage:
  gridlink dev [--addr :8080] [--data-dir ./gridlink-data] [--demo-utility-addr :8090]
  gridlink serve --database PATH|URL [--addr :8080] [--demo-utility-url URL]   (needs GRIDLINK_MASTER_KEY)
  gridlink demo-utility [--addr :8090]               Demo Power & Light, the demo utility website
  gridlink migrate --database PATH|URL
  gridlink clients create --database PATH|URL --name NAME --redirect-uri URI [--redirect-uri URI ...] [--origin ORIGIN ...] [--json]
  gridlink clients list --database PATH|URL [--json]
  gridlink clients rotate-secret --database PATH|URL [--json] ID
  gridlink clients delete --database PATH|URL ID
  gridlink keys generate

Run "gridlink COMMAND --help" for a command's flags. Every flag can also be
set with its GRIDLINK_* environment variable (e.g. --database is GRIDLINK_DATABASE;
demo-utility's --addr is GRIDLINK_DEMO_UTILITY_ADDR).
`

// run is the whole program; it returns the exit code. 0: success,
// 1: failure at run time, 2: bad usage or configuration.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, getenv, stdout, stderr)
	case "dev":
		err = cmdDev(ctx, rest, getenv, stdout, stderr)
	case "demo-utility":
		err = cmdDemoUtility(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "clients":
		err = cmdClients(ctx, rest, getenv, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gridlink: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "gridlink %s: %v\n", cmd, err)
	if isUsage(err) {
		return 2
	}
	return 1
}

// usageError marks errors caused by bad flags or configuration (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func isUsage(err error) bool {
	_, ok := err.(usageError)
	return ok
}

// serverGCPercent is the garbage collector's GOGC for a server command
// (serve, dev) when the environment sets neither GOGC nor GOMEMLIMIT:
// 200 instead of Go's 100. A server's live heap is small (a few MB), so
// at 100 it collects every few MB of allocation, dozens of times a second
// under load; at 200, half as often. Full bench runs, server CPU per GET
// /accounts and peak RSS: 63 us and 88 MB at 100, 54 us and 111 MB at
// 200, 45 us and 159 MB at 400 (over the 150 MB budget: the data cache is
// live heap, and the heap may grow to 1+GOGC/100 times the live heap
// between collections). Set GOGC=100 for Go's default, or GOMEMLIMIT to
// cap the heap. Other commands keep Go's default.
func serverGCPercent(args []string, getenv func(string) string) (int, bool) {
	if len(args) == 0 || (args[0] != "serve" && args[0] != "dev") {
		return 0, false
	}
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	return 200, true
}
