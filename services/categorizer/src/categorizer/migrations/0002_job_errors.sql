-- A job that fails for a reason other than an outage (a stored rule that no longer compiles, a bug) is
-- ended as `failed` with its reason, so it neither retries forever nor holds back the jobs behind it.
ALTER TABLE jobs ADD COLUMN error text;  -- state: running | succeeded | failed
