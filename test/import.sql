-- Customer import (SPEC §13, §6, §7, §8, §11): cmp.import_customers.
-- Each element of the JSON array is one create_customer call (same rules,
-- same SQLSTATE, message and detail as the single call); one report row per
-- element; all_or_nothing writes nothing when any element fails but still
-- reports every element; customer numbers stay gapless; one audit row and
-- one customer.created event per created customer, none for a failure.
-- request_id on import_customers is in test/request_id.sql.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.  Everything happens in one
-- transaction that is rolled back.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixtures.  Calls under test run as the superuser with
-- cmp.set_actor(user, false), which acts as that user; the superuser then
-- reads the truth past row-level security.  "No actor at all" is the
-- non-superuser role ro_imp_app with no actor and no db_role mapping.
--
-- Events: a call's events are written into cmp.event, numbered, at COMMIT
-- (the deferred trigger cmp.event_commit on cmp.audit_log).  This file never
-- commits, so it sets that trigger IMMEDIATE first: each event is then in
-- cmp.event at the end of the statement that wrote its audit row.

BEGIN;
SELECT plan(124);
SET CONSTRAINTS cmp.event_commit IMMEDIATE;

SET client_min_messages = warning;

CREATE ROLE ro_imp_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_imp_app;

-- ---- helpers ---------------------------------------------------------------

-- The single create_customer call an element stands for: each key as the
-- named argument of its type (JSON null as SQL NULL); the two arguments
-- without a default, when the element lacks them, as NULL.
CREATE FUNCTION pg_temp.single_call(el jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT cmp.create_customer(%s)',
	              string_agg(format('%I => %L::%s', e.key, e.value #>> '{}',
	                                CASE e.key WHEN 'account_id' THEN 'bigint'
	                                           WHEN 'billable' THEN 'boolean'
	                                           WHEN 'estimated_annual_revenue' THEN 'numeric'
	                                           ELSE 'text' END), ', '))
	  FROM jsonb_each('{"account_id": null, "name": null}'::jsonb || el) AS e
$$;

-- What that single call, made now by the current actor, answers: its
-- SQLSTATE, message and detail, or {created, NULL, NULL}.  Undone either way.
CREATE FUNCTION pg_temp.single(el jsonb) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	id bigint;
BEGIN
	BEGIN
		EXECUTE pg_temp.single_call(el) INTO id;
		RAISE EXCEPTION 'created %', id USING ERRCODE = 'ZZ001';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
			det = PG_EXCEPTION_DETAIL;
	END;
	IF st = 'ZZ001' THEN
		RETURN ARRAY['created', NULL, NULL];
	END IF;
	RETURN ARRAY[st, msg, nullif(det, '')];
END $$;

-- Rows written so far, past row-level security: a fingerprint of every
-- table a customer creation writes.
CREATE FUNCTION pg_temp.written() RETURNS text LANGUAGE sql AS $$
	SELECT format('customer=%s app_user=%s user_customer=%s history=%s audit=%s events=%s numbers=%s',
	              (SELECT count(*) FROM cmp.customer),
	              (SELECT count(*) FROM cmp.app_user_data),
	              (SELECT count(*) FROM cmp.user_customer),
	              (SELECT count(*) FROM cmp.customer_status_history),
	              (SELECT count(*) FROM cmp.audit_log),
	              (SELECT count(*) FROM cmp.event),
	              (SELECT string_agg(account_id || ':' || last_customer_number, ',' ORDER BY account_id)
	                 FROM cmp.account))
$$;

-- The report of the import under test, and the elements it was made of.
CREATE TEMP TABLE els (item integer PRIMARY KEY, el jsonb NOT NULL, what text NOT NULL,
	want text, phase text NOT NULL DEFAULT 'before');
CREATE TEMP TABLE singles (item integer PRIMARY KEY, res text[]);
CREATE TEMP TABLE rep (item integer, customer_id bigint, sqlstate text, message text, detail text);
CREATE TEMP TABLE mark (audit bigint, pending bigint);

-- ---- fixtures (system actor) ----------------------------------------------

SELECT cmp.create_account(account_number => 'IMP-R1', name => 'Import Reseller One',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 3) AS r1 \gset
SELECT cmp.create_account(account_number => 'IMP-R2', name => 'Import Reseller Two',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 9) AS r2 \gset
SELECT cmp.create_account(account_number => 'IMP-S1', name => 'Import Standard') AS s1 \gset
SELECT cmp.create_account(account_number => 'IMP-BULK', name => 'Import Bulk') AS rb \gset

