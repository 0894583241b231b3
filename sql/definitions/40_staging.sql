-- Staging: the loader's entry points into raw_logins (sql/migrations/0004),
-- the table of messages waiting for process_raw_logins.
--
-- The loader COPYs every message of a batch, as it came, into its session's
-- temp table
--   pg_temp.loginvault_incoming (message_id text, body bytea,
--                                sent_at timestamptz, receive_count integer)
-- (the body as bytes, so that a NUL byte or invalid UTF-8 reaches the
-- database to be judged, and no body ever travels as a bind parameter) and
-- calls stage_incoming_logins(max_receives) in the same transaction. Every
-- decision about a message is made here: poison (received more than
-- max_receives times), a NUL byte, invalid UTF-8, not JSON (the reason codes:
-- 30_quarantine.sql).
--
-- A batch with no poison message and no invalid message id first takes the
-- fast path below; a poison message, an invalid message id (NULL, empty,
-- longer than 256 characters) or a body that is not valid jsonb sends the
-- batch one message at a time through stage_incoming_login(), so that one bad
-- message never stops its batch.
--
-- stage_incoming_logins: the fast path is a plain INSERT of the whole batch,
-- without ON CONFLICT: ON CONFLICT's speculative insertion (an extra lock and
-- WAL record per row) is paid on every row although a duplicate is rare (a
-- redelivery after a failed delete or a crash). Measured with psql on
-- PostgreSQL 15, 200,000 rows in 40 batches of 5,000 (COPY into the temp
-- table, this function, COMMIT), CPU time of the server process:
--   INSERT ... ON CONFLICT (message_id) DO NOTHING      1.42-1.69 s
--   NOT EXISTS probe of raw_logins_pkey + plain INSERT  1.29-1.37 s
--   plain INSERT (the fast path)                        1.16-1.17 s
--   psql \copy of the same rows into an equal table     0.79-0.88 s
-- The plain INSERT fails with unique_violation if any message id is already
-- in raw_logins (a redelivery), appears twice in the batch, or is staged
-- meanwhile by another loader (the INSERT waits for that transaction and
-- fails once it commits). That error is caught, the subtransaction is rolled
-- back (nothing of the attempt stays), and the batch is inserted again with
-- ON CONFLICT (message_id) DO NOTHING. If some body is not valid jsonb, every
-- message of the batch goes through stage_raw_login(), which quarantines the
-- bad ones with a reason.
--
-- Errors are caught, never raised: PostgreSQL quotes a fragment of the body
-- (possibly PII) in a jsonb cast error, the whole row in a not-null or check
-- violation ('Failing row contains ...') and the key in a unique_violation,
-- and a caught error is not written to the server log.
--
-- SECURITY INVOKER on purpose: the temp table belongs to the caller's session
-- and role; the function needs no right the loader does not already have.
-- stage_raw_login and quarantine_raw_login are SECURITY DEFINER: the loader
-- may not read the keys or write rejected_logins itself.
CREATE OR REPLACE FUNCTION public.stage_incoming_logins(
  max_receives    integer DEFAULT NULL,
  OUT staged      integer,
  OUT duplicates  integer,
  OUT rejected    integer,
  OUT quarantined integer
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
DECLARE
  total    integer;
  poison   integer;
  bad_body boolean := false;
BEGIN
  -- One scan counts the batch and the messages that need judging one by one:
  -- poison, and an invalid message id (NULL, empty, > 256 characters: 30_quarantine.sql).
  -- (invalid_message_id_key is plain SQL, inlined: no call per row.)
  SELECT count(*), count(*) FILTER (WHERE i.receive_count > max_receives
                                       OR loginvault.invalid_message_id_key(i.message_id, '') IS NOT NULL)
    INTO total, poison
    FROM pg_temp.loginvault_incoming i;
  rejected := 0;
  quarantined := 0;

  IF poison = 0 THEN
    -- Fast path: no duplicate expected. convert_from checks that the bytes
    -- are UTF-8 without a NUL byte (and copies nothing when they are).
    BEGIN
      INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
      SELECT i.message_id, convert_from(i.body, 'UTF8')::jsonb, i.sent_at, i.receive_count
        FROM pg_temp.loginvault_incoming i;
      GET DIAGNOSTICS staged = ROW_COUNT;
      duplicates := total - staged;
      RETURN;
    EXCEPTION
      WHEN unique_violation THEN
        NULL;             -- a redelivery, a duplicate in the batch, or a concurrent loader
      WHEN data_exception OR program_limit_exceeded OR statement_too_complex
           OR not_null_violation OR check_violation THEN
        -- Some body is not valid jsonb, or a row breaks a constraint (a NULL
        -- message id): judge them one by one below. Caught, because the
        -- constraint error's DETAIL ('Failing row contains ...') would quote
        -- the body into the server log.
        bad_body := true;
    END;

    -- Set-based with ON CONFLICT, unless a body is known to be bad.
    IF NOT bad_body THEN
      BEGIN
        INSERT INTO public.raw_logins (message_id, body, sent_at, receive_count)
        SELECT i.message_id, convert_from(i.body, 'UTF8')::jsonb, i.sent_at, i.receive_count
          FROM pg_temp.loginvault_incoming i
        ON CONFLICT (message_id) DO NOTHING;
        GET DIAGNOSTICS staged = ROW_COUNT;
        duplicates := total - staged;
        RETURN;
      EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex
                     OR not_null_violation OR check_violation THEN
        NULL;
      END;
    END IF;
  END IF;

  -- One by one: a poison message, an invalid message id, or a body that is not valid jsonb.
  SELECT count(*) FILTER (WHERE outcome = 'staged'),
         count(*) FILTER (WHERE outcome = 'duplicate'),
         count(*) FILTER (WHERE outcome = 'rejected'),
         count(*) FILTER (WHERE outcome = 'quarantined')
    INTO staged, duplicates, rejected, quarantined
  FROM (SELECT loginvault.stage_incoming_login(i.message_id, i.body, i.sent_at, i.receive_count, max_receives) AS outcome
        FROM pg_temp.loginvault_incoming i) results;
END
$$;
COMMENT ON FUNCTION public.stage_incoming_logins(integer) IS
  'Stage the batch in pg_temp.loginvault_incoming (bodies as bytea) into raw_logins; poison (receive_count > max_receives) and bad bodies are quarantined with a reason. Returns (staged, duplicates, rejected, quarantined).';

-- stage_incoming_login: the judgement of one message of the loader's batch,
-- in this order: an invalid message id: invalid_message_id (quarantined under
-- a key derived from the id and the body, 30_quarantine.sql); received more than max_receives times: too_many_receives;
-- a NUL byte (PostgreSQL text cannot hold one): nul_byte, stored with each
-- NUL as a space; not UTF-8: invalid_utf8, stored as
-- encode(body, 'escape') (every byte kept: non-ASCII ones as \ooo); each of
-- these three is quarantined with quarantine_raw_login(). Otherwise the body
-- is text and stage_raw_login() stages it or quarantines it (not JSON).
-- Returns 'staged', 'duplicate', 'rejected' (not JSON) or 'quarantined'.
-- SECURITY INVOKER: it calls only functions the loader may call.
CREATE OR REPLACE FUNCTION loginvault.stage_incoming_login(
  message_id    text,
  body          bytea,
  sent_at       timestamptz,
  receive_count integer,
  max_receives  integer
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan  -- the body is $n in a plan, never a constant
AS $$
DECLARE
  reason text;
  body_text text;
  nul integer;
BEGIN
  IF loginvault.invalid_message_id_key(stage_incoming_login.message_id, '') IS NOT NULL THEN
    reason := 'invalid_message_id';
  ELSIF receive_count > max_receives THEN
    reason := 'too_many_receives';
  END IF;
  nul := position('\x00'::bytea IN body);
  IF nul > 0 THEN
    reason := coalesce(reason, 'nul_byte');
    WHILE nul > 0 LOOP
      body := overlay(body PLACING '\x20'::bytea FROM nul FOR 1);
      nul := position('\x00'::bytea IN body);
    END LOOP;
  END IF;
  BEGIN
    body_text := convert_from(body, 'UTF8');
  EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    reason := coalesce(reason, 'invalid_utf8');
    body_text := encode(body, 'escape');
  END;
  IF reason IS NOT NULL THEN
    RETURN CASE WHEN public.quarantine_raw_login(stage_incoming_login.message_id, body_text, reason,
                                                 stage_incoming_login.sent_at, stage_incoming_login.receive_count)
                THEN 'quarantined' ELSE 'duplicate' END;
  END IF;
  RETURN public.stage_raw_login(stage_incoming_login.message_id, body_text,
                                stage_incoming_login.sent_at, stage_incoming_login.receive_count);
END
$$;
COMMENT ON FUNCTION loginvault.stage_incoming_login(text, bytea, timestamptz, integer, integer) IS
  'Part of stage_incoming_logins: judges one message (invalid_message_id, too_many_receives, nul_byte, invalid_utf8, then stage_raw_login). Returns staged, duplicate, rejected or quarantined.';

-- stage_raw_login: stage one message whose body is text of unknown quality.
-- Returns 'staged' (now in raw_logins), 'duplicate' (that message id was
-- already staged, or already quarantined) or 'rejected' (quarantined now,
-- reason: invalid_message_id (NULL, empty or > 256 characters), invalid_json, unsupported_unicode_escape, invalid_unicode_surrogate,
-- json_too_complex or empty_body). The cast error is caught here, so neither
-- the error nor the body fragment PostgreSQL quotes in it reach the log.
CREATE OR REPLACE FUNCTION public.stage_raw_login(
  message_id    text,
  body          text,
  sent_at       timestamptz,
  receive_count integer
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
-- A generic plan: the body is $n in every plan (auto_explain), never a constant.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  doc    jsonb;
  reason text;
  detail text;
  stored integer;
BEGIN
  IF loginvault.invalid_message_id_key(stage_raw_login.message_id, '') IS NOT NULL THEN
    reason := 'invalid_message_id';   -- quarantine_raw_login stores it under its derived key
  ELSIF body IS NULL OR body = '' THEN
    reason := 'empty_body';
  ELSE
    BEGIN
      doc := body::jsonb;
    EXCEPTION
      WHEN untranslatable_character THEN          -- \u0000: jsonb cannot hold it
        reason := 'unsupported_unicode_escape';
      WHEN invalid_text_representation THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        reason := CASE WHEN detail ILIKE '%surrogate%' THEN 'invalid_unicode_surrogate'
                       ELSE 'invalid_json' END;
      WHEN program_limit_exceeded OR statement_too_complex THEN  -- too big, too deeply nested
        reason := 'json_too_complex';
      WHEN data_exception THEN                    -- any other bad input
        reason := 'invalid_json';
    END;
  END IF;

  IF reason IS NOT NULL THEN
    IF public.quarantine_raw_login(stage_raw_login.message_id, body, reason,
                                   stage_raw_login.sent_at, stage_raw_login.receive_count) THEN
      RETURN 'rejected';
    END IF;
    RETURN 'duplicate';
  END IF;

  INSERT INTO public.raw_logins AS r (message_id, body, sent_at, receive_count)
  VALUES (stage_raw_login.message_id, doc, stage_raw_login.sent_at, stage_raw_login.receive_count)
  ON CONFLICT ON CONSTRAINT raw_logins_pkey DO NOTHING;
  GET DIAGNOSTICS stored = ROW_COUNT;
  RETURN CASE WHEN stored = 1 THEN 'staged' ELSE 'duplicate' END;
END
$$;
COMMENT ON FUNCTION public.stage_raw_login(text, text, timestamptz, integer) IS
  'Stage one message of unknown quality: ''staged'', ''duplicate'' or ''rejected'' (quarantined). Never raises for bad content.';
