package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// Rows per interval upsert statement (dialect.intervalChunk).
const (
	// intervalChunk is the number of rows per multi-row INSERT: 5
	// parameters a row keeps a full chunk far below the parameter limits of
	// SQLite (32766) and PostgreSQL (65535).
	intervalChunk = 500
	// intervalArrayChunk is the number of rows per array statement: a year
	// of 15-minute readings goes in one, and no statement of a larger batch
	// runs long enough to near the statement timeout.
	intervalArrayChunk = 40_000
)

// UpsertAccount stores the account and its meters, keyed by the user and
// ExternalID (meters by account and ExternalID), and returns the stored
// account with all its meters.
func (s *Store) UpsertAccount(ctx context.Context, userRowID string, a gridlink.Account) (gridlink.Account, error) {
	if a.ID == "" || a.ExternalID == "" {
		return gridlink.Account{}, errors.New("sqlstore: upsert account: ID and ExternalID must be set")
	}
	for _, m := range a.Meters {
		if m.ID == "" || m.ExternalID == "" {
			return gridlink.Account{}, errors.New("sqlstore: upsert account: meter ID and ExternalID must be set")
		}
	}
	var out gridlink.Account
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Rows are written only when something differs, so that a sync
		// that finds the same account keeps the user's data version.
		var accountPK int64
		changed := true
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO accounts (user_row_id, id, external_id, number, address)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_row_id, external_id) DO UPDATE SET number = excluded.number, address = excluded.address
			WHERE accounts.number <> excluded.number OR accounts.address <> excluded.address
			RETURNING pk`), userRowID, a.ID, a.ExternalID, a.Number, a.Address).Scan(&accountPK)
		if errors.Is(err, sql.ErrNoRows) { // stored already, unchanged
			changed = false
			err = tx.QueryRowContext(ctx, s.q(`SELECT pk FROM accounts WHERE user_row_id = ? AND external_id = ?`),
				userRowID, a.ExternalID).Scan(&accountPK)
		}
		if err != nil {
			return err
		}
		for _, m := range a.Meters {
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO meters (account_pk, user_row_id, id, external_id, type)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (account_pk, external_id) DO UPDATE SET type = excluded.type
				WHERE meters.type <> excluded.type`),
				accountPK, userRowID, m.ID, m.ExternalID, string(m.Type))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n > 0 {
				changed = true
			}
		}
		if changed {
			if err := s.bumpDataVersion(ctx, tx, userRowID); err != nil {
				return err
			}
		}
		accs, err := s.accounts(ctx, tx, userRowID, &accountPK, nil)
		if err != nil {
			return err
		}
		if len(accs) != 1 {
			return store.ErrNotFound
		}
		out = accs[0]
		return nil
	})
	if err != nil {
		return gridlink.Account{}, s.wrap("upsert account", err)
	}
	return out, nil
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// accounts returns the user's accounts (or only the one with primary key
// onlyPK) with their meters, in creation order. With a non-nil through, it
// also records there, per account id, the end of the account's newest
// reading (DataThrough), found in the same query by an index seek per
// meter.
func (s *Store) accounts(ctx context.Context, q rowsQuerier, userRowID string, onlyPK *int64, through map[string]int64) ([]gridlink.Account, error) {
	query := `SELECT a.pk, a.id, a.external_id, a.number, a.address, m.id, m.external_id, m.type`
	if through != nil {
		query += `, (SELECT i.period_end FROM intervals i WHERE i.meter_pk = m.pk
			ORDER BY i.period_start DESC LIMIT 1)`
	}
	query += ` FROM accounts a LEFT JOIN meters m ON m.account_pk = a.pk
		WHERE a.user_row_id = ?`
	args := []any{userRowID}
	if onlyPK != nil {
		query += ` AND a.pk = ?`
		args = append(args, *onlyPK)
	}
	query += ` ORDER BY a.pk, m.pk`
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out    []gridlink.Account
		lastPK int64 = -1
	)
	for rows.Next() {
		var (
			pk               int64
			a                gridlink.Account
			mID, mExt, mType sql.NullString
			end              sql.NullInt64
		)
		dest := []any{&pk, &a.ID, &a.ExternalID, &a.Number, &a.Address, &mID, &mExt, &mType}
		if through != nil {
			dest = append(dest, &end)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if pk != lastPK {
			out = append(out, a)
			lastPK = pk
		}
		cur := &out[len(out)-1]
		if mID.Valid {
			cur.Meters = append(cur.Meters, gridlink.Meter{
				ID: mID.String, AccountID: cur.ID, ExternalID: mExt.String, Type: gridlink.MeterType(mType.String),
			})
		}
		if end.Valid {
			if prev, ok := through[cur.ID]; !ok || end.Int64 > prev {
				through[cur.ID] = end.Int64
			}
		}
	}
	return out, rows.Err()
}

