-- Back to keys by id alone (the foreign keys' original names and actions).
DROP INDEX jobs_live_order;
ALTER TABLE loans DROP CONSTRAINT loans_customer_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_customer_fkey, DROP CONSTRAINT tasks_schedule_fkey;
ALTER TABLE calls DROP CONSTRAINT calls_customer_fkey, DROP CONSTRAINT calls_schedule_fkey,
                  DROP CONSTRAINT calls_task_fkey;

ALTER TABLE loans DROP CONSTRAINT loans_company_customer_loan_key,
    ADD CONSTRAINT loans_customer_id_loan_id_key UNIQUE (customer_id, loan_id);

ALTER TABLE schedules DROP CONSTRAINT schedules_pkey, ADD PRIMARY KEY (id);
ALTER TABLE customers DROP CONSTRAINT customers_pkey, ADD PRIMARY KEY (id);
ALTER TABLE loans     DROP CONSTRAINT loans_pkey,     ADD PRIMARY KEY (id);
ALTER TABLE tasks     DROP CONSTRAINT tasks_pkey,     ADD PRIMARY KEY (id);
ALTER TABLE calls     DROP CONSTRAINT calls_pkey,     ADD PRIMARY KEY (id);
ALTER TABLE consents  DROP CONSTRAINT consents_pkey,  ADD PRIMARY KEY (id);
ALTER TABLE events    DROP CONSTRAINT events_pkey,    ADD PRIMARY KEY (id);
ALTER TABLE jobs      DROP CONSTRAINT jobs_pkey,      ADD PRIMARY KEY (id);
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey, ADD PRIMARY KEY (id);

ALTER TABLE loans ADD CONSTRAINT loans_customer_id_fkey FOREIGN KEY (customer_id)
    REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE tasks
    ADD CONSTRAINT tasks_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE,
    ADD CONSTRAINT tasks_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE CASCADE;
ALTER TABLE calls
    ADD CONSTRAINT calls_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL,
    ADD CONSTRAINT calls_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE SET NULL,
    ADD CONSTRAINT calls_task_id_fkey FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE SET NULL;