SELECT cmp.create_user(login => 'imp_csp', email => 'imp.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'imp_acct1', email => 'imp.acct1@example.com',
	context_level => 'ACCOUNT', account_id => :r1, is_admin => true) AS acct1 \gset
SELECT cmp.create_user(login => 'imp_acct2', email => 'imp.acct2@example.com',
	context_level => 'ACCOUNT', account_id => :r2) AS acct2 \gset
SELECT cmp.create_user(login => 'imp_acctb', email => 'imp.acctb@example.com',
	context_level => 'ACCOUNT', account_id => :rb) AS acctb \gset

-- customer number 1 of r1, with its admin (a CUSTOMER user)
SELECT cmp.create_customer(account_id => :r1, name => 'Existing One',
	external_customer_number => 'EXT-1', status => 'ACTIVE',
	admin_login => 'imp_existing_admin', admin_email => 'imp.existing@example.com') AS c_existing \gset
SELECT admin_user_id AS cust_admin FROM cmp.customer WHERE customer_id = :c_existing \gset

-- ---- the arguments --------------------------------------------------------

SELECT cmp.set_actor(:acct1, false) AS _ \gset

SELECT throws_ok($$SELECT * FROM cmp.import_customers('{"account_id": 1, "name": "x"}')$$,
	'22023', 'customers must be a JSON array',
	'customers: a JSON object is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers('5')$$,
	'22023', 'customers must be a JSON array',
	'customers: a JSON number is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers('"[]"')$$,
	'22023', 'customers must be a JSON array',
	'customers: a JSON string is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers('null')$$,
	'22023', 'customers must be a JSON array',
	'customers: JSON null is not an array (22023)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers(NULL)$$,
	'22004', NULL,
	'customers: SQL NULL is refused (22004)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers('[]', NULL)$$,
	'22004', NULL,
	'all_or_nothing: NULL is refused (22004)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers((SELECT jsonb_agg(0) FROM generate_series(1, 100001)))$$,
	'22023', 'customers has 100001 elements, more than 100000',
	'customers: more than 100,000 elements are refused (22023) before any work');
SELECT is((SELECT count(*) || ' rows, ' || count(*) FILTER (WHERE sqlstate = '22023') || ' refused'
             FROM cmp.import_customers((SELECT jsonb_agg(0) FROM generate_series(1, 100000)))),
	'100000 rows, 100000 refused',
	'customers: exactly 100,000 elements are accepted, each reported');
SELECT is_empty($$SELECT * FROM cmp.import_customers('[]')$$,
	'customers: an empty array imports nothing and reports nothing');

SELECT pg_temp.written() AS w0 \gset
SELECT is(pg_temp.written(), :'w0', 'arguments: none of the calls above wrote anything');

-- ---- who may import ---------------------------------------------------------

SELECT cmp.set_actor(:csp, false) AS _ \gset
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %s, "name": "By CSP"}]')$$, :r1),
	'42501', NULL,
	'actor: a CSP user may not import customers (42501, like create_customer)');
SELECT throws_ok($$SELECT * FROM cmp.import_customers('[]')$$,
	'42501', NULL,
	'actor: a CSP user is refused even an empty import (42501 for the whole call)');
SELECT cmp.set_actor(:cust_admin, false) AS _ \gset
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %s, "name": "By Customer"}]', false)$$, :r1),
	'42501', NULL,
	'actor: a CUSTOMER user (even an admin) may not import customers (42501)');
SELECT cmp.clear_actor() AS _ \gset
SET ROLE ro_imp_app;
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %s, "name": "By Nobody"}]')$$, :r1),
	'42501', NULL,
	'actor: a session with no actor may not import (42501)');
RESET ROLE;
SELECT is(pg_temp.written(), :'w0', 'actor: the refused imports wrote nothing');

-- ---- one import, every kind of element (ACCOUNT user, all_or_nothing off) ----

