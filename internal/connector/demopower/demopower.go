// Package demopower is the connector of "Demo Power & Light", the demo
// utility website of package demoutility, and the worked example of the
// portal toolkit (docs/writing-a-connector.md). It signs in with the
// user's credentials, passes one-time code challenges on to Connect, keeps
// the site's cookies (the "remember this device" one included) as its
// upstream session, and reads accounts, meters, usage (the CSV download)
// and bills with their PDF statements. Everything it scrapes is checked
// first: a page that is not as expected gives KindLayoutChanged, never
// wrong data.
package demopower

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // the site's dates are Mountain Time dates on any host

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/connector/portal"
)

// Key is the connector's suggested registry key.
const Key = "demo-power"

// pdfWindow: on a refresh, statements issued this long before Since are
// not downloaded again (gridlink keeps the ones it has).
const pdfWindow = 62 * 24 * time.Hour

// Config configures the connector.
type Config struct {
	// BaseURL is the site's address, e.g. http://localhost:8090. Required.
	BaseURL string
	// Toolkit is the process's shared portal toolkit (nil: a toolkit of
	// the connector's own, from HTTPClient, Now, Sleep and Logger).
	Toolkit    *portal.Toolkit
	HTTPClient *http.Client
	Now        func() time.Time
	Sleep      func(ctx context.Context, d time.Duration) error
	Logger     *slog.Logger
}

// Connector reaches Demo Power & Light. It is safe for concurrent use.
type Connector struct {
	tk   *portal.Toolkit
	opts portal.Options
	log  *slog.Logger
	loc  *time.Location
}

var (
	_ connector.Connector        = (*Connector)(nil)
	_ connector.MFA              = (*Connector)(nil)
	_ connector.MFAMethodChooser = (*Connector)(nil)
)

