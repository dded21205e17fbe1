-- Ready to distribute by company (issue 25, point 4): every tenant table's primary key and
-- unique keys lead with company_id, and every foreign key between tenant tables carries it on
-- both sides, so Citus can distribute the schema by company_id unchanged (all tenant tables
-- co-located) and no row can point at another company's row. `companies` and `api_keys` stay
-- as they are: they are reference tables (see docs/scaling.md and tests/api/distribution.rs).
-- Ids stay globally unique (their sequences and uuids are unchanged); a lookup by id alone
-- now has no index, so every query names the company (src/store/).

-- Foreign keys by id alone go first: they depend on the primary keys replaced below.
ALTER TABLE loans DROP CONSTRAINT loans_customer_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_customer_id_fkey,
                  DROP CONSTRAINT tasks_schedule_id_fkey;
ALTER TABLE calls DROP CONSTRAINT calls_customer_id_fkey,
                  DROP CONSTRAINT calls_schedule_id_fkey,
                  DROP CONSTRAINT calls_task_id_fkey;

ALTER TABLE schedules DROP CONSTRAINT schedules_pkey, ADD PRIMARY KEY (company_id, id);
ALTER TABLE customers DROP CONSTRAINT customers_pkey, ADD PRIMARY KEY (company_id, id);
ALTER TABLE loans     DROP CONSTRAINT loans_pkey,     ADD PRIMARY KEY (company_id, id);
ALTER TABLE tasks     DROP CONSTRAINT tasks_pkey,     ADD PRIMARY KEY (company_id, id);
ALTER TABLE calls     DROP CONSTRAINT calls_pkey,     ADD PRIMARY KEY (company_id, id);
ALTER TABLE consents  DROP CONSTRAINT consents_pkey,  ADD PRIMARY KEY (company_id, id);
ALTER TABLE events    DROP CONSTRAINT events_pkey,    ADD PRIMARY KEY (company_id, id);
ALTER TABLE jobs      DROP CONSTRAINT jobs_pkey,      ADD PRIMARY KEY (company_id, id);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey, ADD PRIMARY KEY (company_id, id);

-- A customer's loan ids are unique within the customer, which is within one company.
ALTER TABLE loans DROP CONSTRAINT loans_customer_id_loan_id_key,
    ADD CONSTRAINT loans_company_customer_loan_key UNIQUE (company_id, customer_id, loan_id);

-- The same actions as before; SET NULL names its column, so a call keeps its company_id when
-- its customer, schedule or task goes.
ALTER TABLE loans ADD CONSTRAINT loans_customer_fkey FOREIGN KEY (company_id, customer_id)
    REFERENCES customers (company_id, id) ON DELETE CASCADE;
ALTER TABLE tasks
    ADD CONSTRAINT tasks_customer_fkey FOREIGN KEY (company_id, customer_id)
        REFERENCES customers (company_id, id) ON DELETE CASCADE,
    ADD CONSTRAINT tasks_schedule_fkey FOREIGN KEY (company_id, schedule_id)
        REFERENCES schedules (company_id, id) ON DELETE CASCADE;
ALTER TABLE calls
    ADD CONSTRAINT calls_customer_fkey FOREIGN KEY (company_id, customer_id)
        REFERENCES customers (company_id, id) ON DELETE SET NULL (customer_id),
    ADD CONSTRAINT calls_schedule_fkey FOREIGN KEY (company_id, schedule_id)
        REFERENCES schedules (company_id, id) ON DELETE SET NULL (schedule_id),
    ADD CONSTRAINT calls_task_fkey FOREIGN KEY (company_id, task_id)
        REFERENCES tasks (company_id, id) ON DELETE SET NULL (task_id);

-- The job runner claims the oldest live job of any company (ORDER BY id), which walked the
-- primary key in id order; that key now leads with the company. Only live jobs, so it stays
-- small (a plain index: Citus allows those without the company).
CREATE INDEX jobs_live_order ON jobs (id) WHERE status IN ('PENDING', 'RUNNING');
