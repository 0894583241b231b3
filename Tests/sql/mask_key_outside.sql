-- A mask key held outside the database: only its fingerprint is stored; a
-- session supplies the key from its temp table (COPY); a missing or wrong
-- key is refused, never used to make other masks. Rolled back.
BEGIN;
SELECT plan(16);

CREATE TEMP TABLE active AS SELECT version AS v FROM loginvault.mask_keys WHERE state = 'active';
-- An installation with logins cannot switch: its masks are under the stored key.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('mo-0', '{"user_id":"mo-u0","ip":"192.0.2.50"}', now());
SELECT loginvault.process_login_batch(NULL, 1000000);
CREATE TEMP TABLE loginvault_mask_key (key_hex text);
INSERT INTO loginvault_mask_key VALUES (encode(sha256('mo test key 1'), 'hex'));
SELECT throws_ok('SELECT loginvault.hold_mask_key_outside()', 'P0001',
                 'hold_mask_key_outside: logins have already been masked with the stored key',
                 'hold_mask_key_outside refuses once logins are masked under the stored key');
-- (as on a new install)
DELETE FROM user_logins;
DELETE FROM rejected_logins;

SELECT is(loginvault.hold_mask_key_outside(), (SELECT v FROM active), 'the install-time choice: the active version is now held outside');
SELECT ok((SELECT key_bytes IS NULL AND fingerprint = loginvault.mask_key_fingerprint(sha256('mo test key 1'))
             FROM loginvault.mask_keys WHERE state = 'active'),
          'only its fingerprint is stored');
SELECT is((SELECT count(*)::int FROM (SELECT key_bytes FROM loginvault.keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys) k
            WHERE k.key_bytes = sha256('mo test key 1')), 0, 'the key is in no key table');
SELECT ok(to_regclass('pg_temp.loginvault_mask_key') IS NULL, 'the temp table holding the key is dropped');

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('mo-1', '{"user_id":"mo-u1","ip":"192.0.2.51","device_id":"mo-dev-1"}', now());
SELECT is((SELECT upserted FROM loginvault.process_login_batch(NULL, 1000000)), 1, 'processing works in the session that supplied the key');
SELECT is((SELECT masked_ip::text FROM user_logins WHERE message_id = 'mo-1'),
          encode(loginvault.hmac(convert_to('ip:192.0.2.51', 'UTF8'), sha256('mo test key 1'), 'sha256'), 'hex'),
          'the masks are the HMAC under the key held outside');

-- A session that has not supplied it; a session that supplied another key.
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('mo-2', '{"user_id":"mo-u2","ip":"192.0.2.52"}', now());
SELECT set_config('loginvault.mask_key_' || v, '', false) FROM active;
SELECT throws_like('SELECT loginvault.process_login_batch(NULL, 1000000)',
                   '%is held outside the database, and this session has not supplied it%',
                   'without the key, processing is refused');
SELECT set_config('loginvault.mask_key_' || v, encode(sha256('mo wrong key'), 'hex'), false) FROM active;
SELECT throws_like('SELECT loginvault.process_login_batch(NULL, 1000000)',
                   '%is not that key%', 'with a wrong key (set behind supply_mask_keys'' back), processing is refused');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id = 'mo-2'), 1, 'and the message stays staged');

-- supply_mask_keys, as the loader.
GRANT SELECT ON active TO loginvault_loader;
SET LOCAL ROLE loginvault_loader;
DROP TABLE IF EXISTS loginvault_mask_key; CREATE TEMP TABLE loginvault_mask_key (key_hex text);
INSERT INTO loginvault_mask_key VALUES (encode(sha256('mo wrong key'), 'hex'));
SELECT throws_like('SELECT loginvault.supply_mask_keys()', '%no key given is a mask key of this installation (1 given)%',
                   'a wrong key file is refused');
-- (a refusal rolls back with the statement, so the caller drops the table, as the loader does)
DROP TABLE IF EXISTS loginvault_mask_key; CREATE TEMP TABLE loginvault_mask_key (key_hex text);
INSERT INTO loginvault_mask_key VALUES ('not hex at all');
SELECT throws_like('SELECT loginvault.supply_mask_keys()', '%must be written as hex%', 'a line that is not a hex key is refused, without quoting it');
DROP TABLE IF EXISTS loginvault_mask_key; CREATE TEMP TABLE loginvault_mask_key (key_hex text);
INSERT INTO loginvault_mask_key VALUES (''), (encode(sha256('some other key'), 'hex')), (upper(encode(sha256('mo test key 1'), 'hex')) || E'\r');
SELECT is(loginvault.supply_mask_keys(), ARRAY[(SELECT v FROM active)], 'the loader supplies the right key (blank lines, case, CR ignored; an unknown key ignored)');
SELECT is((SELECT upserted FROM loginvault.process_login_batch(NULL, 1000000)), 1, 'the loader''s session then processes');
RESET ROLE;
SELECT is((SELECT masked_ip::text FROM user_logins WHERE message_id = 'mo-2'),
          encode(loginvault.hmac(convert_to('ip:192.0.2.52', 'UTF8'), sha256('mo test key 1'), 'sha256'), 'hex'),
          'with the same masks');
SELECT ok(to_regclass('pg_temp.loginvault_mask_key') IS NULL, 'supply_mask_keys drops the temp table');

SELECT * FROM finish();
ROLLBACK;
