-- 0009: quarantine_raw_login and stage_raw_login, the first staging
-- functions.
--
-- stage_raw_login() stages one message, deciding inside the database what is
-- JSON and what is not, and never raises for bad content. Both functions are
-- SECURITY DEFINER: the loader may not read the keys or write
-- rejected_logins itself. How the loader stages today (COPY into a temp
-- table, then stage_incoming_logins()) and the current definitions:
-- sql/definitions/30_quarantine.sql and 40_staging.sql.

-- quarantine_raw_login: store a message in rejected_logins, body encrypted,
-- with a machine-readable reason (lowercase code, e.g. 'too_many_receives').
-- Returns true if it stored it; false (a no-op) if the message id is already
-- quarantined, or already accepted (in raw_logins or user_logins): a message
-- that was accepted must not also be rejected.
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
COMMENT ON FUNCTION public.quarantine_raw_login(text, text, text, timestamptz, integer) IS
  'Quarantine a message (body encrypted) with a reason code; false if already quarantined or accepted';

-- stage_raw_login: stage one message whose body is text of unknown quality.
-- Returns 'staged' (now in raw_logins), 'duplicate' (that message id was
-- already staged, or already quarantined) or 'rejected' (quarantined now,
-- reason: invalid_json, unsupported_unicode_escape, invalid_unicode_surrogate,
-- json_too_complex or empty_body). The cast error is caught here, so neither
-- the error nor the body fragment PostgreSQL quotes in it reach the log.
CREATE OR REPLACE FUNCTION public.stage_raw_login(
  message_id    text,
  body          text,
  sent_at       timestamptz,
  receive_count integer
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
DECLARE
  doc    jsonb;
  reason text;
  detail text;
  stored integer;
BEGIN
  IF stage_raw_login.message_id IS NULL OR stage_raw_login.message_id = '' THEN
    RAISE EXCEPTION 'stage_raw_login: message_id is required';
  END IF;

  IF body IS NULL OR body = '' THEN
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