// Accounts returns the user's accounts with their meters, in creation order.
func (s *Store) Accounts(ctx context.Context, userRowID string) ([]gridlink.Account, error) {
	accs, err := s.accounts(ctx, s.rd(), userRowID, nil, nil)
	return accs, s.wrap("list accounts", err)
}

// AccountsThrough returns Accounts and DataThrough from one query.
func (s *Store) AccountsThrough(ctx context.Context, userRowID string) ([]gridlink.Account, map[string]int64, error) {
	through := map[string]int64{}
	accs, err := s.accounts(ctx, s.rd(), userRowID, nil, through)
	if err != nil {
		return nil, nil, s.wrap("list accounts", err)
	}
	return accs, through, nil
}

// Account returns one of the user's accounts with its meters.
func (s *Store) Account(ctx context.Context, userRowID, accountID string) (gridlink.Account, error) {
	var pk int64
	err := s.rd().QueryRowContext(ctx, s.q(`SELECT pk FROM accounts WHERE user_row_id = ? AND id = ?`), userRowID, accountID).Scan(&pk)
	if err != nil {
		return gridlink.Account{}, s.wrap("get account", err)
	}
	accs, err := s.accounts(ctx, s.rd(), userRowID, &pk, nil)
	if err == nil && len(accs) != 1 {
		err = store.ErrNotFound // deleted between the two queries
	}
	if err != nil {
		return gridlink.Account{}, s.wrap("get account", err)
	}
	return accs[0], nil
}

// Meter returns one of the user's meters.
func (s *Store) Meter(ctx context.Context, userRowID, meterID string) (gridlink.Meter, error) {
	var (
		m     gridlink.Meter
		mType string
	)
	err := s.rd().QueryRowContext(ctx, s.q(`SELECT m.id, a.id, m.external_id, m.type
		FROM meters m JOIN accounts a ON a.pk = m.account_pk
		WHERE m.user_row_id = ? AND m.id = ?`), userRowID, meterID).Scan(&m.ID, &m.AccountID, &m.ExternalID, &mType)
	if err != nil {
		return gridlink.Meter{}, s.wrap("get meter", err)
	}
	m.Type = gridlink.MeterType(mType)
	return m, nil
}

func (s *Store) meterPK(ctx context.Context, q querier, userRowID, meterID string) (int64, error) {
	var pk int64
	err := q.QueryRowContext(ctx, s.q(`SELECT pk FROM meters WHERE user_row_id = ? AND id = ?`), userRowID, meterID).Scan(&pk)
	return pk, err
}

