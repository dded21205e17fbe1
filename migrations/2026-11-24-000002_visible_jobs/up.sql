-- Jobs are visible (job(id)), bounded (a job that keeps failing stops, FAILED with its error),
-- and a kind this version does not know fails instead of being marked done.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('PENDING', 'RUNNING', 'DONE', 'FAILED'));
-- How many items (customers) the job covers, and how many are done.
ALTER TABLE jobs ADD COLUMN total integer NOT NULL DEFAULT 0, ADD COLUMN done integer NOT NULL DEFAULT 0;
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_after) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX jobs_company ON jobs (company_id, id);
