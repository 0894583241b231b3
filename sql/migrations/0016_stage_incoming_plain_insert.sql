-- 0016: stage_incoming_logins() without ON CONFLICT on its fast path.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/40_staging.sql.
--
-- Same contract as 0015 (the caller's pg_temp.loginvault_incoming in, the
-- counts (staged, duplicates, rejected) out, bad bodies quarantined with a
-- reason, redeliveries no-ops), cheaper per row. 0015 inserted with
-- ON CONFLICT (message_id) DO NOTHING; its speculative insertion (an extra
-- lock and WAL record per row) is paid on every row although a duplicate is
-- rare (a redelivery after a failed delete or a crash). Measured with psql on
-- PostgreSQL 15, 200,000 rows in 40 batches of 5,000 (COPY into the temp table,
-- this function, COMMIT), CPU time of the server process:
--   0015 (ON CONFLICT DO NOTHING)                       1.42-1.69 s
--   NOT EXISTS probe of raw_logins_pkey + plain INSERT  1.29-1.37 s
--   plain INSERT (this migration's fast path)           1.16-1.17 s
--   psql \copy of the same rows into an equal table     0.79-0.88 s
-- (the probe is a B-tree descent per row, almost what it saves).
--
-- The fast path is therefore a plain INSERT of the whole batch. It fails with
-- unique_violation if any message id is already in raw_logins (a redelivery),
-- appears twice in the batch, or is staged meanwhile by another loader (the
-- INSERT waits for that transaction and fails once it commits). That error is
-- caught, the subtransaction is rolled back (nothing of the attempt stays),
-- and the batch takes 0015's path: one INSERT ... ON CONFLICT (message_id)
-- DO NOTHING, and, if some body is not valid jsonb, every message through
-- stage_raw_login(), which quarantines the bad ones with a reason. A batch
-- with a duplicate thus pays for part of an INSERT twice; one without pays
-- nothing for the check.
--
-- Errors are caught, never raised: PostgreSQL quotes a fragment of the body
-- (possibly PII) in a jsonb cast error and the key in a unique_violation, and
-- a caught error is not written to the server log.
--
-- Still SECURITY INVOKER (the temp table is the caller's); grants are those of
-- 0015 (CREATE OR REPLACE keeps them).

CREATE OR REPLACE FUNCTION public.stage_incoming_logins(
  OUT staged     integer,
  OUT duplicates integer,
  OUT rejected   integer
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
DECLARE
  total    integer;
  bad_body boolean := false;
BEGIN
  SELECT count(*) INTO total FROM pg_temp.loginvault_incoming;

  -- Fast path: no duplicate expected.
  BEGIN
    INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
    SELECT i.message_id, i.body::jsonb, i.sent_at, i.receive_count
      FROM pg_temp.loginvault_incoming i;
    GET DIAGNOSTICS staged = ROW_COUNT;
    duplicates := total - staged;
    rejected := 0;
    RETURN;
  EXCEPTION
    WHEN unique_violation THEN
      NULL;             -- a redelivery, a duplicate in the batch, or a concurrent loader
    WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
      bad_body := true; -- some body is not valid jsonb: judge them one by one below
  END;

  -- 0015's path: set-based with ON CONFLICT, unless a body is known to be bad.
  IF NOT bad_body THEN
    BEGIN
      INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
      SELECT i.message_id, i.body::jsonb, i.sent_at, i.receive_count
        FROM pg_temp.loginvault_incoming i
      ON CONFLICT (message_id) DO NOTHING;
      GET DIAGNOSTICS staged = ROW_COUNT;
      duplicates := total - staged;
      rejected := 0;
      RETURN;
    EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
      NULL;
    END;
  END IF;

  SELECT count(*) FILTER (WHERE outcome = 'staged'),
         count(*) FILTER (WHERE outcome = 'duplicate'),
         count(*) FILTER (WHERE outcome = 'rejected')
    INTO staged, duplicates, rejected
  FROM (SELECT public.stage_raw_login(i.message_id, i.body, i.sent_at, i.receive_count) AS outcome
        FROM pg_temp.loginvault_incoming i) results;
END
$$;
COMMENT ON FUNCTION public.stage_incoming_logins() IS
  'Stage the batch in pg_temp.loginvault_incoming into raw_logins (plain INSERT; ON CONFLICT if an id is already there); invalid bodies are quarantined. Returns (staged, duplicates, rejected).';
