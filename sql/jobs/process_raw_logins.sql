-- The scheduled job: process everything staged, in batches.
--
--   psql -X -q -v ON_ERROR_STOP=1 -d loginvault -f sql/jobs/process_raw_logins.sql
--   psql ... -v batch_size=5000 -f sql/jobs/process_raw_logins.sql
--
-- Run it as a role granted loginvault_loader (or the owner). It must not run
-- inside a transaction block (the procedure COMMITs after each batch), so do
-- not use psql --single-transaction. Its last line of output is the
-- procedure's summary NOTICE; the run is also in loginvault.process_runs.
-- When the installation keeps its mask key outside the database, set
-- LOGINVAULT_MASK_KEY_FILE to the file holding it (hex, one key per line):
-- the job copies it into the session with \copy (COPY data is never logged)
-- and loginvault.supply_mask_keys() checks it (sql/definitions/15_mask_keys.sql).
\getenv mask_key_file LOGINVAULT_MASK_KEY_FILE
\if :{?mask_key_file}
  SET client_min_messages = warning;
  DROP TABLE IF EXISTS pg_temp.loginvault_mask_key;
  CREATE TEMP TABLE loginvault_mask_key (key_hex text);
  \copy loginvault_mask_key FROM PROGRAM 'cat -- "$LOGINVAULT_MASK_KEY_FILE"'
  SELECT loginvault.supply_mask_keys() AS mask_key_versions \g /dev/null
\endif
\if :{?batch_size}
\else
  \set batch_size 10000
\endif
SET client_min_messages = notice;
CALL public.process_raw_logins(:batch_size);
