-- A NULL, empty or oversized (3 KB) message id never stops a batch: the
-- message is quarantined with reason invalid_message_id under
-- 'invalid-id:' || hex(sha256(length || ':' || id || body)) and the rest of
-- its batch lands (30_quarantine.sql). Run as the loader role. Rolled back.
BEGIN;
SELECT plan(11);

SET LOCAL ROLE loginvault_loader;
CREATE TEMP TABLE loginvault_incoming (
  message_id text, body bytea, sent_at timestamptz, receive_count integer
) ON COMMIT DROP;

-- One batch: two good messages and the three bad ids, each with a body.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), now(), 1 FROM (VALUES
  ('t5-1', '{"user_id":"u1","ip":"10.5.0.1"}'),
  (NULL,   '{"user_id":"null-id","ip":"10.5.0.2"}'),
  ('',     '{"user_id":"empty-id","ip":"10.5.0.3"}'),
  (repeat('x', 3000), '{"user_id":"long-id","ip":"10.5.0.4"}'),
  ('t5-2', '{"user_id":"u2","ip":"10.5.0.5"}')) v(m, b);
SELECT results_eq('SELECT staged, duplicates, rejected + quarantined FROM stage_incoming_logins()',
                  $$VALUES (2, 0, 3)$$, 'the batch lands: two staged, three quarantined');

-- The same batch again: a redelivery is a duplicate, also for the bad ids.
SELECT results_eq('SELECT staged, duplicates, rejected + quarantined FROM stage_incoming_logins()',
                  $$VALUES (0, 5, 0)$$, 'delivered again: five duplicates');
TRUNCATE loginvault_incoming;

-- The same NULL id with another body is another message.
INSERT INTO loginvault_incoming VALUES (NULL, convert_to('{"user_id":"other"}', 'UTF8'), now(), 1);
SELECT results_eq('SELECT staged, duplicates, rejected + quarantined FROM stage_incoming_logins()',
                  $$VALUES (0, 0, 1)$$, 'a NULL id with another body is quarantined on its own');
TRUNCATE loginvault_incoming;

-- A bad id in a batch that also holds a poison message and a bad body.
INSERT INTO loginvault_incoming SELECT m, convert_to(b, 'UTF8'), now(), r FROM (VALUES
  ('t5-3', '{"user_id":"u3"}', 1),
  ('',     'not json', 1),
  ('t5-4', 'not json either', 1),
  ('t5-5', '{"user_id":"u5"}', 9)) v(m, b, r);
SELECT results_eq('SELECT staged, duplicates, rejected + quarantined FROM stage_incoming_logins(5)',
                  $$VALUES (1, 0, 3)$$, 'with poison and a bad body too: the good one is staged');

-- The single-message entry points take bad ids too.
SELECT is(stage_raw_login(NULL, '{"user_id":"single"}', now(), 1), 'rejected', 'stage_raw_login: a NULL id is quarantined, not an error');
SELECT is(quarantine_raw_login('', 'x', 'too_many_receives'), true, 'quarantine_raw_login: an empty id is quarantined, not an error');
RESET ROLE;

SELECT results_eq($$SELECT message_id FROM raw_logins WHERE message_id LIKE 't5-%' ORDER BY 1$$,
                  $$VALUES ('t5-1'), ('t5-2'), ('t5-3')$$, 'the good messages are staged');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE reason = 'invalid_message_id'), 7,
          'seven messages quarantined as invalid_message_id');
SELECT ok((SELECT bool_and(message_id ~ '^invalid-id:[0-9a-f]{64}$') FROM rejected_logins WHERE reason = 'invalid_message_id'),
          'each under invalid-id: and a SHA-256');
SELECT is((SELECT count(*)::int FROM rejected_logins
            WHERE message_id IN (loginvault.invalid_message_id_key(NULL, '{"user_id":"null-id","ip":"10.5.0.2"}'),
                                 loginvault.invalid_message_id_key('', '{"user_id":"empty-id","ip":"10.5.0.3"}'),
                                 loginvault.invalid_message_id_key(repeat('x', 3000), '{"user_id":"long-id","ip":"10.5.0.4"}'))),
          3, 'the key is the documented derivation of id and body');
SELECT is((SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, NULL, NULL)) FROM rejected_logins r
            WHERE r.message_id = loginvault.invalid_message_id_key(NULL, '{"user_id":"null-id","ip":"10.5.0.2"}')),
          '{"user_id":"null-id","ip":"10.5.0.2"}', 'the body is kept (encrypted)');

SELECT * FROM finish();
ROLLBACK;
