ALTER TABLE calls DROP COLUMN outcome;
ALTER TABLE suppressed_numbers DROP COLUMN source;
ALTER TABLE customers DROP COLUMN contact_hold_note, DROP COLUMN contact_hold_since, DROP COLUMN contact_hold_reason;
