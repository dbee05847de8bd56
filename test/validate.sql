-- Shapes of values: ICCID, IMSI, MSISDN, E.164, URL, e-mail, ISO 3166-1
-- alpha-2 and ISO 4217 codes (src/validate.c).
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.

BEGIN;
SELECT plan(134);

-- ---- declarations ----------------------------------------------------------

SELECT is_empty(
	$$SELECT p.oid::regprocedure
	    FROM pg_catalog.pg_proc p
	    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
	   WHERE n.nspname OPERATOR(pg_catalog.=) 'cmp'
	     AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[
	           'iccid_is_valid', 'iccid_problem', 'imsi_is_valid',
	           'msisdn_is_valid', 'phone_is_valid', 'url_is_valid',
	           'email_is_valid', 'country_is_valid', 'currency_is_valid'])
	     AND NOT (p.provolatile OPERATOR(pg_catalog.=) 'i'
	              AND p.proisstrict
	              AND p.proparallel OPERATOR(pg_catalog.=) 's')$$,
	'validators are IMMUTABLE STRICT PARALLEL SAFE, usable in CHECK constraints and indexes'
);

SELECT is(
	(SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc p
	   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
	  WHERE n.nspname OPERATOR(pg_catalog.=) 'cmp'
	    AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[
	          'iccid_is_valid', 'iccid_problem', 'imsi_is_valid',
	          'msisdn_is_valid', 'phone_is_valid', 'url_is_valid',
	          'email_is_valid', 'country_is_valid', 'currency_is_valid'])),
	9::bigint,
	'all nine validators exist in schema cmp'
);

SELECT is(cmp.iccid_is_valid(NULL), NULL, 'a NULL value is neither valid nor invalid');
SELECT is(cmp.iccid_problem(NULL), NULL, 'a NULL ICCID has no problem to report');

-- ---- ICCID -----------------------------------------------------------------

-- The ITU-T E.118 example and ICCIDs with check digits computed by hand.
SELECT is(cmp.iccid_is_valid('8991101200003204514'), true,
	'ICCID: 19 digits, prefix 89, Luhn check digit (E.118 example) is valid');
SELECT is(cmp.iccid_is_valid('8949227000123456789'), true,
	'ICCID: 19 digits with a correct Luhn check digit is valid');
SELECT is(cmp.iccid_is_valid('89492270001234567893'), true,
	'ICCID: 20 digits with a correct Luhn check digit is valid');
SELECT is(cmp.iccid_is_valid('89012608823101234565'), true,
	'ICCID: 20 digits, North American issuer, correct check digit is valid');
SELECT is(cmp.iccid_is_valid('8944301012345678900'), true,
	'ICCID: check digit 0 is a valid check digit');

-- The C Luhn check must agree with an independent one written in SQL, for
-- every possible check digit of many generated 19- and 20-digit ICCIDs.
CREATE TEMPORARY TABLE iccid_candidate ON COMMIT DROP AS
WITH body AS (
	SELECT '89' OPERATOR(pg_catalog.||)
	       pg_catalog.substr(pg_catalog.translate(pg_catalog.md5(i::text), 'abcdef', '012345'), 1, len OPERATOR(pg_catalog.-) 3) AS body
	  FROM pg_catalog.generate_series(1, 500) AS i,
	       (VALUES (19), (20)) AS l (len)
), candidate AS (
	SELECT body, body OPERATOR(pg_catalog.||) c::text AS iccid
	  FROM body, pg_catalog.generate_series(0, 9) AS c
)
SELECT body, iccid,
       (SELECT pg_catalog.sum(CASE WHEN k OPERATOR(pg_catalog.%) 2 OPERATOR(pg_catalog.=) 0
                                   THEN (2 OPERATOR(pg_catalog.*) d) OPERATOR(pg_catalog./) 10
                                        OPERATOR(pg_catalog.+) (2 OPERATOR(pg_catalog.*) d) OPERATOR(pg_catalog.%) 10
                                   ELSE d END)
          FROM (SELECT k, pg_catalog.substr(iccid, pg_catalog.length(iccid) OPERATOR(pg_catalog.-) k OPERATOR(pg_catalog.+) 1, 1)::int AS d
                  FROM pg_catalog.generate_series(1, pg_catalog.length(iccid)) AS k) AS digit
       ) OPERATOR(pg_catalog.%) 10 OPERATOR(pg_catalog.=) 0 AS luhn
  FROM candidate;

