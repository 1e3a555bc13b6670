package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/api"
	"github.com/gridlink/gridlink/internal/catalog"
	"github.com/gridlink/gridlink/internal/connector"
)

func TestDataUnavailable(t *testing.T) {
	e := newEnv(t)
	_, token := e.newUser(t, e.a, "alice")
	for _, ep := range authedEndpoints {
		if !strings.HasPrefix(ep.path, "/accounts") && !strings.HasPrefix(ep.path, "/intervals") && !strings.HasPrefix(ep.path, "/bills") {
			continue
		}
		t.Run(ep.path, func(t *testing.T) {
			r := e.do(t, request{method: ep.method, path: ep.path, header: hdr(e.a, token)})
			wantError(t, r, http.StatusInternalServerError, gridlink.DataUnavailable)
			if got := r.header.Get("Retry-After"); got != "300" {
				t.Errorf("Retry-After = %q, want 300", got)
			}
			var m map[string]string
			_ = json.Unmarshal(r.body, &m)
			if m["message"] != gridlink.DataUnavailableMessage {
				t.Errorf("message = %q", m["message"])
			}
		})
	}
	// GET /users works before the first sync.
	if r := e.do(t, request{path: "/users/alice", header: hdr(e.a, token)}); r.status != http.StatusOK {
		t.Errorf("GET /users before sync: %d %s", r.status, r.body)
	}
}

var account1JSON = map[string]any{
	"id":                    acct1,
	"account_number":        "1077345636",
	"address":               "1 WARRIORS WAY SAN FRANCISCO CA 94158",
	"available_meter_types": []any{"ELECTRIC", "GAS"},
	"usage_unit":            "kwh",
	"gas_usage_unit":        "therm",
	"ghg_emissions_unit":    "kg_co2e",
	"meters":                []any{map[string]any{"id": elec1, "type": "ELECTRIC"}, map[string]any{"id": gas1, "type": "GAS"}},
	// Beyond Pelm: the end of the newest reading (hourly electric and
	// daily gas both end at t0).
	"data_through": float64(t0.Unix()),
}

var account2JSON = map[string]any{
	"id":                    acct2,
	"account_number":        "2077345636",
	"address":               "1 FERRY BUILDING SAN FRANCISCO CA 94105",
	"available_meter_types": []any{"ELECTRIC"},
	"usage_unit":            "kwh",
	"ghg_emissions_unit":    "kg_co2e",
	"meters":                []any{map[string]any{"id": elec2, "type": "ELECTRIC"}},
	"data_through":          nil, // no readings
}

func TestAccounts(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	r := e.do(t, request{path: "/accounts", header: hdr(e.a, token)})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status = %d, Content-Type %q (%s)", r.status, r.header.Get("Content-Type"), r.body)
	}
	if diff := cmp.Diff([]any{account1JSON, account2JSON}, r.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	// A ready user without accounts gets [] (not null).
	emptyRow, emptyToken := e.newUser(t, e.a, "empty")
	if err := e.st.MarkDataReady(t.Context(), emptyRow); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, request{path: "/accounts", header: hdr(e.a, emptyToken)})
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty accounts body = %q, want []", r.body)
	}
	r = e.do(t, request{path: "/bills", header: hdr(e.a, emptyToken)})
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty bills body = %q, want []", r.body)
	}
}

// intervalsBody is the decoded answer of /intervals.
type intervalsBody struct {
	Utility   string         `json:"utility"`
	Type      string         `json:"type"`
	Account   map[string]any `json:"account"`
	Intervals []struct {
		Start        int64   `json:"start"`
		End          int64   `json:"end"`
		Usage        float64 `json:"usage"`
		GHGEmissions float64 `json:"ghg_emissions"`
	} `json:"intervals"`
}

