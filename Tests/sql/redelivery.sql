-- A message processed again: unchanged, it writes nothing; with a changed
-- body, its login row is updated in place (same login_id) and its originals
-- are encrypted again. TRUNCATE of the logins takes the originals along.
-- Rolled back; processes with the procedure's batch function inside this
-- transaction.
BEGIN;
SELECT plan(11);

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t45-a', '{"user_id":"u1","ip":"10.45.0.1","device_id":"111-11-1111","locale":"FR","app_version":"1.0"}', '2024-05-01 10:00Z'),
  ('t45-b', '{"user_id":"u2","ip":"10.45.0.2","device_id":"222-22-2222"}', '2024-05-01 10:00Z');
SELECT is((SELECT upserted FROM loginvault.process_login_batch(NULL, 1000)), 2, 'two new logins');

CREATE TEMP TABLE first AS
SELECT u.*, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
 WHERE message_id LIKE 't45-%';

-- The same two again, t45-b changed (new ip and locale).
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t45-a', '{"user_id":"u1","ip":"10.45.0.1","device_id":"111-11-1111","locale":"FR","app_version":"1.0"}', '2024-05-01 10:00Z'),
  ('t45-b', '{"user_id":"u2","ip":"10.45.0.99","device_id":"222-22-2222","locale":"DE"}', '2024-05-01 10:00Z');
CREATE TEMP TABLE second AS SELECT * FROM loginvault.process_login_batch(NULL, 1000);

SELECT is((SELECT upserted || '/' || unchanged || '/' || rejected FROM second), '1/1/0',
          'one changed (upserted), one unchanged, no reject');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't45-%'), 2, 'still two logins');
SELECT set_eq($$SELECT u.*, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id = 't45-a'$$,
              $$SELECT * FROM first WHERE message_id = 't45-a'$$,
              'the unchanged one is untouched (row, processed_at, ciphertext)');
SELECT is((SELECT login_id FROM user_logins WHERE message_id = 't45-b'),
          (SELECT login_id FROM first WHERE message_id = 't45-b'), 'the changed one keeps its login_id');
SELECT is((SELECT locale FROM user_logins WHERE message_id = 't45-b'), 'DE', '... and has the new values');
SELECT is((SELECT masked_ip::text FROM user_logins WHERE message_id = 't45-b'),
          encode(loginvault.hmac(convert_to('ip:10.45.0.99', 'UTF8'), loginvault.mask_key(), 'sha256'), 'hex'),
          '... including the new mask');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't45-b'), '10.45.0.99',
          '... and its originals, encrypted again');

-- A login's message that comes back broken is quarantined; the login stays.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t45-a', '{"user_id":7}', now());
SELECT is((SELECT rejected FROM loginvault.process_login_batch(NULL, 1000)), 1,
          'a broken re-delivery is rejected');

TRUNCATE user_logins;
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals), 0, 'TRUNCATE user_logins takes the originals along');
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t45-a', '{"user_id":"u1","ip":"10.45.0.1"}', now());
SELECT lives_ok($$TRUNCATE user_logins, loginvault.user_login_originals;
                  SELECT loginvault.process_login_batch(NULL, 1000)$$,
                'truncating both in one statement works too, and the message can be processed again');

SELECT * FROM finish();
ROLLBACK;
