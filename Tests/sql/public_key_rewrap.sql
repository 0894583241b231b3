-- Key-pair rotation that re-wraps (84_key_pair_rewrap.sql): two key pairs,
-- rows under both; the batch keys of the retired pair are re-encrypted to the
-- current public key with the old private key. Afterwards every original and
-- quarantined body opens with the new private key alone, the old private key
-- opens no wrapped key, the rows themselves are byte for byte unchanged,
-- each batch key was unwrapped once, and the old pair can be removed. The
-- refusals (a key of no pair, the current pair's key, no or a wrong
-- passphrase, a rotation meanwhile) change nothing; a partial run is finished
-- by a rerun. The procedure's pieces are called here as it calls them
-- (rewrap_source, rewrap_barrier, rewrap_batch): CALL rewrap_public_key
-- COMMITs, and this test is rolled back; the CLI test runs the procedure
-- (Tests/LoginVaultTests/Security/KeyPairRewrapTests.swift).
\set keydir `mktemp -d /tmp/lv-pgtap-key.XXXXXX`
\set pub1 `TEST_KEY_PASSPHRASE=old-pass Tests/sql/support/test-key.sh :keydir public`
\set sec1 `TEST_KEY_PASSPHRASE=old-pass Tests/sql/support/test-key.sh :keydir secret`
\set pub2 `Tests/sql/support/test-key.sh :keydir-2 public`
\set sec2 `Tests/sql/support/test-key.sh :keydir-2 secret`
\set pub3 `Tests/sql/support/test-key.sh :keydir-3 public`
\set sec3 `Tests/sql/support/test-key.sh :keydir-3 secret`
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL track_functions = 'all';  -- counts pgcrypto's pgp_pub_decrypt calls
SELECT plan(34);
TRUNCATE user_logins, rejected_logins, raw_logins;  -- a fresh installation

-- pgcrypto's pgp_pub_decrypt calls in this transaction (an unwrap of a batch key)
CREATE FUNCTION pg_temp.unwraps() RETURNS integer LANGUAGE sql AS $$
  SELECT coalesce(sum(pg_stat_get_xact_function_calls(p.oid)), 0)::int FROM pg_proc p
   WHERE p.proname = 'pgp_pub_decrypt' AND p.pronamespace <> 'loginvault'::regnamespace
$$;
-- Whether a private key (and passphrase) opens a wrapped key.
CREATE FUNCTION pg_temp.opens(wrapped bytea, armored text, pass text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM loginvault.pgp_pub_decrypt(wrapped, loginvault.dearmor(armored), coalesce(pass, ''));
  RETURN true;
EXCEPTION WHEN external_routine_invocation_exception THEN
  RETURN false;
END $$;

-- Pair 1 (its private key has a passphrase): two processing batches and a
-- message quarantined at staging, three batch keys.
CREATE TEMP TABLE pair1 AS SELECT loginvault.use_public_key(:'pub1') AS id;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('rw-1', '{"user_id":"rw-u1","ip":"192.0.2.11","device_id":"rw-d1"}', now()),
  ('rw-2', '{"user_id":"rw-u2","ip":"192.0.2.12","device_id":"rw-d2"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('rw-3', '{"user_id":"rw-u3","ip":"192.0.2.13","device_id":"rw-d3"}', now());
SELECT loginvault.process_login_batch(NULL, 100);
SELECT quarantine_raw_login('rw-4', '{"user_id":"rw-u4","ip":"192.0.2.14"', 'invalid_json');
-- Pair 2, current: one more batch.
CREATE TEMP TABLE pair2 AS SELECT loginvault.use_public_key(:'pub2') AS id;
INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('rw-5', '{"user_id":"rw-u5","ip":"192.0.2.15","device_id":"rw-d5"}', now());
SELECT loginvault.process_login_batch(NULL, 100);

SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w, pair1 WHERE w.public_key_id = pair1.id), 3,
          'control: three batch keys under the retired pair');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w, pair2 WHERE w.public_key_id = pair2.id), 1,
          'control: one under the current pair');