// dedupeIntervals returns ivs with one reading per Start, the last given
// winning, so that no single INSERT names a key twice (PostgreSQL refuses
// that). Input already strictly ascending by Start is returned as is.
func dedupeIntervals(ivs []gridlink.Interval) []gridlink.Interval {
	ascending := true
	for i := 1; i < len(ivs); i++ {
		if ivs[i].Start <= ivs[i-1].Start {
			ascending = false
			break
		}
	}
	if ascending {
		return ivs
	}
	out := slices.Clone(ivs)
	slices.SortStableFunc(out, func(a, b gridlink.Interval) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	// Keep the last of each run of equal starts.
	n := 0
	for i := range out {
		if i+1 < len(out) && out[i+1].Start == out[i].Start {
			continue
		}
		out[n] = out[i]
		n++
	}
	return out[:n]
}

func intervalInsert(rows int) string {
	var b strings.Builder
	b.Grow(100 + rows*12 + 120)
	b.WriteString(`INSERT INTO intervals (meter_pk, period_start, period_end, usage, ghg) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?,?,?,?,?)`)
	}
	b.WriteString(intervalOnConflict)
	return b.String()
}

// intervalOnConflict ends every interval upsert: a reading for an existing
// start replaces the old one, and one sent again unchanged (most of what a
// re-sync sends) writes nothing, sparing the row version, its index entry
// and the WAL.
const intervalOnConflict = ` ON CONFLICT (meter_pk, period_start) DO UPDATE SET
	period_end = excluded.period_end, usage = excluded.usage, ghg = excluded.ghg
	WHERE intervals.period_end <> excluded.period_end OR intervals.usage <> excluded.usage
		OR intervals.ghg <> excluded.ghg`

// UpsertIntervals stores readings keyed by (meter, Start) in one
// transaction, in statements of up to s.d.intervalChunk rows: multi-row
// VALUES on SQLite, arrays on PostgreSQL.
func (s *Store) UpsertIntervals(ctx context.Context, userRowID, meterID string, ivs []gridlink.Interval) error {
	ivs = dedupeIntervals(ivs)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		pk, err := s.meterPK(ctx, tx, userRowID, meterID)
		if err != nil {
			return err
		}
		if len(ivs) == 0 {
			return nil
		}
		var changed int64
		if s.d.intervalArrays {
			changed, err = s.upsertIntervalArrays(ctx, tx, pk, ivs)
		} else {
			changed, err = s.upsertIntervalRows(ctx, tx, pk, ivs)
		}
		if err != nil || changed == 0 {
			return err
		}
		return s.bumpDataVersion(ctx, tx, userRowID)
	})
	return s.wrap("upsert intervals", err)
}

// upsertIntervalRows stores ivs (one reading per start) in multi-row
// INSERTs of up to s.d.intervalChunk rows (SQLite) and returns how many
// rows were inserted or changed.
func (s *Store) upsertIntervalRows(ctx context.Context, tx *sql.Tx, pk int64, ivs []gridlink.Interval) (int64, error) {
	var changed int64
	var (
		stmt     *sql.Stmt
		stmtRows int
		err      error
		args     = make([]any, 0, 5*min(len(ivs), s.d.intervalChunk))
	)
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	for len(ivs) > 0 {
		n := min(len(ivs), s.d.intervalChunk)
		if n != stmtRows {
			if stmt != nil {
				stmt.Close()
			}
			if stmt, err = tx.PrepareContext(ctx, s.q(intervalInsert(n))); err != nil {
				return 0, err
			}
			stmtRows = n
		}
		args = args[:0]
		for _, iv := range ivs[:n] {
			args = append(args, pk, iv.Start, iv.End, iv.Usage, iv.GHG)
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return 0, err
		}
		if changed, err = addAffected(changed, res); err != nil {
			return 0, err
		}
		ivs = ivs[n:]
	}
	return changed, nil
}

// addAffected adds the rows res affected to n.
func addAffected(n int64, res sql.Result) (int64, error) {
	k, err := res.RowsAffected()
	return n + k, err
}

