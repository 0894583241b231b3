-- Key rotation and purge under load never lose a row (issue 13, section 2).
--
-- 1. The race, made deterministic. A processing batch takes its data key,
--    then waits (here: on the 'lvpoison' advisory lock, which this session
--    holds, as a poison quarantine would). Meanwhile another session rotates
--    the data key and purges the keys no row uses. Before the fix the purge
--    deleted the batch's key, the batch then committed its rows under it, and
--    those rows could never be decrypted again. Now the purge waits for the
--    batch (data_key_for_writing, 10_keys.sql) and then keeps the key.
-- 2. Stress: rotate and purge in a loop while process_raw_logins works
--    through N staged messages in small batches; afterwards every row
--    decrypts. N is 5,000 in make test; LOGINVAULT_ROTATION_STRESS_MESSAGES
--    sets it (100000 for the issue's full run). The count that ran is printed.
-- 3. A purged key leaves no copy in the keys table's pages (pageinspect).
-- The background sessions are psql processes started with \! (they inherit
-- PGHOST, PGPORT, PGDATABASE, PGPASSFILE). Commits: message ids 't91-*'.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pageinspect;
DELETE FROM raw_logins WHERE message_id LIKE 't91-%';
DELETE FROM user_logins WHERE message_id LIKE 't91-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't91-%';

SELECT plan(14);

-- Waits (up to 120 s) until the query returns true.
CREATE FUNCTION pg_temp.wait_for(condition text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
  FOR i IN 1..2400 LOOP
    PERFORM pg_stat_clear_snapshot();  -- pg_stat_activity is otherwise read once per transaction
    EXECUTE condition INTO ok;
    IF ok THEN RETURN true; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
-- Every t91 login and reject whose ciphertext does not decrypt with a live key.
CREATE FUNCTION pg_temp.undecryptable() RETURNS integer LANGUAGE sql AS $$
  SELECT (SELECT count(*)::int FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
           WHERE u.message_id LIKE 't91-%'
             AND loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)) IS NULL)
       + (SELECT count(*)::int FROM rejected_logins r
           WHERE r.message_id LIKE 't91-%'
             AND loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id)) IS NULL)
$$;

-- 1. The race.
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't91-race-' || i,
       CASE WHEN i % 10 = 0 THEN jsonb_build_object('user_id', i, 'ip', '10.91.0.' || i)   -- 5 rejects
            ELSE jsonb_build_object('user_id', 'u' || i, 'ip', '10.91.1.' || i, 'device_id', 'race-' || i) END, now()
  FROM generate_series(1, 50) i;
SELECT pg_advisory_lock(x'6c76706f69736f6e'::bigint);  -- 'lvpoison': every batch waits for it
\! PGAPPNAME=t91-batch psql -X -q -c 'CALL process_raw_logins(1000)' >/dev/null 2>&1 &
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 't91-batch'
                                                AND wait_event_type = 'Lock' AND wait_event = 'advisory')$$),
          'race: a processing batch has taken its data key and waits');
SELECT last_value AS keys_seq FROM loginvault.keys_key_id_seq \gset
\! PGAPPNAME=t91-rotate psql -X -q -c 'CALL loginvault.rotate_data_key()' -c 'SELECT loginvault.purge_unused_data_keys()' >/dev/null 2>&1 &
-- The rotation commits a new key; the purge then either finishes (it did
-- before the fix) or waits for the batch.
SELECT ok(pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :keys_seq || $$
                                 AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 't91-rotate'
                                                    AND NOT (wait_event_type = 'Lock' AND query LIKE '%purge_unused_data_keys%'))$$),
          'race: rotation and purge ran while the batch held its key (the purge is done or waiting)');
SELECT pg_advisory_unlock(x'6c76706f69736f6e'::bigint);
SELECT ok(pg_temp.wait_for($$SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name IN ('t91-batch', 't91-rotate'))$$),
          'race: both sessions finished');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't91-race-%')
          + (SELECT count(*)::int FROM rejected_logins WHERE message_id LIKE 't91-race-%'), 50,
          'race: the batch committed its 45 logins and 5 rejects');
SELECT is(pg_temp.undecryptable(), 0, 'race: every one of them decrypts (its key was not purged under it)');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
            WHERE u.message_id LIKE 't91-race-%' AND NOT EXISTS (SELECT FROM loginvault.keys k WHERE k.key_id = o.key_id)), 0,
          'race: no original references a key that is gone');
CALL loginvault.rotate_data_key();
SELECT cmp_ok(loginvault.purge_unused_data_keys(), '>=', 1, 'race: the next rotation moves them, and the old key can then be purged');

