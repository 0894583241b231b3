-- Least privilege: each role can do exactly what it should and gets
-- "permission denied" (42501) otherwise. Rolled back.
BEGIN;

-- as_role(role, sql): run sql as role; 'ok' or the SQLSTATE it failed with.
CREATE FUNCTION pg_temp.as_role(role_name text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', role_name);
  BEGIN
    EXECUTE stmt;
  EXCEPTION WHEN OTHERS THEN
    RESET ROLE;
    RETURN SQLSTATE;
  END;
  RESET ROLE;
  RETURN 'ok';
END $$;

CREATE ROLE t50_nobody NOLOGIN;  -- a role with no grants: what PUBLIC can do

SELECT plan(58);

INSERT INTO raw_logins (message_id, body) VALUES ('t50-1', '{"user_id":"u","ip":"1.2.3.4","device_id":"d"}');
SELECT loginvault.process_login_batch(NULL, 1000000);
INSERT INTO raw_logins (message_id, body) VALUES ('t50-2', '{"user_id":"u"}');

SELECT ok(NOT rolcanlogin, rolname || ' is a NOLOGIN group role')
  FROM pg_roles WHERE rolname IN ('loginvault_loader', 'loginvault_analyst', 'loginvault_pii_admin') ORDER BY rolname;

-- loader
SELECT is(pg_temp.as_role('loginvault_loader', $$INSERT INTO raw_logins (message_id, body, sent_at, receive_count) VALUES ('t50-l', '{}', now(), 1)$$), 'ok', 'loader: INSERT into raw_logins');
SELECT is(pg_temp.as_role('loginvault_loader', $$INSERT INTO raw_logins (message_id, body, sent_at, receive_count) SELECT 't50-l', '{}'::text::jsonb, now(), 1 ON CONFLICT (message_id) DO NOTHING$$), 'ok', 'loader: INSERT ... ON CONFLICT (message_id) DO NOTHING');
SELECT is(pg_temp.as_role('loginvault_loader', $$CREATE TEMP TABLE t50_tmp (message_id text, body text, sent_at timestamptz, receive_count int)$$), 'ok', 'loader: a session temp table for COPY');
SELECT is(pg_temp.as_role('loginvault_loader', $$SELECT stage_raw_login('t50-s', '{"user_id":"u"}', now(), 1)$$), 'ok', 'loader: stage_raw_login');
SELECT is(pg_temp.as_role('loginvault_loader', $$SELECT quarantine_raw_login('t50-q', 'x', 'too_many_receives')$$), 'ok', 'loader: quarantine_raw_login');
SELECT ok(has_function_privilege('loginvault_loader', 'public.process_raw_logins(integer)', 'EXECUTE'), 'loader: CALL process_raw_logins (run in 80_concurrency)');
SELECT is(pg_temp.as_role('loginvault_loader', $$SELECT loginvault.process_login_batch(NULL, 10)$$), 'ok', 'loader: the procedure''s batch function');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT body FROM raw_logins'), '42501', 'loader: cannot read staged bodies');
SELECT is(pg_temp.as_role('loginvault_loader', 'UPDATE raw_logins SET receive_count = 0'), '42501', 'loader: cannot update staging');
SELECT is(pg_temp.as_role('loginvault_loader', 'DELETE FROM raw_logins'), '42501', 'loader: cannot delete staging');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM user_logins'), '42501', 'loader: cannot read user_logins');
SELECT is(pg_temp.as_role('loginvault_loader', $$INSERT INTO user_logins (user_id, create_date, message_id) VALUES ('u', now(), 'x')$$), '42501', 'loader: cannot write user_logins');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM rejected_logins'), '42501', 'loader: cannot read the quarantine');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM loginvault.keys'), '42501', 'loader: cannot read keys');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT loginvault.mask_key()'), '42501', 'loader: cannot call key functions');
SELECT is(pg_temp.as_role('loginvault_loader', $$CALL reveal_login(1, 'ticket 50', NULL, NULL, NULL, NULL)$$), '42501', 'loader: cannot reveal');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM loginvault.process_runs'), '42501', 'loader: cannot read the run log');

-- analyst
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM user_logins'), 'ok', 'analyst: SELECT * FROM user_logins');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM loginvault.process_runs'), 'ok', 'analyst: reads the run log');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM raw_logins'), '42501', 'analyst: no staging');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM rejected_logins'), '42501', 'analyst: no quarantine');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM loginvault.user_login_originals'), '42501', 'analyst: no PII table');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM loginvault.keys'), '42501', 'analyst: no keys');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM loginvault.reveal_audit'), '42501', 'analyst: no audit log');
SELECT is(pg_temp.as_role('loginvault_analyst', $$CALL reveal_login(1, 'ticket 50', NULL, NULL, NULL, NULL)$$), '42501', 'analyst: no reveal');
SELECT is(pg_temp.as_role('loginvault_analyst', $$SELECT loginvault.pgp_sym_decrypt('\x00'::bytea, 'k')$$), '42501', 'analyst: no pgcrypto');
SELECT is(pg_temp.as_role('loginvault_analyst', 'DELETE FROM user_logins'), '42501', 'analyst: read only');
SELECT is(pg_temp.as_role('loginvault_analyst', $$SELECT stage_raw_login('x', '{}', NULL, NULL)$$), '42501', 'analyst: cannot stage');
SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT loginvault.process_login_batch(NULL, 10)'), '42501', 'analyst: cannot process');

