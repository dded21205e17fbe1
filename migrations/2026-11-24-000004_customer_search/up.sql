-- Substring search over a million customers without a sequential scan: trigram indexes
-- (pg_trgm ships with PostgreSQL and is a trusted extension).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- One index over the searchable fields, joined by a separator no search term contains, so a
-- term never matches across two fields; its expression is the one the search query uses.
CREATE INDEX customers_search ON customers USING gin (
    (external_id || E'\x01' || coalesce(first_name, '') || E'\x01' || coalesce(last_name, '')
     || E'\x01' || coalesce(email, '') || E'\x01' || coalesce(phone_number, '')) gin_trgm_ops);
-- A phone-like term also matches the phone by its digits alone.
CREATE INDEX customers_phone_trgm ON customers USING gin (phone_number gin_trgm_ops);
