-- Idempotent creation (SPEC §13): request_id on create_account, create_user,
-- create_customer, create_customer_user and import_customers, and
-- cmp.purge_requests.  A repeat with the same request id by the same actor
-- and the same arguments returns the first call's result and changes
-- nothing (no row, no audit row, no event, no customer number); the same
-- request id with other arguments, or for another function, is 22023;
-- another actor's request ids are its own; a call that failed leaves
-- nothing behind, so its repeat runs again; purge_requests (CSP users and
-- the system actor) forgets request ids older than 24 hours.
-- The retry of a call whose reply was lost on the way is test/suites/retry.sh.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.  Everything happens in one
-- transaction that is rolled back, so a repeat here is a repeat within one
-- transaction (the first call's row is this transaction's own); the
-- committed case, across connections, is in the suite.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixtures.  Calls under test run as the superuser with
-- cmp.set_actor(user, false); "no actor at all" is the non-superuser role
-- ro_req_app.  Events are written at COMMIT; this file never commits, so
-- it sets the trigger that writes them (cmp.event_commit) IMMEDIATE.

BEGIN;
SELECT plan(91);
SET CONSTRAINTS cmp.event_commit IMMEDIATE;

SET client_min_messages = warning;

CREATE ROLE ro_req_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_req_app;

-- ---- helpers ---------------------------------------------------------------

-- Every row a creating call writes, past row-level security.
CREATE FUNCTION pg_temp.written() RETURNS text LANGUAGE sql AS $$
	SELECT format('account=%s customer=%s app_user=%s user_customer=%s history=%s audit=%s events=%s numbers=%s',
	              (SELECT count(*) FROM cmp.account),
	              (SELECT count(*) FROM cmp.customer),
	              (SELECT count(*) FROM cmp.app_user_data),
	              (SELECT count(*) FROM cmp.user_customer),
	              (SELECT count(*) FROM cmp.customer_status_history),
	              (SELECT count(*) FROM cmp.audit_log),
	              (SELECT count(*) FROM cmp.event),
	              (SELECT string_agg(account_id || ':' || last_customer_number, ',' ORDER BY account_id)
	                 FROM cmp.account))
$$;

-- The audit rows and events of one resource.
CREATE FUNCTION pg_temp.traces(resource_type text, resource_id bigint) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s audit, %s events',
	              (SELECT count(*) FROM cmp.audit_log a
	                WHERE a.resource_type = $1 AND a.resource_id = $2::text),
	              (SELECT count(*) FROM cmp.event e
	                WHERE e.resource_type = $1 AND e.resource_id = $2::text))
$$;

-- The request ids kept for an actor (0: the system actor).
CREATE FUNCTION pg_temp.kept(actor bigint, id uuid) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce((SELECT r.operation || ' -> ' || r.result::text FROM cmp.request r
	                  WHERE r.actor_user_id = $1 AND r.request_id = $2), 'nothing')
$$;

CREATE TEMP TABLE rep (call text, item integer, customer_id bigint, sqlstate text, message text, detail text);

-- ---- fixtures (system actor) ----------------------------------------------

\set R_acc   '0a000000-0000-4000-8000-000000000001'
\set R_acc_f '0a000000-0000-4000-8000-000000000002'
\set R_usr   '0b000000-0000-4000-8000-000000000001'
\set R_usr_f '0b000000-0000-4000-8000-000000000002'
\set R_cus   '0c000000-0000-4000-8000-000000000001'
\set R_cus_a '0c000000-0000-4000-8000-000000000002'
\set R_cus_f '0c000000-0000-4000-8000-000000000003'
\set R_cus_e '0c000000-0000-4000-8000-000000000004'
\set R_cu    '0d000000-0000-4000-8000-000000000001'
\set R_cu_f  '0d000000-0000-4000-8000-000000000002'
\set R_imp   '0e000000-0000-4000-8000-000000000001'
\set R_imp_f '0e000000-0000-4000-8000-000000000002'
\set R_imp_e '0e000000-0000-4000-8000-000000000003'

