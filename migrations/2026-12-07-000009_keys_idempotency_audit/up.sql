-- Keys with scopes, idempotent writes, and the audit trail (issue 23).

-- What a key may do: FULL, READ_ONLY (no mutation), NO_PII (reads without SSN digits,
-- birthday and email). `last_used_at` is refreshed at most once a minute per instance.
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'FULL' CHECK (scope IN ('FULL', 'READ_ONLY', 'NO_PII')),
    ADD COLUMN last_used_at timestamptz;

-- A write's first answer, kept 24 hours under the client's Idempotency-Key so that a retry
-- gets it back instead of writing again. `status` is NULL while the first request runs.
CREATE TABLE idempotency_keys (
    company_id    uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status        smallint,
    content_type  text,
    body          bytea,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (company_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Who changed what: one row per entity a mutation or REST call changed. The rows are written
-- by the triggers below, inside the change's own transaction, from `callsync.audit`, which
-- the application sets (SET LOCAL) for writes made on behalf of an API key:
-- 'company id|api key id (may be empty)|instant (RFC 3339)|operation'. Background work
-- (the dialer, webhooks) sets nothing and is not recorded.
CREATE TABLE audit_log (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    api_key_id   uuid,
    operation    text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL
);
CREATE INDEX audit_log_page ON audit_log (company_id, at DESC, id DESC);
CREATE INDEX audit_log_entity ON audit_log (company_id, entity_id, at DESC, id DESC);

-- One statement-level trigger function for every audited table: TG_ARGV[0] is the entity
-- type, TG_ARGV[1] the column holding the row's company, TG_ARGV[2] the id the API shows
-- (a customer's is the integration's own id). Updates that change nothing but
-- `updated_at` are not changes.
CREATE FUNCTION audit_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    context text := current_setting('callsync.audit', true);
    parts text[];
    changed text;
BEGIN
    IF context IS NULL OR context = '' THEN
        RETURN NULL;
    END IF;
    parts := string_to_array(context, '|');
    IF TG_OP = 'INSERT' THEN
        changed := 'SELECT n.' || quote_ident(TG_ARGV[2]) || '::text AS id, n.' || quote_ident(TG_ARGV[1])
            || ' AS company_id FROM new_rows n';
    ELSIF TG_OP = 'DELETE' THEN
        changed := 'SELECT o.' || quote_ident(TG_ARGV[2]) || '::text AS id, o.' || quote_ident(TG_ARGV[1])
            || ' AS company_id FROM old_rows o';
    ELSE
        changed := 'SELECT n.' || quote_ident(TG_ARGV[2]) || '::text AS id, n.' || quote_ident(TG_ARGV[1])
            || ' AS company_id'
            || ' FROM new_rows n JOIN old_rows o ON o.id = n.id'
            || ' WHERE to_jsonb(n) - ''updated_at'' IS DISTINCT FROM to_jsonb(o) - ''updated_at''';
    END IF;
    -- Only the caller's own company's rows: the context names it, the rows must match.
    EXECUTE 'INSERT INTO audit_log (company_id, at, api_key_id, operation, entity_type, entity_id)'
        || ' SELECT c.company_id, $1, $2, $3, $4, c.id FROM (' || changed || ') c'
        || ' WHERE c.company_id = $5'
        USING parts[3]::timestamptz, NULLIF(parts[2], '')::uuid, array_to_string(parts[4:], '|'),
              TG_ARGV[0], parts[1]::uuid;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    audited text[][] := ARRAY[
        ARRAY['customers', 'customer', 'company_id', 'external_id'],
        ARRAY['schedules', 'schedule', 'company_id', 'id'],
        ARRAY['calls', 'call', 'company_id', 'id'],
        ARRAY['companies', 'company', 'id', 'id'],
        ARRAY['api_keys', 'apiKey', 'company_id', 'id'],
        ARRAY['consents', 'consent', 'company_id', 'id']
    ];
    t text[];
BEGIN
    FOREACH t SLICE 1 IN ARRAY audited LOOP
        EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows'
            || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
        EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %I'
            || ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
            || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
        EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows'
            || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
    END LOOP;
END;
$$;

-- Tasks are recorded when a caller changes one (cancels, reports, reschedules it); the tasks
-- a sync plans or replaces are recorded as the change of their customer or schedule, so that
-- a 10,000-customer import does not write hundreds of thousands of audit rows.
CREATE TRIGGER audit_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_changes('task', 'company_id', 'id');
