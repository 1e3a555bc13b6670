package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
)

// recordingQueue records the syncs asked for.
type recordingQueue struct {
	mu   sync.Mutex
	rows []string
}

func (q *recordingQueue) EnqueueSync(_ context.Context, rowID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rows = append(q.rows, rowID)
	return nil
}

func (q *recordingQueue) enqueued() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.rows...)
}

func withSync(q api.SyncQueue) envOption {
	return func(c *api.Config, _ *http.ServeMux) { c.Sync = q }
}

func TestUserSyncObject(t *testing.T) {
	ts := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	sec := func(d time.Duration) any { return float64(t0.Add(d).Unix()) }
	tests := []struct {
		name    string
		st      *gridlink.SyncState // nil: as connected
		invalid bool
		want    map[string]any
	}{
		{"connected, first sync not started", nil, false,
			map[string]any{"status": "syncing", "last_success_at": nil, "last_attempt_at": nil, "next_attempt_at": nil, "error_code": nil}},
		{"first sync running",
			&gridlink.SyncState{Status: gridlink.SyncSyncing, LastAttemptAt: ts(0)}, false,
			map[string]any{"status": "syncing", "last_success_at": nil, "last_attempt_at": sec(0), "next_attempt_at": nil, "error_code": nil}},
		{"fresh",
			&gridlink.SyncState{Status: gridlink.SyncOK, LastSuccessAt: ts(time.Minute), LastAttemptAt: ts(0), NextAttemptAt: ts(12 * time.Hour)}, false,
			map[string]any{"status": "ok", "last_success_at": sec(time.Minute), "last_attempt_at": sec(0), "next_attempt_at": sec(12 * time.Hour), "error_code": nil}},
		{"retrying",
			&gridlink.SyncState{Status: gridlink.SyncFailing, LastSuccessAt: ts(-time.Hour), LastAttemptAt: ts(0), NextAttemptAt: ts(2 * time.Minute), ErrorCode: "utility_unavailable"}, false,
			map[string]any{"status": "failing", "last_success_at": sec(-time.Hour), "last_attempt_at": sec(0), "next_attempt_at": sec(2 * time.Minute), "error_code": "utility_unavailable"}},
		{"login rejected",
			&gridlink.SyncState{Status: gridlink.SyncNeedsReauth, LastSuccessAt: ts(-time.Hour), LastAttemptAt: ts(0), ErrorCode: "bad_credentials"}, true,
			map[string]any{"status": "needs_reauth", "last_success_at": sec(-time.Hour), "last_attempt_at": sec(0), "next_attempt_at": nil, "error_code": "bad_credentials"}},
		{"reconnected through Connect, its sync not started yet",
			&gridlink.SyncState{Status: gridlink.SyncNeedsReauth, LastSuccessAt: ts(-time.Hour), LastAttemptAt: ts(0), ErrorCode: "mfa_required"}, false,
			map[string]any{"status": "syncing", "last_success_at": sec(-time.Hour), "last_attempt_at": sec(0), "next_attempt_at": nil, "error_code": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			rowID, token := e.newUser(t, e.a, "alice")
			if tc.st != nil {
				if err := e.st.SetSyncState(ctx, rowID, *tc.st); err != nil {
					t.Fatal(err)
				}
			}
			if tc.invalid {
				if err := e.st.SetCredentialsValid(ctx, rowID, false); err != nil {
					t.Fatal(err)
				}
			}
			r := e.do(t, request{path: "/users/alice", header: hdr(e.a, token)})
			if r.status != http.StatusOK {
				t.Fatalf("status = %d (%s)", r.status, r.body)
			}
			body, _ := r.json(t).(map[string]any)
			if diff := cmp.Diff(tc.want, body["sync"]); diff != "" {
				t.Errorf("sync object (-want +got):\n%s", diff)
			}
			if body["credentials_valid"] != !tc.invalid {
				t.Errorf("credentials_valid = %v", body["credentials_valid"])
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	q := &recordingQueue{}
	e := newEnv(t, withSync(q))
	ctx := context.Background()
	rowID, token := e.newUser(t, e.a, "alice")
	bobRow, bobToken := e.newUser(t, e.a, "bob")

	// Accepted, queued, answered with the sync object; asking twice is
	// harmless (the queue keeps one sync per user).
	for range 2 {
		r := e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(e.a, token)})
		if r.status != http.StatusAccepted || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("status = %d, Content-Type %q (%s)", r.status, r.header.Get("Content-Type"), r.body)
		}
		want := map[string]any{"id": "alice", "sync": map[string]any{
			"status": "syncing", "last_success_at": nil, "last_attempt_at": nil, "next_attempt_at": nil, "error_code": nil}}
		if diff := cmp.Diff(want, r.json(t)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]string{rowID, rowID}, q.enqueued()); diff != "" {
		t.Errorf("syncs asked for (-want +got):\n%s", diff)
	}

	// Lower-case headers and an empty form body work too.
	r := e.do(t, request{method: "POST", path: "/users/bob/refresh", header: lower(hdr(e.a, bobToken, "Content-Type", "application/x-www-form-urlencoded"))})
	if r.status != http.StatusAccepted {
		t.Errorf("lower-case headers: status = %d (%s)", r.status, r.body)
	}

	// Only for the token's own user, with valid client credentials.
	wantError(t, e.do(t, request{method: "POST", path: "/users/bob/refresh", header: hdr(e.a, token)}), http.StatusForbidden, gridlink.PermissionDenied)
	wantError(t, e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(e.a, "")}), http.StatusUnauthorized, gridlink.TokenInvalid)
	wantError(t, e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(testClient{ID: e.a.ID, Secret: "wrong"}, token)}), http.StatusUnauthorized, gridlink.CredentialsInvalid)
	wantError(t, e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(e.b, token)}), http.StatusUnauthorized, gridlink.TokenInvalid)
	wantError(t, e.do(t, request{method: "GET", path: "/users/alice/refresh", header: hdr(e.a, token)}), http.StatusMethodNotAllowed, gridlink.MethodNotAllowed)
	if diff := cmp.Diff([]string{rowID, rowID, bobRow}, q.enqueued()); diff != "" {
		t.Errorf("syncs asked for after refused requests (-want +got):\n%s", diff)
	}

	// A rejected login is not synced until the user reconnects.
	if err := e.st.SetCredentialsValid(ctx, rowID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetSyncState(ctx, rowID, gridlink.SyncState{Status: gridlink.SyncNeedsReauth, ErrorCode: "bad_credentials"}); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(e.a, token)})
	if m, _ := r.json(t).(map[string]any); r.status != http.StatusAccepted || m["sync"].(map[string]any)["status"] != "needs_reauth" {
		t.Errorf("refresh of a rejected login: %d %s", r.status, r.body)
	}
	if n := len(q.enqueued()); n != 3 {
		t.Errorf("a rejected login was queued for a sync (%d syncs asked for)", n)
	}
}

func TestRefreshWithoutQueue(t *testing.T) {
	e := newEnv(t)
	_, token := e.newUser(t, e.a, "alice")
	wantError(t, e.do(t, request{method: "POST", path: "/users/alice/refresh", header: hdr(e.a, token)}), http.StatusBadRequest, gridlink.FeatureUnavailable)
}
