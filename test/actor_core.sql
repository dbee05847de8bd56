-- The actor core (SPEC §4, §5, §9): policies folded by kind of actor with
-- the actor's values read once per execution; no IMMUTABLE function that
-- depends on the actor; nobody's EXPLAIN shows no estimate made from hidden
-- rows; cmp.allow_session_actor; plans kept across actors of one kind and
-- replanned across kinds, never refused.
--
-- What needs two sessions (a revocation committed by another session inside
-- the reader's open transaction) is the isolation spec revocation.spec and
-- the race suite test/suites/revocation.sh.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(43);

CREATE ROLE ro_core_app NOLOGIN;
CREATE ROLE ro_core_nobody NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_core_app;

\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
	SELECT pg_temp.luhn('89492000' || lpad(n::text, 10, '0'))
$$;

-- ---- fixture: two accounts; customer users with one and with two customers --
SELECT cmp.create_account(account_number => 'RO-CORE-R', name => 'Core Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_account(account_number => 'RO-CORE-O', name => 'Core Other') AS other \gset
SELECT cmp.create_user(login => 'core_csp', email => 'core.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'core_admin', email => 'core.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.create_user(login => 'core_other', email => 'core.other@example.com',
	context_level => 'ACCOUNT', account_id => :other, is_admin => true) AS other_admin \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 30) AS n)) \g /dev/null
SELECT cmp.provision_sims(account_id => :other,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(101, 140) AS n)) \g /dev/null
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'Core One', status => 'ACTIVE',
	admin_login => 'core_cu1', admin_email => 'core.cu1@example.com') AS c1 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'Core Two', status => 'ACTIVE',
	admin_login => 'core_cu2', admin_email => 'core.cu2@example.com') AS c2 \gset
SELECT user_id AS cu1 FROM cmp.app_user WHERE login = 'core_cu1' \gset
SELECT user_id AS cu2 FROM cmp.app_user WHERE login = 'core_cu2' \gset
SELECT cmp.assign_user_to_customers(:cu2, ARRAY[:c1]::bigint[]) \g /dev/null
SELECT cmp.assign_sims(:c1, ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 4) AS n)) \g /dev/null
SELECT cmp.assign_sims(:c2, ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(5, 11) AS n)) \g /dev/null
SELECT cmp.clear_actor();
ANALYZE cmp.sim_card;

-- ---- no IMMUTABLE function depends on the actor or on a table ---------------
SELECT is(
	ARRAY(SELECT p.proname::text FROM pg_proc p
	       WHERE p.pronamespace = 'cmp'::regnamespace AND p.provolatile = 'i'
	       ORDER BY 1),
	ARRAY['actor_gate', 'country_is_valid', 'currency_is_valid', 'email_is_valid',
	      'event_type_is_valid', 'iccid_is_valid',
	      'iccid_problem', 'imsi_is_valid', 'msisdn_is_valid', 'phone_is_valid', 'url_is_valid'],
	'catalog: the only IMMUTABLE functions in cmp are the value validators and actor_gate (which returns its argument)');
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	 WHERE p.pronamespace = 'cmp'::regnamespace AND p.provolatile = 'i'
	   AND ((p.prosrc ~ 'actor' AND p.proname <> 'actor_gate') OR p.prosecdef)$$,
	'catalog: no IMMUTABLE function in cmp reads the actor or runs as the owner');
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'cmp'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
	UNION ALL
	SELECT c.oid::regclass::text FROM pg_class c
	 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'v')
	   AND obj_description(c.oid, 'pg_class') IS NULL$$,
	'catalog: every function, table and view in cmp has a comment (\df+ and \d+ document them)');
SELECT is_empty($$
	SELECT c.oid::regclass::text || '.' || a.attname FROM pg_class c
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'v')
	   AND (obj_description(c.oid, 'pg_class') NOT LIKE 'internal:%' OR c.relkind = 'v')
	   AND col_description(c.oid, a.attnum) IS NULL$$,
	'catalog: every column of every table and view a reader sees has a comment');
