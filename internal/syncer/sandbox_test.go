package syncer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
)

// withSandbox wires the default catalogue to the real sandbox connectors.
func withSandbox(sleep func(ctx context.Context, d time.Duration) error) envOption {
	return func(c *Config) {
		c.Catalog = catalog.Default()
		cfg := sandbox.Config{SlowDelay: time.Second, Sleep: sleep}
		c.Connectors = connector.Registry{
			catalog.ConnectorPelmSandbox: sandbox.NewPelm(cfg),
			catalog.ConnectorSandbox:     sandbox.New(cfg),
		}
	}
}

func TestSandboxPelmUserSyncsIdempotently(t *testing.T) {
	e := newEnv(t, withSandbox(nil))
	u := e.addLogin(t, catalog.PGEID, Credential{Username: sandbox.PelmUser, Password: sandbox.Password})
	ctx := context.Background()
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	first := e.data(t, u.RowID)

	ids := map[string]bool{}
	for _, a := range first.Accounts {
		ids[a.ID] = true
		for _, m := range a.Meters {
			ids[m.ID] = true
			ivs := first.Intervals[m.ID]
			if len(ivs) == 0 {
				t.Errorf("meter %s (%s) has no readings", m.ID, m.Type)
			}
			for i, iv := range ivs {
				if i > 0 && iv.Start < ivs[i-1].End {
					t.Fatalf("meter %s: reading %d overlaps or repeats the previous one", m.ID, i)
				}
				if m.Type == gridlink.Electric && iv.Usage > 0 && iv.GHG <= 0 {
					t.Fatalf("meter %s: reading %d has usage %v but no GHG", m.ID, i, iv.Usage)
				}
			}
		}
	}
	for _, id := range []string{sandbox.PelmAccount1, sandbox.PelmAccount1Elec, sandbox.PelmAccount1Gas, sandbox.PelmAccount2, sandbox.PelmAccount2Elec} {
		if !ids[id] {
			t.Errorf("Pelm sandbox id %s not stored", id)
		}
	}
	if len(first.Bills) == 0 {
		t.Error("no bills stored")
	}
	for _, b := range first.Bills {
		if !b.HasPDF || !strings.HasPrefix(first.PDFs[b.ID], "%PDF") {
			t.Errorf("bill %s: HasPDF %v, PDF %.8q", b.ID, b.HasPDF, first.PDFs[b.ID])
		}
	}

	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	if diff := cmpData(first, e.data(t, u.RowID)); diff != "" {
		t.Errorf("second sync changed the data (-first +second):\n%s", diff)
	}
}

func TestSandboxExpireUserIsNotRetried(t *testing.T) {
	e := newEnv(t, withSandbox(nil))
	u := e.addLogin(t, catalog.SandboxID, Credential{Username: sandbox.ExpireUser, Password: sandbox.Password})
	q := startQueue(t, e)
	ctx := context.Background()
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	q.waitJobState(t, rivertype.JobStateCompleted)
	before := e.data(t, u.RowID)
	if len(before.Accounts) == 0 {
		t.Fatal("first sync stored no accounts")
	}

	// The scheduled re-sync finds the login rejected.
	if err := q.EnqueueSync(ctx, u.RowID); err != nil {
		t.Fatal(err)
	}
	job := q.waitJobState(t, rivertype.JobStateCancelled)
	if job.Attempt != 1 {
		t.Errorf("rejected-login job ran %d attempts, want 1", job.Attempt)
	}
	got := e.user(t, u.RowID)
	if got.CredentialsValid || got.Sync.Status != gridlink.SyncNeedsReauth || !got.DataReady {
		t.Errorf("user: valid %v ready %v state %+v; want invalid, still ready, needs_reauth", got.CredentialsValid, got.DataReady, got.Sync)
	}
	if diff := cmpData(before, e.data(t, u.RowID)); diff != "" {
		t.Errorf("data from before changed (-before +after):\n%s", diff)
	}
}

func TestSandboxSlowUserDataUnavailableUntilSynced(t *testing.T) {
	sleeping := make(chan struct{})
	release := make(chan struct{})
	e := newEnv(t, withSandbox(func(ctx context.Context, _ time.Duration) error {
		close(sleeping)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	u := e.addLogin(t, catalog.SandboxID, Credential{Username: sandbox.SlowUser, Password: sandbox.Password})
	q := startQueue(t, e)
	if err := q.EnqueueSync(context.Background(), u.RowID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sleeping:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow fetch did not start")
	}
	if got := e.user(t, u.RowID); got.DataReady || got.Sync.Status != gridlink.SyncSyncing {
		t.Errorf("during the slow fetch: ready %v status %q; want not ready, syncing", got.DataReady, got.Sync.Status)
	}
	close(release)
	waitFor(t, "data ready", func() bool { return e.user(t, u.RowID).DataReady })
}