func TestIntervalsShape(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	start := t0.Add(-3 * time.Hour).Unix()
	r := e.do(t, request{path: "/intervals?account_id=" + acct1 + "&type=ELECTRIC&start_date=" + strconv.FormatInt(start, 10) +
		"&end_date=" + strconv.FormatInt(t0.Unix(), 10), header: hdr(e.a, token)})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status = %d, Content-Type %q (%s)", r.status, r.header.Get("Content-Type"), r.body)
	}
	var ivs []any
	for s := start; s < t0.Unix(); s += 3600 {
		ivs = append(ivs, map[string]any{"start": float64(s), "end": float64(s + 3600),
			"usage": 0.25 + float64(s%7)/10, "ghg_emissions": 0.1})
	}
	want := map[string]any{
		"utility":   "Pacific Gas and Electric",
		"type":      "ELECTRIC",
		"account":   account1JSON,
		"intervals": ivs,
	}
	if diff := cmp.Diff(want, r.json(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	// Numbers are written plainly (no exponent), and the body is valid
	// JSON even with no readings in the window.
	if regexp.MustCompile(`[0-9][eE][-+]?[0-9]`).Match(r.body) {
		t.Errorf("exponent in numbers: %s", r.body)
	}
	r = e.do(t, request{path: "/intervals?account_id=" + acct2 + "&type=electric", header: hdr(e.a, token)})
	var empty map[string]any
	if err := json.Unmarshal(r.body, &empty); err != nil || r.status != http.StatusOK {
		t.Fatalf("empty window: %d %v %s", r.status, err, r.body)
	}
	if iv, ok := empty["intervals"].([]any); !ok || len(iv) != 0 {
		t.Errorf("intervals = %#v, want []", empty["intervals"])
	}
	if empty["type"] != "ELECTRIC" {
		t.Errorf("type = %v, want ELECTRIC (upper case)", empty["type"])
	}
}

func TestIntervalsWindowAndSelection(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	unix := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	s := t0.AddDate(0, 0, -90)
	end := t0.AddDate(0, 0, -10)
	elec := "account_id=" + acct1 + "&type=ELECTRIC"
	cases := []struct {
		name          string
		path          string
		wantType      string
		wantAccount   string
		first, last   time.Time // first and last reading start (hourly)
		wantCountHour bool
	}{
		{"neither date: two months before now", "/intervals?" + elec, "ELECTRIC", acct1,
			t0.AddDate(0, -2, 0), t0.Add(-time.Hour), true},
		{"empty dates are absent", "/intervals?" + elec + "&start_date=&end_date=", "ELECTRIC", acct1,
			t0.AddDate(0, -2, 0), t0.Add(-time.Hour), true},
		{"start only: two months from it", "/intervals?" + elec + "&start_date=" + unix(s), "ELECTRIC", acct1,
			s, s.AddDate(0, 2, 0).Add(-time.Hour), true},
		{"end only: two months up to it", "/intervals?" + elec + "&end_date=" + unix(end), "ELECTRIC", acct1,
			end.AddDate(0, -2, 0), end.Add(-time.Hour), true},
		{"both", "/intervals?" + elec + "&start_date=" + unix(s) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s, end.Add(-time.Hour), true},
		{"start not on a reading", "/intervals?" + elec + "&start_date=" + strconv.FormatInt(s.Unix()+1, 10) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s.Add(time.Hour), end.Add(-time.Hour), true},
		{"lower-case type", "/intervals?account_id=" + acct1 + "&type=electric&start_date=" + unix(s) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s, end.Add(-time.Hour), true},
		{"legacy path", "/accounts/" + acct1 + "/intervals?type=ELECTRIC&start_date=" + unix(s) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s, end.Add(-time.Hour), true},
		{"legacy path wins over account_id", "/accounts/" + acct1 + "/intervals?account_id=" + acct2 + "&type=ELECTRIC&start_date=" + unix(s) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s, end.Add(-time.Hour), true},
		{"meter_id", "/intervals?meter_id=" + elec1 + "&start_date=" + unix(s) + "&end_date=" + unix(end), "ELECTRIC", acct1,
			s, end.Add(-time.Hour), true},
		{"meter_id wins over account_id and type", "/intervals?account_id=" + acct2 + "&type=ELECTRIC&meter_id=" + gas1 +
			"&start_date=" + unix(dataStart) + "&end_date=" + unix(dataStart.AddDate(0, 0, 3)), "GAS", acct1,
			dataStart, dataStart.AddDate(0, 0, 2), false},
		{"gas type", "/intervals?account_id=" + acct1 + "&type=GAS&start_date=" + unix(dataStart) + "&end_date=" + unix(dataStart.AddDate(0, 0, 3)), "GAS", acct1,
			dataStart, dataStart.AddDate(0, 0, 2), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{path: tc.path, header: hdr(e.a, token)})
			if r.status != http.StatusOK {
				t.Fatalf("status = %d (%s)", r.status, r.body)
			}
			var b intervalsBody
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			if b.Type != tc.wantType || b.Account["id"] != tc.wantAccount {
				t.Errorf("type %q account %v, want %q %q", b.Type, b.Account["id"], tc.wantType, tc.wantAccount)
			}
			if len(b.Intervals) == 0 {
				t.Fatal("no intervals")
			}
			first, last := b.Intervals[0].Start, b.Intervals[len(b.Intervals)-1].Start
			if first != tc.first.Unix() || last != tc.last.Unix() {
				t.Errorf("readings %s .. %s, want %s .. %s", time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC(), tc.first, tc.last)
			}
			for i := 1; i < len(b.Intervals); i++ {
				if b.Intervals[i].Start <= b.Intervals[i-1].Start {
					t.Fatalf("not ascending at %d", i)
				}
			}
			if tc.wantCountHour {
				if want := int((last-first)/3600) + 1; len(b.Intervals) != want {
					t.Errorf("%d readings, want %d", len(b.Intervals), want)
				}
			}
		})
	}
}

