package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gridlink/gridlink/internal/api"
	"github.com/gridlink/gridlink/internal/auth"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/connectui"
	"github.com/gridlink/gridlink/internal/store/sqlstore"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/vault"
)

// target is a running gridlink under test.
type target struct {
	base     string
	pid      int // the gridlink process (0 when in-process: no separate RSS)
	clientID string
	secret   string
	logs     *logWatch
	stop     func() error
}

// syncEvent is one "sync ok" log record of gridlink's syncer.
type syncEvent struct {
	UserRowID string
	Intervals int64
	Duration  time.Duration
	At        time.Time
}

// logWatch reads gridlink's JSON log lines: it finds the listening
// address, records finished syncs, counts errors and keeps the last lines
// for diagnostics. It never stores a whole log.
type logWatch struct {
	mu      sync.Mutex
	partial []byte
	addr    string
	addrCh  chan string
	syncs   []syncEvent
	errors  int
	errTail []string // the first ERROR records
	tail    []string
	changed chan struct{}
}

func newLogWatch() *logWatch {
	return &logWatch{addrCh: make(chan string, 1), changed: make(chan struct{})}
}

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *logWatch) line(b []byte) {
	if len(l.tail) == 40 {
		l.tail = l.tail[1:]
	}
	l.tail = append(l.tail, truncate(b, 500))
	var rec struct {
		Level     string `json:"level"`
		Msg       string `json:"msg"`
		Addr      string `json:"addr"`
		UserRowID string `json:"user_row_id"`
		Intervals int64  `json:"intervals"`
		Duration  int64  `json:"duration"` // nanoseconds (slog's JSON form of a Duration)
	}
	if json.Unmarshal(b, &rec) != nil {
		return
	}
	switch {
	case rec.Msg == "gridlink listening" && l.addr == "":
		l.addr = rec.Addr
		l.addrCh <- rec.Addr
	case rec.Msg == "sync ok":
		l.syncs = append(l.syncs, syncEvent{UserRowID: rec.UserRowID, Intervals: rec.Intervals, Duration: time.Duration(rec.Duration), At: time.Now()})
		close(l.changed)
		l.changed = make(chan struct{})
	}
	if rec.Level == "ERROR" {
		l.errors++
		if len(l.errTail) < 5 {
			l.errTail = append(l.errTail, truncate(b, 500))
		}
	}
}

// syncEvents returns the syncs seen so far.
func (l *logWatch) syncEvents() []syncEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]syncEvent(nil), l.syncs...)
}

// errorCount is the number of ERROR log records seen so far.
func (l *logWatch) errorCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errors
}

// firstErrors returns the first ERROR records.
func (l *logWatch) firstErrors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.errTail, "\n")
}

// lastLines returns the last log lines, for error messages.
func (l *logWatch) lastLines() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

// newMasterKey returns a fresh base64 master key.
func newMasterKey() (string, []byte, error) {
	key := make([]byte, vault.KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	return base64.StdEncoding.EncodeToString(key), key, nil
}

// buildGridlink compiles ./cmd/gridlink of the module that holds this
// bench into dir.
func buildGridlink(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find module root: run gridlink-bench from inside the gridlink module")
	}
	bin := filepath.Join(dir, "gridlink")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gridlink")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build gridlink: %w", err)
	}
	return bin, nil
}

// childEnv is this process's environment without GRIDLINK_* variables
// (each is a flag twin that would change what is measured), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GRIDLINK_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// createClientCLI registers the bench client through `gridlink clients
// create --json`.
func createClientCLI(ctx context.Context, bin, database string) (id, secret string, err error) {
	cmd := exec.CommandContext(ctx, bin, "clients", "create", "--database", database,
		"--name", "gridlink-bench", "--redirect-uri", benchRedirect, "--json")
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("gridlink clients create: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var creds struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil || creds.ClientID == "" {
		return "", "", fmt.Errorf("gridlink clients create: unexpected output %q", truncate(stdout.Bytes(), 200))
	}
	return creds.ClientID, creds.ClientSecret, nil
}

