-- 0013: optional scheduling with pg_cron.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/85_scheduling.sql.
--
-- Nothing here needs pg_cron: these functions look for it when called. With
-- pg_cron preloaded (shared_preload_libraries = 'pg_cron') and this database
-- being cron.database_name, as the owner:
--   CREATE EXTENSION IF NOT EXISTS pg_cron;
--   SELECT loginvault.schedule_process_raw_logins('* * * * *', 10000);
--   SELECT loginvault.unschedule_process_raw_logins();
-- The job runs as the role that scheduled it. Without pg_cron, use the psql
-- job sql/jobs/process_raw_logins.sql from cron (docs/database.md).

CREATE OR REPLACE FUNCTION loginvault.schedule_process_raw_logins(
  schedule   text    DEFAULT '* * * * *',
  batch_size integer DEFAULT 10000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_job_id bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
      USING HINT = 'Preload it (shared_preload_libraries = ''pg_cron'', cron.database_name = this database), then CREATE EXTENSION pg_cron; or schedule sql/jobs/process_raw_logins.sql with cron.';
  END IF;
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'schedule_process_raw_logins: batch_size must be a positive integer';
  END IF;
  -- Dynamic so that this function can exist without pg_cron; the job name
  -- makes scheduling again replace the job instead of adding a second one.
  EXECUTE 'SELECT cron.schedule($1, $2, $3)'
     INTO v_job_id
    USING 'loginvault-process-raw-logins', schedule,
          format('CALL public.process_raw_logins(%s)', batch_size);
  RETURN v_job_id;
END
$$;

CREATE OR REPLACE FUNCTION loginvault.unschedule_process_raw_logins() RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_done boolean;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
    RETURN false;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'cron' AND c.relname = 'job') THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT FROM cron.job WHERE jobname = $1 AND username = current_user)'
     INTO v_done USING 'loginvault-process-raw-logins';
  IF v_done THEN
    EXECUTE 'SELECT cron.unschedule($1)' INTO v_done USING 'loginvault-process-raw-logins';
  END IF;
  RETURN v_done;
END
$$;
