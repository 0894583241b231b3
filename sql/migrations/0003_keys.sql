-- 0003: the secret keys.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/10_keys.sql.
--
-- Two kinds of key, both 32 random bytes:
--   mask  the HMAC-SHA256 key behind masked_ip / masked_device_id. There is
--         exactly one, forever: changing it would change every mask and break
--         the "equal values give equal masks" promise analysts rely on.
--   data  the pgp_sym_encrypt key for the encrypted originals and the
--         quarantined bodies. The newest one encrypts; older ones stay only
--         while some row still references them (see 0012_key_rotation.sql).
--
-- The table has no grants at all: only its owner (the migrating role) and the
-- SECURITY DEFINER functions it owns can read it. Keys never appear in SQL
-- text: functions read them into variables and pass them as parameters.

CREATE TABLE IF NOT EXISTS loginvault.keys (
  key_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purpose     text        NOT NULL CHECK (purpose IN ('mask', 'data')),
  key_bytes   bytea       NOT NULL CHECK (octet_length(key_bytes) >= 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz            -- set once a newer data key has taken over
);
COMMENT ON TABLE loginvault.keys IS
  'Secret keys (no grants: owner and SECURITY DEFINER functions only). One mask key; data keys rotate.';

-- Only one mask key can ever exist.
CREATE UNIQUE INDEX IF NOT EXISTS keys_one_mask_key ON loginvault.keys (purpose) WHERE purpose = 'mask';

REVOKE ALL ON loginvault.keys FROM PUBLIC;

-- The current keys, as the masking and encryption code uses them. The data
-- key becomes a pgp passphrase as 64 hex characters: it is random, so the
-- passphrase has its full 256 bits of entropy. These are deliberately NOT
-- security definer: they work only for a role that can already read the
-- table (the owner, and the owner's SECURITY DEFINER functions).
CREATE OR REPLACE FUNCTION loginvault.mask_key() RETURNS bytea
LANGUAGE sql STABLE
AS $$ SELECT key_bytes FROM loginvault.keys WHERE purpose = 'mask' $$;

CREATE OR REPLACE FUNCTION loginvault.current_data_key(OUT key_id integer, OUT passphrase text)
LANGUAGE sql STABLE
AS $$
  SELECT k.key_id, encode(k.key_bytes, 'hex')
    FROM loginvault.keys k
   WHERE k.purpose = 'data' AND k.retired_at IS NULL
   ORDER BY k.key_id DESC
   LIMIT 1
$$;

CREATE OR REPLACE FUNCTION loginvault.data_key_passphrase(p_key_id integer) RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT encode(key_bytes, 'hex') FROM loginvault.keys WHERE key_id = p_key_id AND purpose = 'data' $$;

-- First migrate: generate both keys unless they exist (an operator who wants
-- their own keys replaces them with install_keys() before loading data).
INSERT INTO loginvault.keys (purpose, key_bytes)
SELECT 'mask', loginvault.gen_random_bytes(32)
 WHERE NOT EXISTS (SELECT FROM loginvault.keys WHERE purpose = 'mask');
INSERT INTO loginvault.keys (purpose, key_bytes)
SELECT 'data', loginvault.gen_random_bytes(32)
 WHERE NOT EXISTS (SELECT FROM loginvault.keys WHERE purpose = 'data');

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
