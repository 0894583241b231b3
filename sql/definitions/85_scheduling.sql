-- Scheduling: optional, with pg_cron.
--
-- Nothing here needs pg_cron: these functions look for it when called. With
-- pg_cron preloaded (shared_preload_libraries = 'pg_cron') and this database
-- being cron.database_name, as the owner:
--   CREATE EXTENSION IF NOT EXISTS pg_cron;
--   SELECT loginvault.schedule_process_raw_logins('* * * * *', 10000);
--   SELECT loginvault.unschedule_process_raw_logins();
--   SELECT loginvault.schedule_retention('17 3 * * *', 10000);   -- 83_retention.sql
-- The job runs as the role that scheduled it. Without pg_cron, use the psql
-- job sql/jobs/process_raw_logins.sql from cron (docs/database.md).

-- cron_schedule: schedules `command` as the pg_cron job `job_name` (scheduling
-- again replaces it); the two functions below name their job and command.
-- Dynamic so that this file can exist without pg_cron.
CREATE OR REPLACE FUNCTION loginvault.cron_schedule(job_name text, schedule text, command text, job_file text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_job_id bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
      USING HINT = format('Preload it (shared_preload_libraries = ''pg_cron'', cron.database_name = this database), then CREATE EXTENSION pg_cron; or schedule %s with cron.', job_file);
  END IF;
  EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO v_job_id USING job_name, schedule, command;
  RETURN v_job_id;
END
$$;
COMMENT ON FUNCTION loginvault.cron_schedule(text, text, text, text) IS
  'Part of schedule_process_raw_logins and schedule_retention: schedule a command as a named pg_cron job (replacing it); needs pg_cron.';

CREATE OR REPLACE FUNCTION loginvault.schedule_process_raw_logins(
  schedule   text    DEFAULT '* * * * *',
  batch_size integer DEFAULT 10000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'schedule_process_raw_logins: batch_size must be a positive integer';
  END IF;
  -- The job name makes scheduling again replace the job instead of adding a second one.
  RETURN loginvault.cron_schedule('loginvault-process-raw-logins', schedule,
                                  format('CALL public.process_raw_logins(%s)', batch_size), 'sql/jobs/process_raw_logins.sql');
END
$$;
COMMENT ON FUNCTION loginvault.schedule_process_raw_logins(text, integer) IS
  'Schedule CALL process_raw_logins(batch_size) with pg_cron (replacing an earlier schedule); returns the job id. Needs pg_cron.';

-- Retention (83_retention.sql), daily by default, as the owner.
CREATE OR REPLACE FUNCTION loginvault.schedule_retention(
  schedule   text    DEFAULT '17 3 * * *',
  batch_size integer DEFAULT 10000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'schedule_retention: batch_size must be a positive integer';
  END IF;
  RETURN loginvault.cron_schedule('loginvault-retention', schedule,
                                  format('CALL loginvault.apply_retention(%s)', batch_size), 'sql/jobs/apply_retention.sql');
END
$$;
COMMENT ON FUNCTION loginvault.schedule_retention(text, integer) IS
  'Schedule CALL loginvault.apply_retention(batch_size) with pg_cron (daily at 03:17 by default; replacing an earlier schedule); returns the job id. Needs pg_cron.';

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
COMMENT ON FUNCTION loginvault.unschedule_process_raw_logins() IS
  'Remove the pg_cron job of schedule_process_raw_logins; false if there was none.';
