-- Quarantine: every message that cannot become a user_logins row ends in
-- rejected_logins (sql/migrations/0006), with a reason code and its body
-- encrypted (a broken message can still carry PII).
--
-- The reason codes and what they mean, in one place: the function
-- loginvault.quarantine_reasons() below lists each code, its meaning and
-- where it is decided. A code is lowercase, with the offending field after a
-- colon where there is one (wrong_type:ip); rejected_logins' CHECK holds that
-- shape.
--
-- Two races could put one message id both in the quarantine (as
-- too_many_receives, decided from SQS's receive count) and in
-- user_logins: another loader stages an older delivery of the message after
-- the quarantine's check, or a processing batch commits the login after it.
-- So a batch skips a staged message whose id is already quarantined (for
-- any reason) or already a login (50_processing.sql, one probe of each
-- table's unique index on message_id), and quarantine_raw_login waits for the
-- batches in flight: each batch holds the advisory lock 'lvpoison' shared,
-- the poison quarantine takes it exclusively, so its check sees every
-- committed login and no batch can commit a login for that id between its
-- check and its commit.

-- The quarantine reason codes, each with its meaning and where it is decided.
CREATE OR REPLACE FUNCTION loginvault.quarantine_reasons()
RETURNS TABLE (reason text, meaning text, decided_by text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  VALUES
    ('empty_body',                 'the body is empty',                                              'public.stage_raw_login'),
    ('invalid_json',               'the body is not JSON',                                           'public.stage_raw_login'),
    ('unsupported_unicode_escape', 'the JSON holds \u0000, which jsonb cannot store',                'public.stage_raw_login'),
    ('invalid_unicode_surrogate',  'the JSON holds a lone or misordered \ud800-\udfff escape',      'public.stage_raw_login'),
    ('json_too_complex',           'the JSON is too large or too deeply nested for jsonb',           'public.stage_raw_login'),
    ('invalid_message_id',         'the message id is NULL, empty or longer than 256 characters; stored under ''invalid-id:'' || the hex SHA-256 of the id and the body (loginvault.invalid_message_id_key)', 'public.quarantine_raw_login'),
    ('too_many_receives',          'SQS delivered the message more often than load --max-receives',  'loginvault.stage_incoming_login'),
    ('nul_byte',                   'the body holds a NUL byte, which PostgreSQL text cannot store (kept with each NUL as a space)', 'loginvault.stage_incoming_login'),
    ('invalid_utf8',               'the body is not valid UTF-8 (kept as encode(body, ''escape''))',  'loginvault.stage_incoming_login'),
    ('not_an_object',              'the body is JSON but not an object',                             'loginvault.process_login_batch'),
    ('missing_user_id',            'user_id is absent, null or blank',                               'loginvault.process_login_batch'),
    ('wrong_type:<field>',         'the field is neither a string nor null',                         'loginvault.process_login_batch'),
    ('too_long:<field>',           'the field is longer than its user_logins column (characters)',   'loginvault.process_login_batch'),
    ('invalid_ip',                 'ip is present but not an IP address (see canonical_ip)',         'loginvault.process_login_batch'),
    ('sns_invalid_message',        'the body is an SNS envelope whose Message is absent, not a string or not JSON (45_sns_envelope.sql)', 'loginvault.process_login_batch'),
    ('sns_<reason>',               'the body is an SNS envelope whose Message is JSON but not a login: <reason> is the rule above it fails (sns_not_an_object, sns_missing_user_id, sns_wrong_type:ip, ...)', 'loginvault.process_login_batch'),
    ('forgotten',                  'the user was erased (forget_user): no body, key or user_tag is left (NULL); the row keeps the message id a duplicate', 'public.forget_user')
$$;
COMMENT ON FUNCTION loginvault.quarantine_reasons() IS
  'The reason codes of rejected_logins: what each means and where it is decided. SELECT * FROM loginvault.quarantine_reasons();';

-- A message id is valid when it is 1 to 256 characters long (an SQS message
-- id has 36; a longer one would not fit a btree index entry at ~2.7 kB and
-- would stop its whole batch). A message with an invalid id (NULL, empty,
-- too long: a file replay or a broken producer) is quarantined with reason
-- invalid_message_id under a key derived from what it carries:
--   'invalid-id:' || hex(sha256(L || ':' || id || body))
-- where L is the id's length in characters ('null' for a NULL id), id is ''
-- for NULL and body is the body as stored (UTF-8). The length prefix keeps
-- (id, body) pairs apart; equal pairs (a redelivery) give the same key and so
-- count as a duplicate. The bad id itself is not stored.
CREATE OR REPLACE FUNCTION loginvault.invalid_message_id_key(message_id text, body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN message_id IS NULL OR message_id = '' OR length(message_id) > 256
    THEN 'invalid-id:' || encode(pg_catalog.sha256(pg_catalog.convert_to(
           coalesce(length(message_id)::text, 'null') || ':' || coalesce(message_id, '') || coalesce(body, ''), 'UTF8')), 'hex')
  END
$$;
COMMENT ON FUNCTION loginvault.invalid_message_id_key(text, text) IS
  'NULL for a valid message id (1-256 characters); else the key an invalid one is quarantined under: invalid-id: and the hex SHA-256 of its length, the id and the body.';

-- The user a reject belongs to, for erasure (forget_user, 65_forget.sql):
-- each reject stores user_tag = user_tag(body_user_id(its body)), computed
-- when it is quarantined (here, and in process_login_batch), NULL when the
-- body names no user id, in an index. forget_user finds a user's rejects by
-- it in either originals mode, without decrypting a body (the public-key mode
-- could not). The tag is HMAC-SHA256 under loginvault.user_tag_key (0028),
-- a key of its own: the mask key may be held outside the database, where the
-- loader and the PII admin may not have it, and it rotates.

-- body_user_id(body): the user id a body names: a JSON object's "user_id"
-- (as ->> gives it), the same inside an SNS envelope's Message; for anything
-- else (not JSON, not an object) the first "user_id": "..." in its text, as a
-- JSON string decoded. NULL when there is none. Never raises: a cast error
-- would quote the body into the server log; generic plans for the same reason.
CREATE OR REPLACE FUNCTION loginvault.body_user_id(body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_doc jsonb;
  v_text text := body;
  v_found text;
BEGIN
  BEGIN
    v_doc := v_text::jsonb;
    IF loginvault.is_sns_envelope(v_doc) AND jsonb_typeof(v_doc->'Message') = 'string' THEN
      v_text := v_doc->>'Message';
      v_doc := v_text::jsonb;
    END IF;
    IF jsonb_typeof(v_doc) = 'object' THEN
      RETURN v_doc->>'user_id';
    END IF;
  EXCEPTION WHEN others THEN
    NULL;  -- not JSON: look in the text
  END;
  v_found := substring(v_text FROM '"user_id"\s*:\s*"((?:[^"\\]|\\.)*)"');
  BEGIN
    RETURN (('"' || v_found || '"')::jsonb) #>> '{}';
  EXCEPTION WHEN others THEN
    RETURN v_found;  -- an escape jsonb refuses: the text as it stands
  END;
END
$$;
COMMENT ON FUNCTION loginvault.body_user_id(text) IS
  'The user id a (rejected) body names: its "user_id", or its SNS Message''s, or the first "user_id": "..." in a body that is not a JSON object; NULL if none. Never raises.';

-- user_tag(user_id): what rejected_logins.user_tag holds for a user id (NULL
-- for NULL). Owner and its SECURITY DEFINER functions only (it reads the key).
CREATE OR REPLACE FUNCTION loginvault.user_tag(user_id text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT loginvault.hmac(convert_to('user_id:' || user_id, 'UTF8'),
                         (SELECT t.key_bytes FROM loginvault.user_tag_key t), 'sha256')
$$;
COMMENT ON FUNCTION loginvault.user_tag(text) IS
  'HMAC-SHA256 of a user id under loginvault.user_tag_key: rejected_logins.user_tag, how forget_user finds a user''s rejects. Owner only.';

-- Rejects by reason for the loader: quarantine_raw_login adds each message it
-- stores to the transaction-local setting loginvault.rejected_reasons
-- ({"invalid_json": 2, "too_many_receives": 1}; set_config(..., true), so it
-- ends with the transaction and a rolled-back one leaves nothing). Every reject
-- made while staging goes through quarantine_raw_login, so after
-- stage_incoming_logins() the loader reads, in the same transaction,
--   SELECT current_setting('loginvault.rejected_reasons', true)
-- (only when the batch had rejects) for loginvault_rejected_logins_total{reason}:
-- the reasons come from the database, and the loader reads no quarantined row.
-- (Processing runs keep theirs in process_runs.rejected_reasons.)

-- quarantine_raw_login: store a message in rejected_logins, body encrypted,
-- with a machine-readable reason (a code of quarantine_reasons()). Returns
-- true if it stored it; false (a no-op) if the message id is already
-- quarantined, or already accepted (in raw_logins or user_logins): a message
-- that was accepted must not also be rejected. For too_many_receives it first
-- waits for the processing batches in flight (header). Other reasons are
-- decided by the body, which every delivery of a message shares: no wait.
-- An invalid message id (see invalid_message_id_key above) is not an error:
-- the message is stored under its derived key with reason
-- invalid_message_id, whatever reason the caller gave.
CREATE OR REPLACE FUNCTION public.quarantine_raw_login(
  message_id    text,
  body          text,
  reason        text,
  sent_at       timestamptz DEFAULT NULL,
  receive_count integer     DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
-- A generic plan: the body is $n in every plan (auto_explain), never a constant.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  v_key_id integer;
  v_public_key_id integer;
  stored integer;
  derived text;
BEGIN
  derived := loginvault.invalid_message_id_key(quarantine_raw_login.message_id, body);
  IF derived IS NOT NULL THEN
    quarantine_raw_login.message_id := derived;
    reason := 'invalid_message_id';
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
  -- The key: data_key_for_writing (no purge can delete it before this
  -- transaction ends: 10_keys.sql), or in public-key mode a new random key
  -- for this message, wrapped in the same statement (15_public_key.sql); its
  -- passphrase exists only inside the statement.
  SELECT k.key_id, k.public_key_id INTO v_key_id, v_public_key_id FROM loginvault.originals_key_for_writing() k;
  WITH message_key AS MATERIALIZED (
    SELECT loginvault.new_batch_passphrase(v_key_id, v_public_key_id) AS passphrase
  ),
  stored_reject AS (
    INSERT INTO public.rejected_logins AS r (message_id, reason, sent_at, receive_count, key_id, body_encrypted, user_tag)
    VALUES (quarantine_raw_login.message_id, reason, quarantine_raw_login.sent_at,
            quarantine_raw_login.receive_count, v_key_id,
            loginvault.encrypt(coalesce(body, ''), (SELECT k.passphrase FROM message_key k)),
            loginvault.user_tag(loginvault.body_user_id(body)))
    ON CONFLICT ON CONSTRAINT rejected_logins_message_id_key DO NOTHING
    RETURNING 1
  ),
  wrapped AS (
    INSERT INTO loginvault.wrapped_keys (key_id, public_key_id, wrapped_key)
    SELECT v_key_id, v_public_key_id, loginvault.wrap_key(k.passphrase, v_public_key_id)
      FROM message_key k
     WHERE v_public_key_id IS NOT NULL AND EXISTS (SELECT FROM stored_reject)
  )
  SELECT count(*) INTO stored FROM stored_reject;
  IF stored = 1 THEN
    -- This transaction's rejects by reason, for the loader's metrics (header).
    PERFORM pg_catalog.set_config('loginvault.rejected_reasons',
      loginvault.add_counts(nullif(pg_catalog.current_setting('loginvault.rejected_reasons', true), '')::jsonb,
                            jsonb_build_object(reason, 1))::text, true);
  END IF;
  RETURN stored = 1;
END
$$;
COMMENT ON FUNCTION public.quarantine_raw_login(text, text, text, timestamptz, integer) IS
  'Quarantine a message (body encrypted) with a reason code; false if already quarantined or accepted';
