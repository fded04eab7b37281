// Package secretbox encrypts small secrets (webhook signing secrets) at rest
// with AES-256-GCM.
//
// Sealed format: version(1) || nonce(12) || GCM ciphertext+tag(16).
// The version byte lets the format (or algorithm) evolve without a flag day;
// it is also fed into GCM's additional data so it cannot be swapped
// undetected.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// version1 is the first byte of every sealed box: a byte on purpose, unlike
// the sizes below (a const of its own, so staticcheck's SA9004 does not read
// the untyped sizes as a forgotten byte type).
const version1 byte = 0x01

const (
	// KeySize is the required key length (AES-256).
	KeySize = 32

	nonceSize = 12
	tagSize   = 16
	// Overhead is how many bytes Seal adds to the plaintext.
	Overhead = 1 + nonceSize + tagSize
)

var (
	// ErrDecrypt is returned by Open for any failure to decrypt: too short,
	// unknown version, wrong key, wrong additional data or tampering. The
	// causes are deliberately not distinguished beyond the message.
	ErrDecrypt = errors.New("secretbox: decryption failed")
	// ErrInvalidKey is returned for keys that are not exactly KeySize bytes
	// or cannot be parsed.
	ErrInvalidKey = errors.New("secretbox: invalid key")
)

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key. The key slice is not retained.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// aad binds the version byte to the caller's additional data.
func aad(version byte, additionalData []byte) []byte {
	out := make([]byte, 0, 1+len(additionalData))
	out = append(out, version)
	return append(out, additionalData...)
}

// Seal encrypts plaintext with a fresh random nonce. additionalData (e.g. the
// endpoint ID) is authenticated but not stored: the same value must be given
// to Open, which stops a ciphertext being copied onto another row.
func (b *Box) Seal(plaintext, additionalData []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, Overhead+len(plaintext))
	out[0] = version1
	// Random 96-bit nonces are safe for well below 2^32 seals per key, far
	// more than the number of webhook secrets we will ever store.
	if _, err := rand.Read(out[1 : 1+nonceSize]); err != nil {
		return nil, fmt.Errorf("generating nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:1+nonceSize], plaintext, aad(version1, additionalData)), nil
}

// Open decrypts a value produced by Seal with the same key and additional
// data. Every failure wraps ErrDecrypt.
func (b *Box) Open(ciphertext, additionalData []byte) ([]byte, error) {
	if len(ciphertext) < Overhead {
		return nil, fmt.Errorf("%w: ciphertext too short (%d bytes)", ErrDecrypt, len(ciphertext))
	}
	if v := ciphertext[0]; v != version1 {
		return nil, fmt.Errorf("%w: unknown format version 0x%02x", ErrDecrypt, v)
	}
	nonce := ciphertext[1 : 1+nonceSize]
	pt, err := b.aead.Open(nil, nonce, ciphertext[1+nonceSize:], aad(version1, additionalData))
	if err != nil {
		// cipher's error carries no useful detail; keep ErrDecrypt as the
		// thing callers match on.
		return nil, fmt.Errorf("%w: authentication failed", ErrDecrypt)
	}
	return pt, nil
}

// ParseKey decodes a 32-byte key given as standard base64 (44 chars) or hex
// (64 chars). Surrounding whitespace is ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	// Lengths don't overlap (hex is 64 chars, base64 is 44), so the
	// encoding is unambiguous.
	if len(s) == hex.EncodedLen(KeySize) {
		key, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: decoding hex: %w", ErrInvalidKey, err)
		}
		return key, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: want %d bytes as std base64 or hex: %w", ErrInvalidKey, KeySize, err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: decoded %d bytes, want %d (std base64 or hex)", ErrInvalidKey, len(key), KeySize)
	}
	return key, nil
}

// LoadOrCreateKeyFile reads a key (base64, or hex) from path. If the file does
// not exist it creates the parent directory (0700) and a new random key file
// (0600) and reports created=true, so the caller can warn that a dev key was
// generated. Intended for local development, not production key management.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("creating key directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generating key: %w", err)
	}
	// O_EXCL: if another process created the file meanwhile, use its key
	// instead of overwriting it (which would orphan data it already sealed).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err = readKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("creating key file: %w", err)
	}
	if err := writeKey(f, key); err != nil {
		_ = os.Remove(path) // don't leave a truncated key behind
		return nil, false, fmt.Errorf("writing key file %s: %w", path, err)
	}
	return key, true, nil
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("parsing key file %s: %w", path, err)
	}
	return key, nil
}

func writeKey(f *os.File, key []byte) error {
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(werr, serr, cerr)
}
