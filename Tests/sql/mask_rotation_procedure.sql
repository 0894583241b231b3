-- CALL loginvault.rotate_mask_key(): the whole rotation in committed batches,
-- from a stored key to a key held outside the database and back. It COMMITs,
-- so this test commits: message ids 'rp-*', removed at the end. The
-- installation ends with a new stored mask key (the masks of other tests'
-- rows are computed with loginvault.mask_key(), whichever it is).
SET client_min_messages = warning;
DELETE FROM raw_logins WHERE message_id LIKE 'rp-%';
DELETE FROM user_logins WHERE message_id LIKE 'rp-%';

SELECT plan(9);

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 'rp-' || i, jsonb_build_object('user_id', 'rpu' || i, 'ip', '203.0.113.' || (i % 20), 'device_id', 'rp-dev-' || (i % 7)), now()
  FROM generate_series(1, 200) i;
CALL process_raw_logins();

CREATE TEMP TABLE version_before AS SELECT version AS v FROM loginvault.mask_keys WHERE state = 'active';
-- consistent(): every row's masks are the HMACs under the active key of its normalised values
CREATE FUNCTION pg_temp.inconsistent() RETURNS integer LANGUAGE sql AS $$
  SELECT count(*)::int FROM user_logins u
   WHERE u.message_id LIKE 'rp-%'
     AND (u.masked_ip IS DISTINCT FROM loginvault.mask('ip', '203.0.113.' || (substr(u.message_id, 4)::int % 20), loginvault.mask_key())
          OR u.masked_device_id IS DISTINCT FROM loginvault.mask('device_id', 'rp-dev-' || (substr(u.message_id, 4)::int % 7), loginvault.mask_key()))
$$;
SELECT is(pg_temp.inconsistent(), 0, 'control: every mask is the HMAC under the active key');

CALL loginvault.rotate_mask_key(37);
SELECT is((SELECT version FROM loginvault.mask_keys WHERE state = 'active'), (SELECT v + 1 FROM version_before),
          'rotate_mask_key: a new version is active');
SELECT is(pg_temp.inconsistent(), 0, 'every login re-masked under it');

-- To a key held outside the database.
CREATE TEMP TABLE outside_key AS SELECT loginvault.gen_random_bytes(32) AS k;
CREATE TEMP TABLE loginvault_mask_key (key_hex text);
INSERT INTO loginvault_mask_key SELECT encode(k, 'hex') FROM outside_key;
SELECT loginvault.begin_mask_key_rotation(held_outside => true);
CALL loginvault.rotate_mask_key(50);
SELECT ok((SELECT key_bytes IS NULL AND fingerprint = (SELECT loginvault.mask_key_fingerprint(k) FROM outside_key)
             FROM loginvault.mask_keys WHERE state = 'active'), 'rotated to a key held outside: only its fingerprint stored');
SELECT is(loginvault.mask_key(), (SELECT k FROM outside_key), 'this session supplied it');
SELECT is(pg_temp.inconsistent(), 0, 'every login re-masked under the key held outside');
SELECT is((SELECT count(*)::int FROM loginvault.mask_keys WHERE state = 'retired' AND key_bytes IS NOT NULL), 0,
          'every retired key is erased');

-- And back to a stored key (so that the other tests' sessions can process).
SELECT loginvault.begin_mask_key_rotation(held_outside => false);
CALL loginvault.rotate_mask_key(1000);
SELECT ok((SELECT key_bytes IS NOT NULL FROM loginvault.mask_keys WHERE state = 'active'), 'and back to a stored key');
SELECT is(pg_temp.inconsistent(), 0, 'every login re-masked under it');

SELECT * FROM finish();
DELETE FROM user_logins WHERE message_id LIKE 'rp-%';