SELECT throws_like(format($$SELECT loginvault.originals_passphrase(o.key_id, loginvault.dearmor(%L), NULL)
                       FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id) WHERE u.message_id = 'rw-1'$$, :'sec2'),
                   '%private key does not open key%', 'control: before the rewrap the new private key does not open an old row');

-- The rows as they are (they must not change).
CREATE TEMP TABLE originals_before AS SELECT login_id, key_id, originals FROM loginvault.user_login_originals;
CREATE TEMP TABLE rejects_before AS SELECT message_id, key_id, body_encrypted FROM rejected_logins;
CREATE TEMP TABLE wrapped_before AS SELECT key_id, public_key_id, wrapped_key FROM loginvault.wrapped_keys;

-- Refusals, with nothing changed.
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, NULL)', :'sec3'), '%belongs to no key pair of this installation%',
                   'a private key of no pair is refused');
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, NULL)', :'sec2'), '%is the current key pair''s%',
                   'the current pair''s private key is refused');
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, NULL)', :'pub1'), '%give the armored private key%',
                   'a public key is refused');
SELECT throws_like('SELECT loginvault.rewrap_source(NULL, NULL)', '%give the armored private key%', 'no key is refused');
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, NULL)', :'sec1'), '%does not open its batch keys%',
                   'the old key without its passphrase is refused');
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, %L)', :'sec1', 'wrong-pass'), '%does not open its batch keys%',
                   'the old key with a wrong passphrase is refused');
SELECT throws_like(format('SELECT loginvault.rewrap_barrier(%s)', (SELECT id FROM pair2)), '%is not a retired pair%',
                   'the barrier refuses the current pair');
SELECT throws_like(format('SELECT loginvault.rewrap_batch(%s, %s, 10, %L, %L)', (SELECT id FROM pair1), (SELECT id FROM pair2), :'sec1', 'wrong-pass'),
                   '%does not open a batch key of key pair%', 'a batch with a wrong passphrase is refused');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w JOIN wrapped_before b USING (key_id)
            WHERE w.public_key_id = b.public_key_id AND w.wrapped_key = b.wrapped_key), 4,
          'after the refusals no wrapped key changed');

-- The pair the old key belongs to.
SELECT is((SELECT (s.from_public_key_id = pair1.id AND s.to_public_key_id = pair2.id, s.wrapped_keys)::text
             FROM loginvault.rewrap_source(:'sec1', 'old-pass') s, pair1, pair2),
          '(t,3)', 'rewrap_source: the old key belongs to pair 1, re-wrapping to pair 2, three keys left');
SELECT lives_ok(format('SELECT loginvault.rewrap_barrier(%s)', (SELECT id FROM pair1)), 'the barrier takes the retired pair');

-- A partial run (one batch of 2, as if stopped after it), one unwrap per key.
CREATE TEMP TABLE unwraps_before AS SELECT pg_temp.unwraps() AS n;
SELECT is(loginvault.rewrap_batch((SELECT id FROM pair1), (SELECT id FROM pair2), 2, :'sec1', 'old-pass'), 2,
          'a first batch of 2 moves 2 batch keys');
SELECT is(pg_temp.unwraps() - (SELECT n FROM unwraps_before), 2, '... with one unwrap per batch key (none per row)');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w, pair1 WHERE w.public_key_id = pair1.id), 1,
          'the partial run leaves one key under the old pair');
-- The rerun finishes it.
SELECT is((SELECT s.wrapped_keys FROM loginvault.rewrap_source(:'sec1', 'old-pass') s), 1::bigint, 'the rerun finds one key left');
SELECT is(loginvault.rewrap_batch((SELECT id FROM pair1), (SELECT id FROM pair2), 2, :'sec1', 'old-pass'), 1,
          'the rerun moves the last one');
