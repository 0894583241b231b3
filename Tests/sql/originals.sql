-- The encrypted originals are keyed by login_id. Each new login gets
-- its login_id from user_logins' identity sequence inside the batch, and its
-- originals row carries the same id; re-delivery, delete and the identity
-- default keep working. Rolled back; processes with the batch function
-- inside this transaction.
BEGIN;
SELECT plan(14);

SELECT col_is_pk('loginvault', 'user_login_originals', 'login_id', 'the originals are keyed by login_id');
SELECT col_type_is('loginvault', 'user_login_originals', 'login_id', 'bigint', '... a bigint, like user_logins.login_id');
SELECT hasnt_column('loginvault', 'user_login_originals', 'message_id', 'the originals no longer carry the message id');
SELECT is((SELECT array_agg(privilege_type::text ORDER BY privilege_type) FROM information_schema.role_table_grants
            WHERE table_schema = 'loginvault' AND table_name = 'user_login_originals' AND grantee = 'loginvault_pii_admin'),
          ARRAY['SELECT'], 'the rebuilt table keeps its one grant: SELECT for the PII admin');
SELECT is((SELECT count(*)::int FROM information_schema.role_table_grants
            WHERE table_schema = 'loginvault' AND table_name = 'user_login_originals'
              AND grantee IN ('PUBLIC', 'loginvault_analyst', 'loginvault_loader')), 0,
          '... and nothing for PUBLIC, analysts or the loader');

CREATE TEMP TABLE seq_before AS
SELECT coalesce(max(login_id), 0) AS max_login_id FROM user_logins;

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't46-' || i, jsonb_build_object('user_id', 'u' || i, 'ip', '10.46.0.' || i, 'device_id', 'd46-' || i), '2024-06-01 10:00Z'
  FROM generate_series(1, 20) i;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t46-bad', '{"user_id": 46}', '2024-06-01 10:00Z');
SELECT is((SELECT upserted || '/' || rejected FROM loginvault.process_login_batch(NULL, 1000)), '20/1',
          '20 new logins and one reject');

SELECT is((SELECT count(*)::int FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
            WHERE u.message_id LIKE 't46-%'), 20, 'every new login has its originals under the same login_id');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
            WHERE u.message_id LIKE 't46-%'
              AND loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb
                  = jsonb_build_object('ip', '10.46.0.' || substr(u.message_id, 5), 'device_id', 'd46-' || substr(u.message_id, 5))),
          20, '... and each decrypts to its own ip and device id');
SELECT ok((SELECT min(login_id) > (SELECT max_login_id FROM seq_before) FROM user_logins WHERE message_id LIKE 't46-%'),
          'the ids come from the identity sequence (above every earlier login)');

-- The identity default still works after the procedure took ids itself.
INSERT INTO user_logins (user_id, create_date, message_id) VALUES ('by-hand', '2024-06-01', 't46-by-hand');
SELECT ok((SELECT login_id FROM user_logins WHERE message_id = 't46-by-hand')
          > (SELECT max(login_id) FROM user_logins WHERE message_id LIKE 't46-%' AND message_id <> 't46-by-hand'),
          'a row inserted with the default login_id gets a fresh id, no collision');

-- Re-delivery with a changed ip: a duplicate, the originals keep the first ip.
INSERT INTO raw_logins (message_id, body, sent_at)
VALUES ('t46-3', '{"user_id": "u3", "ip": "10.46.1.3", "device_id": "d46-3"}', '2024-06-01 10:00Z');
SELECT is((SELECT unchanged FROM loginvault.process_login_batch(NULL, 1000)), 1, 'a changed re-delivery is unchanged');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb->>'ip'
             FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id) WHERE u.message_id = 't46-3'),
          '10.46.0.3', '... its originals still hold the first ip');

-- Deleting logins deletes exactly their originals.
DELETE FROM user_logins WHERE message_id IN ('t46-1', 't46-2');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
            WHERE u.message_id LIKE 't46-%'), 18, 'the other logins keep their originals');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o
            WHERE NOT EXISTS (SELECT FROM user_logins u WHERE u.login_id = o.login_id)), 0,
          'no originals row is left without its login');

SELECT * FROM finish();
ROLLBACK;
