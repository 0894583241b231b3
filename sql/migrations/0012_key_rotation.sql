-- 0012: data-key rotation.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/80_rotation.sql (and 10_keys.sql for the key guard).
--
--   CALL loginvault.rotate_data_key();            -- new random key
--   SELECT loginvault.purge_unused_data_keys();   -- later: drop old keys
--
-- rotate_data_key adds a new data key (from then on every new encryption
-- uses it), then re-encrypts the encrypted originals and quarantined bodies
-- still under older keys, in batches, COMMITting between them, so it can run
-- while the loader works. Old keys stay (retired) until no row references
-- them: a trigger makes it impossible to delete a key still in use. A batch that was already
-- running with the old key when rotation started may commit a few rows under
-- it; running rotate_data_key again (or reencrypt_data_batch) picks them up.
-- The mask key does not rotate (see 0003).

-- add_data_key: a new current data key (random unless one is given); older
-- data keys are retired (no new encryption) but kept. Owner only.
CREATE OR REPLACE FUNCTION loginvault.add_data_key(key_bytes bytea DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_key_id integer;
BEGIN
  IF key_bytes IS NOT NULL AND octet_length(key_bytes) < 32 THEN
    RAISE EXCEPTION 'add_data_key: a data key must be at least 32 bytes';
  END IF;
  UPDATE loginvault.keys k SET retired_at = now() WHERE k.purpose = 'data' AND k.retired_at IS NULL;
  INSERT INTO loginvault.keys (purpose, key_bytes)
  VALUES ('data', coalesce(add_data_key.key_bytes, loginvault.gen_random_bytes(32)))
  RETURNING key_id INTO v_key_id;
  RETURN v_key_id;
END
$$;

-- reencrypt_data_batch: re-encrypt up to batch_size rows not under the
-- current data key (originals first, then quarantined bodies). Returns how
-- many it re-encrypted; 0 means nothing is left under an old key.
CREATE OR REPLACE FUNCTION loginvault.reencrypt_data_batch(batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_new record := loginvault.current_data_key();
  v_done integer;
BEGIN
  WITH todo AS (
    SELECT o.message_id FROM loginvault.user_login_originals o
     WHERE o.key_id <> v_new.key_id
     LIMIT batch_size FOR UPDATE SKIP LOCKED
  )
  UPDATE loginvault.user_login_originals o
     SET originals = loginvault.encrypt(loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)),
                                        v_new.passphrase),
         key_id = v_new.key_id
    FROM todo WHERE o.message_id = todo.message_id;
  GET DIAGNOSTICS v_done = ROW_COUNT;
  IF v_done > 0 THEN
    RETURN v_done;
  END IF;

  WITH todo AS (
    SELECT r.reject_id FROM public.rejected_logins r
     WHERE r.key_id <> v_new.key_id
     LIMIT batch_size FOR UPDATE SKIP LOCKED
  )
  UPDATE public.rejected_logins r
     SET body_encrypted = loginvault.encrypt(loginvault.decrypt(r.body_encrypted, loginvault.data_key_passphrase(r.key_id)),
                                             v_new.passphrase),
         key_id = v_new.key_id
    FROM todo WHERE r.reject_id = todo.reject_id;
  GET DIAGNOSTICS v_done = ROW_COUNT;
  RETURN v_done;
END
$$;

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

-- purge_unused_data_keys: delete retired data keys that no row references.
-- Returns how many it deleted. Once deleted, a backup taken while a row was
-- still under that key can no longer be decrypted with the live keys.
CREATE OR REPLACE FUNCTION loginvault.purge_unused_data_keys() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_deleted integer;
BEGIN
  DELETE FROM loginvault.keys k
   WHERE k.purpose = 'data' AND k.retired_at IS NOT NULL
     AND NOT EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = k.key_id)
     AND NOT EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = k.key_id);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  RETURN v_deleted;
END
$$;

-- A data key is deleted only when no encrypted original and no quarantined
-- body references it (a trigger, not foreign keys: see 0005). The mask key
-- is never deleted while a masked row exists.
CREATE OR REPLACE FUNCTION loginvault.refuse_deleting_used_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  IF OLD.purpose = 'data' AND (EXISTS (SELECT FROM loginvault.user_login_originals o WHERE o.key_id = OLD.key_id)
                               OR EXISTS (SELECT FROM public.rejected_logins r WHERE r.key_id = OLD.key_id))
     OR OLD.purpose = 'mask' AND EXISTS (SELECT FROM public.user_logins) THEN
    RAISE EXCEPTION 'loginvault key % (%) is still in use', OLD.key_id, OLD.purpose
      USING ERRCODE = 'foreign_key_violation',
            HINT = 'Rotate first: CALL loginvault.rotate_data_key(); then SELECT loginvault.purge_unused_data_keys().';
  END IF;
  RETURN OLD;
END
$$;

DROP TRIGGER IF EXISTS keys_refuse_deleting_used ON loginvault.keys;
CREATE TRIGGER keys_refuse_deleting_used
  BEFORE DELETE ON loginvault.keys
  FOR EACH ROW EXECUTE FUNCTION loginvault.refuse_deleting_used_keys();
