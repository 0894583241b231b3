-- Processing: process_raw_logins, the procedure that turns staging rows into
-- masked user_logins rows (or quarantined rejects).
--
-- Shape:
--   CALL process_raw_logins(batch_size)         -- SECURITY INVOKER, COMMITs
--     loginvault.begin_process_run(batch_size)  -- a run log row, committed
--     loop: loginvault.process_login_batch(run_id, batch_size); COMMIT
--     loginvault.end_process_run(run_id)        -- truncates a drained raw_logins
--                                               -- (if unused), finished_at; RAISE NOTICE
--   SELECT * FROM loginvault.last_process_run() -- that run's log row, as values
-- The work is in SECURITY DEFINER functions because PostgreSQL does not let a
-- SECURITY DEFINER procedure COMMIT. The procedure itself calls nothing
-- unqualified, so the caller's search_path cannot redirect it.
--
-- One batch is ONE set-based statement (data-modifying CTEs): claim up to
-- batch_size staging rows (FOR UPDATE SKIP LOCKED: concurrent runs take
-- disjoint rows and never wait) and delete them, validate and normalise with
-- plain SQL expressions, mask, give each new login its login_id, insert new
-- logins and their encrypted originals (and, during a mask-key rotation, their masks
-- under the next key: 82_mask_rotation.sql), quarantine the rejects. All in the batch's transaction: the
-- plaintext leaves raw_logins exactly when its masked form is committed, and
-- a failure leaves the batch staged.
--
-- Validation is done with jsonb_typeof/length checks, not exceptions: a
-- hostile value makes a reject with a reason, never an error that stops the
-- batch (and never an error message quoting the value into the server log).
-- Rules (the reason codes: loginvault.quarantine_reasons(), 30_quarantine.sql):
--   body must be a JSON object                        else not_an_object
--   user_id: a non-blank string, <= 128 characters    else missing_user_id,
--                                                          wrong_type:user_id, too_long:user_id
--   device_type <= 32, locale <= 32, app_version <= 32, device_id <= 256,
--   ip <= 64: string or null/absent                   else wrong_type:<f>, too_long:<f>
--   ip, if present, an IP address (canonical_ip, 20_masking.sql) else invalid_ip
-- Other keys in the body are ignored.
-- An SNS envelope (45_sns_envelope.sql) is judged by its Message instead, by
-- the same rules; its reject's reason is sns_ and the rule's code, or
-- sns_invalid_message when Message is not JSON, and the reject keeps the
-- whole envelope.
--
-- Once a message id is a login or a reject, that row is final: a staged
-- message with the same id (a redelivery; SQS gives a message id exactly one
-- body) is deleted from staging and counted as unchanged, whatever its
-- content. Nothing is updated, so neither a loader re-staging an id with other
-- content can rewrite a login or its originals, nor can the counts tell it
-- whether a guessed body equals the stored one (docs/security.md). This also
-- covers a valid message whose id is quarantined as too_many_receives
-- (30_quarantine.sql says why that one must not become a login).
--
-- Why it is shaped the way it is (docs/benchmarks.md has the measurements):
-- the cost that matters besides the crypto is per row, so
--   * every expression is computed once: each level of the validation is a
--     subquery with OFFSET 0, which the planner may not flatten (flattened,
--     the CASE that picks the reason would repeat the field look-ups and the
--     IP check for every WHEN that mentions them);
--   * the keys are read once per batch, inside the statement: each is a
--     scalar subquery (an InitPlan, evaluated once), so that no plan holds a
--     key as a constant (a plpgsql variable would be one in a custom plan,
--     and auto_explain would print it); the data key's key_id comes from
--     originals_key_for_writing() (15_public_key.sql: data_key_for_writing(),
--     10_keys.sql, which keeps a purge from deleting that key before the
--     batch commits; or, in public-key mode, a new batch key generated and
--     wrapped in the statement, the batch_key and wrapped CTEs);
--   * new logins are a plain INSERT, not INSERT ... ON CONFLICT: one index
--     probe per row finds the (rare) message ids already in user_logins (and
--     one the ids already in rejected_logins), and those are skipped.
--     ON CONFLICT's speculative insertion (a lock and an extra WAL
--     record per row) measured ~2 us per row more than probe + plain insert.
--     A plain INSERT is safe here: a message id can be claimed by one batch
--     only (raw_logins is unique on it and the claim deletes it), and a
--     re-staged copy only becomes visible once the batch that processed the
--     first copy has committed, so the probe of the batch that claims the
--     copy sees the first copy's row. If that ever failed, the unique index
--     would stop the batch (rolled back, rows stay staged), not duplicate it;
--   * a new login takes its login_id from user_logins' identity sequence
--     inside the batch (nextval, only for valid rows whose id is not yet a
--     login or a reject), and both INSERTs use that value (user_logins with
--     OVERRIDING SYSTEM VALUE): the encrypted originals are keyed by login_id
--     (a bigint appended at the right end of its index, not a text key);
--   * the originals' plaintext is written by originals_plaintext() directly,
--     not built as jsonb and printed; a length is counted only when the
--     value has more bytes than the limit (octet_length first); and
--     t <> 'string' AND t <> 'null' stops after one comparison for a string,
--     where NOT IN ('string', 'null') compares both.

