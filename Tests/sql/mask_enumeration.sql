-- Masks resist enumeration: the IPv4 space (2^32) and ddd-dd-dddd device ids
-- (10^9) are small enough to reverse any UNKEYED digest by brute force. So for
-- every ip and device id of the sample, no unkeyed digest (md5, sha1, sha224,
-- sha256, sha384, sha512; hex, upper-case hex, base64) of the raw value, the
-- normalised value, or the domain-prefixed input of the HMAC ('ip:1.2.3.4')
-- equals any stored mask; nor does an HMAC under an empty or guessable key.
-- A positive control shows the comparison can match: the keyed HMAC does.
-- Rolled back.
\set sample `cat "${LOGINVAULT_SAMPLE:-examples/login-queue-sample.json}"`
BEGIN;
SET LOCAL client_min_messages = warning;

INSERT INTO raw_logins (message_id, body, sent_at)
SELECT 't92-' || n, e, now() FROM jsonb_array_elements(:'sample'::jsonb) WITH ORDINALITY AS a(e, n);
DO $$ BEGIN PERFORM loginvault.process_login_batch(NULL, 1000000); END $$;

CREATE TEMP TABLE masks AS
SELECT masked_ip AS mask FROM user_logins WHERE message_id LIKE 't92-%' AND masked_ip IS NOT NULL
UNION SELECT masked_device_id FROM user_logins WHERE message_id LIKE 't92-%' AND masked_device_id IS NOT NULL;

-- Every value an attacker might hash: raw, normalised, and as the HMAC input.
CREATE TEMP TABLE candidates AS
WITH values AS (
  SELECT 'ip' AS kind, e->>'ip' AS raw FROM jsonb_array_elements(:'sample'::jsonb) e WHERE e->>'ip' IS NOT NULL
  UNION
  SELECT 'device_id', e->>'device_id' FROM jsonb_array_elements(:'sample'::jsonb) e WHERE e->>'device_id' IS NOT NULL
), normalised AS (
  SELECT kind, raw, CASE kind WHEN 'ip' THEN loginvault.canonical_ip(loginvault.trim_ws(raw))
                              ELSE loginvault.trim_ws(raw) END AS norm
    FROM values
)
SELECT DISTINCT kind, raw, norm, v AS candidate
  FROM normalised, LATERAL (VALUES (raw), (norm), (kind || ':' || norm), (upper(raw)), (lower(raw))) c(v)
 WHERE v IS NOT NULL;

CREATE TEMP TABLE unkeyed AS
SELECT c.kind, c.candidate, a.algorithm, f.format,
       CASE f.format WHEN 'hex' THEN encode(loginvault_crypto.digest(c.candidate, a.algorithm), 'hex')
                     WHEN 'HEX' THEN upper(encode(loginvault_crypto.digest(c.candidate, a.algorithm), 'hex'))
                     ELSE replace(encode(loginvault_crypto.digest(c.candidate, a.algorithm), 'base64'), E'\n', '') END AS digest
  FROM candidates c,
       (VALUES ('md5'), ('sha1'), ('sha224'), ('sha256'), ('sha384'), ('sha512')) a(algorithm),
       (VALUES ('hex'), ('HEX'), ('base64')) f(format);

-- HMACs under keys someone might guess.
CREATE TEMP TABLE guessed AS
SELECT c.candidate, k.guess, encode(loginvault_crypto.hmac(c.candidate, k.guess, 'sha256'), 'hex') AS digest
  FROM candidates c,
       (VALUES (''), ('loginvault'), ('secret'), ('key'), ('mask'), ('password'), ('changeme'), (repeat(E'\\000', 32))) k(guess);

SELECT plan(8);

SELECT is((SELECT count(*)::int FROM masks), 198, 'the sample gives 198 distinct masks (99 ips, 99 device ids)');
SELECT ok((SELECT bool_and(mask ~ '^[0-9a-f]{64}$') FROM masks), 'every mask is 64 hex characters (HMAC-SHA256)');
SELECT cmp_ok((SELECT count(*)::int FROM unkeyed), '>=', 7000, '(over 7,000 unkeyed digests computed)');

SELECT is_empty($$SELECT kind || ' ' || candidate || ': ' || algorithm || '/' || format FROM unkeyed
                   WHERE digest IN (SELECT mask FROM masks)$$,
                'no unkeyed digest (md5/sha1/sha224/sha256/sha384/sha512, hex or base64) of a raw, normalised or prefixed value is a stored mask');
SELECT is_empty($$SELECT candidate || ' under ' || quote_literal(guess) FROM guessed WHERE digest IN (SELECT mask FROM masks)$$,
                'no HMAC under an empty or guessable key is a stored mask');

-- Positive control: the same comparison does match with the real key.
SELECT is((SELECT count(DISTINCT m.mask)::int FROM candidates c
             JOIN masks m ON m.mask = encode(loginvault.hmac(convert_to(c.kind || ':' || c.norm, 'UTF8'), loginvault.mask_key(), 'sha256'), 'hex')),
          198, '(control: the keyed HMAC of every normalised value is found among the masks)');

SELECT ok((SELECT octet_length(key_bytes) >= 32 AND key_bytes <> decode(repeat('00', octet_length(key_bytes)), 'hex')
             FROM loginvault.mask_keys WHERE state = 'active'), 'the mask key is at least 32 bytes and not all zeros');
SELECT is((SELECT count(DISTINCT k)::int FROM (SELECT key_bytes FROM loginvault.keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL) a(k)),
          (SELECT count(*)::int FROM (SELECT key_bytes FROM loginvault.keys UNION ALL SELECT key_bytes FROM loginvault.mask_keys WHERE key_bytes IS NOT NULL) a(k)),
          'no two keys are the same (the mask key is not also a data key)');

SELECT * FROM finish();
ROLLBACK;