SELECT is(
	(SELECT pg_catalog.count(*) FROM iccid_candidate), 10000::bigint,
	'ICCID: 10000 generated candidates to cross-check'
);
SELECT is_empty(
	$$SELECT iccid, luhn, cmp.iccid_is_valid(iccid) AS c_says
	    FROM iccid_candidate
	   WHERE cmp.iccid_is_valid(iccid) IS DISTINCT FROM luhn$$,
	'ICCID: the check digit rule agrees with a Luhn calculation done in SQL'
);
SELECT is_empty(
	$$SELECT body, pg_catalog.count(*) FILTER (WHERE cmp.iccid_is_valid(iccid)) AS valid_digits
	    FROM iccid_candidate
	   GROUP BY body
	  HAVING pg_catalog.count(*) FILTER (WHERE cmp.iccid_is_valid(iccid)) OPERATOR(pg_catalog.<>) 1$$,
	'ICCID: exactly one of the ten possible check digits is valid'
);

-- Each rule broken alone: everything else about these values is right.
SELECT is(cmp.iccid_is_valid('894922700012345670'), false,
	'ICCID: 18 digits is too short even with a correct check digit');
SELECT is(cmp.iccid_problem('894922700012345670'), 'wrong length',
	'ICCID problem: 18 digits is "wrong length"');
SELECT is(cmp.iccid_is_valid('894922700012345678900'), false,
	'ICCID: 21 digits is too long even with a correct check digit');
SELECT is(cmp.iccid_problem('894922700012345678900'), 'wrong length',
	'ICCID problem: 21 digits is "wrong length"');
SELECT is(cmp.iccid_is_valid('8991101200003204515'), false,
	'ICCID: a wrong check digit is invalid');
SELECT is(cmp.iccid_problem('8991101200003204515'), 'bad check digit',
	'ICCID problem: a wrong check digit is "bad check digit"');
SELECT is(cmp.iccid_is_valid('8991101200003024514'), false,
	'ICCID: swapped adjacent digits fail the check digit');
SELECT is(cmp.iccid_is_valid('89911012000032045A4'), false,
	'ICCID: a letter is invalid');
SELECT is(cmp.iccid_problem('89911012000032045A4'), 'not only digits',
	'ICCID problem: a letter is "not only digits"');
SELECT is(cmp.iccid_is_valid('8849227000123456781'), false,
	'ICCID: a prefix other than 89 is invalid even with a correct check digit');
SELECT is(cmp.iccid_problem('8849227000123456781'), 'does not start with 89',
	'ICCID problem: prefix 88 is "does not start with 89"');
SELECT is(cmp.iccid_is_valid('9849227000123456780'), false,
	'ICCID: prefix 98 is invalid');
SELECT is(cmp.iccid_is_valid(' 8991101200003204514'), false,
	'ICCID: a leading space is invalid (the predicate does not trim)');
SELECT is(cmp.iccid_problem('8991101200003204514 '), 'not only digits',
	'ICCID problem: a trailing space is "not only digits"');
SELECT is(cmp.iccid_is_valid('8991-1012-0000-3204-514'), false,
	'ICCID: separators are invalid');
SELECT is(cmp.iccid_is_valid('８９91101200003204514'), false,
	'ICCID: full-width digits are not digits');
SELECT is(cmp.iccid_problem(''), 'wrong length',
	'ICCID problem: the empty string is "wrong length"');
SELECT is(cmp.iccid_problem('8991101200003204514'), NULL,
	'ICCID problem: a valid ICCID has none');
SELECT is(cmp.iccid_problem('89A'), 'not only digits',
	'ICCID problem order: "not only digits" comes before "wrong length"');
SELECT is(cmp.iccid_problem('1234'), 'wrong length',
	'ICCID problem order: "wrong length" comes before the prefix');
SELECT is(cmp.iccid_problem('1234567890123456789'), 'does not start with 89',
	'ICCID problem order: the prefix comes before the check digit');

-- ---- IMSI ------------------------------------------------------------------

SELECT is(cmp.imsi_is_valid('262011234567890'), true,
	'IMSI: 15 digits is valid');
SELECT is(cmp.imsi_is_valid('310150123456789'), true,
	'IMSI: 15 digits with a three-digit MNC is valid');