CREATE OR REPLACE FUNCTION loginvault.begin_process_run(batch_size integer) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$ INSERT INTO loginvault.process_runs (batch_size) VALUES (batch_size) RETURNING run_id $$;
COMMENT ON FUNCTION loginvault.begin_process_run(integer) IS
  'Part of process_raw_logins: starts a run log row (loginvault.process_runs) and returns its run_id.';

-- truncate_drained_staging: after a run has drained raw_logins, give the
-- table a new, empty file, so that the plaintext of the processed messages
-- does not stay on disk in dead tuples (a DELETE only marks them; VACUUM
-- frees their space but leaves their bytes in it until new rows overwrite
-- them). Only when nothing else uses raw_logins: the ACCESS EXCLUSIVE lock is
-- asked for with NOWAIT, so it is granted only while no other session has the
-- table locked (a loader staging holds ROW EXCLUSIVE until it commits, a batch
-- of another run too, autovacuum SHARE UPDATE EXCLUSIVE); otherwise nothing
-- happens and the next run tries again. Under the lock no uncommitted staged
-- row can exist, and the check after it (a new snapshot) sees every committed
-- one: the table is truncated only when it is really empty. Returns whether it
-- truncated. Owner only (end_process_run calls it).
CREATE OR REPLACE FUNCTION loginvault.truncate_drained_staging() RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RETURN false;  -- its check needs a snapshot taken after the lock
  END IF;
  BEGIN
    LOCK TABLE public.raw_logins IN ACCESS EXCLUSIVE MODE NOWAIT;
  EXCEPTION WHEN lock_not_available THEN
    RETURN false;
  END;
  IF EXISTS (SELECT FROM public.raw_logins) THEN
    RETURN false;
  END IF;
  TRUNCATE public.raw_logins;
  RETURN true;
END
$$;
COMMENT ON FUNCTION loginvault.truncate_drained_staging() IS
  'Part of process_raw_logins: truncate raw_logins when it is empty and no other session uses it, so processed plaintext leaves the table''s file. Owner only.';

CREATE OR REPLACE FUNCTION loginvault.end_process_run(run_id bigint)
RETURNS SETOF loginvault.process_runs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  PERFORM loginvault.truncate_drained_staging();
  RETURN QUERY
  WITH ended AS (
    UPDATE loginvault.process_runs r SET finished_at = clock_timestamp()
     WHERE r.run_id = end_process_run.run_id
    RETURNING r.*
  )
  SELECT * FROM ended;
END
$$;
COMMENT ON FUNCTION loginvault.end_process_run(bigint) IS
  'Part of process_raw_logins: truncates raw_logins if it is drained and unused (truncate_drained_staging), sets the run''s finished_at and returns its run log row.';

