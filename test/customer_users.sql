-- Customer users (SPEC §2 rules 3, 4 and 6, §5, §6, §8): create_customer_user,
-- assign_user_to_customers, unassign_user_from_customers, set_user_status,
-- the account rule held by the tables themselves, and what a customer user
-- sees as its assignments and its status change.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.  Everything happens in one transaction that is rolled back.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixtures; CMP users act through the non-superuser role ro_t_cu_app, so that
-- row-level security applies to what they read.

BEGIN;
SELECT plan(123);

-- ---- helpers ---------------------------------------------------------------

CREATE ROLE ro_t_cu_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_t_cu_app;
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO ro_t_cu_app;

-- Ids by name.  SECURITY DEFINER (owned by the superuser, which bypasses row-
-- level security; users are read from the table behind the masking view),
-- so that a test can name an object its actor cannot see.
CREATE FUNCTION t.aid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT account_id FROM cmp.account WHERE account_number = $1$$;
CREATE FUNCTION t.uid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT user_id FROM cmp.app_user_data WHERE login = $1$$;
CREATE FUNCTION t.cid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT customer_id FROM cmp.customer WHERE name = $1$$;

-- The truth, read past row-level security.
CREATE FUNCTION t.assigned(text) RETURNS bigint[] LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT coalesce(array_agg(uc.customer_id ORDER BY uc.customer_id), '{}')
	       FROM cmp.user_customer uc JOIN cmp.app_user_data u USING (user_id)
	      WHERE u.login = $1$$;
CREATE FUNCTION t.audits(op text, login text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT count(*) FROM cmp.audit_log a
	      WHERE a.operation = $1 AND a.resource_id = (SELECT user_id::text FROM cmp.app_user_data WHERE login = $2)$$;
CREATE FUNCTION t.counts() RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT format('app_user=%s user_customer=%s audit_log=%s',
	                   (SELECT count(*) FROM cmp.app_user_data),
	                   (SELECT count(*) FROM cmp.user_customer),
	                   (SELECT count(*) FROM cmp.audit_log))$$;

-- A valid ICCID: 19 digits, prefix 89, Luhn check digit.
\ir fixtures/luhn.sql
CREATE FUNCTION t.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))
$$;

-- Switching actors.  The actor is set for the session (is_local => false)
-- so that it survives pgTAP's own statements; the transaction undoes it.
CREATE FUNCTION t.act(login text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_cu_app;
	PERFORM cmp.set_actor(t.uid(login), false);
END $$;
CREATE FUNCTION t.nobody() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_cu_app;
END $$;
CREATE FUNCTION t.system() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
END $$;
-- Run one statement as the system actor while the session keeps its actor
-- and role: the function-level SET restores cmp.actor on return.
CREATE FUNCTION t.sys_exec(sql text) RETURNS text LANGUAGE plpgsql SET cmp.actor TO '' AS $$
DECLARE
	r text;
BEGIN
	EXECUTE sql INTO r;
	RETURN r;
END $$;
CREATE FUNCTION t.as_system(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	was name := current_user;
	r text;
BEGIN
	RESET ROLE;
	r := t.sys_exec(sql);
	EXECUTE format('SET ROLE %I', was);
	RETURN r;
END $$;

-- Run one statement as the superuser by hand (no cmp function involved) while
-- the session keeps its actor setting untouched: what the actor sees next
-- then depends only on the extension noticing the change to its tables.
CREATE FUNCTION t.by_hand(sql text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	was name := current_user;
BEGIN
	RESET ROLE;
	EXECUTE sql;
	EXECUTE format('SET ROLE %I', was);
END $$;

-- ---- fixtures (system actor) -----------------------------------------------

SELECT t.system();
DO $fixtures$
BEGIN
	PERFORM cmp.create_account('A1', 'Reseller One', 'RESELLER', true, 'PDF', 1);
	PERFORM cmp.create_account('A2', 'Standard Two');
	PERFORM cmp.create_user('csp1', 'csp1@example.com', 'CSP');
	PERFORM cmp.create_user('csp2', 'csp2@example.com', 'CSP');
	PERFORM cmp.create_user('acc1', 'acc1@example.com', 'ACCOUNT', t.aid('A1'));
	PERFORM cmp.create_user('acc2', 'acc2@example.com', 'ACCOUNT', t.aid('A2'));
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust One', status => 'ACTIVE',
		admin_login => 'adm1', admin_email => 'adm1@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust Two', status => 'ACTIVE',
		admin_login => 'adm2', admin_email => 'adm2@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust Three', status => 'ACTIVE',
		admin_login => 'adm3', admin_email => 'adm3@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust Susp', status => 'ACTIVE',
		admin_login => 'adm4', admin_email => 'adm4@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust Term');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'Cust Draft');
	PERFORM cmp.create_customer(account_id => t.aid('A2'), name => 'Other Cust', status => 'ACTIVE',
		admin_login => 'admB', admin_email => 'admB@example.com');
	-- adm1 administers Cust One and is also a user of Cust Three and Cust Susp
	PERFORM cmp.assign_user_to_customers(t.uid('adm1'), ARRAY[t.cid('Cust Three'), t.cid('Cust Susp')]);
	PERFORM cmp.set_customer_status(t.cid('Cust Susp'), 'SUSPENDED');
	PERFORM cmp.set_customer_status(t.cid('Cust Term'), 'TERMINATED');
	-- cu1: a plain (non-admin) user of Cust One
	PERFORM cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'cu1', 'cu1@example.com');
	PERFORM cmp.provision_sims(t.aid('A1'), ARRAY(SELECT t.iccid(i) FROM generate_series(1, 6) AS i));
	PERFORM cmp.assign_sims(t.cid('Cust One'), ARRAY[t.iccid(1), t.iccid(2)]);
	PERFORM cmp.assign_sims(t.cid('Cust Three'), ARRAY[t.iccid(3), t.iccid(4)]);
