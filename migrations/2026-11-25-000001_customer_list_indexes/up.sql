-- Customer lists at a million customers in one company (issue 11, target 2): the first page of
-- any sort and filter, and each keyset page after it, in a few milliseconds.
--
-- One index per sort order (CREATED_AT, UPDATED_AT, LAST_NAME, ID), led by the company and the
-- sort key, so a page walks the index in order and stops after 51 rows. The filter columns
-- (state, taskType, isTest, doNotCall, and createdAt for the other orders) follow as trailing
-- key columns: btree checks a condition on them against the index entry itself, so a filter
-- that keeps 1 customer in 500 (state WY) skips the other 499 without reading their rows. They
-- widen existing indexes instead of adding new ones, so the customer write path (sync) keeps
-- almost the same index count:
--   * customers_company_created, customers_company_updated: widened in place.
--   * customers_company_last_name (company_id, last_name, id) could not serve the LAST_NAME
--     order, which sorts by coalesce(last_name, '') (NULL last names sort as empty so the keyset
--     comparison stays total): replaced by an index on that expression.
--   * customers_company_external_id_list: ID order with filters; the unique constraint's index
--     (company_id, external_id) cannot take the filter columns as keys.
DROP INDEX customers_company_created;
CREATE INDEX customers_company_created
    ON customers (company_id, created_at, id, state, task_type, is_test, do_not_call);
DROP INDEX customers_company_updated;
CREATE INDEX customers_company_updated
    ON customers (company_id, updated_at, id, state, task_type, is_test, do_not_call, created_at);
DROP INDEX customers_company_last_name;
CREATE INDEX customers_company_last_name_list
    ON customers (company_id, coalesce(last_name, ''), id, state, task_type, is_test, do_not_call, created_at);
CREATE INDEX customers_company_external_id_list
    ON customers (company_id, external_id, state, task_type, is_test, do_not_call, created_at);
-- A rare state (or one nobody lives in) would walk a whole sort index: this finds its few
-- customers directly, to be sorted (rare task types have customers_company_task_type).
CREATE INDEX customers_company_state ON customers (company_id, state);

-- Search: a phone-like term's digits are now looked up in customers_search (the phone is part
-- of its text) and then checked against the phone, so the second trigram index, the most
-- expensive kind to keep up on every customer write, goes.
DROP INDEX customers_phone_trgm;
-- Finer statistics for the searchable text, so the planner tells a rare substring from a
-- common one more often (1,000 histogram entries instead of 100).
ALTER INDEX customers_search ALTER COLUMN 1 SET STATISTICS 1000;
