-- Mask-key rotation in the public-key mode (82_mask_rotation.sql,
-- 15_public_key.sql): the originals are under per-batch data keys wrapped to
-- a PGP public key, so re-masking needs the private key, which the session
-- supplies as a reveal does (pg_temp.loginvault_private_key). Equal values
-- have equal masks before, during and after; each batch key is unwrapped
-- once per re-mask batch, never per row; a forgotten user's logins keep
-- their random masks; without the key, or with a wrong one, nothing begins.
-- Rolled back (CALL rotate_mask_key COMMITs: the CLI test runs it,
-- Tests/LoginVaultTests/Security/MaskRotationPublicKeyTests.swift).
\set keydir `mktemp -d /tmp/lv-pgtap-key.XXXXXX`
\set pub `Tests/sql/support/test-key.sh :keydir public`
\set sec `Tests/sql/support/test-key.sh :keydir secret`
\set sec2 `Tests/sql/support/test-key.sh :keydir-2 secret`
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL track_functions = 'all';  -- counts pgcrypto's pgp_pub_decrypt calls
SELECT plan(25);
TRUNCATE user_logins, rejected_logins, raw_logins;  -- a fresh installation
SELECT loginvault.use_public_key(:'pub');

\ir support/mask_equality.psql
-- pgcrypto's pgp_pub_decrypt calls in this transaction (an unwrap of a batch key)
CREATE FUNCTION pg_temp.unwraps() RETURNS integer LANGUAGE sql AS $$
  SELECT coalesce(sum(pg_stat_get_xact_function_calls(p.oid)), 0)::int FROM pg_proc p
   WHERE p.proname = 'pgp_pub_decrypt' AND p.pronamespace <> 'loginvault'::regnamespace
$$;
CREATE FUNCTION pg_temp.give_key(armored text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP TABLE IF EXISTS pg_temp.loginvault_private_key;
  CREATE TEMP TABLE loginvault_private_key (line text);
  INSERT INTO pg_temp.loginvault_private_key SELECT regexp_split_to_table(armored, E'\n');
END $$;

-- Two processing batches before the rotation: two wrapped batch keys.
SELECT pg_temp.stage('pr-1', 'pu1', '198.51.100.1', 'pd-A'),
       pg_temp.stage('pr-2', 'pu2', '198.51.100.1', 'pd-B'),
       pg_temp.stage('pr-3', 'pu3', '198.51.100.2', ' pd-A ');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT pg_temp.stage('pr-4', 'pu4', '::ffff:198.51.100.2', NULL),
       pg_temp.stage('pr-5', 'pr-forget', '198.51.100.1', 'pd-A'),
       pg_temp.stage('pr-6', 'pu6', '198.51.100.3', 'pd-B');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is((SELECT count(DISTINCT key_id)::int FROM loginvault.user_login_originals o JOIN loginvault.wrapped_keys USING (key_id)), 2,
          'control: six logins under two wrapped batch keys');
CREATE TEMP TABLE before AS SELECT message_id, masked_ip, masked_device_id FROM user_logins;
CREATE TEMP TABLE old_version AS SELECT version AS v FROM loginvault.mask_keys WHERE state = 'active';
SELECT is(pg_temp.mismatches(), 0, 'before: equal values, equal masks (and only they)');

-- Without the private key, or with the wrong one: refused before anything begins.
SELECT throws_like('CALL loginvault.rotate_mask_key()', '%re-masking needs its private key%',
                   'rotate_mask_key without the private key: a clear refusal');
SELECT ok(NOT loginvault.mask_key_rotation_in_progress(), '... and no rotation was begun');
SELECT pg_temp.give_key(:'sec2');
SELECT throws_like('CALL loginvault.rotate_mask_key()', '%private key does not open key%',
                   'rotate_mask_key with another pair''s private key: refused');
SELECT ok(NOT loginvault.mask_key_rotation_in_progress(), '... and no rotation was begun');

SELECT is(loginvault.begin_mask_key_rotation(), (SELECT v + 1 FROM old_version), 'begin: a next version');
-- A batch processed during the rotation gets its next masks then (from the plaintext it has).
SELECT pg_temp.stage('pr-7', 'pu7', '198.51.100.1', 'pd-B');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is(pg_temp.mismatches(), 0, 'a login processed during the rotation: consistent with the old rows');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_next_masks), 1, '... its next masks are kept aside');

