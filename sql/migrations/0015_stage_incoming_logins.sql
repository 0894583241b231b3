-- 0015: the loader's batch entry point, set-based and silent about bad bodies.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/40_staging.sql.
--
-- The loader COPYs a batch into its session's temp table
--   pg_temp.loginvault_incoming (message_id text, body text,
--                                sent_at timestamptz, receive_count integer)
-- and calls stage_incoming_logins(), in the same transaction. The fast path is
-- one INSERT ... SELECT body::jsonb ... ON CONFLICT (message_id) DO NOTHING.
-- If any body is not valid jsonb, that INSERT fails; the error is caught here
-- (a caught error is not written to the server log, and PostgreSQL quotes a
-- fragment of the body, possibly PII, in it) and every message of the batch
-- goes through stage_raw_login(), which quarantines the bad ones with a reason.
--
-- SECURITY INVOKER on purpose: the temp table belongs to the caller's session
-- and role; the function needs no right the loader does not already have.
CREATE OR REPLACE FUNCTION public.stage_incoming_logins(
  OUT staged     integer,
  OUT duplicates integer,
  OUT rejected   integer
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
DECLARE
  total integer;
BEGIN
  SELECT count(*) INTO total FROM pg_temp.loginvault_incoming;
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
    NULL;  -- some body is not valid jsonb: judge them one by one below
  END;
  SELECT count(*) FILTER (WHERE outcome = 'staged'),
         count(*) FILTER (WHERE outcome = 'duplicate'),
         count(*) FILTER (WHERE outcome = 'rejected')
    INTO staged, duplicates, rejected
  FROM (SELECT public.stage_raw_login(i.message_id, i.body, i.sent_at, i.receive_count) AS outcome
        FROM pg_temp.loginvault_incoming i) results;
END
$$;
COMMENT ON FUNCTION public.stage_incoming_logins() IS
  'Stage the batch in pg_temp.loginvault_incoming into raw_logins; invalid bodies are quarantined. Returns (staged, duplicates, rejected).';

REVOKE ALL ON FUNCTION public.stage_incoming_logins() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.stage_incoming_logins() TO loginvault_loader;
