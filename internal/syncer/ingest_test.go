package syncer

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// A connector that rotated its upstream session (an OAuth refresh token)
// and then failed: the new session must be kept for the next attempt.
func TestFailedFetchKeepsRenewedSession(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, []byte("refresh-1"))
	ctx := context.Background()
	e.fake.set(func(context.Context, connector.FetchRequest) (*connector.Data, error) {
		return &connector.Data{Session: []byte("refresh-2")}, connector.Errorf(connector.KindUnavailable, "feed down")
	})
	if err := e.s.Sync(ctx, u.RowID); err == nil {
		t.Fatal("Sync succeeded, want the fetch failure")
	}
	got := e.user(t, u.RowID)
	cred, err := OpenCredential(e.v, got.Credential, u.RowID)
	if err != nil {
		t.Fatal(err)
	}
	if string(cred.Session) != "refresh-2" || cred.Password != testPassword {
		t.Errorf("after a failed fetch the credential holds session %q, want the renewed %q", cred.Session, "refresh-2")
	}
	if got.Sync.Status != gridlink.SyncFailing {
		t.Errorf("status %q, want failing", got.Sync.Status)
	}

	e.fake.set(returns(func() *connector.Data { return testData(24, baseUsage) }))
	e.clock.Advance(DefaultRetryMax)
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	reqs := e.fake.requests()
	if s := string(reqs[len(reqs)-1].Session); s != "refresh-2" {
		t.Errorf("retry presented session %q, want %q", s, "refresh-2")
	}
}

// Ingest stores uploaded accounts as a sync would, and a later scheduled
// sync of an uploaded user fetches nothing and keeps the data.
func TestIngestStoresLikeSyncAndUploadUsersFetchNothing(t *testing.T) {
	e := newEnv(t)
	u := e.addLogin(t, testUtilityID, Credential{Username: "Green Button upload", Source: SourceUpload})
	ctx := context.Background()
	d := testData(24*3, baseUsage)
	if err := e.s.Ingest(ctx, u.RowID, d.Accounts); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	got := e.user(t, u.RowID)
	if !got.DataReady || got.Sync.Status != gridlink.SyncOK || got.Sync.LastSuccessAt == nil || got.Sync.NextAttemptAt == nil {
		t.Errorf("after ingest: DataReady=%v sync=%+v, want ready and ok with a next attempt", got.DataReady, got.Sync)
	}
	want := expected(u.RowID, testData(24*3, baseUsage))
	if diff := cmp.Diff(want, e.data(t, u.RowID), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stored data (-want +got):\n%s", diff)
	}

	e.clock.Advance(DefaultInterval * 2)
	if err := e.s.Sync(ctx, u.RowID); err != nil {
		t.Fatalf("Sync of an uploaded user: %v", err)
	}
	if n := len(e.fake.requests()); n != 0 {
		t.Errorf("the connector was called %d times for uploaded data, want 0", n)
	}
	if got := e.user(t, u.RowID); got.Sync.Status != gridlink.SyncOK || !got.CredentialsValid {
		t.Errorf("after a scheduled sync: status %q, credentials valid %v; want ok, true", got.Sync.Status, got.CredentialsValid)
	}
	if diff := cmp.Diff(want, e.data(t, u.RowID), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("data after the scheduled sync (-want +got):\n%s", diff)
	}
}

func TestIngestRefusesInvalidDataAndStoresNothing(t *testing.T) {
	e := newEnv(t)
	u := e.addLogin(t, testUtilityID, Credential{Username: "Green Button upload", Source: SourceUpload})
	d := testData(24, baseUsage)
	d.Accounts = append(d.Accounts, d.Accounts[0]) // listed twice
	if err := e.s.Ingest(context.Background(), u.RowID, d.Accounts); err == nil {
		t.Fatal("Ingest accepted an account listed twice")
	}
	if got := e.user(t, u.RowID); got.DataReady {
		t.Error("data marked ready after a refused ingest")
	}
	if data := e.data(t, u.RowID); len(data.Accounts) != 0 {
		t.Errorf("%d accounts stored after a refused ingest", len(data.Accounts))
	}
}
