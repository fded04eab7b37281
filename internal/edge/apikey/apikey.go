// Package apikey makes and hashes the bearer keys that authenticate API calls.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Prefix marks our keys so secret scanners and people can recognise them.
const Prefix = "ewk_"

// Generate returns a new random key: Prefix + 32 random bytes, base64url.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating api key: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is what is stored and looked up. Keys carry 256 bits of entropy, so a
// fast unsalted hash is enough (a slow KDF would only slow every request).
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// DisplayPrefix is the part of a key shown in listings to tell keys apart.
func DisplayPrefix(key string) string {
	if len(key) > len(Prefix)+6 {
		return key[:len(Prefix)+6]
	}
	return key
}
