-- Public-key originals: encrypted originals the database itself cannot
-- decrypt (issue 17, section 1). An install-time choice:
--
--   symmetric mode (the default): a data key in loginvault.keys encrypts the
--     originals and quarantined bodies (10_keys.sql); the database can decrypt
--     them alone, and so can anyone holding a copy of it.
--   public-key mode: SELECT loginvault.use_public_key('<armored PGP public key>');
--     (or `loginvault originals use-public-key --key-file pub.asc`). Each
--     processing batch (and each message quarantined at staging) gets a fresh
--     random 256-bit data key; pgp_sym_encrypt under it stays the per-row
--     cipher, and the key itself is stored ONLY as pgp_pub_encrypt under the
--     public key, in loginvault.wrapped_keys (one public-key operation per
--     batch). The private key is never in the database: a reveal needs it
--     (70_reveal.sql), and a stolen backup, dump or replica holds no key that
--     decrypts an original.
--
-- The batch key never leaves the statement that uses it: it is generated in a
-- MATERIALIZED CTE of the processing statement (50_processing.sql) or the
-- quarantine statement (30_quarantine.sql), wrapped and used there, never a
-- plpgsql variable (a custom plan would print a variable as a constant, and
-- auto_explain would log it).
--
-- Key-pair rotation: use_public_key with a new public key retires the old one
-- (no new encryption) and keeps it: rows stay under the old pair, and their
-- reveals need its private key, until they are removed (retention, erasure)
-- or its batch keys are re-wrapped to the new pair (below).
-- SELECT * FROM loginvault.public_key_pairs() shows each pair and how many
-- rows still need it; once a retired pair has none,
-- SELECT loginvault.remove_public_key(id) deletes it with its (unused)
-- wrapped keys, and its private key may be destroyed. CALL
-- loginvault.rewrap_public_key() with the old private key re-encrypts the old
-- pair's batch keys to the current pair (84_key_pair_rewrap.sql), after which
-- the old pair is unused.
--
-- A wrapped key is deleted only when no row is encrypted under it: a trigger
-- refuses any DELETE (or TRUNCATE) of loginvault.wrapped_keys that would
-- leave an original or a quarantined body without its key. The paths that
-- delete wrapped keys (forget_user, remove_public_key) remove the rows first.

-- public_key_mode(): whether new rows are encrypted to a public key.
CREATE OR REPLACE FUNCTION loginvault.public_key_mode() RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT EXISTS (SELECT FROM loginvault.public_keys p WHERE p.retired_at IS NULL) $$;
COMMENT ON FUNCTION loginvault.public_key_mode() IS
  'True when originals are encrypted to a PGP public key (public-key mode), false in the symmetric mode. Owner and its SECURITY DEFINER functions.';