SELECT is(cmp.imsi_is_valid('26201123456789'), false,
	'IMSI: 14 digits is invalid');
SELECT is(cmp.imsi_is_valid('2620112345678901'), false,
	'IMSI: 16 digits is invalid');
SELECT is(cmp.imsi_is_valid('26201123456789O'), false,
	'IMSI: a letter O for a zero is invalid');
SELECT is(cmp.imsi_is_valid('+26201123456789'), false,
	'IMSI: a plus sign is invalid');
SELECT is(cmp.imsi_is_valid(''), false,
	'IMSI: the empty string is invalid');

-- ---- MSISDN ----------------------------------------------------------------

SELECT is(cmp.msisdn_is_valid('491701234567'), true,
	'MSISDN: 12 digits is valid');
SELECT is(cmp.msisdn_is_valid('12345678'), true,
	'MSISDN: 8 digits, the minimum, is valid');
SELECT is(cmp.msisdn_is_valid('123456789012345'), true,
	'MSISDN: 15 digits, the maximum, is valid');
SELECT is(cmp.msisdn_is_valid('1234567'), false,
	'MSISDN: 7 digits is too short');
SELECT is(cmp.msisdn_is_valid('1234567890123456'), false,
	'MSISDN: 16 digits is too long');
SELECT is(cmp.msisdn_is_valid('+491701234567'), false,
	'MSISDN: a plus sign is invalid (MSISDNs are stored without it)');
SELECT is(cmp.msisdn_is_valid('49 170 1234567'), false,
	'MSISDN: spaces are invalid');

-- ---- E.164 phone numbers ---------------------------------------------------

SELECT is(cmp.phone_is_valid('+491701234567'), true,
	'E.164: plus and 12 digits is valid');
SELECT is(cmp.phone_is_valid('+14155550123'), true,
	'E.164: a North American number is valid');
SELECT is(cmp.phone_is_valid('+12'), true,
	'E.164: plus and 2 digits, the minimum, is valid');
SELECT is(cmp.phone_is_valid('+123456789012345'), true,
	'E.164: plus and 15 digits, the maximum, is valid');
SELECT is(cmp.phone_is_valid('+1234567890123456'), false,
	'E.164: 16 digits is too long');
SELECT is(cmp.phone_is_valid('+1'), false,
	'E.164: a single digit is too short');
SELECT is(cmp.phone_is_valid('+'), false,
	'E.164: a plus sign alone is invalid');
SELECT is(cmp.phone_is_valid('491701234567'), false,
	'E.164: the leading plus sign is required');
SELECT is(cmp.phone_is_valid('00491701234567'), false,
	'E.164: an international dialling prefix instead of plus is invalid');
SELECT is(cmp.phone_is_valid('+0491701234567'), false,
	'E.164: the country code cannot start with 0');
SELECT is(cmp.phone_is_valid('+49 170 1234567'), false,
	'E.164: spaces are invalid');
SELECT is(cmp.phone_is_valid('+49-170-1234567'), false,
	'E.164: hyphens are invalid');
SELECT is(cmp.phone_is_valid('++491701234567'), false,
	'E.164: a second plus sign is invalid');
SELECT is(cmp.phone_is_valid('+49170123456a'), false,
	'E.164: a letter is invalid');

-- ---- URLs ------------------------------------------------------------------

SELECT is(cmp.url_is_valid('https://example.com'), true,
	'URL: https with a host is valid');
SELECT is(cmp.url_is_valid('http://example.com/'), true,
	'URL: http with a host and a slash is valid');
SELECT is(cmp.url_is_valid('https://portal.example.co.uk/path/to?q=1&r=a%20b#frag'), true,
	'URL: path, query and fragment are valid');
SELECT is(cmp.url_is_valid('HTTPS://Example.COM:8443/x'), true,
	'URL: the scheme is case-insensitive and a port is allowed');
SELECT is(cmp.url_is_valid('http://localhost:8080'), true,
	'URL: a single-label host with a port is valid');
SELECT is(cmp.url_is_valid('https://example.com?x=1'), true,
	'URL: a query directly after the host is valid');
SELECT is(cmp.url_is_valid('https://192.0.2.10/status'), true,
	'URL: an IPv4 address as host is valid');
