-- The whole contract's tables, so later capabilities extend rather than redo.
-- Every row carries company_id: tenancy is enforced by every query filtering on it.

CREATE TABLE companies (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    calls_per_second_limit integer NOT NULL DEFAULT 5 CHECK (calls_per_second_limit BETWEEN 1 AND 1000),
    call_webhook_url       text,
    -- Secret: signs webhook deliveries (HMAC-SHA256); never returned by any query.
    call_webhook_secret    text,
    lms_base_url           text,
    -- Secret: stored for the LMS connector, never returned by any query.
    lms_api_key            text,
    -- Company overrides of the built-in state calling-rule table (schedule builder).
    state_rules            jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(state_rules) = 'object'),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id  uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- SHA-256 of the full key; the key itself is shown once and never stored.
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    -- The first characters of the key, so a human can tell keys apart.
    prefix      text NOT NULL,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_company ON api_keys (company_id);

CREATE TABLE schedules (
    id                               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id                       uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name                             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description                      text,
    task_type                        text NOT NULL CHECK (length(task_type) BETWEEN 1 AND 64),
    paused                           boolean NOT NULL DEFAULT false,
    time_zone                        text,
    calling_hours_start              text NOT NULL CHECK (calling_hours_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    calling_hours_end                text NOT NULL CHECK (calling_hours_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    use_do_not_call                  boolean NOT NULL DEFAULT true,
    -- [{"dayOffset": int, "localTime": "HH:MM"}], sorted by (dayOffset, localTime).
    cadence                          jsonb NOT NULL CHECK (jsonb_typeof(cadence) = 'array'),
    max_attempts_per_7_days          integer NOT NULL DEFAULT 7 CHECK (max_attempts_per_7_days BETWEEN 1 AND 100),
    sortable_order                   double precision,
    lead_duplicate_timeframe_seconds integer CHECK (lead_duplicate_timeframe_seconds >= 0),
    -- Reg F 1006.14(b)(2)(ii): after a conversation, no call for 7 days (pending tasks move past it).
    quiet_period_after_conversation  boolean NOT NULL DEFAULT true,
    -- Maintained by call creation so that CALLS_COUNT / LAST_CALL_AT ordering is an index scan.
    calls_count                      integer NOT NULL DEFAULT 0 CHECK (calls_count >= 0),
    last_call_at                     timestamptz,
    created_at                       timestamptz NOT NULL DEFAULT now(),
    updated_at                       timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: tasks and calls keep their schedule; the task type is freed.
    deleted_at                       timestamptz,
    CHECK (calling_hours_start < calling_hours_end)
);
CREATE UNIQUE INDEX schedules_company_task_type ON schedules (company_id, task_type) WHERE deleted_at IS NULL;
CREATE INDEX schedules_company_created ON schedules (company_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE customers (
    id                bigserial PRIMARY KEY,
    company_id        uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    -- The integration's own reference id: the `id` of the GraphQL API.
    external_id       text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    first_name        text,
    last_name         text,
    email             text,
    birthday          date,
    ssn_last_four     text CHECK (ssn_last_four ~ '^[0-9]{4}$'),
    phone_number      text CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
    timezone          text,
    task_type         text,
    street_address1   text,
    street_address2   text,
    city              text,
    state             text CHECK (state ~ '^[A-Z]{2}$'),
    zip_code          text CHECK (zip_code ~ '^[0-9]{5}(-[0-9]{4})?$'),
    do_not_call       boolean NOT NULL DEFAULT false,
    is_test           boolean NOT NULL DEFAULT false,
    external_metadata jsonb CHECK (external_metadata IS NULL OR jsonb_typeof(external_metadata) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, external_id)
);
CREATE INDEX customers_company_phone ON customers (company_id, phone_number);
CREATE INDEX customers_company_created ON customers (company_id, created_at, id);
CREATE INDEX customers_company_updated ON customers (company_id, updated_at, id);
CREATE INDEX customers_company_last_name ON customers (company_id, last_name, id);
CREATE INDEX customers_company_task_type ON customers (company_id, task_type);

CREATE TABLE loans (
    id                  bigserial PRIMARY KEY,
    company_id          uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    loan_id             text NOT NULL CHECK (length(loan_id) BETWEEN 1 AND 255),
    amount              double precision,
    installment_amount  double precision,
    period_months       integer,
    current_installment integer,
    due_date            date,
    payment_status      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, loan_id)
);
CREATE INDEX loans_company ON loans (company_id);

CREATE TABLE tasks (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id    uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    customer_id   bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    schedule_id   uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    task_type     text NOT NULL,
    status        text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED')),
    attempt       integer NOT NULL CHECK (attempt >= 1),
    scheduled_for timestamptz NOT NULL,
    -- The IANA zone the task was built in, for the customer-local rendering.
    time_zone     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_company_scheduled ON tasks (company_id, scheduled_for, id);
-- Serves cancelling a customer's pending tasks and reading its recent attempts (with the time,
-- so the planner never prefers scanning the company's whole schedule).
CREATE INDEX tasks_customer_status ON tasks (customer_id, status, scheduled_for);
CREATE INDEX tasks_schedule_status ON tasks (schedule_id, status);
CREATE INDEX tasks_due ON tasks (scheduled_for) WHERE status = 'PENDING';

CREATE TABLE calls (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id       uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    customer_id      bigint REFERENCES customers (id) ON DELETE SET NULL,
    schedule_id      uuid REFERENCES schedules (id) ON DELETE SET NULL,
    task_id          uuid REFERENCES tasks (id) ON DELETE SET NULL,
    to_number        text NOT NULL CHECK (to_number ~ '^\+[1-9][0-9]{6,14}$'),
    status           text NOT NULL DEFAULT 'QUEUED'
                     CHECK (status IN ('QUEUED', 'RINGING', 'IN_PROGRESS', 'COMPLETED', 'NO_ANSWER',
                                       'BUSY', 'VOICEMAIL', 'FAILED', 'CANCELLED')),
    agent_id         text,
    disposition      text,
    duration_seconds integer CHECK (duration_seconds >= 0),
    data             jsonb,
    started_at       timestamptz,
    ended_at         timestamptz,
    -- Webhook hand-off to the company's call provider: pending while next_at is set.
    webhook_attempts integer NOT NULL DEFAULT 0,
    webhook_next_at  timestamptz,
    -- When the last delivery attempt started: paces deliveries to the company's calls per second.
    webhook_sent_at  timestamptz,
    webhook_last_error text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_company_created ON calls (company_id, created_at DESC, id DESC);
CREATE INDEX calls_customer ON calls (customer_id, created_at DESC);
CREATE INDEX calls_schedule ON calls (schedule_id, created_at DESC);
CREATE INDEX calls_task ON calls (task_id);
CREATE INDEX calls_company_to_number ON calls (company_id, to_number, created_at DESC);
CREATE INDEX calls_webhook_due ON calls (webhook_next_at) WHERE webhook_next_at IS NOT NULL;
CREATE INDEX calls_webhook_sent ON calls (company_id, webhook_sent_at) WHERE webhook_sent_at IS NOT NULL;
CREATE INDEX calls_open ON calls (created_at) WHERE status IN ('QUEUED', 'RINGING', 'IN_PROGRESS');

-- The company-wide Do-Not-Call list.
CREATE TABLE suppressed_numbers (
    company_id   uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    phone_number text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, phone_number)
);

-- The outbox: every task and call status change, written in the same transaction as the change.
-- Ids are taken at insert, not at commit, so a later id can commit first. Events are therefore
-- read in (tx_id, id) order and only once every transaction below tx_id has finished
-- (tx_id < pg_snapshot_xmin(pg_current_snapshot())): from then on that prefix never changes.
CREATE TABLE events (
    id         bigserial PRIMARY KEY,
    tx_id      bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('TASK_CREATED', 'TASK_STATUS_CHANGED', 'TASK_RESCHEDULED',
                                     'CALL_CREATED', 'CALL_STATUS_CHANGED')),
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_position ON events (tx_id, id);
CREATE INDEX events_company_position ON events (company_id, tx_id, id);
CREATE INDEX events_created_at ON events (created_at);

-- Durable background work (e.g. building the schedules of a bulk import), run by the worker.
CREATE TABLE jobs (
    id         bigserial PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('BUILD_SCHEDULES')),
    payload    jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DONE', 'FAILED')),
    attempts   integer NOT NULL DEFAULT 0,
    -- Not before this time: set to a lease while a worker runs the job.
    run_after  timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_due ON jobs (run_after) WHERE status = 'PENDING';
