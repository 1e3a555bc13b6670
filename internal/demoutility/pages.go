package demoutility

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Site) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.home)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("GET /mfa/choose", s.choosePage)
	m.HandleFunc("POST /mfa/choose", s.choose)
	m.HandleFunc("GET /mfa/verify", s.verifyPage)
	m.HandleFunc("POST /mfa/verify", s.verify)
	m.HandleFunc("POST /mfa/other", s.useOtherMethod)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /accounts", s.accounts)
	m.HandleFunc("GET /accounts/{number}/usage", s.usage)
	m.HandleFunc("GET /accounts/{number}/usage/download", s.download)
	m.HandleFunc("GET /accounts/{number}/bills", s.billsPage)
	m.HandleFunc("GET /accounts/{number}/bills/{bill}/statement.pdf", s.statement)
	m.HandleFunc("GET /profile/password", s.passwordPage)
	m.HandleFunc("POST /profile/password", s.changePassword)
	m.HandleFunc("GET /outbox", s.outboxPage)
	m.HandleFunc("GET /admin", s.adminPage)
	m.Handle("POST /admin", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.admin)))
	m.HandleFunc("GET /assets/site.css", s.css)
	m.HandleFunc("/", s.notFound)
	s.mux = m
}

func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusNotFound, "error", view{Title: "Page not found",
		Data: errorView{Heading: "We can't find that page", Text: "The page you asked for does not exist or has moved.", Link: "/accounts"}})
}

// userView is the view of a signed-in page; s.mu must be held.
func (s *Site) userView(ss *session, title, nav string) view {
	u := s.specs[ss.user]
	return view{Title: title, CSRF: ss.csrf, Nav: nav, User: &userInfo{Name: u.name, FullName: u.fullName}}
}

// signedIn returns the signed-in user's spec and page view, or answers
// with a redirect to the sign-in page and returns false.
func (s *Site) signedIn(w http.ResponseWriter, r *http.Request, title, nav string) (userSpec, view, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.signedInLocked(w, r)
	if ss == nil {
		return userSpec{}, view{}, false
	}
	return s.specs[ss.user], s.userView(ss, title, nav), true
}

// account returns the user's account named in the path, or answers 404.
func (s *Site) account(w http.ResponseWriter, r *http.Request, u userSpec) (accountSpec, bool) {
	n := r.PathValue("number")
	for _, a := range u.accounts {
		if a.number == n {
			return a, true
		}
	}
	s.notFound(w, r)
	return accountSpec{}, false
}

type accountRow struct {
	Number, Address, Services, Balance string
	UsageURL, BillsURL                 string
}

func (s *Site) accounts(w http.ResponseWriter, r *http.Request) {
	u, v, ok := s.signedIn(w, r, "Your accounts", "accounts")
	if !ok {
		return
	}
	now := s.now()
	var rows []accountRow
	for _, a := range u.accounts {
		balance := int64(0)
		if bs := s.bills(a, now); len(bs) > 0 && bs[len(bs)-1].paid.IsZero() {
			balance = bs[len(bs)-1].total
		}
		rows = append(rows, accountRow{Number: a.number, Address: a.address, Services: a.services(), Balance: money(balance),
			UsageURL: "/accounts/" + a.number + "/usage", BillsURL: "/accounts/" + a.number + "/bills"})
	}
	v.Data = rows
	s.render(w, r, http.StatusOK, "accounts", v)
}

type meterRow struct{ Number, Service, Reads, Unit string }

type monthRow struct {
	Month              string
	Elec, Gas          string
	ElecKWh, GasTherms int64 // for the <meter> bars
}

type usageView struct {
	Number, Address    string
	BillsURL, Download string
	Meters             []meterRow
	Months             []monthRow
	HasElec, HasGas    bool
	MaxElec, MaxGas    int64
	From, To, Min, Max string
}

const dateLayout = "2006-01-02"