SELECT is(cmp.url_is_valid('javascript:alert(1)'), false,
	'URL: the javascript scheme is invalid');
SELECT is(cmp.url_is_valid('JavaScript://example.com/%0Aalert(1)'), false,
	'URL: the javascript scheme is invalid even shaped like a URL');
SELECT is(cmp.url_is_valid('ftp://example.com/file'), false,
	'URL: the ftp scheme is invalid');
SELECT is(cmp.url_is_valid('data:text/html,<script>alert(1)</script>'), false,
	'URL: the data scheme is invalid');
SELECT is(cmp.url_is_valid('//example.com/'), false,
	'URL: a scheme-relative URL is invalid');
SELECT is(cmp.url_is_valid('example.com'), false,
	'URL: a bare host without a scheme is invalid');
SELECT is(cmp.url_is_valid('https://'), false,
	'URL: a missing host is invalid');
SELECT is(cmp.url_is_valid('https:///path'), false,
	'URL: an empty host before the path is invalid');
SELECT is(cmp.url_is_valid('http:/example.com'), false,
	'URL: a single slash after the scheme is invalid');
SELECT is(cmp.url_is_valid('https://exa mple.com'), false,
	'URL: a space in the host is invalid');
SELECT is(cmp.url_is_valid('https://example.com/a b'), false,
	'URL: a space in the path is invalid');
SELECT is(cmp.url_is_valid(' https://example.com'), false,
	'URL: a leading space is invalid');
SELECT is(cmp.url_is_valid(E'https://example.com/\n'), false,
	'URL: a newline is invalid');
SELECT is(cmp.url_is_valid(E'https://example.com/\ta'), false,
	'URL: a tab is invalid');
SELECT is(cmp.url_is_valid('https://example.com/ä'), false,
	'URL: non-ASCII characters must be percent-encoded');
SELECT is(cmp.url_is_valid('https://user:pw@example.com/'), false,
	'URL: user information before the host is invalid');
SELECT is(cmp.url_is_valid('https://example.com:/'), false,
	'URL: a colon without a port is invalid');
SELECT is(cmp.url_is_valid('https://example.com:65536/'), false,
	'URL: a port above 65535 is invalid');
SELECT is(cmp.url_is_valid('https://exa_mple.com/'), false,
	'URL: an underscore in the host is invalid');
SELECT is(cmp.url_is_valid('https://a..example.com/'), false,
	'URL: an empty host label is invalid');
SELECT is(cmp.url_is_valid('https://-example.com/'), false,
	'URL: a host label starting with a hyphen is invalid');
SELECT is(cmp.url_is_valid('https://example.com/' OPERATOR(pg_catalog.||) pg_catalog.repeat('a', 2028)), true,
	'URL: 2048 characters is valid');
SELECT is(cmp.url_is_valid('https://example.com/' OPERATOR(pg_catalog.||) pg_catalog.repeat('a', 2029)), false,
	'URL: 2049 characters is too long');

-- ---- e-mail addresses ------------------------------------------------------

SELECT is(cmp.email_is_valid('alice@example.com'), true,
	'email: local part, at sign and a dotted domain is valid');
SELECT is(cmp.email_is_valid('first.last+tag@mail.example.co.uk'), true,
	'email: dots and plus in the local part and a subdomain are valid');
SELECT is(cmp.email_is_valid('o''brien@example.ie'), true,
	'email: an apostrophe in the local part is valid');
SELECT is(cmp.email_is_valid('alice'), false,
	'email: without an at sign is invalid');
SELECT is(cmp.email_is_valid('alice@'), false,
	'email: an empty domain is invalid');
SELECT is(cmp.email_is_valid('@example.com'), false,
	'email: an empty local part is invalid');
SELECT is(cmp.email_is_valid('alice@example'), false,
	'email: a domain without a dot is invalid');
SELECT is(cmp.email_is_valid('alice@@example.com'), false,
	'email: two at signs in a row are invalid');
SELECT is(cmp.email_is_valid('a@b@example.com'), false,
	'email: two at signs are invalid');
SELECT is(cmp.email_is_valid('alice@example..com'), false,
	'email: an empty domain label is invalid');
SELECT is(cmp.email_is_valid('alice@.example.com'), false,
	'email: a domain starting with a dot is invalid');