SELECT is(loginvault.rewrap_batch((SELECT id FROM pair1), (SELECT id FROM pair2), 2, :'sec1', 'old-pass'), 0,
          'and then finds nothing left');

-- Afterwards.
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w, pair2 WHERE w.public_key_id = pair2.id), 4,
          'every batch key is under the current pair');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w WHERE pg_temp.opens(w.wrapped_key, :'sec2', NULL)), 4,
          'the new private key opens every wrapped key');
SELECT is((SELECT count(*)::int FROM loginvault.wrapped_keys w WHERE pg_temp.opens(w.wrapped_key, :'sec1', 'old-pass')), 0,
          'the old private key opens none');
SELECT is((SELECT string_agg(loginvault.decrypt(o.originals, loginvault.originals_passphrase(o.key_id, loginvault.dearmor(:'sec2'), NULL))::jsonb->>'ip', ',' ORDER BY u.message_id)
             FROM loginvault.user_login_originals o JOIN user_logins u USING (login_id)),
          '192.0.2.11,192.0.2.12,192.0.2.13,192.0.2.15', 'every original opens with the new private key alone');
SELECT is((SELECT loginvault.decrypt(r.body_encrypted, loginvault.originals_passphrase(r.key_id, loginvault.dearmor(:'sec2'), NULL))
             FROM rejected_logins r WHERE r.message_id = 'rw-4'),
          '{"user_id":"rw-u4","ip":"192.0.2.14"', 'and so does the body quarantined at staging');
SELECT is((SELECT count(*)::int FROM originals_before b JOIN loginvault.user_login_originals o USING (login_id)
            WHERE o.key_id = b.key_id AND o.originals = b.originals), (SELECT count(*)::int FROM originals_before),
          'the originals are byte for byte unchanged (same key_id, same ciphertext)');
SELECT is((SELECT count(*)::int FROM rejects_before b JOIN rejected_logins r USING (message_id)
            WHERE r.key_id = b.key_id AND r.body_encrypted = b.body_encrypted), 1, 'so is the quarantined body');
SELECT is((SELECT (current, wrapped_keys, originals, rejects, in_use)::text FROM loginvault.public_key_pairs() p, pair1 WHERE p.public_key_id = pair1.id),
          '(f,0,0,0,f)', 'public_key_pairs: the old pair encrypts nothing any more');
SELECT is((SELECT s.wrapped_keys FROM loginvault.rewrap_source(:'sec1', 'old-pass') s), 0::bigint,
          'a rerun after the end is no error: nothing left');
SELECT is(loginvault.remove_public_key((SELECT id FROM pair1)), 0, 'remove_public_key removes the old pair (no wrapped key left)');
SELECT throws_like(format('SELECT loginvault.rewrap_source(%L, %L)', :'sec1', 'old-pass'), '%belongs to no key pair%',
                   'once removed, the old key belongs to no pair');

-- A rotation during a rewrap: the next batch stops (the target is retired).
CREATE TEMP TABLE pair3 AS SELECT loginvault.use_public_key(:'pub3') AS id;
SELECT throws_like(format('SELECT loginvault.rewrap_batch(%s, %s, 10, %L, NULL)', (SELECT id FROM pair2), (SELECT id FROM pair2), :'sec2'),
                   '%is no longer the current pair%', 'a batch whose target pair was rotated away stops');

-- Owner only.
\ir support/sqlstate_as.psql
SELECT is(pg_temp.sqlstate_as(r, format('SELECT loginvault.rewrap_batch(%s, %s, 10, %L, NULL)', (SELECT id FROM pair2), (SELECT id FROM pair3), :'sec2')),
          '42501', 'rewrap_batch refused for ' || r)
  FROM unnest(ARRAY['loginvault_pii_admin', 'loginvault_loader']::name[]) r;

SELECT * FROM finish();
ROLLBACK;
\set dummy `Tests/sql/support/test-key.sh :keydir remove; Tests/sql/support/test-key.sh :keydir-2 remove; Tests/sql/support/test-key.sh :keydir-3 remove`
