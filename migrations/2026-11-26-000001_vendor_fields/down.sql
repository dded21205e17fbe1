ALTER TABLE customers DROP COLUMN timezone_inferred;
ALTER TABLE schedules DROP COLUMN required_customer_fields;