// New returns the connector.
func New(cfg Config) (*Connector, error) {
	c := &Connector{tk: cfg.Toolkit, log: cfg.Logger}
	if c.tk == nil {
		c.tk = portal.New(portal.Config{HTTPClient: cfg.HTTPClient, Now: cfg.Now, Sleep: cfg.Sleep, Logger: cfg.Logger})
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.opts = portal.Options{
		BaseURL: cfg.BaseURL,
		Rules:   []portal.Rule{{Kind: connector.KindUnavailable, Selector: "#maintenance"}},
		Login: &portal.LoginFlow{
			Path: "/login", Form: "form#login-form", UserField: "username", PasswordField: "password",
			SignedIn: "table#accounts",
			Rules: []portal.Rule{
				{Kind: connector.KindBadCredentials, Selector: ".alert-error", Text: "username or password",
					Message: "Demo Power & Light did not accept this username and password."},
				{Kind: connector.KindMFAFailed, Selector: ".alert-error", Text: "code is incorrect"},
				{Kind: connector.KindMFAFailed, Selector: ".alert-error", Text: "code has expired",
					Message: "That code has expired. Demo Power & Light sent a new one: please enter it."},
				{Kind: connector.KindMFAFailed, Selector: ".alert-info", Text: "too many incorrect codes", Message: portal.MsgStepExpired},
			},
			ChooseForm: "form#mfa-choose", MethodField: "method",
			ChoosePrompt: "How should Demo Power & Light send your verification code?",
			CodeForm:     "form#mfa-verify", CodeField: "code", Prompt: ".mfa-prompt",
			CodeExtra: []portal.Field{{Name: "remember_device", Value: "1"}}, // later sign-ins need no code
		},
	}
	err := c.opts.Validate()
	if err == nil {
		c.loc, err = time.LoadLocation("America/Denver")
	}
	if err != nil {
		return nil, fmt.Errorf("demopower: %w", err)
	}
	return c, nil
}

// Login signs in; the site may answer with a one-time code challenge.
func (c *Connector) Login(ctx context.Context, cr connector.Credentials) (connector.Login, error) {
	return c.tk.Login(ctx, c.opts, cr)
}

// ChooseMFAMethod asks the site to send the code by text or e-mail.
func (c *Connector) ChooseMFAMethod(ctx context.Context, cr connector.Credentials, state []byte, method string) (connector.Challenge, error) {
	return c.tk.ChooseMFAMethod(ctx, c.opts, cr, state, method)
}

// SubmitMFA answers the code challenge in the same upstream session.
func (c *Connector) SubmitMFA(ctx context.Context, cr connector.Credentials, state []byte, code string) (connector.Login, error) {
	return c.tk.SubmitMFA(ctx, c.opts, cr, state, code)
}

// Fetch reads every account of the login, signing in again (without a
// code, thanks to the remembered device) when the site's session is over.
func (c *Connector) Fetch(ctx context.Context, req connector.FetchRequest) (*connector.Data, error) {
	s, p, err := c.tk.Resume(ctx, c.opts, req.Credentials, req.Session, "/accounts")
	if err != nil {
		return nil, err
	}
	tbl, err := p.Table("table#accounts", "Account number", "Service address")
	if err == nil && len(tbl.Rows) == 0 {
		err = portal.LayoutChanged("no accounts listed")
	}
	if err != nil {
		return nil, err
	}
	data := &connector.Data{}
	for _, row := range tbl.Rows {
		a, err := c.account(ctx, s, row, req.Since)
		if err != nil {
			return nil, err
		}
		data.Accounts = append(data.Accounts, a)
	}
	if data.Session, err = s.SaveLogin(req.Credentials.Username); err != nil {
		return nil, err
	}
	c.log.InfoContext(ctx, "demo-power: fetched", "accounts", len(data.Accounts))
	return data, nil
}

// account reads the account of a row of the accounts table: its usage
// page (meters, usage download) and its bills page.
func (c *Connector) account(ctx context.Context, s *portal.Session, row portal.Row, since time.Time) (connector.Account, error) {
	number := row.Text("Account number")
	a := connector.Account{Account: gridlink.Account{ExternalID: number, Number: number, Address: row.Text("Service address")}}
	if number == "" || strings.Trim(number, "0123456789") != "" {
		return a, portal.LayoutChanged("account number %q", number)
	}
	link, err := row.Link("Account number")
	if err != nil {
		return a, err
	}
	p, err := s.Get(ctx, link)
	if err != nil {
		return a, err
	}
	units, err := meters(p, &a)
	if err != nil {
		return a, err
	}
	// The download form asks for all history by default; a refresh, less.
	f, err := p.Form("form#download")
	if err != nil {
		return a, err
	}
	from := f.Get("from")
	if !since.IsZero() {
		from = since.In(c.loc).Format("2006-01-02")
	}
	if err := f.Fill(portal.Field{Name: "from", Value: from}, portal.Field{Name: "format", Value: "csv"}); err != nil {
		return a, err
	}
	file, err := s.DownloadForm(ctx, f, portal.CSV)
	if err != nil {
		return a, err
	}
	if a.Intervals, err = parseUsage(file.Data, units); err != nil {
		return a, err
	}
	if p, err = s.Follow(ctx, p, "a#tab-bills"); err != nil {
		return a, err
	}
	a.Bills, err = c.bills(ctx, s, p, since)
	return a, err
}

// meters reads the meters table of a usage page into a and returns each
// meter's unit.
func meters(p *portal.Page, a *connector.Account) (map[string]string, error) {
	t, err := p.Table("table#meters", "Meter number", "Service", "Unit")
	if err != nil {
		return nil, err
	}
	units := map[string]string{}
	for _, r := range t.Rows {
		m := gridlink.Meter{ExternalID: r.Text("Meter number")}
		switch svc := r.Text("Service"); {
		case svc == "Electric" && r.Text("Unit") == "kWh":
			m.Type = gridlink.Electric
		case svc == "Gas" && r.Text("Unit") == "therms":
			m.Type = gridlink.Gas
		default:
			return nil, portal.LayoutChanged("meter %q: service %q in %q", m.ExternalID, svc, r.Text("Unit"))
		}
		if m.ExternalID == "" || units[m.ExternalID] != "" {
			return nil, portal.LayoutChanged("meter number %q missing or repeated", m.ExternalID)
		}
		a.Meters, units[m.ExternalID] = append(a.Meters, m), r.Text("Unit")
	}
	return units, nil
}

// parseUsage reads the usage CSV: rows of known meters in their own unit,
// each meter's readings in order and not overlapping.
func parseUsage(data []byte, units map[string]string) (map[string][]gridlink.Interval, error) {
	t, err := portal.ParseCSV(data, "METER", "START", "END", "USAGE", "UNITS")
	if err != nil {
		return nil, err
	}
	out := map[string][]gridlink.Interval{}
	for _, r := range t.Rows {
		var sc portal.Scan
		m, prev := r.Get("METER"), out[r.Get("METER")]
		start, end := sc.Time(r.Get("START"), time.RFC3339), sc.Time(r.Get("END"), time.RFC3339)
		iv := gridlink.Interval{Start: start.Unix(), End: end.Unix(), Usage: sc.Number(r.Get("USAGE"))}
		sc.Check(units[m] != "" && r.Get("UNITS") == units[m], "usage line %d: meter %q in %q", r.Line, m, r.Get("UNITS"))
		sc.Check(iv.End > iv.Start && iv.Usage >= 0 && (len(prev) == 0 || iv.Start >= prev[len(prev)-1].End),
			"usage line %d is not a reading in order", r.Line)
		if err := sc.Err(); err != nil {
			return nil, err
		}
		out[m] = append(prev, iv)
	}
	return out, nil
}

// bills reads the bills table and downloads the statements.
func (c *Connector) bills(ctx context.Context, s *portal.Session, p *portal.Page, since time.Time) ([]connector.Bill, error) {
	t, err := p.Table("table#bills", "Bill number", "Statement date", "Service period", "Electric usage", "Gas usage",
		"Electric charges", "Gas charges", "Taxes & fees", "Amount due", "Due date", "Paid on", "Statement")
	if err != nil {
		return nil, err
	}
	var out []connector.Bill
	for _, r := range t.Rows {
		b, err := c.parseBill(r)
		if err != nil {
			return nil, err
		}
		if since.IsZero() || *b.StatementDate >= since.Add(-pdfWindow).Unix() {
			link, err := r.Link("Statement")
			if err != nil {
				return nil, err
			}
			f, err := s.Download(ctx, link, portal.PDF)
			if err != nil {
				return nil, err
			}
			b.PDF = f.Data
		}
		out = append(out, b)
	}
	return out, nil
}

// parseBill reads one row of the bills table and checks that its charges
// add up to the amount due.
func (c *Connector) parseBill(r portal.Row) (connector.Bill, error) {
	sc := portal.Scan{Loc: c.loc, DateLayouts: []string{"Jan 2, 2006"}, Blank: []string{"—"}}
	from, to, ok := strings.Cut(r.Text("Service period"), " – ")
	b := connector.Bill{Bill: gridlink.Bill{
		ExternalID: r.Text("Bill number"), StatementDate: sc.Date(r.Text("Statement date")),
		StartDate: sc.Date(from), EndDate: sc.Date(to), DueDate: sc.Date(r.Text("Due date")),
		ElectricKWh: sc.Quantity(r.Text("Electric usage"), "kWh"), GasTherm: sc.Quantity(r.Text("Gas usage"), "therms"),
		ElectricCharge: sc.Money(r.Text("Electric charges")), GasCharge: sc.Money(r.Text("Gas charges")),
		OtherCharge: sc.Money(r.Text("Taxes & fees")), TotalAmountDue: sc.Money(r.Text("Amount due")),
		HasPDF: true,
	}}
	if paid := r.Text("Paid on"); paid != "Not yet paid" {
		b.PaymentDate = sc.Date(paid)
	}
	sc.Check(ok && b.ExternalID != "" && b.StatementDate != nil && b.StartDate != nil && b.EndDate != nil &&
		b.OtherCharge != nil && b.TotalAmountDue != nil, "bill %q: a required cell is empty", b.ExternalID)
	if err := sc.Err(); err != nil {
		return b, err
	}
	*b.EndDate = time.Unix(*b.EndDate, 0).In(c.loc).AddDate(0, 0, 1).Unix() // the period's last day is included
	b.TotalCharges = b.TotalAmountDue
	sum := *b.OtherCharge
	for _, v := range []*float64{b.ElectricCharge, b.GasCharge} {
		if v != nil {
			sum += *v
		}
	}
	if math.Abs(sum-*b.TotalAmountDue) > 0.005 || *b.EndDate <= *b.StartDate {
		return b, portal.LayoutChanged("bill %q: the charges do not add up to the amount due", b.ExternalID)
	}
	return b, nil
}
