-- The audit triggers with their SQL written per table instead of composed at run time: one
-- shared function built its INSERT with EXECUTE, which Postgres parses and plans on every
-- audited statement (about 1.4 ms of a sync's update). A static statement in a plpgsql
-- function is planned once per connection and kept. What is recorded does not change (see
-- 2026-12-07-000009): the row's company and API-visible id, only the acting company's rows,
-- and an update that changes nothing but `updated_at` is not a change.
DO $$
DECLARE
    -- table, entity type, column holding the row's company, id the API shows
    audited text[][] := ARRAY[
        ARRAY['customers', 'customer', 'company_id', 'external_id'],
        ARRAY['schedules', 'schedule', 'company_id', 'id'],
        ARRAY['calls', 'call', 'company_id', 'id'],
        ARRAY['companies', 'company', 'id', 'id'],
        ARRAY['api_keys', 'apiKey', 'company_id', 'id'],
        ARRAY['consents', 'consent', 'company_id', 'id'],
        ARRAY['tasks', 'task', 'company_id', 'id']
    ];
    t text[];
BEGIN
    FOREACH t SLICE 1 IN ARRAY audited LOOP
        EXECUTE format($function$
CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    context text := current_setting('callsync.audit', true);
    parts text[];
BEGIN
    IF context IS NULL OR context = '' THEN
        RETURN NULL;
    END IF;
    -- 'company id|api key id (may be empty)|instant|operation (may hold |)'
    parts := string_to_array(context, '|');
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (company_id, at, api_key_id, operation, entity_type, entity_id)
        SELECT n.%3$I, parts[3]::timestamptz, NULLIF(parts[2], '')::uuid, array_to_string(parts[4:], '|'),
               %2$L, n.%4$I::text
        FROM new_rows n
        WHERE n.%3$I = parts[1]::uuid;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (company_id, at, api_key_id, operation, entity_type, entity_id)
        SELECT o.%3$I, parts[3]::timestamptz, NULLIF(parts[2], '')::uuid, array_to_string(parts[4:], '|'),
               %2$L, o.%4$I::text
        FROM old_rows o
        WHERE o.%3$I = parts[1]::uuid;
    ELSE
        INSERT INTO audit_log (company_id, at, api_key_id, operation, entity_type, entity_id)
        SELECT n.%3$I, parts[3]::timestamptz, NULLIF(parts[2], '')::uuid, array_to_string(parts[4:], '|'),
               %2$L, n.%4$I::text
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.%3$I = parts[1]::uuid
          AND to_jsonb(n) - 'updated_at' IS DISTINCT FROM to_jsonb(o) - 'updated_at';
    END IF;
    RETURN NULL;
END;
$body$
$function$, 'audit_' || t[1], t[2], t[3], t[4]);
        -- Tasks are recorded only when a caller changes one (2026-12-07-000009 says why).
        IF t[1] <> 'tasks' THEN
            EXECUTE format('DROP TRIGGER audit_insert ON %I', t[1]);
            EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows'
                || ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', t[1], 'audit_' || t[1]);
            EXECUTE format('DROP TRIGGER audit_delete ON %I', t[1]);
            EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows'
                || ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', t[1], 'audit_' || t[1]);
        END IF;
        EXECUTE format('DROP TRIGGER audit_update ON %I', t[1]);
        EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %I'
            || ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
            || ' FOR EACH STATEMENT EXECUTE FUNCTION %I()', t[1], 'audit_' || t[1]);
    END LOOP;
END;
$$;

DROP FUNCTION audit_changes();
