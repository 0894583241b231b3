-- 0001: the internal schema and the extensions everything else needs.
--
-- `loginvault` holds the internals (keys, helpers, logs, migration history);
-- the tables analysts query live in `public`.
CREATE SCHEMA IF NOT EXISTS loginvault;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