SELECT cmp.create_account(account_number => 'REQ-R1', name => 'Request Reseller One',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 2) AS r1 \gset
SELECT cmp.create_account(account_number => 'REQ-R2', name => 'Request Reseller Two',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 4) AS r2 \gset
SELECT cmp.create_user(login => 'req_csp', email => 'req.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'req_csp2', email => 'req.csp2@example.com',
	context_level => 'CSP') AS csp2 \gset
SELECT cmp.create_user(login => 'req_acct1', email => 'req.acct1@example.com',
	context_level => 'ACCOUNT', account_id => :r1, is_admin => true) AS acct1 \gset
SELECT cmp.create_user(login => 'req_acct1b', email => 'req.acct1b@example.com',
	context_level => 'ACCOUNT', account_id => :r1, is_admin => true) AS acct1b \gset
SELECT cmp.create_customer(account_id => :r1, name => 'Req Base', status => 'ACTIVE',
	admin_login => 'req_base_admin', admin_email => 'req.base@example.com') AS c_base \gset
SELECT admin_user_id AS cadm FROM cmp.customer WHERE customer_id = :c_base \gset
SELECT cmp.create_customer(account_id => :r2, name => 'Req Foreign') AS c_foreign \gset
SELECT cmp.create_customer(account_id => :r1, name => 'Req Blocker') AS c_blocker \gset

-- ---- create_account (CSP user) ----------------------------------------------

SELECT cmp.set_actor(:csp, false) AS _ \gset
SELECT cmp.create_account(account_number => 'REQ-A', name => 'Request Account',
	request_id => :'R_acc') AS acc_a \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_account(account_number => 'REQ-A', name => 'Request Account', request_id => :'R_acc'),
	:acc_a::bigint,
	'create_account: a repeat with the same request id returns the first call''s account id');
SELECT is(cmp.create_account('REQ-A', 'Request Account', 'STANDARD', NULL, NULL, NULL, :'R_acc'),
	:acc_a::bigint,
	'create_account: the same arguments given by position, with the defaults spelled out, are the same request');
SELECT is(pg_temp.written(), :'w', 'create_account: the repeats wrote nothing (no account, audit row or event)');
SELECT is(pg_temp.traces('account', :acc_a), '1 audit, 1 events',
	'create_account: one audit row and one account.created event for the account, however often it was asked for');
SELECT is(pg_temp.kept(:csp, :'R_acc'), 'create_account -> ' || :acc_a,
	'create_account: the request is kept for its actor, with its result');
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-A2', name => 'Request Account', request_id => %L)$$, :'R_acc'),
	'22023', format('request_id %s was used for another call', :'R_acc'),
	'create_account: the same request id with other arguments is 22023');
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-A', name => 'Request Account',
		account_type => 'RESELLER', customer_invoice_creation => false, customer_invoice_type => 'RAW',
		customer_billing_cycle_day => 1, request_id => %L)$$, :'R_acc'),
	'22023', NULL,
	'create_account: an argument added to the same ones is other arguments (22023)');
SELECT throws_ok(format($$SELECT cmp.create_user(login => 'req_x', email => 'req.x@example.com',
		context_level => 'CSP', request_id => %L)$$, :'R_acc'),
	'22023', format('request_id %s was used for another call', :'R_acc'),
	'create_account''s request id used for create_user is 22023');
SELECT is(pg_temp.written(), :'w', 'create_account: the refused calls wrote nothing');

-- another actor, the same request id: its own call
SELECT cmp.set_actor(:csp2, false) AS _ \gset
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-A', name => 'Request Account', request_id => %L)$$, :'R_acc'),
	'23505', NULL,
	'create_account: another CSP user with the same request id and arguments makes its own call (here: the account number exists, 23505)');
