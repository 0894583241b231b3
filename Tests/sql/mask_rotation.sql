-- Mask-key rotation: equal values have equal masks (and different values
-- different masks) before, at several points during, and after a rotation,
-- across rows masked before it, during it and after it. Rolled back (the
-- procedure, which COMMITs, is in mask_rotation_procedure.sql).
BEGIN;
SELECT plan(17);

\ir support/mask_equality.psql
CREATE FUNCTION pg_temp.pairs_checked() RETURNS integer LANGUAGE sql AS $$
  SELECT (count(*) * (count(*) - 1) / 2)::int FROM user_logins u JOIN expected e USING (message_id)
$$;

SELECT pg_temp.stage('rt-1', 'ru1', '198.51.100.1', 'rd-A'),
       pg_temp.stage('rt-2', 'ru2', '198.51.100.1', 'rd-B'),
       pg_temp.stage('rt-3', 'ru3', '198.51.100.2', ' rd-A '),
       pg_temp.stage('rt-4', 'ru4', '::ffff:198.51.100.2', NULL),
       pg_temp.stage('rt-5', 'rt-forget', '198.51.100.1', 'rd-A');
SELECT loginvault.process_login_batch(NULL, 1000000);
CREATE TEMP TABLE before AS SELECT message_id, masked_ip, masked_device_id FROM user_logins WHERE message_id LIKE 'rt-%';
CREATE TEMP TABLE old_key AS SELECT loginvault.mask_key() AS k, (SELECT version FROM loginvault.mask_keys WHERE state = 'active') AS v;

SELECT is(pg_temp.mismatches(), 0, 'before: equal values, equal masks (and only they)');
SELECT is(loginvault.begin_mask_key_rotation(), (SELECT v + 1 FROM old_key), 'begin: a next version');
SELECT is(pg_temp.mismatches(), 0, 'after begin: still consistent (user_logins untouched)');

SELECT pg_temp.stage('rt-6', 'ru6', '198.51.100.1', 'rd-B');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is(pg_temp.mismatches(), 0, 'a login processed during the rotation gets the active key''s masks: consistent with the old rows');
SELECT is((SELECT n.masked_ip::text FROM loginvault.user_login_next_masks n JOIN user_logins u USING (login_id) WHERE u.message_id = 'rt-6'),
          encode(loginvault.hmac(convert_to('ip:198.51.100.1', 'UTF8'), loginvault.next_mask_key(), 'sha256'), 'hex'),
          '... and its mask under the next key is kept aside');

SELECT ok(loginvault.remask_batch(NULL, 2) IS NOT NULL, 'a first re-mask batch');
SELECT is(pg_temp.mismatches(), 0, 'after a partial re-mask: consistent');

-- An erasure in the middle of the rotation.
SELECT (forget_user('rt-forget', 'erasure during rotation')).logins;
UPDATE expected SET ip = 'gone-' || message_id, dev = 'gone-' || message_id WHERE message_id = 'rt-5';
SELECT is(pg_temp.mismatches(), 0, 'after an erasure during the rotation: consistent, the erased row equals no other');

SELECT pg_temp.stage('rt-7', 'ru7', '198.51.100.2', 'rd-A');
SELECT loginvault.process_login_batch(NULL, 1000000);
DO $$
DECLARE v_after bigint; v_last bigint;
BEGIN
  LOOP
    v_last := loginvault.remask_batch(v_after, 2);
    EXIT WHEN v_last IS NULL;
    v_after := v_last;
  END LOOP;
END $$;
-- rt-7 as if its batch had begun before the rotation: no next mask.
DELETE FROM loginvault.user_login_next_masks n USING user_logins u WHERE u.login_id = n.login_id AND u.message_id = 'rt-7';
SELECT is(pg_temp.mismatches(), 0, 'after the re-mask pass, before the switch: consistent');

CREATE TEMP TABLE new_key AS SELECT loginvault.next_mask_key() AS k;
SELECT is(loginvault.switch_mask_key(), (SELECT v + 1 FROM old_key), 'the switch makes the next version active');
SELECT is(pg_temp.mismatches(), 0, 'after the switch: consistent');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN expected e USING (message_id), new_key
            WHERE e.ip IS NOT NULL AND e.ip NOT LIKE 'gone-%'
              AND u.masked_ip IS DISTINCT FROM encode(loginvault.hmac(convert_to('ip:' || e.ip, 'UTF8'), new_key.k, 'sha256'), 'hex')), 0,
          'every mask is now under the new key (the straggler included)');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN before b USING (message_id)
            WHERE u.masked_ip = b.masked_ip OR u.masked_device_id = b.masked_device_id), 0,
          'no mask from before the rotation is left');
SELECT ok((SELECT key_bytes IS NULL AND state = 'retired' FROM loginvault.mask_keys, old_key WHERE version = old_key.v),
          'the old key is retired and erased');
SELECT is((SELECT count(*)::int FROM loginvault.user_login_next_masks), 0, 'nothing is left aside');

SELECT pg_temp.stage('rt-8', 'ru8', '198.51.100.1', 'rd-A');
SELECT loginvault.process_login_batch(NULL, 1000000);
SELECT is(pg_temp.mismatches(), 0, 'a login after the switch: consistent with every older row');
SELECT cmp_ok(pg_temp.pairs_checked(), '>=', 28, 'the checks compared every pair of the 8 rows');

SELECT * FROM finish();
ROLLBACK;
