-- stage_incoming_logins(): the loader's batch path, run as the loader role.
BEGIN;
SELECT plan(9);

SET LOCAL ROLE loginvault_loader;
CREATE TEMP TABLE loginvault_incoming (
  message_id text, body bytea, sent_at timestamptz, receive_count integer
) ON COMMIT DROP;

-- A clean batch takes the fast path.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('si-1', '{"user_id":"u1","ip":"10.0.0.1","device_id":"111-11-1111"}', now(), 1),
  ('si-2', '{"user_id":"u2","ip":"10.0.0.2","device_id":"222-22-2222"}', now(), 1),
  ('si-2', '{"user_id":"u2","ip":"10.0.0.2","device_id":"222-22-2222"}', now(), 2)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (2, 1, 0)$$, 'a clean batch: two staged, the redelivery skipped');
TRUNCATE loginvault_incoming;

-- The same ids again, plus bad bodies: the per-message path.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('si-1', '{"user_id":"u1","ip":"10.0.0.1","device_id":"111-11-1111"}', now(), 2),
  ('si-3', '{"user_id":"u3","ip":"10.0.0.3","device_id":"333-33-3333"}', now(), 1),
  ('si-4', 'not json {"ip":"10.9.9.9"', now(), 1),
  ('si-5', '{"a":"\u0000"}', now(), 1),
  ('si-6', '"\ud800"', now(), 1)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (1, 1, 3)$$, 'a batch with bad bodies: good ones staged, bad ones quarantined');
RESET ROLE;

SELECT results_eq($$SELECT message_id FROM raw_logins WHERE message_id LIKE 'si-%' ORDER BY 1$$,
                  ARRAY['si-1', 'si-2', 'si-3'], 'the valid messages are staged once each');
SELECT results_eq($$SELECT message_id, reason FROM rejected_logins WHERE message_id LIKE 'si-%' ORDER BY 1$$,
                  $$VALUES ('si-4', 'invalid_json'), ('si-5', 'unsupported_unicode_escape'), ('si-6', 'invalid_unicode_surrogate')$$,
                  'each bad body is quarantined with its reason');
SELECT is((SELECT count(*)::int FROM rejected_logins
           WHERE message_id LIKE 'si-%' AND position(convert_to('10.9.9.9', 'UTF8') IN body_encrypted) > 0),
          0, 'quarantined bodies are not stored in clear');

SELECT is(has_function_privilege('loginvault_loader', 'public.stage_incoming_logins(integer)', 'EXECUTE'), true,
          'the loader may call it');
SELECT is(has_function_privilege('loginvault_analyst', 'public.stage_incoming_logins(integer)', 'EXECUTE'), false,
          'the analyst may not');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'public.stage_incoming_logins(integer)'::regprocedure), false,
          'it runs with the caller''s rights (the temp table is the caller''s)');
SELECT ok((SELECT proconfig::text LIKE '%search_path%' FROM pg_proc WHERE oid = 'public.stage_incoming_logins(integer)'::regprocedure),
          'its search_path is pinned');

SELECT * FROM finish();
ROLLBACK;
