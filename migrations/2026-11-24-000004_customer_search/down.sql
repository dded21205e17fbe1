DROP INDEX IF EXISTS customers_phone_trgm;
DROP INDEX IF EXISTS customers_search;