-- 2. Stress.
\getenv stress_n LOGINVAULT_ROTATION_STRESS_MESSAGES
\if :{?stress_n}
\else
\set stress_n 5000
\endif
SELECT (:'stress_n')::integer AS stress_n \gset
SELECT last_value AS keys_before FROM loginvault.keys_key_id_seq \gset
-- Messages i = 1..N in ten chunks (k: i % 10 = k); one in a hundred is a reject.
CREATE FUNCTION pg_temp.stage_chunk(k integer) RETURNS void LANGUAGE sql AS $$
  INSERT INTO raw_logins (message_id, body, sent_at)
  SELECT 't91-s-' || i,
         CASE WHEN i % 100 = 0 THEN jsonb_build_object('user_id', i)
              ELSE jsonb_build_object('user_id', 'u' || i, 'ip', '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256),
                                      'device_id', 'stress-' || i) END, now()
    FROM generate_series(1, current_setting('t91.n')::integer) i
   WHERE i % 10 = k
$$;
SELECT set_config('t91.n', :'stress_n', false);
-- While this session holds the advisory lock 't91s', another one rotates
-- (re-encrypting in batches of 500) and purges, again and again; this
-- session stages and processes the messages in ten chunks meanwhile, and
-- after each chunk waits until a new rotation has begun (so at least ten
-- rotations overlap the processing, whatever the machine's speed).
SELECT pg_advisory_lock(x'74393173'::bigint);
\! PGAPPNAME=t91-loop bash -c 'until [ "$(psql -X -qAt -c "SELECT pg_try_advisory_lock(x'"'"'74393173'"'"'::bigint)")" = t ]; do psql -X -q -c "CALL loginvault.rotate_data_key(500)" -c "SELECT loginvault.purge_unused_data_keys()" >/dev/null 2>&1; done' >/dev/null 2>&1 &
SELECT ok(pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :keys_before),
          'stress: the rotation loop has started');
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(0);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(1);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(2);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(3);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(4);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(5);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(6);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(7);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(8);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS seq FROM loginvault.keys_key_id_seq \gset
SELECT pg_temp.stage_chunk(9);
CALL process_raw_logins(250);
SELECT pg_temp.wait_for($$SELECT (SELECT last_value FROM loginvault.keys_key_id_seq) > $$ || :seq) AS rotated \gset
SELECT last_value AS keys_after FROM loginvault.keys_key_id_seq \gset
SELECT pg_advisory_unlock(x'74393173'::bigint);
SELECT ok(pg_temp.wait_for($$SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 't91-loop')$$),
          'stress: the rotation loop stopped');
SELECT diag('stress: ' || :stress_n || ' messages processed while the data key was rotated ' || (:keys_after - :keys_before) || ' times');
SELECT cmp_ok((:keys_after - :keys_before)::bigint, '>=', 10::bigint, 'stress: the data key was rotated at least ten times during processing');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't91-s-%')
          + (SELECT count(*)::int FROM rejected_logins WHERE message_id LIKE 't91-s-%'), :stress_n,
          'stress: every message became a login or a reject');
SELECT is(pg_temp.undecryptable(), 0, 'stress: every login and reject decrypts');

-- 3. A purged key is not in the table's pages (before the fix: pageinspect
--    showed the deleted row, key bytes and all, until VACUUM, and its bytes in
--    the page's free space after).
CALL loginvault.rotate_data_key();
CREATE TEMP TABLE purged AS
SELECT key_bytes FROM loginvault.keys WHERE purpose = 'data' AND retired_at IS NOT NULL;
SELECT loginvault.purge_unused_data_keys();
SELECT cmp_ok((SELECT count(*)::int FROM purged), '>=', 1, 'a rotation retired a key to purge');
SELECT is((SELECT count(*)::int FROM purged p, generate_series(0, pg_relation_size('loginvault.keys') / 8192 - 1) b
            WHERE position(p.key_bytes IN get_raw_page('loginvault.keys', b::int)) > 0
               OR position(convert_to(encode(p.key_bytes, 'hex'), 'UTF8') IN get_raw_page('loginvault.keys', b::int)) > 0), 0,
          'no page of loginvault.keys holds a purged key (' || (SELECT count(*) FROM purged) || ' purged)');

DELETE FROM user_logins WHERE message_id LIKE 't91-%';
DELETE FROM rejected_logins WHERE message_id LIKE 't91-%';
DROP TABLE purged;
SELECT * FROM finish();
