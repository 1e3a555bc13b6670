package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// handlerFunc is the form of every API handler: an error returned before
// anything was written becomes the JSON error answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler. It also rejects access tokens in the
// query string on every API route.
func (a *API) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := checkQuery(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			writeError(w, r, a.logger, err)
		}
	})
}

// Lifetimes announced in token responses.
const (
	accessTokenExpiresIn  = 3600     // legacy field; access tokens never expire
	refreshTokenExpiresIn = 31536000 // legacy field; refresh tokens are not usable
)

// client authenticates the calling client from its headers.
func (a *API) client(r *http.Request) (gridlink.Client, error) {
	return a.auth.AuthenticateClient(r.Context(), r.Header.Get("Pelm-Client-Id"), r.Header.Get("Pelm-Secret"))
}

// bearer authenticates the client and returns its id and the request's
// bearer token (not yet checked).
func (a *API) bearer(r *http.Request) (clientID, token string, err error) {
	c, err := a.client(r)
	if err != nil {
		return "", "", err
	}
	if token, err = bearerToken(r); err != nil {
		return "", "", err
	}
	return c.ID, token, nil
}

// user authenticates the client and then its bearer token.
func (a *API) user(r *http.Request) (gridlink.User, error) {
	clientID, token, err := a.bearer(r)
	if err != nil {
		return gridlink.User{}, err
	}
	return a.auth.Authorize(r.Context(), clientID, token)
}

// dataUser is user for data endpoints, narrowed to what serving data
// needs (store.Grant): the first sync must have finished.
func (a *API) dataUser(r *http.Request) (store.Grant, error) {
	clientID, token, err := a.bearer(r)
	if err != nil {
		return store.Grant{}, err
	}
	g, err := a.auth.AuthorizeData(r.Context(), clientID, token)
	if err != nil {
		return g, err
	}
	if !g.DataReady {
		return g, &gridlink.Error{Code: gridlink.DataUnavailable, Message: gridlink.DataUnavailableMessage, RetryAfter: dataUnavailableRetry}
	}
	return g, nil
}

