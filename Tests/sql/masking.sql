-- Masking: keyed, deterministic, normalised. Rolled back; processes with
-- the procedure's batch function inside this transaction.
BEGIN;
SELECT plan(14);

INSERT INTO raw_logins (message_id, body, sent_at) VALUES
  ('t30-a',  '{"user_id":"u","ip":"10.0.0.1","device_id":"123-45-6789"}', '2024-01-01 23:30-05'),
  ('t30-b',  '{"user_id":"u","ip":"10.0.0.1","device_id":"123-45-6789"}', '2024-01-01 12:00Z'),
  ('t30-c',  '{"user_id":"u","ip":"10.0.0.2","device_id":"123-45-6780"}', '2024-01-01 12:00Z'),
  ('t30-d',  '{"user_id":"u","ip":" 10.0.0.1\t","device_id":" 123-45-6789 "}', '2024-01-01 12:00Z'),
  ('t30-e',  '{"user_id":"u","ip":"::ffff:10.0.0.1"}', '2024-01-01 12:00Z'),
  ('t30-f',  '{"user_id":"u","ip":"2001:DB8:0:0::1"}', '2024-01-01 12:00Z'),
  ('t30-g',  '{"user_id":"u","ip":"2001:db8::1"}', '2024-01-01 12:00Z'),
  ('t30-h',  '{"user_id":"u","ip":null,"device_id":null,"locale":null}', NULL);
UPDATE raw_logins SET staged_at = '2024-02-29 23:00Z' WHERE message_id = 't30-h';

SELECT loginvault.process_login_batch(NULL, 1000000);

CREATE TEMP TABLE m AS SELECT message_id, masked_ip, masked_device_id, create_date, locale
  FROM user_logins WHERE message_id LIKE 't30-%';
CREATE FUNCTION pg_temp.ip(text) RETURNS text LANGUAGE sql AS $$ SELECT masked_ip FROM m WHERE message_id = $1 $$;
CREATE FUNCTION pg_temp.dev(text) RETURNS text LANGUAGE sql AS $$ SELECT masked_device_id FROM m WHERE message_id = $1 $$;

SELECT is(pg_temp.ip('t30-a'), pg_temp.ip('t30-b'), 'same ip, same mask');
SELECT is(pg_temp.dev('t30-a'), pg_temp.dev('t30-b'), 'same device id, same mask');
SELECT isnt(pg_temp.ip('t30-a'), pg_temp.ip('t30-c'), 'different ip, different mask');
SELECT isnt(pg_temp.dev('t30-a'), pg_temp.dev('t30-c'), 'different device id, different mask');
SELECT is(pg_temp.ip('t30-d'), pg_temp.ip('t30-a'), 'surrounding whitespace is trimmed before masking the ip');
SELECT is(pg_temp.dev('t30-d'), pg_temp.dev('t30-a'), '... and the device id');
SELECT is(pg_temp.ip('t30-e'), pg_temp.ip('t30-a'), 'an IPv4-mapped IPv6 address masks as the IPv4 address');
SELECT is(pg_temp.ip('t30-f'), pg_temp.ip('t30-g'), 'IPv6 is masked in its canonical (lowercase, compressed) form');
SELECT matches(pg_temp.ip('t30-a'), '^[0-9a-f]{64}$', 'a mask is 64 hex characters');
SELECT isnt(pg_temp.ip('t30-a'), encode(loginvault_crypto.digest('10.0.0.1', 'sha256'), 'hex'),
            'the mask is keyed: not the plain sha256 of the ip');
SELECT is(pg_temp.ip('t30-a'),
          encode(loginvault.hmac(convert_to('ip:10.0.0.1', 'UTF8'), loginvault.mask_key(), 'sha256'), 'hex'),
          'the mask is HMAC-SHA256(mask key, ''ip:'' || canonical ip)');
SELECT is((SELECT array_agg(create_date ORDER BY message_id) FROM m WHERE message_id IN ('t30-a', 't30-b')),
          ARRAY['2024-01-02', '2024-01-01']::date[], 'create_date is the UTC date of sent_at');
SELECT is((SELECT create_date FROM m WHERE message_id = 't30-h'), '2024-02-29'::date,
          'without sent_at, create_date is the UTC date of staged_at');
SELECT ok((SELECT masked_ip IS NULL AND masked_device_id IS NULL AND locale IS NULL FROM m WHERE message_id = 't30-h'),
          'JSON nulls stay NULL (no mask of an absent value)');

SELECT * FROM finish();
ROLLBACK;
