-- Mask-key rotation: new masks for every login, with analysts' duplicate
-- detection correct before, during and after.
--
--   SELECT loginvault.begin_mask_key_rotation();                      -- a new random key, stored
--   SELECT loginvault.begin_mask_key_rotation(held_outside => true);  -- the key in pg_temp.loginvault_mask_key
--   CALL loginvault.rotate_mask_key();                                -- re-mask in batches, then switch
-- (rotate_mask_key begins a rotation itself if none is in progress.)
--
-- Design: analysts only ever see masks under ONE key, the active one.
--   1. begin: a 'next' version is added. From then on every processing batch
--      also computes each new login's masks under the next key and keeps
--      them in loginvault.user_login_next_masks (user_logins still gets the
--      active key's masks).
--   2. re-mask: the logins that existed before are re-masked in batches (by
--      login_id, COMMIT between batches, while loading goes on): each one's
--      originals are decrypted, normalised as processing does, and masked
--      under the next key into user_login_next_masks.
--   3. switch, one transaction: it waits for every processing batch in
--      flight (the advisory lock they hold shared) and holds new ones back,
--      re-masks any login still without a next mask, copies every next mask
--      into user_logins, empties user_login_next_masks, makes the next
--      version active and the old one retired, and erases the retired key
--      (key_bytes NULL, the table rewritten so that no dead tuple keeps it).
-- Until the switch commits every mask in user_logins is under the old key;
-- after it, every one is under the new key: equal values always have equal
-- masks. Logins whose originals are gone (forget_user: random masks) keep
-- their masks. The switch updates every login row while processing waits
-- (docs/database.md gives the cost).
--
-- Re-masking needs the originals, so the data key that encrypts them: in the
-- symmetric mode it is in the database. An original that no data key in the
-- database can decrypt stops the rotation with an error (nothing is
-- switched); a mode whose originals need a key held elsewhere must supply it
-- to originals_for_remask.
--
-- A key held outside the database (15_mask_keys.sql): begin with
-- held_outside => true after putting the new key in this session's
-- pg_temp.loginvault_mask_key; add the new key as a second line to every
-- loader's LOGINVAULT_MASK_KEY_FILE first (the loader supplies the keys
-- before each processing run; a batch that needs the next key and was not
-- given it fails, and stays staged, until it is). After the switch the old
-- line may go. This is also how an installation with a stored key moves to
-- one held outside.

