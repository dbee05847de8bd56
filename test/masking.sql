-- Masking (SPEC §5): rows a tenant may read never name what it may not see.
--  - cmp.sim_assignment_history: the other side of a move to or from a
--    customer the reader cannot see reads NULL;
--  - cmp.app_user: other users' db_role (and its OID) read NULL to tenants
--    (ACCOUNT and CUSTOMER users); a user reads its own, CSP users all.
-- Enforced by the database: the two relations are views over tables no
-- other role may read; a non-leakproof function in a reader's WHERE clause
-- sees no row the view hides, and a prepared statement masks for whoever
-- executes it.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(18);

CREATE ROLE ro_mask_app NOLOGIN;
CREATE ROLE ro_mask_acc2 NOLOGIN;
CREATE ROLE ro_mask_cu1 NOLOGIN;
CREATE ROLE ro_mask_cu12 NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_mask_app;

\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
	SELECT pg_temp.luhn('89493000' || lpad(n::text, 10, '0'))
$$;

-- ---- fixture, through the functions ---------------------------------------
SELECT cmp.create_account(account_number => 'RO-MASK-R', name => 'Mask Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_user(login => 'mask_csp', email => 'mask.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'mask_acc', email => 'mask.acc@example.com',
	context_level => 'ACCOUNT', account_id => :acct, is_admin => true) AS acc \gset
SELECT cmp.create_user(login => 'mask_acc2', email => 'mask.acc2@example.com',
	context_level => 'ACCOUNT', account_id => :acct, db_role => 'ro_mask_acc2') AS acc2 \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 4) AS n)) \g /dev/null
SELECT cmp.set_actor(:acc);
SELECT cmp.create_customer(account_id => :acct, name => 'Mask One', status => 'ACTIVE',
	admin_login => 'mask_ad1', admin_email => 'mask.ad1@example.com') AS c1 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'Mask Two', status => 'ACTIVE',
	admin_login => 'mask_ad2', admin_email => 'mask.ad2@example.com') AS c2 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'Mask Three', status => 'ACTIVE',
	admin_login => 'mask_ad3', admin_email => 'mask.ad3@example.com') AS c3 \gset
-- mapping a role is for CSP users and the system actor
SELECT cmp.clear_actor();
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c1]::bigint[], login => 'mask_cu1',
	email => 'mask.cu1@example.com', db_role => 'ro_mask_cu1') AS cu1 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c1, :c2]::bigint[], login => 'mask_cu12',
	email => 'mask.cu12@example.com', db_role => 'ro_mask_cu12') AS cu12 \gset
SELECT cmp.set_actor(:acc);
-- SIM 1: to c2, then to c1; SIM 2: to c1, then to c3
SELECT cmp.assign_sims(:c2, ARRAY[pg_temp.iccid(1)]) \g /dev/null
SELECT cmp.assign_sims(:c1, ARRAY[pg_temp.iccid(1)], reassign => true) \g /dev/null
SELECT cmp.assign_sims(:c1, ARRAY[pg_temp.iccid(2)]) \g /dev/null
SELECT cmp.assign_sims(:c3, ARRAY[pg_temp.iccid(2)], reassign => true) \g /dev/null
SELECT cmp.clear_actor();

-- what each actor reads: moves as "iccid-digit:from>to" with '-' for NULL
CREATE FUNCTION pg_temp.moves() RETURNS text LANGUAGE sql AS $$
	SELECT pg_catalog.string_agg(pg_catalog.right(h.iccid, 2) || ':' ||
		coalesce(h.from_customer_id::text, '-') || '>' || coalesce(h.to_customer_id::text, '-'),
		' ' ORDER BY h.history_id)
	  FROM cmp.sim_assignment_history h
$$;
CREATE FUNCTION pg_temp.roles() RETURNS text LANGUAGE sql AS $$
	SELECT pg_catalog.string_agg(u.login || '=' || coalesce(u.db_role::text, '-') ||
		CASE WHEN (u.db_role_oid IS NULL) = (u.db_role IS NULL) THEN '' ELSE '(oid!)' END,
		' ' ORDER BY u.login COLLATE "C")
	  FROM cmp.app_user u WHERE u.login LIKE 'mask%' AND u.db_role_oid IS NOT DISTINCT FROM
		(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = u.db_role)
$$;
-- expected values, written from the fixture
SELECT pg_catalog.right(pg_temp.iccid(1), 2) AS s1, pg_catalog.right(pg_temp.iccid(2), 2) AS s2 \gset

-- ---- sim_assignment_history --------------------------------------------------
SET ROLE ro_mask_app;
SELECT cmp.set_actor(:cu1);
SELECT is(pg_temp.moves(), format('%s:->%s %s:->%s %s:%s>-', :'s1', :c1, :'s2', :c1, :'s2', :c1),
	'history, a customer user of c1: the move from c2 and the move to c3 show NULL for the other customer');
SELECT cmp.set_actor(:cu12);
SELECT is(pg_temp.moves(), format('%s:->%s %s:%s>%s %s:->%s %s:%s>-', :'s1', :c2, :'s1', :c2, :c1, :'s2', :c1, :'s2', :c1),
	'history, a customer user of c1 and c2: both sides of c2 -> c1, NULL for c3');
SELECT cmp.set_actor(:acc);
SELECT is(pg_temp.moves(), format('%s:->%s %s:%s>%s %s:->%s %s:%s>%s', :'s1', :c2, :'s1', :c2, :c1, :'s2', :c1, :'s2', :c1, :c3),
	'history, the account user: every side');
SELECT cmp.set_actor(:csp);
SELECT is(pg_temp.moves(), format('%s:->%s %s:%s>%s %s:->%s %s:%s>%s', :'s1', :c2, :'s1', :c2, :c1, :'s2', :c1, :'s2', :c1, :c3),
	'history, a CSP user: every side');

