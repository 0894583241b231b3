-- forget_user in the public-key mode (65_forget.sql): the database cannot
-- decrypt a body, so the user's rejects are found by their user_tag
-- (30_quarantine.sql). Afterwards no ciphertext of the user is left in any
-- table, not even for the private key; the per-message key of the user's
-- staging reject is gone, the batch key the other user still needs stays;
-- masks unlinkable; staged messages (plain and SNS-wrapped) erased;
-- idempotent. Key pair from gpg --batch (Tests/sql/support/test-key.sh).
-- Rolled back.
\set keydir `mktemp -d /tmp/lv-pgtap-key.XXXXXX`
\set pub `Tests/sql/support/test-key.sh :keydir public`
\set sec `Tests/sql/support/test-key.sh :keydir secret`
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(17);
TRUNCATE user_logins, rejected_logins, raw_logins;
SELECT loginvault.use_public_key(:'pub');

-- body_user_id: where a reject's user id is found.
SELECT is(loginvault.body_user_id('{"user_id":"a","ip":"x"}'), 'a', 'body_user_id: a JSON object''s user_id');
SELECT is(loginvault.body_user_id(jsonb_build_object('Type', 'Notification', 'TopicArn', 'arn:t', 'Message', '{"user_id":"b\u00e9"}')::text),
          'bé', 'body_user_id: an SNS envelope''s Message''s user_id');
SELECT is(loginvault.body_user_id('{"user_id": "c\"d", broken'), 'c"d', 'body_user_id: in a body that is not JSON, "user_id": "..." decoded');
SELECT is(loginvault.body_user_id('[{"user_id":"e"}]'), 'e', 'body_user_id: in JSON that is not an object, the same');
SELECT ok(loginvault.body_user_id('{"ip":"1.2.3.4"}') IS NULL AND loginvault.body_user_id('garbage') IS NULL AND loginvault.body_user_id('') IS NULL,
          'body_user_id: NULL when the body names no user id');

-- pk-u1 is forgotten; pk-u2 shares the batch (and so its batch key).
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('pk-1', '{"user_id":"pk-u1","ip":"192.0.2.71","device_id":"pk-dev-u1"}', now()),
  ('pk-2', '{"user_id":"pk-u2","ip":"192.0.2.72","device_id":"pk-dev-u2"}', now()),
  ('pk-3', '{"user_id":"pk-u1","ip":"not-an-ip-pk-u1","device_id":"pk-dev-rej"}', now()),
  ('pk-4', '{"user_id":"pk-u2","ip":"not-an-ip-pk-u2"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT quarantine_raw_login('pk-5', '{"user_id": "pk-u1", "ip": "192.0.2.75", broken', 'invalid_json');
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('pk-6', '{"user_id":"pk-u1","ip":"192.0.2.76","device_id":"pk-dev-staged"}', now()),
  ('pk-7', jsonb_build_object('Type', 'Notification', 'TopicArn', 'arn:aws:sns:us-east-1:1:t',
                              'Message', '{"user_id":"pk-u1","ip":"192.0.2.77"}'), now());

CREATE TEMP TABLE u1_logins AS SELECT login_id, masked_ip, masked_device_id FROM user_logins WHERE user_id = 'pk-u1';
CREATE TEMP TABLE batch_key AS SELECT key_id FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 'pk-2';
CREATE TEMP TABLE staging_key AS SELECT key_id FROM rejected_logins WHERE message_id = 'pk-5';
-- every plaintext the PRIVATE key recovers from the database, and what is staged
CREATE FUNCTION pg_temp.all_plaintext(sec text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(sec), NULL)) FROM loginvault.user_login_originals o
  UNION ALL
  SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, loginvault.dearmor(sec), NULL)) FROM rejected_logins r
  UNION ALL
  SELECT body::text FROM raw_logins
