-- The retention job: remove rows past the ages in loginvault.retention, in batches.
--
--   psql -X -q -v ON_ERROR_STOP=1 -d loginvault -f sql/jobs/apply_retention.sql
--   psql ... -v batch_size=5000 -f sql/jobs/apply_retention.sql
--
-- Run it as the owner, outside a transaction block (no --single-transaction:
-- the procedure COMMITs after each batch), e.g. daily from cron. One NOTICE per
-- kind of row says how many went. Nothing is removed while every keep_for is NULL.
\if :{?batch_size}
\else
  \set batch_size 10000
\endif
SET client_min_messages = notice;
CALL loginvault.apply_retention(:batch_size);