SELECT isnt(cmp.create_account(account_number => 'REQ-A-CSP2', name => 'Request Account Two', request_id => :'R_acc'),
	:acc_a::bigint,
	'create_account: another CSP user with the same request id and other arguments creates its own account');
SELECT cmp.clear_actor() AS _ \gset
SELECT cmp.create_account(account_number => 'REQ-A-SYS', name => 'Request Account Sys', request_id => :'R_acc') AS acc_sys \gset
SELECT is((SELECT count(*) FROM cmp.account WHERE account_number IN ('REQ-A', 'REQ-A-CSP2', 'REQ-A-SYS')), 3::bigint,
	'create_account: the system actor''s request ids are its own too (three actors, one request id, three accounts)');
SELECT is(pg_temp.kept(0, :'R_acc'), 'create_account -> ' || :acc_sys,
	'create_account: the system actor''s request is kept under actor 0');

-- a call that failed leaves nothing behind
SELECT cmp.set_actor(:csp, false) AS _ \gset
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-A', name => 'Taken', request_id => %L)$$, :'R_acc_f'),
	'23505', NULL,
	'create_account: a call that fails (account number taken) ...');
SELECT is(pg_temp.kept(:csp, :'R_acc_f'), 'nothing', '... keeps no request id');
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-A', name => 'Taken', request_id => %L)$$, :'R_acc_f'),
	'23505', NULL,
	'create_account: its repeat runs again (and fails again, 23505, not a kept result)');
SELECT lives_ok(format($$SELECT cmp.create_account(account_number => 'REQ-F', name => 'Fixed', request_id => %L)$$, :'R_acc_f'),
	'create_account: the failed call''s request id is free for the corrected call');

-- ---- create_user (ACCOUNT admin) ---------------------------------------------

SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT cmp.create_user(login => 'req_user', email => 'req.user@example.com', context_level => 'ACCOUNT',
	account_id => :r1, full_name => 'Req User', request_id => :'R_usr') AS usr \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_user(login => 'req_user', email => 'req.user@example.com', context_level => 'ACCOUNT',
		account_id => :r1, full_name => 'Req User', request_id => :'R_usr'),
	:usr::bigint,
	'create_user: a repeat returns the first call''s user id');
SELECT is(cmp.create_user('req_user', 'req.user@example.com', 'ACCOUNT', :r1, 'Req User', false, NULL, :'R_usr'),
	:usr::bigint,
	'create_user: by position, with the defaults spelled out: the same request');
SELECT is(pg_temp.written(), :'w', 'create_user: the repeats wrote nothing');
SELECT is(ARRAY[(SELECT count(*) FROM cmp.app_user_data WHERE login = 'req_user')::text, pg_temp.traces('user', :usr)],
	ARRAY['1', '1 audit, 1 events'],
	'create_user: one user, one audit row, one user.created event');
SELECT throws_ok(format($$SELECT cmp.create_user(login => 'req_user', email => 'req.user@example.com',
		context_level => 'ACCOUNT', account_id => %s, full_name => 'Req User', is_admin => true, request_id => %L)$$, :r1, :'R_usr'),
	'22023', format('request_id %s was used for another call', :'R_usr'),
	'create_user: the same request id with other arguments (is_admin) is 22023');
SELECT throws_ok(format($$SELECT cmp.create_user(login => 'req_user', email => 'req.user@example.com',
		context_level => 'ACCOUNT', account_id => %s, request_id => %L)$$, :r1, :'R_usr'),
	'22023', NULL,
	'create_user: leaving out an argument given the first time (full_name) is other arguments (22023)');
SELECT throws_ok(format($$SELECT cmp.create_account(account_number => 'REQ-U', name => 'U', request_id => %L)$$, :'R_usr'),
	'42501', NULL,
	'create_user''s request id: an ACCOUNT user still may not create accounts (42501 before any request lookup)');
