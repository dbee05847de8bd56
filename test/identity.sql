-- Verified identities (SPEC §12), the rules that need no signing library:
-- who may add and revoke identity keys, which keys add_identity_key
-- accepts, who sees cmp.identity_key and that nobody but the owner reads its
-- key material, set_actor_by_login, the EXECUTE grants of the functions that
-- set an actor, and tokens refused before any signature is checked.
--
-- Real signed tokens (HS256, RS256, ES256; forged, expired, confused ones)
-- are checked by the scripted suite test/suites/tokens.sh.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(85);

CREATE ROLE ro_idk_app NOLOGIN;      -- the application: may set actors every way
CREATE ROLE ro_idk_nogrant NOLOGIN;  -- an ordinary role: may not
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean),
	cmp.set_actor_by_login(text, boolean),
	cmp.set_actor_token(text, boolean) TO ro_idk_app;

-- ---- fixture (as the system actor) -----------------------------------------

SELECT cmp.create_account(account_number => 'RO-IDK-R', name => 'Identity Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct_r \gset
SELECT cmp.create_user(login => 'idk_csp', email => 'idk.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'Idk_Account', email => 'idk.account@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, is_admin => true) AS acc \gset
SELECT cmp.create_user(login => 'idk_locked', email => 'idk.locked@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r) AS locked \gset
SELECT cmp.set_user_status(user_id => :locked, status => 'LOCKED') AS ignored \gset
SELECT cmp.create_customer(account_id => :acct_r, name => 'Identity Customer', status => 'ACTIVE',
	admin_login => 'idk_cadmin', admin_email => 'idk.cadmin@example.com') AS cust \gset
SELECT user_id AS cu FROM cmp.app_user_data WHERE login = 'idk_cadmin' \gset

-- base64url without padding, as in a JWS
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT rtrim(translate(replace(encode(b, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.b64url(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.b64url(convert_to(t, 'UTF8'))
$$;
-- the error set_actor_token raises: {sqlstate, message, detail, hint}, or NULL
CREATE FUNCTION pg_temp.token_error(token text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	PERFORM cmp.set_actor_token(token);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN ARRAY[st, msg, det, hnt];
END
$$;

-- secrets: 32 bytes (the least HS256 accepts) and 31 bytes, base64url
SELECT pg_temp.b64url(sha256('idk secret one')) AS hs_secret,
       pg_temp.b64url(sha256('idk secret two')) AS hs_secret2,
       pg_temp.b64url(substring(sha256('idk short') FROM 1 FOR 31)) AS hs_short \gset

-- public keys generated for this test (their private halves were thrown away;
-- p256priv is a private key made for the refusal below).  psql turns each \n
-- inside the quotes into a newline.
\set rsa2048 '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAiYFjTCHQQwY+sk4FxA5s\n8DPBnULGuMU/i+li2Edg0STBYuY+NeEfQp+hbUKBnIerNnYK2sb2shLs0XdIUHIP\nNEPSYh320rpAIS3RxYJOj2feUcxR0unZ+Y2eBp8qRWqPGh/N5UeyU5PMTeJ456dp\nrIRJ5xXLqKUu+OJv6STE8rk0nO9DtfGm628n0fMIbnj8qV9em62kyZr6G1GsBPTq\nO3p2jfp68ytvrHtJxPB7kqhvHmfCFlINLm7vUno1+4+RkBE27LeywbLouFZ4ss3P\nifWKGArWdhOlwfhqqlF3gvSXgh8+kS2/BfWQjemrPbuboEtx8TMXpcuGQWPgIh/K\ncQIDAQAB\n-----END PUBLIC KEY-----\n'
\set rsa1024 '-----BEGIN PUBLIC KEY-----\nMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC7OW5qpUCEzYoA/xOivQJjVrmY\nnaURVS6NjDxdjalcfWiIWLjndZ3gqpGkVZ16ffvuOsq4uWtAFpiBswC4ruWcpnig\n+qhGgNpI99cFLynJILIehCTNE4YGhEDOJo5iVjj+D+tlGflTaEiIHU8FSfFNmAi6\nzPZ6Gaa1+KWjql1tHQIDAQAB\n-----END PUBLIC KEY-----\n'
\set p256 '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYsuQjj2bUofnsKT0c4eTn7/aMVvx\nwv2I7STQLzZDUMTLBJfRRxllvLik8RVF2KeA25jMcu17qov8c8R4BVpzBg==\n-----END PUBLIC KEY-----\n'
\set p384 '-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEUKEtdf1QocxgIWlgGb+6MW5BH60sK6YV\nYtsFtN9vHYLDJFCI67GcDbBnqojP5JscgYwJ5upVsdg4R/Kj4kRblYhtM9Zav+M/\nU/6MhwYI0qv+PEE9gNKHfLm739c/WQyV\n-----END PUBLIC KEY-----\n'
\set k256 '-----BEGIN PUBLIC KEY-----\nMFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEZuSrleziCJr2nK2o0y8ETzFOIoa5ELHW\nH/gxxsie24x8vp+Ql+vOGdfamZuYIdfaBFjPm/QpBksPrk1++wGQUA==\n-----END PUBLIC KEY-----\n'
\set ed25519 '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAc8IfP38lUMre9kkw7U3xPU3w+gRkl5jmdz5MO8ATrB4=\n-----END PUBLIC KEY-----\n'
\set p256priv '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgaTFlDHlKyBweZ4zU\n+ldvN65jI7RP81kM7ZSPugEpJh+hRANCAARiy5COPZtSh+ewpPRzh5Ofv9oxW/HC\n/YjtJNAvNkNQxMsEl9FHGWW8uKTxFUXYp4DbmMxy7Xuqi/xzxHgFWnMG\n-----END PRIVATE KEY-----\n'
\set badpem '-----BEGIN PUBLIC KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PUBLIC KEY-----\n'

-- ---- who may manage keys ----------------------------------------------------

SELECT lives_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-hs', issuer => 'https://idp.example/',
	algorithm => 'HS256', key => %L)$$, :'hs_secret'),
	'add_identity_key: the system actor may add an HS256 key (a 32-byte base64url secret)');
SELECT lives_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-rs', issuer => 'https://idp.example/',
	algorithm => 'RS256', key => %L)$$, :'rsa2048'),
	'add_identity_key: the system actor may add an RS256 key (a 2048-bit RSA PEM public key)');

SET ROLE ro_idk_app;
SELECT cmp.set_actor(:csp);
SELECT lives_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-es', issuer => 'https://idp.example/',
	algorithm => 'ES256', key => %L, audience => 'portal',
	valid_until => now() + interval '1 day')$$, :'p256'),
	'add_identity_key: a CSP user may add an ES256 key (a P-256 PEM public key)');
