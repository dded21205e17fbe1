ALTER TABLE customers DROP COLUMN phone_line_type, DROP COLUMN inconvenient_times;
