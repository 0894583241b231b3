-- 0021: requeue_audit, the audit log of requeue_rejected
-- (sql/definitions/75_requeue.sql).
--
-- One row per quarantined message a requeue took: who (session_user, the
-- login role), when, which call (requeue_id), the reason it was quarantined
-- for, and the outcome. Never PII: message ids and reason codes only.

CREATE TABLE IF NOT EXISTS loginvault.requeue_audit (
  audit_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  requeue_id   bigint      NOT NULL,                         -- one per call; shared by its rows
  requeued_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  requeued_by  name        NOT NULL DEFAULT session_user,    -- the login role (also after SET ROLE)
  message_id   text        NOT NULL,
  from_reason  text        NOT NULL,                         -- the reason it was quarantined for
  outcome      text        NOT NULL CHECK (outcome IN ('login', 'rejected', 'kept')),
  new_reason   text                                          -- for 'rejected' and 'kept': its reason now
);
COMMENT ON TABLE loginvault.requeue_audit IS
  'Every message requeue_rejected took out of the quarantine: who, when, which id, its reason, and whether it became a login, was rejected again, or was kept. No PII.';

CREATE SEQUENCE IF NOT EXISTS loginvault.requeue_id_seq;
COMMENT ON SEQUENCE loginvault.requeue_id_seq IS 'requeue_audit.requeue_id: one number per requeue_rejected call.';
