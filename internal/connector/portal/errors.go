package portal

import (
	"fmt"
	"time"

	"github.com/gridlink/gridlink/internal/connector"
)

// Default user-safe messages, one per connector kind.
const (
	MsgBadCredentials = "The utility's website did not accept this username and password."
	MsgMFARequired    = "The utility's website asks for a new verification code. Please reconnect your account."
	MsgMFAFailed      = "The verification code was not accepted. Please check it and try again."
	MsgUnavailable    = "The utility's website is unavailable right now. Please try again later."
	MsgRateLimited    = "The utility's website asked us to slow down. We will try again later."
	MsgLayoutChanged  = "The utility's website has changed and cannot be read right now. We will try again later."
	MsgInternal       = "Something went wrong while reaching the utility's website."
)

// Message returns the default user-safe message for a kind.
func Message(k connector.Kind) string {
	switch k {
	case connector.KindBadCredentials:
		return MsgBadCredentials
	case connector.KindMFARequired:
		return MsgMFARequired
	case connector.KindMFAFailed:
		return MsgMFAFailed
	case connector.KindUnavailable:
		return MsgUnavailable
	case connector.KindRateLimited:
		return MsgRateLimited
	case connector.KindLayoutChanged:
		return MsgLayoutChanged
	}
	return MsgInternal
}

// Fail returns a classified error with the kind's default message and
// detail (for logs; it must not hold secrets) formatted from format/args.
func Fail(kind connector.Kind, format string, args ...any) *connector.Error {
	return &connector.Error{Kind: kind, Message: Message(kind), Err: fmt.Errorf(format, args...)}
}

// LayoutChanged reports a page or file that is not what the connector
// expects: nothing it scraped should be stored. The detail (format/args)
// goes to the logs and must not hold secrets.
func LayoutChanged(format string, args ...any) *connector.Error {
	return Fail(connector.KindLayoutChanged, format, args...)
}

func rateLimited(retryAfter time.Duration, format string, args ...any) *connector.Error {
	e := Fail(connector.KindRateLimited, format, args...)
	e.RetryAfter = retryAfter
	return e
}
