-- 0010: process_raw_logins, the procedure that turns staging rows into
-- masked user_logins rows (or quarantined rejects).
--
-- Shape:
--   CALL process_raw_logins(batch_size)         -- SECURITY INVOKER, COMMITs
--     loginvault.begin_process_run(batch_size)  -- a run log row, committed
--     loop: loginvault.process_login_batch(run_id, batch_size); COMMIT
--     loginvault.end_process_run(run_id)        -- finished_at; RAISE NOTICE
-- The work is in SECURITY DEFINER functions because PostgreSQL does not let a
-- SECURITY DEFINER procedure COMMIT. The procedure itself calls nothing
-- unqualified, so the caller's search_path cannot redirect it.
--
-- One batch is ONE set-based statement: claim up to batch_size staging rows
-- (FOR UPDATE SKIP LOCKED: concurrent runs take disjoint rows and never
-- wait), delete them, validate, mask, encrypt, upsert into user_logins on
-- message_id, quarantine the rejects, and store the encrypted originals. All
-- in the batch's transaction: the plaintext leaves raw_logins exactly when
-- its masked form is committed, and a failure leaves the batch staged.
--
-- Validation is done with jsonb_typeof/length checks and a regular
-- expression, not exceptions: a hostile value makes a reject with a reason,
-- never an error that stops the batch (and never an error message quoting
-- the value into the server log). Rules (docs/database.md has the table):
--   body must be a JSON object                        else not_an_object
--   user_id: a non-blank string, <= 128 characters    else missing_user_id,
--                                                          wrong_type:user_id, too_long:user_id
--   device_type <= 32, locale <= 32, app_version <= 32, device_id <= 256,
--   ip <= 64: string or null/absent                   else wrong_type:<f>, too_long:<f>
--   ip, if present, an IP address (see 0008)          else invalid_ip
-- Other keys in the body are ignored.

CREATE OR REPLACE FUNCTION loginvault.begin_process_run(batch_size integer) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$ INSERT INTO loginvault.process_runs (batch_size) VALUES (batch_size) RETURNING run_id $$;

CREATE OR REPLACE FUNCTION loginvault.end_process_run(run_id bigint)
RETURNS SETOF loginvault.process_runs
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  UPDATE loginvault.process_runs r SET finished_at = clock_timestamp()
   WHERE r.run_id = end_process_run.run_id
  RETURNING r.*
$$;

