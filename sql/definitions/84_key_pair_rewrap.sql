-- Key-pair rotation that re-wraps (issue 17, section 1): after
-- use_public_key has rotated to a new PGP key pair (15_public_key.sql), the
-- batch keys of the old pair are decrypted with the old private key and
-- encrypted again to the current public key. Only loginvault.wrapped_keys
-- changes (one pgp_pub_decrypt and one pgp_pub_encrypt per batch key, never
-- per row); the originals and quarantined bodies are untouched, since the
-- batch key they are encrypted under stays the same. Afterwards the old pair
-- wraps nothing (public_key_pairs() shows it unused), remove_public_key
-- deletes it, and reveals and the mask-key rotation need only the current
-- private key.
--
--   CREATE TEMP TABLE loginvault_private_key (line text);
--   \copy loginvault_private_key FROM 'old-private.asc'
--   (and loginvault_key_password (password text) if it has a passphrase)
--   CALL loginvault.rewrap_public_key(1000, NULL, NULL, NULL);
-- or `loginvault use-public-key --rewrap --private-key-file old-private.asc`.
--
-- The old private key reaches the server as a reveal's does (70_reveal.sql:
-- COPY into this session's temporary tables, read by session_private_key()
-- inside each statement and handed on as a value; generic plans: it is a $n
-- in every plan, never a constant, and the unwrapped batch keys exist only
-- inside one UPDATE statement).
--
-- Which pair: the one whose pgp_key_id is the private key's (pgp_key_id of
-- the dearmored key names its encryption key, as for the public key).
-- Refused, with nothing changed: a key of no pair of this installation (or of
-- a pair already removed), the current pair's key, and a key (or passphrase)
-- that does not open the pair's first batch key. A retired pair with no batch
-- key left is not an error: the call moves nothing and says so (a rerun after
-- a completed run).
--
-- Batches of batch_size keys, COMMIT between them; a stopped run (error,
-- lost connection) is finished by calling it again: every batch moves only
-- keys still under the old pair.
--
-- Concurrency:
--   processing and quarantine write batch keys to the pair they read as
--     current (originals_key_for_writing) and hold ACCESS SHARE on
--     loginvault.public_keys to the end of their transaction. Before its
--     first batch the procedure takes ACCESS EXCLUSIVE on public_keys once,
--     briefly: it waits for every writer that may still hold the old pair as
--     current, so none adds a key under it after the run (new writers wait
--     for that moment only).
--   use_public_key (a further rotation meanwhile): each batch locks the
--     current pair's row FOR SHARE, so a rotation waits for the batch; the
--     next batch sees that the pair it re-wraps to is no longer current and
--     stops, saying to run it again (with the private key of the pair the
--     keys are now under).
--   forget_user and remove_public_key delete wrapped keys: each batch holds
--     the processing lock 'lvpoison' shared (forget_user takes it
--     exclusively) and updates the rows it re-wraps by key (a deleted one is
--     skipped; remove_public_key deletes by public_key_id, so it skips a key
--     re-wrapped meanwhile, and refuses a pair still in use).