SELECT cmp.set_actor(:acc);
SELECT throws_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-by-account', issuer => 'x',
	algorithm => 'HS256', key => %L)$$, :'hs_secret2'), '42501', NULL,
	'add_identity_key: an ACCOUNT user (an admin) may not add keys');
SELECT throws_ok($$SELECT cmp.revoke_identity_key('idk-hs')$$, '42501', NULL,
	'revoke_identity_key: an ACCOUNT user may not revoke keys');
SELECT cmp.set_actor(:cu);
SELECT throws_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-by-customer', issuer => 'x',
	algorithm => 'HS256', key => %L)$$, :'hs_secret2'), '42501', NULL,
	'add_identity_key: a CUSTOMER user (a customer admin) may not add keys');
SELECT throws_ok($$SELECT cmp.revoke_identity_key('idk-hs')$$, '42501', NULL,
	'revoke_identity_key: a CUSTOMER user may not revoke keys');
SELECT cmp.clear_actor();
SELECT throws_ok(format($$SELECT cmp.add_identity_key(key_id => 'idk-by-nobody', issuer => 'x',
	algorithm => 'HS256', key => %L)$$, :'hs_secret2'), '42501', NULL,
	'add_identity_key: a non-superuser with no actor may not add keys');
SELECT throws_ok($$SELECT cmp.revoke_identity_key('idk-hs')$$, '42501', NULL,
	'revoke_identity_key: a non-superuser with no actor may not revoke keys');
RESET ROLE;
SELECT is((SELECT count(*) FROM cmp.identity_key WHERE key_id LIKE 'idk-by-%'), 0::bigint,
	'the refused add_identity_key calls added nothing');
