-- Status: what a DBA, a cron job or an alert wants to know at a glance.
--
--   SELECT * FROM loginvault.status();                       -- backlog limit 15 minutes
--   SELECT * FROM loginvault.status(interval '5 minutes');
--   SELECT * FROM loginvault.staging_backlog();              -- rows, oldest age in seconds
--
-- One row per fact: (category, item, value, state), state 'ok' or
-- 'attention'. `loginvault status` prints it as a table, compares the latest
-- applied migration with the files it ships, and exits 3 on attention.
-- Counts and times only: no body, no key, no PII. SECURITY DEFINER, so the
-- analyst and admin roles (granted in 90_privileges.sql) see the backlog and
-- the keys' ids and ages without reading raw_logins or loginvault.keys themselves.
-- The hour and day counts scan user_logins.processed_at and
-- rejected_logins.rejected_at (no index: the loader would pay for one on
-- every row); cheap for a status check every few minutes, not every second.

-- The staging backlog alone: the loader's metrics poll it (the loader may
-- read only raw_logins.message_id, not staged_at). Two numbers, nothing else.
CREATE OR REPLACE FUNCTION loginvault.staging_backlog(OUT rows bigint, OUT oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  SELECT count(*), coalesce(extract(epoch FROM now() - min(r.staged_at)), 0)::double precision FROM public.raw_logins r
$$;
COMMENT ON FUNCTION loginvault.staging_backlog() IS
  'Rows waiting in raw_logins and the age in seconds of the oldest (0 when empty). Counts only; for the loader''s metrics.';

CREATE OR REPLACE FUNCTION loginvault.status(max_backlog_age interval DEFAULT interval '15 minutes')
RETURNS TABLE (category text, item text, value text, state text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_rows    bigint;
  v_oldest  timestamptz;
  v_run     loginvault.process_runs%ROWTYPE;
  v_keys    bigint;
  v_key_at  timestamptz;
  v_key_ids text;
  v_applied bigint;
  v_latest  integer;
BEGIN
  SELECT count(*), min(r.staged_at) INTO v_rows, v_oldest FROM public.raw_logins r;
  RETURN QUERY SELECT 'staging'::text, 'backlog rows'::text, v_rows::text, 'ok'::text;
  RETURN QUERY SELECT 'staging', 'oldest staged',
    CASE WHEN v_oldest IS NULL THEN 'none'
         ELSE to_char(v_oldest AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC, '
              || date_trunc('second', now() - v_oldest)::text || ' ago' END,
    CASE WHEN v_oldest IS NOT NULL AND now() - v_oldest > max_backlog_age THEN 'attention' ELSE 'ok' END;

  SELECT * INTO v_run FROM loginvault.process_runs p ORDER BY p.run_id DESC LIMIT 1;
  IF v_run.run_id IS NULL THEN
    RETURN QUERY SELECT 'processing', 'last run', 'never',
      CASE WHEN v_rows > 0 THEN 'attention' ELSE 'ok' END;
  ELSE
    RETURN QUERY SELECT 'processing', 'last run',
      'run ' || v_run.run_id || ' by ' || v_run.run_by || ' at '
        || to_char(v_run.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC: '
        || CASE WHEN v_run.finished_at IS NULL THEN 'not finished'
                ELSE v_run.staged || ' staged, ' || v_run.upserted || ' upserted, ' || v_run.rejected || ' rejected in '
                     || round(extract(epoch FROM v_run.finished_at - v_run.started_at)::numeric, 3) || ' s' END,
      -- A run still open after an hour died (its session ended without finishing).
      CASE WHEN v_run.finished_at IS NULL AND now() - v_run.started_at > interval '1 hour' THEN 'attention' ELSE 'ok' END;
  END IF;

  RETURN QUERY SELECT 'logins', 'processed, last hour', count(*)::text, 'ok'
    FROM public.user_logins u WHERE u.processed_at > now() - interval '1 hour';
  RETURN QUERY SELECT 'logins', 'processed, last day', count(*)::text, 'ok'
    FROM public.user_logins u WHERE u.processed_at > now() - interval '1 day';
  RETURN QUERY SELECT 'rejects', 'last hour: ' || coalesce(string_agg(x.reason || ' ' || x.n, ', ' ORDER BY x.reason), 'none'), coalesce(sum(x.n), 0)::text, 'ok'
    FROM (SELECT j.reason, count(*) AS n FROM public.rejected_logins j
           WHERE j.rejected_at > now() - interval '1 hour' GROUP BY j.reason) x;
  RETURN QUERY SELECT 'rejects', 'last day: ' || coalesce(string_agg(x.reason || ' ' || x.n, ', ' ORDER BY x.reason), 'none'), coalesce(sum(x.n), 0)::text, 'ok'
    FROM (SELECT j.reason, count(*) AS n FROM public.rejected_logins j
           WHERE j.rejected_at > now() - interval '1 day' GROUP BY j.reason) x;

  -- Data keys stay while a row references them (rotation re-encrypts, purge drops the unused).
  -- Ids and dates only: never key_bytes.
  SELECT count(*), min(k.created_at), string_agg(k.key_id::text, ', ' ORDER BY k.key_id)
    INTO v_keys, v_key_at, v_key_ids FROM loginvault.keys k WHERE k.purpose = 'data';
  RETURN QUERY SELECT 'keys', 'data keys', v_keys::text
      || CASE WHEN v_key_at IS NULL THEN '' ELSE ' (ids ' || v_key_ids || '), oldest created '
              || to_char(v_key_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END,
    CASE WHEN v_keys = 0 AND NOT loginvault.public_key_mode() THEN 'attention' ELSE 'ok' END;
  -- Public-key mode (15_public_key.sql): no data key, by design; the PGP key in use.
  RETURN QUERY SELECT 'keys', 'public key', p.pgp_key_id || ' (public-key mode), '
      || (SELECT count(*) FROM loginvault.wrapped_keys) || ' wrapped batch keys', 'ok'
    FROM loginvault.public_keys p WHERE p.retired_at IS NULL;

  -- The SQL knows only what was applied; `loginvault status` compares the
  -- latest version with the files it ships (`loginvault migrate status` for drift).
  SELECT count(*), max(m.version) INTO v_applied, v_latest FROM loginvault.schema_migrations m;
  RETURN QUERY SELECT 'migrations', 'applied', v_applied::text, 'ok';
  RETURN QUERY SELECT 'migrations', 'latest applied', coalesce(v_latest::text, 'none'), 'ok';
END
$$;
COMMENT ON FUNCTION loginvault.status(interval) IS
  'Backlog, last processing run, logins and rejects by reason (hour, day), data keys, migrations: one row each, ok or attention.';
