DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'schedules', 'calls', 'tasks', 'companies', 'api_keys', 'consents'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_insert ON %I', t);
        EXECUTE format('DROP TRIGGER IF EXISTS audit_update ON %I', t);
        EXECUTE format('DROP TRIGGER IF EXISTS audit_delete ON %I', t);
    END LOOP;
END;
$$;
DROP FUNCTION audit_changes();
DROP TABLE audit_log;
DROP TABLE idempotency_keys;
ALTER TABLE api_keys DROP COLUMN last_used_at, DROP COLUMN scope;
