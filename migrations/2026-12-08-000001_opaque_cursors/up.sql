-- Opaque identifiers (issue 27, item 3): a customer cursor carries the sort key and the
-- customer's public id (external_id, unique in its company) instead of the internal row id,
-- whose global sequence would let a company count everyone's customers. The list orders ties
-- by external_id, so the sort indexes take it in place of id (same columns otherwise).
DROP INDEX customers_company_created;
CREATE INDEX customers_company_created
    ON customers (company_id, created_at, external_id, state, task_type, is_test, do_not_call);
DROP INDEX customers_company_updated;
CREATE INDEX customers_company_updated
    ON customers (company_id, updated_at, external_id, state, task_type, is_test, do_not_call, created_at);
DROP INDEX customers_company_last_name_list;
CREATE INDEX customers_company_last_name_list
    ON customers (company_id, coalesce(last_name, ''), external_id, state, task_type, is_test, do_not_call, created_at);