END
$fixtures$;

SELECT is(
	(SELECT count(*) FROM cmp.app_user WHERE login = ANY (ARRAY['csp1', 'csp2', 'acc1', 'acc2',
	        'adm1', 'adm2', 'adm3', 'adm4', 'admB', 'cu1'])),
	10::bigint,
	'fixtures: ten users exist');
SELECT is(t.iccid(1) IS NOT NULL AND cmp.iccid_is_valid(t.iccid(1)) AND cmp.iccid_is_valid(t.iccid(6)),
	true, 'fixtures: generated ICCIDs are valid');

-- ---- create_customer_user: what it creates ---------------------------------

SELECT t.act('acc1');
SELECT isnt(
	cmp.create_customer_user(customer_ids => ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
		login => 'nu1', email => 'nu1@example.com'),
	NULL,
	'create_customer_user: an ACCOUNT user creates a user for customers of its own account');
SELECT t.system();
SELECT is(
	(SELECT context_level || '/' || domain FROM cmp.app_user WHERE login = 'nu1'),
	'CUSTOMER/ENTERPRISE',
	'create_customer_user: the user has context CUSTOMER and domain ENTERPRISE (rule 3)');
SELECT is(
	(SELECT account_id FROM cmp.app_user WHERE login = 'nu1'), t.aid('A1'),
	'create_customer_user: the user belongs to the account of its customers');
SELECT is(t.assigned('nu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'create_customer_user: the user is assigned to every given customer');
SELECT is(t.audits('create_customer_user', 'nu1'), 1::bigint,
	'create_customer_user: one audit row');

SELECT t.act('adm1');
SELECT isnt(
	cmp.create_customer_user(ARRAY[t.cid('Cust One'), t.cid('Cust Three')], 'nu2', 'nu2@example.com'),
	NULL,
	'create_customer_user: a customer admin creates a user for ACTIVE customers it is assigned to');
SELECT is(t.assigned('nu2'), ARRAY[t.cid('Cust One'), t.cid('Cust Three')],
	'create_customer_user: the customer admin''s new user is assigned to those customers');

-- ---- create_customer_user: refusals ----------------------------------------

SELECT t.system();
CREATE TEMP TABLE counts_before ON COMMIT DROP AS SELECT t.counts() AS c;
GRANT SELECT ON counts_before TO ro_t_cu_app;

SELECT t.act('csp1');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'x1', 'x1@example.com')$$,
	'42501', NULL,
	'create_customer_user: a CSP user may not create customer users (§5)');