func TestIntervalsErrors(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	otherRow, _ := e.newUser(t, e.a, "bob")
	e.seed(t, otherRow) // same public ids under another user are not alice's business
	cases := []struct {
		name   string
		path   string
		status int
		code   gridlink.ErrorCode
	}{
		{"nothing", "/intervals", 400, gridlink.ParameterMissing},
		{"empty values", "/intervals?account_id=&meter_id=&type=", 400, gridlink.ParameterMissing},
		{"two meter types, no type", "/intervals?account_id=" + acct1, 400, gridlink.ParameterMissing},
		{"bad type", "/intervals?account_id=" + acct1 + "&type=WATER", 400, gridlink.ParameterInvalid},
		{"no meter of type", "/intervals?account_id=" + acct2 + "&type=GAS", 400, gridlink.ParameterInvalid},
		{"unknown account", "/intervals?account_id=nope&type=ELECTRIC", 404, gridlink.NotFound},
		{"unknown meter", "/intervals?meter_id=nope", 404, gridlink.NotFound},
		{"legacy unknown account", "/accounts/nope/intervals?type=ELECTRIC", 404, gridlink.NotFound},
		{"start not a number", "/intervals?account_id=" + acct1 + "&type=GAS&start_date=yesterday", 400, gridlink.ParameterInvalid},
		{"start float", "/intervals?account_id=" + acct1 + "&type=GAS&start_date=1.5", 400, gridlink.ParameterInvalid},
		{"start negative", "/intervals?account_id=" + acct1 + "&type=GAS&start_date=-1", 400, gridlink.ParameterInvalid},
		{"end huge", "/intervals?account_id=" + acct1 + "&type=GAS&end_date=99999999999999999999", 400, gridlink.ParameterInvalid},
		{"end before start", "/intervals?account_id=" + acct1 + "&type=GAS&start_date=1700000000&end_date=1600000000", 400, gridlink.ParameterInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(t, request{path: tc.path, header: hdr(e.a, token)}), tc.status, tc.code)
		})
	}
	// Account with a single meter type: type may be left out.
	if r := e.do(t, request{path: "/intervals?account_id=" + acct2, header: hdr(e.a, token)}); r.status != http.StatusOK {
		t.Errorf("single-type account without type: %d %s", r.status, r.body)
	}
}

func bill1JSON() map[string]any {
	return map[string]any{
		"id": bill1, "account_id": acct1,
		"start_date": float64(day(1, 1)), "end_date": float64(day(1, 31)), "statement_date": float64(day(2, 2)),
		"due_date": float64(day(2, 20)), "payment_date": float64(day(2, 15)),
		"total_amount_due": 123.45, "total_charges": 123.45,
		"charges":            map[string]any{"electric_charges": 100.05, "gas_charges": 20.4, "other_charges": float64(3)},
		"electric_usage_kwh": 512.5, "gas_usage_therm": float64(30),
	}
}

