package demo

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// choice is a connect-token variant the home page offers.
type choice struct{ Slug, Name string }

func utilityChoices() []choice {
	return []choice{
		{"", "Any utility (selection screen)"},
		{"pge", "Pacific Gas and Electric (user@pelm.com / password)"},
		{"sandbox", "gridlink Sandbox (scenario logins)"},
	}
}

// home answers GET /demo: the app's page with a fresh connect token.
func (d *Demo) home(w http.ResponseWriter, r *http.Request) error {
	s, err := d.session(w, r, true)
	if err != nil {
		return err
	}
	slug := r.URL.Query().Get("utility")
	known := false
	for _, c := range utilityChoices() {
		known = known || c.Slug == slug
	}
	if !known {
		slug = ""
	}
	form := url.Values{"user_id": {s.userID}}
	if slug != "" {
		form.Set("utility_slug", slug)
	}
	var tok struct {
		ConnectToken string `json:"connect_token"`
	}
	c, err := d.api(r.Context(), http.MethodPost, "/auth/connect-token", form, "", &tok)
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		return err
	}
	d.mu.Lock()
	connected := s.accessToken != ""
	d.mu.Unlock()
	d.render(w, http.StatusOK, "home", map[string]any{
		"Title":     "Acme Energy (demo app)",
		"UserID":    s.userID,
		"Token":     tok.ConnectToken,
		"TokenErr":  ae,
		"Utility":   slug,
		"Utilities": utilityChoices(),
		"Connected": connected,
		"Calls":     []*call{c},
	})
	return nil
}

// exchange answers POST /demo/exchange: the page's onSuccess posts the
// code; the backend exchanges it for the user's access token.
func (d *Demo) exchange(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s, err := d.session(w, r, false)
	if err != nil {
		return err
	}
	if s == nil {
		return &pageError{http.StatusBadRequest, "This browser has no demo session any more. Go back to /demo and connect again."}
	}
	code := r.PostFormValue("code")
	if code == "" {
		return &pageError{http.StatusBadRequest, "No authorization code was posted."}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c, err := d.api(r.Context(), http.MethodPost, "/auth/token", url.Values{"code": {code}}, "", &tok)
	d.mu.Lock()
	s.exchange = c
	if err == nil {
		s.accessToken, s.connectedAt = tok.AccessToken, d.now()
	}
	d.mu.Unlock()
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			d.render(w, http.StatusBadGateway, "error", map[string]any{
				"Title": "Code exchange failed", "Message": "POST /auth/token answered " + ae.Error(), "Calls": []*call{c},
			})
			return nil
		}
		return err
	}
	d.log.InfoContext(r.Context(), "demo: code exchanged", "user_id", s.userID)
	http.Redirect(w, r, "/demo/dashboard", http.StatusSeeOther)
	return nil
}

// reset answers POST /demo/reset: this browser starts over with a new user.
func (d *Demo) reset(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(cookieName); err == nil {
		d.mu.Lock()
		delete(d.sessions, c.Value)
		d.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/demo", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/demo", http.StatusSeeOther)
	return nil
}

