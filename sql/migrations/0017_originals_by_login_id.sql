-- 0017: the encrypted originals are keyed by login_id (bigint), not by
-- message_id (text).
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/30_quarantine.sql, 50_processing.sql, 60_originals.sql,
-- 70_reveal.sql and 80_rotation.sql.
--
-- Why: every processed login inserts one originals row, and its primary key
-- was a text B-tree on message_id (random insert positions, locale-aware
-- string comparisons). A bigint key is smaller, and new logins append at the
-- right end of the index. Measured with the on-CPU time of the backend
-- running process_raw_logins on 100,000 messages (docs/benchmarks.md,
-- "The procedure"), interleaved runs: median 2.32 s (25 runs) against 2.42 s
-- (21 runs), about 0.9 us per row less; and the index holds 8-byte keys
-- instead of ~40-byte ones.
--
-- How process_raw_logins now writes both tables from the same rows: a new
-- login takes its login_id from user_logins' identity sequence inside the
-- batch (nextval, only for valid rows not already in user_logins), and
-- both INSERTs use that value (user_logins with OVERRIDING SYSTEM VALUE).
-- login_id keeps every property it had: from the same sequence (CACHE 100),
-- with gaps, not in commit order across concurrent runs.
--
-- Everything that read the originals by message_id follows: the delete
-- trigger, reveal_user_login, reencrypt_data_batch (key rotation) and
-- process_login_batch. The table keeps its name, owner and grants (0014's
-- GRANT is repeated below for the rebuilt table). To look at the ciphertext
-- of a message: JOIN user_logins USING (login_id).
--
-- Existing rows are converted (the login_id of the user_logins row with the
-- same message_id). An originals row without a login could never be
-- revealed (reveal joins the two tables) and the delete/truncate triggers
-- never leave one behind; if one exists anyway it is not carried over, and
-- a NOTICE says how many. Applying this file twice changes nothing.
--
-- Also in this file, because it changes the same batch function: a poison
-- message ends in exactly one place. The loader quarantines a message
-- received more than --max-receives times (quarantine_raw_login(...,
-- 'too_many_receives')), which checks that the message id is neither staged
-- nor a login. Two races could still put one message id in both
-- rejected_logins and user_logins:
--   * another loader held an older delivery of the same message and staged it
--     after the quarantine's check (uncommitted then, or even after the
--     quarantine committed: the loader's fast staging path does not look at
--     rejected_logins);
--   * a processing batch committed the login after the quarantine's check.
-- Now a batch skips a valid staged message whose id is quarantined as
-- too_many_receives (it is deleted from staging and counted as unchanged: the
-- quarantine holds the same body, encrypted), with one probe of a small
-- partial index; and quarantine_raw_login waits for the batches in flight
-- (each batch holds a shared advisory lock, the quarantine takes it
-- exclusively), so its check sees every committed login and no batch can
-- commit a login for that id between its check and its commit.

DO $migration$
DECLARE
  v_orphans bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute
                  WHERE attrelid = 'loginvault.user_login_originals'::regclass
                    AND attname = 'message_id' AND NOT attisdropped) THEN
    RETURN;  -- already keyed by login_id
  END IF;

  -- No processing run may write originals while they are copied.
  LOCK TABLE public.user_logins, loginvault.user_login_originals IN EXCLUSIVE MODE;

  CREATE TABLE loginvault.user_login_originals_by_login_id (
    login_id  bigint  PRIMARY KEY,   -- user_logins.login_id (see the delete trigger)
    key_id    integer NOT NULL,      -- loginvault.keys.key_id (guarded in 0012)
    originals bytea   NOT NULL       -- pgp_sym_encrypt('{"ip": ..., "device_id": ...}')
  );
  INSERT INTO loginvault.user_login_originals_by_login_id (login_id, key_id, originals)
  SELECT u.login_id, o.key_id, o.originals
    FROM loginvault.user_login_originals o
    JOIN public.user_logins u ON u.message_id = o.message_id
   ORDER BY u.login_id;

  SELECT count(*) INTO v_orphans
    FROM loginvault.user_login_originals o
   WHERE NOT EXISTS (SELECT FROM public.user_logins u WHERE u.message_id = o.message_id);
  IF v_orphans > 0 THEN
    RAISE NOTICE '0017: % encrypted originals row(s) had no user_logins row (not revealable); not carried over', v_orphans;
  END IF;

  DROP TABLE loginvault.user_login_originals;
  ALTER TABLE loginvault.user_login_originals_by_login_id RENAME TO user_login_originals;
  ALTER INDEX loginvault.user_login_originals_by_login_id_pkey RENAME TO user_login_originals_pkey;
