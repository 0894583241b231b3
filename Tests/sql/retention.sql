-- Retention (83_retention.sql): rows past their age go, batch by batch, with
-- the originals of the logins; the logs go oldest-first and keep their newest
-- row; younger rows and kinds without an age stay. The procedure, which
-- COMMITs, runs first on rows of its own; the pieces then run inside a
-- transaction that is rolled back.
-- The procedure first, outside a transaction block (it COMMITs), on rows of its own.
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't92p-' || g, jsonb_build_object('user_id', 'p' || g), timestamptz '2023-05-01 10:00Z' FROM generate_series(1, 25) g;
CALL process_raw_logins();
UPDATE loginvault.retention SET keep_for = interval '366 days' WHERE what = 'user_logins';
CALL loginvault.apply_retention(10);
UPDATE loginvault.retention SET keep_for = NULL;
CREATE TEMP TABLE procedure_left AS
SELECT (SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't92p-%') AS old_left,
       (SELECT count(*) FROM user_logins WHERE create_date < (now() AT TIME ZONE 'UTC')::date - 366) AS too_old;

BEGIN;
SELECT plan(17);
SELECT is((SELECT old_left FROM procedure_left), 0, 'CALL apply_retention(10) removed every old login, batch by batch');
SELECT is((SELECT too_old FROM procedure_left), 0::bigint, '... none older than its age is left');


SELECT has_index('public', 'user_logins', 'user_logins_create_date', 'user_logins has an index on create_date');
SELECT has_index('public', 'rejected_logins', 'rejected_logins_rejected_at', 'rejected_logins has an index on rejected_at');
SELECT is((SELECT count(*)::int FROM loginvault.retention WHERE keep_for IS NOT NULL), 0, 'nothing has an age by default: kept for ever');
SELECT ok(NOT has_table_privilege('loginvault_pii_admin', 'loginvault.retention', 'UPDATE')
          AND NOT has_function_privilege('loginvault_loader', 'loginvault.retention_batch(text, timestamptz, bigint, integer)', 'EXECUTE'),
          'owner only: no role may change the ages or delete through the pieces');

-- Logins: 30 of 2024-01-02 (old), 5 of today.
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't92-old-' || g, jsonb_build_object('user_id', 'u' || g, 'ip', '10.92.0.' || g), timestamptz '2024-01-02 10:00Z'
  FROM generate_series(1, 30) g;
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't92-new-' || g, jsonb_build_object('user_id', 'n' || g, 'ip', '10.92.1.' || g), now() FROM generate_series(1, 5) g;
SELECT loginvault.process_login_batch(NULL, 1000);
CREATE TEMP TABLE old_ids AS SELECT login_id FROM user_logins WHERE message_id LIKE 't92-old-%';

SELECT is(loginvault.retention_batch('user_logins', now() - interval '400 days', NULL, 20), 20, 'a batch deletes at most batch_size old logins');
SELECT is(loginvault.retention_batch('user_logins', now() - interval '400 days', NULL, 20), 10, '... the next one the rest');
SELECT is(loginvault.retention_batch('user_logins', now() - interval '400 days', NULL, 20), 0, '... then nothing');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't92-new-%'), 5, 'younger logins stay');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o JOIN old_ids USING (login_id)), 0,
          'the originals of the deleted logins are gone with them');

-- Rejects.
SELECT quarantine_raw_login('t92-rej-old', 'x', 'invalid_json');
UPDATE rejected_logins SET rejected_at = now() - interval '2 years' WHERE message_id = 't92-rej-old';
SELECT quarantine_raw_login('t92-rej-new', 'x', 'invalid_json');
SELECT cmp_ok(loginvault.retention_batch('rejected_logins', now() - interval '1 year', NULL, 100), '>=', 1, 'old rejects are deleted');
SELECT ok(NOT EXISTS (SELECT FROM rejected_logins WHERE message_id = 't92-rej-old')
          AND EXISTS (SELECT FROM rejected_logins WHERE message_id = 't92-rej-new'), '... the young one stays');

-- An oldest-first log: rows 1-3 old, 4 young, 5 old again (a clock step back): only 1-3 go.
DELETE FROM loginvault.reveal_audit;
INSERT INTO loginvault.reveal_audit (what, login_id, found, reason)
SELECT 'user_login', g, true, 'retention test' FROM generate_series(1, 5) g;
-- The chain's trigger stamps revealed_at with the clock; age the rows afterwards (the chain
-- breaks, which retention neither checks nor needs).
UPDATE loginvault.reveal_audit
   SET revealed_at = now() - CASE WHEN login_id IN (1, 2, 3, 5) THEN interval '3 years' ELSE interval '1 day' END;
CREATE TEMP TABLE audit_ids AS SELECT audit_id, login_id FROM loginvault.reveal_audit;
SELECT is(loginvault.retention_prefix_end('reveal_audit', now() - interval '1 year'),
          (SELECT audit_id FROM audit_ids WHERE login_id = 4), 'the prefix ends at the first young row');
SELECT is(loginvault.retention_batch('reveal_audit', now() - interval '1 year',
                                     loginvault.retention_prefix_end('reveal_audit', now() - interval '1 year'), 2), 2,
          'a batch deletes the oldest rows first');
SELECT set_eq('SELECT login_id FROM loginvault.reveal_audit', 'VALUES (3::bigint), (4), (5)',
              '... only the head of the log: no hole, the rest in order');
SELECT is(loginvault.retention_prefix_end('reveal_audit', now()), (SELECT audit_id FROM audit_ids WHERE login_id = 5),
          'when every row is old, the newest row stays (the tip of the log)');

SELECT * FROM finish();
ROLLBACK;
