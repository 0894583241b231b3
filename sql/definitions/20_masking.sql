-- Masking: normalisation, the keyed masks and the one way pgcrypto's pgp
-- functions are called.
--
-- Masks must be equal exactly when the values are "the same", so values are
-- normalised before hashing:
--   * device id: leading/trailing whitespace (space, tab, CR, LF) removed;
--     otherwise taken as is (case matters). Empty after trimming = no device id.
--   * IP: whitespace trimmed, then one canonical text form, the one
--     PostgreSQL's inet type prints: IPv4 dotted quad without leading zeros,
--     IPv6 lowercase and compressed ("2001:DB8:0::1" -> "2001:db8::1").
--     An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address a.b.c.d
--     (a dual-stack server reports the same client either way). A prefix
--     length ("/24"), a zone ("%eth0") or anything inet does not parse is
--     not an address: the message is rejected with reason invalid_ip.
-- The small helpers are plain SQL so that the planner inlines them into
-- process_login_batch's one set-based statement: no per-row function call.


-- Whitespace trimmed from ip and device id before masking.
CREATE OR REPLACE FUNCTION loginvault.trim_ws(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT btrim(value, E' \t\r\n') $$;
COMMENT ON FUNCTION loginvault.trim_ws(text) IS
  'The value without leading and trailing space, tab, CR and LF (before masking).';

-- The slow path of canonical_ip, for what is not a plain canonical dotted
-- quad: the inet cast, in an exception block so that a bad value yields NULL
-- instead of an error (which would stop the batch and write the value to the
-- log). Takes the trimmed value. Only hex digits, ':' and '.' get as far as
-- the cast, so a prefix or zone never does. An exception block costs a
-- subtransaction (a few microseconds), which is why canonical_ip avoids it
-- for the common case.
CREATE OR REPLACE FUNCTION loginvault.parse_ip(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
-- Generic plans: in a custom plan the value would be a constant, which
-- auto_explain (log_nested_statements, log_verbose) prints with the plan.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  addr inet;
BEGIN
  IF length(value) > 45 OR value !~ '^[0-9A-Fa-f:.]+$' THEN
    RETURN NULL;
  END IF;
  -- inet is lenient with dotted parts: it accepts '192.0.2.1.' and zero-fills
  -- a short embedded IPv4 ('::ffff:192.0.2', '64:ff9b::192.0'). A dotted part
  -- must be a full quad at the end of the text.
  IF strpos(value, '.') > 0 AND value !~ '(^|:)[0-9]{1,3}(\.[0-9]{1,3}){3}$' THEN
    RETURN NULL;
  END IF;
  BEGIN
    addr := value::inet;
  EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
  END;
  IF family(addr) = 6 AND addr << '::ffff:0:0/96'::inet THEN
    addr := '0.0.0.0'::inet + (addr - '::ffff:0.0.0.0'::inet);
  END IF;
  RETURN host(addr);
END
$$;
COMMENT ON FUNCTION loginvault.parse_ip(text) IS
  'Slow path of canonical_ip: the inet text of a trimmed value, or NULL if it is not a plain IP address (no prefix, no zone).';

-- The 256 canonical decimal octets, '0' .. '255'. IMMUTABLE and without
-- arguments, so the planner folds a call into a constant array, and
-- `x = ANY (constant array)` is then a hash lookup.
CREATE OR REPLACE FUNCTION loginvault.ipv4_octets() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT array_agg(i::text ORDER BY i) FROM generate_series(0, 255) AS i $$;
COMMENT ON FUNCTION loginvault.ipv4_octets() IS
  'The 256 canonical decimal octets ''0''..''255'' (folded into a constant by the planner).';

-- canonical_ip(value): the canonical text of an IP address (value as sent,
-- whitespace is trimmed here), or NULL if it is not one.
-- The common case, a canonical dotted quad (exactly three dots, each of the
-- four parts one of '0' .. '255'), is recognised with LIKE and four hash
-- lookups and returned unchanged: no regular expression, no cast, no
-- exception block (measured: ~0.3 us per row, against ~1.2 us for the
-- equivalent regular expression). Everything else (whitespace, leading
-- zeros, IPv6, garbage) takes parse_ip.
CREATE OR REPLACE FUNCTION loginvault.canonical_ip(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN value LIKE '%.%.%.%' AND value NOT LIKE '%.%.%.%.%'
     AND split_part(value, '.', 1) = ANY (loginvault.ipv4_octets())
     AND split_part(value, '.', 2) = ANY (loginvault.ipv4_octets())
     AND split_part(value, '.', 3) = ANY (loginvault.ipv4_octets())
     AND split_part(value, '.', 4) = ANY (loginvault.ipv4_octets())
      THEN value
    ELSE loginvault.parse_ip(loginvault.trim_ws(value))
  END
$$;
COMMENT ON FUNCTION loginvault.canonical_ip(text) IS
  'The canonical text of an IP address (as inet prints it, IPv4-mapped IPv6 as IPv4), or NULL if the value is not one.';

-- mask(kind, value, key): hex HMAC-SHA256 of 'kind:value' under the mask key.
-- The kind ('ip', 'device_id') separates the domains: an ip and a device id
-- never share a mask even if their strings were equal.
CREATE OR REPLACE FUNCTION loginvault.mask(kind text, value text, mask_key bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT encode(loginvault.hmac(convert_to(kind || ':' || value, 'UTF8'), mask_key, 'sha256'), 'hex') $$;
COMMENT ON FUNCTION loginvault.mask(text, text, bytea) IS
  'hex HMAC-SHA256 of ''kind:value'' under the mask key: equal values of one kind give equal masks.';

-- The pgp_sym_encrypt options, in one place (docs/database.md explains them):
--   cipher-algo=aes256  AES with a 256-bit key
--   compress-algo=0     no compression: small inputs, and compression leaks
--                       length information about the plaintext
--   s2k-mode=1          salted, NOT iterated, key derivation: the passphrase
--                       is a random 256-bit key, not a password, so the
--                       65536-round iterated S2K (the default) only adds ~200 us
--                       per call and no security
--   s2k-digest-algo=sha256
-- Integrity: pgp's modification detection code stays on (the default).
CREATE OR REPLACE FUNCTION loginvault.pgp_options() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'cipher-algo=aes256, compress-algo=0, s2k-mode=1, s2k-digest-algo=sha256' $$;
COMMENT ON FUNCTION loginvault.pgp_options() IS
  'The pgp_sym_encrypt options of every encryption: aes256, no compression, salted non-iterated S2K with sha256.';

-- encrypt(plaintext, passphrase) / decrypt(ciphertext, passphrase): the one
-- way this project calls pgcrypto's pgp functions.
CREATE OR REPLACE FUNCTION loginvault.encrypt(plaintext text, passphrase text) RETURNS bytea
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$ SELECT loginvault.pgp_sym_encrypt(plaintext, passphrase, loginvault.pgp_options()) $$;
COMMENT ON FUNCTION loginvault.encrypt(text, text) IS
  'pgp_sym_encrypt with loginvault.pgp_options(): the one way loginvault encrypts.';

CREATE OR REPLACE FUNCTION loginvault.decrypt(ciphertext bytea, passphrase text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT loginvault.pgp_sym_decrypt(ciphertext, passphrase) $$;
COMMENT ON FUNCTION loginvault.decrypt(bytea, text) IS
  'pgp_sym_decrypt: the one way loginvault decrypts.';

-- originals_plaintext(ip, device_id): the text encrypted as a login's
-- originals, '{"ip": ..., "device_id": ...}', byte for byte what
-- jsonb_build_object('ip', ip, 'device_id', device_id)::text prints (jsonb
-- puts the shorter key first; to_json escapes a string exactly as jsonb
-- prints it). Plain SQL, so the planner inlines it: no per-row call.
-- STABLE because to_json is.
CREATE OR REPLACE FUNCTION loginvault.originals_plaintext(ip text, device_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT '{"ip": ' || coalesce(pg_catalog.to_json(ip)::text, 'null')
      || ', "device_id": ' || coalesce(pg_catalog.to_json(device_id)::text, 'null') || '}'
$$;
COMMENT ON FUNCTION loginvault.originals_plaintext(text, text) IS
  'The text encrypted as a login''s originals, {"ip": ..., "device_id": ...}, byte for byte as jsonb prints it.';
