-- Mask keys: the versioned HMAC keys behind masked_ip / masked_device_id,
-- stored in the database or held outside it.
--
-- loginvault.mask_keys (sql/migrations/0026) has one 'active' version (every
-- mask in user_logins is under it), during a rotation one 'next' version
-- (82_mask_rotation.sql), and 'retired' ones (their key erased). A version's
-- key_bytes is either stored in the table or NULL: held outside the database.
--
-- Why hold it outside: with the mask key in the database, anyone with a
-- backup, a dump or a replica recomputes every mask by enumerating the 2^32
-- IPv4 addresses or the 10^9 device ids of this shape, and so recovers the
-- originals from the masks. Held outside, the database keeps only the key's
-- fingerprint (HMAC-SHA256 of a fixed label under the key), which tells a
-- right key from a wrong one and nothing else.
--
-- How a session supplies a key held outside, without it reaching the server
-- log or pg_stat_activity (a bind parameter and SQL text are logged under
-- log_statement = all; COPY data is not):
--   CREATE TEMP TABLE loginvault_mask_key (key_hex text);
--   COPY loginvault_mask_key FROM STDIN;   -- psql: \copy loginvault_mask_key FROM '/run/secrets/loginvault_mask_key'
--   SELECT loginvault.supply_mask_keys(); -- matches each key to its version, keeps it for the session, drops the table
-- One key per line, hex (64 hex digits for 32 bytes); during a rotation the
-- file holds both. `loginvault load` does this itself before each processing
-- run when LOGINVAULT_MASK_KEY_FILE names the file. The key then lives in
-- the session's memory only (the custom setting loginvault.mask_key_<version>,
-- which no other session can read); every use checks it against the
-- fingerprint, so a wrong key is refused, never used to make other masks.
-- pg_cron cannot run processing in this mode (it has no way to supply the
-- key): schedule `loginvault load` or the psql job from cron / systemd.
--
-- Keys never appear in SQL text or in a plan: the statements that use one
-- read it inside the statement (a scalar subquery over mask_key(), an
-- InitPlan shown as $n); the functions that hold one in a variable use
-- generic plans.