SELECT t.act('acc1');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Other Cust')], 'x2', 'x2@example.com')$$,
	'P0002', NULL,
	'create_customer_user: an ACCOUNT user cannot see a customer of another account');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One'), t.cid('Other Cust')], 'x3', 'x3@example.com')$$,
	'P0002', NULL,
	'create_customer_user: one customer of another account among its own refuses the whole call');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust Term')], 'x4', 'x4@example.com')$$,
	'55000', NULL,
	'create_customer_user: a TERMINATED customer gets no new users');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(NULL, 'x5', 'x5@example.com')$$,
	'22004', NULL,
	'create_customer_user: customer_ids NULL is refused');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[]::bigint[], 'x6', 'x6@example.com')$$,
	'22023', NULL,
	'create_customer_user: an empty customer_ids is refused (a customer user needs a customer)');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One'), NULL], 'x7', 'x7@example.com')$$,
	'22004', NULL,
	'create_customer_user: a NULL element in customer_ids is refused');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'x8', 'not-an-email')$$,
	'22023', NULL,
	'create_customer_user: a malformed email is refused');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'CU1', 'x9@example.com')$$,
	'23505', NULL,
	'create_customer_user: a login differing only in case is a duplicate');

SELECT t.act('acc2');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Other Cust')], 'Nu1', 'x10@example.com')$$,
	'23505', NULL,
	'create_customer_user: logins are unique across accounts, regardless of case');

SELECT t.act('cu1');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'x11', 'x11@example.com')$$,
	'42501', NULL,
	'create_customer_user: a customer user without admin rights may not create users');

SELECT t.act('adm1');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust Two')], 'x12', 'x12@example.com')$$,
	'P0002', NULL,
	'create_customer_user: a customer admin cannot see a customer of its account it is not assigned to');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One'), t.cid('Cust Two')], 'x13', 'x13@example.com')$$,
	'P0002', NULL,
	'create_customer_user: a customer admin''s call naming one foreign customer is refused whole');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust Susp')], 'x14', 'x14@example.com')$$,
	'55000', NULL,
	'create_customer_user: a SUSPENDED customer is read-only to its own admin');

SELECT t.nobody();
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'x15', 'x15@example.com')$$,
	'42501', NULL,
	'create_customer_user: a session with no actor may not create users');

SELECT t.system();
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One'), t.cid('Other Cust')], 'x16', 'x16@example.com')$$,
	'22023', NULL,
	'create_customer_user: customers of two accounts are refused even for the system actor (rule 4)');

SELECT is(t.counts(), (SELECT c FROM counts_before),
	'create_customer_user: refused calls write nothing (app_user, user_customer, audit_log unchanged)');
SELECT is((SELECT count(*) FROM cmp.app_user WHERE lower(login) ~ '^x[0-9]+$'), 0::bigint,
	'create_customer_user: no refused login was created');

-- ---- assign_user_to_customers / unassign_user_from_customers ---------------

SELECT t.act('acc1');
SELECT is(
	cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two'), t.cid('Cust Draft')]),
	2,
	'assign_user_to_customers: returns the number newly assigned (one was already assigned)');
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two'), t.cid('Cust Draft')],
	'assign_user_to_customers: the user is assigned to each customer');
SELECT is(t.audits('assign_user_to_customers', 'cu1'), 1::bigint,
	'assign_user_to_customers: the call is audited');
SELECT is(
	(SELECT new_value ->> 'changed' FROM cmp.audit_log
	  WHERE operation = 'assign_user_to_customers' AND resource_id = t.uid('cu1')::text),
	'2',
	'assign_user_to_customers: the audit row records how many were assigned');
SELECT is(
	cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Two'), t.cid('Cust Draft')]),
	0,
	'assign_user_to_customers: repeating it is not an error and assigns nothing');
SELECT is(t.audits('assign_user_to_customers', 'cu1'), 1::bigint,
	'assign_user_to_customers: a repeat that changed nothing writes no audit row');
