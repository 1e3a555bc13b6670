package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAppendBillGroups checks that the hand-written /bills encoder writes
// exactly what encoding/json writes for the same values.
func TestAppendBillGroups(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	f := func(v float64) *jsonFloat { x := jsonFloat(v); return &x }
	full := billJSON{
		ID: "b-1", AccountID: "a-1 \"quoted\" <&> \u2028", StartDate: i(1_700_000_000), EndDate: i(-5),
		StatementDate: i(0), DueDate: i(math.MaxInt64), PaymentDate: i(math.MinInt64),
		TotalAmountDue: f(123.45), TotalCharges: f(-0.0), Charges: chargesJSON{Electric: f(1e21), Gas: f(1e-7), Other: f(math.NaN())},
		ElectricUsageKWh: f(math.Inf(1)), GasUsageTherm: f(0.1 + 0.2),
	}
	for _, tc := range []struct {
		name   string
		groups []billGroupJSON
	}{
		{"none", []billGroupJSON{}},
		{"empty account", []billGroupJSON{{AccountID: "a", Bills: []billJSON{}}}},
		{"nil bills", []billGroupJSON{{AccountID: "a"}}},
		{"all null", []billGroupJSON{{AccountID: "a", Bills: []billJSON{{ID: "b", AccountID: "a"}}}}},
		{"full", []billGroupJSON{{AccountID: "a", Bills: []billJSON{full, {ID: "c"}}}, {AccountID: "ü", Bills: []billJSON{full}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.groups)
			if err != nil {
				t.Fatal(err)
			}
			got := appendBillGroups(nil, tc.groups)
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("encoding differs from encoding/json (-want +got):\n%s", d)
			}
		})
	}
}
