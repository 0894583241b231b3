-- The current definitions (sql/definitions/): every function and procedure
-- of loginvault, outside extensions, is there with its COMMENT ON; migrate
-- recorded each definitions file with its checksum; and the quarantine
-- reasons are listed once, with a meaning each. Rolled back.
BEGIN;
SELECT plan(4);

SELECT is(
  (SELECT array_agg(format('%s.%s', n.nspname, p.proname) ORDER BY 1)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('public', 'loginvault')
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
      AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''),
  NULL,
  'every loginvault function and procedure has a COMMENT ON');

SELECT ok((SELECT count(*) >= 10 AND bool_and(checksum ~ '^[0-9a-f]{64}$') AND bool_and(file_name ~ '^[0-9]{2}_[a-z_]+\.sql$')
             FROM loginvault.schema_definitions),
          'migrate recorded every definitions file with its checksum');

SELECT is((SELECT file_name FROM loginvault.schema_definitions ORDER BY file_name DESC LIMIT 1), '90_privileges.sql',
          'the privileges are applied last');

SELECT is((SELECT count(*)::int FROM loginvault.quarantine_reasons() WHERE coalesce(meaning, '') = ''), 0,
          'each quarantine reason has a meaning');

SELECT * FROM finish();
ROLLBACK;