-- One batch. Returns how many staging rows it claimed (0: nothing pending)
-- and adds its counts to the run's log row, in the same transaction.
CREATE OR REPLACE FUNCTION loginvault.process_login_batch(
  run_id     bigint,
  batch_size integer,
  OUT staged    integer,
  OUT upserted  integer,
  OUT rejected  integer,
  OUT unchanged integer
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  v_mask_key   bytea := loginvault.mask_key();
  v_data_key   record := loginvault.current_data_key();
BEGIN
  IF v_mask_key IS NULL OR v_data_key.key_id IS NULL THEN
    RAISE EXCEPTION 'loginvault keys are missing' USING HINT = 'Run the migrations again, or loginvault.install_keys().';
  END IF;

  WITH claimed AS (
    -- Claim and remove in one step; rows another run has locked are skipped.
    -- (By ctid: a TID scan of the claimed rows, not a scan of the table.
    -- A locked row's ctid cannot change under us.)
    DELETE FROM public.raw_logins r
     WHERE r.ctid = ANY (ARRAY(SELECT s.ctid FROM public.raw_logins s
                                LIMIT batch_size FOR UPDATE SKIP LOCKED))
    RETURNING r.message_id, r.body, r.sent_at, r.receive_count,
              (coalesce(r.sent_at, r.staged_at) AT TIME ZONE 'UTC')::date AS create_date
  ),
  checked AS (
    SELECT c.message_id, c.body, c.sent_at, c.receive_count, c.create_date,
           f.user_id, f.device_type, f.locale, f.app_version, f.ip, f.device_id,
           f.ip_canonical, f.device_id_trimmed,
           CASE
             WHEN jsonb_typeof(c.body) <> 'object'                   THEN 'not_an_object'
             WHEN t.user_id IS NULL OR t.user_id = 'null'            THEN 'missing_user_id'
             WHEN t.user_id <> 'string'                              THEN 'wrong_type:user_id'
             WHEN loginvault.trim_ws(f.user_id) = ''                 THEN 'missing_user_id'
             WHEN length(f.user_id) > 128                            THEN 'too_long:user_id'
             WHEN t.device_type NOT IN ('string', 'null')            THEN 'wrong_type:device_type'
             WHEN length(f.device_type) > 32                         THEN 'too_long:device_type'
             WHEN t.locale NOT IN ('string', 'null')                 THEN 'wrong_type:locale'
             WHEN length(f.locale) > 32                              THEN 'too_long:locale'
             WHEN t.app_version NOT IN ('string', 'null')            THEN 'wrong_type:app_version'
             WHEN length(f.app_version) > 32                         THEN 'too_long:app_version'
             WHEN t.device_id NOT IN ('string', 'null')              THEN 'wrong_type:device_id'
             WHEN length(f.device_id) > 256                          THEN 'too_long:device_id'
             WHEN t.ip NOT IN ('string', 'null')                     THEN 'wrong_type:ip'
             WHEN length(f.ip) > 64                                  THEN 'too_long:ip'
             WHEN f.ip IS NOT NULL AND f.ip_canonical IS NULL        THEN 'invalid_ip'
           END AS reason
      FROM claimed c
      -- Each field looked up once, as jsonb (NULL when the key is absent or
      -- the body is not an object): its JSON type, and its text when a string.
      CROSS JOIN LATERAL (
        SELECT c.body->'user_id'     AS user_id,
               c.body->'device_type' AS device_type,
               c.body->'locale'      AS locale,
               c.body->'app_version' AS app_version,
               c.body->'ip'          AS ip,
               c.body->'device_id'   AS device_id
      ) j
      CROSS JOIN LATERAL (
        SELECT jsonb_typeof(j.user_id)     AS user_id,
               jsonb_typeof(j.device_type) AS device_type,
               jsonb_typeof(j.locale)      AS locale,
               jsonb_typeof(j.app_version) AS app_version,
               jsonb_typeof(j.ip)          AS ip,
               jsonb_typeof(j.device_id)   AS device_id
      ) t
      CROSS JOIN LATERAL (
        SELECT j.user_id #>> '{}'     AS user_id,
               j.device_type #>> '{}' AS device_type,
               j.locale #>> '{}'      AS locale,
               j.app_version #>> '{}' AS app_version,
               j.ip #>> '{}'          AS ip,
               j.device_id #>> '{}'   AS device_id
      ) e
      CROSS JOIN LATERAL (
        SELECT e.*,
               CASE WHEN t.ip = 'string' AND length(e.ip) <= 64
                    THEN loginvault.canonical_ip(loginvault.trim_ws(e.ip)) END AS ip_canonical,
               nullif(loginvault.trim_ws(e.device_id), '')                    AS device_id_trimmed
      ) f
  ),
  quarantined AS (
    INSERT INTO public.rejected_logins (message_id, reason, sent_at, receive_count, key_id, body_encrypted)
    SELECT message_id, reason, sent_at, receive_count, v_data_key.key_id,
           loginvault.encrypt(body::text, v_data_key.passphrase)
      FROM checked
     WHERE reason IS NOT NULL
    ON CONFLICT (message_id) DO NOTHING
    RETURNING 1
  ),
  upserted_logins AS (
    INSERT INTO public.user_logins AS u
           (user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date, message_id)
    SELECT user_id, device_type,
           loginvault.mask('ip', ip_canonical, v_mask_key),
           loginvault.mask('device_id', device_id_trimmed, v_mask_key),
           locale, app_version, create_date, message_id
      FROM checked
     WHERE reason IS NULL
    ON CONFLICT (message_id) DO UPDATE
       SET user_id = EXCLUDED.user_id, device_type = EXCLUDED.device_type,
           masked_ip = EXCLUDED.masked_ip, masked_device_id = EXCLUDED.masked_device_id,
           locale = EXCLUDED.locale, app_version = EXCLUDED.app_version,
           create_date = EXCLUDED.create_date, processed_at = now()
     -- A re-staged message that is already there unchanged is left alone.
     WHERE (u.user_id, u.device_type, u.masked_ip, u.masked_device_id, u.locale, u.app_version, u.create_date)
           IS DISTINCT FROM
           (EXCLUDED.user_id, EXCLUDED.device_type, EXCLUDED.masked_ip, EXCLUDED.masked_device_id,
            EXCLUDED.locale, EXCLUDED.app_version, EXCLUDED.create_date)
    RETURNING u.login_id, u.message_id
  ),
  encrypted_originals AS (
    -- One pgp message per login holding both originals: one encryption call
    -- per row instead of two. Written straight from the validated rows (no
    -- join back to the upsert's output); a message already stored keeps its
    -- ciphertext unless the upsert above actually changed its login row.
    INSERT INTO loginvault.user_login_originals AS o (message_id, key_id, originals)
    SELECT message_id, v_data_key.key_id,
           loginvault.encrypt(jsonb_build_object('ip', ip, 'device_id', device_id)::text,
                              v_data_key.passphrase)
      FROM checked
     WHERE reason IS NULL
    ON CONFLICT (message_id) DO UPDATE SET key_id = EXCLUDED.key_id, originals = EXCLUDED.originals
     WHERE EXISTS (SELECT FROM upserted_logins ul WHERE ul.message_id = EXCLUDED.message_id)
    RETURNING 1
  )
  -- (encrypted_originals runs although nothing reads it: a data-modifying
  -- WITH query always runs to completion.)
  SELECT (SELECT count(*) FROM claimed),
         (SELECT count(*) FROM upserted_logins),
         (SELECT count(*) FROM quarantined)
    INTO staged, upserted, rejected;

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

-- The procedure. Call it outside an explicit transaction (it COMMITs after
-- every batch, so a long backlog neither holds locks nor bloats one
-- transaction, and a failure loses at most the batch in flight).
CREATE OR REPLACE PROCEDURE public.process_raw_logins(batch_size integer DEFAULT 10000)
LANGUAGE plpgsql
AS $$
DECLARE
  v_run_id bigint;
  v_batch  record;
  v_run    record;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 THEN
    RAISE EXCEPTION 'process_raw_logins: batch_size must be a positive integer, got %', batch_size;
  END IF;
  v_run_id := loginvault.begin_process_run(batch_size);
  COMMIT;
  LOOP
    v_batch := loginvault.process_login_batch(v_run_id, batch_size);
    COMMIT;
    EXIT WHEN v_batch.staged = 0;
  END LOOP;
  v_run := loginvault.end_process_run(v_run_id);
  COMMIT;
  RAISE NOTICE 'process_raw_logins: % staged, % upserted, % rejected, % unchanged, % batches, % s (run %)',
    v_run.staged, v_run.upserted, v_run.rejected, v_run.unchanged, v_run.batches,
    round(extract(epoch FROM v_run.finished_at - v_run.started_at)::numeric, 3), v_run_id;
END
$$;
COMMENT ON PROCEDURE public.process_raw_logins(integer) IS
  'Mask, encrypt and upsert pending raw_logins into user_logins / rejected_logins, batch by batch (COMMIT between). Call outside a transaction block.';