SELECT is(pg_temp.written(), :'w', 'create_user: the refused calls wrote nothing');
SELECT cmp.set_actor(:acct1b, false) AS _ \gset
SELECT throws_ok(format($$SELECT cmp.create_user(login => 'req_user', email => 'req.user@example.com',
		context_level => 'ACCOUNT', account_id => %s, full_name => 'Req User', request_id => %L)$$, :r1, :'R_usr'),
	'23505', NULL,
	'create_user: another admin of the account, same request id and arguments: its own call (login taken, 23505)');
SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT throws_ok(format($$SELECT cmp.create_user(login => 'req_user_f', email => 'not an address',
		context_level => 'ACCOUNT', account_id => %s, request_id => %L)$$, :r1, :'R_usr_f'),
	'22023', 'invalid email address "not an address"',
	'create_user: a call that fails (bad email) ...');
SELECT is(pg_temp.kept(:acct1, :'R_usr_f'), 'nothing', '... keeps no request id');
SELECT lives_ok(format($$SELECT cmp.create_user(login => 'req_user_f', email => 'req.user.f@example.com',
		context_level => 'ACCOUNT', account_id => %s, request_id => %L)$$, :r1, :'R_usr_f'),
	'create_user: so the corrected call may use the same request id');

-- ---- create_customer (ACCOUNT user) ------------------------------------------

SELECT cmp.create_customer(account_id => :r1, name => 'Req Customer', request_id => :'R_cus') AS cus \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_customer(account_id => :r1, name => 'Req Customer', request_id => :'R_cus'),
	:cus::bigint,
	'create_customer: a repeat returns the first call''s customer id');
SELECT is(cmp.create_customer(:r1, 'Req Customer', false, 'DRAFT', request_id => :'R_cus'),
	:cus::bigint,
	'create_customer: by position, with billable and status spelled out: the same request');
SELECT is(pg_temp.written(), :'w', 'create_customer: the repeats wrote nothing (no customer, history, audit row, event, customer number)');
SELECT is(ARRAY[(SELECT count(*) FROM cmp.customer WHERE name = 'Req Customer')::text, pg_temp.traces('customer', :cus),
                (SELECT count(*) FROM cmp.customer_status_history WHERE customer_id = :cus)::text],
	ARRAY['1', '1 audit, 1 events', '1'],
	'create_customer: one customer, one audit row, one customer.created event, one history row');
SELECT is((SELECT customer_number FROM cmp.customer WHERE customer_id = :cus), 3::bigint,
	'create_customer: it took the next number once');
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Customer 2', request_id => %L)$$, :r1, :'R_cus'),
	'22023', format('request_id %s was used for another call', :'R_cus'),
	'create_customer: the same request id with another name is 22023');
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Customer', description => '', request_id => %L)$$, :r1, :'R_cus'),
	'22023', NULL,
	'create_customer: an empty string where the first call had NULL is another argument (22023)');
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Customer ', request_id => %L)$$, :r1, :'R_cus'),
	'22023', NULL,
	'create_customer: arguments are compared as given (a trailing blank differs, 22023)');
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %s, "name": "Req Customer"}]', request_id => %L)$$, :r1, :'R_cus'),
	'22023', NULL,
	'create_customer''s request id used for import_customers, even with an element of the same arguments, is 22023');
SELECT is(pg_temp.written(), :'w', 'create_customer: the refused calls wrote nothing');

-- with its admin user: the repeat does not try the login again
SELECT cmp.create_customer(account_id => :r1, name => 'Req Customer Admin', status => 'ACTIVE',
	admin_login => 'req_cus_admin', admin_email => 'req.cus.admin@example.com', request_id => :'R_cus_a') AS cus_a \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_customer(account_id => :r1, name => 'Req Customer Admin', status => 'ACTIVE',
		admin_login => 'req_cus_admin', admin_email => 'req.cus.admin@example.com', request_id => :'R_cus_a'),
	:cus_a::bigint,
	'create_customer with an admin user: a repeat returns the customer id (no 23505 for the admin''s login)');
