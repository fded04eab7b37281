-- +goose Up
-- Reaching receivers behind gateways (issue 19): custom headers and
-- receiver authentication per webhook (docs/delivery.md, "Custom headers
-- and receiver authentication").
--
-- headers: [{"name", "value"} | {"name", "secret": true, "valueEnc"}], at
-- most 20; a secret value is sealed with secretbox (db.HeaderAAD) and kept
-- base64 in valueEnc, never in clear.
-- auth_type: how requests authenticate; auth_params its public part
-- (username; tokenUrl, clientId, scopes, audience); auth_secret_enc the
-- sealed password, token or client secret (db.AuthAAD), present exactly
-- when there is an auth type.
ALTER TABLE webhooks ADD COLUMN headers jsonb NOT NULL DEFAULT '[]',
                     ADD COLUMN auth_type text NOT NULL DEFAULT 'none'
                         CHECK (auth_type IN ('none', 'basic', 'bearer', 'oauth2')),
                     ADD COLUMN auth_params jsonb NOT NULL DEFAULT '{}',
                     ADD COLUMN auth_secret_enc bytea,
                     ADD CONSTRAINT webhooks_auth_secret CHECK ((auth_type = 'none') = (auth_secret_enc IS NULL));

-- The auth method an attempt's request used (never its credentials), set
-- when the attempt row is opened. Earlier attempts had none.
ALTER TABLE attempts ADD COLUMN auth_method text NOT NULL DEFAULT 'none';

-- +goose Down
ALTER TABLE attempts DROP COLUMN auth_method;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_auth_secret,
                     DROP COLUMN auth_secret_enc,
                     DROP COLUMN auth_params,
                     DROP COLUMN auth_type,
                     DROP COLUMN headers;
