package greenbutton

import (
	"math/big"
	"strconv"
	"testing"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
)

// billView is the part of a bill the tests compare.
type billView struct {
	ID                 string
	Start, End         *int64
	Total, Due         *float64
	Electric, Gas      *float64
	KWh, Therm         *float64
	DueDate, Statement *int64
}

func viewBill(b gridlink.Bill) billView {
	return billView{
		ID: b.ExternalID, Start: b.StartDate, End: b.EndDate,
		Total: b.TotalCharges, Due: b.TotalAmountDue, Electric: b.ElectricCharge, Gas: b.GasCharge,
		KWh: b.ElectricKWh, Therm: b.GasTherm, DueDate: b.DueDate, Statement: b.StatementDate,
	}
}

// sumUsage adds interval usages exactly: each float64 is read back as its
// shortest decimal (the exact decimal the conversion rounded), summed as a
// rational.
func sumUsage(ivs []gridlink.Interval) string {
	sum := new(big.Rat)
	for _, iv := range ivs {
		r, _ := new(big.Rat).SetString(strconv.FormatFloat(iv.Usage, 'f', -1, 64))
		sum.Add(sum, r)
	}
	return sum.RatString()
}

func itoa(n int) string { return strconv.Itoa(n) }

// checkAccounts applies the connector contract the sync engine enforces.
func checkAccounts(t *testing.T, accts []connector.Account) {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range accts {
		if a.ExternalID == "" || seen[a.ExternalID] {
			t.Errorf("account id %q empty or repeated", a.ExternalID)
		}
		seen[a.ExternalID] = true
		meters := map[string]bool{}
		for _, m := range a.Meters {
			if m.ExternalID == "" || !m.Type.Valid() || meters[m.ExternalID] {
				t.Errorf("account %q: bad meter %+v", a.ExternalID, m)
			}
			meters[m.ExternalID] = true
		}
		for ext, ivs := range a.Intervals {
			if !meters[ext] {
				t.Errorf("account %q: intervals of unknown meter %q", a.ExternalID, ext)
			}
			var prevEnd int64
			for j, iv := range ivs {
				if iv.End <= iv.Start || (j > 0 && iv.Start < prevEnd) {
					t.Fatalf("account %q meter %q: interval %d (%+v) empty, unordered or overlapping", a.ExternalID, ext, j, iv)
				}
				prevEnd = iv.End
			}
		}
		bills := map[string]bool{}
		for _, b := range a.Bills {
			if b.ExternalID == "" || bills[b.ExternalID] {
				t.Errorf("account %q: bill id %q empty or repeated", a.ExternalID, b.ExternalID)
			}
			bills[b.ExternalID] = true
		}
	}
}
