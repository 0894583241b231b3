-- The loader's contract: the INSERT fast path, stage_raw_login and
-- quarantine_raw_login. Rolled back.
BEGIN;
SELECT plan(22);

-- The fast path: re-staging a message id is a no-op.
INSERT INTO raw_logins (message_id, body, sent_at, receive_count)
VALUES ('t10-fast', '{"user_id":"u1"}', now(), 1)
ON CONFLICT (message_id) DO NOTHING;
INSERT INTO raw_logins (message_id, body, sent_at, receive_count)
VALUES ('t10-fast', '{"user_id":"CHANGED"}', now(), 2)
ON CONFLICT (message_id) DO NOTHING;
SELECT is((SELECT body->>'user_id' FROM raw_logins WHERE message_id = 't10-fast'), 'u1',
          're-staging a message id with INSERT ... ON CONFLICT DO NOTHING changes nothing');

SELECT is(stage_raw_login('t10-ok', '{"user_id":"u2","ip":"1.2.3.4"}', '2024-05-01 10:00Z', 1), 'staged',
          'valid JSON is staged');
SELECT is((SELECT receive_count FROM raw_logins WHERE message_id = 't10-ok'), 1, 'with its receive count');
SELECT is(stage_raw_login('t10-ok', '{"user_id":"other"}', '2024-05-01 10:00Z', 2), 'duplicate',
          'the same message id again is a duplicate');
SELECT is((SELECT body->>'user_id' FROM raw_logins WHERE message_id = 't10-ok'), 'u2', 'and changes nothing');
SELECT is(stage_raw_login('t10-array', '[1,2]', NULL, NULL), 'staged',
          'valid JSON that is not an object is staged (processing rejects it)');

SELECT is(stage_raw_login('t10-bad', '{"user_id": "u3", "ip": "9.9.9.9"', now(), 1), 'rejected', 'invalid JSON is rejected');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't10-bad'), 'invalid_json', '... with reason invalid_json');
SELECT is(stage_raw_login('t10-nul', '{"a":"\u0000"}', now(), 1), 'rejected', '\u0000 is rejected');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't10-nul'), 'unsupported_unicode_escape',
          '... with reason unsupported_unicode_escape');
SELECT is(stage_raw_login('t10-sur', '{"a":"\ud800"}', now(), 1), 'rejected', 'a lone surrogate is rejected');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 't10-sur'), 'invalid_unicode_surrogate',
          '... with reason invalid_unicode_surrogate');
SELECT is(stage_raw_login('t10-empty', '', now(), 1), 'rejected', 'an empty body is rejected');
SELECT is(stage_raw_login('t10-deep', repeat('[', 100000) || repeat(']', 100000), now(), 1), 'rejected',
          'absurdly deep nesting is rejected, not an error');
SELECT is(stage_raw_login('t10-bad', 'still not json', now(), 2), 'duplicate',
          'a message already quarantined is a duplicate');
SELECT ok((SELECT position('9.9.9.9' IN body_encrypted::text) = 0 FROM rejected_logins WHERE message_id = 't10-bad')
          AND (SELECT loginvault.decrypt(body_encrypted, loginvault.data_key_passphrase(key_id))
                 FROM rejected_logins WHERE message_id = 't10-bad') = '{"user_id": "u3", "ip": "9.9.9.9"',
          'the quarantined body is stored encrypted and decrypts to the original text');

SELECT is(quarantine_raw_login('t10-q', '{"user_id":"u4"}', 'too_many_receives', now(), 7), true,
          'quarantine_raw_login stores a new message');
SELECT is((SELECT reason || '/' || receive_count FROM rejected_logins WHERE message_id = 't10-q'), 'too_many_receives/7',
          '... with its reason and receive count');
SELECT is(quarantine_raw_login('t10-q', '{"user_id":"u4"}', 'too_many_receives'), false,
          'quarantine_raw_login is idempotent (second call is a no-op)');
SELECT is(quarantine_raw_login('t10-ok', '{"user_id":"u2"}', 'too_many_receives'), false,
          'a message already staged is not also quarantined');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is(quarantine_raw_login('t10-ok', '{"user_id":"u2"}', 'too_many_receives'), false,
          'a message already in user_logins is not also quarantined');
SELECT throws_ok($$SELECT quarantine_raw_login('t10-x', '{}', 'Not A Code')$$, 'P0001', NULL,
                 'a reason that is not a lowercase code is refused');

SELECT * FROM finish();
ROLLBACK;
