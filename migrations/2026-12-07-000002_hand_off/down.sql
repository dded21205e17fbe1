ALTER TABLE companies DROP COLUMN queued_call_ttl_seconds;
DROP INDEX calls_queued_unclaimed;
DROP INDEX calls_queued_expiry;
ALTER TABLE calls DROP COLUMN cancel_reason, DROP COLUMN handed_off_at, DROP COLUMN expires_at;
