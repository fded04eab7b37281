// Package signing produces Standard Webhooks (https://www.standardwebhooks.com)
// signatures for outgoing webhook deliveries.
//
// The signed content is "{msgID}.{unix seconds}.{body}", signed with
// HMAC-SHA256 and encoded as "v1,<std base64>". Several secrets may be used at
// once (space-separated signatures) so that a subscriber can rotate its secret
// without a window where deliveries fail verification.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// SecretPrefix marks a Standard Webhooks secret; the rest is std base64.
	SecretPrefix = "whsec_"

	// secretBytes is the entropy of generated secrets (matches HMAC-SHA256's
	// block-size guidance and what common providers issue).
	secretBytes = 32

	// Header names defined by the Standard Webhooks spec. http.Header
	// canonicalises them (e.g. "Webhook-Id"); HTTP header names are
	// case-insensitive so receivers are unaffected.
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	signatureVersion = "v1"
)

var (
	// ErrNoSecrets is returned when Sign is called without any secret.
	ErrNoSecrets = errors.New("signing: no secrets provided")
	// ErrInvalidSecret is returned when a secret is not valid base64 or is empty.
	ErrInvalidSecret = errors.New("signing: invalid secret")
)

// NewSecret returns a fresh random secret in the "whsec_<base64>" form.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// decodeSecret returns the raw HMAC key. The prefix is optional so that
// secrets imported from other systems without it still work.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: decoding base64: %w", ErrInvalidSecret, err)
	}
	// An empty key would "sign" with a value anyone can compute.
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty key", ErrInvalidSecret)
	}
	return key, nil
}

// Sign returns the value of the webhook-signature header: one "v1,<sig>"
// entry per secret, separated by a single space, in the order given.
// All secrets are validated before anything is signed.
func Sign(msgID string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", ErrNoSecrets
	}
	// Build the signed content once; it is identical for every secret.
	content := make([]byte, 0, len(msgID)+len(body)+22)
	content = append(content, msgID...)
	content = append(content, '.')
	content = strconv.AppendInt(content, ts.Unix(), 10)
	content = append(content, '.')
	content = append(content, body...)

	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			// Index only: never echo secret material into errors/logs.
			return "", fmt.Errorf("secret #%d: %w", i, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(content) // hash.Hash.Write never returns an error
		sigs = append(sigs, signatureVersion+","+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// Headers returns a new http.Header holding webhook-id, webhook-timestamp
// (unix seconds) and webhook-signature for the delivery.
func Headers(msgID string, ts time.Time, body []byte, secrets ...string) (http.Header, error) {
	h := make(http.Header, 3)
	if err := SetHeaders(h, msgID, ts, body, secrets...); err != nil {
		return nil, err
	}
	return h, nil
}

// SetHeaders sets the three Standard Webhooks headers on an existing header
// map (e.g. req.Header), leaving it untouched on error.
func SetHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...string) error {
	sig, err := Sign(msgID, ts, body, secrets...)
	if err != nil {
		return fmt.Errorf("signing webhook: %w", err)
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}
