-- loginvault.status() and loginvault.staging_backlog(): a backlog while
-- nothing processes, clean after a run; the analyst may call both, the
-- loader only the backlog's two numbers; no key bytes in the output. Rolled back.
BEGIN;
SELECT plan(14);

CREATE FUNCTION pg_temp.as_role(role_name text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET LOCAL ROLE %I', role_name);
  BEGIN
    EXECUTE stmt;
  EXCEPTION WHEN OTHERS THEN
    RESET ROLE;
    RETURN SQLSTATE;
  END;
  RESET ROLE;
  RETURN 'ok';
END $$;

-- Start from an empty staging table: earlier files may have left none, but be sure.
DELETE FROM raw_logins;
INSERT INTO raw_logins (message_id, body, staged_at) VALUES
  ('t87-1', '{"user_id":"u1","ip":"1.2.3.4","device_id":"d1","event_time":"2026-01-01T00:00:00Z"}', now() - interval '20 minutes'),
  ('t87-2', '{"user_id":"u2"}', now() - interval '1 minute')
  ON CONFLICT DO NOTHING;

SELECT is(pg_temp.as_role('loginvault_analyst', 'SELECT * FROM loginvault.status()'), 'ok', 'analyst: may call status()');
SELECT is(pg_temp.as_role('loginvault_pii_admin', 'SELECT * FROM loginvault.status()'), 'ok', 'PII admin: may call status()');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM loginvault.status()'), '42501', 'loader: may not call status()');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT * FROM loginvault.staging_backlog()'), 'ok', 'loader: may read the backlog''s two numbers');
SELECT is(pg_temp.as_role('loginvault_loader', 'SELECT staged_at FROM raw_logins'), '42501', 'loader: still may not read staged_at itself');

SELECT is((SELECT rows FROM loginvault.staging_backlog()), 2::bigint, 'staging_backlog: two rows');
SELECT ok((SELECT oldest_age_seconds BETWEEN 1199 AND 1201 FROM loginvault.staging_backlog()), 'staging_backlog: the oldest is 20 minutes old');
SELECT is((SELECT value || ' ' || state FROM loginvault.status() WHERE item = 'backlog rows'), '2 ok', 'status: backlog rows');
SELECT is((SELECT state FROM loginvault.status(interval '15 minutes') WHERE item = 'oldest staged'), 'attention',
          'status: a backlog older than max_backlog_age needs attention');
SELECT is((SELECT state FROM loginvault.status(interval '1 hour') WHERE item = 'oldest staged'), 'ok',
          'status: younger than max_backlog_age is ok');

-- What CALL process_raw_logins() does, without its COMMITs (this file is one transaction).
SELECT loginvault.end_process_run(r) FROM (SELECT loginvault.begin_process_run(1000) AS r) b,
       LATERAL (SELECT loginvault.process_login_batch(b.r, 1000)) p;

SELECT is((SELECT rows FROM loginvault.staging_backlog()), 0::bigint, 'after a run: no backlog');
SELECT is((SELECT count(*) FROM loginvault.status(interval '0') WHERE state <> 'ok'), 0::bigint, 'after a run: all ok');
SELECT matches((SELECT value FROM loginvault.status() WHERE item = 'last run'), '2 staged, 2 upserted, 0 rejected in [0-9.]+ s$',
          'status: the last run''s counts');
SELECT ok((SELECT value FROM loginvault.status() WHERE category = 'keys') ~ '^[0-9]+ \(ids [0-9, ]+\), oldest created [0-9-]+$',
          'status: data keys as count, ids and a date, nothing else');

SELECT * FROM finish();
ROLLBACK;
