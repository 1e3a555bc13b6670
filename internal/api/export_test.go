package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/sandbox"
	"github.com/gridlink/gridlink/internal/greenbutton"
	"github.com/gridlink/gridlink/internal/syncer"
	"github.com/gridlink/gridlink/internal/vault"
)

// syncSandbox gives the user rowID the sandbox login user@pelm.com and
// runs a real sync of it through the Pelm sandbox connector.
func (e *env) syncSandbox(t *testing.T, rowID string) {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(rand.Reader, key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := syncer.SealCredential(v, syncer.Credential{Username: sandbox.PelmUser, Password: "password"}, rowID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetCredential(ctx, rowID, sealed); err != nil {
		t.Fatal(err)
	}
	sy, err := syncer.New(syncer.Config{
		Store: e.st, Vault: v, Catalog: e.cat, Now: e.clock.Now,
		Connectors: connector.Registry{catalog.ConnectorPelmSandbox: sandbox.NewPelm(sandbox.Config{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sy.Sync(ctx, rowID); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

type ivJSON struct {
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	Usage float64 `json:"usage"`
}

// TestGreenButtonExportRoundTrip exports a synced sandbox account and
// reads the feed back with gridlink's own parser: the readings and bills
// are those GET /intervals and GET /bills return.
func TestGreenButtonExportRoundTrip(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")

	// Before the first sync: data_unavailable, like the other data routes.
	r := e.do(t, request{path: "/accounts/x/greenbutton.xml", header: hdr(e.a, token)})
	wantError(t, r, http.StatusInternalServerError, gridlink.DataUnavailable)

	e.syncSandbox(t, rowID)

	var accounts []struct {
		ID     string `json:"id"`
		Meters []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"meters"`
	}
	if r := e.do(t, request{path: "/accounts", header: hdr(e.a, token)}); r.status != 200 || json.Unmarshal(r.body, &accounts) != nil || len(accounts) == 0 {
		t.Fatalf("GET /accounts: %d %s", r.status, truncate(r.body))
	}
	for _, ac := range accounts {
		t.Run(ac.ID, func(t *testing.T) {
			r := e.do(t, request{path: "/accounts/" + ac.ID + "/greenbutton.xml", header: hdr(e.a, token)})
			if r.status != http.StatusOK {
				t.Fatalf("export: %d %s", r.status, truncate(r.body))
			}
			if ct := r.header.Get("Content-Type"); ct != "application/atom+xml" {
				t.Errorf("Content-Type %q, want application/atom+xml", ct)
			}
			feed, err := greenbutton.ParseXML(context.Background(), bytes.NewReader(r.body), greenbutton.Options{})
			if err != nil {
				t.Fatalf("the export does not parse: %v", err)
			}
			parsed, err := feed.Accounts(greenbutton.AccountOptions{})
			if err != nil {
				t.Fatalf("accounts of the export: %v", err)
			}
			// The parser makes one account per usage point: gather the
			// readings by meter type.
			gotIvs := map[string][]ivJSON{}
			var gotBills []connector.Bill
			for _, pa := range parsed {
				for _, m := range pa.Meters {
					for _, iv := range pa.Intervals[m.ExternalID] {
						gotIvs[string(m.Type)] = append(gotIvs[string(m.Type)], ivJSON{iv.Start, iv.End, iv.Usage})
					}
				}
				gotBills = append(gotBills, pa.Bills...)
			}
			for _, m := range ac.Meters {
				var body struct {
					Intervals []ivJSON `json:"intervals"`
				}
				path := fmt.Sprintf("/intervals?account_id=%s&type=%s&start_date=0&end_date=99999999999", ac.ID, m.Type)
				if r := e.do(t, request{path: path, header: hdr(e.a, token)}); r.status != 200 || json.Unmarshal(r.body, &body) != nil {
					t.Fatalf("GET %s: %d %s", path, r.status, truncate(r.body))
				}
				if len(body.Intervals) == 0 {
					t.Fatalf("meter %s has no readings to compare", m.Type)
				}
				if diff := cmp.Diff(body.Intervals, gotIvs[m.Type], cmpopts.EquateApprox(0, 1e-6)); diff != "" {
					t.Errorf("%s readings: GET /intervals (-) vs the export read back (+):\n%s", m.Type, diff)
				}
			}

			var groups []struct {
				Bills []struct {
					StartDate    *int64   `json:"start_date"`
					EndDate      *int64   `json:"end_date"`
					TotalCharges *float64 `json:"total_charges"`
					TotalDue     *float64 `json:"total_amount_due"`
				} `json:"bills"`
			}
			if r := e.do(t, request{path: "/accounts/" + ac.ID + "/bills", header: hdr(e.a, token)}); r.status != 200 || json.Unmarshal(r.body, &groups) != nil || len(groups) != 1 {
				t.Fatalf("GET bills: %d %s", r.status, truncate(r.body))
			}
			type billKey struct {
				Start, End int64
				Total      float64
			}
			var want, got []billKey
			for _, b := range groups[0].Bills {
				total := b.TotalCharges
				if total == nil {
					total = b.TotalDue
				}
				if b.StartDate == nil || b.EndDate == nil || total == nil {
					continue
				}
				want = append(want, billKey{*b.StartDate, *b.EndDate, *total})
			}
			for _, b := range gotBills {
				if b.TotalCharges != nil {
					got = append(got, billKey{*b.StartDate, *b.EndDate, *b.TotalCharges})
				}
			}
			sortBills := func(s []billKey) { sort.Slice(s, func(i, j int) bool { return s[i].Start < s[j].Start }) }
			sortBills(want)
			sortBills(got)
			if len(want) == 0 {
				t.Fatal("the sandbox account has no bills to compare")
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-5)); diff != "" {
				t.Errorf("bills: GET /bills (-) vs the export read back (+):\n%s", diff)
			}
		})
	}

	// Another user's account is not found (bob's data is ready, and he
	// has no account with that id).
	bobRow, bobToken := e.newUser(t, e.a, "bob")
	if err := e.st.MarkDataReady(context.Background(), bobRow); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, request{path: "/accounts/" + accounts[0].ID + "/greenbutton.xml", header: hdr(e.a, bobToken)})
	wantError(t, r, http.StatusNotFound, gridlink.NotFound)
}
