-- 0026: versioned mask keys, which may be held outside the database
-- (sql/definitions/15_mask_keys.sql, 82_mask_rotation.sql).
--
-- loginvault.mask_keys replaces the one 'mask' row of loginvault.keys:
--   version      1, 2, ...: one key per rotation
--   key_bytes    the HMAC key, or NULL when it is held outside the database
--                (the processing session supplies it: 15_mask_keys.sql) or
--                retired (a retired key is erased: no mask uses it any more)
--   fingerprint  HMAC-SHA256 of a fixed label under the key: how a key a
--                session supplies is recognised (its version) and a wrong one
--                refused; it does not let anyone compute a mask
--   state        'active' (every mask analysts see is under it), 'next' (a
--                rotation in progress: masks under it are collected in
--                user_login_next_masks until the switch), 'retired'
-- loginvault.user_login_next_masks holds, during a rotation, each login's
-- masks under the next key; the switch copies them into user_logins in one
-- transaction and empties the table.
--
-- The existing mask key becomes version 1 (same bytes: every mask stays
-- valid), and its row leaves loginvault.keys; the table is rewritten so no
-- dead tuple keeps it there.

CREATE TABLE IF NOT EXISTS loginvault.mask_keys (
  version      integer     PRIMARY KEY CHECK (version > 0),
  key_bytes    bytea       CHECK (key_bytes IS NULL OR octet_length(key_bytes) >= 32),
  fingerprint  bytea       NOT NULL UNIQUE,
  state        text        NOT NULL CHECK (state IN ('active', 'next', 'retired')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  retired_at   timestamptz,
  CHECK (state <> 'retired' OR key_bytes IS NULL)
);
COMMENT ON TABLE loginvault.mask_keys IS
  'Mask key versions (no grants: owner and SECURITY DEFINER functions only). key_bytes NULL: held outside the database (or retired and erased).';
CREATE UNIQUE INDEX IF NOT EXISTS mask_keys_one_active ON loginvault.mask_keys (state) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS mask_keys_one_next ON loginvault.mask_keys (state) WHERE state = 'next';
REVOKE ALL ON loginvault.mask_keys FROM PUBLIC;

CREATE TABLE IF NOT EXISTS loginvault.user_login_next_masks (
  login_id         bigint PRIMARY KEY,  -- user_logins.login_id
  masked_ip        varchar(256),
  masked_device_id varchar(256)
);
COMMENT ON TABLE loginvault.user_login_next_masks IS
  'During a mask-key rotation: each login''s masks under the next key, copied into user_logins at the switch. Empty otherwise.';
REVOKE ALL ON loginvault.user_login_next_masks FROM PUBLIC;

DO $$
DECLARE
  v_kept loginvault.keys[];
BEGIN
  IF NOT EXISTS (SELECT FROM loginvault.mask_keys) THEN
    INSERT INTO loginvault.mask_keys (version, key_bytes, fingerprint, state, created_at, activated_at)
    SELECT 1, k.key_bytes,
           loginvault.hmac(convert_to('loginvault mask key fingerprint', 'UTF8'), k.key_bytes, 'sha256'),
           'active', k.created_at, k.created_at
      FROM loginvault.keys k WHERE k.purpose = 'mask';
  END IF;
  IF EXISTS (SELECT FROM loginvault.keys WHERE purpose = 'mask') THEN
    -- (the key guard refuses deleting the mask key while logins exist; it now lives in mask_keys)
    ALTER TABLE loginvault.keys DISABLE TRIGGER keys_refuse_deleting_used;
    DELETE FROM loginvault.keys WHERE purpose = 'mask';
    ALTER TABLE loginvault.keys ENABLE TRIGGER keys_refuse_deleting_used;
    SELECT array_agg(k ORDER BY k.key_id) INTO v_kept FROM loginvault.keys k;
    TRUNCATE loginvault.keys;
    INSERT INTO loginvault.keys OVERRIDING SYSTEM VALUE SELECT * FROM unnest(v_kept);
  END IF;
END
$$;
