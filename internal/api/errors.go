package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gridlink/gridlink"
	"github.com/gridlink/gridlink/internal/store"
)

// dataUnavailableRetry is the Retry-After sent with every data_unavailable
// answer that does not name its own (decision 9.8): Pelm's "try again in 5
// minutes".
const dataUnavailableRetry = 5 * time.Minute

// Status returns the HTTP status of an error code. This is the one table
// of pelm-api.md section 5 (plus request_too_large, 413); unknown codes are
// 500.
func Status(code gridlink.ErrorCode) int {
	switch code {
	case gridlink.ParameterMissing, gridlink.ParameterInvalid,
		gridlink.ConnectMaxAttemptedLogins, gridlink.MFARequired, gridlink.MFAFailed,
		gridlink.UtilityUnavailable, gridlink.FeatureUnavailable:
		return http.StatusBadRequest
	case gridlink.CredentialsInvalid, gridlink.TokenInvalid:
		return http.StatusUnauthorized
	case gridlink.QuotaReached:
		return http.StatusPaymentRequired
	case gridlink.PermissionDenied:
		return http.StatusForbidden
	case gridlink.NotFound:
		return http.StatusNotFound
	case gridlink.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case gridlink.RequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case gridlink.RateLimited:
		return http.StatusTooManyRequests
	case gridlink.DataUnavailable, gridlink.InternalError:
		return http.StatusInternalServerError
	default:
		return http.StatusInternalServerError
	}
}

// Errors that are not *gridlink.Error but have a fixed answer.
var (
	errTooLarge = &gridlink.Error{Code: gridlink.RequestTooLarge, Message: "The request body is larger than 1 MiB."}
	errInternal = &gridlink.Error{Code: gridlink.InternalError, Message: "An internal error occurred."}
	errNotFound = &gridlink.Error{Code: gridlink.NotFound, Message: "Not found."}
)

// WriteError writes err as the JSON error answer
// {"error_code": ..., "message": ...} with the status of its code.
//
// A *gridlink.Error anywhere in err's chain is written as is (with a
// Retry-After header when RetryAfter is positive; data_unavailable always
// carries one). An *http.MaxBytesError is 413 request_too_large and
// store.ErrNotFound is 404 not_found. Anything else is logged (through the
// logger Handler put in the request context) and answered with a generic
// 500 internal_error, so internal details never reach the client.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, loggerFrom(r.Context()), err)
}

func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	e := publicError(err)
	switch {
	case e == errInternal && errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		logger.LogAttrs(r.Context(), slog.LevelDebug, "request canceled",
			slog.String("method", r.Method), slog.String("path", r.URL.Path))
	case e == errInternal:
		logger.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("error", err.Error()))
	case Status(e.Code) == http.StatusInternalServerError && e.Code != gridlink.DataUnavailable:
		logger.LogAttrs(r.Context(), slog.LevelError, "error answer",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("error_code", string(e.Code)))
	}
	writeAPIError(w, e)
}

// publicError returns the *gridlink.Error to show for err.
func publicError(err error) *gridlink.Error {
	var ge *gridlink.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ge):
		return ge
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	default:
		return errInternal
	}
}

// writeAPIError writes e as the JSON error body.
func writeAPIError(w http.ResponseWriter, e *gridlink.Error) {
	h := w.Header()
	retry := e.RetryAfter
	if retry <= 0 && e.Code == gridlink.DataUnavailable {
		retry = dataUnavailableRetry
	}
	if retry > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
	}
	// Drop headers a handler may have set for the answer it meant to give.
	h.Del("Content-Disposition")
	h.Del("Content-Encoding")
	writeRaw(w, Status(e.Code), errorBody(e))
}

// errorBody is the JSON error body of e.
func errorBody(e *gridlink.Error) []byte {
	b := make([]byte, 0, 64+len(e.Code)+len(e.Message))
	b = append(b, `{"error_code":`...)
	b = appendString(b, string(e.Code))
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	return append(b, "}\n"...)
}

// writeRaw writes a complete JSON body.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// loggerKey is the context key of the logger installed by Handler.
type loggerKey struct{}

// loggerFrom returns the logger Handler put in ctx, or one that discards.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
