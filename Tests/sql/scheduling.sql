-- Scheduling with pg_cron: only where it can work (pg_cron preloaded and
-- this database is cron.database_name, as on the with-servers.sh cluster for
-- loginvault_test); skipped elsewhere. Rolled back, pg_cron included.
SELECT (current_setting('cron.database_name', true) IS NOT DISTINCT FROM current_database()
        AND current_setting('shared_preload_libraries') LIKE '%pg_cron%'
        AND EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron')) AS cron_usable,
       EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS cron_installed
\gset
\if :cron_usable
BEGIN;
SELECT plan(8);
\if :cron_installed
SELECT pass('pg_cron already installed here');
\else
SELECT throws_like('SELECT loginvault.schedule_process_raw_logins()', 'pg_cron is not installed%',
                   'without pg_cron, scheduling fails with a clear message');
\endif
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT ok(loginvault.schedule_process_raw_logins('*/5 * * * *', 5000) > 0, 'schedule_process_raw_logins returns the job id');
SELECT is((SELECT concat_ws('|', schedule, command, database, username) FROM cron.job WHERE jobname = 'loginvault-process-raw-logins'),
          concat_ws('|', '*/5 * * * *', 'CALL public.process_raw_logins(5000)', current_database(), current_user),
          'the job calls the procedure in this database, as the scheduling role');
SELECT lives_ok($$SELECT loginvault.schedule_process_raw_logins('* * * * *')$$, 'scheduling again ...');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname = 'loginvault-process-raw-logins'), 1, '... replaces the job');
SELECT is(loginvault.unschedule_process_raw_logins(), true, 'unschedule_process_raw_logins removes it');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname = 'loginvault-process-raw-logins'), 0, 'no job left');
SELECT loginvault.schedule_retention();
SELECT is((SELECT concat_ws('|', schedule, command, username) FROM cron.job WHERE jobname = 'loginvault-retention'),
          concat_ws('|', '17 3 * * *', 'CALL loginvault.apply_retention(10000)', current_user),
          'schedule_retention: daily, the retention procedure, as the scheduling role');
SELECT * FROM finish();
ROLLBACK;
\else
SELECT plan(1);
SELECT skip('pg_cron is not preloaded for this database (cron.database_name)', 1);
SELECT * FROM finish();
\endif