-- add_counts: two {"code": n} objects added key by key (the rejects by reason
-- of a run and of its next batch; of a staging transaction and its next reject).
CREATE OR REPLACE FUNCTION loginvault.add_counts(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(jsonb_object_agg(e.key, e.n), '{}'::jsonb)
    FROM (SELECT x.key, sum(x.value::bigint) AS n
            FROM (SELECT * FROM jsonb_each_text(coalesce(a, '{}'::jsonb))
                  UNION ALL
                  SELECT * FROM jsonb_each_text(coalesce(b, '{}'::jsonb))) x
           GROUP BY x.key) e
$$;
COMMENT ON FUNCTION loginvault.add_counts(jsonb, jsonb) IS
  'Adds two {"reason": count} objects key by key (process_runs.rejected_reasons, the staging rejects of a transaction).';

-- One batch. Returns how many staging rows it claimed (0: nothing pending)
-- and adds its counts to the run's log row (rejected_reasons: its new rejects
-- by reason), in the same transaction.
-- work_mem: the batch's validated rows are kept once, in memory, for the four
-- statements that read them (~0.5 kB per row; the default 4MB would spill a
-- 10,000-row batch to a temporary file).
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
  v_key_id     integer;
  v_public_key_id integer;  -- public-key mode: the key the batch's data key is wrapped with (15_public_key.sql)
  -- login_id's identity sequence: new logins get their id in the batch, so
  -- that both tables are written from the same rows with the same key.
  v_login_seq  regclass := pg_get_serial_sequence('public.user_logins', 'login_id')::regclass;
  -- The batch's new rejects by reason ({"missing_user_id": 2}); NULL when none.
  v_reasons    jsonb;
