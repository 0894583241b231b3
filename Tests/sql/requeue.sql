-- requeue_rejected (sql/definitions/75_requeue.sql): getting logins back out
-- of the quarantine. The first-hour scenario of issue 14: 100 valid logins
-- quarantined as too_many_receives come back as 100 logins, audited; a body
-- that is not JSON stays rejected; a body that is JSON but not a valid login
-- is rejected again with its reason now; a second run changes nothing; the
-- loader and the analyst cannot call it. Rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(23);

SELECT is((SELECT count(*)::int FROM generate_series(1, 100) i
            WHERE quarantine_raw_login('t75-' || i, format('{"user_id":"u75-%s","ip":"10.75.0.%s","device_id":"d%s"}', i, i, i),
                                       'too_many_receives', '2026-11-30 10:00Z', 6)), 100,
          '100 valid logins quarantined as too_many_receives');
SELECT ok(quarantine_raw_login('t75-text', 'not json at all', 'too_many_receives'), 'a body that is not JSON, quarantined as too_many_receives');
SELECT ok(quarantine_raw_login('t75-noid', '{"ip":"10.75.1.1"}', 'too_many_receives'), 'a JSON body without user_id, quarantined as too_many_receives');
SELECT ok(quarantine_raw_login('t75-other', '{"user_id":"u75x"}', 'invalid_json'), 'a valid body under another reason');

-- requeue_as(role, reason, ids, max): CALL requeue_rejected as role; its INOUT results.
CREATE FUNCTION pg_temp.requeue_as(role_name name, reason text, ids text[] DEFAULT NULL, max_messages integer DEFAULT NULL,
  OUT requeue_id bigint, OUT selected integer, OUT logins integer, OUT rejected integer, OUT kept integer)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', role_name);
  CALL public.requeue_rejected(reason, ids, max_messages, requeue_id, selected, logins, rejected, kept);
  RESET ROLE;
END
$$;

-- Who may not call it.
SELECT throws_ok($$SELECT pg_temp.requeue_as('loginvault_loader', 'too_many_receives')$$, '42501', NULL, 'the loader cannot requeue');
SELECT throws_ok($$SELECT pg_temp.requeue_as('loginvault_analyst', 'too_many_receives')$$, '42501', NULL, 'the analyst cannot requeue');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id LIKE 't75-%'), 103, 'the refused calls moved nothing');
SELECT throws_ok($$SELECT pg_temp.requeue_as('loginvault_pii_admin', NULL)$$, 'P0001', 'requeue_rejected: reason is required', 'a reason is required');

-- A limit and a message id filter take only what they name.
CREATE TEMP TABLE by_id AS SELECT * FROM pg_temp.requeue_as('loginvault_pii_admin', 'too_many_receives', ARRAY['t75-1', 't75-2', 't75-other']);
SELECT is((SELECT selected || '/' || logins || '/' || rejected || '/' || kept FROM by_id), '2/2/0/0',
          'by message id: only those ids of that reason, both logins');
CREATE TEMP TABLE limited AS SELECT * FROM pg_temp.requeue_as('loginvault_pii_admin', 'too_many_receives', NULL, 8);
SELECT is((SELECT selected || '/' || logins FROM limited), '8/8', 'max_messages 8 takes 8');

-- The rest.
CREATE TEMP TABLE rest AS SELECT * FROM pg_temp.requeue_as('loginvault_pii_admin', 'too_many_receives');
SELECT is((SELECT selected || '/' || logins || '/' || rejected || '/' || kept FROM rest), '92/90/1/1',
          'the rest: 90 logins, one rejected again, one kept');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id ~ '^t75-[0-9]+$'), 100, 'all 100 valid logins are logins');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id ~ '^t75-[0-9]+$'), 0, '... and none of them is still quarantined');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't75-noid'), 'missing_user_id', 'a JSON body that is no valid login is rejected again, with its reason now');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't75-text'), 'too_many_receives', 'a body that is not JSON stays rejected with its reason');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't75-other'), 'invalid_json', 'another reason is left alone');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't75-%'), 0, 'nothing stays in staging (no plaintext at rest)');
SELECT is((SELECT user_id FROM user_logins WHERE message_id = 't75-42'), 'u75-42', 'a requeued login carries its body');

-- Audited: who, which ids, which reason, the outcome; one row per message taken.
SELECT is((SELECT count(*)::int FROM loginvault.requeue_audit WHERE from_reason = 'too_many_receives' AND message_id LIKE 't75-%'), 102,
          'one audit row per message taken');
SELECT ok((SELECT bool_and(requeued_by = session_user AND requeued_at IS NOT NULL) FROM loginvault.requeue_audit WHERE message_id LIKE 't75-%'),
          'the audit records who (the login role, also after SET ROLE) and when');
SELECT is((SELECT string_agg(message_id || ':' || outcome || ':' || coalesce(new_reason, '-'), ',' ORDER BY message_id)
             FROM loginvault.requeue_audit a JOIN rest USING (requeue_id) WHERE message_id IN ('t75-noid', 't75-text', 't75-42')),
          't75-42:login:-,t75-noid:rejected:missing_user_id,t75-text:kept:too_many_receives', 'the audit records each outcome');

-- Twice: nothing left to take but the kept one, which stays.
CREATE TEMP TABLE again AS SELECT * FROM pg_temp.requeue_as('loginvault_pii_admin', 'too_many_receives');
SELECT is((SELECT selected || '/' || logins || '/' || rejected || '/' || kept FROM again), '1/0/0/1', 'a second run takes only the kept one and keeps it');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't75-%'), 100, 'a second run adds no login');

SELECT * FROM finish();
ROLLBACK;
