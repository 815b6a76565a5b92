package uuid

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// New returns a random (version 4) UUID, as AWS request ids are.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return format(b, 4)
}

// FromName returns a UUID derived from name (version 8: the first 16 bytes
// of its SHA-256), the same for the same name.
func FromName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return format([16]byte(sum[:16]), 8)
}

// format sets the version and the RFC 9562 variant bits and writes the
// 8-4-4-4-12 form.
func format(b [16]byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
