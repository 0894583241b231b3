-- Mask-key rotation: new masks for every login, with analysts' duplicate
-- detection correct before, during and after.
--
--   SELECT loginvault.begin_mask_key_rotation();                      -- a new random key, stored
--   SELECT loginvault.begin_mask_key_rotation(held_outside => true);  -- the key in pg_temp.loginvault_mask_key
--   CALL loginvault.rotate_mask_key();                                -- re-mask in batches, then switch
-- (rotate_mask_key begins a rotation itself if none is in progress:
--  CALL loginvault.rotate_mask_key(held_outside => true) with the new key in
--  pg_temp.loginvault_mask_key. `loginvault rotate-mask-key` runs it.)
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
-- Re-masking needs the originals, so the key that encrypts them: in the
-- symmetric mode the data key, in the database. In the public-key mode
-- (15_public_key.sql) each batch's data key is stored only wrapped to the
-- PGP public key: the rotating session supplies the private key as a reveal
-- does (70_reveal.sql: COPY into pg_temp.loginvault_private_key and
-- loginvault_key_password; `loginvault rotate-mask-key --private-key-file`
-- does it), rotate_mask_key reads it inside each statement
-- (session_private_key()) and hands it on as a value, and each re-mask batch
-- unwraps each batch key its logins are under ONCE (add_next_masks), never
-- per row. Without the private key, or with one that does not open the
-- keys, rotate_mask_key refuses before it begins; an original that no key
-- opens stops the rotation with an error (nothing is switched).
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

-- remask_passphrase(key_id, armored_private_key, key_password): the pgp
-- passphrase of the originals under one key: a data key's (symmetric mode),
-- or (public-key mode) the batch key unwrapped with the private key the
-- rotating session supplied (70_reveal.sql: COPY into
-- pg_temp.loginvault_private_key, read by session_private_key()). Raises,
-- saying what to do, when the key is unknown or the private key is missing
-- or does not open it. The passphrase is a function result, never a
-- variable or a constant in a plan.
CREATE OR REPLACE FUNCTION loginvault.remask_passphrase(key_id integer, armored_private_key text, key_password text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the private key is $n in a plan, never a constant
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM loginvault.keys k WHERE k.key_id = remask_passphrase.key_id AND k.purpose = 'data') THEN
    IF NOT EXISTS (SELECT FROM loginvault.wrapped_keys w WHERE w.key_id = remask_passphrase.key_id) THEN
      RAISE EXCEPTION 'mask-key rotation: the originals under key % cannot be decrypted: the database has neither that data key nor its wrapped batch key', key_id
        USING HINT = 'Re-masking needs the originals; nothing was switched.';
    END IF;
    IF armored_private_key IS NULL THEN
      RAISE EXCEPTION 'mask-key rotation: the originals are encrypted to a PGP public key (public-key mode); re-masking needs its private key'
        USING HINT = 'loginvault rotate-mask-key --private-key-file FILE [--key-passphrase-file FILE]; or in psql: CREATE TEMP TABLE loginvault_private_key (line text); \copy loginvault_private_key FROM ''pii-private.asc'' (and loginvault_key_password (password text) if it has a passphrase), then CALL loginvault.rotate_mask_key(). Nothing was switched.';
    END IF;
  END IF;
  RETURN loginvault.originals_passphrase(key_id, loginvault.dearmor(armored_private_key), key_password);
END
$$;
COMMENT ON FUNCTION loginvault.remask_passphrase(integer, text, text) IS
  'Part of the mask-key rotation: the passphrase of the originals under one key (a data key, or a batch key unwrapped with the session''s private key); raises saying what to do. Owner only.';

