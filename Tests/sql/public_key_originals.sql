-- The public-key originals mode (sql/definitions/15_public_key.sql): per batch
-- one random data key, stored only wrapped under the public key; the database
-- alone decrypts nothing, the private key does. Key pairs from gpg --batch
-- (Tests/sql/support/test-key.sh). Rolled back.
\set keydir `mktemp -d /tmp/lv-pgtap-key.XXXXXX`
\set pub `Tests/sql/support/test-key.sh :keydir public`
\set sec `Tests/sql/support/test-key.sh :keydir secret`
\set pub2 `Tests/sql/support/test-key.sh :keydir-2 public`
\set sec2 `Tests/sql/support/test-key.sh :keydir-2 secret`
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(19);
-- a fresh installation: nothing encrypted yet
TRUNCATE user_logins, rejected_logins, raw_logins;

SELECT ok(NOT loginvault.public_key_mode(), 'the default is the symmetric mode');
SELECT throws_like($$SELECT loginvault.use_public_key('not a key')$$, '%armored OpenPGP public key%', 'a non-key is refused');
SELECT throws_like(format('SELECT loginvault.use_public_key(%L)', :'sec'), '%armored OpenPGP public key%', 'a private key is refused');

-- symmetric data already there: the switch is refused
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t95-0', '{"user_id":"u0","ip":"192.0.2.200","device_id":"d-0000000"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT throws_like(format('SELECT loginvault.use_public_key(%L)', :'pub'), '%already holds originals%',
                   'switching after originals were encrypted under the data key is refused');
TRUNCATE user_logins, rejected_logins;

SELECT isnt(loginvault.use_public_key(:'pub'), NULL, 'use_public_key takes an armored public key');
SELECT ok(loginvault.public_key_mode(), 'public-key mode');
SELECT is((SELECT count(*)::int FROM loginvault.keys WHERE purpose = 'data'), 0, 'no data key is left in the database');

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t95-1', '{"user_id":"u1","ip":"192.0.2.201","device_id":"d-1111111"}', now()),
  ('t95-2', '{"user_id":"u2","ip":"192.0.2.202","device_id":"d-2222222"}', now()),
  ('t95-3', '{"user_id":"u3","ip":"not an ip","device_id":"d-3333333"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys), 1, 'one wrapped key for the batch, not one per row');
SELECT ok((SELECT bool_and(o.key_id = w.key_id) FROM loginvault.user_login_originals o, loginvault.wrapped_keys w)
          AND (SELECT r.key_id FROM rejected_logins r WHERE r.message_id = 't95-3') = (SELECT key_id FROM loginvault.wrapped_keys),
          'the logins and the reject of the batch are under the batch key');
SELECT ok(NOT EXISTS (SELECT FROM loginvault.keys k JOIN loginvault.wrapped_keys w USING (key_id)), 'a batch key id names no stored key');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o WHERE loginvault.originals_passphrase(o.key_id, NULL, NULL) IS NOT NULL), 0,
          'without the private key the database decrypts nothing');
SELECT set_eq($$SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor($$ || quote_literal(:'sec') || $$), NULL))::jsonb->>'ip'
                  FROM loginvault.user_login_originals o$$,
              ARRAY['192.0.2.201', '192.0.2.202'], 'with the private key every original decrypts');
SELECT is(public.quarantine_raw_login('t95-q', '{"ip":"192.0.2.209"}', 'invalid_json'), true, 'a quarantine at staging');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys), 2, 'gets its own wrapped key');
SELECT is((SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, loginvault.dearmor(:'sec'), NULL))
             FROM rejected_logins r WHERE r.message_id = 't95-q'), '{"ip":"192.0.2.209"}', 'which the private key opens');
SELECT ok((SELECT bool_and(s.state = 'ok') AND count(*) FILTER (WHERE s.item = 'public key' AND s.value LIKE '% (public-key mode), 2 wrapped batch keys') = 1
              FROM loginvault.status() s WHERE s.category = 'keys'),
          'status: no data key is not a problem in public-key mode; it names the PGP key');
SELECT throws_like($$CALL loginvault.rotate_data_key()$$, '%no data key to rotate%', 'there is no data key to rotate');

-- key-pair rotation: a new pair encrypts from now on; the old rows stay under the old pair
SELECT loginvault.use_public_key(:'pub2');
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('t95-4', '{"user_id":"u4","ip":"192.0.2.204","device_id":"d-4444444"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(:'sec2'), NULL))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't95-4'),
          '192.0.2.204', 'after use_public_key with a new pair, new rows open with the new private key');
SELECT throws_like(format($$SELECT loginvault.originals_passphrase(o.key_id, loginvault.dearmor(%L), NULL)
                          FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 't95-1'$$, :'sec2'),
                   '%private key does not open key%Wrong key%', 'and old rows still need the old one');

SELECT * FROM finish();
ROLLBACK;
\set dummy `Tests/sql/support/test-key.sh :keydir remove; Tests/sql/support/test-key.sh :keydir-2 remove`