func bill2JSON() map[string]any {
	return map[string]any{
		"id": bill2, "account_id": acct1,
		"start_date": float64(day(2, 1)), "end_date": float64(day(2, 29)), "statement_date": float64(day(3, 2)),
		"due_date": nil, "payment_date": nil,
		"total_amount_due": 99.9, "total_charges": nil,
		"charges":            map[string]any{"electric_charges": nil, "gas_charges": nil, "other_charges": nil},
		"electric_usage_kwh": float64(400), "gas_usage_therm": nil,
	}
}

func bill3JSON() map[string]any {
	return map[string]any{
		"id": bill3, "account_id": acct1,
		"start_date": float64(day(3, 1)), "end_date": float64(day(3, 31)), "statement_date": nil,
		"due_date": nil, "payment_date": nil,
		"total_amount_due": nil, "total_charges": nil,
		"charges":            map[string]any{"electric_charges": nil, "gas_charges": nil, "other_charges": nil},
		"electric_usage_kwh": nil, "gas_usage_therm": nil,
	}
}

func group(account string, bills ...any) map[string]any {
	if bills == nil {
		bills = []any{}
	}
	return map[string]any{"account_id": account, "bills": bills}
}

func TestBills(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	bobRow, bobToken := e.newUser(t, e.a, "bob")
	e.seed(t, bobRow)
	b1, b2, b3 := bill1JSON(), bill2JSON(), bill3JSON()
	feb10 := strconv.FormatInt(day(2, 10), 10)
	cases := []struct {
		name string
		path string
		want any
	}{
		{"all", "/bills", []any{group(acct1, b1, b2, b3), group(acct2)}},
		{"empty query values", "/bills?account_id=&start_date=&end_date=", []any{group(acct1, b1, b2, b3), group(acct2)}},
		{"one account", "/bills?account_id=" + acct1, []any{group(acct1, b1, b2, b3)}},
		{"account without bills", "/bills?account_id=" + acct2, []any{group(acct2)}},
		{"legacy path", "/accounts/" + acct1 + "/bills", []any{group(acct1, b1, b2, b3)}},
		{"start filter", "/bills?start_date=" + feb10, []any{group(acct1, b2, b3), group(acct2)}},
		{"end filter", "/bills?end_date=" + strconv.FormatInt(day(2, 1), 10), []any{group(acct1, b1), group(acct2)}},
		{"both filters", "/bills?account_id=" + acct1 + "&start_date=" + feb10 + "&end_date=" + strconv.FormatInt(day(3, 1), 10), []any{group(acct1, b2)}},
		{"single bill", "/bills/" + bill1, b1},
		{"single bill with nulls", "/bills/" + bill3, b3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{path: tc.path, header: hdr(e.a, token)})
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status = %d, Content-Type %q (%s)", r.status, r.header.Get("Content-Type"), r.body)
			}
			if diff := cmp.Diff(tc.want, r.json(t)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		path   string
		status int
		code   gridlink.ErrorCode
	}{
		{"unknown account", "/bills?account_id=nope", 404, gridlink.NotFound},
		{"legacy unknown account", "/accounts/nope/bills", 404, gridlink.NotFound},
		{"unknown bill", "/bills/nope", 404, gridlink.NotFound},
		{"bad start", "/bills?start_date=x", 400, gridlink.ParameterInvalid},
		{"end before start", "/bills?start_date=10&end_date=5", 400, gridlink.ParameterInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(t, request{path: tc.path, header: hdr(e.a, token)}), tc.status, tc.code)
		})
	}
	// Bob's copy of the data is his own: deleting it leaves alice's bills.
	if r := e.do(t, request{method: "DELETE", path: "/users/bob", header: hdr(e.a, bobToken)}); r.status != http.StatusOK {
		t.Fatalf("delete bob: %d", r.status)
	}
	if r := e.do(t, request{path: "/bills/" + bill1, header: hdr(e.a, token)}); r.status != http.StatusOK {
		t.Errorf("alice's bill after bob's deletion: %d %s", r.status, r.body)
	}
}

