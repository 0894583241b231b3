-- 0025: erasure_audit, the audit log of forget_user
-- (sql/definitions/65_forget.sql).
--
-- One row per forget_user call: who (session_user, the login role), when,
-- the reason the PII admin gave, and how many rows the erasure changed.
-- It deliberately holds NO user id, in clear or hashed: the rows of a
-- forgotten user no longer carry it (their user_id becomes
-- 'forgotten:<erasure_id>'), and a user id (or a digest of it, which anyone
-- with the table can test guesses against) kept here would be the one place
-- left that says who was forgotten. The link between an erasure request and
-- its erasure is the erasure_id that forget_user returns: record it in the
-- ticket of the request, outside the database.

CREATE TABLE IF NOT EXISTS loginvault.erasure_audit (
  erasure_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  erased_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  erased_by   name        NOT NULL DEFAULT session_user,  -- the login role (also after SET ROLE)
  reason      text        NOT NULL CHECK (btrim(reason) <> '' AND length(reason) <= 500),
  logins      integer     NOT NULL,  -- user_logins rows made anonymous (user id and masks replaced)
  originals   integer     NOT NULL,  -- encrypted originals deleted
  rejects     integer     NOT NULL,  -- quarantined bodies erased (reason becomes 'forgotten')
  staged      integer     NOT NULL   -- staged messages removed (kept as 'forgotten' rejects)
);
COMMENT ON TABLE loginvault.erasure_audit IS
  'Every forget_user call: who, when, why, and how many rows it erased. No user id (see 0025 and docs/security.md, "Erasure").';
