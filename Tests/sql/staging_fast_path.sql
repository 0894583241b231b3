-- stage_incoming_logins()'s paths: a plain INSERT first, INSERT ... ON CONFLICT
-- when an id is already there, the per-message path for bad bodies.
-- Run as the loader role. (The race between two loaders is in the Swift suite:
-- StagingDatabaseTests, it needs two sessions.)
BEGIN;
SELECT plan(14);

SET LOCAL ROLE loginvault_loader;
CREATE TEMP TABLE loginvault_incoming (
  message_id text, body bytea, sent_at timestamptz, receive_count integer
) ON COMMIT DROP;

-- 1. A clean batch, no id seen before: every row staged.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-1', '{"user_id":"u1","ip":"10.1.0.1"}', now(), 1),
  ('p16-2', '{"user_id":"u2","ip":"10.1.0.2"}', now(), 1),
  ('p16-3', '{"user_id":"u3","ip":"10.1.0.3"}', NULL, NULL)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (3, 0, 0)$$, 'a clean batch of new ids: all staged');
TRUNCATE loginvault_incoming;

-- 2. Already staged ids mixed with new ones (a redelivery): the fast path fails on
--    the first old id and is undone; the ON CONFLICT path stages the new ones once.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-4', '{"user_id":"u4"}', now(), 1),
  ('p16-1', '{"user_id":"u1","ip":"10.1.0.1"}', now(), 2),
  ('p16-5', '{"user_id":"u5"}', now(), 1),
  ('p16-3', '{"user_id":"u3","ip":"10.1.0.3"}', now(), 2)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (2, 2, 0)$$, 'redeliveries in a batch: new ids staged, old ones counted as duplicates');
TRUNCATE loginvault_incoming;

-- 3. The same id twice in one batch.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-6', '{"user_id":"u6"}', now(), 1),
  ('p16-6', '{"user_id":"u6"}', now(), 2),
  ('p16-7', '{"user_id":"u7"}', now(), 1)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (2, 1, 0)$$, 'an id twice in a batch: staged once');
TRUNCATE loginvault_incoming;

-- 4. A whole batch seen before (a replayed file): nothing staged, nothing doubled.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-1', '{"user_id":"u1","ip":"10.1.0.1"}', now(), 3),
  ('p16-2', '{"user_id":"u2","ip":"10.1.0.2"}', now(), 3)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (0, 2, 0)$$, 'a batch of old ids only: all duplicates');
TRUNCATE loginvault_incoming;

-- 5. Bad bodies, an old id and an id twice in the same batch: the per-message path.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-8', '{"user_id":"u8"}', now(), 1),
  ('p16-2', '{"user_id":"u2","ip":"10.1.0.2"}', now(), 4),
  ('p16-9', 'not json {"ip":"10.9.9.16"', now(), 1),
  ('p16-10', '{"a":"\u0000"}', now(), 1),
  ('p16-11', '"\ud800"', now(), 1),
  ('p16-12', '{"user_id":"u12"}', now(), 1),
  ('p16-12', '{"user_id":"u12"}', now(), 2)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (2, 2, 3)$$, 'bad bodies with duplicates: good ones staged once, bad ones quarantined');
TRUNCATE loginvault_incoming;

-- 6. A bad body after an old id (the fast path fails on the id first, then the
--    ON CONFLICT path on the body).
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), s, r FROM (VALUES
  ('p16-1', '{"user_id":"u1","ip":"10.1.0.1"}', now(), 5),
  ('p16-13', '{"user_id": [1, 2', now(), 1),
  ('p16-14', '{"user_id":"u14"}', now(), 1)) v(m, b, s, r);
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (1, 1, 1)$$, 'an old id and a bad body: both paths fall back correctly');
TRUNCATE loginvault_incoming;

-- 7. An empty batch.
SELECT results_eq('SELECT staged, duplicates, rejected FROM stage_incoming_logins()',
                  $$VALUES (0, 0, 0)$$, 'an empty batch stages nothing');
RESET ROLE;

SELECT results_eq($$SELECT message_id FROM raw_logins WHERE message_id LIKE 'p16-%' ORDER BY 1$$,
                  ARRAY['p16-1', 'p16-12', 'p16-14', 'p16-2', 'p16-3', 'p16-4', 'p16-5', 'p16-6', 'p16-7', 'p16-8'],
                  'every valid message is staged exactly once');
SELECT results_eq($$SELECT receive_count FROM raw_logins WHERE message_id IN ('p16-1', 'p16-2', 'p16-6') ORDER BY message_id$$,
                  ARRAY[1, 1, 1], 'a duplicate never overwrites the staged row');
SELECT results_eq($$SELECT message_id, reason FROM rejected_logins WHERE message_id LIKE 'p16-%' ORDER BY 1$$,
                  $$VALUES ('p16-10', 'unsupported_unicode_escape'), ('p16-11', 'invalid_unicode_surrogate'),
                           ('p16-13', 'invalid_json'), ('p16-9', 'invalid_json')$$,
                  'each bad body is quarantined with its reason');
SELECT is((SELECT count(*)::int FROM rejected_logins
           WHERE message_id LIKE 'p16-%' AND position(convert_to('10.9.9.16', 'UTF8') IN body_encrypted) > 0),
          0, 'quarantined bodies are not stored in clear');

SELECT is(has_function_privilege('loginvault_loader', 'public.stage_incoming_logins(integer)', 'EXECUTE'), true,
          'the loader may still call it');
SELECT is(has_function_privilege('loginvault_analyst', 'public.stage_incoming_logins(integer)', 'EXECUTE'), false,
          'the analyst still may not');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'public.stage_incoming_logins(integer)'::regprocedure), false,
          'it still runs with the caller''s rights');

SELECT * FROM finish();
ROLLBACK;
