-- +goose Up
-- What each attempt's connection went through (issue 19, docs/delivery.md
-- "The delivery log"), set like auth_method when the attempt row is
-- opened, and never a credential:
-- proxy: the forward proxy's host:port (DELIVERY_PROXY_URL of the worker
-- that made the attempt, without its user and password); '' for direct.
-- client_cert_sha256: the SHA-256 fingerprint (hex, of the leaf's DER) of
-- the client certificate the attempt's TLS handshake had to present (an
-- https URL and a webhook with a certificate); '' for none. Earlier
-- attempts have ''.
ALTER TABLE attempts ADD COLUMN proxy text NOT NULL DEFAULT '',
                     ADD COLUMN client_cert_sha256 text NOT NULL DEFAULT '';

-- The fingerprint of the webhook's client certificate, written with it
-- (the service computes it as clienttls.Describe does), so that opening an
-- attempt copies it rather than parse PEM.
ALTER TABLE webhooks ADD COLUMN tls_client_cert_sha256 text NOT NULL DEFAULT '';
-- Certificates stored before: the leaf's base64 body decoded (decode skips
-- line breaks); a body that is not plain base64 is left '' rather than fail.
UPDATE webhooks w SET tls_client_cert_sha256 = encode(sha256(decode(c.body, 'base64')), 'hex')
FROM (SELECT id, substring(tls_client_cert FROM '-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----') AS body
      FROM webhooks WHERE tls_client_cert <> '') c
WHERE w.id = c.id AND c.body IS NOT NULL;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN tls_client_cert_sha256;
ALTER TABLE attempts DROP COLUMN client_cert_sha256,
                     DROP COLUMN proxy;