-- An index expression needs IMMUTABLE functions: none that reads the actor
-- can be used in one (42P17), so no index can store one actor's value for
-- another's rows.
CREATE TEMP TABLE core_own (id bigint, c bigint);
SELECT throws_ok($$CREATE INDEX ON core_own ((cmp.actor_id()))$$, '42P17', NULL,
	'index expression: cmp.actor_id() is refused');
SELECT throws_ok($$CREATE INDEX ON core_own ((cmp.actor_customer_ids()))$$, '42P17', NULL,
	'index expression: cmp.actor_customer_ids() is refused');
SELECT throws_ok($$CREATE INDEX ON core_own ((cmp.actor_account_id()))$$, '42P17', NULL,
	'index expression: cmp.actor_account_id() is refused');
SELECT throws_ok($$CREATE INDEX ON core_own ((cmp.actor_sees(id, c)))$$, '42P17', NULL,
	'index expression: cmp.actor_sees() is refused');
SELECT throws_ok($$CREATE INDEX ON core_own (id) WHERE cmp.actor_is_csp()$$, '42P17', NULL,
	'index predicate: cmp.actor_is_csp() is refused');
SELECT is(cmp.actor_gate(true) AND NOT cmp.actor_gate(false), true,
	'actor_gate: returns its argument, so in an index it stores nothing of the actor''s');

