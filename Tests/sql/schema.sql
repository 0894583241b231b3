-- The public interface exists with the agreed names, shapes and security
-- settings. Read-only; runs in a rolled-back transaction.
BEGIN;
SELECT plan(24);

SELECT has_table('public', 'raw_logins', 'raw_logins exists');
SELECT has_table('public', 'user_logins', 'user_logins exists');
SELECT has_table('public', 'rejected_logins', 'rejected_logins exists');
SELECT has_table('loginvault', 'keys', 'keys are internal');
SELECT has_table('loginvault', 'user_login_originals', 'encrypted originals are internal');
SELECT has_table('loginvault', 'process_runs', 'run log is internal');
SELECT has_table('loginvault', 'reveal_audit', 'audit log is internal');

SELECT is(
  (SELECT array_agg(column_name::text ORDER BY ordinal_position)
     FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'user_logins'),
  ARRAY['user_id', 'device_type', 'masked_ip', 'masked_device_id', 'locale', 'app_version',
        'create_date', 'login_id', 'message_id', 'processed_at'],
  'user_logins keeps the original seven columns first, in order');
SELECT col_type_is('public', 'user_logins', 'app_version', 'character varying(32)', 'app_version is a string');
SELECT col_type_is('public', 'user_logins', 'create_date', 'date', 'create_date is a date');
SELECT col_is_unique('public', 'user_logins', 'message_id', 'user_logins.message_id is unique (the upsert key)');
SELECT col_is_pk('public', 'raw_logins', 'message_id', 'raw_logins is keyed by message_id');
SELECT col_type_is('public', 'raw_logins', 'body', 'jsonb', 'raw_logins.body is jsonb');
SELECT col_is_unique('public', 'rejected_logins', 'message_id', 'rejected_logins.message_id is unique');
SELECT col_type_is('public', 'rejected_logins', 'body_encrypted', 'bytea', 'quarantined bodies are stored encrypted');
SELECT hasnt_column('public', 'rejected_logins', 'body', 'no plaintext body column in the quarantine');

SELECT has_function('public', 'stage_raw_login', ARRAY['text', 'text', 'timestamp with time zone', 'integer']);
SELECT has_function('public', 'quarantine_raw_login', ARRAY['text', 'text', 'text', 'timestamp with time zone', 'integer']);
SELECT hasnt_function('public', 'reveal_user_login', ARRAY['bigint'], 'the unaudited-on-rollback reveal_user_login is gone (0028)');
SELECT is((SELECT prokind::text FROM pg_proc WHERE oid = 'public.process_raw_logins(integer)'::regprocedure),
          'p', 'process_raw_logins is a procedure');

-- Every SECURITY DEFINER function pins a search_path that starts with
-- pg_catalog and ends with pg_temp.
SELECT is(
  (SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
    WHERE p.prosecdef AND p.pronamespace IN ('public'::regnamespace, 'loginvault'::regnamespace)
      AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, loginvault, pg_temp'], false)),
  NULL, 'every SECURITY DEFINER function pins search_path = pg_catalog, loginvault, pg_temp');
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = 'public.stage_raw_login(text,text,timestamptz,integer)'::regprocedure),
          'stage_raw_login is SECURITY DEFINER');

-- The three tables and the procedure are found with the default search_path.
SET LOCAL search_path = "$user", public;
SELECT lives_ok('SELECT FROM user_logins, raw_logins, rejected_logins LIMIT 0',
                'the tables are reachable unqualified');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto'),
          'loginvault_crypto', 'pgcrypto lives in its own schema, loginvault_crypto (loginvault calls it through wrappers)');

SELECT * FROM finish();
ROLLBACK;
