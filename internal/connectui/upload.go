package connectui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gridlink/gridlink/internal/connector"
	"github.com/gridlink/gridlink/internal/greenbutton"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

// Ingester stores data that reached gridlink without a connector fetch (a
// Green Button file uploaded in Connect) as a user's data, as a sync
// would. internal/syncer's *Syncer implements it.
type Ingester interface {
	Ingest(ctx context.Context, userRowID string, accounts []connector.Account) error
}

// maxUploadBytes bounds the body of POST /connect/{sid}/upload (25 MiB,
// api.MaxUploadBytes: the listener's middleware lets this one route's body
// grow that large).
const maxUploadBytes = 25 << 20

// uploadUsername is the utility username shown for uploaded data.
const uploadUsername = "Green Button file"

// postUpload wraps the upload handler as post wraps the others
// (cross-origin protection, one request at a time per session, the
// session and its cookie checked) but with the upload's body limit and
// without parsing the body, which upload streams.
func (u *UI) postUpload(h func(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error) http.Handler {
	return u.csrf.Handler(u.handle(func(w http.ResponseWriter, r *http.Request) error {
		sid := r.PathValue("sid")
		if !validSID(sid) {
			return errSessionNotFound
		}
		unlock := u.locks.lock(sid)
		defer unlock()
		ctx := r.Context()
		f, err := u.loadFlow(ctx, r)
		if err != nil {
			return err
		}
		return h(ctx, w, r, f)
	}))
}

// upload answers POST /connect/{sid}/upload (multipart/form-data, the file
// in the field "file"): a Green Button file, XML or CSV, instead of a
// utility login, for any utility. The file is parsed completely before
// anything is stored; a file that is not usable re-draws the credentials
// step with what is wrong (and the line, when known) and stores nothing.
// A usable file completes the connection like a login: the user's
// credential is sealed with no password and the upload marker
// (syncer.SourceUpload, so scheduled syncs fetch nothing), and the file's
// accounts, meters, readings and bills are stored at once through the
// sync engine's own path (Ingester), before the confirmation.
func (u *UI) upload(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	if f.sess.Step != store.StepCredentials || f.expired(u.now()) || u.ingest == nil {
		return u.toPage(w, r, f, "")
	}
	if _, ok := u.catalog.ByID(f.sess.UtilityID); !ok {
		return u.toPage(w, r, f, "")
	}
	bad := func(msg string) error {
		if r.ContentLength > maxUploadBytes || r.ContentLength < 0 {
			// Do not wait for a body that will not be read.
			w.Header().Set("Connection", "close")
		}
		return u.show(w, r, f, showOpts{status: http.StatusBadRequest, alert: msg})
	}
	const tooLarge = "That file is larger than 25 MB. Download a shorter period from your utility and upload it again."
	if r.ContentLength > maxUploadBytes {
		return bad(tooLarge)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return bad("Choose a Green Button file to upload.")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return bad("Choose a Green Button file to upload.")
	}
	var feed *greenbutton.Feed
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bad(tooLarge)
		}
		if err != nil {
			return bad("The upload could not be read. Please try again.")
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		if part.FileName() == "" {
			part.Close()
			continue // the file input left empty
		}
		body := &limitWatch{r: part}
		feed, err = greenbutton.Parse(ctx, body, greenbutton.Options{MaxBytes: maxUploadBytes})
		part.Close()
		if err != nil {
			u.log.InfoContext(ctx, "connect: uploaded file refused", "session", f.sess.ID, "client_id", f.client.ID, "err", err)
			if body.hit || errors.As(err, &mbe) {
				return bad(tooLarge)
			}
			return bad(uploadMessage(err))
		}
		break
	}
	if feed == nil {
		return bad("Choose a Green Button file to upload.")
	}
	accounts, err := feed.Accounts(greenbutton.AccountOptions{})
	if err != nil {
		u.log.InfoContext(ctx, "connect: uploaded file refused", "session", f.sess.ID, "client_id", f.client.ID, "err", err)
		return bad(uploadMessage(err))
	}
	if len(accounts) == 0 {
		return bad("That file holds no electricity or gas usage. Check that you downloaded usage data (Green Button \"Download My Data\").")
	}
	ctx = context.WithoutCancel(ctx)
	u.log.InfoContext(ctx, "connect: Green Button file uploaded", "session", f.sess.ID, "client_id", f.client.ID,
		"utility_id", f.sess.UtilityID, "accounts", len(accounts))
	return u.completeWith(ctx, w, r, f, syncer.Credential{Username: uploadUsername, Source: syncer.SourceUpload},
		func(ctx context.Context, rowID string) error { return u.ingest.Ingest(ctx, rowID, accounts) })
}

// uploadMessage is the user's explanation of a file the parser refused.
func uploadMessage(err error) string {
	const prefix = "That file could not be used: "
	switch {
	case errors.Is(err, greenbutton.ErrTooLarge):
		return "That file is larger than 25 MB. Download a shorter period from your utility and upload it again."
	case errors.Is(err, greenbutton.ErrTooManyReadings):
		return prefix + "it holds too many readings. Download a shorter period and upload it again."
	case errors.Is(err, greenbutton.ErrNoLocation):
		return prefix + "this CSV file does not say which time zone its times are in. Upload the XML version of your Green Button data instead."
	}
	var ge *greenbutton.Error
	if errors.As(err, &ge) {
		msg := prefix + "it is not Green Button data we can read"
		if ge.Line > 0 {
			msg += fmt.Sprintf(" (line %d: %s)", ge.Line, ge.Msg)
		} else if ge.Msg != "" {
			msg += " (" + ge.Msg + ")"
		}
		return msg + ". Upload the file exactly as your utility's \"Download My Data\" gave it."
	}
	if errors.Is(err, greenbutton.ErrNotGreenButton) {
		return prefix + "it is not a Green Button file. Upload the XML or CSV file from your utility's \"Download My Data\"."
	}
	return prefix + "it is not Green Button data we can read. Upload the XML or CSV file from your utility's \"Download My Data\"."
}

// limitWatch records whether reading r ran into the body limit (the parser
// reports read errors as its own).
type limitWatch struct {
	r   io.Reader
	hit bool
}

func (l *limitWatch) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && errors.As(err, &mbe) {
		l.hit = true
	}
	return n, err
}