func TestBillPDF(t *testing.T) {
	e := newEnv(t)
	rowID, token := e.newUser(t, e.a, "alice")
	e.seed(t, rowID)
	bobRow, otherToken := e.newUser(t, e.a, "bob")
	if err := e.st.MarkDataReady(t.Context(), bobRow); err != nil { // ready, with no data
		t.Fatal(err)
	}
	r := e.do(t, request{path: "/bills/" + bill1 + "/pdf", header: hdr(e.a, token)})
	if r.status != http.StatusOK {
		t.Fatalf("status = %d (%s)", r.status, r.body)
	}
	if diff := cmp.Diff(pdfBytes, r.body); diff != "" {
		t.Errorf("PDF bytes differ:\n%s", diff)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); cd != `inline; filename="bill-`+bill1+`.pdf"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	for _, tc := range []struct {
		name, path, token string
	}{
		{"bill without PDF", "/bills/" + bill3 + "/pdf", token},
		{"unknown bill", "/bills/nope/pdf", token},
		{"other user's bill", "/bills/" + bill1 + "/pdf", otherToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{path: tc.path, header: hdr(e.a, tc.token)})
			wantError(t, r, http.StatusNotFound, gridlink.NotFound)
			if r.header.Get("Content-Disposition") != "" {
				t.Errorf("Content-Disposition on an error")
			}
		})
	}
}

func TestUtilities(t *testing.T) {
	type utility struct {
		ID        int64  `json:"id"`
		Slug      string `json:"slug"`
		Name      string `json:"name"`
		Supported bool   `json:"supported"`
	}
	e := newEnv(t)
	get := func(t *testing.T, path string, h map[string]string) []utility {
		t.Helper()
		r := e.do(t, request{path: path, header: h})
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("status = %d, Content-Type %q (%s)", r.status, r.header.Get("Content-Type"), r.body)
		}
		var m []map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		for _, u := range m {
			if diff := cmp.Diff([]string{"id", "name", "slug", "supported"}, keys(u)); diff != "" {
				t.Fatalf("keys (-want +got):\n%s", diff)
			}
		}
		var us []utility
		if err := json.Unmarshal(r.body, &us); err != nil {
			t.Fatal(err)
		}
		return us
	}
	all := get(t, "/utilities", nil) // no credentials needed
	if len(all) != e.cat.Len() {
		t.Errorf("%d utilities, want %d", len(all), e.cat.Len())
	}
	var pge utility
	for _, u := range all {
		if u.ID == 1 {
			pge = u
		}
	}
	if diff := cmp.Diff(utility{1, "pge", "Pacific Gas and Electric", true}, pge); diff != "" {
		t.Errorf("PG&E (-want +got):\n%s", diff)
	}
	hits := get(t, "/utilities?q=pg%26e", hdr(e.a, ""))
	if len(hits) == 0 || hits[0].Slug != "pge" {
		t.Errorf("search pg&e: %+v", hits)
	}
	if got := get(t, "/utilities?q=", nil); len(got) != len(all) {
		t.Errorf("empty q: %d utilities, want all %d", len(got), len(all))
	}
	r := e.do(t, request{path: "/utilities?q=zzzzzzzz"})
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("no hits: %q, want []", r.body)
	}
	wantError(t, e.do(t, request{path: "/utilities?q=" + strings.Repeat("a", 201)}), 400, gridlink.ParameterInvalid)
}

func TestUtilitiesSupportedFollowsRegistry(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *http.ServeMux) {
		c.Connectors = connector.Registry{catalog.ConnectorSandbox: nil}
	})
	r := e.do(t, request{path: "/utilities"})
	var us []struct {
		Slug      string `json:"slug"`
		Supported bool   `json:"supported"`
	}
	if err := json.Unmarshal(r.body, &us); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, u := range us {
		if u.Supported {
			got[u.Slug] = true
		}
	}
	if diff := cmp.Diff(map[string]bool{catalog.SandboxSlug: true}, got); diff != "" {
		t.Errorf("supported utilities (-want +got):\n%s", diff)
	}
}
