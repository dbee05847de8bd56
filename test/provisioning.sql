-- Provisioning: cmp.create_account, cmp.create_user and cmp.provision_sims
-- (SPEC §5, §6, §7, §8) as the system actor (a superuser with no actor) and
-- as CMP users acting through a non-superuser application role.
--
-- Every refusal is checked with its SQLSTATE; every successful changing call
-- must write exactly one audit row naming the actor (NULL for the system),
-- the database role and the operation.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.

BEGIN;
SELECT plan(106);

-- ---- helpers ---------------------------------------------------------------

\ir fixtures/luhn.sql

-- The error a statement raises (all NULL when it succeeds; its effects are
-- rolled back either way).
CREATE FUNCTION pg_temp.error_of(stmt text, OUT state text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE stmt;
		RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'succeeded';
	EXCEPTION
		WHEN assert_failure THEN RETURN;
		WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
			                        detail = PG_EXCEPTION_DETAIL;
	END;
END $$;

-- Audit rows written since the last pg_temp.mark(), read as the superuser
-- (owner) so that row-level security does not hide any of them.
CREATE TEMPORARY TABLE audit_mark (event_id bigint NOT NULL) ON COMMIT DROP;
INSERT INTO audit_mark VALUES (0);
GRANT ALL ON audit_mark TO PUBLIC;
CREATE FUNCTION pg_temp.mark() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	UPDATE pg_temp.audit_mark
	   SET event_id = (SELECT coalesce(max(a.event_id), 0) FROM cmp.audit_log a)
	RETURNING event_id
$$;
CREATE FUNCTION pg_temp.audit_new()
RETURNS TABLE (actor_user_id bigint, db_role text, operation text, account_id bigint)
LANGUAGE sql SECURITY DEFINER AS $$
	SELECT a.actor_user_id, a.db_role::text, a.operation, a.account_id
	  FROM cmp.audit_log a
	 WHERE a.event_id > (SELECT m.event_id FROM pg_temp.audit_mark m)
	 ORDER BY a.event_id
$$;
CREATE FUNCTION pg_temp.audit_total() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	SELECT count(*) FROM cmp.audit_log
$$;
CREATE FUNCTION pg_temp.sim_total() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$
	SELECT count(*) FROM cmp.sim_card
$$;

-- The application's connection role: not a superuser, allowed to set the
-- actor (SPEC §4). prov_mapped exists only to be mapped by db_role.
CREATE ROLE prov_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO prov_app;
CREATE ROLE prov_mapped NOLOGIN;

-- ===========================================================================
-- The system actor: a superuser with no actor set
-- ===========================================================================

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_account(account_number => 'PA-A', name => 'Standard A') AS acct_a \gset
SELECT results_eq(
	format('SELECT account_number, name, account_type, customer_invoice_creation,
	               customer_invoice_type, customer_billing_cycle_day
	          FROM cmp.account WHERE account_id = %s', :acct_a),
	$$VALUES ('PA-A', 'Standard A', 'STANDARD', NULL::boolean, NULL::text, NULL::integer)$$,
	'system: create_account makes a STANDARD account without a profile by default');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (NULL::bigint, %L, %L, %s::bigint)', 'postgres', 'create_account', :acct_a),
	'system: create_account writes one audit row, actor NULL, db_role postgres');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_account(account_number => 'PA-B', name => 'Reseller B', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'BOTH',
	customer_billing_cycle_day => 28) AS acct_b \gset
SELECT results_eq(
	format('SELECT account_type, customer_invoice_creation, customer_invoice_type,
	               customer_billing_cycle_day
	          FROM cmp.account WHERE account_id = %s', :acct_b),
	$$VALUES ('RESELLER', true, 'BOTH', 28)$$,
	'system: create_account makes a RESELLER account with its profile');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (NULL::bigint, %L, %L, %s::bigint)', 'postgres', 'create_account', :acct_b),
	'system: creating the reseller account writes one audit row');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_user(login => 'prov.csp', email => 'prov.csp@example.com',
	context_level => 'CSP', full_name => 'CSP Operator') AS csp_id \gset
SELECT results_eq(
	format('SELECT login, context_level, domain, account_id, is_admin, status
	          FROM cmp.app_user WHERE user_id = %s', :csp_id),
	$$VALUES ('prov.csp', 'CSP', 'CSP', NULL::bigint, false, 'ACTIVE')$$,
	'system: create_user makes an ACTIVE CSP user with domain CSP and no account');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (NULL::bigint, %L, %L, NULL::bigint)', 'postgres', 'create_user'),
	'system: create_user writes one audit row, actor NULL');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_user(login => 'prov.a.admin', email => 'a.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct_a, is_admin => true) AS a_admin \gset
SELECT results_eq(
	format('SELECT context_level, domain, account_id, is_admin FROM cmp.app_user WHERE user_id = %s', :a_admin),
	format('VALUES (%L, %L, %s::bigint, true)', 'ACCOUNT', 'ENTERPRISE', :acct_a),
	'system: create_user makes an ACCOUNT admin with domain ENTERPRISE in its account');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (NULL::bigint, %L, %L, %s::bigint)', 'postgres', 'create_user', :acct_a),
	'system: creating an ACCOUNT user writes one audit row carrying its account');

SELECT cmp.create_user(login => 'prov.a.user', email => 'a.user@example.com',
	context_level => 'ACCOUNT', account_id => :acct_a) AS a_user \gset
SELECT cmp.create_user(login => 'prov.b.admin', email => 'b.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct_b, is_admin => true) AS b_admin \gset

-- db_role mapping
SELECT pg_temp.mark() AS mark \gset
SELECT lives_ok(
	format($$SELECT cmp.create_user(login => 'prov.mapped', email => 'mapped@example.com',
	           context_level => 'ACCOUNT', account_id => %s, db_role => 'prov_mapped')$$, :acct_a),
	'system: create_user maps an existing database role');
SELECT is((SELECT db_role::text FROM cmp.app_user WHERE login = 'prov.mapped'), 'prov_mapped',
	'system: the mapped role is stored in db_role');
SELECT is((SELECT count(*) FROM pg_temp.audit_new()), 1::bigint,
	'system: create_user with db_role writes one audit row');

-- ---- create_account refusals ------------------------------------------------

SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER')$$,
	'22023', NULL,
	'create_account: a RESELLER account without a profile is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER',
	      customer_invoice_creation => true, customer_invoice_type => 'PDF')$$,
	'22023', NULL,
	'create_account: a RESELLER account without a billing cycle day is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'STANDARD',
	      customer_invoice_creation => false, customer_invoice_type => 'RAW',
	      customer_billing_cycle_day => 1)$$,
	'22023', NULL,
	'create_account: a STANDARD account with a profile is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X',
	      customer_billing_cycle_day => 5)$$,
	'22023', NULL,
	'create_account: a STANDARD account with only a billing cycle day is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER',
	      customer_invoice_creation => true, customer_invoice_type => 'XML',
	      customer_billing_cycle_day => 1)$$,
	'22023', NULL,
	'create_account: invoice type XML is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER',
	      customer_invoice_creation => true, customer_invoice_type => 'PDF',
	      customer_billing_cycle_day => 0)$$,
	'22023', NULL,
	'create_account: billing cycle day 0 is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER',
	      customer_invoice_creation => true, customer_invoice_type => 'PDF',
	      customer_billing_cycle_day => 29)$$,
	'22023', NULL,
	'create_account: billing cycle day 29 is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'PREMIUM')$$,
	'22023', NULL,
	'create_account: an unknown account type is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-A', name => 'Again')$$,
	'23505', NULL,
	'create_account: a duplicate account number is refused (23505)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => NULL, name => 'X')$$,
	'22004', NULL,
	'create_account: a NULL account_number is refused (22004)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => NULL)$$,
	'22004', NULL,
	'create_account: a NULL name is refused (22004)');
