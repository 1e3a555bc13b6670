package syncer

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
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
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
