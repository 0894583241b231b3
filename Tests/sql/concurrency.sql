-- Concurrent runs neither block nor duplicate. Two `psql -c "CALL
-- process_raw_logins(100)"` run at once, as the loader role, started with
-- psql's \! (they inherit PGHOST, PGPORT, PGDATABASE, PGPASSFILE), while
-- this session holds 10 staging rows locked: SKIP LOCKED must let both
-- finish around them. Commits: message ids 't80-*', removed at the end.
SET client_min_messages = warning;
DELETE FROM raw_logins WHERE message_id LIKE 't80-%';
DELETE FROM user_logins WHERE message_id LIKE 't80-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't80-%';

SELECT plan(8);

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't80-' || lpad(i::text, 5, '0'),
       CASE WHEN i % 100 = 0 THEN jsonb_build_object('user_id', i)      -- 30 rejects
            ELSE jsonb_build_object('user_id', 'u' || i, 'ip', '10.8.' || (i / 256) || '.' || (i % 256), 'device_id', 'd' || (i % 50))
       END, now()
  FROM generate_series(1, 3000) i;
CREATE TEMP TABLE last_run AS SELECT coalesce(max(run_id), 0) AS run_id FROM loginvault.process_runs;

BEGIN;
SELECT count(*) FROM (SELECT FROM raw_logins WHERE message_id IN ('t80-00001', 't80-00002', 't80-00003', 't80-00004', 't80-00005',
                      't80-00006', 't80-00007', 't80-00008', 't80-00009', 't80-00100') FOR UPDATE) locked \gset
\! for i in 1 2; do PGOPTIONS='-c statement_timeout=120s -c lock_timeout=20s' psql -X -q -v ON_ERROR_STOP=1 -c 'SET ROLE loginvault_loader' -c 'CALL process_raw_logins(100)' >/dev/null 2>&1 & done; wait
SELECT is((SELECT count(*)::int FROM loginvault.process_runs r, last_run l WHERE r.run_id > l.run_id AND r.finished_at IS NOT NULL), 2,
          'both concurrent runs finished, without waiting for the rows this session holds');
SELECT is((SELECT sum(staged)::int FROM loginvault.process_runs r, last_run l WHERE r.run_id > l.run_id), 2990,
          'together they processed every unlocked row exactly once');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't80-%'), 10, 'the 10 locked rows were skipped');
COMMIT;

CALL process_raw_logins(100);
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't80-%'), 2970, '2970 logins');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id LIKE 't80-%'), 30, '30 rejects');
SELECT is((SELECT count(DISTINCT message_id)::int FROM user_logins WHERE message_id LIKE 't80-%'), 2970, 'no duplicate logins');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id LIKE 't80-%'), 2970,
          'one encrypted original per login');
SELECT is((SELECT count(DISTINCT masked_device_id)::int FROM user_logins WHERE message_id LIKE 't80-%'), 50,
          '50 device ids give 50 masks across concurrent runs');

DELETE FROM user_logins WHERE message_id LIKE 't80-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't80-%';
SELECT * FROM finish();
