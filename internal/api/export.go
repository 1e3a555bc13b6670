package api

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/greenbutton"
	"github.com/gridlink/gridlink/internal/store"
)

// greenButtonXML serves GET /accounts/{account_id}/greenbutton.xml
// (beyond Pelm): the account's meters, every stored reading and its bills
// as one Green Button (ESPI Atom) feed, streamed from the store, that
// greenbutton.ParseXML reads back to the same values. Authentication and
// data_unavailable as for the other data endpoints; another user's
// account is 404.
//
// When the feed fails after its first bytes were sent, the connection is
// cut (http.ErrAbortHandler) so that the client sees a failed download
// rather than a truncated feed.
func (a *API) greenButtonXML(w http.ResponseWriter, r *http.Request) error {
	u, err := a.dataUser(r)
	if err != nil {
		return err
	}
	ac, err := a.account(r, u, r.PathValue("account_id"))
	if err != nil {
		return err
	}
	bills, err := a.store.Bills(r.Context(), u.RowID, store.BillFilter{AccountID: ac.ID})
	if err != nil {
		return fmt.Errorf("list bills: %w", err)
	}
	title := "Green Button data"
	if util, ok := a.catalog.ByID(u.UtilityID); ok {
		title = util.Name + " Green Button data"
	}
	exp := greenbutton.Export{
		Account: ac,
		Bills:   bills,
		Intervals: func(ctx context.Context, m gridlink.Meter, fn func(gridlink.Interval) error) error {
			return a.store.Intervals(ctx, u.RowID, m.ID, 0, math.MaxInt64, fn)
		},
	}
	h := w.Header()
	h.Set("Content-Type", "application/atom+xml")
	h.Set("Content-Disposition", `attachment; filename="greenbutton.xml"`)
	sw := &startWriter{w: w}
	bw := bufio.NewWriterSize(sw, 32<<10)
	_, err = greenbutton.WriteFeed(r.Context(), bw, exp, greenbutton.WriteOptions{
		BaseURL: "https://gridlink.invalid",
		Updated: a.now(),
		Title:   title,
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if !sw.started {
			h.Del("Content-Type")
			h.Del("Content-Disposition")
			return fmt.Errorf("green button export: %w", err)
		}
		if r.Context().Err() == nil {
			a.logger.LogAttrs(r.Context(), slog.LevelError, "green button export failed",
				slog.String("account_id", ac.ID), slog.String("error", err.Error()))
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}
