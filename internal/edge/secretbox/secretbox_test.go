package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newBox(t *testing.T, key []byte) *Box {
	t.Helper()
	b, err := New(key)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := New(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("New(%d bytes): err = %v, want ErrInvalidKey", n, err)
		}
	}
	if _, err := New(make([]byte, 32)); err != nil {
		t.Errorf("New(32 bytes): %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	b := newBox(t, newKey(t))
	for _, pt := range [][]byte{nil, {}, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), bytes.Repeat([]byte{0xAB}, 4096)} {
		ct, err := b.Seal(pt, []byte("endpoint:42"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if len(ct) != len(pt)+Overhead {
			t.Errorf("len(ct) = %d, want %d", len(ct), len(pt)+Overhead)
		}
		if ct[0] != 0x01 {
			t.Errorf("version byte = 0x%02x, want 0x01", ct[0])
		}
		if len(pt) > 8 && bytes.Contains(ct, pt) {
			t.Error("ciphertext contains plaintext")
		}
		got, err := b.Open(ct, []byte("endpoint:42"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, want %q", got, pt)
		}
	}
}

func TestNilAndEmptyAADEquivalent(t *testing.T) {
	b := newBox(t, newKey(t))
	ct, err := b.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ct, []byte{}); err != nil {
		t.Errorf("Open with empty AAD after nil AAD: %v", err)
	}
}

func TestOpenFailures(t *testing.T) {
	key := newKey(t)
	b := newBox(t, key)
	aad := []byte("endpoint:1")
	ct, err := b.Seal([]byte("secret value"), aad)
	if err != nil {
		t.Fatal(err)
	}

	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}

	cases := []struct {
		name string
		box  *Box
		ct   []byte
		aad  []byte
	}{
		{"wrong aad", b, ct, []byte("endpoint:2")},
		{"missing aad", b, ct, nil},
		{"wrong key", newBox(t, newKey(t)), ct, aad},
		{"tampered version", b, flip(0), aad},
		{"unknown version", b, append([]byte{0x02}, ct[1:]...), aad},
		{"tampered nonce", b, flip(1), aad},
		{"tampered body", b, flip(1 + nonceSize), aad},
		{"tampered tag", b, flip(len(ct) - 1), aad},
		{"truncated", b, ct[:len(ct)-1], aad},
		{"too short", b, ct[:Overhead-1], aad},
		{"empty", b, nil, aad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.box.Open(tc.ct, tc.aad)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
			if pt != nil {
				t.Errorf("plaintext returned on failure: %q", pt)
			}
		})
	}
	// Sanity: the untouched ciphertext still opens, so failures above are
	// caused by the mutations.
	if _, err := b.Open(ct, aad); err != nil {
		t.Fatalf("original no longer opens: %v", err)
	}
}

func TestSealIsRandomized(t *testing.T) {
	b := newBox(t, newKey(t))
	a1, err := b.Seal([]byte("same"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := b.Seal([]byte("same"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a1, a2) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if bytes.Equal(a1[1:1+nonceSize], a2[1:1+nonceSize]) {
		t.Fatal("nonce reused")
	}
}

func TestParseKey(t *testing.T) {
	key := newKey(t)
	b64 := base64.StdEncoding.EncodeToString(key)
	hx := hex.EncodeToString(key)

	good := map[string]string{
		"base64":           b64,
		"base64 padded ws": "  " + b64 + "\n",
		"hex lower":        hx,
		"hex upper":        strings.ToUpper(hx),
	}
	for name, in := range good {
		got, err := ParseKey(in)
		if err != nil {
			t.Errorf("%s: ParseKey: %v", name, err)
			continue
		}
		if !bytes.Equal(got, key) {
			t.Errorf("%s: key mismatch", name)
		}
	}

	bad := map[string]string{
		"empty":        "",
		"whitespace":   "   ",
		"short base64": base64.StdEncoding.EncodeToString(key[:16]),
		"long base64":  base64.StdEncoding.EncodeToString(append(key, 1)),
		"short hex":    hex.EncodeToString(key[:31]),
		"bad hex":      strings.Repeat("zz", 32),
		"url base64":   base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, KeySize)), // "___…" is not std base64
		"garbage":      "not a key at all",
		"raw 32 chars": strings.Repeat("k", 32),
	}
	for name, in := range bad {
		if _, err := ParseKey(in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: ParseKey(%q) err = %v, want ErrInvalidKey", name, in, err)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "deeper", "secretbox.key")

	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	if len(k1) != KeySize {
		t.Fatalf("key length = %d", len(k1))
	}

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("file mode = %o, want 600", perm)
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("dir mode = %o, want no group/other bits", perm)
		}
	}

	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if created {
		t.Error("second call: created = true, want false")
	}
	if !bytes.Equal(k1, k2) {
		t.Error("reloaded key differs from created key")
	}

	// The generated key must actually work with the box.
	box := newBox(t, k2)
	ct, err := box.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newBox(t, k1).Open(ct, nil); err != nil {
		t.Errorf("Open with reloaded key: %v", err)
	}
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)

	path := filepath.Join(dir, "b64.key")
	if err := os.WriteFile(path, []byte("\n  "+base64.StdEncoding.EncodeToString(key)+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(got, key) {
		t.Errorf("existing base64 file: created=%v err=%v match=%v", created, err, bytes.Equal(got, key))
	}

	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateKeyFile(bad); !errors.Is(err, ErrInvalidKey) || created {
		t.Errorf("corrupt file: created=%v err=%v, want ErrInvalidKey and no overwrite", created, err)
	}
	if data, _ := os.ReadFile(bad); string(data) != "garbage" {
		t.Errorf("corrupt key file was overwritten: %q", data)
	}
}
