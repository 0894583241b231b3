-- 0020: pgcrypto out of schema `loginvault`.
--
-- 0001 used to install pgcrypto into `loginvault`, a schema the loader, the
-- analyst and the PII admin all have USAGE on. Where pgcrypto is a trusted
-- extension installed by a non-superuser owner (managed PostgreSQL), its
-- functions belong to the bootstrap superuser, the owner cannot revoke
-- EXECUTE on them, and so every role could call pgp_sym_decrypt & co. there.
-- This moves such an install into its own schema `loginvault_crypto`, which no
-- one but the owner has USAGE on, and puts wrappers of the four functions
-- loginvault uses in its place (their current definition:
-- sql/definitions/05_crypto.sql; 0001 does the same on a new install).
-- Moving needs the extension's owner: the role that ran 0001 before.
-- Harmless if applied twice, and a no-op where pgcrypto is elsewhere.

DO $$
BEGIN
  IF (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
       WHERE e.extname = 'pgcrypto') = 'loginvault' THEN
    CREATE SCHEMA IF NOT EXISTS loginvault_crypto;
    REVOKE ALL ON SCHEMA loginvault_crypto FROM PUBLIC;
    ALTER EXTENSION pgcrypto SET SCHEMA loginvault_crypto;
    CREATE FUNCTION loginvault.gen_random_bytes(integer) RETURNS bytea
      LANGUAGE sql VOLATILE STRICT PARALLEL SAFE RETURN loginvault_crypto.gen_random_bytes($1);
    CREATE FUNCTION loginvault.hmac(bytea, bytea, text) RETURNS bytea
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN loginvault_crypto.hmac($1, $2, $3);
    CREATE FUNCTION loginvault.pgp_sym_encrypt(text, text, text) RETURNS bytea
      LANGUAGE sql VOLATILE STRICT PARALLEL SAFE RETURN loginvault_crypto.pgp_sym_encrypt($1, $2, $3);
    CREATE FUNCTION loginvault.pgp_sym_decrypt(bytea, text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN loginvault_crypto.pgp_sym_decrypt($1, $2);
  END IF;
END
$$;