SELECT lives_ok(
	$$SELECT cmp.create_account(account_number => 'PA-X', name => 'X', account_type => 'RESELLER',
	      customer_invoice_creation => true, customer_invoice_type => 'PDF',
	      customer_billing_cycle_day => 1)$$,
	'create_account control: the same reseller with cycle day 1 and type PDF is accepted');

-- ---- create_user refusals ---------------------------------------------------

SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com',
	           context_level => 'CUSTOMER', account_id => %s)$$, :acct_a),
	'22023', NULL,
	'create_user: context CUSTOMER is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com',
	           context_level => 'CSP', account_id => %s)$$, :acct_a),
	'22023', NULL,
	'create_user: a CSP user with an account_id is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com', context_level => 'ACCOUNT')$$,
	'22004', NULL,
	'create_user: an ACCOUNT user without account_id is refused (22004)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com',
	      context_level => 'ACCOUNT', account_id => 987654321)$$,
	'P0002', NULL,
	'create_user: an unknown account is refused (P0002)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com', context_level => 'RESELLER')$$,
	'22023', NULL,
	'create_user: an unknown context level is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'not-an-email', context_level => 'CSP')$$,
	'22023', NULL,
	'create_user: a malformed email is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => NULL, context_level => 'CSP')$$,
	'22004', NULL,
	'create_user: a NULL email is refused (22004)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => NULL, email => 'x@example.com', context_level => 'CSP')$$,
	'22004', NULL,
	'create_user: a NULL login is refused (22004)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'PROV.CSP', email => 'x@example.com', context_level => 'CSP')$$,
	'23505', NULL,
	'create_user: a login differing only in case (PROV.CSP vs prov.csp) is refused (23505)');
SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'Prov.A.Admin', email => 'x@example.com',
	           context_level => 'ACCOUNT', account_id => %s)$$, :acct_b),
	'23505', NULL,
	'create_user: logins are unique across accounts regardless of case (23505)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com', context_level => 'CSP',
	      db_role => 'prov_no_such_role')$$,
	'22023', NULL,
	'create_user: a db_role that is not a database role is refused (22023)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com', context_level => 'CSP',
	      db_role => 'prov_mapped')$$,
	'23505', NULL,
	'create_user: a db_role already mapped to another user is refused (23505)');
SELECT lives_ok(
	$$SELECT cmp.create_user(login => 'prov.x', email => 'x@example.com', context_level => 'CSP')$$,
	'create_user control: the same CSP user without the faulty values is accepted');

-- ---- provision_sims as the system actor --------------------------------------

SELECT pg_temp.mark() AS mark \gset
SELECT is(
	cmp.provision_sims(account_id => :acct_a,
		iccids => ARRAY[pg_temp.luhn('890100000000000001'), pg_temp.luhn('890100000000000002'),
		                pg_temp.luhn('8901000000000000003')],
		imsis => ARRAY['262011234567801', NULL, '262011234567803'],
		msisdns => ARRAY['4915112345601', '4915112345602', NULL]),
	3::bigint,
	'system: provision_sims returns the number of SIMs added');
SELECT set_eq(
	format($$SELECT iccid, imsi, msisdn, account_id, customer_id FROM cmp.sim_card
	          WHERE account_id = %s$$, :acct_a),
	format($$VALUES (%L, %L, %L, %s::bigint, NULL::bigint),
	                (%L, NULL, %L, %s::bigint, NULL::bigint),
	                (%L, %L, NULL, %s::bigint, NULL::bigint)$$,
	       pg_temp.luhn('890100000000000001'), '262011234567801', '4915112345601', :acct_a,
	       pg_temp.luhn('890100000000000002'), '4915112345602', :acct_a,
	       pg_temp.luhn('8901000000000000003'), '262011234567803', :acct_a),
	'system: provision_sims stores each SIM with its IMSI and MSISDN, unassigned, in the account');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (NULL::bigint, %L, %L, %s::bigint)', 'postgres', 'provision_sims', :acct_a),
	'system: a bulk provision_sims writes exactly one audit row');
SELECT ok(
	(SELECT bool_or(v.value = '3') FROM cmp.audit_log a, jsonb_each_text(a.new_value) v
	  WHERE a.event_id > :mark AND jsonb_typeof(a.new_value) = 'object'),
	'system: the provision_sims audit row carries the count (3)');

-- ---- provision_sims refusals -------------------------------------------------

SELECT pg_temp.sim_total() AS sims_before \gset
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => NULL)$$, :acct_a),
	'22004', NULL,
	'provision_sims: NULL iccids is refused (22004)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, NULL])$$,
	       :acct_a, pg_temp.luhn('890100000000000011')),
	'22004', NULL,
	'provision_sims: an array with a NULL element is refused (22004)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => NULL, iccids => ARRAY[%L])$$,
	       pg_temp.luhn('890100000000000011')),
	'22004', NULL,
	'provision_sims: a NULL account_id is refused (22004)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => 987654321, iccids => ARRAY[%L])$$,
	       pg_temp.luhn('890100000000000011')),
	'P0002', NULL,
	'provision_sims: an unknown account is refused (P0002)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY['894922700012345670'])$$, :acct_a),
	'22023', NULL,
	'provision_sims: an 18-digit ICCID is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY['8991101200003204515'])$$, :acct_a),
	'22023', NULL,
	'provision_sims: an ICCID with a bad check digit is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY['89911012000032045A4'])$$, :acct_a),
	'22023', NULL,
	'provision_sims: an ICCID with letters is refused (22023)');

