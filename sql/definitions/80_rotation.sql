-- Rotation: data-key rotation.
--
--   CALL loginvault.rotate_data_key();            -- new random key
--   SELECT loginvault.purge_unused_data_keys();   -- later: drop old keys
--
-- rotate_data_key adds a new data key (from then on every new encryption
-- uses it), then re-encrypts the encrypted originals and quarantined bodies
-- still under older keys, in batches, COMMITting between them, so it can run
-- while the loader works. Old keys stay (retired) until no row references
-- them: a trigger (refuse_deleting_used_keys, 10_keys.sql) makes it
-- impossible to delete a key still in use. A batch that was already running
-- with the old key when rotation started may commit a few rows under it;
-- running rotate_data_key again (or reencrypt_data_batch) picks them up.
-- The mask key rotates differently (it changes every mask): 82_mask_rotation.sql.
--
-- Rotation and purge under load: every writer takes its key with
-- loginvault.data_key_for_writing() (10_keys.sql says why a key it holds
-- cannot be purged before its transaction ends); purge_unused_data_keys waits
-- for every transaction that read a key, then decides with a new snapshot.
-- A purge leaves no copy of a deleted key in the table's file: it rewrites
-- the table (TRUNCATE, a new file; the old one is unlinked at commit). What
-- remains elsewhere (WAL, backups, the file system's freed blocks):
-- docs/security.md, "Key rotation and purge".

-- add_data_key: a new current data key (random unless one is given); older
-- data keys are retired (no new encryption) but kept. Owner only.
CREATE OR REPLACE FUNCTION loginvault.add_data_key(key_bytes bytea DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- a given key is $n in a plan, never a constant
AS $$
DECLARE
  v_key_id integer;
BEGIN
  IF key_bytes IS NOT NULL AND octet_length(key_bytes) < 32 THEN
    RAISE EXCEPTION 'add_data_key: a data key must be at least 32 bytes';
  END IF;
  IF loginvault.public_key_mode() THEN  -- 15_public_key.sql: no data key to rotate
    RAISE EXCEPTION 'add_data_key: this installation encrypts originals to a PGP public key; there is no data key to rotate'
      USING HINT = 'Rotate the key pair with SELECT loginvault.use_public_key(''<new armored public key>'').';
  END IF;
  UPDATE loginvault.keys k SET retired_at = now() WHERE k.purpose = 'data' AND k.retired_at IS NULL;
  INSERT INTO loginvault.keys (purpose, key_bytes)
  VALUES ('data', coalesce(add_data_key.key_bytes, loginvault.gen_random_bytes(32)))
  RETURNING key_id INTO v_key_id;
  RETURN v_key_id;
END
$$;
COMMENT ON FUNCTION loginvault.add_data_key(bytea) IS
  'Make a new data key current (random unless given) and retire the others; returns its key_id. Owner only.';

-- reencrypt_data_batch: re-encrypt up to batch_size rows not under the
-- current data key (originals first, then quarantined bodies). Returns how
-- many it re-encrypted; 0 means nothing is left under an old key.
CREATE OR REPLACE FUNCTION loginvault.reencrypt_data_batch(batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_new_key_id integer := loginvault.data_key_for_writing();
  v_done integer;
BEGIN
  -- The passphrases are read inside each statement (10_keys.sql: never a
  -- constant in a plan).
  WITH todo AS (
    SELECT o.login_id FROM loginvault.user_login_originals o
     WHERE o.key_id <> v_new_key_id
     LIMIT batch_size FOR UPDATE SKIP LOCKED
  )
  UPDATE loginvault.user_login_originals o
     SET originals = loginvault.encrypt(loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)),
                                        (SELECT loginvault.data_key_passphrase(v_new_key_id))),
         key_id = v_new_key_id
    FROM todo WHERE o.login_id = todo.login_id;
  GET DIAGNOSTICS v_done = ROW_COUNT;
  IF v_done > 0 THEN
    RETURN v_done;
  END IF;

  WITH todo AS (
    SELECT r.reject_id FROM public.rejected_logins r
     WHERE r.key_id <> v_new_key_id
     LIMIT batch_size FOR UPDATE SKIP LOCKED
  )
  UPDATE public.rejected_logins r
     SET body_encrypted = loginvault.encrypt(loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id)),
                                             (SELECT loginvault.data_key_passphrase(v_new_key_id))),
         key_id = v_new_key_id
    FROM todo WHERE r.reject_id = todo.reject_id;
  GET DIAGNOSTICS v_done = ROW_COUNT;
  RETURN v_done;