SELECT throws_like('SELECT loginvault.remask_batch(NULL, 100)', '%re-masking needs its private key%',
                   'remask_batch without the private key: refused');
SELECT pg_temp.give_key(:'sec');
CREATE TEMP TABLE unwraps_before AS SELECT pg_temp.unwraps() AS n;
SELECT is((SELECT loginvault.remask_batch(NULL, 2, k.armored_key, k.key_password) FROM loginvault.session_private_key() k),
          (SELECT login_id FROM user_logins WHERE message_id = 'pr-2'), 'a first re-mask batch of two logins');
SELECT is(pg_temp.unwraps() - (SELECT n FROM unwraps_before), 1, '... unwrapped their one batch key once, not once per row');
SELECT is(pg_temp.mismatches(), 0, 'after a partial re-mask: consistent');

-- An erasure in the middle of the rotation: pr-5 (not re-masked yet). forget_user
-- works in the public-key mode (0028): it decrypts nothing and drops the
-- login's next masks with its originals.
SELECT is((SELECT logins FROM forget_user('pr-forget', 'erasure during a public-key rotation')), 1,
          'forget_user during a public-key rotation: the user''s one login erased');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id = 'pr-5' AND user_id LIKE 'forgotten:%'), 1,
          '... its row stays, under a forgotten user id');
UPDATE expected SET ip = 'gone-' || message_id, dev = 'gone-' || message_id WHERE message_id = 'pr-5';
CREATE TEMP TABLE forgotten AS SELECT masked_ip, masked_device_id FROM user_logins WHERE message_id = 'pr-5';
SELECT is(pg_temp.mismatches(), 0, 'after the erasure: consistent, the erased row equals no other');

TRUNCATE unwraps_before;
INSERT INTO unwraps_before SELECT pg_temp.unwraps();
SELECT is((SELECT loginvault.remask_batch(loginvault.remask_batch(
             (SELECT login_id FROM user_logins WHERE message_id = 'pr-2'), 100, k.armored_key, k.key_password), 100, k.armored_key, k.key_password)
             FROM loginvault.session_private_key() k), NULL::bigint, 'the rest in one batch; then nothing is left');
SELECT is(pg_temp.unwraps() - (SELECT n FROM unwraps_before), 2,
          'the rest (pr-3 under the first key, pr-4 and pr-6 under the second): one unwrap per key; the login processed during the rotation is not decrypted');

-- pr-6 as if its batch had begun before the rotation and not been re-masked: the switch needs the key.
DELETE FROM loginvault.user_login_next_masks n USING user_logins u WHERE u.login_id = n.login_id AND u.message_id = 'pr-6';
SELECT throws_like('SELECT loginvault.switch_mask_key()', '%re-masking needs its private key%',
                   'a switch with a login still to re-mask and no private key: refused, nothing switched');
CREATE TEMP TABLE new_key AS SELECT loginvault.next_mask_key() AS k;
SELECT is((SELECT loginvault.switch_mask_key(k.armored_key, k.key_password) FROM loginvault.session_private_key() k),
          (SELECT v + 1 FROM old_version), 'with the private key the switch makes the next version active');
SELECT is(pg_temp.mismatches(), 0, 'after the switch: consistent');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN expected e USING (message_id), new_key
            WHERE e.ip NOT LIKE 'gone-%'
              AND (u.masked_ip IS DISTINCT FROM loginvault.mask('ip', e.ip, new_key.k)
                   OR u.masked_device_id IS DISTINCT FROM loginvault.mask('device_id', e.dev, new_key.k))), 0,
          'every mask is the HMAC under the new key (the straggler included)');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN before b USING (message_id)
            WHERE u.masked_ip = b.masked_ip OR u.masked_device_id = b.masked_device_id), 0,
          'no mask from before the rotation is left');
SELECT ok((SELECT u.masked_ip = f.masked_ip AND u.masked_device_id = f.masked_device_id
             FROM user_logins u, forgotten f WHERE u.message_id = 'pr-5'),
          'the forgotten user''s login keeps its random masks');

SELECT pg_temp.stage('pr-8', 'pu8', '198.51.100.2', 'pd-A');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is(pg_temp.mismatches(), 0, 'a login after the switch: consistent with every older row');

SELECT * FROM finish();
ROLLBACK;
\set dummy `Tests/sql/support/test-key.sh :keydir remove; Tests/sql/support/test-key.sh :keydir-2 remove`
