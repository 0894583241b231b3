-- Key pairs of the public-key mode (15_public_key.sql): a wrapped key that
-- still encrypts rows cannot be deleted (DELETE or TRUNCATE); after a
-- rotation (use_public_key with a new pair) public_key_pairs() shows which
-- pairs rows still need, and remove_public_key deletes a retired pair only
-- once nothing needs it. Key pairs from gpg --batch
-- (Tests/sql/support/test-key.sh). Rolled back.
\set keydir `mktemp -d /tmp/lv-pgtap-key.XXXXXX`
\set pub `Tests/sql/support/test-key.sh :keydir public`
\set pub2 `Tests/sql/support/test-key.sh :keydir-2 public`
\set sec2 `Tests/sql/support/test-key.sh :keydir-2 secret`
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(17);
TRUNCATE user_logins, rejected_logins, raw_logins;
CREATE TEMP TABLE pair1 AS SELECT loginvault.use_public_key(:'pub') AS id;

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('kp-1', '{"user_id":"kp-u1","ip":"192.0.2.81","device_id":"kp-d1"}', now()),
  ('kp-2', '{"user_id":"kp-u2","ip":"192.0.2.82","device_id":"kp-d2"}', now()),
  ('kp-3', '{"user_id":"kp-u3","ip":"not an ip"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT quarantine_raw_login('kp-4', '{broken', 'invalid_json');
CREATE TEMP TABLE batch_key AS SELECT o.key_id FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 'kp-1';
CREATE TEMP TABLE staging_key AS SELECT key_id FROM rejected_logins WHERE message_id = 'kp-4';

-- The guard.
SELECT throws_like('DELETE FROM loginvault.wrapped_keys w USING batch_key b WHERE w.key_id = b.key_id',
                   '%wrapped key % still encrypts originals or quarantined bodies%', 'a batch key its logins use cannot be deleted');
SELECT throws_like('DELETE FROM loginvault.wrapped_keys w USING staging_key s WHERE w.key_id = s.key_id',
                   '%still encrypts%', 'nor the key of a message quarantined at staging');
SELECT throws_like('TRUNCATE loginvault.wrapped_keys', '%still encrypts%', 'nor all of them by TRUNCATE');
DELETE FROM rejected_logins WHERE message_id = 'kp-4';
SELECT lives_ok('DELETE FROM loginvault.wrapped_keys w USING staging_key s WHERE w.key_id = s.key_id',
                'once its row is gone (retention, erasure), the key can go');

-- Rotation: a second pair encrypts from now on; the first is retired, still needed.
CREATE TEMP TABLE pair2 AS SELECT loginvault.use_public_key(:'pub2') AS id;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES ('kp-5', '{"user_id":"kp-u5","ip":"192.0.2.85","device_id":"kp-d5"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT is((SELECT (current, wrapped_keys, originals, rejects, in_use)::text FROM loginvault.public_key_pairs() p, pair1 WHERE p.public_key_id = pair1.id),
          '(f,1,2,1,t)', 'public_key_pairs: the retired pair still encrypts 2 originals and 1 reject');
SELECT is((SELECT (current, wrapped_keys, originals, rejects, in_use)::text FROM loginvault.public_key_pairs() p, pair2 WHERE p.public_key_id = pair2.id),
          '(t,1,1,0,t)', 'public_key_pairs: the new pair is current');
SELECT is((SELECT in_use FROM loginvault.public_key_pairs() p, pair1 WHERE p.public_key_id = pair1.id), true, '... so the old pair is in use');
SELECT throws_like(format('SELECT loginvault.remove_public_key(%s)', (SELECT id FROM pair1)),
                   '%still encrypts 2 originals and 1 quarantined bodies%', 'remove_public_key refuses a pair rows still need');
SELECT throws_like(format('SELECT loginvault.remove_public_key(%s)', (SELECT id FROM pair2)),
                   '%encrypts new rows%', 'remove_public_key refuses the current pair');
SELECT throws_like('SELECT loginvault.remove_public_key(-1)', '%there is no key pair -1%', 'remove_public_key: an unknown pair');

-- The old rows go (as retention removes them); then the old pair can be removed.
DELETE FROM user_logins WHERE message_id IN ('kp-1', 'kp-2');
DELETE FROM rejected_logins WHERE message_id = 'kp-3';
SELECT is((SELECT (originals, rejects, in_use)::text FROM loginvault.public_key_pairs() p, pair1 WHERE p.public_key_id = pair1.id),
          '(0,0,f)', 'public_key_pairs: nothing needs the old pair any more');
SELECT is(loginvault.remove_public_key((SELECT id FROM pair1)), 1, 'remove_public_key deletes it with its one (unused) wrapped key');
SELECT ok(NOT EXISTS (SELECT FROM loginvault.public_keys p, pair1 WHERE p.public_key_id = pair1.id)
          AND NOT EXISTS (SELECT FROM loginvault.wrapped_keys w, pair1 WHERE w.public_key_id = pair1.id),
          'no trace of the old pair is left');
SELECT is((SELECT loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(:'sec2'), NULL))::jsonb->>'ip'
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 'kp-5'),
          '192.0.2.85', 'the rows under the new pair still decrypt with its private key');

-- Owner only.
\ir support/sqlstate_as.psql
SELECT is(pg_temp.sqlstate_as(r, 'SELECT * FROM loginvault.public_key_pairs()'), '42501', 'public_key_pairs refused for ' || r)
  FROM unnest(ARRAY['loginvault_pii_admin', 'loginvault_loader']::name[]) r;
SELECT is(pg_temp.sqlstate_as('loginvault_pii_admin', format('SELECT loginvault.remove_public_key(%s)', (SELECT id FROM pair2))), '42501',
          'remove_public_key refused for the PII admin');

SELECT * FROM finish();
ROLLBACK;
\set dummy `Tests/sql/support/test-key.sh :keydir remove; Tests/sql/support/test-key.sh :keydir-2 remove`