SELECT is(pg_temp.written(), :'w', 'create_customer with an admin user: the repeat wrote nothing (no second admin user)');

-- a failed call leaves nothing: once its obstacle is gone, the repeat creates the customer
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Blocker', request_id => %L)$$, :r1, :'R_cus_f'),
	'23505', NULL,
	'create_customer: a call that fails (name taken) ...');
SELECT is(pg_temp.kept(:acct1, :'R_cus_f'), 'nothing', '... keeps no request id');
SELECT cmp.delete_customer(:c_blocker) AS _ \gset
SELECT cmp.create_customer(account_id => :r1, name => 'Req Blocker', request_id => :'R_cus_f') AS cus_f \gset
SELECT is((SELECT customer_id FROM cmp.customer WHERE account_id = :r1 AND name = 'Req Blocker'), :cus_f::bigint,
	'create_customer: its repeat, once the name is free, runs again and creates the customer');
SELECT is((SELECT customer_number FROM cmp.customer WHERE customer_id = :cus_f), 5::bigint,
	'create_customer: numbered right after the last customer (the failed call used no number)');

-- the first call's result stays the answer
SELECT cmp.create_customer(account_id => :r1, name => 'Req Ephemeral', request_id => :'R_cus_e') AS cus_e \gset
SELECT cmp.delete_customer(:cus_e) AS _ \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_customer(account_id => :r1, name => 'Req Ephemeral', request_id => :'R_cus_e'),
	:cus_e::bigint,
	'create_customer: a repeat after the customer was deleted still returns the first call''s id ...');
SELECT is(pg_temp.written(), :'w', '... and does not create it again');

-- request ids are per user, even within one account
SELECT cmp.set_actor(:acct1b, false) AS _ \gset
SELECT isnt(cmp.create_customer(account_id => :r1, name => 'Req Customer B', request_id => :'R_cus'),
	:cus::bigint,
	'create_customer: another user of the same account with the same request id makes its own call');

-- ---- create_customer_user (ACCOUNT user and customer admin) --------------------

SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_base]::bigint[], login => 'req_cu',
	email => 'req.cu@example.com', request_id => :'R_cu') AS cu \gset
SELECT pg_temp.written() AS w \gset
SELECT is(cmp.create_customer_user(customer_ids => ARRAY[:c_base]::bigint[], login => 'req_cu',
		email => 'req.cu@example.com', request_id => :'R_cu'),
	:cu::bigint,
	'create_customer_user: a repeat returns the first call''s user id');
SELECT is(cmp.create_customer_user(ARRAY[:c_base]::bigint[], 'req_cu', 'req.cu@example.com', NULL, false, NULL, :'R_cu'),
	:cu::bigint,
	'create_customer_user: by position, with the defaults spelled out: the same request');
SELECT is(pg_temp.written(), :'w', 'create_customer_user: the repeats wrote nothing (no user, assignment, audit row, event)');
SELECT is(ARRAY[(SELECT count(*) FROM cmp.user_customer WHERE user_id = :cu)::text, pg_temp.traces('user', :cu)],
	ARRAY['1', '1 audit, 1 events'],
	'create_customer_user: one assignment, one audit row, one user.created event');
SELECT throws_ok(format($$SELECT cmp.create_customer_user(customer_ids => ARRAY[%s]::bigint[], login => 'req_cu',
		email => 'req.cu@example.com', is_admin => true, request_id => %L)$$, :c_base, :'R_cu'),
	'22023', format('request_id %s was used for another call', :'R_cu'),
	'create_customer_user: the same request id with other arguments is 22023');