END
$migration$;

COMMENT ON TABLE loginvault.user_login_originals IS
  'Encrypted original ip and device_id of each user_logins row (by login_id), and the data key that encrypted them';
COMMENT ON COLUMN loginvault.user_login_originals.login_id IS 'user_logins.login_id of the login';
COMMENT ON COLUMN loginvault.user_login_originals.originals IS
  'pgp_sym_encrypt of {"ip": ..., "device_id": ...} as received; decrypt only through reveal_user_login()';

-- The grants of 0014 for this table (a rebuilt table starts with none).
REVOKE ALL ON loginvault.user_login_originals FROM PUBLIC;
GRANT SELECT ON loginvault.user_login_originals TO loginvault_pii_admin;

-- Deleting logins deletes their originals (one set-based statement per
-- DELETE statement; see 0005 for why this is not a foreign key).
CREATE OR REPLACE FUNCTION loginvault.delete_originals_of_deleted_logins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  DELETE FROM loginvault.user_login_originals o USING deleted_logins d WHERE o.login_id = d.login_id;
  RETURN NULL;
END
$$;

-- reveal_user_login (0011), with the originals found by login_id. Same
-- result, same audit: the row counts as found when the login and its
-- originals both exist.
CREATE OR REPLACE FUNCTION public.reveal_user_login(login_id bigint)
RETURNS TABLE (message_id text, ip text, device_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_originals jsonb;
  v_message_id text;
BEGIN
  SELECT u.message_id, loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id))::jsonb
    INTO v_message_id, v_originals
    FROM public.user_logins u
    JOIN loginvault.user_login_originals o ON o.login_id = u.login_id
   WHERE u.login_id = reveal_user_login.login_id;

  INSERT INTO loginvault.reveal_audit (what, login_id, found)
  VALUES ('user_login', reveal_user_login.login_id, FOUND);
  -- (current_user is this function's owner here; session_user is who logged in)
  RAISE LOG 'loginvault: % revealed user_login %', session_user, reveal_user_login.login_id;

  IF v_message_id IS NOT NULL THEN
    RETURN QUERY SELECT v_message_id,
                        v_originals->>'ip', v_originals->>'device_id';
  END IF;
END
$$;

-- reencrypt_data_batch (0012), with the originals found by login_id.
CREATE OR REPLACE FUNCTION loginvault.reencrypt_data_batch(batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_new record := loginvault.current_data_key();
  v_done integer;
BEGIN
  WITH todo AS (
    SELECT o.login_id FROM loginvault.user_login_originals o
     WHERE o.key_id <> v_new.key_id
     LIMIT batch_size FOR UPDATE SKIP LOCKED
  )
  UPDATE loginvault.user_login_originals o
     SET originals = loginvault.encrypt(loginvault.decrypt(o.originals, loginvault.data_key_passphrase(o.key_id)),
                                        v_new.passphrase),
         key_id = v_new.key_id
    FROM todo WHERE o.login_id = todo.login_id;
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

-- The quarantined-as-poison message ids, for the batch's probe: small (poison
-- is rare), so the probe costs little on the hot path.
CREATE INDEX IF NOT EXISTS rejected_logins_poison ON public.rejected_logins (message_id)
  WHERE reason = 'too_many_receives';

-- quarantine_raw_login (0009), with the wait above for too_many_receives.
-- Other reasons (nul_byte, invalid_utf8: decided by the body, which every
-- delivery of a message shares) need no wait.
CREATE OR REPLACE FUNCTION public.quarantine_raw_login(
  message_id    text,
  body          text,
  reason        text,
  sent_at       timestamptz DEFAULT NULL,
  receive_count integer     DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  k record;
  stored integer;
BEGIN
  IF quarantine_raw_login.message_id IS NULL OR quarantine_raw_login.message_id = '' THEN
    RAISE EXCEPTION 'quarantine_raw_login: message_id is required';
  END IF;
  IF reason IS NULL OR reason !~ '^[a-z][a-z0-9_]*(:[a-z0-9_]+)?$' OR length(reason) > 64 THEN
    RAISE EXCEPTION 'quarantine_raw_login: reason must be a lowercase code like ''too_many_receives'', got %', quote_nullable(left(reason, 64));
  END IF;
  IF reason = 'too_many_receives' THEN
    -- The lock that every processing batch holds shared ('lvpoison' as a bigint).
    PERFORM pg_advisory_xact_lock(x'6c76706f69736f6e'::bigint);
  END IF;
  IF EXISTS (SELECT FROM public.raw_logins r WHERE r.message_id = quarantine_raw_login.message_id)
     OR EXISTS (SELECT FROM public.user_logins u WHERE u.message_id = quarantine_raw_login.message_id) THEN
    RETURN false;
  END IF;
  k := loginvault.current_data_key();
  INSERT INTO public.rejected_logins AS r (message_id, reason, sent_at, receive_count, key_id, body_encrypted)
  VALUES (quarantine_raw_login.message_id, reason, quarantine_raw_login.sent_at,
          quarantine_raw_login.receive_count, k.key_id,
          loginvault.encrypt(coalesce(body, ''), k.passphrase))
  ON CONFLICT ON CONSTRAINT rejected_logins_message_id_key DO NOTHING;
  GET DIAGNOSTICS stored = ROW_COUNT;
  RETURN stored = 1;
END
$$;

-- process_login_batch (0010), writing the originals by login_id. Only what
-- 0010's comments say about the shape changes here: a fifth level gives
-- each new login its login_id (nextval), and the two INSERTs and the
-- re-delivery path use it. And a valid message quarantined as poison is not
-- made a login (the header says why). Everything else (the claim,
-- validation, masks, the probe, the quarantine, the counts) is 0010's.
CREATE OR REPLACE FUNCTION loginvault.process_login_batch(
  run_id     bigint,
  batch_size integer,
  OUT staged    integer,
  OUT upserted  integer,
  OUT rejected  integer,
  OUT unchanged integer
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, loginvault, pg_temp
SET work_mem = '64MB'
AS $$
DECLARE
  v_mask_key   bytea := loginvault.mask_key();
  v_data_key   record := loginvault.current_data_key();
  v_key_id     integer := v_data_key.key_id;
  v_passphrase text := v_data_key.passphrase;
  -- login_id's identity sequence: new logins get their id in the batch, so
  -- that both tables are written from the same rows with the same key.
  v_login_seq  regclass := pg_get_serial_sequence('public.user_logins', 'login_id')::regclass;
BEGIN
  IF v_mask_key IS NULL OR v_key_id IS NULL THEN
    RAISE EXCEPTION 'loginvault keys are missing' USING HINT = 'Run the migrations again, or loginvault.install_keys().';
  END IF;
  -- Shared with every other batch; a poison quarantine takes it exclusively
  -- and so waits for the batches in flight (header). 'lvpoison' as a bigint.
  PERFORM pg_advisory_xact_lock_shared(x'6c76706f69736f6e'::bigint);

  WITH claimed AS (
    -- Claim and remove in one step; rows another run has locked are skipped.
    -- (By ctid: a TID scan of the claimed rows, not a scan of the table.
    -- A locked row's ctid cannot change under us.)
    DELETE FROM public.raw_logins r
     WHERE r.ctid = ANY (ARRAY(SELECT s.ctid FROM public.raw_logins s
                                LIMIT batch_size FOR UPDATE SKIP LOCKED))
    RETURNING r.message_id, r.body, r.sent_at, r.receive_count, r.staged_at
  ),
  batch AS MATERIALIZED (
    -- Level 5: the new login's id, for valid rows not already in user_logins
    -- (nextval only for those: OFFSET 0 below keeps the probe from being
    -- evaluated twice).
    SELECT m.*,
           CASE WHEN m.reason IS NULL AND m.existing_login_id IS NULL AND NOT m.poison
                THEN nextval(v_login_seq) END AS new_login_id
      FROM (
        -- Level 4: masks and the existing row, for valid rows only; the body is
      -- kept only for rejects (it is what gets quarantined).
      SELECT k.message_id, k.sent_at, k.receive_count, k.reason,
             CASE WHEN k.reason IS NOT NULL THEN k.body END AS body,
             k.user_id, k.device_type, k.locale, k.app_version, k.create_date, k.ip, k.device_id,
             CASE WHEN k.reason IS NULL THEN loginvault.mask('ip', k.ip_canonical, v_mask_key) END AS masked_ip,
             CASE WHEN k.reason IS NULL THEN loginvault.mask('device_id', k.device_id_trimmed, v_mask_key) END AS masked_device_id,
             CASE WHEN k.reason IS NULL
                  THEN (SELECT u.login_id FROM public.user_logins u WHERE u.message_id = k.message_id) END AS existing_login_id,
             k.reason IS NULL
               AND EXISTS (SELECT FROM public.rejected_logins p
                            WHERE p.message_id = k.message_id AND p.reason = 'too_many_receives') AS poison
        FROM (
          -- Level 3: the reason, first rule that fails.
          SELECT n.*,
                 CASE
                   WHEN n.body_type <> 'object'                         THEN 'not_an_object'
                   WHEN n.user_id_type IS NULL OR n.user_id_type = 'null' THEN 'missing_user_id'
                   WHEN n.user_id_type <> 'string'                      THEN 'wrong_type:user_id'
                   WHEN loginvault.trim_ws(n.user_id) = ''              THEN 'missing_user_id'
                   WHEN length(n.user_id) > 128                         THEN 'too_long:user_id'
                   WHEN n.device_type_type NOT IN ('string', 'null')    THEN 'wrong_type:device_type'
                   WHEN length(n.device_type) > 32                      THEN 'too_long:device_type'
                   WHEN n.locale_type NOT IN ('string', 'null')         THEN 'wrong_type:locale'
                   WHEN length(n.locale) > 32                           THEN 'too_long:locale'
                   WHEN n.app_version_type NOT IN ('string', 'null')    THEN 'wrong_type:app_version'
                   WHEN length(n.app_version) > 32                      THEN 'too_long:app_version'
                   WHEN n.device_id_type NOT IN ('string', 'null')      THEN 'wrong_type:device_id'
                   WHEN length(n.device_id) > 256                       THEN 'too_long:device_id'
                   WHEN n.ip_type NOT IN ('string', 'null')             THEN 'wrong_type:ip'
                   WHEN length(n.ip) > 64                               THEN 'too_long:ip'
                   WHEN n.ip IS NOT NULL AND n.ip_canonical IS NULL     THEN 'invalid_ip'
                 END AS reason
            FROM (
              -- Level 2: normalised ip and device id (see 0008).
              SELECT f.*,
                     CASE WHEN f.ip_type = 'string' AND length(f.ip) <= 64
                          THEN loginvault.canonical_ip(f.ip) END      AS ip_canonical,
                     nullif(loginvault.trim_ws(f.device_id), '')      AS device_id_trimmed
                FROM (
                  -- Level 1: each field's JSON type and text. On a body that
                  -- is not an object, -> and ->> give NULL, never an error;
                  -- ->> of a string is the string itself.
                  SELECT c.message_id, c.body, c.sent_at, c.receive_count,
                         (coalesce(c.sent_at, c.staged_at) AT TIME ZONE 'UTC')::date AS create_date,
                         jsonb_typeof(c.body)                AS body_type,
                         jsonb_typeof(c.body->'user_id')     AS user_id_type,
                         jsonb_typeof(c.body->'device_type') AS device_type_type,
                         jsonb_typeof(c.body->'locale')      AS locale_type,
                         jsonb_typeof(c.body->'app_version') AS app_version_type,
                         jsonb_typeof(c.body->'ip')          AS ip_type,
                         jsonb_typeof(c.body->'device_id')   AS device_id_type,
                         c.body->>'user_id'                  AS user_id,
                         c.body->>'device_type'              AS device_type,
                         c.body->>'locale'                   AS locale,
                         c.body->>'app_version'              AS app_version,
                         c.body->>'ip'                       AS ip,
                         c.body->>'device_id'                AS device_id
                    FROM claimed c
                  OFFSET 0
                ) f
              OFFSET 0
            ) n
          OFFSET 0
        ) k
      OFFSET 0
      ) m
  ),
  quarantined AS (
    INSERT INTO public.rejected_logins (message_id, reason, sent_at, receive_count, key_id, body_encrypted)
    SELECT b.message_id, b.reason, b.sent_at, b.receive_count, v_key_id,
           loginvault.encrypt(b.body::text, v_passphrase)
      FROM batch b
     WHERE b.reason IS NOT NULL
    ON CONFLICT (message_id) DO NOTHING
    RETURNING 1
  ),
  inserted AS (
    INSERT INTO public.user_logins
           (login_id, user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date, message_id)
    OVERRIDING SYSTEM VALUE
    SELECT b.new_login_id, b.user_id, b.device_type, b.masked_ip, b.masked_device_id, b.locale, b.app_version, b.create_date, b.message_id
      FROM batch b
     WHERE b.new_login_id IS NOT NULL
  ),
  inserted_originals AS (
    -- One pgp message per login holding both originals, as received: one
    -- encryption call per row instead of two.
    INSERT INTO loginvault.user_login_originals (login_id, key_id, originals)
    SELECT b.new_login_id, v_key_id,
           loginvault.encrypt(jsonb_build_object('ip', b.ip, 'device_id', b.device_id)::text, v_passphrase)
      FROM batch b
     WHERE b.new_login_id IS NOT NULL
  ),
  updated AS (
    -- A re-delivered message: rewritten only if a value differs.
    UPDATE public.user_logins u
       SET user_id = b.user_id, device_type = b.device_type,
           masked_ip = b.masked_ip, masked_device_id = b.masked_device_id,
           locale = b.locale, app_version = b.app_version,
           create_date = b.create_date, processed_at = now()
      FROM batch b
     WHERE b.existing_login_id IS NOT NULL AND NOT b.poison AND u.login_id = b.existing_login_id
       AND (u.user_id, u.device_type, u.masked_ip, u.masked_device_id, u.locale, u.app_version, u.create_date)
           IS DISTINCT FROM
           (b.user_id, b.device_type, b.masked_ip, b.masked_device_id, b.locale, b.app_version, b.create_date)
    RETURNING u.login_id
  ),
  updated_originals AS (
    -- ... and then its originals are encrypted again; an unchanged
    -- re-delivery keeps its ciphertext.
    INSERT INTO loginvault.user_login_originals AS o (login_id, key_id, originals)
    SELECT b.existing_login_id, v_key_id,
           loginvault.encrypt(jsonb_build_object('ip', b.ip, 'device_id', b.device_id)::text, v_passphrase)
      FROM batch b JOIN updated d ON d.login_id = b.existing_login_id
    ON CONFLICT (login_id) DO UPDATE SET key_id = EXCLUDED.key_id, originals = EXCLUDED.originals
  )
  -- (inserted, inserted_originals and updated_originals run although nothing
  -- reads them: a data-modifying WITH query always runs to completion. The
  -- plain INSERT either inserts every row it is given or fails the batch.)
  SELECT count(*),
         count(*) FILTER (WHERE b.new_login_id IS NOT NULL) + (SELECT count(*) FROM updated),
         (SELECT count(*) FROM quarantined)
    INTO staged, upserted, rejected
    FROM batch b;

  unchanged := staged - upserted - rejected;

  UPDATE loginvault.process_runs r
     SET batches   = r.batches + CASE WHEN process_login_batch.staged > 0 THEN 1 ELSE 0 END,
         staged    = r.staged + process_login_batch.staged,
         upserted  = r.upserted + process_login_batch.upserted,
         rejected  = r.rejected + process_login_batch.rejected,
         unchanged = r.unchanged + process_login_batch.unchanged
   WHERE r.run_id = process_login_batch.run_id;
END
$$;