func (s *Site) usage(w http.ResponseWriter, r *http.Request) {
	u, v, ok := s.signedIn(w, r, "Usage", "accounts")
	if !ok {
		return
	}
	a, ok := s.account(w, r, u)
	if !ok {
		return
	}
	start, end := s.history(s.now())
	uv := usageView{Number: a.number, Address: a.address, BillsURL: "/accounts/" + a.number + "/bills",
		Download: "/accounts/" + a.number + "/usage/download",
		HasElec:  a.elecMeter != "", HasGas: a.gasMeter != "",
		From: start.Format(dateLayout), Min: start.Format(dateLayout),
		To: end.AddDate(0, 0, -1).Format(dateLayout), Max: end.AddDate(0, 0, -1).Format(dateLayout)}
	if a.elecMeter != "" {
		uv.Meters = append(uv.Meters, meterRow{a.elecMeter, "Electric", "Hourly", "kWh"})
	}
	if a.gasMeter != "" {
		uv.Meters = append(uv.Meters, meterRow{a.gasMeter, "Gas", "Daily", "therms"})
	}
	for ms := start; ms.Before(end); ms = ms.AddDate(0, 1, 0) {
		me := ms.AddDate(0, 1, 0)
		if me.After(end) {
			me = end
		}
		mr := monthRow{Month: ms.Format("January 2006")}
		if me.Equal(end) && !end.Equal(ms.AddDate(0, 1, 0)) {
			mr.Month += " (so far)"
		}
		if a.elecMeter != "" {
			mr.ElecKWh = sum(s.electric(a, ms, me)) / 1000
			mr.Elec = strconv.FormatInt(mr.ElecKWh, 10) + " kWh"
			uv.MaxElec = max(uv.MaxElec, mr.ElecKWh)
		}
		if a.gasMeter != "" {
			mr.GasTherms = sum(s.gas(a, ms, me)) / 1000
			mr.Gas = strconv.FormatInt(mr.GasTherms, 10) + " therms"
			uv.MaxGas = max(uv.MaxGas, mr.GasTherms)
		}
		uv.Months = append([]monthRow{mr}, uv.Months...) // newest first
	}
	v.Data = uv
	s.render(w, r, http.StatusOK, "usage", v)
}

func sum(rs []reading) int64 {
	var t int64
	for _, r := range rs {
		t += r.milli
	}
	return t
}

