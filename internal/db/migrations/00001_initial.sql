-- +goose Up
CREATE TABLE accounts (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan       text NOT NULL CHECK (plan IN ('trial', 'basic', 'professional')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'member', 'publisher')),
    label      text NOT NULL DEFAULT '',
    -- SHA-256 of the key: keys are 256-bit random, so a fast hash is enough.
    key_hash   bytea NOT NULL UNIQUE,
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at DESC);

CREATE TABLE webhooks (
    id                         uuid PRIMARY KEY,
    account_id                 uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                       text NOT NULL,
    url                        text NOT NULL,
    event_types                text[] NOT NULL,
    trigger_sources            text[] NOT NULL,
    app_ids                    text[] NOT NULL DEFAULT '{}',
    enabled                    boolean NOT NULL DEFAULT true,
    -- AES-256-GCM ciphertexts (secretbox), never the secret in clear.
    secret_enc                 bytea NOT NULL,
    previous_secret_enc        bytea,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
CREATE INDEX webhooks_account_created_idx ON webhooks (account_id, created_at DESC, id DESC);
-- Subscription resolution: enabled webhooks of an account by event type.
CREATE INDEX webhooks_match_idx ON webhooks USING gin (event_types) WHERE enabled;

CREATE TABLE events (
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id             text NOT NULL,
    type           text NOT NULL,
    trigger_source text NOT NULL,
    app_id         text NOT NULL DEFAULT '',
    occurred_at    timestamptz NOT NULL,
    data           jsonb NOT NULL,
    workflow_id    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
CREATE INDEX events_account_created_idx ON events (account_id, created_at DESC);

CREATE TABLE deliveries (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    event_id      text NOT NULL,
    -- No foreign key: the delivery log outlives a deleted webhook.
    webhook_id    uuid NOT NULL,
    event_type    text NOT NULL,
    -- The webhook-id header: the same on every retry and resend.
    message_id    text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'cancelled')),
    status_reason text NOT NULL DEFAULT '',
    attempt_count integer NOT NULL DEFAULT 0,
    series        integer NOT NULL DEFAULT 1,
    workflow_id   text NOT NULL,
    next_attempt_at timestamptz,
    last_status_code integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (account_id, event_id) REFERENCES events (account_id, id) ON DELETE CASCADE,
    UNIQUE (account_id, event_id, webhook_id)
);
CREATE INDEX deliveries_account_created_idx ON deliveries (account_id, created_at DESC, id DESC);
CREATE INDEX deliveries_webhook_status_idx ON deliveries (webhook_id, status);

CREATE TABLE attempts (
    delivery_id     uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    series          integer NOT NULL,
    number          integer NOT NULL,
    url             text NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    response_status integer,
    response_body   text NOT NULL DEFAULT '',
    error           text NOT NULL DEFAULT '',
    -- Primary key makes a retried activity overwrite, never duplicate, its row.
    PRIMARY KEY (delivery_id, series, number)
);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhooks;
DROP TABLE api_keys;
DROP TABLE accounts;