SELECT is(pg_temp.written(), :'w', 'create_customer_user: the refused call wrote nothing');
SELECT cmp.set_actor(:cadm, false) AS _ \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_base]::bigint[], login => 'req_cu_by_admin',
	email => 'req.cu.admin@example.com', request_id => :'R_cu') AS cu_adm \gset
SELECT isnt(:cu_adm::bigint, :cu::bigint,
	'create_customer_user: a customer admin with the same request id makes its own call (its own user)');
SELECT is(cmp.create_customer_user(customer_ids => ARRAY[:c_base]::bigint[], login => 'req_cu_by_admin',
		email => 'req.cu.admin@example.com', request_id => :'R_cu'),
	:cu_adm::bigint,
	'create_customer_user: and its own repeat returns its own user');
SELECT throws_ok(format($$SELECT cmp.create_customer_user(customer_ids => ARRAY[%s]::bigint[], login => 'req_cu_f',
		email => 'req.cu.f@example.com', request_id => %L)$$, :c_foreign, :'R_cu_f'),
	'P0002', NULL,
	'create_customer_user: a call that fails (a customer it cannot see) ...');
SELECT is(pg_temp.kept(:cadm, :'R_cu_f'), 'nothing', '... keeps no request id');
SELECT lives_ok(format($$SELECT cmp.create_customer_user(customer_ids => ARRAY[%s]::bigint[], login => 'req_cu_f',
		email => 'req.cu.f@example.com', request_id => %L)$$, :c_base, :'R_cu_f'),
	'create_customer_user: so the corrected call may use the same request id');

-- ---- import_customers (ACCOUNT user) -------------------------------------------

SELECT cmp.set_actor(:acct1, false) AS _ \gset
INSERT INTO rep SELECT 'first', * FROM cmp.import_customers(
	format('[{"account_id": %1$s, "name": "Req Imp A"}, {"account_id": %1$s, "name": "Req Imp B", "status": "ACTIVE", "admin_login": "req_imp_b", "admin_email": "req.imp.b@example.com"}]', :r1)::jsonb,
	request_id => :'R_imp');
SELECT pg_temp.written() AS w \gset
INSERT INTO rep SELECT 'repeat', * FROM cmp.import_customers(
	format('[{"account_id": %1$s, "name": "Req Imp A"}, {"account_id": %1$s, "name": "Req Imp B", "status": "ACTIVE", "admin_login": "req_imp_b", "admin_email": "req.imp.b@example.com"}]', :r1)::jsonb,
	request_id => :'R_imp');
INSERT INTO rep SELECT 'reordered', * FROM cmp.import_customers(
	format('[ {"name":"Req Imp A","account_id":%1$s},
	          {"admin_email":"req.imp.b@example.com","admin_login":"req_imp_b","status":"ACTIVE","name":"Req Imp B","account_id":%1$s} ]', :r1)::jsonb,
	true, :'R_imp');
SELECT is((SELECT count(customer_id) FROM rep WHERE call = 'first'), 2::bigint,
	'import_customers: the first call creates both customers');
SELECT results_eq($$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'repeat' ORDER BY item$$,
	$$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'first' ORDER BY item$$,
	'import_customers: a repeat returns the first call''s report (the same customer ids)');
SELECT results_eq($$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'reordered' ORDER BY item$$,
	$$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'first' ORDER BY item$$,
	'import_customers: the same JSON with its keys in another order and other spacing, all_or_nothing spelled out, is the same request');
SELECT is(pg_temp.written(), :'w', 'import_customers: the repeats wrote nothing (no customer, admin user, audit row, event, number)');
SELECT is((SELECT count(*) FROM cmp.customer WHERE name IN ('Req Imp A', 'Req Imp B')), 2::bigint,
	'import_customers: each customer exists once');
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %1$s, "name": "Req Imp A"}, {"account_id": %1$s, "name": "Req Imp B", "status": "ACTIVE", "admin_login": "req_imp_b", "admin_email": "req.imp.b@example.com"}]', false, %2$L)$$, :r1, :'R_imp'),
	'22023', format('request_id %s was used for another call', :'R_imp'),
	'import_customers: the same array with all_or_nothing off is other arguments (22023)');
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('[{"account_id": %1$s, "name": "Req Imp A"}]', request_id => %2$L)$$, :r1, :'R_imp'),
	'22023', NULL,
	'import_customers: the same request id with another array is 22023');
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Imp A', request_id => %L)$$, :r1, :'R_imp'),
	'22023', NULL,
	'import_customers'' request id used for create_customer is 22023');
