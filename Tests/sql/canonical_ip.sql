-- canonical_ip's fast path (LIKE and octet look-ups, no regular expression,
-- no cast) must agree exactly with the reference: trim, cast to inet in an
-- exception block, IPv4-mapped IPv6 as IPv4, host() text; NULL when inet
-- cannot parse it, it has a prefix or zone, or a dotted part is not a full quad
-- at the end. Rolled back.
BEGIN;
SELECT plan(4);

CREATE FUNCTION pg_temp.reference_ip(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  t text := btrim(value, E' \t\r\n');
  addr inet;
BEGIN
  IF t !~ '^[0-9A-Fa-f:.]+$' THEN RETURN NULL; END IF;   -- no prefix, no zone
  -- dots only in one complete dotted quad at the end (inet zero-fills short ones)
  IF strpos(t, '.') > 0 AND t !~ '(^|:)[0-9]{1,3}(\.[0-9]{1,3}){3}$' THEN RETURN NULL; END IF;
  BEGIN
    addr := t::inet;
  EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
  END;
  IF family(addr) = 6 AND addr << '::ffff:0:0/96'::inet THEN
    addr := '0.0.0.0'::inet + (addr - '::ffff:0.0.0.0'::inet);
  END IF;
  RETURN host(addr);
END $$;

CREATE TEMP TABLE ips (ip text);
INSERT INTO ips VALUES
  ('0.0.0.0'), ('255.255.255.255'), ('1.2.3.4'), ('10.0.0.1'), ('192.168.1.255'), ('8.8.8.8'),
  ('256.1.1.1'), ('1.256.1.1'), ('1.1.256.1'), ('1.1.1.256'), ('300.1.1.1'), ('999.999.999.999'),
  ('01.2.3.4'), ('1.02.3.4'), ('1.2.003.4'), ('1.2.3.0004'), ('00.0.0.0'), ('0001.2.3.4'),
  ('1.2.3'), ('1.2'), ('1'), ('1.2.3.4.5'), ('1.2.3.4.'), ('.1.2.3.4'), ('1..2.3'), ('1.2..3.4'),
  ('1.2.3.4..'), ('1.2.3.4..6'), ('...'), ('....'), ('.'), (''), (' '),
  (' 1.2.3.4'), ('1.2.3.4 '), (E'\t1.2.3.4\n'), ('1.2.3.4/32'), ('10.0.0.0/8'), ('1.2.3.-4'), ('+1.2.3.4'),
  ('1.2.3.4a'), ('a.b.c.d'), ('1,2,3,4'), ('１.２.３.４'), ('1.2.3.4%eth0'), ('0x7f.0.0.1'),
  ('::1'), ('::'), ('2001:DB8:0:0::1'), ('2001:db8::1'), ('::ffff:10.0.0.1'), ('::FFFF:1.2.3.4'),
  ('::ffff:1.2.3.256'), ('fe80::1%eth0'), (':::::'), ('1:2:3:4:5:6:7:8'), ('1:2:3:4:5:6:7:8:9'),
  ('2001:db8::1/64'), ('localhost'), ('1.1.1.1''; DROP TABLE raw_logins; --');
-- and every octet value in every position, plus a few just out of range
INSERT INTO ips SELECT format('%s.%s.%s.%s', a, b, c, d)
  FROM generate_series(0, 257, 1) a, (VALUES (0), (255)) x(b), (VALUES (7)) y(c), (VALUES (1), (256)) z(d);
INSERT INTO ips SELECT format('%s.%s.%s.%s', d, c, a, b)
  FROM generate_series(0, 257, 1) a, (VALUES (0), (255)) x(b), (VALUES (7)) y(c), (VALUES (1), (256)) z(d);

SELECT is((SELECT count(*)::int FROM ips WHERE loginvault.canonical_ip(ip) IS DISTINCT FROM pg_temp.reference_ip(ip)), 0,
          'canonical_ip agrees with the inet reference on every edge case and octet value');
SELECT is(loginvault.canonical_ip('010.000.000.001'), '10.0.0.1', 'leading zeros are dropped (slow path)');
SELECT is(loginvault.canonical_ip('::ffff:10.0.0.1'), '10.0.0.1', 'IPv4-mapped IPv6 is the IPv4 address');
SELECT ok(loginvault.canonical_ip('1.2.3.256') IS NULL AND loginvault.canonical_ip('1.2.3') IS NULL
          AND loginvault.canonical_ip('1.2.3.4.5') IS NULL, 'out of range, too few or too many parts: not an address');

SELECT * FROM finish();
ROLLBACK;
