package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gridlink/gridlink"
)

// writeJSON writes v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	writeRaw(w, status, append(b, '\n'))
	return nil
}

// encodeJSON marshals v.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return b, nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, err := json.Marshal(s) // cannot fail for a string
	if err != nil {
		return append(b, `""`...)
	}
	return append(b, q...)
}

// appendFloat appends f in its shortest decimal form without an exponent.
// NaN and infinities, which JSON cannot carry, are written as 0; ok reports
// whether f was finite.
func appendFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0'), false
	}
	if f == 0 {
		return append(b, '0'), true // also for -0
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), true
}

// appendInterval appends one interval object.
func appendInterval(b []byte, iv gridlink.Interval) (_ []byte, ok bool) {
	b = append(b, `{"start":`...)
	b = strconv.AppendInt(b, iv.Start, 10)
	b = append(b, `,"end":`...)
	b = strconv.AppendInt(b, iv.End, 10)
	b = append(b, `,"usage":`...)
	b, ok1 := appendFloat(b, iv.Usage)
	b = append(b, `,"ghg_emissions":`...)
	b, ok2 := appendFloat(b, iv.GHG)
	b = append(b, '}')
	return b, ok1 && ok2
}

// accountJSON is the account object of /accounts and /intervals.
// DataThrough (beyond Pelm) is the end of the account's newest reading,
// null before any.
type accountJSON struct {
	ID                  string               `json:"id"`
	AccountNumber       string               `json:"account_number"`
	Address             string               `json:"address"`
	AvailableMeterTypes []gridlink.MeterType `json:"available_meter_types"`
	UsageUnit           string               `json:"usage_unit"`
	GasUsageUnit        string               `json:"gas_usage_unit,omitempty"`
	GHGEmissionsUnit    string               `json:"ghg_emissions_unit"`
	Meters              []meterJSON          `json:"meters"`
	DataThrough         *int64               `json:"data_through"`
}

type meterJSON struct {
	ID   string             `json:"id"`
	Type gridlink.MeterType `json:"type"`
}

// newAccountJSON is the account object of a, with its data_through from
// through (store.DataThrough).
func newAccountJSON(a gridlink.Account, through map[string]int64) accountJSON {
	types := a.MeterTypes()
	if types == nil {
		types = []gridlink.MeterType{}
	}
	out := accountJSON{
		ID:                  a.ID,
		AccountNumber:       a.Number,
		Address:             a.Address,
		AvailableMeterTypes: types,
		UsageUnit:           gridlink.Electric.Unit(),
		GHGEmissionsUnit:    "kg_co2e",
		Meters:              make([]meterJSON, 0, len(a.Meters)),
	}
	if end, ok := through[a.ID]; ok {
		out.DataThrough = &end
	}
	for _, t := range types {
		if t == gridlink.Gas {
			out.GasUsageUnit = gridlink.Gas.Unit()
		}
	}
	for _, m := range a.Meters {
		out.Meters = append(out.Meters, meterJSON{ID: m.ID, Type: m.Type})
	}
	return out
}

// billJSON is the bill object of /bills; unknown values are null.
type billJSON struct {
	ID               string      `json:"id"`
	AccountID        string      `json:"account_id"`
	StartDate        *int64      `json:"start_date"`
	EndDate          *int64      `json:"end_date"`
	StatementDate    *int64      `json:"statement_date"`
	DueDate          *int64      `json:"due_date"`
	PaymentDate      *int64      `json:"payment_date"`
	TotalAmountDue   *jsonFloat  `json:"total_amount_due"`
	TotalCharges     *jsonFloat  `json:"total_charges"`
	Charges          chargesJSON `json:"charges"`
	ElectricUsageKWh *jsonFloat  `json:"electric_usage_kwh"`
	GasUsageTherm    *jsonFloat  `json:"gas_usage_therm"`
}

type chargesJSON struct {
	Electric *jsonFloat `json:"electric_charges"`
	Gas      *jsonFloat `json:"gas_charges"`
	Other    *jsonFloat `json:"other_charges"`
}

// jsonFloat is a float64 written without exponent; NaN and infinities are
// written as null.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	b, _ := appendFloat(nil, v)
	return b, nil
}

func optFloat(p *float64) *jsonFloat {
	if p == nil {
		return nil
	}
	f := jsonFloat(*p)
	return &f
}