SELECT throws_ok(
	format('SELECT cmp.assign_user_to_customers(%s, ARRAY[%s, %s])',
		t.uid('cu1'), t.cid('Cust Three'), (SELECT max(customer_id) + 1000 FROM cmp.customer)),
	'P0002', NULL,
	'assign_user_to_customers: an unknown customer refuses the whole call');
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two'), t.cid('Cust Draft')],
	'assign_user_to_customers: all-or-nothing: the valid customer of a refused call was not assigned');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Other Cust')])$$,
	'P0002', NULL,
	'assign_user_to_customers: an ACCOUNT user cannot see a customer of another account (rule 4)');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Term')])$$,
	'55000', NULL,
	'assign_user_to_customers: no user is assigned to a TERMINATED customer');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('acc1'), ARRAY[t.cid('Cust One')])$$,
	'22023', NULL,
	'assign_user_to_customers: only CUSTOMER-level users are assigned to customers');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('admB'), ARRAY[t.cid('Cust One')])$$,
	'P0002', NULL,
	'assign_user_to_customers: an ACCOUNT user cannot see a user of another account');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), NULL)$$,
	'22004', NULL,
	'assign_user_to_customers: customer_ids NULL is refused');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(NULL, ARRAY[t.cid('Cust One')])$$,
	'22004', NULL,
	'assign_user_to_customers: user_id NULL is refused');

SELECT is(
	cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Draft')]),
	1,
	'unassign_user_from_customers: returns the number unassigned');
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'unassign_user_from_customers: the assignment is gone');
SELECT is(
	cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Draft')]),
	0,
	'unassign_user_from_customers: repeating it is not an error and unassigns nothing');
SELECT is(t.audits('unassign_user_from_customers', 'cu1'), 1::bigint,
	'unassign_user_from_customers: audited once; the repeat wrote no audit row');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')])$$,
	'55000', NULL,
	'unassign_user_from_customers: a customer user is never left with no customer');
SELECT throws_ok(
	format('SELECT cmp.unassign_user_from_customers(%s, ARRAY[%s, %s])',
		t.uid('cu1'), t.cid('Cust Two'), (SELECT max(customer_id) + 1000 FROM cmp.customer)),
	'P0002', NULL,
	'unassign_user_from_customers: an unknown customer refuses the whole call');
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'unassign_user_from_customers: refused calls left both assignments in place');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('adm1'), ARRAY[t.cid('Cust One')])$$,
	'55000', NULL,
	'unassign_user_from_customers: the admin user of a customer cannot be unassigned from it');
SELECT is(t.assigned('adm1'), ARRAY[t.cid('Cust One'), t.cid('Cust Three'), t.cid('Cust Susp')],
	'unassign_user_from_customers: the customer admin keeps its customers');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('acc1'), ARRAY[t.cid('Cust One')])$$,
	'22023', NULL,
	'unassign_user_from_customers: only CUSTOMER-level users have customers to unassign');

SELECT t.act('acc2');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Two')])$$,
	'P0002', NULL,
	'unassign_user_from_customers: an ACCOUNT user cannot see a user of another account');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('admB'), ARRAY[t.cid('Cust One')])$$,
	'P0002', NULL,
	'assign_user_to_customers: an ACCOUNT user cannot see a customer of another account');

SELECT t.system();
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Other Cust')])$$,
	'22023', NULL,
	'assign_user_to_customers: a user of one account is refused a customer of another even for the system actor (rule 4)');
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'assign_user_to_customers: the cross-account assignment was not made');

-- customer admins: within the customers they are assigned to (ACTIVE only)
SELECT t.act('adm1');
SELECT is(
	cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Three')]),
	1,
	'assign_user_to_customers: a customer admin assigns a user of its customers to another of its customers');
SELECT is(
	cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Three')]),
	1,
	'unassign_user_from_customers: a customer admin unassigns a user from one of its customers');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Draft')])$$,
	'P0002', NULL,
	'assign_user_to_customers: a customer admin cannot see a customer it is not assigned to');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Susp')])$$,
	'55000', NULL,
	'assign_user_to_customers: a SUSPENDED customer is read-only to its own admin');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('adm2'), ARRAY[t.cid('Cust One')])$$,
	'P0002', NULL,
	'assign_user_to_customers: a customer admin cannot see a user of a customer it is not assigned to');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('nu1'), ARRAY[t.cid('Cust Two')])$$,
	'P0002', NULL,
	'unassign_user_from_customers: a customer admin cannot unassign from a customer it is not assigned to');