// upsertIntervalArrays stores ivs (one reading per start) in statements
// that take the columns as arrays (PostgreSQL) and returns how many rows
// were inserted or changed.
func (s *Store) upsertIntervalArrays(ctx context.Context, tx *sql.Tx, meterPK int64, ivs []gridlink.Interval) (int64, error) {
	var changed int64
	n := min(len(ivs), s.d.intervalChunk)
	starts, ends := make([]int64, n), make([]int64, n)
	usage, ghg := make([]float64, n), make([]float64, n)
	query := s.q(postgresIntervalUpsert)
	for len(ivs) > 0 {
		n = min(len(ivs), s.d.intervalChunk)
		starts, ends, usage, ghg = starts[:n], ends[:n], usage[:n], ghg[:n]
		for i, iv := range ivs[:n] {
			starts[i], ends[i], usage[i], ghg[i] = iv.Start, iv.End, iv.Usage, iv.GHG
		}
		res, err := tx.ExecContext(ctx, query, meterPK, starts, ends, usage, ghg)
		if err != nil {
			return 0, err
		}
		if changed, err = addAffected(changed, res); err != nil {
			return 0, err
		}
		ivs = ivs[n:]
	}
	return changed, nil
}

// intervalPage is the number of readings Intervals fetches per query.
const intervalPage = 4096

// Intervals streams the meter's readings with start in [start, end),
// ascending, to fn. It reads them in pages of intervalPage readings by
// keyset (each page starts after the last start seen), and calls fn only
// between queries: a slow consumer (an HTTP client downloading years of
// readings) then never holds a pooled connection or keeps a statement
// running into the statement timeout, nor an old snapshot open. A reading
// upserted during the iteration may show its old or new value.
func (s *Store) Intervals(ctx context.Context, userRowID, meterID string, start, end int64, fn func(gridlink.Interval) error) error {
	pk, err := s.meterPK(ctx, s.rd(), userRowID, meterID)
	if err != nil {
		return s.wrap("read intervals", err)
	}
	query := s.q(`SELECT period_start, period_end, usage, ghg FROM intervals
		WHERE meter_pk = ? AND period_start >= ? AND period_start < ? ORDER BY period_start LIMIT ?`)
	page := make([]gridlink.Interval, 0, intervalPage)
	for {
		page, err = s.intervalPage(ctx, query, page[:0], pk, start, end)
		if err != nil {
			return s.wrap("read intervals", err)
		}
		for _, iv := range page {
			if err := fn(iv); err != nil {
				return err
			}
		}
		if len(page) < intervalPage {
			return nil
		}
		// period_start < end <= MaxInt64, so this cannot overflow.
		start = page[len(page)-1].Start + 1
	}
}

// intervalPage appends to page the next intervalPage readings of query.
func (s *Store) intervalPage(ctx context.Context, query string, page []gridlink.Interval, pk, start, end int64) ([]gridlink.Interval, error) {
	if s.d.name == "sqlite" {
		return s.intervalPageRaw(ctx, query, page, pk, start, end)
	}
	rows, err := s.rd().QueryContext(ctx, query, pk, start, end, intervalPage)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		var iv gridlink.Interval
		if err := rows.Scan(&iv.Start, &iv.End, &iv.Usage, &iv.GHG); err != nil {
			return page, err
		}
		page = append(page, iv)
	}
	return page, rows.Err()
}

// intervalPageRaw is intervalPage on SQLite, reading through the driver
// connection itself: database/sql's per-row work (its locks, context
// checks and Scan conversions) cost more than the driver's own on these
// narrow rows.
func (s *Store) intervalPageRaw(ctx context.Context, query string, page []gridlink.Interval, pk, start, end int64) ([]gridlink.Interval, error) {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return page, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot query", dc)
		}
		rows, err := qc.QueryContext(ctx, query, []driver.NamedValue{
			{Ordinal: 1, Value: pk}, {Ordinal: 2, Value: start}, {Ordinal: 3, Value: end}, {Ordinal: 4, Value: int64(intervalPage)},
		})
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]driver.Value, 4)
		for {
			if err := rows.Next(vals); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			var iv gridlink.Interval
			var ok1, ok2, ok3, ok4 bool
			iv.Start, ok1 = vals[0].(int64)
			iv.End, ok2 = vals[1].(int64)
			iv.Usage, ok3 = asFloat(vals[2])
			iv.GHG, ok4 = asFloat(vals[3])
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return fmt.Errorf("interval row of unexpected types %T, %T, %T, %T", vals[0], vals[1], vals[2], vals[3])
			}
			page = append(page, iv)
		}
	})
	return page, err
}

