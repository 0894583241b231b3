-- Plaintext on disk after processing (issue 13, section 6). A batch deletes
-- the staging rows it processed; a DELETE only marks a row dead, and VACUUM
-- frees its space without erasing its bytes, so the device ids stayed
-- readable in raw_logins' pages (get_raw_page) after processing and VACUUM.
-- Now a run that drains raw_logins truncates it when no other session uses it
-- (truncate_drained_staging, 50_processing.sql): the table gets a new, empty
-- file. While another session holds the table, the run leaves it and the
-- next run truncates; what stays meanwhile is measured and printed.
-- Commits: message ids 't92-*'.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pageinspect;
DELETE FROM raw_logins WHERE message_id LIKE 't92-%';
DELETE FROM user_logins WHERE message_id LIKE 't92-%';

SELECT plan(8);

-- How many of the t92 device ids are readable in raw_logins' heap pages
-- (every block, dead tuples and free space included) and its TOAST table's.
CREATE FUNCTION pg_temp.plaintext_in_staging_pages() RETURNS integer LANGUAGE sql AS $$
  WITH rels AS (
    SELECT c.oid::regclass AS rel FROM pg_class c WHERE c.oid = 'public.raw_logins'::regclass
    UNION ALL
    SELECT c.reltoastrelid::regclass FROM pg_class c WHERE c.oid = 'public.raw_logins'::regclass AND c.reltoastrelid <> 0
  ), pages AS (
    SELECT get_raw_page(r.rel::text, b::int) AS page
      FROM rels r, generate_series(0, pg_relation_size(r.rel) / 8192 - 1) b
  )
  SELECT count(*)::int FROM generate_series(1, 400) i
   WHERE EXISTS (SELECT FROM pages p WHERE position(convert_to('t92-device-' || lpad(i::text, 5, '0'), 'UTF8') IN p.page) > 0)
$$;
CREATE FUNCTION pg_temp.stage() RETURNS void LANGUAGE sql AS $$
  INSERT INTO raw_logins (message_id, body, sent_at)
  SELECT 't92-' || i, jsonb_build_object('user_id', 'u' || i, 'ip', '10.92.' || (i / 256) || '.' || (i % 256),
                                         'device_id', 't92-device-' || lpad(i::text, 5, '0')), now()
    FROM generate_series(1, 400) i
$$;

SELECT is((SELECT count(*)::int FROM raw_logins), 0, 'nothing else is staged');
SELECT pg_temp.stage();
SELECT is(pg_temp.plaintext_in_staging_pages(), 400, 'staged: the 400 device ids are in the pages (the scan can see them)');

-- 1. Nothing else uses raw_logins: the run truncates it.
CALL process_raw_logins(100);
VACUUM raw_logins;
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't92-%'), 400, 'processed: 400 logins');
SELECT is(pg_relation_size('public.raw_logins'), 0::bigint, 'drained: raw_logins has an empty file');
SELECT is(pg_temp.plaintext_in_staging_pages(), 0, 'drained: no device id is left in raw_logins'' pages');

-- 2. Another session holds raw_logins (a loader in the middle of staging): the
--    run does not wait for it and leaves the table as it is.
DELETE FROM user_logins WHERE message_id LIKE 't92-%';
SELECT pg_temp.stage();
\! PGAPPNAME=t92-holder psql -X -q -c 'BEGIN' -c 'LOCK TABLE raw_logins IN ROW EXCLUSIVE MODE' -c 'SELECT pg_sleep(600)' >/dev/null 2>&1 &
CREATE FUNCTION pg_temp.wait_for_holder() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..2400 LOOP
    PERFORM pg_stat_clear_snapshot();
    IF EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 't92-holder' AND query LIKE '%pg_sleep%') THEN RETURN true; END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
SELECT ok(pg_temp.wait_for_holder(), 'another session holds raw_logins');
CALL process_raw_logins(100);
VACUUM raw_logins;
SELECT plaintext_in_staging_pages AS still_readable FROM pg_temp.plaintext_in_staging_pages() \gset
SELECT diag('while another session held raw_logins: ' || :still_readable || ' of 400 processed device ids still readable in its pages after VACUUM');
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 't92-holder';
SELECT pg_sleep(0.5);

-- ... and the next run, with the table free again, truncates it.
CALL process_raw_logins(100);
SELECT is(pg_temp.plaintext_in_staging_pages(), 0, 'the next run truncates: no device id left');
SELECT is((SELECT count(*)::int FROM user_logins WHERE message_id LIKE 't92-%'), 400, 'and every message was processed once');

DELETE FROM user_logins WHERE message_id LIKE 't92-%';
SELECT * FROM finish();