-- Twelve malformed ICCIDs among valid ones: the DETAIL names how many (12)
-- and the first ten in input order, and not the eleventh and twelfth.
CREATE TEMPORARY TABLE bad_iccid (pos int, iccid text, bad boolean) ON COMMIT DROP;
INSERT INTO bad_iccid VALUES
	(1, pg_temp.luhn('890100000000000021'), false),
	(2, '8991101200003204515', true),              -- bad check digit
	(3, '899110120000320452', true),               -- 18 digits
	(4, '89911012000032045A4', true),              -- a letter
	(5, pg_temp.luhn('890100000000000022'), false),
	(6, '891234', true),                           -- far too short
	(7, '8991101200003204514000', true),           -- 22 digits
	(8, 'ABCDEFGHIJKLMNOPQRS', true),              -- letters only
	(9, pg_temp.luhn('880000000000000201'), true), -- prefix 88
	(10, '8949227000123456788', true),             -- bad check digit
	(11, '89492270001234567890', true),            -- bad check digit, 20 digits
	(12, '8901260882310123456X', true),            -- a letter at the end
	(13, pg_temp.luhn('890100000000000023'), false),
	(14, '8944301012345678901', true),             -- 11th bad: bad check digit
	(15, '89443010123456789', true);               -- 12th bad: 17 digits
GRANT SELECT ON bad_iccid TO PUBLIC;

CREATE TEMPORARY TABLE malformed_error ON COMMIT DROP AS
SELECT * FROM pg_temp.error_of(format(
	'SELECT cmp.provision_sims(account_id => %s, iccids => %L::text[])', :acct_a,
	(SELECT array_agg(iccid ORDER BY pos) FROM bad_iccid)));

SELECT is((SELECT state FROM malformed_error), '22023',
	'provision_sims: a batch with twelve malformed ICCIDs is refused (22023)');
SELECT ok((SELECT detail ~ '\m12\M' FROM malformed_error),
	'provision_sims: the DETAIL says how many ICCIDs are malformed (12); got: '
	|| coalesce((SELECT detail FROM malformed_error), 'no detail'));
SELECT is_empty(
	$$SELECT b.pos, b.iccid FROM pg_temp.bad_iccid b, pg_temp.malformed_error e
	   WHERE b.bad AND b.pos <= 12 AND position(b.iccid IN coalesce(e.detail, '')) = 0$$,
	'provision_sims: the DETAIL names each of the first ten malformed ICCIDs');
SELECT is_empty(
	$$SELECT b.pos, b.iccid FROM pg_temp.bad_iccid b, pg_temp.malformed_error e
	   WHERE b.pos > 12 AND position(b.iccid IN coalesce(e.detail, '')) > 0$$,
	'provision_sims: the DETAIL stops at ten (the 11th and 12th are not named)');
SELECT is_empty(
	$$SELECT b.pos, b.iccid FROM pg_temp.bad_iccid b, pg_temp.malformed_error e
	   WHERE NOT b.bad AND position(b.iccid IN coalesce(e.detail, '')) > 0$$,
	'provision_sims: the DETAIL does not name the valid ICCIDs');
SELECT ok(
	(SELECT bool_and(p1 < p2) FROM (
		SELECT position(b.iccid IN e.detail) AS p1,
		       lead(position(b.iccid IN e.detail)) OVER (ORDER BY b.pos) AS p2
		  FROM pg_temp.bad_iccid b, pg_temp.malformed_error e
		 WHERE b.bad AND b.pos <= 12) AS x WHERE p2 IS NOT NULL),
	'provision_sims: the DETAIL lists the malformed ICCIDs in input order');
SELECT is(pg_temp.sim_total(), :sims_before::bigint,
	'provision_sims: the failing batch with valid and malformed ICCIDs added no SIM');

SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L, %L])$$, :acct_a,
	       pg_temp.luhn('890100000000000031'), pg_temp.luhn('890100000000000032'),
	       pg_temp.luhn('890100000000000031')),
	'23505', NULL,
	'provision_sims: an ICCID repeated in the input is refused (23505)');

