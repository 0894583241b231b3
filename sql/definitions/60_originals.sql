-- Originals: keeping loginvault.user_login_originals in step with user_logins.
--
-- The originals (ip and device id as received) are encrypted together in one
-- pgp message per login, keyed by login_id, in their own table
-- (sql/migrations/0005, 0017): analysts can SELECT * from user_logins without
-- ever touching ciphertext, and no one reads plaintext except through the
-- audited reveals (70_reveal.sql).
--
-- No foreign key, on purpose: a row-level foreign key check costs two
-- trigger calls per inserted row. Instead process_login_batch writes both
-- tables in one statement, deleting (or truncating) logins deletes their
-- originals with one set-based statement trigger (these functions; the
-- triggers are in sql/migrations/0005), and a data key still referenced
-- cannot be deleted (refuse_deleting_used_keys, 10_keys.sql).

-- Deleting logins deletes their originals (one set-based statement per
-- DELETE statement).
CREATE OR REPLACE FUNCTION loginvault.delete_originals_of_deleted_logins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, loginvault, pg_temp
AS $$
BEGIN
  DELETE FROM loginvault.user_login_originals o USING deleted_logins d WHERE o.login_id = d.login_id;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION loginvault.delete_originals_of_deleted_logins() IS
  'Statement trigger of user_logins: deleting logins deletes their encrypted originals.';

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
COMMENT ON FUNCTION loginvault.truncate_originals_of_truncated_logins() IS
  'Statement trigger of user_logins: truncating the logins truncates their encrypted originals.';
