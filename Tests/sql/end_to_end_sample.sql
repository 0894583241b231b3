-- The real sample (examples/login-queue-sample.json, 100 messages) through
-- the loader's fast path and CALL process_raw_logins(), which COMMITs, so
-- this test commits too: it uses message ids 't20-*' and removes them at the
-- end (and at the start, in case an earlier run died half way).
-- Run from the repository root (pg_prove --recurse Tests/sql).
\set sample `cat "${LOGINVAULT_SAMPLE:-examples/login-queue-sample.json}"`
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.cleanup() RETURNS void LANGUAGE sql AS $$
  DELETE FROM raw_logins WHERE message_id LIKE 't20-%';
  DELETE FROM user_logins WHERE message_id LIKE 't20-%';
  DELETE FROM rejected_logins WHERE message_id LIKE 't20-%';
$$;
SELECT pg_temp.cleanup();

CREATE TEMP TABLE sample AS
SELECT 't20-' || lpad(n::text, 3, '0') AS message_id, e::text AS body,
       '2024-03-31 23:59:59.5-02'::timestamptz + n * interval '1 second' AS sent_at, 1 AS receive_count
  FROM jsonb_array_elements(:'sample'::jsonb) WITH ORDINALITY AS a(e, n);

-- Every ip and device id of the sample: none of them may stay in plain text.
CREATE TEMP TABLE needles AS
SELECT DISTINCT v FROM sample, LATERAL (VALUES (body::jsonb->>'ip'), (body::jsonb->>'device_id')) x(v)
 WHERE v IS NOT NULL;

-- Rows of any table of the database (except temp tables: this test's own)
-- whose text contains one of the needles.
CREATE FUNCTION pg_temp.plaintext_hits() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r record; n bigint; hits text := '';
  patterns text[] := (SELECT array_agg('%' || v || '%') FROM needles);
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'm') AND s.nspname NOT IN ('pg_catalog', 'information_schema')
              AND s.nspname NOT LIKE 'pg\_temp%' AND s.nspname NOT LIKE 'pg\_toast%'
  LOOP
    EXECUTE format('SELECT count(*) FROM %s t WHERE t::text LIKE ANY ($1)', r.rel) INTO n USING patterns;
    IF n > 0 THEN hits := hits || format('%s: %s rows; ', r.rel, n); END IF;
  END LOOP;
  RETURN hits;
END $$;

SELECT plan(19);

-- Stage exactly as the loader does.
BEGIN;
INSERT INTO raw_logins (message_id, body, sent_at, receive_count)
SELECT message_id, body::jsonb, sent_at, receive_count FROM sample
ON CONFLICT (message_id) DO NOTHING;
COMMIT;
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't20-%'), 100, 'the 100 sample messages are staged');
SELECT matches(pg_temp.plaintext_hits(), 'raw_logins: 99 rows',
               '(the plaintext scan sees the staged plaintext before processing)');

CALL process_raw_logins(40);

SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't20-%'), 99, '99 messages became user_logins rows');
SELECT is((SELECT count(*)::int FROM rejected_logins WHERE message_id LIKE 't20-%'), 1, '1 message was rejected');
SELECT is((SELECT reason FROM rejected_logins WHERE message_id LIKE 't20-%'), 'missing_user_id',
          'the {"foo","bar"} message is rejected as missing_user_id');
SELECT is((SELECT count(*)::int FROM raw_logins WHERE message_id LIKE 't20-%'), 0, 'the staging rows are gone');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't20-%' AND locale IS NULL), 29,
          'the 29 null locales stay NULL');
SELECT is((SELECT app_version FROM user_logins u JOIN sample s USING (message_id) WHERE s.body::jsonb->>'app_version' = '0.96'),
          '0.96', 'app_version keeps the exact string 0.96');
SELECT is((SELECT count(*)::int FROM user_logins u JOIN sample s USING (message_id)
            WHERE u.app_version IS NOT DISTINCT FROM s.body::jsonb->>'app_version'
              AND u.user_id = s.body::jsonb->>'user_id'
              AND u.device_type IS NOT DISTINCT FROM s.body::jsonb->>'device_type'
              AND u.locale IS NOT DISTINCT FROM s.body::jsonb->>'locale'
              AND u.create_date = (s.sent_at AT TIME ZONE 'UTC')::date), 99,
          'user_id, device_type, locale, app_version and the UTC create_date are carried over exactly');
SELECT is((SELECT count(DISTINCT masked_ip)::int FROM user_logins WHERE message_id LIKE 't20-%'), 99,
          '99 distinct IPs give 99 distinct masks');
SELECT ok((SELECT staged >= 100 AND upserted >= 99 AND rejected >= 1 AND batches >= 3 AND finished_at IS NOT NULL
             FROM loginvault.process_runs ORDER BY run_id DESC LIMIT 1),
          'the run is in the run log, in batches of 40');
SELECT is((SELECT row(r.*)::text FROM loginvault.last_process_run() r),
          (SELECT row(r.*)::text FROM loginvault.process_runs r ORDER BY run_id DESC LIMIT 1),
          'last_process_run() returns this session''s run: its run log row, as values');

-- Re-running changes nothing; re-staging changes nothing.
CREATE TEMP TABLE before AS
SELECT u.*, o.originals, o.key_id FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
 WHERE message_id LIKE 't20-%';
CREATE TEMP TABLE rejected_before AS SELECT * FROM rejected_logins WHERE message_id LIKE 't20-%';
CALL process_raw_logins();
SELECT set_eq($$SELECT u.*, o.originals, o.key_id FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id LIKE 't20-%'$$, 'SELECT * FROM before',
              're-running the procedure changes nothing');

BEGIN;
INSERT INTO raw_logins (message_id, body, sent_at, receive_count)
SELECT message_id, body::jsonb, sent_at, 2 FROM sample
ON CONFLICT (message_id) DO NOTHING;
COMMIT;
CALL process_raw_logins();
SELECT set_eq($$SELECT u.*, o.originals, o.key_id FROM user_logins u JOIN loginvault.user_login_originals o USING (login_id)
                 WHERE message_id LIKE 't20-%'$$, 'SELECT * FROM before',
              're-staging and re-processing the sample changes no row (not even the ciphertext)');
SELECT set_eq($$SELECT * FROM rejected_logins WHERE message_id LIKE 't20-%'$$, 'SELECT * FROM rejected_before',
              '... nor the quarantine');
SELECT is((SELECT unchanged FROM loginvault.process_runs ORDER BY run_id DESC LIMIT 1), 100,
          'the run log counts the 100 re-staged messages as unchanged');

SELECT is(pg_temp.plaintext_hits(), '',
          'no sample ip or device id remains in plain text in any table (staging, logins, quarantine, run log, audit, ...)');
SELECT is((SELECT count(*)::int FROM needles), 198, '(checked: 99 ips and 99 device ids)');

SELECT pg_temp.cleanup();
SELECT is((SELECT count(*)::int FROM loginvault.user_login_originals o
            WHERE NOT EXISTS (SELECT FROM user_logins u WHERE u.login_id = o.login_id)), 0,
          'deleting logins deletes their encrypted originals');

SELECT * FROM finish();
