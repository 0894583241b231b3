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
-- pgcrypto: loginvault calls four of its functions (gen_random_bytes, hmac,
-- pgp_sym_encrypt, pgp_sym_decrypt) through wrappers of the same names in
-- schema `loginvault`, whose bodies name pgcrypto's schema and are bound to
-- its functions when they are created (SQL-standard bodies), so no search_path
-- and no object another role creates can redirect them. If pgcrypto is not
-- installed, it is installed into its own schema `loginvault_crypto`, on
-- which no one but the owner has USAGE. If it is already installed anywhere
-- else (`public`, `extensions`, ...), it stays there, unless another role
-- than that schema's owner (or PUBLIC) may create objects in it: then this
-- refuses. (Until issue 13 this file installed pgcrypto into `loginvault`
-- and refused when it was elsewhere; 0020 moves such an install. The
-- wrappers' current definition: sql/definitions/05_crypto.sql.)

CREATE SCHEMA IF NOT EXISTS loginvault;
COMMENT ON SCHEMA loginvault IS
  'loginvault internals: keys, masking helpers, run log, reveal audit, migration history';

-- A schema someone else can create objects in would let them shadow our
-- helpers; only the owner may.
REVOKE ALL ON SCHEMA loginvault FROM PUBLIC;

DO $$
DECLARE
  installed_in name;
  writers text;
BEGIN
  SELECT n.nspname INTO installed_in
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pgcrypto';
  IF installed_in = 'loginvault' THEN
    -- Where an older loginvault put it (or its hint said to): out of the
    -- schema every loginvault role has USAGE on.
    CREATE SCHEMA IF NOT EXISTS loginvault_crypto;
    REVOKE ALL ON SCHEMA loginvault_crypto FROM PUBLIC;
    ALTER EXTENSION pgcrypto SET SCHEMA loginvault_crypto;
    installed_in := 'loginvault_crypto';
  ELSIF installed_in IS NULL THEN
    CREATE SCHEMA IF NOT EXISTS loginvault_crypto;
    REVOKE ALL ON SCHEMA loginvault_crypto FROM PUBLIC;
    CREATE EXTENSION pgcrypto WITH SCHEMA loginvault_crypto;
    installed_in := 'loginvault_crypto';
  END IF;
  SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', ')
    INTO writers
    FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
   WHERE n.nspname = installed_in AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
     AND (a.grantee = 0 OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.grantee));
  IF writers IS NOT NULL THEN
    RAISE EXCEPTION 'pgcrypto is installed in schema %, in which % may create objects', installed_in, writers
      USING HINT = format('Revoke CREATE on schema %I from them (REVOKE CREATE ON SCHEMA %I FROM PUBLIC), or move pgcrypto to a schema only its owner writes to, then migrate again.', installed_in, installed_in);
  END IF;
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION loginvault.gen_random_bytes(integer) RETURNS bytea
      LANGUAGE sql VOLATILE STRICT PARALLEL SAFE RETURN %1$I.gen_random_bytes($1);
    CREATE OR REPLACE FUNCTION loginvault.hmac(bytea, bytea, text) RETURNS bytea
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN %1$I.hmac($1, $2, $3);
    CREATE OR REPLACE FUNCTION loginvault.pgp_sym_encrypt(text, text, text) RETURNS bytea
      LANGUAGE sql VOLATILE STRICT PARALLEL SAFE RETURN %1$I.pgp_sym_encrypt($1, $2, $3);
    CREATE OR REPLACE FUNCTION loginvault.pgp_sym_decrypt(bytea, text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN %1$I.pgp_sym_decrypt($1, $2);
  $f$, installed_in);
END
$$;

-- Functions are executable by PUBLIC by default. Nothing in loginvault should
-- be: sql/definitions/90_privileges.sql grants EXECUTE to exactly the roles
-- that need it. (This statement has no effect: a schema's default privileges
-- can only add to the global ones, never revoke them. 90_privileges.sql
-- revokes the owner's global default instead, and every function explicitly.)
ALTER DEFAULT PRIVILEGES IN SCHEMA loginvault REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
