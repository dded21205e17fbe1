-- Coming from the seed vendors (issue 12): a campaign decides which fields its customers must
-- have (the default is what createCustomer has always required), and a customer's timezone may
-- be inferred from its ZIP or area code rather than given.
ALTER TABLE schedules
    ADD COLUMN required_customer_fields text[] NOT NULL DEFAULT ARRAY[
        'FIRST_NAME', 'LAST_NAME', 'EMAIL', 'BIRTHDAY', 'PHONE_NUMBER', 'TIMEZONE',
        'STREET_ADDRESS1', 'CITY', 'STATE', 'ZIP_CODE'
    ]::text[];

ALTER TABLE customers ADD COLUMN timezone_inferred boolean NOT NULL DEFAULT false;
