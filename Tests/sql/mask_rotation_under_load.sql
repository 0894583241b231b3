-- Mask-key rotation while processing runs (issue 17, section 2).
--
-- The race, made deterministic: a processing batch's statement starts
-- before the rotation begins (so it sees no next key), and commits its
-- logins only after the rotation has begun: those logins have no mask under
-- the next key. Here the batch is held inside its statement by another
-- session's uncommitted login with the same message id (its INSERT waits on
-- the unique index); the rotation begins and waits for it; then the blocker
-- rolls back, the batch commits, the rotation finishes. Afterwards every
-- login, the batch's included, has its masks under the new key, and equal
-- values have equal masks. The background sessions are psql processes
-- started with \! (they inherit PGHOST, PGPORT, PGDATABASE, PGPASSFILE).
-- Commits: message ids 'mu-*'; the installation ends with a new mask key.
SET client_min_messages = warning;
DELETE FROM raw_logins WHERE message_id LIKE 'mu-%';
DELETE FROM user_logins WHERE message_id LIKE 'mu-%';

SELECT plan(7);

CREATE FUNCTION pg_temp.wait_for(condition text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
  FOR i IN 1..2400 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXECUTE condition INTO ok;
    IF ok THEN RETURN true; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
-- Rows whose masks are not the HMACs under the active key of their values.
CREATE FUNCTION pg_temp.inconsistent() RETURNS integer LANGUAGE sql AS $$
  SELECT count(*)::int FROM user_logins u
   WHERE u.message_id LIKE 'mu-%'
     AND (u.masked_ip IS DISTINCT FROM loginvault.mask('ip', '192.0.2.' || (substr(u.message_id, 7)::int % 9), loginvault.mask_key())
          OR u.masked_device_id IS DISTINCT FROM loginvault.mask('device_id', 'mu-dev-' || (substr(u.message_id, 7)::int % 5), loginvault.mask_key()))
$$;

-- Logins from before the rotation, and the batch that will race it.
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 'mu-ol-' || i, jsonb_build_object('user_id', 'muo' || i, 'ip', '192.0.2.' || (i % 9), 'device_id', 'mu-dev-' || (i % 5)), now()
  FROM generate_series(1, 300) i;
CALL process_raw_logins(100);
INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 'mu-rc-' || i, jsonb_build_object('user_id', 'mur' || i, 'ip', '192.0.2.' || (i % 9), 'device_id', 'mu-dev-' || (i % 5)), now()
  FROM generate_series(1, 40) i;
CREATE TEMP TABLE version_before AS SELECT version AS v FROM loginvault.mask_keys WHERE state = 'active';

SELECT pg_advisory_lock(7517001);  -- the blocker waits for it before rolling back
\! PGAPPNAME=mu-blocker psql -X -q -c 'BEGIN' -c "INSERT INTO user_logins (user_id, create_date, message_id) VALUES ('mu-blocker', current_date, 'mu-rc-1')" -c 'SELECT pg_advisory_lock(7517001)' -c 'ROLLBACK' >/dev/null 2>&1 &
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mu-blocker' AND wait_event = 'advisory')$$),
          'a session holds an uncommitted login with the message id of a staged one');
\! PGAPPNAME=mu-batch psql -X -q -c 'CALL process_raw_logins(1000)' >/dev/null 2>&1 &
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mu-batch' AND wait_event = 'transactionid')$$),
          'a processing batch is inside its statement (it saw no next key), waiting on that login');
\! PGAPPNAME=mu-rotate psql -X -q -c 'CALL loginvault.rotate_mask_key(50)' >/dev/null 2>&1 &
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next')
                               AND EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mu-rotate' AND wait_event = 'advisory')$$),
          'the rotation has begun and waits for the batch');
SELECT pg_advisory_unlock(7517001);
SELECT ok(pg_temp.wait_for($$SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name IN ('mu-blocker', 'mu-batch', 'mu-rotate'))$$),
          'blocker, batch and rotation finished');

SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 'mu-%'), 340, 'every login is there');
SELECT is((SELECT version FROM loginvault.mask_keys WHERE state = 'active'), (SELECT v + 1 FROM version_before), 'the rotation switched');
SELECT is(pg_temp.inconsistent(), 0, 'every login, the racing batch''s included, is masked under the new key: equal values, equal masks');

SELECT * FROM finish();
DELETE FROM user_logins WHERE message_id LIKE 'mu-%';