CREATE TEMPORARY TABLE duplicate_error ON COMMIT DROP AS
SELECT * FROM pg_temp.error_of(format(
	'SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L])', :acct_b,
	pg_temp.luhn('890100000000000041'), pg_temp.luhn('890100000000000001')));
SELECT is((SELECT state FROM duplicate_error), '23505',
	'provision_sims: an ICCID that already exists (in another account) is refused (23505)');
SELECT ok((SELECT position(pg_temp.luhn('890100000000000001') IN coalesce(detail, '')) > 0
             AND position(pg_temp.luhn('890100000000000041') IN coalesce(detail, '')) = 0
             FROM duplicate_error),
	'provision_sims: the DETAIL names the existing ICCID, not the new one; got: '
	|| coalesce((SELECT detail FROM duplicate_error), 'no detail'));

-- Twelve ICCIDs, each given twice: the DETAIL names how many (12) and the
-- first ten.
CREATE TEMPORARY TABLE repeated_error ON COMMIT DROP AS
SELECT * FROM pg_temp.error_of(format(
	'SELECT cmp.provision_sims(account_id => %s, iccids => %L::text[])', :acct_a,
	(SELECT array_agg(pg_temp.luhn('8901000000000006' || lpad(i::text, 2, '0')) ORDER BY k, i)
	   FROM generate_series(1, 12) AS i, generate_series(1, 2) AS k)));
SELECT is((SELECT state FROM repeated_error), '23505',
	'provision_sims: twelve repeated ICCIDs are refused (23505)');
SELECT ok((SELECT detail ~ '\m12\M' FROM repeated_error),
	'provision_sims: the DETAIL says how many ICCIDs are duplicates (12); got: '
	|| coalesce((SELECT detail FROM repeated_error), 'no detail'));
SELECT is(
	(SELECT count(*) FROM generate_series(1, 12) AS i, repeated_error e
	  WHERE position(pg_temp.luhn('8901000000000006' || lpad(i::text, 2, '0')) IN coalesce(e.detail, '')) > 0),
	10::bigint,
	'provision_sims: the DETAIL names exactly ten of the twelve repeated ICCIDs');

SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           imsis => ARRAY['262011234567851'])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'22023', NULL,
	'provision_sims: imsis with fewer elements than iccids is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           imsis => ARRAY['262011234567851', '26201123456785'])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'22023', NULL,
	'provision_sims: a 14-digit IMSI is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           imsis => ARRAY['262011234567851', '26201123456785A'])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'22023', NULL,
	'provision_sims: an IMSI with a letter is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           msisdns => ARRAY['4915112345651', '1234567'])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'22023', NULL,
	'provision_sims: a 7-digit MSISDN is refused (22023)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           imsis => ARRAY['262011234567801', NULL])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'23505', NULL,
	'provision_sims: an IMSI already used by another SIM is refused (23505)');
SELECT is(pg_temp.sim_total(), :sims_before::bigint,
	'provision_sims: none of the refused calls added a SIM');
SELECT lives_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L],
	           imsis => ARRAY['262011234567851', '262011234567852'])$$, :acct_a,
	       pg_temp.luhn('890100000000000051'), pg_temp.luhn('890100000000000052')),
	'provision_sims control: the same two SIMs with valid IMSIs are accepted');

-- ===========================================================================
-- A CSP user, through the non-superuser application role
-- ===========================================================================

SET ROLE prov_app;
SELECT cmp.set_actor(:csp_id, false) AS ignored \gset
SELECT is((SELECT context_level FROM cmp.whoami()), 'CSP',
	'the application role acts as the CSP user');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_account(account_number => 'PA-C', name => 'Standard C') AS acct_c \gset
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (%s::bigint, %L, %L, %s::bigint)', :csp_id, 'prov_app', 'create_account', :acct_c),
	'CSP user: create_account is allowed and writes one audit row naming the user and the role');
SELECT is((SELECT created_by FROM cmp.account WHERE account_id = :acct_c), :csp_id::bigint,
	'CSP user: the account records who created it');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_user(login => 'prov.c.admin', email => 'c.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct_c, is_admin => true) AS c_admin \gset
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (%s::bigint, %L, %L, %s::bigint)', :csp_id, 'prov_app', 'create_user', :acct_c),
	'CSP user: creating an ACCOUNT user in any account is allowed and audited once');