-- mask_key_fingerprint(key): what mask_keys.fingerprint holds.
CREATE OR REPLACE FUNCTION loginvault.mask_key_fingerprint(key bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT loginvault.hmac(convert_to('loginvault mask key fingerprint', 'UTF8'), key, 'sha256') $$;
COMMENT ON FUNCTION loginvault.mask_key_fingerprint(bytea) IS
  'HMAC-SHA256 of a fixed label under a mask key: recognises a supplied key (and refuses a wrong one) without revealing it.';

-- session_mask_key(version, fingerprint): the key of a version held outside
-- the database, as this session supplied it, checked against the
-- fingerprint. Raises when the session has not supplied it or supplied
-- another key. Owner and its SECURITY DEFINER functions only.
CREATE OR REPLACE FUNCTION loginvault.session_mask_key(version integer, fingerprint bytea) RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the key is $n in a plan, never a constant
AS $$
BEGIN
  IF coalesce(current_setting('loginvault.mask_key_' || version, true), '') = '' THEN
    RAISE EXCEPTION 'loginvault: mask key version % is held outside the database, and this session has not supplied it', version
      USING HINT = 'loginvault load: set LOGINVAULT_MASK_KEY_FILE to the file holding the mask key. psql: CREATE TEMP TABLE loginvault_mask_key (key_hex text); \copy loginvault_mask_key FROM ''/path/to/mask.key'' then SELECT loginvault.supply_mask_keys();';
  END IF;
  IF loginvault.mask_key_fingerprint(decode(current_setting('loginvault.mask_key_' || version), 'hex')) IS DISTINCT FROM fingerprint THEN
    RAISE EXCEPTION 'loginvault: the key this session supplied for mask key version % is not that key', version
      USING HINT = 'Supply the right key file (SELECT loginvault.supply_mask_keys() checks each key against the stored fingerprints).';
  END IF;
  RETURN decode(current_setting('loginvault.mask_key_' || version), 'hex');
END
$$;
COMMENT ON FUNCTION loginvault.session_mask_key(integer, bytea) IS
  'The key of a mask key version held outside the database, as this session supplied it, checked against its fingerprint. Owner and its SECURITY DEFINER functions only.';

-- mask_key(): the active mask key; next_mask_key(): the next one during a
-- rotation, else NULL; both are mask_key_in_state(state): the key of the
-- version in that state, stored or supplied by this session. Deliberately
-- NOT security definer: they work only for a role that can already read
-- loginvault.mask_keys (the owner, and the owner's SECURITY DEFINER
-- functions).
CREATE OR REPLACE FUNCTION loginvault.mask_key_in_state(state text) RETURNS bytea
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(m.key_bytes, loginvault.session_mask_key(m.version, m.fingerprint))
    FROM loginvault.mask_keys m WHERE m.state = mask_key_in_state.state
$$;
COMMENT ON FUNCTION loginvault.mask_key_in_state(text) IS
  'The mask key of the version in a state (''active'', ''next''): stored, or supplied by this session when held outside the database; NULL if none. Owner and its SECURITY DEFINER functions only.';

CREATE OR REPLACE FUNCTION loginvault.mask_key() RETURNS bytea
LANGUAGE sql STABLE
AS $$ SELECT loginvault.mask_key_in_state('active') $$;
COMMENT ON FUNCTION loginvault.mask_key() IS
  'The active mask key (stored, or supplied by this session when held outside the database). Owner and its SECURITY DEFINER functions only.';

CREATE OR REPLACE FUNCTION loginvault.next_mask_key() RETURNS bytea
LANGUAGE sql STABLE
AS $$ SELECT loginvault.mask_key_in_state('next') $$;
COMMENT ON FUNCTION loginvault.next_mask_key() IS
  'During a mask-key rotation, the next mask key; NULL otherwise. Owner and its SECURITY DEFINER functions only.';

-- mask_key_version(key_hex): the version (not retired) whose fingerprint a
-- hex key has; NULL if none. Raises, without quoting it, on a value that is
-- not a hex key of 32 bytes or more.
CREATE OR REPLACE FUNCTION loginvault.mask_key_version(key_hex text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the key is $n in a plan, never a constant
AS $$
DECLARE
  v_version integer;
BEGIN
  IF key_hex IS NULL OR btrim(key_hex, E' \t\r\n') !~ '^([0-9a-fA-F]{2}){32,}$' THEN
    RAISE EXCEPTION 'loginvault: a mask key must be written as hex, 64 or more hex digits (32+ bytes), one key per line'
      USING HINT = 'e.g. openssl rand -hex 32 > mask.key';
  END IF;
  SELECT m.version INTO v_version FROM loginvault.mask_keys m
   WHERE m.state <> 'retired' AND m.fingerprint = loginvault.mask_key_fingerprint(decode(btrim(key_hex, E' \t\r\n'), 'hex'));
  RETURN v_version;
END
$$;
COMMENT ON FUNCTION loginvault.mask_key_version(text) IS
  'The mask key version a hex key is (by its fingerprint), or NULL. For supply_mask_keys.';

-- supply_mask_keys(): read the keys of pg_temp.loginvault_mask_key (one hex
-- key per line: a row per line, as psql's \copy makes, or the whole file in
-- one row, as the loader sends it; blank lines ignored), keep each one that is a mask key version
-- of this installation for the rest of the session, drop the table, and
-- return the versions supplied. Refuses when none matches (a wrong key
-- file). A key that matches no version is ignored (e.g. the key of a
-- rotation not begun yet) and reported in a NOTICE, without the key.
-- SECURITY INVOKER: the temp table is the caller's.
CREATE OR REPLACE FUNCTION loginvault.supply_mask_keys() RETURNS integer[]
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the keys are $n in a plan, never constants
AS $$
DECLARE
  v_versions integer[];
  v_unknown  integer;
BEGIN
  IF to_regclass('pg_temp.loginvault_mask_key') IS NULL THEN
    RAISE EXCEPTION 'supply_mask_keys: this session has no table loginvault_mask_key'
      USING HINT = 'CREATE TEMP TABLE loginvault_mask_key (key_hex text); then \copy loginvault_mask_key FROM ''/path/to/mask.key'' (psql) or COPY ... FROM STDIN.';
  END IF;
  CREATE TEMP TABLE IF NOT EXISTS loginvault_mask_key_matched (version integer, key_hex text) ON COMMIT DROP;
  INSERT INTO pg_temp.loginvault_mask_key_matched
  SELECT loginvault.mask_key_version(l.line), lower(btrim(l.line, E' \t\r\n'))
    FROM pg_temp.loginvault_mask_key k
         CROSS JOIN LATERAL regexp_split_to_table(coalesce(k.key_hex, ''), E'\n') AS l(line)
   WHERE btrim(l.line, E' \t\r\n') <> '';
  SELECT array_agg(DISTINCT m.version ORDER BY m.version) FILTER (WHERE m.version IS NOT NULL),
         count(*) FILTER (WHERE m.version IS NULL)
    INTO v_versions, v_unknown
    FROM pg_temp.loginvault_mask_key_matched m;
  IF v_versions IS NULL THEN
    DROP TABLE pg_temp.loginvault_mask_key, pg_temp.loginvault_mask_key_matched;
    RAISE EXCEPTION 'supply_mask_keys: no key given is a mask key of this installation (% given)', v_unknown
      USING HINT = 'Check the key file (LOGINVAULT_MASK_KEY_FILE): one hex key per line; its fingerprint must be in loginvault.mask_keys.';
  END IF;
  PERFORM pg_catalog.set_config('loginvault.mask_key_' || m.version, m.key_hex, false)
     FROM pg_temp.loginvault_mask_key_matched m WHERE m.version IS NOT NULL;
  DROP TABLE pg_temp.loginvault_mask_key, pg_temp.loginvault_mask_key_matched;
  IF v_unknown > 0 THEN
    RAISE NOTICE 'supply_mask_keys: % key(s) given match no mask key version and were ignored', v_unknown;
  END IF;
  RETURN v_versions;
END
$$;
COMMENT ON FUNCTION loginvault.supply_mask_keys() IS
  'Take the mask keys of this session''s temp table loginvault_mask_key (filled by COPY, never logged), keep those that are versions of this installation for the session, drop the table; returns the versions.';

-- rewrite_mask_keys_table(): replace loginvault.mask_keys' file by a new one
-- with only its live rows, so that an erased key leaves no dead tuple.
-- The caller holds the table in ACCESS EXCLUSIVE mode. Owner only.
CREATE OR REPLACE FUNCTION loginvault.rewrite_mask_keys_table() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_kept loginvault.mask_keys[];
BEGIN
  SELECT array_agg(m ORDER BY m.version) INTO v_kept FROM loginvault.mask_keys m;
  TRUNCATE loginvault.mask_keys;
  INSERT INTO loginvault.mask_keys SELECT * FROM unnest(v_kept);
END
$$;
COMMENT ON FUNCTION loginvault.rewrite_mask_keys_table() IS
  'Rewrite loginvault.mask_keys into a new file with only its live rows (no dead tuple of an erased key). Caller holds ACCESS EXCLUSIVE. Owner only.';

-- hold_mask_key_outside(): the install-time choice. Replaces the active
-- mask key (the one generated by migrate) with the key in this session's
-- pg_temp.loginvault_mask_key, storing only its fingerprint, and supplies it
-- to this session. Only while nothing has been masked: once logins exist,
-- move to a key held outside with a rotation
-- (loginvault.begin_mask_key_rotation(held_outside => true), 82_mask_rotation.sql).
-- Owner only.
CREATE OR REPLACE FUNCTION loginvault.hold_mask_key_outside() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the key is $n in a plan, never a constant
AS $$
DECLARE
  v_version integer;
BEGIN
  IF to_regclass('pg_temp.loginvault_mask_key') IS NULL
     OR (SELECT count(*) FROM pg_temp.loginvault_mask_key k WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> '') <> 1 THEN
    RAISE EXCEPTION 'hold_mask_key_outside: put exactly one key in this session''s table loginvault_mask_key first'
      USING HINT = 'openssl rand -hex 32 > mask.key; then in psql: CREATE TEMP TABLE loginvault_mask_key (key_hex text); \copy loginvault_mask_key FROM ''mask.key''';
  END IF;
  PERFORM loginvault.mask_key_version(k.key_hex) FROM pg_temp.loginvault_mask_key k WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> '';  -- format check
  -- Wait for every batch in flight (they hold it shared, 50_processing.sql).
  PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);
  LOCK TABLE loginvault.mask_keys IN ACCESS EXCLUSIVE MODE;
  IF EXISTS (SELECT FROM public.user_logins) OR EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next') THEN
    RAISE EXCEPTION 'hold_mask_key_outside: logins have already been masked with the stored key'
      USING HINT = 'Move to a key held outside with a rotation: SELECT loginvault.begin_mask_key_rotation(held_outside => true); then CALL loginvault.rotate_mask_key().';
  END IF;
  UPDATE loginvault.mask_keys m
     SET key_bytes = NULL,
         fingerprint = (SELECT loginvault.mask_key_fingerprint(decode(btrim(k.key_hex, E' \t\r\n'), 'hex'))
                          FROM pg_temp.loginvault_mask_key k WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> ''),
         created_at = now(), activated_at = now()
   WHERE m.state = 'active'
  RETURNING m.version INTO v_version;
  -- The generated key leaves no dead tuple behind.
  PERFORM loginvault.rewrite_mask_keys_table();
  PERFORM loginvault.supply_mask_keys();
  RETURN v_version;
END
$$;
COMMENT ON FUNCTION loginvault.hold_mask_key_outside() IS
  'Install-time: keep the mask key outside the database (only its fingerprint stored), from this session''s temp table loginvault_mask_key; only while nothing is masked. Owner only.';
