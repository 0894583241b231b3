-- 0006: rejected_logins, the quarantine.
--
-- Every message that cannot become a user_logins row ends here, with a
-- machine-readable reason. The body is stored encrypted, never in plain text:
-- a broken message can still carry PII. Reasons are lowercase codes, with the
-- offending field after a colon where there is one (wrong_type:ip). The list
-- of codes, each with its meaning and where it is decided, is
-- loginvault.quarantine_reasons() in sql/definitions/30_quarantine.sql.

CREATE TABLE IF NOT EXISTS public.rejected_logins (
  reject_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id     text        NOT NULL UNIQUE,
  reason         text        NOT NULL CHECK (reason ~ '^[a-z][a-z0-9_]*(:[a-z0-9_]+)?$' AND length(reason) <= 64),
  rejected_at    timestamptz NOT NULL DEFAULT now(),
  sent_at        timestamptz,
  receive_count  integer,
  key_id         integer     NOT NULL,   -- loginvault.keys.key_id (guarded in 0012)
  body_encrypted bytea       NOT NULL   -- pgp_sym_encrypt(the body as received)
);
COMMENT ON TABLE public.rejected_logins IS
  'Quarantine: messages that could not become a login, with a reason code. Bodies encrypted (they may hold PII).';

CREATE INDEX IF NOT EXISTS rejected_logins_key_id ON public.rejected_logins (key_id);
