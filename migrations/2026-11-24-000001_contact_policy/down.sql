DROP INDEX IF EXISTS calls_company_customer;
ALTER TABLE tasks DROP COLUMN version;
ALTER TABLE calls DROP COLUMN disposition_id, DROP COLUMN version, DROP COLUMN source;