-- PII admin
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM user_logins'), 'ok', 'pii_admin: reads user_logins');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.process_runs'), 'ok', 'pii_admin: reads the run log');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM rejected_logins'), 'ok', 'pii_admin: reads the quarantine');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.user_login_originals'), 'ok', 'pii_admin: reads the encrypted originals');
-- reveals go through CALL reveal_login / reveal_rejected (audit committed first, 70_reveal.sql),
-- which refuse inside a transaction block (here: the test's), where the audit row could roll back
SELECT is(pg_temp.as_role('loginvault_pii_admin', format($$CALL reveal_login(%s, 'ticket 50', NULL, NULL, NULL, NULL)$$, (SELECT login_id FROM user_logins WHERE message_id = 't50-1'))), '2D000', 'pii_admin: no reveal_login inside a transaction block (its audit could be rolled back)');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$CALL reveal_rejected('t50-q', 'ticket 50', NULL, NULL, NULL)$$), '2D000', 'pii_admin: no reveal_rejected inside a transaction block');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT loginvault.record_reveal('user_login', (SELECT login_id FROM user_logins WHERE message_id = 't50-1'), NULL, 'ticket 50')$$), 'ok', 'pii_admin: writes an audit row (what the procedure does first)');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT loginvault.record_reveal('user_login', 1, NULL, NULL)$$), '22023', 'pii_admin: a reveal without a reason is refused');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT * FROM loginvault.revealed_login(loginvault.record_reveal('user_login', (SELECT login_id FROM user_logins WHERE message_id = 't50-1'), NULL, 'ticket 50'), (SELECT login_id FROM user_logins WHERE message_id = 't50-1'), NULL, NULL)$$),
          '55000', 'pii_admin: an audit row of its own (uncommitted) transaction does not open the values');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT * FROM loginvault.revealed_rejected(1, 't50-q', NULL, NULL)$$), '55000', 'pii_admin: nor does another row''s or no audit row');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$INSERT INTO loginvault.reveal_audit (what, login_id, found) VALUES ('user_login', 1, true)$$), '42501', 'pii_admin: cannot write the audit log directly');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.wrapped_keys'), '42501', 'pii_admin: no wrapped keys');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT loginvault.use_public_key('x')$$), '42501', 'pii_admin: cannot change the originals'' key');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT ok FROM loginvault.verify_reveal_audit()'), 'ok', 'pii_admin: verifies the audit chain');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.keys'), '42501', 'pii_admin: no keys');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT loginvault.current_data_key()'), '42501', 'pii_admin: no key functions');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM raw_logins'), '42501', 'pii_admin: no staging');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.reveal_audit'), '42501', 'pii_admin: cannot read (or erase) the audit log');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'DELETE FROM rejected_logins'), '42501', 'pii_admin: read only');
SELECT is(pg_temp.as_role('loginvault_pii_admin', $$SELECT loginvault.install_keys(loginvault.gen_random_bytes(32), loginvault.gen_random_bytes(32))$$), '42501', 'pii_admin: cannot install keys');

-- anyone else
SELECT is(pg_temp.as_role('t50_nobody', 'SELECT * FROM user_logins'), '42501', 'others: no user_logins');
SELECT is(pg_temp.as_role('t50_nobody', $$INSERT INTO raw_logins (message_id, body) VALUES ('t50-n', '{}')$$), '42501', 'others: cannot stage');
SELECT is(pg_temp.as_role('t50_nobody', $$SELECT stage_raw_login('x', '{}', NULL, NULL)$$), '42501', 'others: no stage_raw_login');
SELECT is(pg_temp.as_role('t50_nobody', $$CALL reveal_login(1, 'ticket 50', NULL, NULL, NULL, NULL)$$), '42501', 'others: no reveal');
SELECT is(pg_temp.as_role('t50_nobody', 'SELECT * FROM loginvault.process_runs'), '42501', 'others: no run log');
SELECT ok(NOT has_function_privilege('t50_nobody', 'public.process_raw_logins(integer)', 'EXECUTE'), 'others: cannot CALL process_raw_logins');

SELECT * FROM finish();
ROLLBACK;