SELECT is(cmp.email_is_valid('alice@example.com.'), false,
	'email: a domain ending with a dot is invalid');
SELECT is(cmp.email_is_valid('al ice@example.com'), false,
	'email: a space in the local part is invalid');
SELECT is(cmp.email_is_valid(E'alice@example.com\n'), false,
	'email: a newline is invalid');
SELECT is(cmp.email_is_valid('alice@exa_mple.com'), false,
	'email: an underscore in the domain is invalid');
SELECT is(cmp.email_is_valid('jörg@example.com'), false,
	'email: a non-ASCII local part is invalid');
SELECT is(cmp.email_is_valid(pg_catalog.repeat('a', 64) OPERATOR(pg_catalog.||) '@'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('b', 63) OPERATOR(pg_catalog.||) '.'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('c', 63) OPERATOR(pg_catalog.||) '.'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('d', 61)), true,
	'email: 254 characters is valid');
SELECT is(cmp.email_is_valid(pg_catalog.repeat('a', 64) OPERATOR(pg_catalog.||) '@'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('b', 63) OPERATOR(pg_catalog.||) '.'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('c', 63) OPERATOR(pg_catalog.||) '.'
		OPERATOR(pg_catalog.||) pg_catalog.repeat('d', 62)), false,
	'email: 255 characters is too long');
SELECT is(cmp.email_is_valid(pg_catalog.repeat('a', 65) OPERATOR(pg_catalog.||) '@example.com'), false,
	'email: a local part over 64 characters is invalid');

-- ---- ISO 3166-1 alpha-2 ----------------------------------------------------

SELECT is(cmp.country_is_valid('DE'), true, 'country: DE is assigned');
SELECT is(cmp.country_is_valid('US'), true, 'country: US is assigned');
SELECT is(cmp.country_is_valid('AT'), true, 'country: AT is assigned');
SELECT is(cmp.country_is_valid('AD'), true, 'country: AD, the first code, is assigned');
SELECT is(cmp.country_is_valid('ZW'), true, 'country: ZW, the last code, is assigned');
SELECT is(cmp.country_is_valid('XX'), false, 'country: XX is user-assigned, not a country');
SELECT is(cmp.country_is_valid('UK'), false, 'country: UK is only reserved; the code is GB');
SELECT is(cmp.country_is_valid('EU'), false, 'country: EU is only reserved');
SELECT is(cmp.country_is_valid('de'), false, 'country: lower case is invalid');
SELECT is(cmp.country_is_valid('D'), false, 'country: one letter is invalid');
SELECT is(cmp.country_is_valid('DEU'), false, 'country: an alpha-3 code is invalid');
SELECT is(cmp.country_is_valid(''), false, 'country: the empty string is invalid');
SELECT is(
	(SELECT pg_catalog.count(*)
	   FROM pg_catalog.generate_series(65, 90) AS a,
	        pg_catalog.generate_series(65, 90) AS b
	  WHERE cmp.country_is_valid(pg_catalog.chr(a) OPERATOR(pg_catalog.||) pg_catalog.chr(b))),
	249::bigint,
	'country: exactly the 249 officially assigned alpha-2 codes are valid'
);

-- ---- ISO 4217 --------------------------------------------------------------

SELECT is(cmp.currency_is_valid('EUR'), true, 'currency: EUR is active');
SELECT is(cmp.currency_is_valid('USD'), true, 'currency: USD is active');
SELECT is(cmp.currency_is_valid('CHF'), true, 'currency: CHF is active');
SELECT is(cmp.currency_is_valid('XAU'), true, 'currency: XAU (gold) is an active code');
SELECT is(cmp.currency_is_valid('EUX'), false, 'currency: EUX is not a code');
SELECT is(cmp.currency_is_valid('eur'), false, 'currency: lower case is invalid');
SELECT is(cmp.currency_is_valid('EU'), false, 'currency: two letters is invalid');
SELECT is(cmp.currency_is_valid('EURO'), false, 'currency: four letters is invalid');
SELECT is(cmp.currency_is_valid('DEM'), false, 'currency: DEM is obsolete');
SELECT is(cmp.currency_is_valid('HRK'), false, 'currency: HRK is obsolete since Croatia adopted the euro');
SELECT is(cmp.currency_is_valid('XXX'), false, 'currency: XXX means no currency');

SELECT * FROM finish();
ROLLBACK;
