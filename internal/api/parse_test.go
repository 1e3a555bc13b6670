package api

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridlink/gridlink"
)

// wantClientError fails unless err is a *gridlink.Error with a 4xx status.
func wantClientError(t *testing.T, err error) {
	t.Helper()
	var ge *gridlink.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *gridlink.Error", err, err)
	}
	if s := Status(ge.Code); s < 400 || s > 499 {
		t.Fatalf("error %v has status %d", err, s)
	}
}

func FuzzParseForm(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"", "user_id=a&utility_slug=pge"},
		{"application/x-www-form-urlencoded", "user_id=%zz"},
		{"application/x-www-form-urlencoded; charset=utf-8", "a=1&a=2&b="},
		{"application/json", `{"user_id":"u","utility_id":1}`},
		{"application/json", `{"user_id":1e400}`},
		{"application/json", `{"a":[1,2]}`},
		{"application/json", `null`},
		{"application/json", `{"a":"b"}garbage`},
		{"application/vnd.api+json", `{"a":"b"}`},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\nu\r\n--X--\r\n"},
		{"multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nfile\r\n--X--\r\n"},
		{"multipart/form-data", "x"},
		{"text/plain", "user_id=u"},
		{"multipart/form-data; boundary=\"", ""},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/auth/connect-token", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		v, err := parseForm(w, r)
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		if err != nil {
			wantClientError(t, err)
			return
		}
		if v == nil {
			t.Fatal("nil values without error")
		}
		mt := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		if mt == "" || mt == "application/x-www-form-urlencoded" {
			want, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("accepted a body url.ParseQuery rejects: %v", err)
			}
			if diff := cmp.Diff(want, v); diff != "" {
				t.Fatalf("values differ from url.ParseQuery (-want +got):\n%s", diff)
			}
		}
	})
}

func FuzzIntervalsQuery(f *testing.F) {
	for _, q := range []string{
		"account_id=a&type=ELECTRIC",
		"account_id=a&type=gas&start_date=1700000000",
		"meter_id=m&end_date=0",
		"meter_id=m&type=WATER",
		"account_id=a&start_date=&end_date=",
		"account_id=a&start_date=10&end_date=5",
		"account_id=a&start_date=-1",
		"account_id=a&start_date=253402300799",
		"account_id=a&end_date=99999999999999999999",
		"account_id=a&start_date=1e9",
		"%zz=1&account_id=%",
	} {
		f.Add(q, int64(1710504000))
	}
	f.Fuzz(func(t *testing.T, raw string, nowUnix int64) {
		q, _ := url.ParseQuery(raw)
		iq, err := parseIntervalsQuery(q, "")
		if err != nil {
			wantClientError(t, err)
			return
		}
		if iq.AccountID == "" && iq.MeterID == "" {
			t.Fatal("accepted a query without account or meter")
		}
		if iq.Type != "" && !iq.Type.Valid() {
			t.Fatalf("accepted type %q", iq.Type)
		}
		now := time.Unix(max(0, nowUnix%maxEpoch), 0)
		from, to := intervalWindow(iq.Dates, now)
		if from < 0 || to < from {
			t.Fatalf("window [%d, %d) for %+v", from, to, iq.Dates)
		}
		if iq.Dates.HasStart && from != iq.Dates.Start || iq.Dates.HasEnd && to != iq.Dates.End {
			t.Fatalf("window [%d, %d) ignores the dates %+v", from, to, iq.Dates)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
		ok   bool
	}{
		{0, "0", true},
		{math.Copysign(0, -1), "0", true},
		{1, "1", true},
		{0.1, "0.1", true},
		{-2.5, "-2.5", true},
		{1e-7, "0.0000001", true},
		{1e21, "1000000000000000000000", true},
		{123.456, "123.456", true},
		{math.NaN(), "0", false},
		{math.Inf(1), "0", false},
		{math.Inf(-1), "0", false},
	} {
		got, ok := appendFloat(nil, tc.in)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("appendFloat(%v) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIntervalWindow(t *testing.T) {
	now := time.Date(2024, 3, 31, 10, 0, 0, 0, time.UTC)
	u := func(y int, m time.Month, d, h int) int64 { return time.Date(y, m, d, h, 0, 0, 0, time.UTC).Unix() }
	for _, tc := range []struct {
		name     string
		d        dateRange
		from, to int64
	}{
		{"neither", dateRange{}, u(2024, 1, 31, 10), now.Unix()},
		{"start only", dateRange{Start: u(2023, 12, 1, 0), HasStart: true}, u(2023, 12, 1, 0), u(2024, 2, 1, 0)},
		{"end only", dateRange{End: u(2024, 3, 1, 0), HasEnd: true}, u(2024, 1, 1, 0), u(2024, 3, 1, 0)},
		{"both", dateRange{Start: 5, End: 10, HasStart: true, HasEnd: true}, 5, 10},
		{"end only near 1970", dateRange{End: 100, HasEnd: true}, 0, 100},
	} {
		from, to := intervalWindow(tc.d, now)
		if from != tc.from || to != tc.to {
			t.Errorf("%s: [%d, %d), want [%d, %d)", tc.name, from, to, tc.from, tc.to)
		}
	}
}

func TestStatusTable(t *testing.T) {
	want := map[gridlink.ErrorCode]int{
		gridlink.ParameterMissing: 400, gridlink.ParameterInvalid: 400, gridlink.ConnectMaxAttemptedLogins: 400,
		gridlink.MFARequired: 400, gridlink.MFAFailed: 400, gridlink.UtilityUnavailable: 400, gridlink.FeatureUnavailable: 400,
		gridlink.CredentialsInvalid: 401, gridlink.TokenInvalid: 401, gridlink.QuotaReached: 402,
		gridlink.PermissionDenied: 403, gridlink.NotFound: 404, gridlink.MethodNotAllowed: 405,
		gridlink.RequestTooLarge: 413, gridlink.RateLimited: 429,
		gridlink.DataUnavailable: 500, gridlink.InternalError: 500, "something_else": 500,
	}
	for code, status := range want {
		if got := Status(code); got != status {
			t.Errorf("Status(%s) = %d, want %d", code, got, status)
		}
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&gridlink.Error{Code: gridlink.RateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, "2"},
		{&gridlink.Error{Code: gridlink.DataUnavailable, Message: gridlink.DataUnavailableMessage}, "300"},
		{&gridlink.Error{Code: gridlink.DataUnavailable, Message: gridlink.DataUnavailableMessage, RetryAfter: time.Minute}, "60"},
		{gridlink.Errorf(gridlink.ParameterInvalid, "x"), ""},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), tc.err)
		if got := w.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After = %q, want %q", tc.err, got, tc.want)
		}
	}
}
