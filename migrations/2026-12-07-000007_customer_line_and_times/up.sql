-- What the consumer's number is and when they said not to call: the line type decides whether
-- consent is needed or the landline allowance applies (47 CFR 64.1200(a)(1)-(3)); NULL is
-- UNKNOWN (treated as a cell) and returns to it when the number changes. Inconvenient times
-- are customer-local weekday ranges the consumer named (Reg F 12 CFR 1006.6(b)(1)); NULL or
-- an empty list is none.
ALTER TABLE customers
    ADD COLUMN phone_line_type text CHECK (phone_line_type IN ('WIRELESS', 'LANDLINE', 'VOIP', 'UNKNOWN')),
    ADD COLUMN inconvenient_times jsonb;
