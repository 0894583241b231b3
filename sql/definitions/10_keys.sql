-- Keys: reading the secret keys, and replacing the generated ones.
--
-- The keys live in loginvault.keys (sql/migrations/0003_keys.sql, which
-- also generates them on the first migrate). The table has no grants: only
-- its owner (the migrating role) and the SECURITY DEFINER functions it owns
-- can read it. Keys never appear in SQL text: functions
-- read them into variables and pass them as parameters.
--   mask  the HMAC-SHA256 key behind masked_ip / masked_device_id; exactly
--         one, forever (changing it would change every mask).
--   data  the pgp_sym_encrypt key of the encrypted originals and the
--         quarantined bodies; the newest one encrypts, older ones stay while a
--         row references them (rotation: 80_rotation.sql).


-- The current keys, as the masking and encryption code uses them. The data
-- key becomes a pgp passphrase as 64 hex characters: it is random, so the
-- passphrase has its full 256 bits of entropy. These are deliberately NOT
-- security definer: they work only for a role that can already read the
-- table (the owner, and the owner's SECURITY DEFINER functions).
CREATE OR REPLACE FUNCTION loginvault.mask_key() RETURNS bytea
LANGUAGE sql STABLE
AS $$ SELECT key_bytes FROM loginvault.keys WHERE purpose = 'mask' $$;
COMMENT ON FUNCTION loginvault.mask_key() IS
  'The HMAC key of the masks. Works only for the owner and its SECURITY DEFINER functions (loginvault.keys has no grants).';

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

-- install_keys(mask_key, data_key): replace the generated keys with the
-- operator's own (32+ random bytes each). Only allowed while nothing has been
-- masked or encrypted yet, since neither key could be changed silently later
-- (use rotate_data_key for the data key). Owner only; see docs/database.md
-- for how to call it without the key reaching a command line or a log.
CREATE OR REPLACE FUNCTION loginvault.install_keys(mask_key bytea, data_key bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  IF mask_key IS NULL OR data_key IS NULL
     OR octet_length(mask_key) < 32 OR octet_length(data_key) < 32 THEN
    RAISE EXCEPTION 'install_keys: each key must be at least 32 bytes';
  END IF;
  IF mask_key = data_key THEN
    RAISE EXCEPTION 'install_keys: the mask key and the data key must differ';
  END IF;
  -- Serialise with processing and rotation, then check nothing uses the keys.
  LOCK TABLE loginvault.keys IN EXCLUSIVE MODE;
  IF EXISTS (SELECT FROM public.user_logins) OR EXISTS (SELECT FROM public.rejected_logins) THEN
    RAISE EXCEPTION 'install_keys: data has already been masked or encrypted with the current keys'
      USING HINT = 'The mask key cannot change once used; rotate the data key with CALL loginvault.rotate_data_key().';
  END IF;
  DELETE FROM loginvault.keys;
  INSERT INTO loginvault.keys (purpose, key_bytes) VALUES ('mask', mask_key), ('data', data_key);
END
$$;
COMMENT ON FUNCTION loginvault.install_keys(bytea, bytea) IS
  'Replace the generated keys with your own (32+ random bytes each), only while nothing is masked or encrypted yet. Owner only.';

-- A data key is deleted only when no encrypted original and no quarantined
-- body references it (a trigger, not foreign keys: see 60_originals.sql). The mask key
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
COMMENT ON FUNCTION loginvault.refuse_deleting_used_keys() IS
  'Trigger of loginvault.keys: refuses to delete a data key a row is encrypted under, or the mask key while a masked row exists.';
