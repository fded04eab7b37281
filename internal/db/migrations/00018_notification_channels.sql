-- +goose Up
-- Notices to people (issue 23, docs/notices.md): an account's channels —
-- e-mail recipients or a team chat's robot — each choosing the kinds of
-- notice it gets, and the notices owed to each channel.
CREATE TABLE notification_channels (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind          text NOT NULL CHECK (kind IN ('email', 'dingtalk', 'wecom', 'feishu', 'slack', 'teams')),
    language      text NOT NULL CHECK (language IN ('en', 'zh-CN')),
    recipients    text[] NOT NULL DEFAULT '{}',
    -- A chat's webhook URL holds the platform's token: sealed
    -- (secretbox, ChannelAAD), shown as url_hint (scheme and host) only.
    url_enc       bytea,
    url_hint      text NOT NULL DEFAULT '',
    -- DingTalk's and Feishu's signing secret, sealed; NULL: unsigned.
    secret_enc    bytea,
    notice_types  text[] NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    last_sent_at  timestamptz,
    last_ok       boolean,
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name),
    CHECK ((kind = 'email') = (url_enc IS NULL))
);

-- A notice owed to a channel: written by the trigger below in the
-- transaction that stores the operational event, so no notice is lost;
-- handed to Temporal (dispatched_at) by the notice dispatcher, sent (and
-- each attempt's outcome recorded) by the channel's digest workflow.
CREATE TABLE channel_notices (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id     uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    account_id     uuid NOT NULL,
    event_id       text NOT NULL,
    event_type     text NOT NULL,
    webhook_id     text NOT NULL DEFAULT '',
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at  timestamptz,
    sent_at        timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    UNIQUE (channel_id, event_id)
);
CREATE INDEX channel_notices_undispatched ON channel_notices (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX channel_notices_channel ON channel_notices (channel_id, created_at DESC);

-- +goose StatementBegin
CREATE FUNCTION channel_notices_owed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO channel_notices (channel_id, account_id, event_id, event_type, webhook_id, data)
    SELECT c.id, NEW.account_id, NEW.id, NEW.type, coalesce(NEW.data ->> 'webhookId', ''), NEW.data
    FROM notification_channels c
    WHERE c.account_id = NEW.account_id AND c.enabled AND NEW.type = ANY (c.notice_types)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Only the engine's operational events (trigger source system) are
-- notices; a test send of one (test = true) is not.
CREATE TRIGGER channel_notices_owed AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.trigger_source = 'system' AND NOT NEW.test)
    EXECUTE FUNCTION channel_notices_owed();

-- +goose Down
DROP TRIGGER channel_notices_owed ON events;
DROP FUNCTION channel_notices_owed();
DROP TABLE channel_notices;
DROP TABLE notification_channels;
