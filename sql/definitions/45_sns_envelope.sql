-- SNS envelopes: a queue subscribed to an SNS topic WITHOUT raw message
-- delivery receives each login wrapped in SNS's JSON envelope:
--   {"Type": "Notification", "MessageId": "...", "TopicArn": "arn:aws:sns:...",
--    "Message": "<the login JSON, as a string>", "Timestamp": "...", ...}
-- The loader stages it as it came (raw_logins holds the envelope); the batch
-- (process_login_batch, 50_processing.sql) judges and masks the inner message
-- instead, and a reject keeps the whole envelope. An envelope whose Message is
-- not a login is rejected with a reason of its own: sns_invalid_message (not
-- JSON), or sns_ and the rule the inner message fails (sns_missing_user_id,
-- sns_wrong_type:ip, ...). With raw message delivery the body is the login
-- itself and none of this applies.
--
-- Cost for plain bodies: is_sns_envelope is plain SQL, inlined into the batch
-- statement (one key look-up per row, no call); sns_message runs only for
-- envelopes. Neither sets search_path (that would stop the inlining, and
-- cost a configuration change per call): both are called by
-- process_login_batch, which pins it, and they name nothing but built-ins.

-- An SNS notification envelope: an object whose Type is "Notification" and
-- which has a TopicArn. (Confirmation messages, Type
-- SubscriptionConfirmation, are not envelopes of a login: they are judged as
-- bodies, and rejected as missing_user_id.)
CREATE OR REPLACE FUNCTION loginvault.is_sns_envelope(body jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(body->>'Type' = 'Notification' AND body ? 'TopicArn', false) $$;
COMMENT ON FUNCTION loginvault.is_sns_envelope(jsonb) IS
  'True for an SNS notification envelope (an object with Type "Notification" and a TopicArn): its Message is the login.';

-- The envelope's Message parsed as JSON; NULL when Message is absent, not a
-- string, or not JSON that jsonb can hold. The cast error is caught, so
-- neither it nor the fragment of the message PostgreSQL quotes in it reaches
-- the server log. (PARALLEL UNSAFE: its exception block is a subtransaction.)
CREATE OR REPLACE FUNCTION loginvault.sns_message(envelope jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF jsonb_typeof(envelope->'Message') IS DISTINCT FROM 'string' THEN
    RETURN NULL;
  END IF;
  RETURN (envelope->>'Message')::jsonb;
EXCEPTION WHEN data_exception OR program_limit_exceeded OR statement_too_complex THEN
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION loginvault.sns_message(jsonb) IS
  'The Message of an SNS envelope as jsonb (the login inside); NULL if it is absent, not a string or not JSON. Never raises.';