// noStore marks a token-issuing response as not cacheable.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// connectToken serves POST /auth/connect-token (2.1).
func (a *API) connectToken(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	userID := form.Get("user_id")
	if err := checkUserID(userID); err != nil {
		return err
	}
	utilityID, err := a.tokenUtility(form.Get("utility_slug"), form.Get("utility_id"))
	if err != nil {
		return err
	}
	token, err := a.auth.NewConnectToken(c.ID, userID, utilityID)
	if err != nil {
		return fmt.Errorf("create connect token: %w", err)
	}
	noStore(w)
	return writeJSON(w, http.StatusOK, struct {
		ConnectToken string `json:"connect_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}{token, int64(gridlink.ConnectTokenTTL.Seconds())})
}

// tokenUtility resolves the utility named by utility_slug or the deprecated
// utility_id (a numeric id or a slug); 0 when neither is given.
func (a *API) tokenUtility(slug, id string) (int64, error) {
	switch {
	case slug != "" && id != "":
		return 0, gridlink.Errorf(gridlink.ParameterInvalid, "Send utility_slug or utility_id, not both.")
	case slug == "" && id == "":
		return 0, nil
	}
	name, key := "utility_slug", slug
	if key == "" {
		name, key = "utility_id", id
	}
	var u gridlink.Utility
	var ok bool
	if n, err := strconv.ParseInt(key, 10, 64); err == nil {
		u, ok = a.catalog.ByID(n)
	} else {
		if u, ok = a.catalog.BySlug(key); !ok {
			u, ok = a.catalog.BySlug(strings.ToLower(key))
		}
	}
	if !ok {
		return 0, gridlink.Errorf(gridlink.ParameterInvalid, "The %s parameter names no known utility.", name)
	}
	return u.ID, nil
}

// token serves POST /auth/token (2.2). The refresh_token of the answer is
// a legacy field: a fresh random value that is neither stored nor usable.
func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	c, err := a.client(r)
	if err != nil {
		return err
	}
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	code := form.Get("code")
	if code == "" {
		return gridlink.Errorf(gridlink.ParameterMissing, "The code parameter is required.")
	}
	if gt := form.Get("grant_type"); gt != "" && gt != "code" {
		return gridlink.Errorf(gridlink.ParameterInvalid, "The grant_type parameter must be \"code\".")
	}
	access, _, err := a.auth.Exchange(r.Context(), c.ID, code)
	if err != nil {
		return err
	}
	refresh, err := a.auth.NewSecret()
	if err != nil {
		return fmt.Errorf("exchange code: %w", err)
	}
	noStore(w)
	return writeJSON(w, http.StatusOK, struct {
		AccessToken           string `json:"access_token"`
		AccessTokenExpiresIn  int64  `json:"access_token_expires_in"`
		RefreshToken          string `json:"refresh_token"`
		RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	}{access, accessTokenExpiresIn, refresh, refreshTokenExpiresIn})
}

// pathUser checks that the {user_id} of the path is the token's user.
func (a *API) pathUser(r *http.Request) (gridlink.User, error) {
	u, err := a.user(r)
	if err != nil {
		return u, err
	}
	if r.PathValue("user_id") != u.ID {
		return u, gridlink.Errorf(gridlink.PermissionDenied, "The access token does not belong to this user_id.")
	}
	return u, nil
}

// getUser serves GET /users/{user_id} (2.3).
func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.pathUser(r)
	if err != nil {
		return err
	}
	util, ok := a.catalog.ByID(u.UtilityID)
	if !ok {
		a.logger.LogAttrs(r.Context(), slog.LevelWarn, "user's utility is not in the catalogue", slog.Int64("utility_id", u.UtilityID))
	}
	type utilityJSON struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
	}
	return writeJSON(w, http.StatusOK, struct {
		ID               string      `json:"id"`
		Utility          utilityJSON `json:"utility"`
		UtilityUsername  string      `json:"utility_username"`
		CredentialsValid bool        `json:"credentials_valid"`
		Sync             syncJSON    `json:"sync"`
	}{u.ID, utilityJSON{u.UtilityID, util.Name}, u.UtilityUsername, u.CredentialsValid, newSyncJSON(u)})
}

// refresh serves POST /users/{user_id}/refresh (beyond Pelm): it queues a
// sync of the user now, cutting a retry backoff short, and answers 202
// with the user's id and current sync object. Asking again while a sync
// is queued or running changes nothing. A user whose utility login was
// rejected (sync status needs_reauth) is not synced until they go through
// Connect again: the answer is still 202, with that status.
func (a *API) refresh(w http.ResponseWriter, r *http.Request) error {
	u, err := a.pathUser(r)
	if err != nil {
		return err
	}
	if a.sync == nil {
		return gridlink.Errorf(gridlink.FeatureUnavailable, "Refreshing on demand is not available on this server.")
	}
	if u.CredentialsValid {
		if err := a.sync.EnqueueSync(r.Context(), u.RowID); err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
	}
	return writeJSON(w, http.StatusAccepted, struct {
		ID   string   `json:"id"`
		Sync syncJSON `json:"sync"`
	}{u.ID, newSyncJSON(u)})
}

// deleteUser serves DELETE /users/{user_id} (2.4).
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.pathUser(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteUser(r.Context(), u.RowID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete user: %w", err)
	}
	return writeJSON(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}{u.ID, true})
}

// accounts serves GET /accounts (2.5).
func (a *API) accounts(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	if a.cache != nil {
		v, err := a.cache.view(r.Context(), u)
		if err != nil {
			return err
		}
		writeRaw(w, http.StatusOK, v.body)
		return nil
	}
	accts, through, err := a.store.AccountsThrough(r.Context(), u.RowID)
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	body, err := encodeAccounts(&userView{accounts: accts, through: through})
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, body)
	return nil
}

var errAccountNotFound = &gridlink.Error{Code: gridlink.NotFound, Message: "No account with this account_id."}

// account returns one account of the user (404 when it is not theirs).
func (a *API) account(r *http.Request, u store.Grant, id string) (gridlink.Account, error) {
	ac, err := a.store.Account(r.Context(), u.RowID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ac, errAccountNotFound
	}
	if err != nil {
		return ac, fmt.Errorf("get account: %w", err)
	}
	return ac, nil
}

// view returns the user's accounts view, from the data cache when it is
// on.
func (a *API) view(ctx context.Context, u store.Grant) (*userView, error) {
	if a.cache != nil {
		return a.cache.view(ctx, u)
	}
	return loadView(ctx, a.store, u.RowID)
}

// intervals serves GET /intervals and GET /accounts/{account_id}/intervals
// (2.6). The answer is streamed: readings come from the data cache a
// window at a time, or straight from the store.
func (a *API) intervals(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	q, err := parseIntervalsQuery(r.URL.Query(), r.PathValue("account_id"))
	if err != nil {
		return err
	}
	v, err := a.view(r.Context(), u)
	if err != nil {
		return err
	}
	var (
		ac gridlink.Account
		m  gridlink.Meter
		ok bool
	)
	if q.MeterID != "" {
		if m, ok = v.meter(q.MeterID); !ok {
			return gridlink.Errorf(gridlink.NotFound, "No meter with this meter_id.")
		}
		if ac, ok = v.account(m.AccountID); !ok {
			return errAccountNotFound
		}
	} else {
		if ac, ok = v.account(q.AccountID); !ok {
			return errAccountNotFound
		}
		if m, err = pickMeter(ac, q.Type); err != nil {
			return err
		}
	}
	from, to := intervalWindow(q.Dates, a.now())

	util, _ := a.catalog.ByID(u.UtilityID)
	head, err := encodeJSON(newAccountJSON(ac, v.through))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	sw := &startWriter{w: w}
	bw := bufio.NewWriterSize(sw, 32<<10)
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"utility":`...)
	buf = appendString(buf, util.Name)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, string(m.Type))
	buf = append(buf, `,"account":`...)
	buf = append(buf, head...)
	buf = append(buf, `,"intervals":[`...)
	_, _ = bw.Write(buf)
	rw := &readingsWriter{w: bw, first: true}
	err = a.writeReadings(r.Context(), rw, u, v, m.ID, from, to)
	if err == nil {
		_, _ = bw.WriteString("]}\n")
		err = bw.Flush()
	}
	if err != nil {
		if !sw.started {
			// Nothing reached the client yet: answer with a proper error.
			h.Del("Content-Type")
			return fmt.Errorf("stream intervals: %w", err)
		}
		if r.Context().Err() == nil {
			a.logger.LogAttrs(r.Context(), slog.LevelError, "intervals stream failed",
				slog.String("meter_id", m.ID), slog.String("error", err.Error()))
		}
		// Part of the body is out: cut the connection so that the client
		// sees a failed response rather than a truncated one.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// readingsWriter writes the comma-separated readings of the intervals
// array.
type readingsWriter struct {
	w     *bufio.Writer
	first bool
	buf   []byte
}

// write writes b, one or more comma-separated readings.
func (rw *readingsWriter) write(b []byte) error {
	if !rw.first {
		if err := rw.w.WriteByte(','); err != nil {
			return err
		}
	}
	rw.first = false
	_, err := rw.w.Write(b)
	return err
}

// writeReadings writes the meter's readings with start in [from, to).
func (a *API) writeReadings(ctx context.Context, rw *readingsWriter, u store.Grant, v *userView, meterID string, from, to int64) error {
	sp, ok := v.spans[meterID]
	if !ok {
		return nil
	}
	lo, hi := max(from, sp.First), to
	if sp.Last < hi {
		hi = sp.Last + 1 // sp.Last < to <= MaxInt64
	}
	if lo >= hi {
		return nil
	}
	if a.cache == nil {
		return a.streamReadings(ctx, rw, u, meterID, lo, hi)
	}
	logNonFinite := func(n int) { a.nonFinite(ctx, meterID, n) }
	for idx := floorDiv(lo, chunkSpan); idx <= floorDiv(hi-1, chunkSpan); idx++ {
		ch, err := a.cache.chunk(ctx, u, meterID, idx, logNonFinite)
		if err != nil {
			return err
		}
		wlo, whi := max(lo, idx*chunkSpan), min(hi, (idx+1)*chunkSpan)
		if ch.tooBig {
			if err := a.streamReadings(ctx, rw, u, meterID, wlo, whi); err != nil {
				return err
			}
			continue
		}
		if b := ch.span(wlo, whi); b != nil {
			if err := rw.write(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// streamReadings writes the meter's readings with start in [from, to)
// straight from the store.
func (a *API) streamReadings(ctx context.Context, rw *readingsWriter, u store.Grant, meterID string, from, to int64) error {
	nonFinite := 0
	err := a.store.Intervals(ctx, u.RowID, meterID, from, to, func(iv gridlink.Interval) error {
		var ok bool
		if rw.buf, ok = appendInterval(rw.buf[:0], iv); !ok {
			nonFinite++
		}
		return rw.write(rw.buf)
	})
	a.nonFinite(ctx, meterID, nonFinite)
	return err
}

// nonFinite logs readings whose NaN or infinite values were written as 0.
func (a *API) nonFinite(ctx context.Context, meterID string, n int) {
	if n > 0 {
		a.logger.LogAttrs(ctx, slog.LevelWarn, "non-finite interval values written as 0",
			slog.String("meter_id", meterID), slog.Int("count", n))
	}
}

// pickMeter returns the account's meter of type t; with no type, the
// account must have a single meter type.
func pickMeter(ac gridlink.Account, t gridlink.MeterType) (gridlink.Meter, error) {
	if t == "" {
		types := ac.MeterTypes()
		if len(types) != 1 {
			return gridlink.Meter{}, gridlink.Errorf(gridlink.ParameterMissing, "The type parameter (ELECTRIC or GAS) is required for this account.")
		}
		t = types[0]
	}
	for _, m := range ac.Meters {
		if m.Type == t {
			return m, nil
		}
	}
	return gridlink.Meter{}, gridlink.Errorf(gridlink.ParameterInvalid, "The account has no %s meter.", t)
}

// startWriter records whether anything was written to w.
type startWriter struct {
	w       io.Writer
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

// bills serves GET /bills and GET /accounts/{account_id}/bills (2.7).
func (a *API) bills(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	accountID := q.Get("account_id")
	if p := r.PathValue("account_id"); p != "" {
		accountID = p
	}
	d, err := parseDateRange(q)
	if err != nil {
		return err
	}
	var accts []gridlink.Account
	if accountID != "" {
		ac, err := a.account(r, u, accountID)
		if err != nil {
			return err
		}
		accts = []gridlink.Account{ac}
	} else if accts, err = a.store.Accounts(r.Context(), u.RowID); err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	f := store.BillFilter{AccountID: accountID}
	if d.HasStart {
		f.Start = &d.Start
	}
	if d.HasEnd {
		f.End = &d.End
	}
	bs, err := a.store.Bills(r.Context(), u.RowID, f)
	if err != nil {
		return fmt.Errorf("list bills: %w", err)
	}
	groups := make([]billGroupJSON, len(accts))
	index := make(map[string]int, len(accts))
	for i, ac := range accts {
		groups[i] = billGroupJSON{AccountID: ac.ID, Bills: []billJSON{}}
		index[ac.ID] = i
	}
	for _, b := range bs {
		if i, ok := index[b.AccountID]; ok {
			groups[i].Bills = append(groups[i].Bills, newBillJSON(b))
		}
	}
	body := appendBillGroups(make([]byte, 0, 512+400*len(bs)), groups)
	writeRaw(w, http.StatusOK, append(body, '\n'))
	return nil
}

var errBillNotFound = &gridlink.Error{Code: gridlink.NotFound, Message: "No bill with this bill_id."}

// bill serves GET /bills/{bill_id}: the single bill object.
func (a *API) bill(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	b, err := a.store.Bill(r.Context(), u.RowID, r.PathValue("bill_id"))
	if errors.Is(err, store.ErrNotFound) {
		return errBillNotFound
	}
	if err != nil {
		return fmt.Errorf("get bill: %w", err)
	}
	return writeJSON(w, http.StatusOK, newBillJSON(b))
}

// billPDF serves GET /bills/{bill_id}/pdf (2.8).
func (a *API) billPDF(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	id := r.PathValue("bill_id")
	pdf, err := a.store.BillPDF(r.Context(), u.RowID, id)
	if errors.Is(err, store.ErrNotFound) {
		return gridlink.Errorf(gridlink.NotFound, "No statement PDF for this bill_id.")
	}
	if err != nil {
		return fmt.Errorf("get bill pdf: %w", err)
	}
	name := "bill.pdf"
	if safeFileID(id) {
		name = "bill-" + id + ".pdf"
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", `inline; filename="`+name+`"`)
	h.Set("Content-Length", strconv.Itoa(len(pdf)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pdf)
	return nil
}

// safeFileID reports whether id can go into a Content-Disposition filename
// as is.
func safeFileID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.Trim(id, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-_") == ""
}

// maxSearchLen bounds the ?q= of GET /utilities.
const maxSearchLen = 200

// utilities serves GET /utilities (beyond Pelm): the catalogue.
func (a *API) utilities(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxSearchLen {
		return gridlink.Errorf(gridlink.ParameterInvalid, "The q parameter must be at most %d bytes.", maxSearchLen)
	}
	var list []gridlink.Utility
	if q == "" {
		list = a.catalog.All()
	} else {
		list = a.catalog.Search(q)
	}
	type utilityJSON struct {
		ID        int64  `json:"id"`
		Slug      string `json:"slug"`
		Name      string `json:"name"`
		Supported bool   `json:"supported"`
	}
	out := make([]utilityJSON, 0, len(list))
	for _, u := range list {
		out = append(out, utilityJSON{u.ID, u.Slug, u.Name, a.supported(u)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// supported reports whether a connector of the registry reaches u.
func (a *API) supported(u gridlink.Utility) bool {
	if a.connectors == nil {
		return u.Supported()
	}
	_, ok := a.connectors[u.Connector]
	return u.Connector != "" && ok
}