-- originals_key_for_writing(): the key a writer (a processing batch, a
-- quarantine) encrypts under, for the rest of its transaction.
--   symmetric mode: key_id = data_key_for_writing() (10_keys.sql), public_key_id NULL;
--   public-key mode: key_id a new number from loginvault.keys' identity
--     sequence (the wrapped_keys row the writer's statement inserts), and the
--     current public key's id.
CREATE OR REPLACE FUNCTION loginvault.originals_key_for_writing(OUT key_id integer, OUT public_key_id integer)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  SELECT p.public_key_id INTO public_key_id
    FROM loginvault.public_keys p WHERE p.retired_at IS NULL
   ORDER BY p.public_key_id DESC LIMIT 1;
  IF public_key_id IS NULL THEN
    key_id := loginvault.data_key_for_writing();
  ELSE
    key_id := nextval(pg_get_serial_sequence('loginvault.keys', 'key_id')::regclass);
  END IF;
END
$$;
COMMENT ON FUNCTION loginvault.originals_key_for_writing() IS
  'The key_id a writer encrypts under (a data key, or in public-key mode a new batch key id) and the public key to wrap it with (NULL: symmetric). Owner and its SECURITY DEFINER functions.';

-- new_batch_passphrase(key_id, public_key_id): the pgp passphrase a writer
-- encrypts under: the data key's (symmetric mode), or a fresh random one
-- (public-key mode; the caller's statement wraps it into wrapped_keys).
-- Call it only inside the one statement that encrypts and wraps.
CREATE OR REPLACE FUNCTION loginvault.new_batch_passphrase(key_id integer, public_key_id integer) RETURNS text
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE WHEN public_key_id IS NULL THEN loginvault.data_key_passphrase(key_id)
              ELSE encode(loginvault.gen_random_bytes(32), 'hex') END
$$;
COMMENT ON FUNCTION loginvault.new_batch_passphrase(integer, integer) IS
  'The passphrase a writer encrypts under: the data key''s, or (public-key mode) a new random one its statement wraps. Owner only.';

-- wrap_key(passphrase, public_key_id): the passphrase encrypted to that public key.
CREATE OR REPLACE FUNCTION loginvault.wrap_key(passphrase text, public_key_id integer) RETURNS bytea
LANGUAGE sql VOLATILE
AS $$
  SELECT loginvault.pgp_pub_encrypt(passphrase, p.key_bytes)
    FROM loginvault.public_keys p WHERE p.public_key_id = wrap_key.public_key_id
$$;
COMMENT ON FUNCTION loginvault.wrap_key(text, integer) IS
  'pgp_pub_encrypt of a batch passphrase under one of loginvault.public_keys. Owner only.';

-- use_public_key(armored): switch to (or rotate within) the public-key mode.
-- The key must be an armored OpenPGP PUBLIC key with an encryption key
-- pgcrypto can use (RSA or Elgamal; not ECC). A secret key is refused.
-- Switching from the symmetric mode is allowed only while nothing has been
-- encrypted yet (a fresh install); it then deletes the generated data keys
-- and rewrites loginvault.keys, so that no data key is left in the table.
-- In the public-key mode, it adds a new key pair and retires the old one.
-- Returns the new public_key_id. Owner only.
CREATE OR REPLACE FUNCTION loginvault.use_public_key(armored_public_key text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_key bytea;
  v_pgp_key_id text;
  v_id integer;
BEGIN
  IF armored_public_key IS NULL OR armored_public_key !~ '-----BEGIN PGP PUBLIC KEY BLOCK-----' THEN
    RAISE EXCEPTION 'use_public_key: give an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)'
      USING HINT = 'gpg --armor --export <key id> > loginvault-public.asc; never give the private key to the database.';
  END IF;
  BEGIN
    v_key := loginvault.dearmor(armored_public_key);
    v_pgp_key_id := loginvault.pgp_key_id(v_key);
    -- a trial encryption: pgcrypto refuses keys it cannot encrypt to
    PERFORM loginvault.pgp_pub_encrypt('test', v_key);
  EXCEPTION WHEN external_routine_exception OR data_exception THEN
    RAISE EXCEPTION 'use_public_key: pgcrypto cannot encrypt to this key: %', SQLERRM
      USING HINT = 'Use an RSA (or Elgamal) encryption key, e.g. gpg --quick-generate-key loginvault-pii rsa3072 encrypt never.';
  END;
  LOCK TABLE loginvault.keys IN ACCESS EXCLUSIVE MODE;
  IF NOT loginvault.public_key_mode() THEN
    IF EXISTS (SELECT FROM loginvault.user_login_originals) OR EXISTS (SELECT FROM public.rejected_logins) THEN
      RAISE EXCEPTION 'use_public_key: this installation already holds originals encrypted under its symmetric data key'
        USING HINT = 'The public-key mode is an install-time choice: choose it on a new installation, before the first load.';
    END IF;
    DELETE FROM loginvault.keys WHERE purpose = 'data';
    PERFORM loginvault.rewrite_keys_table();
  END IF;
  UPDATE loginvault.public_keys SET retired_at = now() WHERE retired_at IS NULL;
  INSERT INTO loginvault.public_keys (key_bytes, pgp_key_id) VALUES (v_key, v_pgp_key_id)
  RETURNING public_key_id INTO v_id;
  RAISE NOTICE 'use_public_key: originals are now encrypted to PGP key %; keep its private key outside the database', v_pgp_key_id;
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION loginvault.use_public_key(text) IS
  'Public-key mode: encrypt originals to this armored PGP public key from now on (from the symmetric mode only before anything is encrypted; drops the data keys). Owner only.';

-- originals_passphrase(key_id, private_key, key_password): the passphrase a
-- row's key_id stands for: the data key's (symmetric), or the wrapped batch
-- key decrypted with the given private key (public-key mode). NULL when the
-- key is unknown or no private key is given. Owner and its SECURITY DEFINER
-- functions (the reveal, the mask-key rotation) only; a generic plan keeps the private key a $n.
CREATE OR REPLACE FUNCTION loginvault.originals_passphrase(key_id integer, private_key bytea, key_password text) RETURNS text
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN coalesce(
    loginvault.data_key_passphrase(key_id),
    (SELECT loginvault.pgp_pub_decrypt(w.wrapped_key, private_key, coalesce(key_password, ''))
       FROM loginvault.wrapped_keys w WHERE w.key_id = originals_passphrase.key_id));
EXCEPTION WHEN external_routine_invocation_exception THEN  -- pgcrypto: Wrong key or corrupt data
  RAISE EXCEPTION 'loginvault: the private key does not open key %: %', key_id, SQLERRM
    USING ERRCODE = 'external_routine_invocation_exception',
          HINT = 'Give the private key of the pair this row was encrypted to (loginvault.wrapped_keys.public_key_id), and its passphrase if it has one (--key-passphrase-file).';
END
$$;
COMMENT ON FUNCTION loginvault.originals_passphrase(integer, bytea, text) IS
  'The passphrase of a row''s key_id: its data key, or its wrapped batch key decrypted with the given private key. Owner only.';

-- The guard: refuses deleting a wrapped key that an original or a quarantined
-- body is still encrypted under (one check per DELETE statement; the BRIN
-- index user_login_originals_key_id and rejected_logins_key_id find the rows).
CREATE OR REPLACE FUNCTION loginvault.refuse_deleting_used_wrapped_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_key_id integer;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    SELECT w.key_id INTO v_key_id FROM loginvault.wrapped_keys w
     WHERE EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = w.key_id)
        OR EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = w.key_id)
     LIMIT 1;
  ELSE
    SELECT g.key_id INTO v_key_id FROM gone_wrapped_keys g
     WHERE EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = g.key_id)
        OR EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = g.key_id)
     LIMIT 1;
  END IF;
  IF v_key_id IS NOT NULL THEN
    RAISE EXCEPTION 'wrapped key % still encrypts originals or quarantined bodies', v_key_id
      USING ERRCODE = 'foreign_key_violation',
            HINT = 'Remove those rows first (retention, forget_user); SELECT * FROM loginvault.public_key_pairs() shows what each key pair still encrypts.';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION loginvault.refuse_deleting_used_wrapped_keys() IS
  'Trigger of loginvault.wrapped_keys: refuses a DELETE or TRUNCATE that would remove the key of an original or a quarantined body.';