-- phase 'after': the element depends on an earlier element of the import,
-- so its single call is made after the import.
INSERT INTO els (item, what, want, el, phase) VALUES
 (1, 'a simple customer', NULL, jsonb_build_object('account_id', :r1, 'name', 'Imp Good One'), 'before'),
 (2, 'name missing', '22004', jsonb_build_object('account_id', :r1), 'before'),
 (3, 'every field, ACTIVE billable with its admin', NULL, jsonb_build_object('account_id', :r1,
	'name', 'Imp Good Two', 'billable', true, 'status', 'ACTIVE',
	'external_customer_number', 'IMP-2', 'description', 'Fleet tracking', 'country', 'DE',
	'state', 'BE', 'zip_code', '10115', 'city', 'Berlin', 'street', 'Unter den Linden 1',
	'phone', '+4930123456', 'homepage', 'https://example.com/two',
	'linkedin', 'https://www.linkedin.com/company/imp-two',
	'estimated_annual_revenue', 1234567.50, 'revenue_currency', 'EUR',
	'admin_login', 'imp_admin_2', 'admin_email', 'imp.admin2@example.com',
	'admin_full_name', 'Admin Two'), 'before'),
 (4, 'name of an existing customer, other case', '23505', jsonb_build_object('account_id', :r1, 'name', 'EXISTING ONE'), 'before'),
 (5, 'external number of an existing customer', '23505', jsonb_build_object('account_id', :r1,
	'name', 'Imp Ext Dup', 'external_customer_number', 'EXT-1'), 'before'),
 (6, 'a STANDARD account not the actor''s', 'P0002', jsonb_build_object('account_id', :s1, 'name', 'Imp Other S'), 'before'),
 (7, 'another reseller''s account', 'P0002', jsonb_build_object('account_id', :r2, 'name', 'Imp Other R'), 'before'),
 (8, 'an account that does not exist', 'P0002', jsonb_build_object('account_id', 999999999, 'name', 'Imp Nowhere'), 'before'),
 (9, 'status SUSPENDED', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Suspended', 'status', 'SUSPENDED'), 'before'),
 (10, 'ACTIVE without an admin', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp No Admin', 'status', 'ACTIVE'), 'before'),
 (11, 'ACTIVE billable with an incomplete address', '22023', jsonb_build_object('account_id', :r1,
	'name', 'Imp No Address', 'status', 'ACTIVE', 'billable', true, 'country', 'DE',
	'admin_login', 'imp_admin_11', 'admin_email', 'imp.admin11@example.com'), 'before'),
 (12, 'invalid country', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Country', 'country', 'Germany'), 'before'),
 (13, 'invalid phone', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Phone', 'phone', '030 123456'), 'before'),
 (14, 'invalid homepage', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Homepage', 'homepage', 'ftp://example.com'), 'before'),
 (15, 'revenue without currency', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Revenue', 'estimated_annual_revenue', 1000), 'before'),
 (16, 'negative revenue', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Negative',
	'estimated_annual_revenue', -5, 'revenue_currency', 'EUR'), 'before'),
 (17, 'revenue below the cent', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Cents',
	'estimated_annual_revenue', 1.005, 'revenue_currency', 'EUR'), 'before'),
 (18, 'admin_login without admin_email', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Half Admin',
	'admin_login', 'imp_admin_18'), 'before'),
 (19, 'a name of 201 characters', '22023', jsonb_build_object('account_id', :r1, 'name', repeat('n', 201)), 'before'),
 (20, 'a control character in the name', '22023', jsonb_build_object('account_id', :r1, 'name', E'Imp\u0001Ctl'), 'before'),
 (21, 'an admin login already taken, other case', '23505', jsonb_build_object('account_id', :r1, 'name', 'Imp Taken Admin',
	'admin_login', 'IMP_EXISTING_ADMIN', 'admin_email', 'imp.taken@example.com'), 'before'),
 (22, 'account_id JSON null', '22004', jsonb_build_object('account_id', NULL, 'name', 'Imp Null Account'), 'before'),
 (23, 'billable JSON null', '22004', jsonb_build_object('account_id', :r1, 'name', 'Imp Null Billable', 'billable', NULL), 'before'),
 (24, 'status JSON null', '22004', jsonb_build_object('account_id', :r1, 'name', 'Imp Null Status', 'status', NULL), 'before'),
 (25, 'a JSON null optional field', NULL, jsonb_build_object('account_id', :r1, 'name', 'Imp Good Three', 'description', NULL), 'before'),
 (35, 'the name of an earlier element, other case', '23505', jsonb_build_object('account_id', :r1, 'name', 'imp good one'), 'after'),
 (36, 'the admin login of an earlier element, other case', '23505', jsonb_build_object('account_id', :r1,
	'name', 'Imp Admin Dup', 'admin_login', 'IMP_ADMIN_2', 'admin_email', 'imp.dup@example.com'), 'after'),
 (37, 'a simple customer after many failures', NULL, jsonb_build_object('account_id', :r1, 'name', 'Imp Good Four'), 'before');
-- elements only an import can have (no single call stands for them)
INSERT INTO els (item, what, want, el, phase) VALUES
 (26, 'a JSON number, not an object', '22023', '42', 'import'),
 (27, 'a JSON array, not an object', '22023', '[1]', 'import'),
 (28, 'an unknown key', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Unknown', 'nickname', 'x'), 'import'),
 (29, 'request_id is not an element field', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Req',
	'request_id', '00000000-0000-0000-0000-000000000001'), 'import'),
 (30, 'name as a JSON number', '22023', jsonb_build_object('account_id', :r1, 'name', 30), 'import'),
 (31, 'billable as a JSON string', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Bool', 'billable', 'true'), 'import'),
 (32, 'account_id as a JSON string', '22023', jsonb_build_object('account_id', :r1::text, 'name', 'Imp Id String'), 'import'),
 (33, 'account_id not an integer', '22023', jsonb_build_object('account_id', 1.5, 'name', 'Imp Id Fraction'), 'import'),
 (34, 'revenue as a JSON string', '22023', jsonb_build_object('account_id', :r1, 'name', 'Imp Rev String',
	'estimated_annual_revenue', '100', 'revenue_currency', 'EUR'), 'import'),
 (38, 'JSON null, not an object', '22023', 'null', 'import');

SELECT cmp.set_actor(:acct1, false) AS _ \gset
INSERT INTO singles SELECT item, pg_temp.single(el) FROM els WHERE phase = 'before';
SELECT is(ARRAY(SELECT item FROM singles WHERE res[1] = 'created' ORDER BY item),
	ARRAY(SELECT item FROM els WHERE phase = 'before' AND want IS NULL ORDER BY item),
	'fixture: exactly the elements meant to succeed succeed as single calls');
SELECT is(pg_temp.written(), :'w0', 'fixture: the single calls (each undone) wrote nothing');

SELECT (SELECT count(*) FROM cmp.audit_log) AS audit0, (SELECT max(event_id) FROM cmp.audit_log) AS audit_max0,
	(SELECT count(*) FROM cmp.event) AS pending0 \gset
INSERT INTO rep SELECT * FROM cmp.import_customers(
	(SELECT jsonb_agg(el ORDER BY item) FROM els), all_or_nothing => false);
INSERT INTO singles SELECT item, pg_temp.single(el) FROM els WHERE phase = 'after';

SELECT is(ARRAY(SELECT item FROM rep), ARRAY(SELECT generate_series(1, 38)),
	'report: one row per element, items 1..38 in order');
SELECT is(r.sqlstate, e.want,
	format('element %s (%s): %s', e.item, e.what, coalesce('refused with ' || e.want, 'created')))
  FROM els e JOIN rep r USING (item) ORDER BY e.item;
SELECT is(ARRAY[r.sqlstate, r.message, r.detail], s.res,
	format('element %s (%s): the same SQLSTATE, message and detail as the single create_customer call',
	       e.item, e.what))
  FROM els e JOIN rep r USING (item) JOIN singles s USING (item)
 WHERE e.want IS NOT NULL ORDER BY e.item;
SELECT is(ARRAY(SELECT item FROM rep WHERE customer_id IS NOT NULL AND sqlstate IS NULL
                  AND message IS NULL AND detail IS NULL ORDER BY item),
	ARRAY[1, 3, 25, 37],
	'report: a created element has its customer_id and no sqlstate, message or detail');
SELECT is((SELECT count(*) FROM rep WHERE sqlstate IS NOT NULL AND customer_id IS NULL AND message IS NOT NULL),
	(SELECT count(*) FROM els WHERE want IS NOT NULL),
	'report: a refused element has no customer_id, its SQLSTATE and its message');

-- the messages of the elements only an import can have
SELECT results_eq($$SELECT item, message, detail FROM rep WHERE item IN (26, 27, 28, 29, 30, 31, 32, 33, 34, 38) ORDER BY item$$,
	$$VALUES (26, 'element 26 of customers is not a JSON object', NULL::text),
	         (27, 'element 27 of customers is not a JSON object', NULL),
	         (28, 'unknown field "nickname"', 'Element 28 of customers.'),
	         (29, 'unknown field "request_id"', 'Element 29 of customers.'),
	         (30, 'name must be a JSON string', 'Element 30 of customers.'),
	         (31, 'billable must be true or false', 'Element 31 of customers.'),
	         (32, 'account_id must be an integer', 'Element 32 of customers.'),
	         (33, 'account_id must be an integer', 'Element 33 of customers.'),
	         (34, 'estimated_annual_revenue must be a JSON number', 'Element 34 of customers.'),
	         (38, 'element 38 of customers is not a JSON object', NULL)$$,
	'report: a non-object element, an unknown key or a wrong JSON type: 22023 naming the element');

-- what was written
SELECT results_eq(
	format($$SELECT r.item, c.customer_number, c.name FROM rep r JOIN cmp.customer c USING (customer_id)
	          WHERE c.account_id = %s ORDER BY r.item$$, :r1),
	$$VALUES (1, 2::bigint, 'Imp Good One'::text), (3, 3, 'Imp Good Two'), (25, 4, 'Imp Good Three'), (37, 5, 'Imp Good Four')$$,
	'numbering: the created customers get 2, 3, 4, 5 in element order, no gap for the 34 refused elements between them');
SELECT is((SELECT count(*) FROM cmp.customer WHERE account_id = :r1), 5::bigint,
	'numbering: the account holds exactly its first customer and the 4 imported');
SELECT is((SELECT last_customer_number FROM cmp.account WHERE account_id = :r1), 5::bigint,
	'numbering: the account''s last number is that of the last created customer');
SELECT is((SELECT string_agg(account_id || ':' || last_customer_number, ',' ORDER BY account_id)
             FROM cmp.account WHERE account_id <> :r1),
	format('%s:0,%s:0,%s:0', :r2, :s1, :rb),
	'numbering: the accounts other elements named are untouched');
SELECT results_eq(
	$$SELECT c.billable, c.status, c.external_customer_number, c.description, c.country, c.state,
	         c.zip_code, c.city, c.street, c.phone, c.homepage, c.linkedin,
	         c.estimated_annual_revenue, c.revenue_currency, u.login, u.email, u.full_name,
	         u.context_level, u.is_admin
	    FROM rep r JOIN cmp.customer c USING (customer_id)
	    JOIN cmp.app_user_data u ON u.user_id = c.admin_user_id WHERE r.item = 3$$,
	$$VALUES (true, 'ACTIVE'::text, 'IMP-2'::text, 'Fleet tracking'::text, 'DE'::text, 'BE'::text,
	          '10115'::text, 'Berlin'::text, 'Unter den Linden 1'::text, '+4930123456'::text,
	          'https://example.com/two'::text, 'https://www.linkedin.com/company/imp-two'::text,
	          1234567.50::numeric, 'EUR'::text, 'imp_admin_2'::text, 'imp.admin2@example.com'::text,
	          'Admin Two'::text, 'CUSTOMER'::text, true)$$,
	'element 3: every field is stored as given, and its admin is a CUSTOMER admin user');
SELECT is((SELECT array_agg(uc.customer_id) FROM cmp.user_customer uc JOIN cmp.app_user_data u USING (user_id)
            WHERE u.login = 'imp_admin_2'),
	ARRAY[(SELECT customer_id FROM rep WHERE item = 3)],
	'element 3: its admin user is assigned to its customer');
SELECT is((SELECT count(*) FROM cmp.app_user_data WHERE lower(login) IN ('imp_admin_2', 'imp_admin_11', 'imp_admin_18', 'imp_existing_admin')),
	2::bigint,
	'users: only the created element''s admin user exists beside the old one (none for refused elements 11, 18, 21, 36)');
SELECT results_eq(
	format($$SELECT from_status, to_status, changed_by FROM cmp.customer_status_history h
	          JOIN rep r USING (customer_id) ORDER BY r.item$$),
	format($$VALUES (NULL::text, 'DRAFT'::text, %1$s::bigint), (NULL, 'ACTIVE', %1$s), (NULL, 'DRAFT', %1$s), (NULL, 'DRAFT', %1$s)$$, :acct1),
	'history: each created customer has its first status row, by the importing user');

SELECT results_eq(
	format($$SELECT operation, resource_type, resource_id, account_id, customer_id, actor_user_id
	          FROM cmp.audit_log WHERE event_id > %s ORDER BY event_id$$, :audit_max0),
	format($$SELECT 'create_customer'::text, 'customer'::text, r.customer_id::text, %s::bigint, r.customer_id, %s::bigint
	           FROM rep r WHERE r.customer_id IS NOT NULL ORDER BY r.item$$, :r1, :acct1),
	'audit: one create_customer row per created customer, in element order, by the importing user; none for the refused ones');
SELECT is((SELECT count(*) FROM cmp.audit_log) - :audit0, 4::bigint,
	'audit: the import wrote exactly 4 audit rows');
SELECT results_eq(
	format($$SELECT event_type, account_id, customer_id, resource_type, resource_id, actor_user_id
	          FROM cmp.event ORDER BY event_id OFFSET %s$$, :pending0),
	format($$SELECT 'customer.created'::text, %s::bigint, r.customer_id, 'customer'::text, r.customer_id::text, %s::bigint
	           FROM rep r WHERE r.customer_id IS NOT NULL ORDER BY r.item$$, :r1, :acct1),
	'events: one customer.created event per created customer (its admin user in it, no separate user.created), none for a refused element');
SELECT is(
	(SELECT array_agg((p.payload ->> 'audit_event_id')::bigint ORDER BY p.event_id)
	   FROM (SELECT * FROM cmp.event ORDER BY event_id OFFSET :pending0) p),
	(SELECT array_agg(a.event_id ORDER BY a.event_id) FROM cmp.audit_log a WHERE a.event_id > :audit_max0),
	'events: each names its customer''s audit row');
SELECT is((SELECT p.payload -> 'new' ->> 'admin_user_id' FROM cmp.event p
            WHERE p.customer_id = (SELECT customer_id FROM rep WHERE item = 3)),
	(SELECT admin_user_id::text FROM cmp.customer WHERE customer_id = (SELECT customer_id FROM rep WHERE item = 3)),
	'events: element 3''s event carries its admin user');

-- the numbering goes on from there
SELECT cmp.create_customer(account_id => :r1, name => 'Imp Single After') AS c_after \gset
SELECT is((SELECT customer_number FROM cmp.customer WHERE customer_id = :c_after), 6::bigint,
	'numbering: a single create_customer after the import takes the next number (6)');

-- ---- all or nothing (the default) ------------------------------------------

SELECT pg_temp.written() AS w1 \gset
TRUNCATE rep;
INSERT INTO rep SELECT * FROM cmp.import_customers(format($$[
	{"account_id": %1$s, "name": "Aon A", "status": "ACTIVE", "admin_login": "imp_aon_a", "admin_email": "aon.a@example.com"},
	{"account_id": %1$s, "name": "Imp Good Two"},
	{"account_id": %1$s, "name": "Aon B"},
	{"account_id": %1$s, "name": "Aon C", "phone": "not a phone"},
	{"account_id": %1$s, "name": "Aon D"}]$$, :r1)::jsonb);
SELECT results_eq('SELECT item, customer_id, sqlstate, message, detail FROM rep',
	format($$VALUES
	  (1, NULL::bigint, NULL::text, 'not created: the import is all or nothing and another element failed'::text, NULL::text),
	  (2, NULL, '23505', 'customer name "Imp Good Two" is already used in account %s',
	      'Customer %s has that name; names are unique regardless of case among customers that are not TERMINATED.'),
	  (3, NULL, NULL, 'not created: the import is all or nothing and another element failed', NULL),
	  (4, NULL, '22023', 'invalid phone "not a phone"', NULL),
	  (5, NULL, NULL, 'not created: the import is all or nothing and another element failed', NULL)$$,
	  :r1, (SELECT customer_id FROM cmp.customer WHERE name = 'Imp Good Two')),
	'all_or_nothing: every element is reported, the failures with their error (not just the first), the others as not created');
SELECT is(pg_temp.written(), :'w1',
	'all_or_nothing: nothing is written (no customer, user, assignment, history, audit row, event, number)');
SELECT is((SELECT count(*) FROM cmp.app_user_data WHERE login = 'imp_aon_a'), 0::bigint,
	'all_or_nothing: the admin user of a valid element is not created either');

TRUNCATE rep;
INSERT INTO rep SELECT * FROM cmp.import_customers(format('[{"account_id": %1$s, "name": "Aon A"}, {"account_id": %1$s, "name": "Aon B"}]', :r1)::jsonb);
SELECT results_eq(
	$$SELECT r.item, c.customer_number, r.sqlstate, r.message FROM rep r JOIN cmp.customer c USING (customer_id) ORDER BY r.item$$,
	$$VALUES (1, 7::bigint, NULL::text, NULL::text), (2, 8, NULL, NULL)$$,
	'all_or_nothing: when every element is valid all are created, numbered 7, 8 right after the failed import');
SELECT is((SELECT count(*) FROM cmp.event WHERE customer_id IN (SELECT customer_id FROM rep)), 2::bigint,
	'all_or_nothing: and each has its event');

SELECT pg_temp.written() AS w2 \gset
SELECT is(
	(SELECT string_agg(item || ':' || sqlstate, ',' ORDER BY item) FROM cmp.import_customers(
		format('[{"account_id": %1$s}, {"account_id": %1$s, "name": "Aon A"}, 7]', :r1)::jsonb, false)),
	'1:22004,2:23505,3:22023',
	'all_or_nothing off, every element refused: each reported');
SELECT is(pg_temp.written(), :'w2', 'all_or_nothing off, every element refused: nothing written');
SELECT is(
	(SELECT string_agg(item || ':' || sqlstate, ',' ORDER BY item) FROM cmp.import_customers('[true]')),
	'1:22023',
	'all_or_nothing: a lone non-object element is reported, nothing written');
SELECT is(pg_temp.written(), :'w2', 'all_or_nothing: (still nothing written)');

-- an element refused in the middle of an all_or_nothing import that also
-- creates admin users: the same errors as all_or_nothing off
SELECT is(
	(SELECT array_agg(ARRAY[sqlstate, message] ORDER BY item) FROM cmp.import_customers(
		format('[{"account_id": %1$s, "name": "Aon E", "status": "ACTIVE", "admin_login": "imp_aon_e", "admin_email": "e@example.com"}, {"account_id": %1$s, "name": "Aon F", "admin_login": "IMP_AON_E", "admin_email": "f@example.com"}]', :r1)::jsonb)),
	ARRAY[ARRAY[NULL, 'not created: the import is all or nothing and another element failed'],
	      ARRAY['23505', 'login "IMP_AON_E" already exists']],
	'all_or_nothing: an element that repeats an earlier element''s admin login fails as it would after that element (23505), the other is not created');
SELECT is(pg_temp.written(), :'w2', 'all_or_nothing: (nothing written)');

-- ---- the system actor: several accounts in one import ------------------------

SELECT cmp.clear_actor() AS _ \gset
TRUNCATE rep;
TRUNCATE els;
TRUNCATE singles;
INSERT INTO els (item, what, want, el) VALUES
 (1, 'reseller two', NULL, jsonb_build_object('account_id', :r2, 'name', 'Sys R2 A')),
 (2, 'standard account', NULL, jsonb_build_object('account_id', :s1, 'name', 'Sys S1 A')),
 (3, 'billable on a STANDARD account', '22023', jsonb_build_object('account_id', :s1, 'name', 'Sys S1 Billable', 'billable', true)),
 (4, 'reseller two again', NULL, jsonb_build_object('account_id', :r2, 'name', 'Sys R2 B', 'billable', true)),
 (5, 'an account that does not exist', 'P0002', jsonb_build_object('account_id', 999999998, 'name', 'Sys Nowhere')),
 (6, 'reseller one', NULL, jsonb_build_object('account_id', :r1, 'name', 'Sys R1 A')),
 (7, 'standard account again', NULL, jsonb_build_object('account_id', :s1, 'name', 'Sys S1 B'));
INSERT INTO singles SELECT item, pg_temp.single(el) FROM els;
INSERT INTO rep SELECT * FROM cmp.import_customers((SELECT jsonb_agg(el ORDER BY item) FROM els), false);
SELECT results_eq(
	$$SELECT r.item, c.account_id, c.customer_number FROM rep r JOIN cmp.customer c USING (customer_id) ORDER BY r.item$$,
	format($$VALUES (1, %1$s::bigint, 1::bigint), (2, %2$s, 1), (4, %1$s, 2), (6, %3$s, 9), (7, %2$s, 2)$$, :r2, :s1, :r1),
	'system actor: elements of several accounts, each numbered within its own account without gaps');
SELECT is(ARRAY[r.sqlstate, r.message, r.detail], s.res,
	format('system actor, element %s (%s): the same error as the single call', e.item, e.what))
  FROM els e JOIN rep r USING (item) JOIN singles s USING (item) WHERE e.want IS NOT NULL ORDER BY e.item;
SELECT is((SELECT array_agg(actor_user_id IS NULL) FROM cmp.audit_log
            WHERE operation = 'create_customer' AND customer_id IN (SELECT customer_id FROM rep)),
	ARRAY[true, true, true, true, true],
	'system actor: its 5 audit rows are the system actor''s');

-- ---- an ACCOUNT user and another account's elements -------------------------

SELECT cmp.set_actor(:acct2, false) AS _ \gset
SELECT pg_temp.written() AS w3 \gset
SELECT is(
	(SELECT array_agg(ARRAY[sqlstate, message, detail] ORDER BY item)
	   FROM cmp.import_customers(format('[{"account_id": %s, "name": "Acct2 Own"}, {"account_id": %s, "name": "Acct2 Foreign"}]', :r2, :r1)::jsonb)),
	ARRAY[ARRAY[NULL, 'not created: the import is all or nothing and another element failed', NULL],
	      pg_temp.single(jsonb_build_object('account_id', :r1, 'name', 'Acct2 Foreign'))],
	'ACCOUNT user: an element of another account fails with P0002 exactly like create_customer, and stops the all-or-nothing import');
SELECT is(
	(SELECT sqlstate FROM cmp.import_customers(format('[{"account_id": %s, "name": "Acct2 Foreign"}]', :r1)::jsonb)),
	'P0002', 'ACCOUNT user: another account is P0002 (not visible), not 42501');
SELECT is(pg_temp.written(), :'w3', 'ACCOUNT user: nothing written');
SELECT is(
	(SELECT array_agg(customer_id IS NOT NULL ORDER BY item)
	   FROM cmp.import_customers(format('[{"account_id": %s, "name": "Acct2 Own"}, {"account_id": %s, "name": "Acct2 Foreign"}]', :r2, :r1)::jsonb, false)),
	ARRAY[true, false],
	'ACCOUNT user, all_or_nothing off: its own account''s element is created, the other account''s is not');
SELECT is((SELECT customer_number FROM cmp.customer WHERE account_id = :r2 AND name = 'Acct2 Own'), 3::bigint,
	'ACCOUNT user: numbered after the system actor''s two customers of that account');

-- ---- 2,000 elements in one call ----------------------------------------------

SELECT cmp.set_actor(:acctb, false) AS _ \gset
SELECT (SELECT count(*) FROM cmp.audit_log) AS audit4, (SELECT count(*) FROM cmp.event) AS pending4 \gset
TRUNCATE rep;
INSERT INTO rep SELECT * FROM cmp.import_customers(
	(SELECT jsonb_agg(jsonb_build_object('account_id', :rb, 'name', 'Bulk ' || g,
	                                     'external_customer_number', 'B-' || g) ORDER BY g)
	   FROM generate_series(1, 2000) AS g));
SELECT is((SELECT count(*) || ' rows, ' || count(customer_id) || ' created, ' || count(sqlstate) || ' refused' FROM rep),
	'2000 rows, 2000 created, 0 refused',
	'2,000 elements: one call creates all of them');
SELECT is(
	(SELECT count(*) FROM rep r JOIN cmp.customer c USING (customer_id)
	  WHERE c.customer_number = r.item AND c.name = 'Bulk ' || r.item AND c.account_id = :rb),
	2000::bigint,
	'2,000 elements: customer numbers 1..2000 in element order, each with its own fields');
SELECT is((SELECT last_customer_number FROM cmp.account WHERE account_id = :rb), 2000::bigint,
	'2,000 elements: the account''s last number is 2000');
SELECT is(ARRAY[(SELECT count(*) FROM cmp.audit_log) - :audit4, (SELECT count(*) FROM cmp.event) - :pending4],
	ARRAY[2000, 2000]::bigint[],
	'2,000 elements: 2,000 audit rows and 2,000 events');
SELECT cmp.create_customer(account_id => :rb, name => 'Bulk After') AS c_bulk_after \gset
SELECT is((SELECT customer_number FROM cmp.customer WHERE customer_id = :c_bulk_after), 2001::bigint,
	'2,000 elements: the next single create_customer is number 2001');

-- ---- a cancel stops the import -------------------------------------------

-- A statement_timeout (like pg_cancel_backend) that strikes while an element
-- runs must end the whole call with 57014, not become that element's error
-- while the import goes on.  The import is built beforehand, so that only it
-- runs under the timeout; the helper undoes whatever the call wrote.
CREATE TEMP TABLE big AS SELECT jsonb_agg(jsonb_build_object('account_id', :rb, 'name', 'Cancel ' || g)) AS j
  FROM generate_series(1, 5000) AS g;
CREATE FUNCTION pg_temp.cancelled_import() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	outcome text;
BEGIN
	BEGIN
		SELECT format('the call returned: %s created, %s refused (%s)', count(customer_id), count(sqlstate),
		              string_agg(DISTINCT sqlstate, ','))
		  INTO outcome
		  FROM cmp.import_customers((SELECT j FROM big), false);
		RAISE EXCEPTION '%', outcome USING ERRCODE = 'ZZ002';
	EXCEPTION
		WHEN query_canceled THEN
			RETURN 'the call failed with 57014';
		WHEN SQLSTATE 'ZZ002' THEN
			RETURN SQLERRM;
	END;
END $$;
SET statement_timeout = '100ms';
SELECT pg_temp.cancelled_import() AS cancel_outcome \gset
RESET statement_timeout;
SELECT is(:'cancel_outcome'::text, 'the call failed with 57014',
	'cancel: a statement_timeout during an import ends the whole call with 57014 (5,000 elements, 100 ms)');

-- ---- every created customer has its event ---------------------------------

SELECT cmp.clear_actor() AS _ \gset
SELECT is(ARRAY(SELECT e.customer_id FROM cmp.event e WHERE e.event_type = 'customer.created' ORDER BY e.event_id),
	ARRAY(SELECT a.customer_id FROM cmp.audit_log a WHERE a.operation = 'create_customer' ORDER BY a.event_id),
	'events: each create_customer audit row of the imports (and only those) has its customer.created event, in the same order');

SELECT * FROM finish();
ROLLBACK;