SELECT pg_temp.mark() AS mark \gset
SELECT lives_ok(
	$$SELECT cmp.create_user(login => 'prov.csp2', email => 'csp2@example.com', context_level => 'CSP')$$,
	'CSP user: creating another CSP user is allowed');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (%s::bigint, %L, %L, NULL::bigint)', :csp_id, 'prov_app', 'create_user'),
	'CSP user: creating a CSP user is audited once');

SELECT pg_temp.mark() AS mark \gset
SELECT is(
	cmp.provision_sims(account_id => :acct_b,
		iccids => ARRAY[pg_temp.luhn('890200000000000001'), pg_temp.luhn('890200000000000002')]),
	2::bigint,
	'CSP user: provision_sims is allowed and returns the count');
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (%s::bigint, %L, %L, %s::bigint)', :csp_id, 'prov_app', 'provision_sims', :acct_b),
	'CSP user: provision_sims writes one audit row');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE account_id = :acct_b), 2::bigint,
	'CSP user: the provisioned SIMs are in the reseller account and visible to the CSP user');

SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-C', name => 'Again')$$,
	'23505', NULL,
	'CSP user: a duplicate account number is refused (23505)');

-- ---- the audit log cannot be written by a non-owner ------------------------

SELECT pg_temp.audit_total() AS audit_before \gset
SELECT throws_ok(
	$$INSERT INTO cmp.audit_log (db_role, operation, resource_type) VALUES ('x', 'forged', 'account')$$,
	'42501', NULL,
	'audit log: INSERT by a non-superuser role is refused (42501)');
SELECT throws_ok(
	$$UPDATE cmp.audit_log SET operation = 'forged'$$,
	'42501', NULL,
	'audit log: UPDATE by a non-superuser role is refused (42501)');
SELECT throws_ok(
	$$DELETE FROM cmp.audit_log$$,
	'42501', NULL,
	'audit log: DELETE by a non-superuser role is refused (42501)');
SELECT throws_ok(
	$$TRUNCATE cmp.audit_log$$,
	'42501', NULL,
	'audit log: TRUNCATE by a non-superuser role is refused (42501)');
SELECT throws_ok(
	format($$INSERT INTO cmp.account (account_number, name) VALUES ('PA-DIRECT', 'Direct')$$),
	'42501', NULL,
	'direct INSERT into cmp.account by a non-superuser role is refused (42501)');
SELECT throws_ok(
	$$INSERT INTO cmp.sim_card (iccid, account_id) VALUES ('8991101200003204514', 1)$$,
	'42501', NULL,
	'direct INSERT into cmp.sim_card by a non-superuser role is refused (42501)');
SELECT is(pg_temp.audit_total(), :audit_before::bigint,
	'audit log: the refused writes left it unchanged');

-- ===========================================================================
-- An ACCOUNT admin
-- ===========================================================================

SELECT cmp.set_actor(:a_admin, false) AS ignored \gset
SELECT is((SELECT context_level FROM cmp.whoami()), 'ACCOUNT',
	'the application role acts as the ACCOUNT admin');

SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-D', name => 'D')$$,
	'42501', NULL,
	'ACCOUNT admin: create_account is refused (42501)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L])$$,
	       :acct_a, pg_temp.luhn('890300000000000001')),
	'42501', NULL,
	'ACCOUNT admin: provision_sims into its own account is refused (42501)');

SELECT pg_temp.mark() AS mark \gset
SELECT cmp.create_user(login => 'prov.a.second', email => 'a.second@example.com',
	context_level => 'ACCOUNT', account_id => :acct_a) AS a_second \gset
SELECT results_eq('SELECT * FROM pg_temp.audit_new()',
	format('VALUES (%s::bigint, %L, %L, %s::bigint)', :a_admin, 'prov_app', 'create_user', :acct_a),
	'ACCOUNT admin: creating an ACCOUNT user in its own account is allowed and audited once');
SELECT is((SELECT account_id FROM cmp.app_user WHERE user_id = :a_second), :acct_a::bigint,
	'ACCOUNT admin: the new user belongs to the admin''s account');

SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'prov.a.other', email => 'o@example.com',
	           context_level => 'ACCOUNT', account_id => %s)$$, :acct_b),
	'P0002', NULL,
	'ACCOUNT admin: creating a user in another account is refused as if it did not exist (P0002)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.a.csp', email => 'o@example.com', context_level => 'CSP')$$,
	'42501', NULL,
	'ACCOUNT admin: creating a CSP user is refused (42501)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.a.other', email => 'o@example.com',
	      context_level => 'ACCOUNT', account_id => 987654321)$$,
	'P0002', NULL,
	'ACCOUNT admin: creating a user in an unknown account is refused (P0002)');
SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'prov.a.cust', email => 'o@example.com',
	           context_level => 'CUSTOMER', account_id => %s)$$, :acct_a),
	'22023', NULL,
	'ACCOUNT admin: create_user with context CUSTOMER is refused (22023)');

-- ===========================================================================
-- An ACCOUNT user without admin rights
-- ===========================================================================

SELECT cmp.set_actor(:a_user, false) AS ignored \gset
SELECT is((SELECT user_id FROM cmp.whoami()), :a_user::bigint,
	'the application role acts as the non-admin ACCOUNT user');
SELECT throws_ok(
	format($$SELECT cmp.create_user(login => 'prov.a.third', email => 't@example.com',
	           context_level => 'ACCOUNT', account_id => %s)$$, :acct_a),
	'42501', NULL,
	'non-admin ACCOUNT user: creating a user in its own account is refused (42501)');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-E', name => 'E')$$,
	'42501', NULL,
	'non-admin ACCOUNT user: create_account is refused (42501)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L])$$,
	       :acct_a, pg_temp.luhn('890300000000000001')),
	'42501', NULL,
	'non-admin ACCOUNT user: provision_sims is refused (42501)');

-- ===========================================================================
-- No actor at all (a non-superuser role that is not mapped)
-- ===========================================================================

SELECT cmp.clear_actor() AS ignored \gset
SELECT is(cmp.actor_id(), NULL, 'after clear_actor the application role has no actor');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'PA-F', name => 'F')$$,
	'42501', NULL,
	'no actor: create_account is refused (42501)');
SELECT throws_ok(
	$$SELECT cmp.create_user(login => 'prov.nobody', email => 'n@example.com', context_level => 'CSP')$$,
	'42501', NULL,
	'no actor: create_user is refused (42501)');
SELECT throws_ok(
	format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L])$$,
	       :acct_a, pg_temp.luhn('890300000000000001')),
	'42501', NULL,
	'no actor: provision_sims is refused (42501)');
SELECT throws_ok(
	$$UPDATE cmp.audit_log SET reason = 'forged'$$,
	'42501', NULL,
	'no actor: UPDATE of the audit log is refused (42501)');

RESET ROLE;

-- ===========================================================================
-- Nobody but the owner may write the audit log
-- ===========================================================================

SELECT is_empty(
	$$SELECT r.rolname, p.priv
	    FROM pg_catalog.pg_roles r,
	         unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p (priv)
	   WHERE NOT r.rolsuper
	     AND r.rolname NOT LIKE 'pg\_%'
	     AND r.oid <> (SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'cmp.audit_log'::regclass)
	     AND has_table_privilege(r.oid, 'cmp.audit_log', p.priv)$$,
	'audit log: no non-superuser role but the owner holds INSERT, UPDATE, DELETE or TRUNCATE');

-- Even a role granted pg_write_all_data cannot change it: row-level
-- security has no policy for writes.
CREATE ROLE prov_writer NOLOGIN IN ROLE pg_write_all_data;
CREATE TEMPORARY TABLE audit_snapshot ON COMMIT DROP AS
SELECT md5(string_agg(a::text, '|' ORDER BY a.event_id)) AS digest FROM cmp.audit_log a;
SET ROLE prov_writer;
SELECT throws_ok(
	$$INSERT INTO cmp.audit_log (db_role, operation, resource_type) VALUES ('x', 'forged', 'account')$$,
	'42501', NULL,
	'audit log: INSERT by a member of pg_write_all_data is refused (42501)');
UPDATE cmp.audit_log SET operation = 'forged';
DELETE FROM cmp.audit_log;
RESET ROLE;
SELECT is(
	(SELECT md5(string_agg(a::text, '|' ORDER BY a.event_id)) FROM cmp.audit_log a),
	(SELECT digest FROM audit_snapshot),
	'audit log: UPDATE and DELETE by a member of pg_write_all_data changed no row');
SELECT cmp_ok((SELECT count(*) FROM cmp.audit_log), '>=', 10::bigint,
	'audit log: the successful calls of this file are all recorded');

SELECT * FROM finish();
ROLLBACK;
