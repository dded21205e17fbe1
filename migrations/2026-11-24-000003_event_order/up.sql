-- Events are delivered in (seq, id) order, where seq is the oldest transaction id not yet
-- assigned when the event is written (pg_snapshot_xmax of the statement's snapshot), not the
-- writing transaction's own id. A transaction gets its id at its first write, possibly long
-- before it writes an event (a job that locks customers, then waits on a sync's row lock);
-- ordered by that id, its "task CANCELLED" (version 2) could be delivered before the sync's
-- "task CREATED" (version 1). seq is taken when the event is written, after the locks that
-- order changes to one entity, so one entity's events keep their version order; and an
-- event is settled once seq < pg_snapshot_xmin (no running transaction can still write an
-- event with a smaller seq).
ALTER TABLE events ADD COLUMN seq bigint;
UPDATE events SET seq = tx_id;
ALTER TABLE events ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN seq SET DEFAULT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint;
DROP INDEX events_position;
DROP INDEX events_company_position;
CREATE INDEX events_order ON events (seq, id);
CREATE INDEX events_company_order ON events (company_id, seq, id);
