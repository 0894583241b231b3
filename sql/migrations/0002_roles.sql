-- 0002: the three NOLOGIN group roles. Grant them to login users:
--   GRANT loginvault_loader TO the_loader_service;
--
-- Roles are cluster-wide, so another database of the same cluster may have
-- created them already: create each one only if it is missing. What they may
-- do is granted per database, in sql/definitions/90_privileges.sql.

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('loginvault_loader',    'loginvault: stages SQS messages and runs process_raw_logins'),
      ('loginvault_analyst',   'loginvault: reads user_logins (masked) and the run log'),
      ('loginvault_pii_admin', 'loginvault: analyst rights plus reveal_user_login and the quarantine')
    ) AS roles(name, description)
  LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
      -- Two databases of one cluster migrating at the same moment both get
      -- here (advisory locks are per database): the slower one finds the role.
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.description);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;

  -- A PII admin is an analyst too (membership is cluster-wide as well).
  IF NOT pg_catalog.pg_has_role('loginvault_pii_admin', 'loginvault_analyst', 'MEMBER') THEN
    BEGIN
      GRANT loginvault_analyst TO loginvault_pii_admin;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END
$$;
