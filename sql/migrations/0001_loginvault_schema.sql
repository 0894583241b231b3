-- 0001: the `loginvault` schema and pgcrypto.
--
-- Public interface (reachable with the default search_path): the tables
-- raw_logins, user_logins, rejected_logins, the procedure process_raw_logins
-- and the functions stage_incoming_logins, stage_raw_login,
-- quarantine_raw_login, reveal_user_login and reveal_rejected_login (their
-- current definitions: sql/definitions/). Everything else (keys, helpers, run
-- log, audit log, migration history) lives in the `loginvault` schema, which
-- no one but its owner can create objects in.
--
-- pgcrypto is installed into `loginvault` so that every SECURITY DEFINER
-- function can pin `search_path = pg_catalog, loginvault, pg_temp` and still
-- find hmac() and pgp_sym_encrypt(), without trusting any other schema.

CREATE SCHEMA IF NOT EXISTS loginvault;
COMMENT ON SCHEMA loginvault IS
  'loginvault internals: keys, masking helpers, run log, reveal audit, migration history';

-- A schema someone else can create objects in would let them shadow our
-- helpers; only the owner may.
REVOKE ALL ON SCHEMA loginvault FROM PUBLIC;

DO $$
DECLARE
  installed_in name;
BEGIN
  SELECT n.nspname INTO installed_in
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pgcrypto';
  IF installed_in IS NULL THEN
    CREATE EXTENSION pgcrypto WITH SCHEMA loginvault;
  ELSIF installed_in <> 'loginvault' THEN
    -- Moving it would break whoever installed it there; let a DBA decide.
    RAISE EXCEPTION 'pgcrypto is already installed in schema %, loginvault needs it in schema loginvault', installed_in
      USING HINT = 'pgcrypto is relocatable: ALTER EXTENSION pgcrypto SET SCHEMA loginvault (and update its other users), then migrate again.';
  END IF;
END
$$;

-- Functions are executable by PUBLIC by default. Nothing in loginvault should
-- be: sql/definitions/90_privileges.sql grants EXECUTE to exactly the roles
-- that need it.
ALTER DEFAULT PRIVILEGES IN SCHEMA loginvault REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
