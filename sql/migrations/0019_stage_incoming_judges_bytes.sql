-- 0019: stage_incoming_logins() takes the loader's --max-receives and
-- returns a fourth count.
--
-- The loader used to decide itself which messages to quarantine before
-- staging (too_many_receives from SQS's receive count; nul_byte and
-- invalid_utf8 from the bytes) and pass their bodies to
-- quarantine_raw_login() as bind parameters. Now it copies every message,
-- body as bytes, into its temp table, and the database judges them all:
-- stage_incoming_logins(max_receives) returns (staged, duplicates,
-- rejected, quarantined). Its current definition is in
-- sql/definitions/40_staging.sql; this migration only drops the old
-- signature, which that file cannot replace (CREATE OR REPLACE keeps a
-- function's arguments and result type). Its grants go with it;
-- sql/definitions/90_privileges.sql grants the new one.
--
-- A loader of an earlier version cannot stage into a database migrated past
-- this version: upgrade the loader together with the database.

DROP FUNCTION IF EXISTS public.stage_incoming_logins();
