-- Values the functions return outlive the SPI connection that read them
-- (found by the fuzz suite: cmp.customer_status_graph() returned text in
-- memory SPI_finish had freed; a function of its result then read
-- whatever had been put there since, or failed with XX000).  Each result is
-- used by a function that allocates memory of its own before reading it
-- (to_tsvector, upper, repeat), and compared with the same result copied
-- first (|| '').
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(8);

SELECT cmp.create_account(account_number => 'RO-RET', name => 'Returns') AS acct \gset
SELECT cmp.create_user(login => 'ret_admin', email => 'ret.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.create_user(login => 'ret_other', email => 'ret.other@example.com',
	context_level => 'ACCOUNT', account_id => :acct) AS other \gset
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'Ret One', status => 'ACTIVE',
	admin_login => 'ret_cu', admin_email => 'ret.cu@example.com') AS c1 \gset

SELECT is(to_tsvector('simple', cmp.customer_status_graph())::text,
	to_tsvector('simple', cmp.customer_status_graph() || '')::text,
	'customer_status_graph(): its text read by to_tsvector is the text itself');
SELECT lives_ok($$SELECT length(to_tsvector(cmp.customer_status_graph()))$$,
	'customer_status_graph(): length(to_tsvector(...)) does not fail');
SELECT is(repeat(cmp.customer_status_graph(), 3), repeat(cmp.customer_status_graph() || '', 3),
	'customer_status_graph(): repeat() of it');

SELECT is(upper(repeat(cmp.set_customer_status(:c1, 'SUSPENDED'), 200)), repeat('ACTIVE', 200),
	'set_customer_status(): the previous status it returns');
SELECT is(upper(repeat(cmp.set_customer_status(:c1, 'SUSPENDED'), 200)), repeat('SUSPENDED', 200),
	'set_customer_status(): the status it returns when nothing changes');
SELECT is(upper(repeat(cmp.set_user_status(:other, 'LOCKED'), 200)), repeat('ACTIVE', 200),
	'set_user_status(): the previous status it returns');
SELECT is(upper(repeat((cmp.whoami()).login, 200)), repeat('RET_ADMIN', 200),
	'whoami(): the login it returns');
SELECT is((SELECT string_agg(upper(w.login), ',') FROM (SELECT (cmp.whoami()).login FROM generate_series(1, 50)) AS w),
	(SELECT string_agg('RET_ADMIN', ',') FROM generate_series(1, 50)),
	'whoami(): the login, 50 times in one statement');

SELECT * FROM finish();
ROLLBACK;
