-- The ip normalisation accepts addresses and nothing else. PostgreSQL's inet
-- is more lenient than the address syntax: it takes a trailing dot and
-- zero-fills a short IPv4 part inside IPv6; parse_ip refuses those before the
-- cast (docs/security.md, "Findings"). The hostile corpus checks the same
-- through the loader.
BEGIN;
SELECT plan(9);

SELECT is(loginvault.canonical_ip('192.000.002.001'), '192.0.2.1', 'leading zeros are decimal: 192.000.002.001 is 192.0.2.1');
SELECT is(loginvault.canonical_ip('010.000.000.001'), '10.0.0.1', '010.0.0.1 is 10.0.0.1 (not octal 8.0.0.1)');
SELECT is(loginvault.canonical_ip('::ffff:192.0.2.1'), '192.0.2.1', 'IPv4-mapped IPv6 is the IPv4 address');
SELECT is(loginvault.canonical_ip('::FFFF:C000:0201'), '192.0.2.1', 'IPv4-mapped IPv6 in hex is the IPv4 address');
SELECT is(loginvault.canonical_ip('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1', 'IPv6 is lower case and compressed');
SELECT is(loginvault.canonical_ip('1.2.3.4.5'), NULL, 'five parts are not an address');

SELECT is(loginvault.canonical_ip('192.0.2.1.'), NULL, 'a trailing dot is not an address');
SELECT is(loginvault.canonical_ip('::ffff:192.0.2'), NULL, 'a three-part IPv4 inside IPv6 is not an address (inet makes it 192.0.2.0)');
SELECT is(loginvault.canonical_ip('64:ff9b::192.0'), NULL, 'a two-part IPv4 inside IPv6 is not an address');

SELECT * FROM finish();
ROLLBACK;
