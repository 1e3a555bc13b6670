package api

import "net/http"

// Register adds every route of the API to mux (pelm-api.md section 2).
// GET /emission-rates is not served yet: it answers the JSON 404 of
// Handler.
func (a *API) Register(mux *http.ServeMux) {
	// Connect tokens and code exchange (client headers).
	mux.Handle("POST /auth/connect-token", a.handle(a.connectToken))
	mux.Handle("POST /auth/connect_token", a.handle(a.connectToken))
	mux.Handle("POST /auth/token", a.handle(a.token))

	// Users (client headers + bearer token).
	mux.Handle("GET /users/{user_id}", a.handle(a.getUser))
	mux.Handle("DELETE /users/{user_id}", a.handle(a.deleteUser))
	// Beyond Pelm: ask for a sync now (202; a no-op while one is queued
	// or running).
	mux.Handle("POST /users/{user_id}/refresh", a.handle(a.refresh))

	// Data (client headers + bearer token; data_unavailable until the
	// first sync has finished).
	mux.Handle("GET /accounts", a.handle(a.accounts))
	mux.Handle("GET /intervals", a.handle(a.intervals))
	mux.Handle("GET /accounts/{account_id}/intervals", a.handle(a.intervals))
	mux.Handle("GET /bills", a.handle(a.bills))
	mux.Handle("GET /accounts/{account_id}/bills", a.handle(a.bills))
	// Beyond Pelm: the account as a Green Button (ESPI) feed.
	mux.Handle("GET /accounts/{account_id}/greenbutton.xml", a.handle(a.greenButtonXML))
	mux.Handle("GET /bills/{bill_id}", a.handle(a.bill))
	mux.Handle("GET /bills/{bill_id}/pdf", a.handle(a.billPDF))

	// Utility catalogue (no authentication; beyond Pelm).
	mux.Handle("GET /utilities", a.handle(a.utilities))
}
