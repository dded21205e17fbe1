DROP INDEX IF EXISTS events_company_order;
DROP INDEX IF EXISTS events_order;
CREATE INDEX events_position ON events (tx_id, id);
CREATE INDEX events_company_position ON events (company_id, tx_id, id);
ALTER TABLE events DROP COLUMN seq;
