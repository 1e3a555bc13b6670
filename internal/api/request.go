package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gridlink/gridlink"
)

// MaxBodyBytes is the largest request body accepted (1 MiB, security.md
// 14). Larger bodies are answered 413 request_too_large.
const MaxBodyBytes = 1 << 20

// maxEpoch is the largest accepted epoch-second date (9999-12-31T23:59:59Z).
const maxEpoch = 253402300799

// parseForm returns the fields of a POST body. It accepts
// application/x-www-form-urlencoded (also when Content-Type is missing),
// multipart/form-data and a JSON object whose values are strings or numbers
// (null means absent). Other content types and malformed bodies are 400
// parameter_invalid; bodies over MaxBodyBytes are 413 request_too_large.
// Query parameters are not read.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	mediaType := "application/x-www-form-urlencoded"
	var params map[string]string
	if strings.TrimSpace(ct) != "" {
		var err error
		mediaType, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The Content-Type header is malformed.")
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		if mediaType == "multipart/form-data" || mediaType == "application/x-www-form-urlencoded" || isJSON(mediaType) {
			return url.Values{}, nil
		}
	}
	switch {
	case mediaType == "application/x-www-form-urlencoded":
		body, err := readBody(w, r)
		if err != nil {
			return nil, err
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The form body is malformed.")
		}
		return v, nil
	case mediaType == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The multipart body has no boundary.")
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errTooLarge
			}
			return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The multipart body is malformed.")
		}
		v := url.Values{}
		if r.MultipartForm != nil {
			for k, vs := range r.MultipartForm.Value {
				v[k] = vs
			}
		}
		return v, nil
	case isJSON(mediaType):
		body, err := readBody(w, r)
		if err != nil {
			return nil, err
		}
		return parseJSONObject(body)
	default:
		return nil, gridlink.Errorf(gridlink.ParameterInvalid,
			"Unsupported Content-Type; send application/x-www-form-urlencoded, multipart/form-data or application/json.")
	}
}

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || (strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json"))
}

// readBody reads the whole body, at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return body, nil
}

// parseJSONObject turns a JSON object body into form values: strings as
// they are, numbers as written, null as absent. An empty body is an empty
// form.
func parseJSONObject(body []byte) (url.Values, error) {
	v := url.Values{}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The JSON body must be an object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The JSON body must be a single object.")
	}
	for k, val := range m {
		switch x := val.(type) {
		case nil:
		case string:
			v.Set(k, x)
		case json.Number:
			v.Set(k, x.String())
		default:
			return nil, gridlink.Errorf(gridlink.ParameterInvalid, "The JSON field %q must be a string.", truncate(k, 64))
		}
	}
	return v, nil
}

// truncate shortens s to at most n bytes (on a rune boundary) for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkUserID validates the developer's user_id.
func checkUserID(id string) error {
	if id == "" {
		return gridlink.Errorf(gridlink.ParameterMissing, "The user_id parameter is required.")
	}
	if len(id) > 255 {
		return gridlink.Errorf(gridlink.ParameterInvalid, "The user_id parameter must be at most 255 bytes.")
	}
	if !utf8.ValidString(id) {
		return gridlink.Errorf(gridlink.ParameterInvalid, "The user_id parameter must be valid UTF-8.")
	}
	for _, c := range id {
		if unicode.IsControl(c) {
			return gridlink.Errorf(gridlink.ParameterInvalid, "The user_id parameter must not contain control characters.")
		}
	}
	return nil
}

// checkQuery rejects access tokens in the query string.
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") {
		return gridlink.Errorf(gridlink.ParameterInvalid,
			"Access tokens are not accepted in the query string; send them in the Authorization: Bearer header.")
	}
	return nil
}

// bearerToken returns the token of an "Authorization: Bearer" header; the
// scheme is case-insensitive.
func bearerToken(r *http.Request) (string, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", gridlink.Errorf(gridlink.TokenInvalid, "Missing access token: send an Authorization: Bearer <access_token> header.")
	}
	return token, nil
}

// epochParam parses an optional epoch-seconds query parameter. An empty
// value is the same as an absent one.
func epochParam(q url.Values, name string) (int64, bool, error) {
	s := q.Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxEpoch {
		return 0, false, gridlink.Errorf(gridlink.ParameterInvalid,
			"The %s parameter must be a non-negative integer (UNIX epoch seconds).", name)
	}
	return n, true, nil
}

// dateRange is an optional [Start, End] pair of epoch seconds.
type dateRange struct {
	Start, End       int64
	HasStart, HasEnd bool
}

// parseDateRange reads start_date and end_date; end before start is 400.
func parseDateRange(q url.Values) (dateRange, error) {
	var d dateRange
	var err error
	if d.Start, d.HasStart, err = epochParam(q, "start_date"); err != nil {
		return d, err
	}
	if d.End, d.HasEnd, err = epochParam(q, "end_date"); err != nil {
		return d, err
	}
	if d.HasStart && d.HasEnd && d.End < d.Start {
		return d, gridlink.Errorf(gridlink.ParameterInvalid, "The end_date parameter must not be before start_date.")
	}
	return d, nil
}

// intervalWindow is the [from, to) window of readings to return: neither
// date gives the two calendar months before now; only a start gives two
// months from it; only an end gives two months up to it.
func intervalWindow(d dateRange, now time.Time) (from, to int64) {
	const months = 2
	switch {
	case d.HasStart && d.HasEnd:
		return d.Start, d.End
	case d.HasStart:
		return d.Start, time.Unix(d.Start, 0).UTC().AddDate(0, months, 0).Unix()
	case d.HasEnd:
		return max(0, time.Unix(d.End, 0).UTC().AddDate(0, -months, 0).Unix()), d.End
	default:
		n := now.UTC()
		return max(0, n.AddDate(0, -months, 0).Unix()), n.Unix()
	}
}

// intervalsQuery is the parsed query of GET /intervals.
type intervalsQuery struct {
	AccountID string
	MeterID   string
	Type      gridlink.MeterType // "" when not given
	Dates     dateRange
}

// parseIntervalsQuery parses the query of GET /intervals; accountID, when
// not empty, comes from the legacy path and replaces the query's.
func parseIntervalsQuery(q url.Values, accountID string) (intervalsQuery, error) {
	iq := intervalsQuery{AccountID: q.Get("account_id"), MeterID: q.Get("meter_id")}
	if accountID != "" {
		iq.AccountID = accountID
	}
	if iq.AccountID == "" && iq.MeterID == "" {
		return iq, gridlink.Errorf(gridlink.ParameterMissing, "The account_id (with type) or meter_id parameter is required.")
	}
	if t := q.Get("type"); t != "" && iq.MeterID == "" {
		mt := gridlink.MeterType(strings.ToUpper(t))
		if !mt.Valid() {
			return iq, gridlink.Errorf(gridlink.ParameterInvalid, "The type parameter must be ELECTRIC or GAS.")
		}
		iq.Type = mt
	}
	var err error
	iq.Dates, err = parseDateRange(q)
	return iq, err
}
