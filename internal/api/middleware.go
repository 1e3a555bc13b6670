package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gridlink/gridlink"
)

// CORS answers for the API (pelm-api.md section 1). The API authenticates
// with headers only, never cookies, so any origin may call it.
const (
	corsAllowMethods  = "GET, POST, DELETE, OPTIONS"
	corsAllowHeaders  = "Pelm-Client-Id, Pelm-Secret, Authorization, Content-Type, Environment, Accept"
	corsExposeHeaders = "Retry-After"
	corsMaxAge        = "7200" // seconds; the most Chromium honours
)

// Handler wraps mux, the one mux of the listener (API, Connect pages and
// widget script), with the middleware every zone shares, outermost first:
//
//   - panic recovery: the panic and its stack are logged (never headers,
//     query or body) and the client gets a JSON 500 internal_error (the
//     connection is cut instead when the answer had already begun);
//     http.ErrAbortHandler is re-panicked;
//   - X-Content-Type-Options: nosniff on every response;
//   - CORS for the API paths only: OPTIONS on any path is answered 204
//     (with the CORS headers on API paths), and API responses carry
//     Access-Control-Allow-Origin: * and Access-Control-Expose-Headers.
//     Connect pages (GET /, /connect/...) and other non-API paths get no
//     CORS header, so a preflight to them fails in the browser;
//   - a MaxBodyBytes (1 MiB) body limit (MaxUploadBytes for the Connect
//     file upload, POST /connect/{sid}/upload, whose handler answers a
//     larger declared length with its own page): a larger declared Content-Length
//     is answered 413 request_too_large at once, and reading past the
//     limit fails with *http.MaxBytesError (WriteError makes it a 413);
//   - JSON errors for every zone: a 4xx or 5xx answer with a plain-text or
//     empty Content-Type (http.ServeMux's own 404 for unknown paths and
//     405 for known paths with another method, with its Allow header, and
//     any handler's http.Error or http.NotFound) is replaced by the JSON
//     error {"error_code", "message"} with the same status.
//
// The logger is also put in the request context for WriteError.
func Handler(mux *http.ServeMux, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{w: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if rw.wroteHeader {
				// Part of the answer is out: abort the connection.
				panic(http.ErrAbortHandler)
			}
			rw.wroteHeader = true
			writeAPIError(w, errInternal)
		}()

		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		api := isAPIPath(r.URL.Path)
		if r.Method == http.MethodOptions {
			if api {
				h.Set("Access-Control-Allow-Origin", "*")
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if api {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		limit, upload := bodyLimit(r)
		// The upload route answers a too-large file with its own page.
		if r.ContentLength > limit && !upload {
			h.Set("Connection", "close")
			writeAPIError(w, errTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		r = r.WithContext(context.WithValue(r.Context(), loggerKey{}, logger))
		mux.ServeHTTP(rw, r)
	})
}

// MaxUploadBytes is the body limit of the one route that takes files,
// POST /connect/{sid}/upload (a Green Button file uploaded in Connect),
// instead of MaxBodyBytes. The Connect handler applies its own limit,
// which must not exceed this one.
const MaxUploadBytes = 25 << 20

// bodyLimit is the request body limit of r: MaxUploadBytes for POST
// /connect/{sid}/upload (upload true), MaxBodyBytes for everything else.
func bodyLimit(r *http.Request) (limit int64, upload bool) {
	if r.Method == http.MethodPost {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/connect/"); ok {
			if sid, ok := strings.CutSuffix(rest, "/upload"); ok && sid != "" && !strings.Contains(sid, "/") {
				return MaxUploadBytes, true
			}
		}
	}
	return MaxBodyBytes, false
}

// isAPIPath reports whether p belongs to the JSON API (pelm-api.md section
// 2), whose responses carry CORS headers.
func isAPIPath(p string) bool {
	switch p {
	case "/accounts", "/intervals", "/bills", "/utilities", "/emission-rates":
		return true
	}
	for _, prefix := range [...]string{"/auth/", "/users/", "/accounts/", "/bills/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// responseWriter turns plain-text error answers into JSON ones and records
// whether the header was written (for panic recovery).
type responseWriter struct {
	w           http.ResponseWriter
	wroteHeader bool
	// discard is set when a plain-text error was replaced: the handler's
	// own body is dropped.
	discard bool
}

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.wroteHeader || code < 200 {
		// 1xx answers may precede the final one; a superfluous call is
		// passed on so that net/http logs it.
		if !rw.discard {
			rw.w.WriteHeader(code)
		}
		return
	}
	rw.wroteHeader = true
	if code >= 400 {
		if ct := rw.w.Header().Get("Content-Type"); ct == "" || strings.HasPrefix(ct, "text/plain") {
			rw.discard = true
			writeStatusError(rw.w, code)
			return
		}
	}
	rw.w.WriteHeader(code)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.discard {
		return len(p), nil
	}
	return rw.w.Write(p)
}

// ReadFrom keeps io.Copy to the response fast (sendfile).
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.discard {
		return io.Copy(io.Discard, src)
	}
	return io.Copy(rw.w, src)
}

// Flush implements http.Flusher.
func (rw *responseWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.discard {
		_ = http.NewResponseController(rw.w).Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

// writeStatusError writes the JSON error for a bare HTTP status, keeping
// the status (and headers such as Allow).
func writeStatusError(w http.ResponseWriter, status int) {
	var e gridlink.Error
	switch {
	case status == http.StatusNotFound:
		e = gridlink.Error{Code: gridlink.NotFound, Message: "Not found."}
	case status == http.StatusMethodNotAllowed:
		e = gridlink.Error{Code: gridlink.MethodNotAllowed, Message: "Method not allowed."}
	case status == http.StatusRequestEntityTooLarge:
		e = *errTooLarge
	case status == http.StatusForbidden:
		e = gridlink.Error{Code: gridlink.PermissionDenied, Message: "Forbidden."}
	case status == http.StatusUnauthorized:
		e = gridlink.Error{Code: gridlink.TokenInvalid, Message: "Unauthorized."}
	case status == http.StatusTooManyRequests:
		e = gridlink.Error{Code: gridlink.RateLimited, Message: "Too many requests."}
	case status < 500:
		e = gridlink.Error{Code: gridlink.ParameterInvalid, Message: "Bad request."}
	default:
		e = *errInternal
	}
	writeRaw(w, status, errorBody(&e))
}
