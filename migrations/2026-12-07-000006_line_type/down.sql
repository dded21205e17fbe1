ALTER TABLE calls DROP COLUMN line_type;
