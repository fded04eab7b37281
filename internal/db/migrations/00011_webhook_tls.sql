-- +goose Up
-- Mutual TLS to the receiver (issue 19, docs/delivery.md "Mutual TLS"):
-- tls_client_cert the client certificate (PEM, leaf first; public),
-- tls_client_key_enc its key sealed with secretbox (db.ClientKeyAAD),
-- present exactly when there is a certificate; tls_ca_bundle the private
-- CA certificates (PEM) that verify the receiver instead of the system
-- roots ('' for the system roots).
ALTER TABLE webhooks ADD COLUMN tls_client_cert text NOT NULL DEFAULT '',
                     ADD COLUMN tls_client_key_enc bytea,
                     ADD COLUMN tls_ca_bundle text NOT NULL DEFAULT '',
                     ADD CONSTRAINT webhooks_tls_client_key CHECK ((tls_client_cert = '') = (tls_client_key_enc IS NULL));

-- +goose Down
ALTER TABLE webhooks DROP CONSTRAINT webhooks_tls_client_key,
                     DROP COLUMN tls_ca_bundle,
                     DROP COLUMN tls_client_key_enc,
                     DROP COLUMN tls_client_cert;
