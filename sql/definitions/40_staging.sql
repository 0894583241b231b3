-- Staging: the loader's entry points into raw_logins (sql/migrations/0004),
-- the table of messages waiting for process_raw_logins.
--
-- The loader COPYs a batch into its session's temp table
--   pg_temp.loginvault_incoming (message_id text, body text,
--                                sent_at timestamptz, receive_count integer)
-- and calls stage_incoming_logins() in the same transaction. Messages it
-- must quarantine before staging (too_many_receives, nul_byte, invalid_utf8:
-- see 30_quarantine.sql) it passes to quarantine_raw_login instead.
--
-- stage_incoming_logins: the fast path is a plain INSERT of the whole batch,
-- without ON CONFLICT: ON CONFLICT's speculative insertion (an extra lock and
-- WAL record per row) is paid on every row although a duplicate is rare (a
-- redelivery after a failed delete or a crash). Measured with psql on
-- PostgreSQL 15, 200,000 rows in 40 batches of 5,000 (COPY into the temp
-- table, this function, COMMIT), CPU time of the server process:
--   INSERT ... ON CONFLICT (message_id) DO NOTHING      1.42-1.69 s
--   NOT EXISTS probe of raw_logins_pkey + plain INSERT  1.29-1.37 s
--   plain INSERT (the fast path)                        1.16-1.17 s
--   psql \copy of the same rows into an equal table     0.79-0.88 s
-- The plain INSERT fails with unique_violation if any message id is already
-- in raw_logins (a redelivery), appears twice in the batch, or is staged
-- meanwhile by another loader (the INSERT waits for that transaction and
-- fails once it commits). That error is caught, the subtransaction is rolled
-- back (nothing of the attempt stays), and the batch is inserted again with
-- ON CONFLICT (message_id) DO NOTHING. If some body is not valid jsonb, every
-- message of the batch goes through stage_raw_login(), which quarantines the
-- bad ones with a reason.
--
-- Errors are caught, never raised: PostgreSQL quotes a fragment of the body
-- (possibly PII) in a jsonb cast error and the key in a unique_violation, and
-- a caught error is not written to the server log.
--
-- SECURITY INVOKER on purpose: the temp table belongs to the caller's session
-- and role; the function needs no right the loader does not already have.
-- stage_raw_login and quarantine_raw_login are SECURITY DEFINER: the loader
-- may not read the keys or write rejected_logins itself.
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

  -- Set-based with ON CONFLICT, unless a body is known to be bad.
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

-- stage_raw_login: stage one message whose body is text of unknown quality.
-- Returns 'staged' (now in raw_logins), 'duplicate' (that message id was
-- already staged, or already quarantined) or 'rejected' (quarantined now,
-- reason: invalid_json, unsupported_unicode_escape, invalid_unicode_surrogate,
-- json_too_complex or empty_body). The cast error is caught here, so neither
-- the error nor the body fragment PostgreSQL quotes in it reach the log.
CREATE OR REPLACE FUNCTION public.stage_raw_login(
  message_id    text,
  body          text,
  sent_at       timestamptz,
  receive_count integer
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  doc    jsonb;
  reason text;
  detail text;
  stored integer;
BEGIN
  IF stage_raw_login.message_id IS NULL OR stage_raw_login.message_id = '' THEN
    RAISE EXCEPTION 'stage_raw_login: message_id is required';
  END IF;

  IF body IS NULL OR body = '' THEN
    reason := 'empty_body';
  ELSE
    BEGIN
      doc := body::jsonb;
    EXCEPTION
      WHEN untranslatable_character THEN          -- \u0000: jsonb cannot hold it
        reason := 'unsupported_unicode_escape';
      WHEN invalid_text_representation THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        reason := CASE WHEN detail ILIKE '%surrogate%' THEN 'invalid_unicode_surrogate'
                       ELSE 'invalid_json' END;
      WHEN program_limit_exceeded OR statement_too_complex THEN  -- too big, too deeply nested
        reason := 'json_too_complex';
      WHEN data_exception THEN                    -- any other bad input
        reason := 'invalid_json';
    END;
  END IF;

  IF reason IS NOT NULL THEN
    IF public.quarantine_raw_login(stage_raw_login.message_id, body, reason,
                                   stage_raw_login.sent_at, stage_raw_login.receive_count) THEN
      RETURN 'rejected';
    END IF;
    RETURN 'duplicate';
  END IF;

  INSERT INTO public.raw_logins AS r (message_id, body, sent_at, receive_count)
  VALUES (stage_raw_login.message_id, doc, stage_raw_login.sent_at, stage_raw_login.receive_count)
  ON CONFLICT ON CONSTRAINT raw_logins_pkey DO NOTHING;
  GET DIAGNOSTICS stored = ROW_COUNT;
  RETURN CASE WHEN stored = 1 THEN 'staged' ELSE 'duplicate' END;
END
$$;
COMMENT ON FUNCTION public.stage_raw_login(text, text, timestamptz, integer) IS
  'Stage one message of unknown quality: ''staged'', ''duplicate'' or ''rejected'' (quarantined). Never raises for bad content.';