// download serves the usage of an account as CSV or Green Button XML for
// an inclusive range of local dates (default: all history).
func (s *Site) download(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.signedIn(w, r, "", "")
	if !ok {
		return
	}
	a, ok := s.account(w, r, u)
	if !ok {
		return
	}
	now := s.now()
	start, end := s.history(now)
	from, to := start, end
	q := r.URL.Query()
	bad := false
	if v := q.Get("from"); v != "" {
		d, err := time.ParseInLocation(dateLayout, v, s.loc)
		bad = bad || err != nil
		from = d
	}
	if v := q.Get("to"); v != "" {
		d, err := time.ParseInLocation(dateLayout, v, s.loc)
		bad = bad || err != nil
		to = d.AddDate(0, 0, 1)
	}
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if bad || !from.Before(to) || (format != "csv" && format != "xml") {
		s.render(w, r, http.StatusBadRequest, "error", view{Title: "Invalid request",
			Data: errorView{Heading: "We could not prepare your download", Text: "Please choose a valid date range and format.", Link: "/accounts/" + a.number + "/usage"}})
		return
	}
	from, to = maxTime(from, start), minTime(to, end)
	var elec, gas []reading
	if a.elecMeter != "" && from.Before(to) {
		elec = s.electric(a, from, to)
	}
	if a.gasMeter != "" && from.Before(to) {
		gas = s.gas(a, from, to)
	}
	name := fmt.Sprintf("DemoPowerLight_usage_%s_%s_%s", a.number, from.Format(dateLayout), to.AddDate(0, 0, -1).Format(dateLayout))
	if format == "xml" {
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.xml"`)
		w.Write(greenButton(a, elec, gas, now))
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	redesign := s.redesignOn.Load()
	cw.WriteAll([][]string{
		{Name + " usage export"},
		{"Name", u.fullName},
		{"Account number", a.number},
		{"Service address", a.address},
		{"Period", from.Format(dateLayout), to.AddDate(0, 0, -1).Format(dateLayout)},
		{""},
		{"METER", "TYPE", "START", "END", "USAGE", "UNITS"},
	})
	write := func(meter, typ, unit string, rs []reading) {
		for _, rd := range rs {
			v := milli(rd.milli)
			if redesign && typ == "Electric" {
				v, unit = strconv.FormatInt(rd.milli, 10), "Wh" // the redesign exports watt-hours
			}
			cw.Write([]string{meter, typ, rd.start.In(s.loc).Format(time.RFC3339), rd.end.In(s.loc).Format(time.RFC3339), v, unit})
		}
	}
	write(a.elecMeter, "Electric", "kWh", elec)
	write(a.gasMeter, "Gas", "therms", gas)
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.Write(buf.Bytes())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type billRow struct {
	Number, Statement, Period                 string
	Elec, Gas, ElecCharges, GasCharges, Taxes string
	Total, Due, Paid, PDF                     string
}

type billsView struct {
	Number, Address, UsageURL string
	Rows                      []billRow
}

func (s *Site) billsPage(w http.ResponseWriter, r *http.Request) {
	u, v, ok := s.signedIn(w, r, "Bills", "accounts")
	if !ok {
		return
	}
	a, ok := s.account(w, r, u)
	if !ok {
		return
	}
	df := "Jan 2, 2006"
	if s.redesignOn.Load() {
		df = dateLayout
	}
	bv := billsView{Number: a.number, Address: a.address, UsageURL: "/accounts/" + a.number + "/usage"}
	for _, b := range s.bills(a, s.now()) {
		row := billRow{
			Number: b.number, Statement: b.statement.Format(df),
			Period: b.start.Format(df) + " – " + b.end.AddDate(0, 0, -1).Format(df),
			Elec:   "—", Gas: "—", ElecCharges: "—", GasCharges: "—",
			Taxes: money(b.other), Total: money(b.total), Due: b.due.Format(df), Paid: "Not yet paid",
			PDF: "/accounts/" + a.number + "/bills/" + b.number + "/statement.pdf",
		}
		if a.elecMeter != "" {
			row.Elec, row.ElecCharges = milli(b.elecMilli)+" kWh", money(b.elec)
		}
		if a.gasMeter != "" {
			row.Gas, row.GasCharges = milli(b.gasMilli)+" therms", money(b.gasCents)
		}
		if !b.paid.IsZero() {
			row.Paid = b.paid.Format(df)
		}
		bv.Rows = append([]billRow{row}, bv.Rows...) // newest first
	}
	v.Data = bv
	s.render(w, r, http.StatusOK, "bills", v)
}

func (s *Site) statement(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.signedIn(w, r, "", "")
	if !ok {
		return
	}
	a, ok := s.account(w, r, u)
	if !ok {
		return
	}
	for _, b := range s.bills(a, s.now()) {
		if b.number == r.PathValue("bill") {
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Disposition", `attachment; filename="DemoPowerLight_statement_`+b.number+`.pdf"`)
			w.Write(statementPDF(u, a, b))
			return
		}
	}
	s.notFound(w, r)
}

type outboxRow struct {
	Message
	ChannelLabel, When, ISO string
}

func (s *Site) outboxPage(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	var rows []outboxRow
	for _, m := range s.Outbox() {
		if user != "" && m.User != user {
			continue
		}
		label := "Text message"
		if m.Channel == MethodEmail {
			label = "E-mail"
		}
		t := m.Time.In(s.loc)
		rows = append(rows, outboxRow{Message: m, ChannelLabel: label, When: t.Format("Jan 2, 3:04:05 PM MST"), ISO: t.Format(time.RFC3339)})
	}
	s.render(w, r, http.StatusOK, "outbox", view{Title: "Message outbox", Nav: "outbox", Data: rows})
}

type adminView struct {
	Switches
	Stats
	FlakyText, WindowSeconds string
}

func (s *Site) adminPage(w http.ResponseWriter, r *http.Request) {
	sw, st := s.Switches(), s.Stats()
	s.render(w, r, http.StatusOK, "admin", view{Title: "Site switches", Nav: "admin", Notice: adminNotice(r.URL.Query().Get("done")),
		Data: adminView{Switches: sw, Stats: st, FlakyText: strconv.FormatFloat(sw.Flaky, 'f', -1, 64),
			WindowSeconds: strconv.Itoa(int(sw.RateLimit.Window / time.Second))}})
}

// admin applies the switches form and the reset buttons. It is guarded
// against cross-site posts.
func (s *Site) admin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "error", view{Title: "Bad request", Data: errorView{Heading: "Bad request", Text: "The form could not be read.", Link: "/admin"}})
		return
	}
	f := r.PostForm
	done := f.Get("action")
	switch done {
	case "save":
		flaky, err1 := strconv.ParseFloat(strings.TrimSpace(f.Get("flaky")), 64)
		reqs, err2 := strconv.Atoi(strings.TrimSpace(f.Get("rate_requests")))
		secs, err3 := strconv.Atoi(strings.TrimSpace(f.Get("rate_window")))
		if err1 != nil || err2 != nil || err3 != nil || reqs < 0 || secs < 0 {
			s.render(w, r, http.StatusBadRequest, "error", view{Title: "Bad request",
				Data: errorView{Heading: "Invalid settings", Text: "Flaky must be a number between 0 and 1; the rate limit, whole numbers.", Link: "/admin"}})
			return
		}
		s.SetFlaky(flaky)
		s.SetRedesign(f.Get("redesign") != "")
		s.SetMaintenance(f.Get("maintenance") != "")
		s.SetRateLimit(RateLimit{Requests: reqs, Window: time.Duration(secs) * time.Second})
	case "expire-sessions":
		s.ExpireSessions()
	case "forget-devices":
		s.ForgetDevices("")
	case "reset-passwords":
		s.ResetPasswords()
	case "clear-outbox":
		s.mu.Lock()
		s.outbox = nil
		s.mu.Unlock()
	default:
		s.notFound(w, r)
		return
	}
	s.log.InfoContext(r.Context(), "demo utility: admin", "action", f.Get("action"))
	http.Redirect(w, r, "/admin?done="+done, http.StatusSeeOther)
}

// adminNotice is the notice shown after an admin action.
func adminNotice(action string) string {
	switch action {
	case "save":
		return "Settings saved."
	case "expire-sessions":
		return "Everyone has been signed out."
	case "forget-devices":
		return "Remembered devices forgotten: the next sign-in asks for a code again."
	case "reset-passwords":
		return "Demo passwords restored."
	case "clear-outbox":
		return "Outbox cleared."
	}
	return ""
}
