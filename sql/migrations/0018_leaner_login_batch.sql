-- 0018: the same batch, with less work per row.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/20_masking.sql and 50_processing.sql.
--
-- Why: a CPU profile of process_raw_logins (perf, 100,000 messages; see
-- docs/benchmarks.md) showed three costs that buy nothing:
--   1. The plaintext of the originals was built with
--      jsonb_build_object(...)::text: a jsonb value is built and printed
--      again for every login (~0.4 us per row). originals_plaintext() below
--      writes the very same text directly. The bytes are identical (same key
--      order, same spacing, the same JSON escaping, "null" for NULL), so
--      the ciphertext holds what it always held, reveal_user_login and key
--      rotation are untouched, and Tests/sql/originals_plaintext.sql checks the
--      equality on hostile values.
--   2. length(x) > n counts the characters of every value (it walks the
--      string). A value of at most n bytes has at most n characters, so
--      octet_length(x) > n AND length(x) > n gives the same answer and
--      counts characters only for long values (~0.15 us per row).
--   3. t NOT IN ('string', 'null') is evaluated as an array comparison
--      (both elements, every time). t <> 'string' AND t <> 'null' is what
--      SQL defines it to mean, NULL included, and stops after one
--      comparison for a string, the common case (~0.15 us per row).
--
-- Nothing else changes: the claim (FOR UPDATE SKIP LOCKED, deleted in the
-- same statement), the validation rules and reason codes, the masks, one
-- pgp_sym_encrypt per login with loginvault.pgp_options(), the plain
-- inserts, the re-delivery update, the poison handling of 0017, the counts.
-- Measured, the whole: see docs/benchmarks.md (2026-11-24).
--
-- Applying this file twice changes nothing (CREATE OR REPLACE only).

-- originals_plaintext(ip, device_id): the text encrypted as a login's
-- originals, '{"ip": ..., "device_id": ...}', byte for byte what
-- jsonb_build_object('ip', ip, 'device_id', device_id)::text prints (jsonb
-- puts the shorter key first; to_json escapes a string exactly as jsonb
-- prints it). Plain SQL, so the planner inlines it: no per-row call.
-- STABLE because to_json is.
CREATE OR REPLACE FUNCTION loginvault.originals_plaintext(ip text, device_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT '{"ip": ' || coalesce(pg_catalog.to_json(ip)::text, 'null')
      || ', "device_id": ' || coalesce(pg_catalog.to_json(device_id)::text, 'null') || '}'
$$;
-- Like every loginvault function (0014): nobody but the owner calls it
-- directly; the batch function inlines it.
REVOKE ALL ON FUNCTION loginvault.originals_plaintext(text, text) FROM PUBLIC;

-- process_login_batch (0017), with the three changes of the header and
-- nothing else.
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
  -- and so waits for the batches in flight (0017). 'lvpoison' as a bigint.
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
          -- Level 3: the reason, first rule that fails. (A value of at most n
          -- bytes has at most n characters: octet_length spares counting them.
          -- A <> 'string' AND a <> 'null' is a NOT IN ('string', 'null').)
          SELECT n.*,
                 CASE
                   WHEN n.body_type <> 'object'                         THEN 'not_an_object'
                   WHEN n.user_id_type IS NULL OR n.user_id_type = 'null' THEN 'missing_user_id'
                   WHEN n.user_id_type <> 'string'                      THEN 'wrong_type:user_id'
                   WHEN loginvault.trim_ws(n.user_id) = ''              THEN 'missing_user_id'
                   WHEN octet_length(n.user_id) > 128 AND length(n.user_id) > 128 THEN 'too_long:user_id'
                   WHEN n.device_type_type <> 'string' AND n.device_type_type <> 'null' THEN 'wrong_type:device_type'
                   WHEN octet_length(n.device_type) > 32 AND length(n.device_type) > 32 THEN 'too_long:device_type'
                   WHEN n.locale_type <> 'string' AND n.locale_type <> 'null' THEN 'wrong_type:locale'
                   WHEN octet_length(n.locale) > 32 AND length(n.locale) > 32 THEN 'too_long:locale'
                   WHEN n.app_version_type <> 'string' AND n.app_version_type <> 'null' THEN 'wrong_type:app_version'
                   WHEN octet_length(n.app_version) > 32 AND length(n.app_version) > 32 THEN 'too_long:app_version'
                   WHEN n.device_id_type <> 'string' AND n.device_id_type <> 'null' THEN 'wrong_type:device_id'
                   WHEN octet_length(n.device_id) > 256 AND length(n.device_id) > 256 THEN 'too_long:device_id'
                   WHEN n.ip_type <> 'string' AND n.ip_type <> 'null' THEN 'wrong_type:ip'
                   WHEN octet_length(n.ip) > 64 AND length(n.ip) > 64 THEN 'too_long:ip'
                   WHEN n.ip IS NOT NULL AND n.ip_canonical IS NULL     THEN 'invalid_ip'
                 END AS reason
            FROM (
              -- Level 2: normalised ip and device id (see 0008).
              SELECT f.*,
                     CASE WHEN f.ip_type = 'string' AND (octet_length(f.ip) <= 64 OR length(f.ip) <= 64)
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
           loginvault.encrypt(loginvault.originals_plaintext(b.ip, b.device_id), v_passphrase)
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
           loginvault.encrypt(loginvault.originals_plaintext(b.ip, b.device_id), v_passphrase)
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