BEGIN
  SELECT k.key_id, k.public_key_id INTO v_key_id, v_public_key_id FROM loginvault.originals_key_for_writing() k;
  IF loginvault.mask_key() IS NULL THEN
    RAISE EXCEPTION 'loginvault keys are missing' USING HINT = 'Run the migrations again, or loginvault.install_keys().';
  END IF;
  -- Shared with every other batch; a poison quarantine takes it exclusively
  -- and so waits for the batches in flight (30_quarantine.sql). 'lvpoison' as a bigint.
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
    -- Level 5: the new login's id, for valid rows whose message id is neither
    -- a login nor a reject yet (nextval only for those: OFFSET 0 below keeps
    -- the probes from being evaluated twice).
    SELECT m.*,
           CASE WHEN m.reason IS NULL AND NOT m.known THEN nextval(v_login_seq) END AS new_login_id
      FROM (
        -- Level 4: masks, for valid rows only; the body is kept only for
      -- rejects (it is what gets quarantined). known: the message id is
      -- already a login or a reject, so this is a redelivery, a duplicate
      -- whatever its content (SQS gives a message id one body): it writes
      -- nothing and counts as unchanged.
      SELECT k.message_id, k.sent_at, k.receive_count, k.reason,
             CASE WHEN k.reason IS NOT NULL THEN k.body END AS body,
             k.user_id, k.device_type, k.locale, k.app_version, k.create_date, k.ip, k.device_id,
             CASE WHEN k.reason IS NULL THEN loginvault.mask('ip', k.ip_canonical, (SELECT loginvault.mask_key())) END AS masked_ip,
             CASE WHEN k.reason IS NULL THEN loginvault.mask('device_id', k.device_id_trimmed, (SELECT loginvault.mask_key())) END AS masked_device_id,
             -- During a mask-key rotation only (82_mask_rotation.sql): the masks under the next key.
             CASE WHEN k.reason IS NULL AND (SELECT loginvault.next_mask_key()) IS NOT NULL
                  THEN loginvault.mask('ip', k.ip_canonical, (SELECT loginvault.next_mask_key())) END AS next_masked_ip,
             CASE WHEN k.reason IS NULL AND (SELECT loginvault.next_mask_key()) IS NOT NULL
                  THEN loginvault.mask('device_id', k.device_id_trimmed, (SELECT loginvault.next_mask_key())) END AS next_masked_device_id,
             EXISTS (SELECT FROM public.user_logins u WHERE u.message_id = k.message_id)
               OR EXISTS (SELECT FROM public.rejected_logins p WHERE p.message_id = k.message_id) AS known
        FROM (
          -- Level 3: the reason, first rule that fails. (A value of at most n
          -- bytes has at most n characters: octet_length spares counting them.
          -- A <> 'string' AND a <> 'null' is a NOT IN ('string', 'null').)
          SELECT n.*,
                 -- An SNS envelope's reject carries the inner message's reason
                 -- behind sns_ (sns_invalid_message: Message is not JSON).
                 CASE WHEN n.envelope THEN 'sns_' ELSE '' END ||
                 CASE
                   WHEN n.doc IS NULL                                   THEN 'invalid_message'
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
              -- Level 2: normalised ip and device id (20_masking.sql).
              SELECT f.*,
                     CASE WHEN f.ip_type = 'string' AND (octet_length(f.ip) <= 64 OR length(f.ip) <= 64)
                          THEN loginvault.canonical_ip(f.ip) END      AS ip_canonical,
                     nullif(loginvault.trim_ws(f.device_id), '')      AS device_id_trimmed
                FROM (
                  -- Level 1: each field's JSON type and text. On a body that
                  -- is not an object, -> and ->> give NULL, never an error;
                  -- ->> of a string is the string itself.
                  SELECT c.message_id, c.body, c.sent_at, c.receive_count, c.envelope, c.doc,
                         (coalesce(c.sent_at, c.staged_at) AT TIME ZONE 'UTC')::date AS create_date,
                         jsonb_typeof(c.doc)                 AS body_type,
                         jsonb_typeof(c.doc->'user_id')      AS user_id_type,
                         jsonb_typeof(c.doc->'device_type')  AS device_type_type,
                         jsonb_typeof(c.doc->'locale')       AS locale_type,
                         jsonb_typeof(c.doc->'app_version')  AS app_version_type,
                         jsonb_typeof(c.doc->'ip')           AS ip_type,
                         jsonb_typeof(c.doc->'device_id')    AS device_id_type,
                         c.doc->>'user_id'                   AS user_id,
                         c.doc->>'device_type'               AS device_type,
                         c.doc->>'locale'                    AS locale,
                         c.doc->>'app_version'               AS app_version,
                         c.doc->>'ip'                        AS ip,
                         c.doc->>'device_id'                 AS device_id
                    FROM (
                      -- Level 0: the login to judge (doc): the body itself, or
                      -- for an SNS envelope its Message, parsed (NULL if it is
                      -- not JSON). body stays what came: a reject keeps it.
                      SELECT e.*, CASE WHEN e.envelope THEN loginvault.sns_message(e.body) ELSE e.body END AS doc
                        FROM (SELECT c0.*, loginvault.is_sns_envelope(c0.body) AS envelope
                                FROM claimed c0
                              OFFSET 0) e
                      OFFSET 0
                    ) c
                  OFFSET 0
                ) f
              OFFSET 0
            ) n
          OFFSET 0
        ) k
      OFFSET 0
      ) m
  ),
  batch_key AS MATERIALIZED (
    -- The passphrase of the batch: the data key's, or in public-key mode a
    -- fresh random key that exists only inside this statement and is stored
    -- only wrapped (15_public_key.sql), when the batch writes anything.
    SELECT loginvault.new_batch_passphrase(v_key_id, v_public_key_id) AS passphrase
  ),
  wrapped AS (
    INSERT INTO loginvault.wrapped_keys (key_id, public_key_id, wrapped_key)
    SELECT v_key_id, v_public_key_id, loginvault.wrap_key(k.passphrase, v_public_key_id)
      FROM batch_key k
     WHERE v_public_key_id IS NOT NULL
       AND EXISTS (SELECT FROM batch b WHERE b.new_login_id IS NOT NULL OR (b.reason IS NOT NULL AND NOT b.known))
  ),
  quarantined AS (
    INSERT INTO public.rejected_logins (message_id, reason, sent_at, receive_count, key_id, body_encrypted, user_tag)
    SELECT b.message_id, b.reason, b.sent_at, b.receive_count, v_key_id,
           loginvault.encrypt(b.body::text, (SELECT k.passphrase FROM batch_key k)),
           loginvault.user_tag(loginvault.body_user_id(b.body::text))  -- for erasure (30_quarantine.sql)
      FROM batch b
     WHERE b.reason IS NOT NULL AND NOT b.known
    ON CONFLICT (message_id) DO NOTHING
    RETURNING reason
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
           loginvault.encrypt(loginvault.originals_plaintext(b.ip, b.device_id), (SELECT k.passphrase FROM batch_key k))
      FROM batch b
     WHERE b.new_login_id IS NOT NULL
  ),
  inserted_next_masks AS (
    -- During a mask-key rotation only: a one-time filter otherwise.
    INSERT INTO loginvault.user_login_next_masks (login_id, masked_ip, masked_device_id)
    SELECT b.new_login_id, b.next_masked_ip, b.next_masked_device_id
      FROM batch b
     WHERE b.new_login_id IS NOT NULL AND (SELECT loginvault.next_mask_key()) IS NOT NULL
  )
  -- (inserted, inserted_originals and inserted_next_masks run although nothing reads them: a
  -- data-modifying WITH query always runs to completion. The plain INSERT
  -- either inserts every row it is given or fails the batch.)
  SELECT count(*),
         count(*) FILTER (WHERE b.new_login_id IS NOT NULL),
         (SELECT count(*) FROM quarantined),
         (SELECT jsonb_object_agg(q.reason, q.n) FROM (SELECT reason, count(*) AS n FROM quarantined GROUP BY reason) q)
    INTO staged, upserted, rejected, v_reasons
    FROM batch b;

  unchanged := staged - upserted - rejected;

  UPDATE loginvault.process_runs r
     SET batches   = r.batches + CASE WHEN process_login_batch.staged > 0 THEN 1 ELSE 0 END,
         staged    = r.staged + process_login_batch.staged,
         upserted  = r.upserted + process_login_batch.upserted,
         rejected  = r.rejected + process_login_batch.rejected,
         unchanged = r.unchanged + process_login_batch.unchanged,
         rejected_reasons = CASE WHEN v_reasons IS NULL THEN r.rejected_reasons
                                 ELSE loginvault.add_counts(r.rejected_reasons, v_reasons) END
   WHERE r.run_id = process_login_batch.run_id;