SELECT is(pg_temp.written(), :'w', 'import_customers: the refused calls wrote nothing');

-- an all-or-nothing import that failed: its report is the result
TRUNCATE rep;
SELECT pg_temp.written() AS w \gset
INSERT INTO rep SELECT 'first', * FROM cmp.import_customers(
	format('[{"account_id": %1$s, "name": "Req Imp C"}, {"account_id": %1$s, "name": "Req Imp A"}]', :r1)::jsonb,
	request_id => :'R_imp_f');
SELECT is((SELECT string_agg(coalesce(sqlstate, '-'), ',' ORDER BY item) FROM rep), '-,23505',
	'import_customers: an all-or-nothing import with a failing element reports it ...');
SELECT is(pg_temp.written(), :'w', '... creates nothing ...');
SELECT is(pg_temp.kept(:acct1, :'R_imp_f'), 'import_customers -> ' || (SELECT jsonb_agg(jsonb_build_object(
		'customer_id', customer_id, 'sqlstate', sqlstate, 'message', message, 'detail', detail) ORDER BY item)::text FROM rep),
	'... and keeps its report as its result');
SELECT cmp.update_customer((SELECT customer_id FROM cmp.customer WHERE name = 'Req Imp A'), '{"name": "Req Imp A renamed"}') AS _ \gset
SELECT pg_temp.written() AS w \gset
INSERT INTO rep SELECT 'repeat', * FROM cmp.import_customers(
	format('[{"account_id": %1$s, "name": "Req Imp C"}, {"account_id": %1$s, "name": "Req Imp A"}]', :r1)::jsonb,
	request_id => :'R_imp_f');
SELECT results_eq($$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'repeat' ORDER BY item$$,
	$$SELECT item, customer_id, sqlstate, message, detail FROM rep WHERE call = 'first' ORDER BY item$$,
	'... and its repeat returns that same report, even once the obstacle is gone (the call itself did not fail)');
SELECT is(pg_temp.written(), :'w', '... and still writes nothing');

-- an import that raised leaves nothing
SELECT throws_ok(format($$SELECT * FROM cmp.import_customers('{"account_id": %s, "name": "Req Imp D"}', request_id => %L)$$, :r1, :'R_imp_e'),
	'22023', 'customers must be a JSON array',
	'import_customers: a call that fails as a whole (not an array) ...');
SELECT is(pg_temp.kept(:acct1, :'R_imp_e'), 'nothing', '... keeps no request id');
SELECT is((SELECT count(customer_id) FROM cmp.import_customers(format('[{"account_id": %s, "name": "Req Imp D"}]', :r1)::jsonb,
		request_id => :'R_imp_e')),
	1::bigint,
	'import_customers: so the corrected call may use the same request id');

-- another actor
SELECT cmp.set_actor(:acct1b, false) AS _ \gset
SELECT is((SELECT string_agg(coalesce(sqlstate, '-'), ',' ORDER BY item) FROM cmp.import_customers(
		format('[{"account_id": %1$s, "name": "Req Imp A renamed"}, {"account_id": %1$s, "name": "Req Imp E"}]', :r1)::jsonb,
		false, :'R_imp')),
	'23505,-',
	'import_customers: another user with the same request id makes its own import (its own report)');

-- ---- the request table ---------------------------------------------------------

