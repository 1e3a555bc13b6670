package syncer

import (
	"crypto/sha256"
	"strings"

	"github.com/gridlink/gridlink"
)

// AccountID is the public id sync gives an account whose connector left the
// id empty: stable across syncs, distinct per user.
func AccountID(userRowID, accountExt string) string {
	return derivedID("account", userRowID, accountExt)
}

// MeterID is the public id sync gives a meter whose connector left the id
// empty.
func MeterID(userRowID, accountExt, meterExt string) string {
	return derivedID("meter", userRowID, accountExt, meterExt)
}

// BillID is the public id sync gives a bill whose connector left the id
// empty.
func BillID(userRowID, accountExt, billExt string) string {
	return derivedID("bill", userRowID, accountExt, billExt)
}

// derivedID formats the first 16 bytes of SHA-256(parts joined by "|") as a
// UUID with the version nibble set to 8 (custom, RFC 9562) and the RFC 4122
// variant bits.
func derivedID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return gridlink.FormatUUID(sum[:], 8)
}
