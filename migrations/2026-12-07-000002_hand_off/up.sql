-- The decision holds when the phone rings: a QUEUED call is decided again when a provider gets
-- it (handed_off_at), stops waiting at expires_at, and a cancelled call says why.
ALTER TABLE calls
    ADD COLUMN expires_at    timestamptz,
    ADD COLUMN handed_off_at timestamptz,
    ADD COLUMN cancel_reason text;
-- Calls queued before this migration wait at most the default time-to-live from now on.
UPDATE calls SET expires_at = created_at + interval '900 seconds' WHERE status = 'QUEUED';
-- The expiry sweep and claimCalls read waiting calls in this order.
CREATE INDEX calls_queued_expiry ON calls (expires_at) WHERE status = 'QUEUED';
CREATE INDEX calls_queued_unclaimed ON calls (company_id, created_at) WHERE status = 'QUEUED' AND handed_off_at IS NULL;

ALTER TABLE companies
    ADD COLUMN queued_call_ttl_seconds integer NOT NULL DEFAULT 900
        CHECK (queued_call_ttl_seconds BETWEEN 5 AND 3600);