END
$$;
COMMENT ON FUNCTION loginvault.reencrypt_data_batch(integer) IS
  'Re-encrypt up to batch_size rows still under an older data key; 0 when none is left. Owner only.';

-- The rotation procedure. Call it outside a transaction block.
CREATE OR REPLACE PROCEDURE loginvault.rotate_data_key(batch_size integer DEFAULT 10000, new_key bytea DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
  v_key_id integer;
  v_batch  integer;
  v_total  bigint := 0;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'rotate_data_key: batch_size must be a positive integer';
  END IF;
  v_key_id := loginvault.add_data_key(new_key);
  COMMIT;
  LOOP
    v_batch := loginvault.reencrypt_data_batch(batch_size);
    COMMIT;
    EXIT WHEN v_batch = 0;
    v_total := v_total + v_batch;
  END LOOP;
  RAISE NOTICE 'rotate_data_key: data key % is current; % rows re-encrypted. Old keys no longer used can be dropped with SELECT loginvault.purge_unused_data_keys()',
    v_key_id, v_total;
END
$$;
COMMENT ON PROCEDURE loginvault.rotate_data_key(integer, bytea) IS
  'Add a new data key and re-encrypt everything under older ones, in committed batches. Call outside a transaction block. Owner only.';

-- purge_unused_data_keys: delete retired data keys that no row references.
-- Returns how many it deleted. Once deleted, a backup taken while a row was
-- still under that key can no longer be decrypted with the live keys.
--
-- It first takes loginvault.keys in ACCESS EXCLUSIVE mode: it waits for
-- every transaction that has read a key (each holds ACCESS SHARE on the table
-- to its end: see data_key_for_writing, 10_keys.sql), and no transaction
-- reads a key until it commits. The DELETE after the lock runs with a new
-- snapshot (read committed), so it sees every row those transactions wrote;
-- under repeatable read or serializable it could not, so it refuses them.
-- A purge is quick, but while it waits for a long transaction, processing
-- waits behind it.
--
-- Then, if it deleted a key, it rewrites the table so that the deleted key
-- leaves no dead tuple behind (a DELETE only marks the row; its bytes stay in
-- the page until VACUUM reuses the space, and even then may stay in the
-- page's free space): the remaining keys are kept in memory, the table is
-- TRUNCATEd (a new, empty file) and they are inserted again with their
-- key_ids. The old file is removed at commit. (TRUNCATE is not MVCC-safe: a
-- repeatable read transaction whose snapshot is older than the purge and that
-- reads a key only afterwards finds none and fails with 'keys are missing';
-- it writes nothing under a key that is gone.)
CREATE OR REPLACE FUNCTION loginvault.purge_unused_data_keys() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
-- (the kept keys go through a variable: a generic plan shows it as $1, never as a constant)
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_deleted integer;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'purge_unused_data_keys: run it in a read committed transaction (the default), not %',
      current_setting('transaction_isolation')
      USING HINT = 'It must see the rows of every transaction it waited for.';
  END IF;
  LOCK TABLE loginvault.keys IN ACCESS EXCLUSIVE MODE;
  DELETE FROM loginvault.keys k
   WHERE k.purpose = 'data' AND k.retired_at IS NOT NULL
     AND NOT EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = k.key_id)
     AND NOT EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = k.key_id);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  IF v_deleted > 0 THEN
    PERFORM loginvault.rewrite_keys_table();
  END IF;
  RETURN v_deleted;
END
$$;
COMMENT ON FUNCTION loginvault.purge_unused_data_keys() IS
  'Delete retired data keys no row is encrypted under, after waiting for every transaction that read a key; rewrites the table so no copy stays in it. Returns how many. Owner only.';
