DROP INDEX customers_company_last_name_list;
CREATE INDEX customers_company_last_name_list
    ON customers (company_id, coalesce(last_name, ''), id, state, task_type, is_test, do_not_call, created_at);
DROP INDEX customers_company_updated;
CREATE INDEX customers_company_updated
    ON customers (company_id, updated_at, id, state, task_type, is_test, do_not_call, created_at);
DROP INDEX customers_company_created;
CREATE INDEX customers_company_created
    ON customers (company_id, created_at, id, state, task_type, is_test, do_not_call);
