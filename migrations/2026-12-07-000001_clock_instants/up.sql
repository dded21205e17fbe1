-- Every instant is written by the service's injected clock, never the database's: a column
-- default of now() let a row carry another clock than the rules compare it with (a job due by
-- the database's date was never due by the service's). Without defaults, a write that forgets
-- its instant fails instead of taking the wrong one.
ALTER TABLE companies ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE api_keys ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE schedules ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE customers ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE loans ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE tasks ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE calls ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE suppressed_numbers ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE events ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE jobs ALTER COLUMN run_after DROP DEFAULT, ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
