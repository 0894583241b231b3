-- 0002: the three NOLOGIN group roles. Grant them to login users:
--   GRANT loginvault_loader TO the_loader_service;
--
-- Roles are cluster-wide, so another database of the same cluster may have
-- created them already: create each one only if it is missing. What they may
-- do is granted per database, in 0014_privileges.sql.

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
      EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
    END IF;
    EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.description);
  END LOOP;
END
$$;

-- A PII admin is an analyst too. Membership is cluster-wide and GRANT of a
-- role already granted only raises a notice.
GRANT loginvault_analyst TO loginvault_pii_admin;
