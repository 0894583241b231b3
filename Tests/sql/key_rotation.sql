-- Data-key rotation re-encrypts everything and keeps every row decryptable.
-- CALL loginvault.rotate_data_key() COMMITs, so this test commits: message
-- ids 't70-*', removed at the end. The new key stays (that is the point).
SET client_min_messages = warning;
DELETE FROM raw_logins WHERE message_id LIKE 't70-%';
DELETE FROM user_logins WHERE message_id LIKE 't70-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't70-%';

SELECT plan(9);

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't70-' || i, jsonb_build_object('user_id', 'u' || i, 'ip', '10.7.' || (i / 256) || '.' || (i % 256),
                                       'device_id', 'dev-' || i), now()
  FROM generate_series(1, 250) i;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t70-bad', '{"user_id": 7, "ip": "10.70.70.70"}', now());
CALL process_raw_logins();

-- Plaintext before rotation, to compare with after.
CREATE TEMP TABLE plain_before AS
SELECT u.message_id, loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)) AS originals
  FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id) WHERE u.message_id LIKE 't70-%';
CREATE TEMP TABLE reject_before AS
SELECT message_id, loginvault.decrypt(body_encrypted, loginvault.data_key_passphrase(key_id)) AS body
  FROM rejected_logins WHERE message_id LIKE 't70-%';
CREATE TEMP TABLE key_before AS SELECT (loginvault.current_data_key()).key_id AS old_key_id;

CALL loginvault.rotate_data_key(100);

SELECT isnt((loginvault.current_data_key()).key_id, (SELECT old_key_id FROM key_before), 'a new data key is current');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o, key_before WHERE o.key_id <> (loginvault.current_data_key()).key_id), 0,
          'every encrypted original is under the new key');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE key_id <> (loginvault.current_data_key()).key_id), 0,
          'every quarantined body is under the new key');
SELECT set_eq($$SELECT u.message_id, loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))
                  FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id) WHERE u.message_id LIKE 't70-%'$$,
              'SELECT * FROM plain_before', 'every original still decrypts to the same plaintext');
SELECT set_eq($$SELECT message_id, loginvault.decrypt(body_encrypted, loginvault.data_key_passphrase(key_id))
                  FROM rejected_logins WHERE message_id LIKE 't70-%'$$,
              'SELECT * FROM reject_before', 'every quarantined body still decrypts to the same text');
SELECT ok((SELECT retired_at IS NOT NULL FROM loginvault.keys, key_before WHERE key_id = old_key_id),
          'the old key is retired but kept until purged');
SELECT cmp_ok(loginvault.purge_unused_data_keys(), '>=', 1, 'purge_unused_data_keys drops retired keys nothing uses');
SELECT ok(NOT EXISTS (SELECT FROM loginvault.keys, key_before WHERE key_id = old_key_id), '... including the old key');
SELECT throws_ok($$DELETE FROM loginvault.keys WHERE key_id = (loginvault.current_data_key()).key_id$$, '23503', NULL,
                 'a key still in use cannot be deleted');

DELETE FROM user_logins WHERE message_id LIKE 't70-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't70-%';
SELECT * FROM finish();
