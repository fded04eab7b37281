-- +goose Up
-- The admin console (package console): one-time sign-in links minted by the
-- product's backend, and the server-side sessions they are exchanged for.
-- Only SHA-256 hashes of the link tokens and session ids are stored.
CREATE TABLE console_links (
    token_hash  bytea PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    return_url  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX console_links_expires_at ON console_links (expires_at);

CREATE TABLE console_sessions (
    id_hash       bytea PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('admin', 'member')),
    return_url    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
DROP TABLE console_links;
