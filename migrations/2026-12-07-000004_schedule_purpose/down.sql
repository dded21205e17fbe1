ALTER TABLE schedules DROP COLUMN purpose;
