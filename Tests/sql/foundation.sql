-- What the foundation promises: the internal schema, pgcrypto, and the
-- migration history written by `loginvault migrate`.
BEGIN;
SELECT plan(5);

SELECT has_schema('loginvault', 'the internal schema exists');
SELECT has_extension('pgcrypto', 'pgcrypto is installed');
SELECT has_table('loginvault', 'schema_migrations', 'migrate keeps its history');
SELECT results_eq(
    'SELECT count(*)::int FROM loginvault.schema_migrations WHERE version = 1',
    ARRAY[1],
    'the first migration is recorded once');
SELECT ok(
    (SELECT bool_and(checksum ~ '^[0-9a-f]{64}$') FROM loginvault.schema_migrations),
    'every recorded checksum is a sha256 in hex');

SELECT * FROM finish();
ROLLBACK;