SELECT is(t.assigned('nu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'unassign_user_from_customers: the refused customer admin call changed nothing');

-- who may not at all
SELECT t.act('csp1');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Three')])$$,
	'42501', NULL,
	'assign_user_to_customers: a CSP user may not assign customer users (§5)');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Two')])$$,
	'42501', NULL,
	'unassign_user_from_customers: a CSP user may not unassign customer users (§5)');
SELECT t.act('cu1');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust One')])$$,
	'42501', NULL,
	'assign_user_to_customers: a customer user without admin rights may not assign users');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Two')])$$,
	'42501', NULL,
	'unassign_user_from_customers: a customer user without admin rights may not unassign users');
SELECT t.nobody();
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Three')])$$,
	'42501', NULL,
	'assign_user_to_customers: a session with no actor may not assign users');
SELECT throws_ok(
	$$SELECT cmp.unassign_user_from_customers(t.uid('cu1'), ARRAY[t.cid('Cust Two')])$$,
	'42501', NULL,
	'unassign_user_from_customers: a session with no actor may not unassign users');
SELECT t.system();
SELECT is(t.assigned('cu1'), ARRAY[t.cid('Cust One'), t.cid('Cust Two')],
	'assign/unassign: refused actors changed nothing');

-- ---- rule 4 in the tables themselves ---------------------------------------

SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id)
	  VALUES (t.uid('cu1'), t.cid('Other Cust'), t.aid('A1'))$$,
	'23503', NULL,
	'user_customer: a superuser cannot insert a customer of another account with the user''s account (rule 4)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id)
	  VALUES (t.uid('cu1'), t.cid('Other Cust'), t.aid('A2'))$$,
	'23503', NULL,
	'user_customer: a superuser cannot insert a user of another account with the customer''s account (rule 4)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id)
	  VALUES (t.uid('acc1'), t.cid('Cust One'), t.aid('A1'))$$,
	'23503', NULL,
	'user_customer: a superuser cannot assign an ACCOUNT-level user to a customer');
SELECT lives_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id)
	  VALUES (t.uid('cu1'), t.cid('Cust Three'), t.aid('A1'))$$,
	'user_customer: the same insert within one account is accepted (the refusals above are rule 4)');
DELETE FROM cmp.user_customer WHERE user_id = t.uid('cu1') AND customer_id = t.cid('Cust Three');

-- ---- set_user_status ---------------------------------------------------------

SELECT t.act('csp1');
SELECT is(cmp.set_user_status(t.uid('acc2'), 'LOCKED'), 'ACTIVE',
	'set_user_status: a CSP user locks a user of any account and gets the previous status');
SELECT is(cmp.set_user_status(t.uid('acc2'), 'ACTIVE'), 'LOCKED',
	'set_user_status: unlocking returns the previous status LOCKED');
SELECT is(cmp.set_user_status(t.uid('csp2'), 'LOCKED'), 'ACTIVE',
	'set_user_status: a CSP user locks another CSP user');
SELECT is(cmp.set_user_status(t.uid('admB'), 'LOCKED'), 'ACTIVE',
	'set_user_status: a CSP user locks a customer user');
SELECT is(cmp.set_user_status(t.uid('admB'), 'LOCKED'), 'LOCKED',
	'set_user_status: setting the status a user already has returns it');
SELECT t.system();
SELECT is((SELECT status FROM cmp.app_user WHERE login = 'admB'), 'LOCKED',
	'set_user_status: the status is stored');
SELECT is(t.audits('set_user_status', 'admB'), 1::bigint,
	'set_user_status: audited once; the repeat wrote no audit row');

SELECT t.act('acc1');
SELECT is(cmp.set_user_status(t.uid('cu1'), 'LOCKED'), 'ACTIVE',
	'set_user_status: an ACCOUNT user locks a user of its account');
