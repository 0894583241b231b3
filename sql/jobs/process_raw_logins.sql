-- The scheduled job: process everything staged, in batches.
--
--   psql -X -q -v ON_ERROR_STOP=1 -d loginvault -f sql/jobs/process_raw_logins.sql
--   psql ... -v batch_size=5000 -f sql/jobs/process_raw_logins.sql
--
-- Run it as a role granted loginvault_loader (or the owner). It must not run
-- inside a transaction block (the procedure COMMITs after each batch), so do
-- not use psql --single-transaction. Its last line of output is the
-- procedure's summary NOTICE; the run is also in loginvault.process_runs.
\if :{?batch_size}
\else
  \set batch_size 10000
\endif
SET client_min_messages = notice;
CALL public.process_raw_logins(:batch_size);
