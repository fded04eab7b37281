-- +goose Up
-- The audit log (issue 23, docs/audit.md): every change to an account's
-- webhooks, keys and sign-ins, who made it, when and from where; written
-- in the transaction of the change (db/audit.go). Secrets are never in
-- it, only that they changed.
--
-- Append-only: the trigger below refuses every UPDATE and TRUNCATE, and
-- every DELETE except the retention purge's (Store.PurgeAuditLog). That
-- purge sets webhookd.audit_purge_before for its own transaction only
-- (SET LOCAL) and may then delete rows older than it, never rows of the
-- last day. No foreign key to accounts: deleting an account must not
-- erase what was done in it.
CREATE TABLE audit_log (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_type     text NOT NULL CHECK (actor_type IN ('api_key', 'console', 'system')),
    actor_id       text NOT NULL,
    actor_name     text NOT NULL DEFAULT '',
    actor_role     text NOT NULL DEFAULT '',
    client_addr    text NOT NULL DEFAULT '',
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text NOT NULL,
    changes        jsonb NOT NULL DEFAULT '{}',
    details        jsonb NOT NULL DEFAULT '{}'
);
-- GET /v1/audit-log: an account's records newest first, narrowed by
-- actor, resource or action (few rows per account: the index on time
-- serves the filters too).
CREATE INDEX audit_log_account_at ON audit_log (account_id, at DESC, id DESC);
-- The purge: oldest first, every account.
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before timestamptz := nullif(current_setting('webhookd.audit_purge_before', true), '')::timestamptz;
BEGIN
    -- Nested: OLD is only there for a row's DELETE.
    IF TG_OP = 'DELETE' AND before IS NOT NULL AND before <= now() - interval '1 day' THEN
        IF OLD.at < before THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