SELECT is((SELECT count(*) FROM cmp.identity_key WHERE revoked_at IS NOT NULL), 0::bigint,
	'the refused revoke_identity_key calls revoked nothing');

-- ---- which keys are accepted ------------------------------------------------

SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-none', 'x', 'none', %L)$$, :'hs_secret2'),
	'22023', NULL, 'add_identity_key: algorithm none is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-hs512', 'x', 'HS512', %L)$$, :'hs_secret2'),
	'22023', NULL, 'add_identity_key: algorithm HS512 (not HS256, RS256 or ES256) is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-ps256', 'x', 'PS256', %L)$$, :'rsa2048'),
	'22023', NULL, 'add_identity_key: algorithm PS256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-hs-short', 'x', 'HS256', %L)$$, :'hs_short'),
	'22023', NULL, 'add_identity_key: an HS256 secret of 31 bytes (less than 32) is refused');
SELECT throws_ok($$SELECT cmp.add_identity_key('idk-hs-notb64', 'x', 'HS256',
	'this is not base64url at all, but long enough!!')$$,
	'22023', NULL, 'add_identity_key: an HS256 secret that is not base64url is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-hs-pem', 'x', 'HS256', %L)$$, :'rsa2048'),
	'22023', NULL, 'add_identity_key: a PEM public key as an HS256 secret is refused');
SELECT throws_ok($$SELECT cmp.add_identity_key('idk-rs-text', 'x', 'RS256', 'not a PEM key')$$,
	'22023', NULL, 'add_identity_key: a key that is not PEM for RS256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-rs-secret', 'x', 'RS256', %L)$$, :'hs_secret2'),
	'22023', NULL, 'add_identity_key: an HS256 secret for RS256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-rs-badpem', 'x', 'RS256', %L)$$, :'badpem'),
	'22023', NULL, 'add_identity_key: a PEM block that holds no key is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-rs-1024', 'x', 'RS256', %L)$$, :'rsa1024'),
	'22023', NULL, 'add_identity_key: an RSA key of 1024 bits (less than 2048) is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-rs-ec', 'x', 'RS256', %L)$$, :'p256'),
	'22023', NULL, 'add_identity_key: an EC key for RS256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-es-rsa', 'x', 'ES256', %L)$$, :'rsa2048'),
	'22023', NULL, 'add_identity_key: an RSA key for ES256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-es-p384', 'x', 'ES256', %L)$$, :'p384'),
	'22023', NULL, 'add_identity_key: a P-384 key for ES256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-es-k256', 'x', 'ES256', %L)$$, :'k256'),
	'22023', NULL, 'add_identity_key: a secp256k1 key for ES256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-es-ed', 'x', 'ES256', %L)$$, :'ed25519'),
	'22023', NULL, 'add_identity_key: an Ed25519 key for ES256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-es-priv', 'x', 'ES256', %L)$$, :'p256priv'),
	'22023', NULL, 'add_identity_key: a private key (not a public one) for ES256 is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key('idk-hs', 'https://idp.example/', 'HS256', %L)$$,
	:'hs_secret2'), '23505', NULL, 'add_identity_key: a duplicate key_id is refused');
SELECT throws_ok(format($$SELECT cmp.add_identity_key(NULL, 'x', 'HS256', %L)$$, :'hs_secret2'),
	'22004', NULL, 'add_identity_key: a NULL key_id is refused');
SELECT throws_ok($$SELECT cmp.add_identity_key('idk-null-key', 'x', 'HS256', NULL)$$,
	'22004', NULL, 'add_identity_key: a NULL key is refused');
SELECT is((SELECT count(*) FROM cmp.identity_key), 3::bigint,
	'the refused add_identity_key calls added nothing (3 keys)');
SELECT results_eq(
	$$SELECT key_id, issuer, algorithm, audience, valid_until IS NOT NULL, revoked_at IS NULL,
	         valid_from <= now()
	    FROM cmp.identity_key ORDER BY key_id$$,
	$$VALUES ('idk-es'::text, 'https://idp.example/'::text, 'ES256'::text, 'portal'::text, true, true, true),
	         ('idk-hs', 'https://idp.example/', 'HS256', 'cmp', false, true, true),
	         ('idk-rs', 'https://idp.example/', 'RS256', 'cmp', false, true, true)$$,
	'identity_key: the keys as added (audience defaults to cmp, valid from now)');

