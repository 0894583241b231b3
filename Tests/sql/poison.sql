-- A message quarantined as too_many_receives (the loader's poison bound) ends
-- there only: another delivery of it, staged by a second loader that held it,
-- does not also become a login; and the quarantine cannot slip in between a
-- processing batch's probe and its commit (the two share an advisory lock).
-- Rolled back; runs the batch function inside this transaction.
BEGIN;
SELECT plan(9);

-- Loader A quarantined delivery 6 of t47-a; loader B held delivery 5 and staged
-- it afterwards (its fast path does not look at rejected_logins).
SELECT ok(quarantine_raw_login('t47-a', '{"user_id":"u47","ip":"10.47.0.1"}', 'too_many_receives',
                               '2024-05-01 10:00Z', 6),
          'the poison message is quarantined');
SELECT ok(EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                     AND mode = 'ExclusiveLock' AND granted
                     AND ((classid::bigint << 32) | objid::bigint) = x'6c76706f69736f6e'::bigint),
          'a poison quarantine holds the processing lock exclusively until it commits');
INSERT INTO raw_logins (message_id, body, sent_at, receive_count) VALUES
  ('t47-a', '{"user_id":"u47","ip":"10.47.0.1"}', '2024-05-01 10:00Z', 5),
  ('t47-b', '{"user_id":"u47b","ip":"10.47.0.2"}', '2024-05-01 10:00Z', 1);

CREATE TEMP TABLE result AS SELECT * FROM loginvault.process_login_batch(NULL, 1000);
SELECT is((SELECT staged || '/' || upserted || '/' || unchanged || '/' || rejected FROM result), '2/1/1/0',
          'two staged: the ordinary one upserted, the quarantined one counted unchanged');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id = 't47-a'), 0, 'the quarantined message did not become a login');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id = 't47-a'), 1, '... it is in the quarantine, once');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id = 't47-b'), 1, 'the other message is a login');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't47-%'), 0, 'both left staging (no plaintext stays)');
SELECT ok(EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                     AND mode = 'ShareLock' AND granted
                     AND ((classid::bigint << 32) | objid::bigint) = x'6c76706f69736f6e'::bigint),
          'a processing batch holds the same lock shared (batches never wait for each other)');

-- Other reasons are decided by the body, which every delivery shares: no lock
-- is needed, and a message already a login is never quarantined.
SELECT is(quarantine_raw_login('t47-b', 'x', 'too_many_receives'), false,
          'a message that is already a login is not quarantined');

SELECT * FROM finish();
ROLLBACK;
