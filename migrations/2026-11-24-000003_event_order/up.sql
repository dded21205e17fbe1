-- Events are delivered in (seq, id) order, where seq = GREATEST(the writing transaction's id,
-- pg_snapshot_xmax of the writing statement's snapshot), and an event is settled once
-- seq < pg_snapshot_xmin (the oldest running transaction).
--
-- Why not the transaction id alone: a transaction gets its id at its first write, possibly long
-- before it writes an event (a job that locks customers, then waits on a sync's row lock);
-- ordered by that id, its "task CANCELLED" (version 2) could be delivered before the sync's
-- "task CREATED" (version 1). The snapshot's xmax (one past the latest completed transaction)
-- is taken when the event is written, after the locks that order changes to one entity, so it
-- puts a later version after an earlier one; ties fall back to the insert order (id).
-- Why not xmax alone: it can be lower than a running transaction's own id, and so lower than a
-- position already delivered; GREATEST with the own id keeps every running transaction's
-- events at or above xmin, so nothing can ever appear before a delivered event.
ALTER TABLE events ADD COLUMN seq bigint;
UPDATE events SET seq = tx_id;
ALTER TABLE events ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN seq SET DEFAULT GREATEST((pg_current_xact_id()::text)::bigint,
                                          (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint);
DROP INDEX events_position;
DROP INDEX events_company_position;
CREATE INDEX events_order ON events (seq, id);
CREATE INDEX events_company_order ON events (company_id, seq, id);
