-- Keys: reading the secret keys, and replacing the generated ones.
--
-- The keys live in loginvault.keys (sql/migrations/0003_keys.sql, which
-- also generates them on the first migrate). The table has no grants: only
-- its owner (the migrating role) and the SECURITY DEFINER functions it owns
-- can read it. Keys never appear in SQL text, and never in a plan: the
-- statements that use a key read it inside the statement (a scalar subquery
-- over data_key_passphrase(), an InitPlan whose value EXPLAIN and
-- auto_explain show as $n), never from a plpgsql variable, which a custom
-- plan would print as a constant.
--   data  the pgp_sym_encrypt key of the encrypted originals and the
--         quarantined bodies; the newest one encrypts, older ones stay while a
--         row references them (rotation: 80_rotation.sql). In the public-key
--         mode there is none: each batch's key is stored only wrapped under a
--         PGP public key (15_public_key.sql).
-- The mask keys are in loginvault.mask_keys (15_mask_keys.sql: versioned,
-- stored or held outside the database).


-- The current data key, as the encryption code uses it. It becomes a pgp
-- passphrase as 64 hex characters: it is random, so the passphrase has its
-- full 256 bits of entropy. These are deliberately NOT security definer: they
-- work only for a role that can already read the table (the owner, and the
-- owner's SECURITY DEFINER functions).

CREATE OR REPLACE FUNCTION loginvault.current_data_key(OUT key_id integer, OUT passphrase text)
LANGUAGE sql STABLE
AS $$
  SELECT k.key_id, encode(k.key_bytes, 'hex')
    FROM loginvault.keys k
   WHERE k.purpose = 'data' AND k.retired_at IS NULL
   ORDER BY k.key_id DESC
   LIMIT 1
$$;
COMMENT ON FUNCTION loginvault.current_data_key() IS
  'The newest data key: its key_id and its pgp passphrase (64 hex characters). Owner and its SECURITY DEFINER functions only.';

CREATE OR REPLACE FUNCTION loginvault.data_key_passphrase(p_key_id integer) RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT encode(key_bytes, 'hex') FROM loginvault.keys WHERE key_id = p_key_id AND purpose = 'data' $$;
COMMENT ON FUNCTION loginvault.data_key_passphrase(integer) IS
  'The pgp passphrase of one data key, for decrypting a row encrypted under it. Owner and its SECURITY DEFINER functions only.';

-- data_key_for_writing(): the key_id of the data key a writer (processing,
-- quarantine, re-encryption) encrypts new rows under, guaranteed to exist
-- until the caller's transaction ends. Every writer calls it BEFORE it reads
-- the key's passphrase and keeps that key_id for the rest of its transaction.
--
-- Why that key cannot be purged under the writer (purge_unused_data_keys,
-- 80_rotation.sql, deletes only under LOCK TABLE loginvault.keys IN ACCESS
-- EXCLUSIVE MODE, then checks which keys rows use with a new snapshot):
--   * the LOCK below (ACCESS SHARE, held to the end of the transaction) and
--     the purge's lock exclude each other, so a purge either committed before
--     this LOCK returned, or starts after the writer's transaction has ended;
--   * read committed: the SELECT after the LOCK takes a new snapshot, so it
--     sees every purge committed before; a purge after the writer sees the
--     rows the writer committed under the key, and keeps the key;
--   * repeatable read / serializable: the transaction's snapshot may predate
--     a purge, so the key row is also locked FOR KEY SHARE: if a purge (or a
--     rotation) changed it after the snapshot, that raises a serialization
--     failure (SQLSTATE 40001; retry the transaction) instead of writing
--     under a key that is gone.
-- A concurrent rotation may retire the key while the writer runs: its rows
-- are then under a retired key, which the purge keeps because they use it;
-- the next rotate_data_key re-encrypts them. Cost: one lock and one index
-- probe per transaction (a processing batch, a quarantined message).
CREATE OR REPLACE FUNCTION loginvault.data_key_for_writing() RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  v_key_id integer;
BEGIN
  LOCK TABLE loginvault.keys IN ACCESS SHARE MODE;
  SELECT k.key_id INTO v_key_id
    FROM loginvault.keys k
   WHERE k.purpose = 'data' AND k.retired_at IS NULL
   ORDER BY k.key_id DESC
   LIMIT 1;
  IF v_key_id IS NULL THEN
    RAISE EXCEPTION 'loginvault keys are missing' USING HINT = 'Run the migrations again, or loginvault.install_keys().';
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM FROM loginvault.keys k WHERE k.key_id = v_key_id FOR KEY SHARE;
  END IF;
  RETURN v_key_id;
END
$$;
COMMENT ON FUNCTION loginvault.data_key_for_writing() IS
  'The key_id new rows are encrypted under, locked so that no purge can delete it before this transaction ends. Owner and its SECURITY DEFINER functions only.';

-- rewrite_keys_table: replace loginvault.keys' file by a new one holding only
-- its live rows (no dead tuple of a deleted key). The caller holds the table
-- in ACCESS EXCLUSIVE mode. Owner only.
CREATE OR REPLACE FUNCTION loginvault.rewrite_keys_table() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_kept loginvault.keys[];
BEGIN
  SELECT array_agg(k ORDER BY k.key_id) INTO v_kept FROM loginvault.keys k;
  TRUNCATE loginvault.keys;
  INSERT INTO loginvault.keys OVERRIDING SYSTEM VALUE
  SELECT * FROM unnest(v_kept);
END
$$;
COMMENT ON FUNCTION loginvault.rewrite_keys_table() IS
  'Rewrite loginvault.keys into a new file with only its live rows, so a deleted key leaves no dead tuple. Caller holds ACCESS EXCLUSIVE. Owner only.';

-- install_keys(mask_key, data_key): replace the generated keys with the
-- operator's own (32+ random bytes each; the mask key becomes version 1 of
-- loginvault.mask_keys, stored; to hold it outside the database instead:
-- hold_mask_key_outside(), 15_mask_keys.sql). Only allowed while nothing has been
-- masked or encrypted yet, since neither key could be changed silently later
-- (use rotate_data_key for the data key). Owner only; see docs/database.md
-- for how to call it without the key reaching a command line or a log.
CREATE OR REPLACE FUNCTION loginvault.install_keys(mask_key bytea, data_key bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- a given key is $n in a plan, never a constant
AS $$
BEGIN
  IF mask_key IS NULL OR data_key IS NULL
     OR octet_length(mask_key) < 32 OR octet_length(data_key) < 32 THEN
    RAISE EXCEPTION 'install_keys: each key must be at least 32 bytes';
  END IF;
  IF mask_key = data_key THEN
    RAISE EXCEPTION 'install_keys: the mask key and the data key must differ';
  END IF;
  -- Wait for every transaction that read a key (processing, quarantine,
  -- rotation), then check that nothing uses the keys (see purge_unused_data_keys).
  LOCK TABLE loginvault.keys IN ACCESS EXCLUSIVE MODE;
  IF EXISTS (SELECT FROM public.user_logins) OR EXISTS (SELECT FROM public.rejected_logins) THEN
    RAISE EXCEPTION 'install_keys: data has already been masked or encrypted with the current keys'
      USING HINT = 'Rotate instead: the data key with CALL loginvault.rotate_data_key(), the mask key with loginvault.begin_mask_key_rotation() and CALL loginvault.rotate_mask_key().';
  END IF;
  LOCK TABLE loginvault.mask_keys IN ACCESS EXCLUSIVE MODE;
  DELETE FROM loginvault.keys;
  INSERT INTO loginvault.keys (purpose, key_bytes) VALUES ('data', data_key);
  DELETE FROM loginvault.mask_keys;
  INSERT INTO loginvault.mask_keys (version, key_bytes, fingerprint, state, activated_at)
  VALUES (1, mask_key, loginvault.mask_key_fingerprint(mask_key), 'active', now());
  -- The generated keys leave no dead tuple behind.
  PERFORM loginvault.rewrite_keys_table();
  PERFORM loginvault.rewrite_mask_keys_table();
END
$$;
COMMENT ON FUNCTION loginvault.install_keys(bytea, bytea) IS
  'Replace the generated keys with your own (32+ random bytes each), only while nothing is masked or encrypted yet. Owner only.';

-- A data key is deleted only when no encrypted original and no quarantined
-- body references it (a trigger, not foreign keys: see 60_originals.sql).
CREATE OR REPLACE FUNCTION loginvault.refuse_deleting_used_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  IF OLD.purpose = 'data' AND (EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = OLD.key_id)
                               OR EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = OLD.key_id)) THEN
    RAISE EXCEPTION 'loginvault key % (%) is still in use', OLD.key_id, OLD.purpose
      USING ERRCODE = 'foreign_key_violation',
            HINT = 'Rotate first: CALL loginvault.rotate_data_key(); then SELECT loginvault.purge_unused_data_keys().';
  END IF;
  RETURN OLD;
END
$$;
COMMENT ON FUNCTION loginvault.refuse_deleting_used_keys() IS
  'Trigger of loginvault.keys: refuses to delete a data key a row is encrypted under.';