func newBillJSON(b gridlink.Bill) billJSON {
	return billJSON{
		ID:             b.ID,
		AccountID:      b.AccountID,
		StartDate:      b.StartDate,
		EndDate:        b.EndDate,
		StatementDate:  b.StatementDate,
		DueDate:        b.DueDate,
		PaymentDate:    b.PaymentDate,
		TotalAmountDue: optFloat(b.TotalAmountDue),
		TotalCharges:   optFloat(b.TotalCharges),
		Charges: chargesJSON{
			Electric: optFloat(b.ElectricCharge),
			Gas:      optFloat(b.GasCharge),
			Other:    optFloat(b.OtherCharge),
		},
		ElectricUsageKWh: optFloat(b.ElectricKWh),
		GasUsageTherm:    optFloat(b.GasTherm),
	}
}

// billGroupJSON is one element of the /bills array.
type billGroupJSON struct {
	AccountID string     `json:"account_id"`
	Bills     []billJSON `json:"bills"`
}

// syncJSON is the "sync" object of GET /users/{user_id} (beyond Pelm):
// how fresh the user's data is. Times are epoch seconds, null when unknown.
type syncJSON struct {
	// Status is syncing (a sync is running or queued, including the first
	// one and the one after a reconnection), ok, failing (retrying with
	// backoff) or needs_reauth (the utility rejected the stored login:
	// send the user through Connect again).
	Status        string `json:"status"`
	LastSuccessAt *int64 `json:"last_success_at"`
	LastAttemptAt *int64 `json:"last_attempt_at"`
	NextAttemptAt *int64 `json:"next_attempt_at"`
	// ErrorCode is why the last attempt failed (failing and needs_reauth
	// only): bad_credentials, mfa_required, utility_unavailable,
	// rate_limited, layout_changed, internal_error or interrupted.
	ErrorCode *string `json:"error_code"`
}

func epoch(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.Unix()
	return &v
}

func newSyncJSON(u gridlink.User) syncJSON {
	st := u.Sync
	out := syncJSON{
		Status:        st.Status,
		LastSuccessAt: epoch(st.LastSuccessAt),
		LastAttemptAt: epoch(st.LastAttemptAt),
		NextAttemptAt: epoch(st.NextAttemptAt),
	}
	switch {
	case !u.CredentialsValid:
		out.Status = gridlink.SyncNeedsReauth
	case st.Status == gridlink.SyncPending || st.Status == gridlink.SyncNeedsReauth || st.Status == "":
		// Connected or reconnected: the sync Connect queued has not
		// started yet.
		out.Status = gridlink.SyncSyncing
	}
	if (out.Status == gridlink.SyncFailing || out.Status == gridlink.SyncNeedsReauth) && st.ErrorCode != "" {
		code := st.ErrorCode
		out.ErrorCode = &code
	}
	return out
}

// appendBillGroups appends the /bills array: what json.Marshal writes for
// the same []billGroupJSON, without reflection (TestAppendBillGroups).
func appendBillGroups(b []byte, groups []billGroupJSON) []byte {
	b = append(b, '[')
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"account_id":`...)
		b = appendString(b, g.AccountID)
		b = append(b, `,"bills":`...)
		if g.Bills == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for j, bl := range g.Bills {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendBill(b, bl)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendBill appends one bill object, as json.Marshal writes billJSON.
func appendBill(b []byte, bl billJSON) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, bl.ID)
	b = append(b, `,"account_id":`...)
	b = appendString(b, bl.AccountID)
	b = appendOptInt(append(b, `,"start_date":`...), bl.StartDate)
	b = appendOptInt(append(b, `,"end_date":`...), bl.EndDate)
	b = appendOptInt(append(b, `,"statement_date":`...), bl.StatementDate)
	b = appendOptInt(append(b, `,"due_date":`...), bl.DueDate)
	b = appendOptInt(append(b, `,"payment_date":`...), bl.PaymentDate)
	b = appendOptFloat(append(b, `,"total_amount_due":`...), bl.TotalAmountDue)
	b = appendOptFloat(append(b, `,"total_charges":`...), bl.TotalCharges)
	b = appendOptFloat(append(b, `,"charges":{"electric_charges":`...), bl.Charges.Electric)
	b = appendOptFloat(append(b, `,"gas_charges":`...), bl.Charges.Gas)
	b = appendOptFloat(append(b, `,"other_charges":`...), bl.Charges.Other)
	b = appendOptFloat(append(b, `},"electric_usage_kwh":`...), bl.ElectricUsageKWh)
	b = appendOptFloat(append(b, `,"gas_usage_therm":`...), bl.GasUsageTherm)
	return append(b, '}')
}

func appendOptInt(b []byte, p *int64) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *p, 10)
}

// appendOptFloat writes p as jsonFloat does (null for nil, NaN and
// infinities).
func appendOptFloat(b []byte, p *jsonFloat) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	v := float64(*p)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	b, _ = appendFloat(b, v)
	return b
}