SELECT throws_ok($$SELECT cmp.revoke_identity_key('idk-unknown')$$, 'P0002', NULL,
	'revoke_identity_key: an unknown key is refused as not found');
SELECT throws_ok($$SELECT cmp.revoke_identity_key(NULL)$$, '22004', NULL,
	'revoke_identity_key: NULL is refused');

-- ---- who sees the keys --------------------------------------------------------

SELECT is(has_column_privilege('public', 'cmp.identity_key', 'key_material', 'SELECT'), false,
	'identity_key: PUBLIC may not select key_material');
SELECT is(has_column_privilege('ro_idk_app', 'cmp.identity_key', 'key_material', 'SELECT'), false,
	'identity_key: the application role may not select key_material');
SELECT is_empty(
	$$SELECT r.rolname FROM pg_roles r
	   WHERE has_column_privilege(r.oid, 'cmp.identity_key', 'key_material', 'SELECT')
	     AND NOT r.rolsuper
	     AND NOT pg_has_role(r.oid, 'pg_read_all_data', 'USAGE')
	     AND r.oid <> (SELECT relowner FROM pg_class WHERE oid = 'cmp.identity_key'::regclass)$$,
	'identity_key: no role but the owner may select key_material (superusers and pg_read_all_data aside)');
SELECT is(has_table_privilege('public', 'cmp.identity_key', 'INSERT, UPDATE, DELETE, TRUNCATE'), false,
	'identity_key: PUBLIC may not write to it');

SET ROLE ro_idk_app;
SELECT cmp.set_actor(:csp);
SELECT is((SELECT count(*) FROM cmp.identity_key), 3::bigint,
	'identity_key: a CSP user sees every key');
SELECT lives_ok($$SELECT key_id, issuer, algorithm, audience, valid_from, valid_until, revoked_at
	FROM cmp.identity_key$$,
	'identity_key: a CSP user may read key_id, issuer, algorithm, audience, valid_from, valid_until, revoked_at');
SELECT throws_ok($$SELECT key_material FROM cmp.identity_key$$, '42501', NULL,
	'identity_key: a CSP user may not read key_material');
SELECT throws_ok($$SELECT * FROM cmp.identity_key$$, '42501', NULL,
	'identity_key: SELECT * (which includes key_material) is refused to a CSP user');
SELECT throws_ok($$SELECT count(*) FROM cmp.identity_key WHERE key_material LIKE 'A%'$$, '42501', NULL,
	'identity_key: key_material may not be used in a WHERE clause either');
SELECT throws_ok($$UPDATE cmp.identity_key SET revoked_at = NULL$$, '42501', NULL,
	'identity_key: a CSP user may not update it directly');
SELECT throws_ok(format($$INSERT INTO cmp.identity_key (key_id, issuer, algorithm, key_material)
	VALUES ('idk-direct', 'x', 'HS256', %L)$$, :'hs_secret2'), '42501', NULL,
	'identity_key: a CSP user may not insert into it directly');
SELECT throws_ok($$DELETE FROM cmp.identity_key$$, '42501', NULL,
	'identity_key: a CSP user may not delete from it directly');
SELECT cmp.set_actor(:acc);
SELECT is((SELECT count(*) FROM cmp.identity_key), 0::bigint,
	'identity_key: an ACCOUNT user sees no key');
SELECT cmp.set_actor(:cu);
SELECT is((SELECT count(*) FROM cmp.identity_key), 0::bigint,
	'identity_key: a CUSTOMER user sees no key');
SELECT cmp.clear_actor();
SELECT is((SELECT count(*) FROM cmp.identity_key), 0::bigint,
	'identity_key: a session with no actor sees no key');

-- revoking, as a CSP user
SELECT cmp.set_actor(:csp);
SELECT lives_ok($$SELECT cmp.revoke_identity_key('idk-rs')$$,
	'revoke_identity_key: a CSP user may revoke a key');
