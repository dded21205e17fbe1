-- The phone-identity vendor's `picture_url`: a link to the customer's picture, kept and
-- returned so a team switching from that vendor loses nothing it sends.
ALTER TABLE customers ADD COLUMN picture_url text;
