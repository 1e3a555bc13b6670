package connectui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/greenbutton"
	"github.com/gridlink/gridlink/internal/store"
	"github.com/gridlink/gridlink/internal/syncer"
)

// gbDir holds the repository's copies of the shared Green Button files.
var gbDir = filepath.Join("..", "..", "testdata", "greenbutton")

func readGB(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(gbDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploadFile submits the page's upload form with content as the file.
func (b *browser) uploadFile(name string, content io.Reader) {
	b.t.Helper()
	form := b.page.Find(`form[enctype="multipart/form-data"]`)
	if form.Length() != 1 || form.Find(`input[type=file][name=file]`).Length() != 1 {
		b.t.Fatalf("no upload form with a file field named file on %s: %s", b.url, b.text())
	}
	action := b.url.ResolveReference(mustParseURL(b.t, form.AttrOr("action", "")))
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", name)
		if err == nil {
			_, err = io.Copy(fw, content)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest(http.MethodPost, action.String(), pr)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	b.do(req)
}

// TestUploadGreenButtonFile uploads files in Connect, for a supported and
// an unsupported utility, and checks what becomes of the data.
func TestUploadGreenButtonFile(t *testing.T) {
	e := newEnv(t, envOptions{ingest: true})
	ctx := context.Background()
	toCredentials := func(t *testing.T, userID string, utilityID int64) *browser {
		t.Helper()
		b := e.browser()
		b.get(e.startURL(e.token(userID, utilityID), e.app, ptr("st")))
		b.submit(`form[action$="/terms"] [type=submit]`, nil)
		if !strings.Contains(b.text(), "Upload a Green Button file instead") {
			t.Fatalf("no upload offer on the credentials step: %s", b.text())
		}
		return b
	}
	good := []struct {
		name, file string
		utilityID  int64
	}{
		{"XML for a supported utility", "gba-sdk-electric-monthly-only-2011-2012.xml", 1},
		{"CSV for an unsupported utility", "sdge-csv-hourly-2022-11.csv", 2},
		{"XML for a utility missing from the registry", "pge-electric-hourly-1year-2011-2012-e6-tou.xml", 4},
	}
	for i, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			userID := "upload-good-" + string(rune('a'+i))
			b := toCredentials(t, userID, tc.utilityID)
			content := readGB(t, tc.file)
			b.uploadFile(tc.file, bytes.NewReader(content))
			if !b.has(`form[action$="/continue"]`) {
				t.Fatalf("after the upload: %s", b.text())
			}
			b.submit(`form[action$="/continue"] [type=submit]`, nil)
			_, u, err := e.auth.Exchange(ctx, e.client.ID, b.left().Query().Get("code"))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if !u.DataReady || u.Sync.Status != gridlink.SyncOK || u.UtilityUsername != uploadUsername || u.UtilityID != tc.utilityID {
				t.Errorf("user after upload: ready=%v status=%q username=%q utility=%d", u.DataReady, u.Sync.Status, u.UtilityUsername, u.UtilityID)
			}
			cred, err := syncer.OpenCredential(e.vault, u.Credential, u.RowID)
			if err != nil || cred.Source != syncer.SourceUpload || cred.Password != "" {
				t.Errorf("credential: %v source=%q password set=%v", err, cred.Source, cred.Password != "")
			}
			if n := len(e.queue.enqueued()); n != 0 {
				t.Errorf("%d syncs queued for uploaded data, want none", n)
			}
			// The stored readings are the file's.
			feed, err := greenbutton.Parse(ctx, bytes.NewReader(content), greenbutton.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := feed.Accounts(greenbutton.AccountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			accounts, err := e.st.Accounts(ctx, u.RowID)
			if err != nil {
				t.Fatal(err)
			}
			if len(accounts) != len(want) {
				t.Fatalf("%d accounts stored, the file has %d", len(accounts), len(want))
			}
			for _, wa := range want {
				id := syncer.AccountID(u.RowID, wa.ExternalID)
				for _, m := range wa.Meters {
					var got []gridlink.Interval
					if err := e.st.Intervals(ctx, u.RowID, syncer.MeterID(u.RowID, wa.ExternalID, m.ExternalID), 0, 1<<62, func(iv gridlink.Interval) error {
						iv.GHG = 0
						got = append(got, iv)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(wa.Intervals[m.ExternalID], got, cmpopts.EquateEmpty(), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
						t.Errorf("account %s meter %s readings (-file +stored):\n%s", id, m.ExternalID, diff)
					}
				}
			}
		})
	}

	bad := []struct {
		name    string
		file    func() io.Reader
		message string
	}{
		{"not Green Button", func() io.Reader { return strings.NewReader("hello, this is my shopping list\neggs\nmilk\n") }, "could not be used"},
		{"broken XML", func() io.Reader {
			x := readGB(t, "gba-sdk-electric-monthly-only-2011-2012.xml")
			return bytes.NewReader(x[:len(x)/2])
		}, "line"},
		{"too large", func() io.Reader {
			return io.MultiReader(strings.NewReader("<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><!-- "), bytes.NewReader(bytes.Repeat([]byte("a"), maxUploadBytes+1)))
		}, "larger than 25 MB"},
	}
	for i, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			userID := "upload-bad-" + string(rune('a'+i))
			b := toCredentials(t, userID, 1)
			b.uploadFile("usage.xml", tc.file())
			if b.last.StatusCode != http.StatusBadRequest || !strings.Contains(b.alert(), tc.message) {
				t.Errorf("status %d, alert %q; want 400 with %q", b.last.StatusCode, b.alert(), tc.message)
			}
			if !b.has(`form[enctype="multipart/form-data"]`) || !b.has(`input[name=password]`) {
				t.Errorf("the credentials step is not shown again: %s", b.text())
			}
			if _, err := e.st.User(ctx, e.client.ID, userID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused file stored a user: %v", err)
			}
			if s := e.session(b.sid()); s.Step != store.StepCredentials || s.LoginAttempts != 0 {
				t.Errorf("session after a refused file: step %q, attempts %d", s.Step, s.LoginAttempts)
			}
		})
	}
}

// Without an Ingester (no sync engine) no upload is offered.
func TestNoUploadWithoutIngester(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get(e.startURL(e.token("no-upload", 1), e.app, nil))
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	if b.has(`form[enctype="multipart/form-data"]`) {
		t.Error("upload offered without an Ingester")
	}
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// In the widget the upload is the same form, and ends on the widget's
// confirmation with the code.
func TestUploadInWidget(t *testing.T) {
	const parent = "https://app.example"
	e := newEnv(t, envOptions{ingest: true})
	b := e.browser()
	b.fa = parent
	walkToCredentials(t, b, e.widgetURL(e.token("widget-upload", 0), parent), "coned")
	b.uploadFile("usage.xml", bytes.NewReader(readGB(t, "gba-sdk-gas-monthly-therms-2011-2012.xml")))
	code := b.page.Find("main").AttrOr("data-code", "")
	if code == "" {
		t.Fatalf("no code on the widget's confirmation: %s", b.text())
	}
	_, u, err := e.auth.Exchange(context.Background(), e.client.ID, code)
	if err != nil || !u.DataReady {
		t.Fatalf("exchange: %v, data ready %v", err, u.DataReady)
	}
}

// In the widget an OAuth utility cannot be framed: no "Continue", the
// upload is offered.
func TestOAuthUtilityInWidget(t *testing.T) {
	const parent = "https://app.example"
	e := newOAuthEnv(t)
	b := e.browser()
	b.fa = parent
	b.get(e.widgetURL(e.token("widget-oauth", gbUtilityID), parent))
	b.submit(`form[action$="/terms"] [type=submit]`, nil)
	if b.has(`#oauth-continue`) || b.has(`input[name=password]`) || !b.has(`form[enctype="multipart/form-data"]`) {
		t.Errorf("widget credentials step of an OAuth utility: %s", b.text())
	}
}
