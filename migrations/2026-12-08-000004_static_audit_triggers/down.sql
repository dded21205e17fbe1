-- Back to the one dynamic function of 2026-12-07-000009.
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
        ARRAY['consents', 'consent', 'company_id', 'id'],
        ARRAY['tasks', 'task', 'company_id', 'id']
    ];
    t text[];
BEGIN
    FOREACH t SLICE 1 IN ARRAY audited LOOP
        IF t[1] <> 'tasks' THEN
            EXECUTE format('DROP TRIGGER audit_insert ON %I', t[1]);
            EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows'
                || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
            EXECUTE format('DROP TRIGGER audit_delete ON %I', t[1]);
            EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows'
                || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
        END IF;
        EXECUTE format('DROP TRIGGER audit_update ON %I', t[1]);
        EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %I'
            || ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
            || ' FOR EACH STATEMENT EXECUTE FUNCTION audit_changes(%L, %L, %L)', t[1], t[2], t[3], t[4]);
        EXECUTE format('DROP FUNCTION %I()', 'audit_' || t[1]);
    END LOOP;
END;
$$;
