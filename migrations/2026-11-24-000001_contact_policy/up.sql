-- One contact policy for every path that dials.

-- Which path placed a call: makeCall, the dialer (a scheduled task), a bulk import, or an
-- attempt recorded from outside callsync (recordCallAttempts). Every one counts toward caps.
ALTER TABLE calls
    ADD COLUMN source text NOT NULL DEFAULT 'MAKE_CALL'
        CHECK (source IN ('MAKE_CALL', 'SCHEDULED', 'BULK', 'EXTERNAL')),
    -- 1 when created, +1 with every change: events of one call are delivered in this order.
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- bulkAddCustomers' callConfig.dispositionId, stored on each call it creates.
    ADD COLUMN disposition_id text;
UPDATE calls SET source = 'SCHEDULED' WHERE task_id IS NOT NULL;

ALTER TABLE tasks ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

-- The contact history of a person: calls to the customer or to its number, newest first.
CREATE INDEX calls_company_customer ON calls (company_id, customer_id, created_at DESC) WHERE customer_id IS NOT NULL;