SELECT results_eq($$SELECT key_id FROM cmp.identity_key WHERE revoked_at IS NOT NULL$$,
	$$VALUES ('idk-rs'::text)$$,
	'revoke_identity_key: the key reads as revoked (revoked_at set)');
SELECT cmp.clear_actor();
RESET ROLE;

-- ---- set_actor_by_login ---------------------------------------------------------

SET ROLE ro_idk_app;
SELECT is(cmp.set_actor_by_login('idk_csp'), :csp::bigint,
	'set_actor_by_login: returns the user id');
SELECT is(cmp.actor_id(), :csp::bigint, 'set_actor_by_login: sets the actor');
SELECT is(cmp.set_actor_by_login('IDK_ACCOUNT'), :acc::bigint,
	'set_actor_by_login: the login is matched case-insensitively');
SELECT is(cmp.actor_id(), :acc::bigint, 'set_actor_by_login: the actor is the user of that login');
SELECT is((SELECT count(*) FROM cmp.customer), 1::bigint,
	'set_actor_by_login: the actor sees what that user sees');
SELECT cmp.clear_actor();
SELECT throws_ok($$SELECT cmp.set_actor_by_login('idk_nobody')$$, 'P0002', NULL,
	'set_actor_by_login: an unknown login is refused as not found (like set_actor of an unknown id)');
SELECT throws_ok($$SELECT cmp.set_actor_by_login('idk_locked')$$, '55000', NULL,
	'set_actor_by_login: a LOCKED user is refused (like set_actor)');
SELECT throws_ok(format('SELECT cmp.set_actor(%s)', :locked), '55000', NULL,
	'set_actor: the same LOCKED user is refused by set_actor too (control)');
SELECT throws_ok($$SELECT cmp.set_actor_by_login(NULL)$$, '22004', NULL,
	'set_actor_by_login: NULL is refused');
SELECT is(cmp.actor_id(), NULL, 'set_actor_by_login: the refused calls leave no actor');
RESET ROLE;

SET ROLE ro_idk_nogrant;
SELECT throws_ok($$SELECT cmp.set_actor_by_login('idk_csp')$$, '42501', NULL,
	'set_actor_by_login: refused without EXECUTE on it');
SELECT throws_ok($$SELECT cmp.set_actor_token('a.b.c')$$, '42501', NULL,
	'set_actor_token: refused without EXECUTE on it');
SELECT is(cmp.actor_id(), NULL, 'a role without the grants has no actor after trying');
RESET ROLE;

-- ---- EXECUTE grants ---------------------------------------------------------------
-- SPEC §4: set_actor is not granted to PUBLIC; §12: set_actor_by_login has
-- the same grant as set_actor, and set_actor_token "is granted separately
-- from set_actor".  Assumed here: separately means by the DBA too, so
-- PUBLIC may not execute set_actor_token either (an application role is
-- granted it, and only it, to be limited to actors that signed in).

SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.oid IN ('cmp.set_actor(bigint, boolean)'::regprocedure,
	                   'cmp.set_actor_by_login(text, boolean)'::regprocedure,
	                   'cmp.set_actor_token(text, boolean)'::regprocedure)
	     AND (p.proacl IS NULL
	          OR EXISTS (SELECT FROM aclexplode(p.proacl) a
	                      WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))$$,
	'EXECUTE on set_actor, set_actor_by_login and set_actor_token is not granted to PUBLIC');
SELECT is(has_function_privilege('ro_idk_nogrant', 'cmp.set_actor_by_login(text, boolean)', 'EXECUTE'), false,
	'an ordinary role may not execute set_actor_by_login');
SELECT is(has_function_privilege('ro_idk_nogrant', 'cmp.set_actor_token(text, boolean)', 'EXECUTE'), false,
	'an ordinary role may not execute set_actor_token');
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.oid IN ('cmp.set_actor_token(text, boolean)'::regprocedure,
	                   'cmp.set_actor_by_login(text, boolean)'::regprocedure,
	                   'cmp.add_identity_key(text, text, text, text, text, timestamptz)'::regprocedure,
	                   'cmp.revoke_identity_key(text)'::regprocedure)
	     AND p.provolatile <> 'v'$$,
	'set_actor_token, set_actor_by_login, add/revoke_identity_key are VOLATILE');
