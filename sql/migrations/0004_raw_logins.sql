-- 0004: raw_logins, the staging table the loader writes.
--
-- One row per SQS message, keyed by the SQS message id, so re-staging a
-- message (SQS delivers at least once) is a no-op: the loader inserts with
-- ON CONFLICT (message_id) DO NOTHING. The body is kept exactly as received,
-- as jsonb; nothing is validated here (process_raw_logins does that), so the
-- loader never judges content. Rows live here only until the next
-- process_raw_logins run, which deletes them in the same transaction that
-- masks them: plaintext PII does not stay at rest.

CREATE TABLE IF NOT EXISTS public.raw_logins (
  message_id    text        PRIMARY KEY,          -- SQS MessageId
  body          jsonb       NOT NULL,             -- the message body, as sent
  sent_at       timestamptz,                      -- SQS SentTimestamp
  receive_count integer,                          -- SQS ApproximateReceiveCount
  staged_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.raw_logins IS
  'Staging: raw SQS login messages, deleted by process_raw_logins once masked. Holds plaintext PII while pending.';
COMMENT ON COLUMN public.raw_logins.sent_at IS
  'SQS SentTimestamp; becomes user_logins.create_date (UTC). NULL falls back to staged_at.';