CREATE OR REPLACE TRIGGER wrapped_keys_refuse_deleting_used AFTER DELETE ON loginvault.wrapped_keys
  REFERENCING OLD TABLE AS gone_wrapped_keys
  FOR EACH STATEMENT EXECUTE FUNCTION loginvault.refuse_deleting_used_wrapped_keys();
CREATE OR REPLACE TRIGGER wrapped_keys_refuse_truncating_used BEFORE TRUNCATE ON loginvault.wrapped_keys
  FOR EACH STATEMENT EXECUTE FUNCTION loginvault.refuse_deleting_used_wrapped_keys();

-- public_key_pairs(): each key pair, whether it encrypts new rows (current),
-- and how many batch keys, originals and quarantined bodies are still under
-- it. A retired pair with in_use false can be removed (remove_public_key) and
-- its private key destroyed. Reads the whole originals table: a query for
-- the operator, not for monitoring every minute. Owner only.
CREATE OR REPLACE FUNCTION loginvault.public_key_pairs()
RETURNS TABLE (public_key_id integer, pgp_key_id text, created_at timestamptz, retired_at timestamptz,
               current boolean, wrapped_keys bigint, originals bigint, rejects bigint, in_use boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  WITH per_key AS (
    SELECT o.key_id, count(*) AS originals, 0::bigint AS rejects FROM loginvault.user_login_originals o GROUP BY o.key_id
    UNION ALL
    SELECT r.key_id, 0, count(*) FROM public.rejected_logins r WHERE r.key_id IS NOT NULL GROUP BY r.key_id
  ),
  per_pair AS (
    SELECT w.public_key_id, count(DISTINCT w.key_id) AS wrapped_keys,
           coalesce(sum(k.originals), 0)::bigint AS originals, coalesce(sum(k.rejects), 0)::bigint AS rejects
      FROM loginvault.wrapped_keys w LEFT JOIN per_key k ON k.key_id = w.key_id
     GROUP BY w.public_key_id
  )
  SELECT p.public_key_id, p.pgp_key_id, p.created_at, p.retired_at, p.retired_at IS NULL,
         coalesce(q.wrapped_keys, 0), coalesce(q.originals, 0), coalesce(q.rejects, 0),
         p.retired_at IS NULL OR coalesce(q.originals, 0) + coalesce(q.rejects, 0) > 0
    FROM loginvault.public_keys p LEFT JOIN per_pair q ON q.public_key_id = p.public_key_id
   ORDER BY p.public_key_id
$$;
COMMENT ON FUNCTION loginvault.public_key_pairs() IS
  'Each PGP key pair of the public-key mode: current or retired, and how many wrapped batch keys, originals and quarantined bodies are still under it (in_use). Owner only.';

-- remove_public_key(public_key_id): delete a retired key pair that no row
-- needs any more, with its wrapped batch keys (which encrypt nothing). After
-- it, the pair's private key opens nothing in this database and may be
-- destroyed. Refuses the current pair and a pair still in use. Returns the
-- number of wrapped keys deleted. Owner only.
CREATE OR REPLACE FUNCTION loginvault.remove_public_key(public_key_id integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_pair record;
  v_deleted integer;
BEGIN
  -- Serialised with use_public_key (same lock). A batch that took this pair
  -- before it was retired and commits later: its wrapped key references the
  -- pair, so the foreign key refuses one of the two transactions.
  LOCK TABLE loginvault.keys IN ACCESS EXCLUSIVE MODE;
  SELECT * INTO v_pair FROM loginvault.public_key_pairs() p WHERE p.public_key_id = remove_public_key.public_key_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'remove_public_key: there is no key pair %', remove_public_key.public_key_id
      USING HINT = 'SELECT * FROM loginvault.public_key_pairs() lists them.';
  END IF;
  IF v_pair.current THEN
    RAISE EXCEPTION 'remove_public_key: key pair % (PGP key %) encrypts new rows', v_pair.public_key_id, v_pair.pgp_key_id
      USING HINT = 'Rotate first: loginvault use-public-key --key-file <the new public key>.';
  END IF;
  IF v_pair.in_use THEN
    RAISE EXCEPTION 'remove_public_key: key pair % (PGP key %) still encrypts % originals and % quarantined bodies',
      v_pair.public_key_id, v_pair.pgp_key_id, v_pair.originals, v_pair.rejects
      USING HINT = 'Re-wrap its batch keys to the current pair with its private key (loginvault use-public-key --rewrap --private-key-file FILE), or keep it until retention or erasure has removed those rows.';
  END IF;
  DELETE FROM loginvault.wrapped_keys w WHERE w.public_key_id = remove_public_key.public_key_id;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM loginvault.public_keys p WHERE p.public_key_id = remove_public_key.public_key_id;
  RAISE NOTICE 'remove_public_key: key pair % (PGP key %) removed; its private key opens nothing here any more', v_pair.public_key_id, v_pair.pgp_key_id;
  RETURN v_deleted;
END
$$;
COMMENT ON FUNCTION loginvault.remove_public_key(integer) IS
  'Delete a retired PGP key pair that no original or quarantined body needs any more, with its wrapped batch keys. Owner only.';
