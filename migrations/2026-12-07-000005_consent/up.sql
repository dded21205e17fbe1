-- Consent belongs to a number (TCPA 47 CFR 64.1200(a)(1)-(3); an AI voice is an artificial
-- voice, FCC 24-17): who gave it, how, with what evidence, and when it was revoked. A
-- customer's own number without a row has the default PRIOR_EXPRESS consent from
-- PROVIDED_BY_CONSUMER (derived, not stored); a revocation is a row, so re-sending the number
-- does not restore it.
CREATE TABLE consents (
    id           bigserial PRIMARY KEY,
    company_id   uuid        NOT NULL REFERENCES companies (id),
    phone_number text        NOT NULL,
    type         text        NOT NULL CHECK (type IN ('PRIOR_EXPRESS', 'PRIOR_EXPRESS_WRITTEN')),
    source       text        NOT NULL
        CHECK (source IN ('PROVIDED_BY_CONSUMER', 'WEB_FORM', 'RECORDED_CALL', 'SIGNED_AGREEMENT', 'OTHER')),
    evidence     text,
    obtained_at  timestamptz NOT NULL,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX consents_company_number ON consents (company_id, phone_number);