-- begin_mask_key_rotation(held_outside): add the next mask key version and
-- return it. held_outside NULL: like the active key. Owner only.
CREATE OR REPLACE FUNCTION loginvault.begin_mask_key_rotation(held_outside boolean DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- a key is $n in a plan, never a constant
AS $$
DECLARE
  v_version  integer;
  v_outside  boolean;
BEGIN
  IF EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next') THEN
    RAISE EXCEPTION 'begin_mask_key_rotation: a rotation is already in progress'
      USING HINT = 'Finish it: CALL loginvault.rotate_mask_key();';
  END IF;
  SELECT coalesce(held_outside, m.key_bytes IS NULL) INTO v_outside FROM loginvault.mask_keys m WHERE m.state = 'active';
  SELECT coalesce(max(m.version), 0) + 1 INTO v_version FROM loginvault.mask_keys m;
  IF v_outside THEN
    IF to_regclass('pg_temp.loginvault_mask_key') IS NULL
       OR (SELECT count(*) FROM pg_temp.loginvault_mask_key k WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> '') <> 1 THEN
      RAISE EXCEPTION 'begin_mask_key_rotation: put exactly one new key in this session''s table loginvault_mask_key first'
        USING HINT = 'openssl rand -hex 32 > new-mask.key; add it as a line to every loader''s LOGINVAULT_MASK_KEY_FILE; then in psql: CREATE TEMP TABLE loginvault_mask_key (key_hex text); \copy loginvault_mask_key FROM ''new-mask.key''';
    END IF;
    PERFORM loginvault.mask_key_version(k.key_hex) FROM pg_temp.loginvault_mask_key k;  -- format check
    IF EXISTS (SELECT FROM loginvault.mask_keys m, pg_temp.loginvault_mask_key k
                WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> ''
                  AND m.fingerprint = loginvault.mask_key_fingerprint(decode(btrim(k.key_hex, E' \t\r\n'), 'hex'))) THEN
      RAISE EXCEPTION 'begin_mask_key_rotation: that key is, or was, a mask key of this installation; give a new one';
    END IF;
    INSERT INTO loginvault.mask_keys (version, key_bytes, fingerprint, state)
    SELECT v_version, NULL, loginvault.mask_key_fingerprint(decode(btrim(k.key_hex, E' \t\r\n'), 'hex')), 'next'
      FROM pg_temp.loginvault_mask_key k WHERE btrim(coalesce(k.key_hex, ''), E' \t\r\n') <> '';
    PERFORM loginvault.supply_mask_keys();  -- this session can re-mask
  ELSE
    INSERT INTO loginvault.mask_keys (version, key_bytes, fingerprint, state)
    SELECT v_version, g.k, loginvault.mask_key_fingerprint(g.k), 'next'
      FROM (SELECT loginvault.gen_random_bytes(32) AS k) g;
  END IF;
  RETURN v_version;
END
$$;
COMMENT ON FUNCTION loginvault.begin_mask_key_rotation(boolean) IS
  'Begin a mask-key rotation: add the next version (random and stored, or held outside: from pg_temp.loginvault_mask_key); new logins get masks under it too. Owner only.';

-- originals_for_remask(originals, key_id): the decrypted originals of a
-- login as jsonb; raises when no data key in the database decrypts them.
CREATE OR REPLACE FUNCTION loginvault.originals_for_remask(originals bytea, key_id integer) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- decrypted values are $n in a plan, never constants
AS $$
BEGIN
  IF loginvault.data_key_passphrase(key_id) IS NULL THEN
    RAISE EXCEPTION 'mask-key rotation: the originals under key % cannot be decrypted with a key held in the database', key_id
      USING HINT = 'Re-masking needs the originals; nothing was switched.';
  END IF;
  RETURN loginvault.decrypt(originals, loginvault.data_key_passphrase(key_id))::jsonb;
END
$$;
COMMENT ON FUNCTION loginvault.originals_for_remask(bytea, integer) IS
  'Part of the mask-key rotation: a login''s decrypted originals; refuses when the database holds no key for them. Owner only.';

-- add_next_masks(login_ids): the masks under the next key of these logins,
-- from their originals, normalised as processing does (20_masking.sql), into
-- user_login_next_masks (a login that has them already is left alone).
-- Owner only.
CREATE OR REPLACE FUNCTION loginvault.add_next_masks(login_ids bigint[]) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  INSERT INTO loginvault.user_login_next_masks (login_id, masked_ip, masked_device_id)
  SELECT t.login_id,
         loginvault.mask('ip', loginvault.canonical_ip(t.v->>'ip'), (SELECT loginvault.next_mask_key())),
         loginvault.mask('device_id', nullif(loginvault.trim_ws(t.v->>'device_id'), ''), (SELECT loginvault.next_mask_key()))
    FROM (SELECT o.login_id, loginvault.originals_for_remask(o.originals, o.key_id) AS v
            FROM loginvault.user_login_originals o
           WHERE o.login_id = ANY (login_ids)
          OFFSET 0) t
  ON CONFLICT (login_id) DO NOTHING
$$;
COMMENT ON FUNCTION loginvault.add_next_masks(bigint[]) IS
  'Part of the mask-key rotation: the next masks of some logins, from their originals. Owner only.';

-- remask_batch(after_login_id, batch_size): the next masks of up to
-- batch_size logins with login_id > after_login_id (in login_id order) that
-- have originals; returns the last login_id it looked at, NULL when none was
-- left. Owner only.
CREATE OR REPLACE FUNCTION loginvault.remask_batch(after_login_id bigint, batch_size integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET work_mem = '64MB'
AS $$
DECLARE
  v_ids bigint[];
BEGIN
  IF NOT EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next') THEN
    RAISE EXCEPTION 'remask_batch: no mask-key rotation is in progress'
      USING HINT = 'SELECT loginvault.begin_mask_key_rotation();';
  END IF;
  -- Shared, like a processing batch: forget_user (exclusive) waits for this
  -- batch, and this batch for it, so a login erased meanwhile never gets a
  -- next mask back from originals read before the erasure.
  PERFORM pg_advisory_xact_lock_shared(x'6c76706f69736f6e'::bigint);
  SELECT array_agg(t.login_id ORDER BY t.login_id) INTO v_ids
    FROM (SELECT o.login_id FROM loginvault.user_login_originals o
           WHERE o.login_id > coalesce(after_login_id, -1)
           ORDER BY o.login_id LIMIT batch_size) t;
  PERFORM loginvault.add_next_masks(v_ids);
  RETURN v_ids[cardinality(v_ids)];
END
$$;
COMMENT ON FUNCTION loginvault.remask_batch(bigint, integer) IS
  'Part of the mask-key rotation: next masks for up to batch_size logins after a login_id, from their originals; returns the last login_id (NULL: done). Owner only.';

-- switch_mask_key(): the atomic switch (step 3 above); returns the version
-- now active. Owner only.
CREATE OR REPLACE FUNCTION loginvault.switch_mask_key() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET work_mem = '64MB'
AS $$
DECLARE
  v_next integer;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'switch_mask_key: run it in a read committed transaction (the default), not %',
      current_setting('transaction_isolation');
  END IF;
  -- Wait for every processing batch in flight; none starts until we commit.
  PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);
  LOCK TABLE loginvault.mask_keys IN ACCESS EXCLUSIVE MODE;
  SELECT m.version INTO v_next FROM loginvault.mask_keys m WHERE m.state = 'next';
  IF v_next IS NULL THEN
    RAISE EXCEPTION 'switch_mask_key: no mask-key rotation is in progress';
  END IF;
  -- Logins still without a next mask (a batch that began before the rotation did).
  PERFORM loginvault.add_next_masks(ARRAY(
    SELECT o.login_id FROM loginvault.user_login_originals o
     WHERE NOT EXISTS (SELECT FROM loginvault.user_login_next_masks n WHERE n.login_id = o.login_id)));
  UPDATE public.user_logins u
     SET masked_ip = n.masked_ip, masked_device_id = n.masked_device_id
    FROM loginvault.user_login_next_masks n
   WHERE u.login_id = n.login_id
     AND (u.masked_ip IS DISTINCT FROM n.masked_ip OR u.masked_device_id IS DISTINCT FROM n.masked_device_id);
  TRUNCATE loginvault.user_login_next_masks;
  UPDATE loginvault.mask_keys m SET state = 'retired', retired_at = now(), key_bytes = NULL WHERE m.state = 'active';
  UPDATE loginvault.mask_keys m SET state = 'active', activated_at = now() WHERE m.version = v_next;
  PERFORM loginvault.rewrite_mask_keys_table();
  RETURN v_next;
END
$$;
COMMENT ON FUNCTION loginvault.switch_mask_key() IS
  'Part of the mask-key rotation: in one transaction, with processing held back, put every login''s next masks into user_logins and make the next key active (the old one erased). Owner only.';

-- The rotation procedure. Call it outside a transaction block.
CREATE OR REPLACE PROCEDURE loginvault.rotate_mask_key(batch_size integer DEFAULT 10000)
LANGUAGE plpgsql
AS $$
DECLARE
  v_next    integer;
  v_after   bigint;
  v_last    bigint;
  v_batches integer := 0;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'rotate_mask_key: batch_size must be a positive integer';
  END IF;
  IF NOT loginvault.mask_key_rotation_in_progress() THEN
    PERFORM loginvault.begin_mask_key_rotation();
    COMMIT;
  END IF;
  -- A barrier: every batch that began before the rotation has ended after
  -- this, so every login committed later has its next mask already.
  PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);
  COMMIT;
  LOOP
    v_last := loginvault.remask_batch(v_after, batch_size);
    COMMIT;
    EXIT WHEN v_last IS NULL;
    v_after := v_last;
    v_batches := v_batches + 1;
  END LOOP;
  v_next := loginvault.switch_mask_key();
  COMMIT;
  RAISE NOTICE 'rotate_mask_key: mask key version % is active (% re-mask batches); the previous key is erased', v_next, v_batches;
END
$$;
COMMENT ON PROCEDURE loginvault.rotate_mask_key(integer) IS
  'Rotate the mask key: begin (unless begun), re-mask every login in committed batches, then switch atomically. Call outside a transaction block. Owner only.';

-- Whether a rotation is in progress (rotate_mask_key asks; so may an operator).
CREATE OR REPLACE FUNCTION loginvault.mask_key_rotation_in_progress() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$ SELECT EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next') $$;
COMMENT ON FUNCTION loginvault.mask_key_rotation_in_progress() IS
  'Whether a mask-key rotation has begun and not yet switched. Owner only.';