END
$$;
COMMENT ON FUNCTION loginvault.process_login_batch(bigint, integer) IS
  'Part of process_raw_logins: one batch in one statement (claim, validate, mask, encrypt, insert, quarantine; a known message id is left as it is); adds its counts to the run log row.';

-- The procedure. Call it outside an explicit transaction (it COMMITs after
-- every batch, so a long backlog neither holds locks nor bloats one
-- transaction, and a failure loses at most the batch in flight). Its result
-- is the run's log row: loginvault.last_process_run() reads it afterwards, in
-- the same session (the NOTICE says the same, for a person at psql).
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
  -- For loginvault.last_process_run(): this session's latest run.
  PERFORM pg_catalog.set_config('loginvault.last_run_id', v_run_id::text, false);
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

-- last_process_run(): the run log row of the latest process_raw_logins run
-- of this session (none if it has not run one). How the loader reads a run's
-- result as values instead of parsing the NOTICE.
CREATE OR REPLACE FUNCTION loginvault.last_process_run()
RETURNS SETOF loginvault.process_runs
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
  SELECT r.* FROM loginvault.process_runs r
   WHERE r.run_id = nullif(current_setting('loginvault.last_run_id', true), '')::bigint
$$;
COMMENT ON FUNCTION loginvault.last_process_run() IS
  'The run log row (loginvault.process_runs) of the latest process_raw_logins run of this session.';