SELECT cmp.clear_actor() AS _ \gset
SELECT is((SELECT count(*) FROM cmp.request WHERE result IS NULL), 0::bigint,
	'cmp.request: every kept request has its result');
SELECT results_eq(
	format($$SELECT actor_user_id, operation FROM cmp.request WHERE request_id = %L ORDER BY actor_user_id$$, :'R_acc'),
	format($$VALUES (0::bigint, 'create_account'::text), (%s, 'create_account'), (%s, 'create_account')$$, :csp, :csp2),
	'cmp.request: one row per actor and request id');
SET ROLE ro_req_app;
SELECT throws_ok('SELECT count(*) FROM cmp.request', '42501', NULL,
	'cmp.request: not readable by other roles (request ids and results stay internal)');
SELECT throws_ok('SELECT cmp.purge_requests()', '42501', NULL,
	'purge_requests: a session with no actor is refused (42501)');
RESET ROLE;

-- ---- purge_requests ------------------------------------------------------------

SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT throws_ok('SELECT cmp.purge_requests()', '42501', NULL,
	'purge_requests: an ACCOUNT user (even an admin) is refused (42501)');
SELECT cmp.set_actor(:cadm, false) AS _ \gset
SELECT throws_ok('SELECT cmp.purge_requests()', '42501', NULL,
	'purge_requests: a CUSTOMER user is refused (42501)');
SELECT cmp.set_actor(:csp, false) AS _ \gset
SELECT (SELECT count(*) FROM cmp.request) AS kept_all \gset
SELECT is(cmp.purge_requests(), 0::bigint,
	'purge_requests: nothing younger than 24 hours is purged');
RESET ROLE;
-- backdated by hand (the superuser may write the internal table)
UPDATE cmp.request SET created_at = now() - interval '25 hours'
 WHERE (actor_user_id, request_id) IN ((:csp, :'R_acc'), (:acct1, :'R_cus'), (:acct1, :'R_imp'));
UPDATE cmp.request SET created_at = now() - interval '23 hours 59 minutes'
 WHERE (actor_user_id, request_id) IN ((:acct1, :'R_usr'), (0, :'R_acc'));
SELECT is(cmp.purge_requests(), 3::bigint,
	'purge_requests: a CSP user purges the request ids older than 24 hours, of every actor');
SELECT is((SELECT count(*) FROM cmp.request), :kept_all - 3::bigint,
	'purge_requests: all the others are kept');
SELECT is(ARRAY[pg_temp.kept(:acct1, :'R_usr'), pg_temp.kept(0, :'R_acc'), pg_temp.kept(:csp, :'R_acc')],
	ARRAY['create_user -> ' || :usr, 'create_account -> ' || :acc_sys, 'nothing'],
	'purge_requests: one 23 hours 59 minutes old is kept (at least 24 hours)');
SELECT lives_ok(format($$SELECT cmp.create_account(account_number => 'REQ-AFTER-PURGE', name => 'After Purge', request_id => %L)$$, :'R_acc'),
	'purge_requests: a purged request id is free again (another call with it is no longer 22023)');
SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Req Customer', request_id => %L)$$, :r1, :'R_cus'),
	'23505', NULL,
	'purge_requests: a repeat of a purged request runs again (here: the name is taken, 23505)');
SELECT cmp.set_actor(:acct1, false) AS _ \gset
SELECT is(cmp.create_user(login => 'req_user', email => 'req.user@example.com', context_level => 'ACCOUNT',
		account_id => :r1, full_name => 'Req User', request_id => :'R_usr'),
	:usr::bigint,
	'purge_requests: a request id it kept still answers with the first result');
SELECT cmp.clear_actor() AS _ \gset
UPDATE cmp.request SET created_at = now() - interval '3 days' WHERE actor_user_id = 0;
SELECT is(cmp.purge_requests(), 1::bigint,
	'purge_requests: the system actor may purge too');

SELECT * FROM finish();
ROLLBACK;
