ALTER TABLE customers DROP COLUMN picture_url;
