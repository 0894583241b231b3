-- Runs once when the container's database is created. `loginvault migrate`
-- creates the rest. pgcrypto lands in schema public (PostgreSQL 15: only the
-- database owner may create objects there); migrate uses it where it is,
-- through wrappers bound to its functions (sql/definitions/05_crypto.sql).
-- Tests/managed/managed_postgres.sh runs this file, then migrate.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