$$;
CREATE TEMP TABLE u1_values (v text);
INSERT INTO u1_values VALUES ('192.0.2.71'), ('pk-dev-u1'), ('not-an-ip-pk-u1'), ('pk-dev-rej'), ('192.0.2.75'), ('192.0.2.76'), ('pk-dev-staged'), ('192.0.2.77'), ('pk-u1');
SELECT is((SELECT count(*)::int FROM u1_values v WHERE EXISTS (SELECT FROM pg_temp.all_plaintext(:'sec') p WHERE strpos(p, v.v) > 0)), 9,
          'control: before the erasure, the private key recovers each of the user''s 9 values');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id IN ('pk-3', 'pk-5') AND user_tag = loginvault.user_tag('pk-u1')), 2,
          'both of the user''s rejects (one judged by processing, one at staging, not JSON) carry the user''s tag');

CREATE TEMP TABLE result1 AS SELECT 0::bigint erasure_id, 0 logins, 0 originals, 0 rejects, 0 staged LIMIT 0;
GRANT INSERT ON result1 TO loginvault_pii_admin;
SET LOCAL ROLE loginvault_pii_admin;
INSERT INTO result1 SELECT * FROM forget_user('pk-u1', 'erasure request PRIV-9');
RESET ROLE;

SELECT is((SELECT (logins, originals, rejects, staged)::text FROM result1), '(1,1,2,2)',
          'public-key mode: 1 login, 1 original, 2 quarantined bodies and 2 staged messages (one in an SNS envelope) erased');
SELECT is((SELECT count(*)::int FROM u1_values v WHERE EXISTS (SELECT FROM pg_temp.all_plaintext(:'sec') p WHERE strpos(p, v.v) > 0)), 0,
          'unrecoverable: even the private key finds none of the user''s values in any table');
SELECT is((SELECT count(*)::int FROM rejected_logins
            WHERE message_id IN ('pk-3', 'pk-5', 'pk-6', 'pk-7')
              AND reason = 'forgotten' AND body_encrypted IS NULL AND key_id IS NULL AND user_tag IS NULL), 4,
          'the user''s rejects and staged messages are ''forgotten'' rejects with no ciphertext, key or tag');
SELECT ok(NOT EXISTS (SELECT FROM loginvault.wrapped_keys w JOIN staging_key s USING (key_id)),
          'the wrapped key only the user''s staging reject used is deleted');
SELECT ok(EXISTS (SELECT FROM loginvault.wrapped_keys w JOIN batch_key b USING (key_id)),
          'the batch key the other user''s rows still need stays');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(:'sec'), NULL))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 'pk-2'),
          '192.0.2.72', 'the other user''s original still decrypts with the private key');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id = 'pk-4'), 'invalid_ip', 'the other user''s reject keeps its reason');
SELECT is((SELECT count(*)::int FROM user_logins a JOIN user_logins b ON a.login_id <> b.login_id
            AND (a.masked_ip IN (b.masked_ip, b.masked_device_id) OR a.masked_device_id IN (b.masked_ip, b.masked_device_id))
            WHERE a.login_id IN (SELECT login_id FROM u1_logins)), 0,
          'masks unlinkable: no mask of the erased login equals another row''s');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN u1_logins f USING (login_id)
            WHERE u.masked_ip = f.masked_ip OR u.masked_device_id = f.masked_device_id OR u.user_id = 'pk-u1'), 0,
          'the erased login has new masks and no user id');

CREATE TEMP TABLE result2 AS SELECT * FROM result1 LIMIT 0;
GRANT INSERT ON result2 TO loginvault_pii_admin;
SET LOCAL ROLE loginvault_pii_admin;
INSERT INTO result2 SELECT * FROM forget_user('pk-u1', 'erasure request PRIV-9, again');
RESET ROLE;
SELECT is((SELECT (logins, originals, rejects, staged)::text FROM result2), '(0,0,0,0)',
          'idempotent: a second call erases nothing more');

SELECT * FROM finish();
ROLLBACK;
\set dummy `Tests/sql/support/test-key.sh :keydir remove`