SELECT is(
	(SELECT array_to_string(p.proargnames, ',') FROM pg_proc p
	  WHERE p.oid = 'cmp.set_actor_token(text, boolean)'::regprocedure),
	'token,is_local',
	'set_actor_token has the arguments token and is_local');

-- ---- tokens refused before any signature is checked -----------------------------
-- header {"alg":"HS256","kid":"idk-hs"}, claims of the CSP user

SELECT pg_temp.b64url('{"alg":"HS256","kid":"idk-hs"}') AS hdr,
       pg_temp.b64url('{"alg":"none","kid":"idk-hs"}') AS hdr_none,
       pg_temp.b64url('{"alg":"HS256","kid":"idk-unknown"}') AS hdr_unknown,
       pg_temp.b64url(format('{"iss":"https://idp.example/","aud":"cmp","sub":"idk_csp","exp":%s}',
                             extract(epoch FROM now())::bigint + 600)) AS pay,
       pg_temp.b64url(sha256('not the signature')) AS sig \gset

SET ROLE ro_idk_app;
SELECT throws_ok($$SELECT cmp.set_actor_token('abc')$$, '42501', 'identity token refused',
	'set_actor_token: one part is refused');
SELECT throws_ok($$SELECT cmp.set_actor_token('a.b')$$, '42501', 'identity token refused',
	'set_actor_token: two parts are refused');
SELECT throws_ok($$SELECT cmp.set_actor_token('')$$, '42501', 'identity token refused',
	'set_actor_token: an empty token is refused');
SELECT throws_ok($$SELECT cmp.set_actor_token('a.b.c')$$, '42501', 'identity token refused',
	'set_actor_token: three parts that are not JSON are refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', pg_temp.b64url('not json') || '.' || :'pay' || '.' || :'sig'),
	'42501', 'identity token refused', 'set_actor_token: a header that is not JSON is refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', :'hdr' || '.' || pg_temp.b64url('{"sub":') || '.' || :'sig'),
	'42501', 'identity token refused', 'set_actor_token: claims that are not JSON are refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', :'hdr_none' || '.' || :'pay' || '.'),
	'42501', 'identity token refused', 'set_actor_token: alg none with an empty signature is refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', :'hdr_unknown' || '.' || :'pay' || '.' || :'sig'),
	'42501', 'identity token refused', 'set_actor_token: an unknown kid is refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', :'hdr' || '.' || :'pay' || '.' || :'sig'),
	'42501', 'identity token refused', 'set_actor_token: a wrong signature is refused');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', :'hdr' || '.' || :'pay' || '.' || :'sig' || '.' || :'sig'),
	'42501', 'identity token refused', 'set_actor_token: four parts are refused');
SELECT throws_ok($$SELECT cmp.set_actor_token(NULL)$$, '22004', NULL,
	'set_actor_token: NULL is refused as a missing argument');
SELECT throws_ok(format('SELECT cmp.set_actor_token(%L)', repeat('A', 1048576)),
	'42501', 'identity token refused', 'set_actor_token: 1 MB of garbage is refused');
SELECT is(cmp.actor_id(), NULL, 'set_actor_token: the refused tokens leave no actor');

-- the refusal names its reason and does not repeat the token
SELECT :'hdr' || '.' || :'pay' || '.' || :'sig' AS forged \gset
SELECT pg_temp.token_error(:'forged') AS e \gset
SELECT is((:'e'::text[])[1], '42501', 'set_actor_token: a forged token is 42501 (seen from PL/pgSQL)');
SELECT isnt(nullif((:'e'::text[])[3], ''), NULL, 'set_actor_token: the refusal has a DETAIL naming the reason');
SELECT ok(NOT (coalesce((:'e'::text[])[2], '') || ' ' || coalesce((:'e'::text[])[3], '') || ' ' ||
	coalesce((:'e'::text[])[4], '')) LIKE ANY (ARRAY['%' || :'pay' || '%', '%' || :'sig' || '%', '%' || :'hdr' || '%']),
	'set_actor_token: no part of the token appears in the message, DETAIL or HINT');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