SELECT is(cmp.set_user_status(t.uid('cu1'), 'ACTIVE'), 'LOCKED',
	'set_user_status: an ACCOUNT user unlocks a user of its account');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('acc2'), 'LOCKED')$$,
	'P0002', NULL,
	'set_user_status: an ACCOUNT user cannot see a user of another account');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('csp1'), 'LOCKED')$$,
	'P0002', NULL,
	'set_user_status: an ACCOUNT user cannot see CSP users');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('cu1'), 'DISABLED')$$,
	'22023', NULL,
	'set_user_status: a status other than ACTIVE or LOCKED is refused');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('cu1'), NULL)$$,
	'22004', NULL,
	'set_user_status: status NULL is refused');

SELECT t.act('adm1');
SELECT is(cmp.set_user_status(t.uid('cu1'), 'LOCKED'), 'ACTIVE',
	'set_user_status: a customer admin locks a user of its own customer');
SELECT is(cmp.set_user_status(t.uid('cu1'), 'ACTIVE'), 'LOCKED',
	'set_user_status: a customer admin unlocks a user of its own customer');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('adm2'), 'LOCKED')$$,
	'P0002', NULL,
	'set_user_status: a customer admin cannot see a user of a customer it is not assigned to');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('acc1'), 'LOCKED')$$,
	'P0002', NULL,
	'set_user_status: a customer admin cannot lock an ACCOUNT user of its account');

SELECT t.act('cu1');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('nu1'), 'LOCKED')$$,
	'42501', NULL,
	'set_user_status: a customer user without admin rights may not lock users');
SELECT t.nobody();
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('cu1'), 'LOCKED')$$,
	'42501', NULL,
	'set_user_status: a session with no actor may not lock users');
SELECT t.system();
SELECT is(
	(SELECT array_agg(login ORDER BY login) FROM cmp.app_user WHERE status = 'LOCKED'),
	ARRAY['admB', 'csp2'],
	'set_user_status: refused calls locked nobody');

-- ---- a locked user does not act ----------------------------------------------

SELECT t.nobody();
SELECT throws_ok(
	$$SELECT cmp.set_actor(t.uid('admB'), false)$$,
	'55000', NULL,
	'set_actor: a LOCKED user cannot be set as the actor');

-- adm1 acts, and is locked by the system while its session still names it
SELECT t.act('adm1');
SELECT is((SELECT count(*) FROM cmp.sim_card), 4::bigint,
	'locked actor: before the lock, the customer admin sees the SIMs of its customers');
SELECT is((SELECT count(*) FROM cmp.customer), 3::bigint,
	'locked actor: before the lock, the customer admin sees its three customers');
SELECT is(t.as_system($$SELECT cmp.set_user_status(t.uid('adm1'), 'LOCKED')$$), 'ACTIVE',
	'locked actor: the system locks the acting user in the same transaction');
SELECT is((SELECT count(*) FROM cmp.sim_card), 0::bigint,
	'locked actor: a session whose actor was locked sees no SIM cards');
SELECT is((SELECT count(*) FROM cmp.customer), 0::bigint,
	'locked actor: a session whose actor was locked sees no customers');
SELECT is((SELECT count(*) FROM cmp.app_user), 0::bigint,
	'locked actor: a session whose actor was locked sees no users');
-- (setting a status the user already has: harmless should the check be missing)
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('cu1'), 'ACTIVE')$$,
	'42501', NULL,
	'locked actor: may not set user statuses any more');
SELECT throws_ok(
	$$SELECT cmp.assign_user_to_customers(t.uid('cu1'), ARRAY[t.cid('Cust Three')])$$,
	'42501', NULL,
	'locked actor: may not assign users any more');
SELECT throws_ok(
	$$SELECT cmp.create_customer_user(ARRAY[t.cid('Cust One')], 'x20', 'x20@example.com')$$,
	'42501', NULL,
	'locked actor: may not create users any more');
SELECT is(t.as_system($$SELECT cmp.set_user_status(t.uid('adm1'), 'ACTIVE')$$), 'LOCKED',
	'locked actor: the system unlocks the user');
SELECT is((SELECT count(*) FROM cmp.sim_card), 4::bigint,
	'locked actor: once unlocked, the same session sees the SIMs again');