-- add_next_masks(login_ids, armored_private_key, key_password): the masks
-- under the next key of these logins, from their originals, normalised as
-- processing does (20_masking.sql), into user_login_next_masks (a login that
-- has them already, e.g. processed during the rotation, is left alone and
-- not decrypted). Each key the logins are under is opened
-- ONCE per call (public-key mode: one pgp_pub_decrypt per batch key, not per
-- row), inside this one statement. Owner only.
CREATE OR REPLACE FUNCTION loginvault.add_next_masks(login_ids bigint[], armored_private_key text, key_password text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  WITH batch AS MATERIALIZED (
    SELECT o.login_id, o.key_id, o.originals FROM loginvault.user_login_originals o
     WHERE o.login_id = ANY (login_ids)
       AND NOT EXISTS (SELECT FROM loginvault.user_login_next_masks n WHERE n.login_id = o.login_id)
  ), passphrases AS MATERIALIZED (
    SELECT k.key_id, loginvault.remask_passphrase(k.key_id, armored_private_key, key_password) AS passphrase
      FROM (SELECT DISTINCT b.key_id FROM batch b) k
  ), originals AS MATERIALIZED (
    SELECT b.login_id, loginvault.decrypt(b.originals, p.passphrase)::jsonb AS v
      FROM batch b JOIN passphrases p ON p.key_id = b.key_id
  )
  INSERT INTO loginvault.user_login_next_masks (login_id, masked_ip, masked_device_id)
  SELECT t.login_id,
         loginvault.mask('ip', loginvault.canonical_ip(t.v->>'ip'), (SELECT loginvault.next_mask_key())),
         loginvault.mask('device_id', nullif(loginvault.trim_ws(t.v->>'device_id'), ''), (SELECT loginvault.next_mask_key()))
    FROM originals t
  ON CONFLICT (login_id) DO NOTHING
$$;
COMMENT ON FUNCTION loginvault.add_next_masks(bigint[], text, text) IS
  'Part of the mask-key rotation: the next masks of some logins, from their originals (each key opened once per call). Owner only.';

-- remask_batch(after_login_id, batch_size, armored_private_key, key_password):
-- the next masks of up to batch_size logins with login_id > after_login_id
-- (in login_id order) that have originals; returns the last login_id it
-- looked at, NULL when none was left. The private key (and its passphrase):
-- public-key mode only. Owner only.
CREATE OR REPLACE FUNCTION loginvault.remask_batch(after_login_id bigint, batch_size integer,
  armored_private_key text DEFAULT NULL, key_password text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan  -- the private key is $n in a plan, never a constant
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
  PERFORM loginvault.add_next_masks(v_ids, armored_private_key, key_password);
  RETURN v_ids[cardinality(v_ids)];
END
$$;
COMMENT ON FUNCTION loginvault.remask_batch(bigint, integer, text, text) IS
  'Part of the mask-key rotation: next masks for up to batch_size logins after a login_id, from their originals (public-key mode: with the private key given); returns the last login_id (NULL: done). Owner only.';

-- switch_mask_key(armored_private_key, key_password): the atomic switch
-- (step 3 above); returns the version now active. The private key: in
-- public-key mode, for logins still without a next mask. Owner only.
CREATE OR REPLACE FUNCTION loginvault.switch_mask_key(armored_private_key text DEFAULT NULL, key_password text DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET work_mem = '64MB'
SET plan_cache_mode = force_generic_plan  -- the private key is $n in a plan, never a constant
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
     WHERE NOT EXISTS (SELECT FROM loginvault.user_login_next_masks n WHERE n.login_id = o.login_id)),
    armored_private_key, key_password);
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
COMMENT ON FUNCTION loginvault.switch_mask_key(text, text) IS
  'Part of the mask-key rotation: in one transaction, with processing held back, put every login''s next masks into user_logins and make the next key active (the old one erased). Owner only.';

-- The rotation procedure. Call it outside a transaction block.
-- held_outside: as begin_mask_key_rotation's, when it begins the rotation
-- (true: the new key in this session's pg_temp.loginvault_mask_key). When a
-- rotation to a key held outside is already in progress, the same call with
-- the same key given again supplies it to this session and finishes it.
CREATE OR REPLACE PROCEDURE loginvault.rotate_mask_key(batch_size integer DEFAULT 10000, held_outside boolean DEFAULT NULL)
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
  -- Public-key mode: the private key must open the originals. Tried on the
  -- first login's key before anything begins (one unwrap), so a missing or
  -- wrong key is refused with nothing changed. The key is read from this
  -- session's temporary tables inside each statement that needs it, never
  -- held in a variable of this procedure.
  PERFORM loginvault.remask_passphrase(f.key_id, k.armored_key, k.key_password)
     FROM (SELECT o.key_id FROM loginvault.user_login_originals o ORDER BY o.login_id LIMIT 1) f,
          loginvault.session_private_key() k;
  IF NOT loginvault.mask_key_rotation_in_progress() THEN
    PERFORM loginvault.begin_mask_key_rotation(held_outside);
    COMMIT;
  ELSIF held_outside AND to_regclass('pg_temp.loginvault_mask_key') IS NOT NULL THEN
    PERFORM loginvault.supply_mask_keys();
  END IF;
  -- A barrier: every batch that began before the rotation has ended after
  -- this, so every login committed later has its next mask already.
  PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);
  COMMIT;
  LOOP
    SELECT loginvault.remask_batch(v_after, batch_size, k.armored_key, k.key_password) INTO v_last
      FROM loginvault.session_private_key() k;
    COMMIT;
    EXIT WHEN v_last IS NULL;
    v_after := v_last;
    v_batches := v_batches + 1;
  END LOOP;
  SELECT loginvault.switch_mask_key(k.armored_key, k.key_password) INTO v_next FROM loginvault.session_private_key() k;
  COMMIT;
  RAISE NOTICE 'rotate_mask_key: mask key version % is active (% re-mask batches); the previous key is erased', v_next, v_batches;
END
$$;
COMMENT ON PROCEDURE loginvault.rotate_mask_key(integer, boolean) IS
  'Rotate the mask key: begin (unless begun; held_outside as begin_mask_key_rotation''s), re-mask every login in committed batches (public-key mode: with the session''s private key), then switch atomically. Call outside a transaction block. Owner only.';

-- Whether a rotation is in progress (rotate_mask_key asks; so may an operator).
CREATE OR REPLACE FUNCTION loginvault.mask_key_rotation_in_progress() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$ SELECT EXISTS (SELECT FROM loginvault.mask_keys WHERE state = 'next') $$;
COMMENT ON FUNCTION loginvault.mask_key_rotation_in_progress() IS
  'Whether a mask-key rotation has begun and not yet switched. Owner only.';
