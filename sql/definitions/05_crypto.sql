-- pgcrypto, wherever it is installed: the functions loginvault
-- calls, as wrappers of the same names in schema `loginvault`
-- (loginvault.gen_random_bytes, .hmac, .pgp_sym_encrypt, .pgp_sym_decrypt,
-- and for the public-key mode (15_public_key.sql) .pgp_pub_encrypt,
-- .pgp_pub_decrypt, .dearmor, .pgp_key_id),
-- created here for the schema pgcrypto is in now.
--
-- Each wrapper's body is SQL-standard (RETURN ...): pgcrypto's function is
-- named with its schema and bound by OID when the wrapper is created (at
-- migrate time), so neither a caller's search_path nor an object another role
-- creates later can redirect it (and DROP EXTENSION pgcrypto must CASCADE).
-- They are plain SQL with the same volatility and strictness as pgcrypto's,
-- so the planner inlines them: mask() in process_login_batch's statement
-- calls pgcrypto's hmac directly, as before.
--
-- Where pgcrypto lives:
--   * installed by loginvault (0001): schema `loginvault_crypto`, USAGE for
--     no one but the owner; its functions are unreachable for every other
--     role even where the owner cannot revoke EXECUTE on them (a trusted
--     extension installed by a non-superuser: they belong to the bootstrap
--     superuser).
--   * already installed elsewhere (`public`, `extensions`, ...): it stays
--     there; other roles may call pgcrypto there as before (it holds no key),
--     but not the wrappers (90_privileges.sql). This refuses if PUBLIC or any
--     role other than the schema's owner and superusers may CREATE in that
--     schema (PostgreSQL 14 and older gave PUBLIC CREATE on `public`).
DO $$
DECLARE
  installed_in name;
  writers text;
BEGIN
  SELECT n.nspname INTO installed_in
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pgcrypto';
  IF installed_in IS NULL OR installed_in = 'loginvault' THEN
    RAISE EXCEPTION 'pgcrypto is %', CASE WHEN installed_in IS NULL THEN 'not installed' ELSE 'in schema loginvault' END
      USING HINT = 'Run loginvault migrate: its migrations install or move it.';
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
    CREATE OR REPLACE FUNCTION loginvault.pgp_pub_encrypt(text, bytea) RETURNS bytea
      LANGUAGE sql VOLATILE STRICT PARALLEL SAFE RETURN %1$I.pgp_pub_encrypt($1, $2);
    CREATE OR REPLACE FUNCTION loginvault.pgp_pub_decrypt(bytea, bytea, text) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN %1$I.pgp_pub_decrypt($1, $2, $3);
    CREATE OR REPLACE FUNCTION loginvault.dearmor(text) RETURNS bytea
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN %1$I.dearmor($1);
    CREATE OR REPLACE FUNCTION loginvault.pgp_key_id(bytea) RETURNS text
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN %1$I.pgp_key_id($1);
  $f$, installed_in);
END
$$;
COMMENT ON FUNCTION loginvault.gen_random_bytes(integer) IS 'pgcrypto''s gen_random_bytes, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.hmac(bytea, bytea, text) IS 'pgcrypto''s hmac, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.pgp_sym_encrypt(text, text, text) IS 'pgcrypto''s pgp_sym_encrypt, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.pgp_sym_decrypt(bytea, text) IS 'pgcrypto''s pgp_sym_decrypt, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.pgp_pub_encrypt(text, bytea) IS 'pgcrypto''s pgp_pub_encrypt, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.pgp_pub_decrypt(bytea, bytea, text) IS 'pgcrypto''s pgp_pub_decrypt, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.dearmor(text) IS 'pgcrypto''s dearmor, in the schema it is installed in (05_crypto.sql).';
COMMENT ON FUNCTION loginvault.pgp_key_id(bytea) IS 'pgcrypto''s pgp_key_id, in the schema it is installed in (05_crypto.sql).';