// asFloat converts a REAL column's value (SQLite stores a REAL that holds
// an integer as an INTEGER) to float64.
func asFloat(v driver.Value) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// LatestIntervalEnd returns the end of the meter's newest reading (0 when
// none).
func (s *Store) LatestIntervalEnd(ctx context.Context, userRowID, meterID string) (int64, error) {
	pk, err := s.meterPK(ctx, s.rd(), userRowID, meterID)
	if err != nil {
		return 0, s.wrap("latest interval end", err)
	}
	var end int64
	err = s.rd().QueryRowContext(ctx, s.q(`SELECT period_end FROM intervals WHERE meter_pk = ?
		ORDER BY period_start DESC LIMIT 1`), pk).Scan(&end)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return end, s.wrap("latest interval end", err)
}

// UpsertBill stores a bill keyed by (account, ExternalID); a non-nil pdf
// replaces the stored statement.
func (s *Store) UpsertBill(ctx context.Context, userRowID string, b gridlink.Bill, pdf []byte) (gridlink.Bill, error) {
	if b.ID == "" || b.ExternalID == "" || b.AccountID == "" {
		return gridlink.Bill{}, errors.New("sqlstore: upsert bill: ID, ExternalID and AccountID must be set")
	}
	var out gridlink.Bill
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var accountPK int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT pk FROM accounts WHERE user_row_id = ? AND id = ?`),
			userRowID, b.AccountID).Scan(&accountPK); err != nil {
			return fmt.Errorf("account: %w", err)
		}
		var billPK int64
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO bills (account_pk, user_row_id, id, external_id,
			start_date, end_date, statement_date, due_date, payment_date,
			total_amount_due, total_charges, electric_charge, gas_charge, other_charge,
			electric_kwh, gas_therm)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_pk, external_id) DO UPDATE SET
			start_date = excluded.start_date, end_date = excluded.end_date,
			statement_date = excluded.statement_date, due_date = excluded.due_date,
			payment_date = excluded.payment_date, total_amount_due = excluded.total_amount_due,
			total_charges = excluded.total_charges, electric_charge = excluded.electric_charge,
			gas_charge = excluded.gas_charge, other_charge = excluded.other_charge,
			electric_kwh = excluded.electric_kwh, gas_therm = excluded.gas_therm
			RETURNING pk`),
			accountPK, userRowID, b.ID, b.ExternalID,
			nullInt(b.StartDate), nullInt(b.EndDate), nullInt(b.StatementDate), nullInt(b.DueDate), nullInt(b.PaymentDate),
			nullFloat(b.TotalAmountDue), nullFloat(b.TotalCharges), nullFloat(b.ElectricCharge),
			nullFloat(b.GasCharge), nullFloat(b.OtherCharge), nullFloat(b.ElectricKWh), nullFloat(b.GasTherm),
		).Scan(&billPK)
		if err != nil {
			return err
		}
		if pdf != nil {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bill_pdfs (bill_pk, pdf) VALUES (?, ?)
				ON CONFLICT (bill_pk) DO UPDATE SET pdf = excluded.pdf`), billPK, pdf); err != nil {
				return err
			}
		}
		bills, err := s.bills(ctx, tx, `b.pk = ?`, []any{billPK})
		if err != nil {
			return err
		}
		if len(bills) != 1 {
			return store.ErrNotFound
		}
		out = bills[0]
		return nil
	})
	if err != nil {
		return gridlink.Bill{}, s.wrap("upsert bill", err)
	}
	return out, nil
}

// bills returns the bills matching where (over b: bills, a: accounts),
// ordered by account then start date (unknown start dates last).
func (s *Store) bills(ctx context.Context, q rowsQuerier, where string, args []any) ([]gridlink.Bill, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT b.id, a.id, b.external_id,
		b.start_date, b.end_date, b.statement_date, b.due_date, b.payment_date,
		b.total_amount_due, b.total_charges, b.electric_charge, b.gas_charge, b.other_charge,
		b.electric_kwh, b.gas_therm,
		EXISTS (SELECT 1 FROM bill_pdfs p WHERE p.bill_pk = b.pk)
		FROM bills b JOIN accounts a ON a.pk = b.account_pk
		WHERE `+where+`
		ORDER BY a.pk, b.start_date IS NULL, b.start_date, b.pk`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []gridlink.Bill
	for rows.Next() {
		var (
			b                                gridlink.Bill
			start, end, stmt, due, paid      sql.NullInt64
			total, charges, elec, gas, other sql.NullFloat64
			kwh, therm                       sql.NullFloat64
		)
		if err := rows.Scan(&b.ID, &b.AccountID, &b.ExternalID, &start, &end, &stmt, &due, &paid,
			&total, &charges, &elec, &gas, &other, &kwh, &therm, &b.HasPDF); err != nil {
			return nil, err
		}
		b.StartDate, b.EndDate, b.StatementDate = fromNullInt(start), fromNullInt(end), fromNullInt(stmt)
		b.DueDate, b.PaymentDate = fromNullInt(due), fromNullInt(paid)
		b.TotalAmountDue, b.TotalCharges = fromNullFloat(total), fromNullFloat(charges)
		b.ElectricCharge, b.GasCharge, b.OtherCharge = fromNullFloat(elec), fromNullFloat(gas), fromNullFloat(other)
		b.ElectricKWh, b.GasTherm = fromNullFloat(kwh), fromNullFloat(therm)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Bills returns the user's bills, by account then start date. f.Start and
// f.End keep the bills whose period [start_date, end_date] (end date
// included) overlaps [f.Start, f.End); bills with an unknown date on a
// filtered side are left out.
func (s *Store) Bills(ctx context.Context, userRowID string, f store.BillFilter) ([]gridlink.Bill, error) {
	where := `b.user_row_id = ?`
	args := []any{userRowID}
	if f.AccountID != "" {
		where += ` AND a.id = ?`
		args = append(args, f.AccountID)
	}
	if f.Start != nil {
		where += ` AND b.end_date >= ?`
		args = append(args, *f.Start)
	}
	if f.End != nil {
		where += ` AND b.start_date < ?`
		args = append(args, *f.End)
	}
	bills, err := s.bills(ctx, s.rd(), where, args)
	return bills, s.wrap("list bills", err)
}

// Bill returns one of the user's bills.
func (s *Store) Bill(ctx context.Context, userRowID, billID string) (gridlink.Bill, error) {
	bills, err := s.bills(ctx, s.rd(), `b.user_row_id = ? AND b.id = ?`, []any{userRowID, billID})
	if err == nil && len(bills) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return gridlink.Bill{}, s.wrap("get bill", err)
	}
	return bills[0], nil
}

// BillPDF returns the statement of one of the user's bills (store.ErrNotFound
// when the bill or its PDF is missing).
func (s *Store) BillPDF(ctx context.Context, userRowID, billID string) ([]byte, error) {
	var pdf []byte
	err := s.rd().QueryRowContext(ctx, s.q(`SELECT p.pdf FROM bill_pdfs p JOIN bills b ON b.pk = p.bill_pk
		WHERE b.user_row_id = ? AND b.id = ?`), userRowID, billID).Scan(&pdf)
	return pdf, s.wrap("bill pdf", err)
}
