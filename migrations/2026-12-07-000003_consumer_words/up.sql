-- The consumer's own words: a contact hold on a customer (attorney, cease request, dispute),
-- kept until released; a suppressed number says where the suppression came from (the
-- company's list, or the consumer on a call: an opt-out or a wrong number, which no schedule
-- may ignore); a call keeps the outcome its agent reported.
ALTER TABLE customers
    ADD COLUMN contact_hold_reason text
        CHECK (contact_hold_reason IN ('ATTORNEY_REPRESENTED', 'CEASE_REQUESTED', 'DISPUTE', 'OTHER')),
    ADD COLUMN contact_hold_since  timestamptz,
    ADD COLUMN contact_hold_note   text;
ALTER TABLE suppressed_numbers
    ADD COLUMN source text NOT NULL DEFAULT 'COMPANY'
        CHECK (source IN ('COMPANY', 'CONSUMER_OPT_OUT', 'WRONG_NUMBER'));
ALTER TABLE calls
    ADD COLUMN outcome text
        CHECK (outcome IN ('OPT_OUT', 'WRONG_NUMBER', 'ATTORNEY_REPRESENTED', 'CEASE_REQUESTED'));