// startChild runs `gridlink serve` as a child process on a loopback port.
func startChild(ctx context.Context, bin, database string) (*target, error) {
	keyB64, _, err := newMasterKey()
	if err != nil {
		return nil, err
	}
	id, secret, err := createClientCLI(ctx, bin, database)
	if err != nil {
		return nil, err
	}
	logs := newLogWatch()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--database", database, "--log-level", "info")
	cmd.Env = childEnv("GRIDLINK_MASTER_KEY=" + keyB64)
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gridlink serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		if cmd.ProcessState != nil {
			return nil
		}
		// Connect's bench users (slow@sandbox.test) keep sync jobs
		// sleeping; give a graceful stop a few seconds, then kill.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(8 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	select {
	case addr := <-logs.addrCh:
		return &target{base: "http://" + addr, pid: cmd.Process.Pid, clientID: id, secret: secret, logs: logs, stop: stop}, nil
	case err := <-exited:
		return nil, fmt.Errorf("gridlink serve exited (%v):\n%s", err, logs.lastLines())
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("gridlink serve did not start within 60 s:\n%s", logs.lastLines())
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// startInProcess wires gridlink from its packages as cmd/gridlink's
// serveApp does (the store and the job queue on database: a SQLite file or
// a PostgreSQL URL; the API; Connect), in this process, so that CPU
// profiles cover the server's code.
func startInProcess(ctx context.Context, database string) (*target, error) {
	_, key, err := newMasterKey()
	if err != nil {
		return nil, err
	}
	logs := newLogWatch()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	st, err := sqlstore.Open(ctx, database, sqlstore.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	closers := []func(){func() { st.Close() }}
	fail := func(err error) (*target, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		return nil, err
	}
	v, err := vault.New(rand.Reader, key)
	if err != nil {
		return fail(err)
	}
	authSvc, err := auth.New(st, v.DeriveKey("connect-token"), time.Now, rand.Reader)
	if err != nil {
		return fail(err)
	}
	c, secret, err := authSvc.NewClient("gridlink-bench", []string{benchRedirect}, nil)
	if err != nil {
		return fail(err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return fail(fmt.Errorf("create client: %w", err))
	}
	cat := catalog.Default()
	connectors := connector.Registry{
		"sandbox":      sandbox.New(sandbox.Config{}),
		"pelm-sandbox": sandbox.NewPelm(sandbox.Config{}),
	}
	sy, err := syncer.New(syncer.Config{
		Store: st, Vault: v, Catalog: cat, Connectors: connectors, Logger: logger, Now: time.Now,
	})
	if err != nil {
		return fail(err)
	}
	queue, err := syncer.OpenQueue(ctx, database, sy, logger, syncer.QueueOptions{})
	if err != nil {
		return fail(fmt.Errorf("job queue: %w", err))
	}
	ui, err := connectui.New(connectui.Config{
		Store: st, Auth: authSvc, Vault: v, Catalog: cat, Connectors: connectors, Sync: queue,
		Logger: logger, Now: time.Now, Rand: rand.Reader,
	})
	if err != nil {
		return fail(err)
	}
	apiZone := api.New(api.Config{
		Auth: authSvc, Store: st, Catalog: cat, Logger: logger, Now: time.Now, Connectors: connectors,
	})
	mux := http.NewServeMux()
	apiZone.Register(mux)
	ui.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{
		Handler:           api.Handler(mux, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	qctx, qcancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := queue.Start(qctx); err != nil {
		ln.Close()
		qcancel()
		return fail(fmt.Errorf("start job queue: %w", err))
	}
	go srv.Serve(ln)
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		queue.Stop(sctx)
		qcancel()
		st.Close()
		return nil
	}
	return &target{base: "http://" + ln.Addr().String(), clientID: c.ID, secret: secret, logs: logs, stop: stop}, nil
}