-- rewrap_source(armored_private_key, key_password): the retired pair this
-- private key belongs to (from_public_key_id), the current pair
-- (to_public_key_id) and how many batch keys are still under the old one.
-- Raises, saying what to do, for every refusal above; with keys left, it
-- opens the first one as a trial (a wrong key or passphrase is refused here).
-- Owner only.
CREATE OR REPLACE FUNCTION loginvault.rewrap_source(armored_private_key text, key_password text,
  OUT from_public_key_id integer, OUT to_public_key_id integer, OUT pgp_key_id text, OUT wrapped_keys bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the private key is $n in a plan, never a constant
AS $$
DECLARE
  v_retired timestamptz;
BEGIN
  IF NOT loginvault.public_key_mode() THEN
    RAISE EXCEPTION 'rewrap: this installation is in the symmetric mode; there is no key pair to re-wrap from'
      USING HINT = 'Re-wrapping belongs to the public-key mode (loginvault use-public-key).';
  END IF;
  IF armored_private_key IS NULL OR armored_private_key !~ '-----BEGIN PGP PRIVATE KEY BLOCK-----' THEN
    RAISE EXCEPTION 'rewrap: give the armored private key of the retired key pair in this session''s table loginvault_private_key'
      USING HINT = 'loginvault use-public-key --rewrap --private-key-file OLD.asc; or in psql: CREATE TEMP TABLE loginvault_private_key (line text); \copy loginvault_private_key FROM ''old-private.asc''';
  END IF;
  BEGIN
    pgp_key_id := loginvault.pgp_key_id(loginvault.dearmor(armored_private_key));
  EXCEPTION WHEN external_routine_exception OR external_routine_invocation_exception OR data_exception THEN
    RAISE EXCEPTION 'rewrap: pgcrypto cannot read this private key: %', SQLERRM
      USING HINT = 'Export it with gpg --armor --export-secret-keys.';
  END;
  SELECT p.public_key_id, p.retired_at INTO from_public_key_id, v_retired
    FROM loginvault.public_keys p WHERE p.pgp_key_id = rewrap_source.pgp_key_id
   ORDER BY p.public_key_id DESC LIMIT 1;
  IF from_public_key_id IS NULL THEN
    RAISE EXCEPTION 'rewrap: the private key (PGP key %) belongs to no key pair of this installation', pgp_key_id
      USING HINT = 'Give the private key of a retired pair (loginvault use-public-key --list); a pair already removed needs nothing.';
  END IF;
  IF v_retired IS NULL THEN
    RAISE EXCEPTION 'rewrap: the private key (PGP key %) is the current key pair''s; batch keys are re-wrapped FROM a retired pair TO the current one', pgp_key_id
      USING HINT = 'Give the private key of a retired pair (loginvault use-public-key --list); to change the current pair, rotate first: loginvault use-public-key --key-file NEW.asc.';
  END IF;
  SELECT p.public_key_id INTO to_public_key_id
    FROM loginvault.public_keys p WHERE p.retired_at IS NULL ORDER BY p.public_key_id DESC LIMIT 1;
  SELECT count(*) INTO wrapped_keys FROM loginvault.wrapped_keys w WHERE w.public_key_id = from_public_key_id;
  IF wrapped_keys > 0 THEN
    BEGIN
      PERFORM loginvault.pgp_pub_decrypt(w.wrapped_key, loginvault.dearmor(armored_private_key), coalesce(key_password, ''))
         FROM (SELECT w.wrapped_key FROM loginvault.wrapped_keys w
                WHERE w.public_key_id = from_public_key_id ORDER BY w.key_id LIMIT 1) w;
    EXCEPTION WHEN external_routine_exception OR external_routine_invocation_exception OR data_exception THEN
      RAISE EXCEPTION 'rewrap: the private key of key pair % (PGP key %) does not open its batch keys: %', from_public_key_id, pgp_key_id, SQLERRM
        USING ERRCODE = 'external_routine_invocation_exception',
              HINT = 'Check its passphrase (--key-passphrase-file, or loginvault_key_password (password text)); nothing was changed.';
    END;
  END IF;
END
$$;
COMMENT ON FUNCTION loginvault.rewrap_source(text, text) IS
  'Part of rewrap_public_key: the retired key pair a private key belongs to, the current pair, and how many batch keys are still under the old one; refuses (saying why) a key of no pair, of the current pair, or one that does not open its keys. Owner only.';

-- rewrap_barrier(from_public_key_id): waits for every processing or
-- quarantine transaction that may still write batch keys under a retired
-- pair (they hold ACCESS SHARE on public_keys: see above). Owner only.
CREATE OR REPLACE FUNCTION loginvault.rewrap_barrier(from_public_key_id integer) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  LOCK TABLE loginvault.public_keys IN ACCESS EXCLUSIVE MODE;
  IF NOT EXISTS (SELECT FROM loginvault.public_keys p
                  WHERE p.public_key_id = rewrap_barrier.from_public_key_id AND p.retired_at IS NOT NULL) THEN
    RAISE EXCEPTION 'rewrap: key pair % is not a retired pair any more', from_public_key_id
      USING HINT = 'loginvault use-public-key --list';
  END IF;
END
$$;
COMMENT ON FUNCTION loginvault.rewrap_barrier(integer) IS
  'Part of rewrap_public_key: waits for every writer that may still encrypt under a retired key pair. Owner only.';

-- rewrap_batch(from, to, batch_size, armored_private_key, key_password): up
-- to batch_size batch keys of pair `from`, decrypted with the private key and
-- encrypted to pair `to`, which must still be current. Returns how many moved
-- (0: none left). The unwrapped keys exist only inside the UPDATE. Owner only.
CREATE OR REPLACE FUNCTION loginvault.rewrap_batch(from_public_key_id integer, to_public_key_id integer, batch_size integer,
  armored_private_key text, key_password text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
SET plan_cache_mode = force_generic_plan  -- the private key is $n in a plan, never a constant
AS $$
DECLARE
  v_moved integer;
BEGIN
  -- Shared, like a processing batch: forget_user (exclusive) and this batch wait for each other.
  PERFORM pg_advisory_xact_lock_shared(x'6c76706f69736f6e'::bigint);
  -- A rotation (use_public_key retires this row) waits for this batch.
  PERFORM FROM loginvault.public_keys p
    WHERE p.public_key_id = rewrap_batch.to_public_key_id AND p.retired_at IS NULL
    FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'rewrap: key pair % is no longer the current pair (rotated meanwhile); the keys re-wrapped so far are under it', to_public_key_id
      USING HINT = 'Run the rewrap again with the old private key, then with the private key of pair ' || to_public_key_id || ' (loginvault use-public-key --list).';
  END IF;
  WITH todo AS (
    SELECT w.key_id FROM loginvault.wrapped_keys w
     WHERE w.public_key_id = rewrap_batch.from_public_key_id
     ORDER BY w.key_id LIMIT batch_size
       FOR UPDATE
  )
  UPDATE loginvault.wrapped_keys w
     SET wrapped_key = loginvault.wrap_key(
           loginvault.pgp_pub_decrypt(w.wrapped_key, loginvault.dearmor(armored_private_key), coalesce(key_password, '')),
           rewrap_batch.to_public_key_id),
         public_key_id = rewrap_batch.to_public_key_id
    FROM todo t
   WHERE w.key_id = t.key_id AND w.public_key_id = rewrap_batch.from_public_key_id;
  GET DIAGNOSTICS v_moved = ROW_COUNT;
  RETURN v_moved;
EXCEPTION WHEN external_routine_invocation_exception THEN  -- pgcrypto: Wrong key or corrupt data
  RAISE EXCEPTION 'rewrap: the private key does not open a batch key of key pair %: %', from_public_key_id, SQLERRM
    USING ERRCODE = 'external_routine_invocation_exception',
          HINT = 'Nothing of this batch was changed; the batches committed before stay re-wrapped.';
END
$$;
COMMENT ON FUNCTION loginvault.rewrap_batch(integer, integer, integer, text, text) IS
  'Part of rewrap_public_key: re-encrypt up to batch_size batch keys of a retired key pair to the current public key (private key given); returns how many. Owner only.';

-- The procedure. Call it outside a transaction block, as the owner, with the
-- old pair's private key in this session's temporary tables. OUT: the pair
-- re-wrapped from and to, and how many batch keys moved in this call.
CREATE OR REPLACE PROCEDURE loginvault.rewrap_public_key(batch_size integer DEFAULT 1000,
  INOUT from_public_key_id integer DEFAULT NULL, INOUT to_public_key_id integer DEFAULT NULL, INOUT moved bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
  v_batch integer;
  v_left  bigint;
  v_pgp   text;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'rewrap_public_key: batch_size must be a positive integer';
  END IF;
  SELECT s.from_public_key_id, s.to_public_key_id, s.pgp_key_id, s.wrapped_keys
    INTO from_public_key_id, to_public_key_id, v_pgp, v_left
    FROM loginvault.session_private_key() k, LATERAL loginvault.rewrap_source(k.armored_key, k.key_password) s;
  moved := 0;
  PERFORM loginvault.rewrap_barrier(from_public_key_id);
  COMMIT;
  LOOP
    SELECT loginvault.rewrap_batch(from_public_key_id, to_public_key_id, batch_size, k.armored_key, k.key_password)
      INTO v_batch FROM loginvault.session_private_key() k;
    COMMIT;
    EXIT WHEN v_batch = 0;
    moved := moved + v_batch;
  END LOOP;
  RAISE NOTICE 'rewrap_public_key: % batch keys moved from key pair % (PGP key %) to key pair %; pair % encrypts nothing any more: SELECT loginvault.remove_public_key(%)',
    moved, from_public_key_id, v_pgp, to_public_key_id, from_public_key_id, from_public_key_id;
END
$$;
COMMENT ON PROCEDURE loginvault.rewrap_public_key(integer, integer, integer, bigint) IS
  'Key-pair rotation: re-encrypt every batch key of a retired PGP key pair (its private key in this session''s loginvault_private_key) to the current public key, in committed batches; rows untouched. Call outside a transaction block. Owner only.';