-- the same, with the lock written by hand: the actor setting never changes
SELECT t.by_hand($$UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE login = 'adm1'$$);
SELECT is((SELECT count(*) FROM cmp.sim_card), 0::bigint,
	'locked actor: a lock written to cmp.app_user by hand hides every SIM at once');
SELECT is((SELECT count(*) FROM cmp.customer), 0::bigint,
	'locked actor: a lock written to cmp.app_user by hand hides every customer at once');
SELECT throws_ok(
	$$SELECT cmp.set_user_status(t.uid('cu1'), 'ACTIVE')$$,
	'42501', NULL,
	'locked actor: after a lock written by hand the actor may change nothing');
SELECT t.by_hand($$UPDATE cmp.app_user_data SET status = 'ACTIVE' WHERE login = 'adm1'$$);
SELECT is((SELECT count(*) FROM cmp.sim_card), 4::bigint,
	'locked actor: an unlock written by hand shows the SIMs again');

-- ---- visibility follows assignment at once -----------------------------------

SELECT t.act('cu1');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust Three')), 0::bigint,
	'visibility: a customer user does not see SIMs of a customer it is not assigned to (rule 6)');
SELECT is((SELECT count(*) FROM cmp.sim_card), 2::bigint,
	'visibility: a customer user sees the SIMs of its customers (rule 6)');
SELECT is(
	t.as_system(format('SELECT cmp.assign_user_to_customers(%s, ARRAY[%s])',
		t.uid('cu1'), t.cid('Cust Three'))),
	'1',
	'visibility: the user is assigned to another customer in the same transaction');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust Three')), 2::bigint,
	'visibility: right after the assignment the user sees that customer''s SIMs');
SELECT is(
	(SELECT count(*) FROM cmp.customer WHERE customer_id = t.cid('Cust Three')), 1::bigint,
	'visibility: right after the assignment the user sees that customer');
SELECT is(
	t.as_system(format('SELECT cmp.unassign_user_from_customers(%s, ARRAY[%s])',
		t.uid('cu1'), t.cid('Cust Three'))),
	'1',
	'visibility: the user is unassigned again in the same transaction');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust Three')), 0::bigint,
	'visibility: right after the unassignment the user no longer sees that customer''s SIMs');
SELECT is(
	(SELECT count(*) FROM cmp.customer WHERE customer_id = t.cid('Cust Three')), 0::bigint,
	'visibility: right after the unassignment the user no longer sees that customer');

-- the same, with the assignment written by hand: the actor setting never changes
SELECT t.by_hand(format('INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (%s, %s, %s)',
	t.uid('cu1'), t.cid('Cust Three'), t.aid('A1')));
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust Three')), 2::bigint,
	'visibility: an assignment written to cmp.user_customer by hand shows that customer''s SIMs at once');
SELECT t.by_hand(format('DELETE FROM cmp.user_customer WHERE user_id = %s AND customer_id = %s',
	t.uid('cu1'), t.cid('Cust Three')));
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust Three')), 0::bigint,
	'visibility: an unassignment written to cmp.user_customer by hand hides that customer''s SIMs at once');

-- a customer's status decides too: SUSPENDED still shows, TERMINATED does not
SELECT is(
	t.as_system(format('SELECT cmp.set_customer_status(%s, %L)', t.cid('Cust One'), 'SUSPENDED')),
	'ACTIVE',
	'visibility: (the system suspends Cust One)');
SELECT is((SELECT count(*) FROM cmp.sim_card WHERE customer_id = t.cid('Cust One')), 2::bigint,
	'visibility: a customer user still sees the SIMs of its SUSPENDED customer');
SELECT is((SELECT count(*) FROM cmp.customer WHERE name = 'Cust Two'), 1::bigint,
	'visibility: a customer user sees its ACTIVE customer Cust Two');
SELECT t.by_hand($$UPDATE cmp.customer SET status = 'TERMINATED', terminated_at = now() WHERE name = 'Cust Two'$$);
SELECT is((SELECT count(*) FROM cmp.customer WHERE name = 'Cust Two'), 0::bigint,
	'visibility: a customer TERMINATED (here by hand) disappears from its users at once');

SELECT t.system();
SELECT * FROM finish();
ROLLBACK;
