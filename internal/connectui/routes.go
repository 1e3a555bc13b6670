package connectui

import "net/http"

// Register mounts every hosted Connect route on mux:
//
//	GET  /{$}                       start: ?connect_token=&redirect_uri=&state= (no query: landing page)
//	GET  /connect/{sid}             the session's current step (?q= searches utilities; ?notice= shows a result)
//	POST /connect/{sid}/terms       accept the terms screen
//	POST /connect/{sid}/utility     choose a utility (utility_slug)
//	POST /connect/{sid}/back        back from credentials to utility selection
//	POST /connect/{sid}/credentials submit the utility login (username, password)
//	POST /connect/{sid}/upload      upload a Green Button file instead (multipart, field "file"; 25 MiB)
//	POST /connect/{sid}/oauth       OAuth utilities: 303 to the utility's authorization page
//	GET  /connect/oauth/callback    OAuth utilities: the utility sends the browser back (code, state)
//	POST /connect/{sid}/mfa-method  choose how the one-time code is sent (method)
//	POST /connect/{sid}/mfa         submit a one-time code (code)
//	POST /connect/{sid}/retry       leave an error view for the credentials form
//	POST /connect/{sid}/continue    leave the confirmation: 303 to redirect_uri?code=&state=
//	POST /connect/{sid}/exit        leave Connect: 303 to redirect_uri?error=&state=
//	GET  /connect/static/           the stylesheet and the widget page script (embedded)
//	GET  /initialize.js             the widget script, window.PelmConnect (pelm-api.md 4.3)
//	GET  /connect/pelm-connect.js   the same script under its legacy name
//
// GET / with parent_origin= (and no redirect_uri) is the widget's iframe:
// see embed.go. Every POST is guarded by http.CrossOriginProtection (cross-site: 403) and
// has its body limited to 1 MiB (the upload: 25 MiB).
func (u *UI) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", u.handle(u.start))
	mux.Handle("GET /connect/{sid}", u.handle(u.page))
	mux.Handle("POST /connect/{sid}/terms", u.post(u.terms))
	mux.Handle("POST /connect/{sid}/utility", u.post(u.chooseUtility))
	mux.Handle("POST /connect/{sid}/back", u.post(u.back))
	mux.Handle("POST /connect/{sid}/credentials", u.post(u.credentials))
	mux.Handle("POST /connect/{sid}/upload", u.postUpload(u.upload))
	mux.Handle("POST /connect/{sid}/oauth", u.post(u.startOAuth))
	mux.Handle("GET "+callbackPath, u.handle(u.oauthCallback))
	mux.Handle("POST /connect/{sid}/mfa-method", u.post(u.chooseMethod))
	mux.Handle("POST /connect/{sid}/mfa", u.post(u.mfa))
	mux.Handle("POST /connect/{sid}/retry", u.post(u.retry))
	mux.Handle("POST /connect/{sid}/continue", u.post(u.continueToApp))
	mux.Handle("POST /connect/{sid}/exit", u.post(u.exit))
	mux.Handle("GET /connect/static/", u.static())
	mux.Handle("GET /initialize.js", u.widgetScript())
	mux.Handle("GET /connect/pelm-connect.js", u.widgetScript())
}
