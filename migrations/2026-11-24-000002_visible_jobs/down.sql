DROP INDEX IF EXISTS jobs_company;
DROP INDEX IF EXISTS jobs_due;
CREATE INDEX jobs_due ON jobs (run_after) WHERE status = 'PENDING';
ALTER TABLE jobs DROP COLUMN done, DROP COLUMN total;
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
UPDATE jobs SET status = 'PENDING' WHERE status = 'RUNNING';
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('PENDING', 'DONE', 'FAILED'));
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('BUILD_SCHEDULES'));