-- ---- nobody's EXPLAIN: no estimate derived from hidden rows ----------------
CREATE FUNCTION pg_temp.max_plan_rows(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	plan jsonb;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
	RETURN (SELECT max(r::text::numeric) FROM jsonb_path_query(plan, 'strict $.**."Plan Rows"') AS r);
END $$;
CREATE FUNCTION pg_temp.explain_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN ' || q LOOP
		RETURN NEXT l;
	END LOOP;
END $$;
SET ROLE ro_core_nobody;
SELECT cmp_ok(pg_temp.max_plan_rows(format('SELECT * FROM cmp.sim_card WHERE account_id = %s', :other)),
	'<=', 1::numeric, 'EXPLAIN as nobody: a filter on another tenant''s SIMs estimates no rows');
SELECT cmp_ok(pg_temp.max_plan_rows(format('SELECT * FROM cmp.sim_grid WHERE account_id = %s', :acct)),
	'<=', 1::numeric, 'EXPLAIN as nobody: the SIM grid estimates no rows');
SELECT cmp_ok(pg_temp.max_plan_rows('SELECT * FROM cmp.customer_overview'),
	'<=', 1::numeric, 'EXPLAIN as nobody: the customer overview estimates no rows');
SELECT cmp_ok(pg_temp.max_plan_rows(format('SELECT * FROM cmp.app_user WHERE account_id = %s', :acct)),
	'<=', 1::numeric, 'EXPLAIN as nobody: users estimate no rows');
SELECT cmp_ok(pg_temp.max_plan_rows(format('SELECT * FROM cmp.sim_assignment_history WHERE account_id = %s', :acct)),
	'<=', 1::numeric, 'EXPLAIN as nobody: the assignment history estimates no rows');
RESET ROLE;
-- a LOCKED user sees nothing, and its plans show only its kind's condition
SET ROLE ro_core_app;
SELECT cmp.set_actor(:cu1);
SELECT is((SELECT count(*) FROM cmp.sim_card), 4::bigint, 'control: the one-customer user counts its SIMs');
RESET ROLE;
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE user_id = :cu1;
SET ROLE ro_core_app;
SELECT is((SELECT count(*) FROM cmp.sim_card), 0::bigint,
	'locked: a customer user locked meanwhile counts no SIMs at its next statement');
RESET ROLE;
UPDATE cmp.app_user_data SET status = 'ACTIVE' WHERE user_id = :cu1;

-- ---- the folded conditions ---------------------------------------------------
SET ROLE ro_core_app;
SELECT cmp.set_actor(:cu1);
SELECT matches(
	(SELECT string_agg(l, E'\n') FROM pg_temp.explain_lines('SELECT * FROM cmp.sim_card') AS l),
	'Index Cond: \(customer_id = \$[0-9]+\)|Filter: \(customer_id = \$[0-9]+\)',
	'folded: a customer user with one customer gets customer_id = $n (an InitPlan), no constant');
RESET ROLE;

-- ---- plans kept across actors of a kind, replanned across kinds ------------
SET ROLE ro_core_app;
PREPARE core_count AS SELECT pg_catalog.count(*) FROM cmp.sim_card;
SELECT cmp.set_actor(:cu1);
EXECUTE core_count \gset k1_
SELECT cmp.set_actor(:cu2);
EXECUTE core_count \gset k2_
SELECT cmp.set_actor(:admin);
EXECUTE core_count \gset k3_
SELECT cmp.set_actor(:other_admin);
EXECUTE core_count \gset k4_
SELECT cmp.set_actor(:csp);
EXECUTE core_count \gset k5_
SELECT cmp.set_actor(:cu1);
EXECUTE core_count \gset k6_
SELECT cmp.clear_actor();
EXECUTE core_count \gset k7_
DEALLOCATE core_count;
RESET ROLE;
SELECT is(ARRAY[:k1_count, :k2_count, :k3_count, :k4_count, :k5_count, :k6_count, :k7_count]::bigint[],
	ARRAY[4, 11, 30, 40, 70, 4, 0]::bigint[],
	'prepared: one statement shows each actor its own SIMs: customer users of one and two customers, two accounts, CSP, then nobody');

-- the values: for the acting user only, NULL or empty for other kinds
SET ROLE ro_core_app;
SELECT cmp.set_actor(:cu2);
SELECT is(cmp.actor_customer_ids(), ARRAY[:c1, :c2]::bigint[], 'values: a customer user''s customers');
SELECT is(cmp.actor_account_id(), NULL::bigint, 'values: a customer user has no account value');
SELECT is(cmp.actor_is_csp(), false, 'values: a customer user is not a CSP user');
SELECT cmp.set_actor(:admin);
SELECT is(cmp.actor_account_id(), :acct::bigint, 'values: an ACCOUNT user''s account');
SELECT is(cmp.actor_customer_ids(), '{}'::bigint[], 'values: an ACCOUNT user has no customer values');
SELECT cmp.set_actor(:csp);
SELECT is(cmp.actor_is_csp(), true, 'values: a CSP user is one');
SELECT cmp.clear_actor();
SELECT is(cmp.actor_is_csp(), false, 'values: nobody is no CSP user');
RESET ROLE;

-- a query that calls a value function itself is no plan of that function's shape
SET ROLE ro_core_app;
SELECT cmp.set_actor(:cu1);
SELECT lives_ok($$SELECT cmp.actor_is_csp(), cmp.actor_account_id(), pg_catalog.count(*) FROM cmp.sim_card$$,
	'marks: a customer user''s query that calls cmp.actor_is_csp() and cmp.actor_account_id() is not refused');
SELECT is((SELECT pg_catalog.count(*) FROM cmp.sim_card WHERE cmp.actor_is_csp() IS FALSE), 4::bigint,
	'marks: ... and shows the customer user''s SIMs');
SELECT cmp.clear_actor();
RESET ROLE;

-- ---- a CSP user's gate: skipped while true, honoured when false ----------
-- The executor drops a true cmp.actor_gate($n) from a scan's conditions
-- (fold.c): the other conditions, a sub-select, a parallel plan and a
-- locked user must keep giving what the rows and the policy allow.
SET ROLE ro_core_app;
SELECT cmp.set_actor(:csp);
SELECT pg_catalog.count(*) AS n FROM cmp.sim_card WHERE customer_id IS NOT NULL \gset csp_assigned_
SELECT pg_catalog.count(*) AS n FROM cmp.sim_card s
 WHERE s.customer_id IN (SELECT c.customer_id FROM cmp.customer c
                          WHERE c.name = 'Core Two' AND c.account_id = s.account_id) \gset csp_sub_
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT pg_catalog.count(*) AS n FROM cmp.sim_card \gset csp_parallel_
SELECT pg_catalog.string_agg(l, E'\n') AS plan
  FROM pg_temp.explain_lines('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS l \gset csp_
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT cmp.clear_actor();
RESET ROLE;
SELECT is(:csp_assigned_n::bigint, 11::bigint, 'CSP gate: a further condition is still applied');
SELECT is(:csp_sub_n::bigint, 7::bigint, 'CSP gate: a condition with a correlated sub-select is still applied');
SELECT ok(:'csp_plan' LIKE '%Gather%' AND :csp_parallel_n = 70,
	'CSP gate: a parallel plan counts every SIM (workers skip the gate with the leader''s value)');

CREATE ROLE ro_core_cspdb NOLOGIN;
SELECT cmp.create_user(login => 'core_csp_db', email => 'core.csp.db@example.com',
	context_level => 'CSP', db_role => 'ro_core_cspdb') AS csp_db \gset
SET ROLE ro_core_cspdb;
PREPARE core_gate AS SELECT pg_catalog.count(*) FROM cmp.sim_card;
EXECUTE core_gate \gset gate_before_
RESET ROLE;
SELECT cmp.set_user_status(:csp_db, 'LOCKED') \g /dev/null
SET ROLE ro_core_cspdb;
EXECUTE core_gate \gset gate_after_
DEALLOCATE core_gate;
RESET ROLE;
SELECT is(ARRAY[:gate_before_count, :gate_after_count]::bigint[], ARRAY[70, 0]::bigint[],
	'CSP gate: a CSP user''s prepared count is every SIM, and nothing once the user is locked');

-- ---- cmp.allow_session_actor ----------------------------------------------
SELECT is((SELECT context FROM pg_settings WHERE name = 'cmp.allow_session_actor'), 'superuser',
	'allow_session_actor: only a superuser (or ALTER ROLE by one) sets it');
SET cmp.allow_session_actor = off;
SET ROLE ro_core_app;
SELECT throws_ok(format('SELECT cmp.set_actor(%s, is_local => false)', :admin), '42501',
	'permission denied to set a session actor',
	'allow_session_actor off: a session actor is refused');
SELECT lives_ok(format('SELECT cmp.set_actor(%s)', :admin),
	'allow_session_actor off: a transaction''s actor is allowed');
SELECT throws_ok($$SET cmp.allow_session_actor = on$$, '42501', NULL,
	'allow_session_actor: the role cannot turn it back on');
SELECT cmp.clear_actor();
RESET ROLE;
RESET cmp.allow_session_actor;

-- ---- a db_role mapping belongs to the role that existed when it was made ---
CREATE ROLE ro_core_tmp_analyst NOLOGIN;
SELECT cmp.create_user(login => 'core_analyst', email => 'core.analyst@example.com',
	context_level => 'ACCOUNT', account_id => :acct, db_role => 'ro_core_tmp_analyst') AS analyst \gset
SET ROLE ro_core_tmp_analyst;
SELECT is(cmp.actor_id(), :analyst::bigint, 'mapping: the mapped role acts as its user');
SELECT is((SELECT count(*) FROM cmp.sim_card), 30::bigint, 'mapping: and reads its account''s SIMs');
RESET ROLE;
DROP ROLE ro_core_tmp_analyst;
CREATE ROLE ro_core_tmp_analyst NOLOGIN;
SET ROLE ro_core_tmp_analyst;
SELECT is(cmp.actor_id(), NULL::bigint, 'mapping: a role dropped and created again under the name is nobody');
SELECT is((SELECT count(*) FROM cmp.sim_card), 0::bigint, 'mapping: and reads nothing');
RESET ROLE;
SELECT lives_ok($$SELECT cmp.create_user(login => 'core_analyst2', email => 'core.analyst2@example.com',
	context_level => 'ACCOUNT', account_id => $$ || :acct || $$, db_role => 'ro_core_tmp_analyst')$$,
	'mapping: a CSP user (here the system actor) may map the new role again');
SET ROLE ro_core_tmp_analyst;
SELECT is((SELECT login FROM cmp.whoami()), 'core_analyst2', 'mapping: the new role acts as the user it was mapped to');
RESET ROLE;
SELECT is((SELECT db_role FROM cmp.app_user WHERE user_id = :analyst), NULL::name,
	'mapping: the old user''s stale mapping is gone');

SELECT * FROM finish();
ROLLBACK;