// connected returns the session's user and access token, or false.
func (d *Demo) connected(w http.ResponseWriter, r *http.Request) (s *session, userID, token string, exchange *call, since time.Time, ok bool, err error) {
	s, err = d.session(w, r, false)
	if err != nil || s == nil {
		return nil, "", "", nil, time.Time{}, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return s, s.userID, s.accessToken, s.exchange, s.connectedAt, s.accessToken != "", nil
}

// Wire shapes of the API answers the dashboard reads.
type (
	userJSON struct {
		ID      string `json:"id"`
		Utility struct {
			ID       int64  `json:"id"`
			FullName string `json:"full_name"`
		} `json:"utility"`
		UtilityUsername  string `json:"utility_username"`
		CredentialsValid bool   `json:"credentials_valid"`
	}
	accountJSON struct {
		ID            string `json:"id"`
		AccountNumber string `json:"account_number"`
		Address       string `json:"address"`
		UsageUnit     string `json:"usage_unit"`
		GasUsageUnit  string `json:"gas_usage_unit"`
		Meters        []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"meters"`
	}
	intervalsJSON struct {
		Intervals []interval `json:"intervals"`
	}
	billJSON struct {
		ID            string   `json:"id"`
		AccountID     string   `json:"account_id"`
		StartDate     *int64   `json:"start_date"`
		EndDate       *int64   `json:"end_date"`
		StatementDate *int64   `json:"statement_date"`
		TotalCharges  *float64 `json:"total_charges"`
		TotalDue      *float64 `json:"total_amount_due"`
		ElectricKWh   *float64 `json:"electric_usage_kwh"`
		GasTherm      *float64 `json:"gas_usage_therm"`
	}
)

// Dashboard view models.
type (
	accountView struct {
		ID, Number, Address string
		Meters              []meterView
	}
	meterView struct {
		ID, Type, Unit string
		Chart          template.HTML
		Total          string
		Note           string
		Error          string
	}
	billView struct {
		ID, Account, Period, Statement, Amount, Usage string
	}
)

// Range limits of the chart: hourly bars over at most a month, daily bars
// over at most a year.
const (
	maxHourlyDays = 31
	maxDailyDays  = 366
	pollEvery     = 2 * time.Second
	pollFor       = 10 * time.Minute
)

// chartRange reads ?view=&from=&to= (dates in UTC) with defaults and limits.
func (d *Demo) chartRange(q url.Values) (view string, from, to time.Time, note string) {
	view = q.Get("view")
	if view != "hourly" {
		view = "daily"
	}
	now := d.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	to, err := time.Parse(time.DateOnly, q.Get("to"))
	if err != nil {
		to = today
	}
	span, limit := 29, maxDailyDays
	if view == "hourly" {
		span, limit = 6, maxHourlyDays
	}
	from, err = time.Parse(time.DateOnly, q.Get("from"))
	if err != nil {
		from = to.AddDate(0, 0, -span)
	}
	if from.After(to) {
		from, to = to, from
	}
	if days := int(to.Sub(from).Hours()/24) + 1; days > limit {
		from = to.AddDate(0, 0, -(limit - 1))
		note = fmt.Sprintf("The %s view shows at most %d days: the range starts on %s.", view, limit, from.Format(time.DateOnly))
	}
	return view, from, to, note
}

// dashboard answers GET /demo/dashboard.
func (d *Demo) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	_, userID, token, exchange, since, ok, err := d.connected(w, r)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, "/demo", http.StatusSeeOther)
		return nil
	}
	q := r.URL.Query()
	view, from, to, rangeNote := d.chartRange(q)
	var calls []*call
	if exchange != nil {
		calls = append(calls, exchange)
	}
	data := map[string]any{
		"Title": "Acme Energy (demo app): your energy data", "UserID": userID,
		"View": view, "From": from.Format(time.DateOnly), "To": to.Format(time.DateOnly), "RangeNote": rangeNote,
		"Setup": "export PELM_SECRET=" + shellQuote(d.clientSecret) + "\nexport ACCESS_TOKEN=" + shellQuote(token),
	}

	var user userJSON
	c, err := d.api(ctx, http.MethodGet, "/users/"+url.PathEscape(userID), nil, token, &user)
	if c != nil {
		calls = append(calls, c)
	}
	if err != nil && !isAPIError(err) {
		return err
	}
	data["User"] = user

	var accounts []accountJSON
	c, err = d.api(ctx, http.MethodGet, "/accounts", nil, token, &accounts)
	if c != nil {
		calls = append(calls, c)
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "data_unavailable" {
		return d.loading(w, r, q, since, calls, data)
	}
	if err != nil && !isAPIError(err) {
		return err
	}
	if ae != nil {
		data["Alert"] = "GET /accounts answered " + ae.Error()
	}

	start, end := strconv.FormatInt(from.Unix(), 10), strconv.FormatInt(to.AddDate(0, 0, 1).Unix(), 10)
	var views []accountView
	for _, a := range accounts {
		av := accountView{ID: a.ID, Number: a.AccountNumber, Address: a.Address}
		for _, m := range a.Meters {
			mv := meterView{ID: m.ID, Type: m.Type, Unit: a.UsageUnit}
			if m.Type == "GAS" && a.GasUsageUnit != "" {
				mv.Unit = a.GasUsageUnit
			}
			var iv intervalsJSON
			path := "/intervals?" + url.Values{"meter_id": {m.ID}, "start_date": {start}, "end_date": {end}}.Encode()
			c, err := d.api(ctx, http.MethodGet, path, nil, token, &iv)
			if c != nil {
				calls = append(calls, c)
			}
			switch {
			case err != nil && !isAPIError(err):
				return err
			case err != nil:
				mv.Error = "GET /intervals answered " + err.Error()
			default:
				ch := drawChart(iv.Intervals, view, from, to.AddDate(0, 0, 1), m.Type+" usage of account "+a.AccountNumber, mv.Unit)
				mv.Chart, mv.Total, mv.Note = ch.SVG, ch.Total, ch.Note
			}
			av.Meters = append(av.Meters, mv)
		}
		views = append(views, av)
	}
	data["Accounts"] = views

	var groups []struct {
		AccountID string     `json:"account_id"`
		Bills     []billJSON `json:"bills"`
	}
	c, err = d.api(ctx, http.MethodGet, "/bills", nil, token, &groups)
	if c != nil {
		calls = append(calls, c)
	}
	if err != nil && !isAPIError(err) {
		return err
	}
	if err != nil {
		data["BillsError"] = "GET /bills answered " + err.Error()
	}
	numbers := map[string]string{}
	for _, a := range accounts {
		numbers[a.ID] = a.AccountNumber
	}
	var bills []billView
	for _, g := range groups {
		for _, b := range g.Bills {
			bills = append(bills, billView{
				ID: b.ID, Account: numbers[b.AccountID],
				Period:    dateOf(b.StartDate) + " to " + dateOf(b.EndDate),
				Statement: dateOf(b.StatementDate),
				Amount:    money(b.TotalCharges, b.TotalDue),
				Usage:     usage(b.ElectricKWh, b.GasTherm),
			})
		}
	}
	data["Bills"] = bills
	data["Calls"] = calls
	d.render(w, http.StatusOK, "dashboard", data)
	return nil
}

// loading is the dashboard while the first sync runs: data calls answer
// data_unavailable, and the page polls by reloading itself.
func (d *Demo) loading(w http.ResponseWriter, r *http.Request, q url.Values, since time.Time, calls []*call, data map[string]any) error {
	poll, _ := strconv.Atoi(q.Get("poll"))
	poll = max(poll, 0) + 1
	elapsed := d.now().Sub(since).Truncate(time.Second)
	next := url.Values{"poll": {strconv.Itoa(poll)}}
	for _, k := range []string{"view", "from", "to"} {
		if v := q.Get(k); v != "" {
			next.Set(k, v)
		}
	}
	data["Title"] = "Acme Energy (demo app): loading your data"
	data["Poll"] = poll
	data["Elapsed"] = elapsed.String()
	data["Calls"] = calls
	if elapsed < pollFor {
		data["Refresh"] = fmt.Sprintf("%d; url=/demo/dashboard?%s", int(pollEvery/time.Second), next.Encode())
	}
	d.render(w, http.StatusOK, "loading", data)
	return nil
}

// billPDF answers GET /demo/bills/{id}/pdf: the browser cannot send the
// client headers and the bearer token, so the backend fetches the PDF.
func (d *Demo) billPDF(w http.ResponseWriter, r *http.Request) error {
	_, _, token, _, _, ok, err := d.connected(w, r)
	if err != nil {
		return err
	}
	if !ok {
		return &pageError{http.StatusNotFound, "Connect a user first."}
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 100 || strings.Trim(id, "0123456789abcdefABCDEF-") != "" {
		return &pageError{http.StatusNotFound, "No such bill."}
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, d.base+"/bills/"+id+"/pdf", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Pelm-Client-Id", d.clientID)
	req.Header.Set("Pelm-Secret", d.clientSecret)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET /bills/%s/pdf: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &pageError{http.StatusBadGateway, fmt.Sprintf("GET /bills/%s/pdf answered %d: %s", id, resp.StatusCode, b)}
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="bill-`+id+`.pdf"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, err = io.Copy(w, resp.Body)
	return err
}

func isAPIError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae)
}

func dateOf(t *int64) string {
	if t == nil {
		return "?"
	}
	return time.Unix(*t, 0).UTC().Format(time.DateOnly)
}

func money(vals ...*float64) string {
	for _, v := range vals {
		if v != nil {
			return fmt.Sprintf("$%.2f", *v)
		}
	}
	return ""
}

func usage(kwh, therm *float64) string {
	var parts []string
	if kwh != nil {
		parts = append(parts, fmt.Sprintf("%.0f kWh", *kwh))
	}
	if therm != nil {
		parts = append(parts, fmt.Sprintf("%.0f therm", *therm))
	}
	return strings.Join(parts, ", ")
}
