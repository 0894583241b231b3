-- 0005: user_logins, the masked table analysts read, and the encrypted
-- originals behind it.
--
-- The functions defined here are history: the current definitions are in
-- sql/definitions/60_originals.sql (the trigger functions).
--
-- The first seven columns keep the names and order of the original DDL, so
-- `SELECT * FROM user_logins` looks as expected; the sizes are the original
-- varchar sizes. Two changes: app_version is text (the original integer
-- cannot hold "2.3.0" or "0.96"; the string is kept exactly), and the
-- masks are 64 hex characters of HMAC-SHA256. create_date is the UTC date the
-- message was sent (SQS SentTimestamp), so re-processing gives the same row.

CREATE TABLE IF NOT EXISTS public.user_logins (
  user_id          varchar(128) NOT NULL,
  device_type      varchar(32),
  masked_ip        varchar(256),
  masked_device_id varchar(256),
  locale           varchar(32),
  app_version      varchar(32),
  create_date      date         NOT NULL,
  login_id         bigint       GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,
  message_id       text         NOT NULL UNIQUE,  -- SQS MessageId: the upsert key
  processed_at     timestamptz  NOT NULL DEFAULT now()
);
-- login_id's sequence hands each session 100 values at a time (CACHE 100):
-- without a cache every inserted row locks and updates the sequence
-- (measured ~0.3 us per row). The cost: values a session did not use are
-- skipped, so login_id has gaps (it always could: a rolled-back batch skips
-- its values too) and is not in commit order across concurrent runs.

COMMENT ON TABLE public.user_logins IS
  'One row per login message, PII masked (keyed HMAC-SHA256). Safe for analysts: SELECT * reveals no ip or device id.';
COMMENT ON COLUMN public.user_logins.masked_ip IS
  'hex HMAC-SHA256 of the canonical IP text (see docs/database.md); equal IPs give equal masks';
COMMENT ON COLUMN public.user_logins.masked_device_id IS
  'hex HMAC-SHA256 of the trimmed device id; equal device ids give equal masks';
COMMENT ON COLUMN public.user_logins.app_version IS
  'The app_version string exactly as sent ("2.3.0", "0.96")';
COMMENT ON COLUMN public.user_logins.create_date IS
  'UTC date of the SQS SentTimestamp (of staged_at when the loader did not know it)';

-- The originals (ip and device id as received), encrypted together in one
-- pgp message per login, in their own table: analysts can SELECT * from
-- user_logins without ever touching ciphertext. No one reads plaintext except
-- through reveal_user_login(), which is audited.
CREATE TABLE IF NOT EXISTS loginvault.user_login_originals (
  message_id text    PRIMARY KEY,   -- user_logins.message_id (see the trigger below)
  key_id     integer NOT NULL,      -- loginvault.keys.key_id (guarded in 0012)
  originals  bytea   NOT NULL   -- pgp_sym_encrypt('{"ip": ..., "device_id": ...}')
);
COMMENT ON TABLE loginvault.user_login_originals IS
  'Encrypted original ip and device_id of each user_logins row, and the data key that encrypted them';

-- No index on key_id, on purpose: every processed login would pay for it
-- (~1 us per row measured), while only key maintenance reads key_id, and
-- does not need it: rotation looks for `key_id <> current key`, which a
-- btree cannot answer anyway (it scans), and purging a retired key or the
-- guard against deleting a used one (0012) scan the table once per key.

-- Keyed by message_id, not login_id, so that process_raw_logins can write
-- both tables from the same validated rows without joining the insert's
-- RETURNING back to them. No foreign keys, on purpose: a row-level foreign
-- key check costs two trigger calls per inserted row. Instead,
-- process_raw_logins writes both tables in one statement, deleting (or
-- truncating) logins deletes their originals with one set-based statement
-- trigger, and a data key still referenced cannot be deleted (0012).
CREATE OR REPLACE FUNCTION loginvault.delete_originals_of_deleted_logins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  DELETE FROM loginvault.user_login_originals o USING deleted_logins d WHERE o.message_id = d.message_id;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS user_logins_delete_originals ON public.user_logins;
CREATE TRIGGER user_logins_delete_originals
  AFTER DELETE ON public.user_logins
  REFERENCING OLD TABLE AS deleted_logins
  FOR EACH STATEMENT EXECUTE FUNCTION loginvault.delete_originals_of_deleted_logins();

-- TRUNCATE fires no DELETE trigger: truncating the logins truncates the
-- originals too, so no orphaned ciphertext stays behind (and a message
-- processed again later finds no stale originals row in its way).
CREATE OR REPLACE FUNCTION loginvault.truncate_originals_of_truncated_logins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  TRUNCATE loginvault.user_login_originals;
  RETURN NULL;
EXCEPTION WHEN object_in_use THEN
  -- TRUNCATE user_logins, loginvault.user_login_originals in one statement:
  -- the originals are already truncated (and in use by that statement).
  DELETE FROM loginvault.user_login_originals;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS user_logins_truncate_originals ON public.user_logins;
CREATE TRIGGER user_logins_truncate_originals
  AFTER TRUNCATE ON public.user_logins
  FOR EACH STATEMENT EXECUTE FUNCTION loginvault.truncate_originals_of_truncated_logins();
