-- A message processed again is a duplicate whatever its content (SQS gives a
-- message id exactly one body): unchanged or changed, valid or broken, it
-- writes nothing and counts as unchanged; the login, its processed_at and
-- its ciphertext stay as they were. A redelivery of a reject is unchanged
-- too. TRUNCATE of the logins takes the originals along.
-- Rolled back; processes with the procedure's batch function inside this
-- transaction.
BEGIN;
SELECT plan(10);

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t45-a', '{"user_id":"u1","ip":"10.45.0.1","device_id":"111-11-1111","locale":"FR","app_version":"1.0"}', '2024-05-01 10:00Z'),
  ('t45-b', '{"user_id":"u2","ip":"10.45.0.2","device_id":"222-22-2222"}', '2024-05-01 10:00Z'),
  ('t45-r', '{"user_id":7}', '2024-05-01 10:00Z');
SELECT is((SELECT upserted || '/' || rejected FROM loginvault.process_login_batch(NULL, 1000)), '2/1',
          'two new logins, one reject');

CREATE TEMP TABLE first AS
SELECT u.*, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
 WHERE message_id LIKE 't45-%';
CREATE TEMP TABLE first_reject AS SELECT * FROM rejected_logins WHERE message_id = 't45-r';

-- The same three again: t45-a as it was, t45-b with other values, t45-r now valid.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t45-a', '{"user_id":"u1","ip":"10.45.0.1","device_id":"111-11-1111","locale":"FR","app_version":"1.0"}', '2024-05-01 10:00Z'),
  ('t45-b', '{"user_id":"u2","ip":"10.45.0.99","device_id":"222-22-2222","locale":"DE"}', '2024-05-02 10:00Z'),
  ('t45-r', '{"user_id":"u3","ip":"10.45.0.3"}', '2024-05-01 10:00Z');
CREATE TEMP TABLE second AS SELECT * FROM loginvault.process_login_batch(NULL, 1000);

SELECT is((SELECT staged || '/' || upserted || '/' || unchanged || '/' || rejected FROM second), '3/0/3/0',
          'all three redeliveries are unchanged, whatever their content');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't45-%'), 0, 'and they left staging');
SELECT set_eq($$SELECT u.*, o.originals FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id LIKE 't45-%'$$,
              $$SELECT * FROM first$$,
              'both logins are untouched (values, masks, processed_at, ciphertext)');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't45-b'), '10.45.0.2',
          'the changed one still reveals its first ip');
SELECT set_eq($$SELECT * FROM rejected_logins WHERE message_id = 't45-r'$$, $$SELECT * FROM first_reject$$,
              'the reject is untouched');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id = 't45-r'), 0, '... and did not become a login');

-- A login's message that comes back broken is not quarantined either.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t45-a', '{"user_id":7}', now());
SELECT is((SELECT unchanged || '/' || rejected FROM loginvault.process_login_batch(NULL, 1000)), '1/0',
          'a broken redelivery of a login is unchanged, not a reject');

TRUNCATE user_logins;
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals), 0, 'TRUNCATE user_logins takes the originals along');
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t45-a', '{"user_id":"u1","ip":"10.45.0.1"}', now());
SELECT lives_ok($$TRUNCATE user_logins, loginvault.user_login_originals;
                  SELECT loginvault.process_login_batch(NULL, 1000)$$,
                'truncating both in one statement works too, and the message can be processed again');

SELECT * FROM finish();
ROLLBACK;
