package gridlink

import "encoding/hex"

// FormatUUID formats the first 16 bytes of b as a UUID string, setting the
// version nibble (4 for random ids, 8 for ids derived from a hash, RFC 9562)
// and the RFC 4122 variant bits. b must hold at least 16 bytes; it is not
// modified.
func FormatUUID(b []byte, version byte) string {
	var u [16]byte
	copy(u[:], b[:16])
	u[6] = u[6]&0x0f | version<<4
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}