-- one prepared statement, executed by each in turn
PREPARE mask_moves AS SELECT pg_temp.moves();
SELECT cmp.set_actor(:cu1);
EXECUTE mask_moves \gset p1_
SELECT cmp.set_actor(:acc);
EXECUTE mask_moves \gset p2_
SELECT cmp.set_actor(:cu1);
EXECUTE mask_moves \gset p3_
DEALLOCATE mask_moves;
SELECT is(ARRAY[:'p1_moves', :'p2_moves', :'p3_moves'],
	ARRAY[format('%s:->%s %s:->%s %s:%s>-', :'s1', :c1, :'s2', :c1, :'s2', :c1),
	      format('%s:->%s %s:%s>%s %s:->%s %s:%s>%s', :'s1', :c2, :'s1', :c2, :c1, :'s2', :c1, :'s2', :c1, :c3),
	      format('%s:->%s %s:->%s %s:%s>-', :'s1', :c1, :'s2', :c1, :'s2', :c1)],
	'history, one prepared statement: masked for the customer user, whole for the account user, masked again');

-- a column filter on the hidden customer finds nothing
SELECT cmp.set_actor(:cu1);
SELECT is((SELECT pg_catalog.count(*) FROM cmp.sim_assignment_history
	WHERE from_customer_id = :c2 OR to_customer_id = :c3), 0::bigint,
	'history, a customer user: filtering on the hidden customer''s id finds nothing');
RESET ROLE;

-- a non-leakproof function in the reader's WHERE clause sees only what the view shows
CREATE TABLE pg_temp.leaked (v bigint);
GRANT INSERT, SELECT ON pg_temp.leaked TO ro_mask_app;
CREATE FUNCTION pg_temp.leak(v bigint) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	INSERT INTO pg_temp.leaked VALUES (v);
	RETURN true;
END $$;
SET ROLE ro_mask_app;
SELECT cmp.set_actor(:cu1);
SELECT pg_catalog.count(*) FROM cmp.sim_assignment_history
 WHERE pg_temp.leak(from_customer_id) AND pg_temp.leak(to_customer_id) \g /dev/null
SELECT cmp.clear_actor();
RESET ROLE;
SELECT is(ARRAY(SELECT DISTINCT v FROM pg_temp.leaked WHERE v IS NOT NULL ORDER BY v), ARRAY[:c1]::bigint[],
	'history, a leaky function in a customer user''s WHERE clause is given only the customer it may see');

-- ---- app_user.db_role ----------------------------------------------------------
SET ROLE ro_mask_app;
SELECT cmp.set_actor(:cu1);
SELECT is(pg_temp.roles(), 'mask_ad1=- mask_cu1=ro_mask_cu1 mask_cu12=-',
	'users, a customer user: its own db_role, NULL for the other user of its customer');
SELECT cmp.set_actor(:cu12);
SELECT is(pg_temp.roles(), 'mask_ad1=- mask_ad2=- mask_cu1=- mask_cu12=ro_mask_cu12',
	'users, a customer user of two customers: its own db_role only');
SELECT cmp.set_actor(:acc);
SELECT is(pg_temp.roles(), 'mask_acc=- mask_acc2=- mask_ad1=- mask_ad2=- mask_ad3=- mask_cu1=- mask_cu12=-',
	'users, an account user: no other user''s db_role');
SELECT cmp.set_actor(:csp);
SELECT is(pg_temp.roles(),
	'mask_acc=- mask_acc2=ro_mask_acc2 mask_ad1=- mask_ad2=- mask_ad3=- mask_csp=- mask_cu1=ro_mask_cu1 mask_cu12=ro_mask_cu12',
	'users, a CSP user: every db_role');
SELECT cmp.clear_actor();
RESET ROLE;
-- acting through its own mapping, a user reads its db_role
SET ROLE ro_mask_acc2;
SELECT is((SELECT db_role::text FROM cmp.app_user WHERE user_id = :acc2), 'ro_mask_acc2',
	'users, a mapped account user reads its own db_role');
SELECT is((SELECT pg_catalog.count(*) FROM cmp.app_user WHERE db_role = 'ro_mask_cu1'), 0::bigint,
	'users, an account user: filtering on another user''s db_role finds nothing');
RESET ROLE;

-- ---- the tables behind the views -------------------------------------------------
SET ROLE ro_mask_app;
SELECT cmp.set_actor(:csp);
SELECT throws_ok('SELECT * FROM cmp.sim_assignment_history_data', '42501', NULL,
	'the table behind sim_assignment_history is not readable, even by a CSP user''s connection role');
SELECT throws_ok('SELECT db_role FROM cmp.app_user_data', '42501', NULL,
	'the table behind app_user is not readable');
SELECT cmp.clear_actor();
SELECT is((SELECT pg_catalog.count(*) FROM cmp.app_user) + (SELECT pg_catalog.count(*) FROM cmp.sim_assignment_history),
	0::bigint, 'nobody reads no user and no move through the views');
RESET ROLE;
SELECT is(ARRAY(SELECT c.relname::text || ':' || coalesce(array_to_string(c.reloptions, ','), '')
                  FROM pg_catalog.pg_class c
                 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relname IN ('app_user', 'sim_assignment_history')
                 ORDER BY 1),
	ARRAY['app_user:security_barrier=true', 'sim_assignment_history:security_barrier=true'],
	'both views are security barriers');
SELECT is((SELECT pg_catalog.count(*) FROM cmp.app_user WHERE login LIKE 'mask%'), 8::bigint,
	'the system actor reads every user through the view');

SELECT * FROM finish();
ROLLBACK;
