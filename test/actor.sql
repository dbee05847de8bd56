-- Who is acting (SPEC §4, §10 "forging the actor", "a search_path that
-- shadows functions or operators used inside the extension"): setting the
-- actor, what cannot forge it, whoami for every kind of actor, the db_role
-- mapping, the actor across subtransactions and changes of the data it was
-- resolved from, and a hostile search_path.
--
-- What needs separate sessions or transactions (is_local ending at COMMIT and
-- ROLLBACK, RESET ALL, DISCARD ALL, a placeholder set before the library is
-- loaded, options given at connection time) cannot run inside one pgTAP
-- transaction; the pg_regress test sql/actor_session.sql shows those.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(96);

CREATE ROLE ro_act_app NOLOGIN;          -- the application: may call set_actor
CREATE ROLE ro_act_nogrant NOLOGIN;      -- an ordinary role: may not
CREATE ROLE ro_act_mapped NOLOGIN;       -- db_role of an ACCOUNT user
CREATE ROLE ro_act_roleadmin NOLOGIN CREATEROLE;  -- may ALTER other roles
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_act_app;
-- a schema where the non-superusers may create functions
CREATE SCHEMA ro_act_scratch;
GRANT USAGE, CREATE ON SCHEMA ro_act_scratch TO ro_act_app, ro_act_nogrant;

-- ---- fixture (as the system actor) -----------------------------------------

-- An ICCID: 89 + 16 digits + Luhn check digit.  Computed, not hard-coded.
-- (Its own search_path: it is also called under the hostile one below.)
\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
	SELECT pg_temp.luhn('89491000' || lpad(n::text, 10, '0'))
$$;

SELECT cmp.create_account(account_number => 'RO-ACT-R', name => 'Reseller R',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct_r \gset
SELECT cmp.create_account(account_number => 'RO-ACT-S', name => 'Standard S') AS acct_s \gset
SELECT cmp.create_user(login => 'act_csp', email => 'act.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'act_csp2', email => 'act.csp2@example.com',
	context_level => 'CSP') AS csp2 \gset
SELECT cmp.create_user(login => 'act_csp_locked', email => 'act.csplk@example.com',
	context_level => 'CSP') AS csp_lk \gset
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE user_id = :csp_lk;
SELECT cmp.create_user(login => 'act_acc_r', email => 'act.acc.r@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, is_admin => true) AS acc_r \gset
SELECT cmp.create_user(login => 'act_acc_s', email => 'act.acc.s@example.com',
	context_level => 'ACCOUNT', account_id => :acct_s, db_role => 'ro_act_mapped') AS acc_s \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('act_cu_a', 'act.cu.a@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_r)
RETURNING user_id AS cu_a \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
VALUES (:acct_r, 'RESELLER', 1, 'R Draft', 'DRAFT')
RETURNING customer_id AS r_draft \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_r, 'RESELLER', 2, 'R Active', 'ACTIVE', :cu_a, now())
RETURNING customer_id AS r_active \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
VALUES (:acct_s, 'STANDARD', 1, 'S Draft', 'DRAFT')
RETURNING customer_id AS s_draft \gset
INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES
	(:cu_a, :r_active, :acct_r), (:cu_a, :r_draft, :acct_r);
SELECT cmp.provision_sims(account_id => :acct_r,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 4) AS n)) \g /dev/null
SELECT cmp.provision_sims(account_id => :acct_s,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(11, 12) AS n)) \g /dev/null
UPDATE cmp.sim_card SET customer_id = :r_active, assigned_at = now()
 WHERE iccid IN (pg_temp.iccid(1), pg_temp.iccid(2));

-- ---- setting the actor ------------------------------------------------------

SELECT is(
	(SELECT context FROM pg_settings WHERE name = 'cmp.actor'),
	'superuser',
	'cmp.actor is a superuser-only setting'
);
SELECT is_empty(
	$$SELECT a.grantee FROM pg_proc p, aclexplode(p.proacl) AS a
	   WHERE p.oid = 'cmp.set_actor(bigint, boolean)'::regprocedure
	     AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'$$,
	'EXECUTE on cmp.set_actor is not granted to PUBLIC'
);
SELECT isnt(
	(SELECT proacl FROM pg_proc WHERE oid = 'cmp.set_actor(bigint, boolean)'::regprocedure),
	NULL,
	'cmp.set_actor has an explicit ACL (a NULL ACL would mean PUBLIC may execute it)'
);

SET ROLE ro_act_nogrant;
SELECT throws_ok(format('SELECT cmp.set_actor(%s)', :csp), '42501', NULL,
	'setting the actor without EXECUTE on cmp.set_actor is refused');
SELECT throws_ok(format('SELECT cmp.set_actor(%s, false)', :csp), '42501', NULL,
	'setting a session actor without EXECUTE on cmp.set_actor is refused');
SELECT throws_ok(format('SET cmp.actor = %L', :csp), '42501', NULL,
	'SET cmp.actor by a non-superuser is refused');
SELECT throws_ok(format('SET LOCAL cmp.actor = %L', :csp), '42501', NULL,
	'SET LOCAL cmp.actor by a non-superuser is refused');
SELECT throws_ok(format('SELECT set_config(''cmp.actor'', %L, false)', :csp), '42501', NULL,
	'set_config(cmp.actor, ..., false) by a non-superuser is refused');
SELECT throws_ok(format('SELECT set_config(''cmp.actor'', %L, true)', :csp), '42501', NULL,
	'set_config(cmp.actor, ..., true) by a non-superuser is refused');
SELECT throws_ok(format('ALTER ROLE ro_act_nogrant SET cmp.actor = %L', :csp), '42501', NULL,
	'ALTER ROLE <self> SET cmp.actor by a non-superuser is refused');
SELECT throws_ok(format('ALTER ROLE ro_act_nogrant IN DATABASE %I SET cmp.actor = %L',
	current_database(), :csp), '42501', NULL,
	'ALTER ROLE <self> IN DATABASE ... SET cmp.actor by a non-superuser is refused');
RESET ROLE;
SET ROLE ro_act_roleadmin;
SELECT throws_ok(format('ALTER ROLE ro_act_nogrant SET cmp.actor = %L', :csp), '42501', NULL,
	'ALTER ROLE <other> SET cmp.actor by a CREATEROLE non-superuser is refused');
RESET ROLE;
SET ROLE ro_act_nogrant;
SELECT lives_ok(
	'CREATE FUNCTION ro_act_scratch.plain() RETURNS bigint LANGUAGE sql AS ''SELECT cmp.actor_id()''',
	'a non-superuser may create functions in the scratch schema (control for the next tests)');
SELECT throws_ok(format(
	'CREATE FUNCTION ro_act_scratch.forged() RETURNS bigint LANGUAGE sql SET cmp.actor = %L AS ''SELECT cmp.actor_id()''',
	:csp), '42501', NULL,
	'a function SET clause for cmp.actor by a non-superuser is refused');
SELECT throws_ok(format('ALTER FUNCTION ro_act_scratch.plain() SET cmp.actor = %L', :csp),
	'42501', NULL,
	'ALTER FUNCTION ... SET cmp.actor by a non-superuser is refused');
SELECT throws_ok('SET cmp.anything = ''x''', '42602', NULL,
	'the cmp. prefix is reserved: SET of any other cmp.* setting is refused (no placeholder)');
SELECT throws_ok('SELECT set_config(''cmp.actor_id'', ''1'', false)', '42602', NULL,
	'the cmp. prefix is reserved: set_config of another cmp.* setting is refused');
SELECT is(cmp.actor_id(), NULL,
	'after the refused attempts the session still has no actor');
SELECT is(ro_act_scratch.plain(), NULL,
	'the function the non-superuser created acts as nobody either');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'RO-ACT-FORGED', name => 'Forged')$$,
	'42501', NULL,
	'a non-superuser with no actor is not the system actor, even inside a SECURITY DEFINER function');
RESET ROLE;

SELECT throws_ok('SET cmp.anything = ''x''', '42602', NULL,
	'the cmp. prefix is reserved for superusers too');

-- A SECURITY DEFINER function owned by a superuser does not make its caller
-- the system actor: the actor follows the session's role, not the owner's.
CREATE FUNCTION ro_act_scratch.definer_whoami() RETURNS text
LANGUAGE sql SECURITY DEFINER AS $$ SELECT (cmp.whoami()).context_level $$;
SELECT is(ro_act_scratch.definer_whoami(), 'SYSTEM',
	'a superuser with no actor is the SYSTEM actor (control for the next test)');
SET ROLE ro_act_nogrant;
SELECT isnt(ro_act_scratch.definer_whoami(), 'SYSTEM',
	'a non-superuser calling a superuser''s SECURITY DEFINER function is not the SYSTEM actor');
RESET ROLE;

SET ROLE ro_act_app;
SELECT throws_ok('SELECT cmp.set_actor(999999999)', 'P0002', NULL,
	'set_actor of an unknown user is refused as not found');
SELECT throws_ok(format('SELECT cmp.set_actor(%s)', :csp_lk), '55000', NULL,
	'set_actor of a LOCKED user is refused');
SELECT throws_ok('SELECT cmp.set_actor(NULL)', '22004', NULL,
	'set_actor of NULL is refused');
SELECT is(cmp.actor_id(), NULL, 'refused set_actor calls leave no actor behind');
SELECT lives_ok(format('SELECT cmp.set_actor(%s)', :csp),
	'the application role with EXECUTE may set the actor');
SELECT is(cmp.actor_id(), :csp::bigint, 'actor_id() is the actor just set');
SELECT throws_ok(format('SELECT cmp.set_actor(%s)', :csp_lk), '55000', NULL,
	'set_actor of a LOCKED user is refused while another actor is set');
SELECT is(cmp.actor_id(), :csp::bigint, 'a refused set_actor keeps the previous actor');
SELECT throws_ok(format('SELECT cmp.set_actor(%s, false)', :csp_lk), '55000', NULL,
	'set_actor(is_local => false) of a LOCKED user is refused too');
SELECT is(cmp.actor_id(), :csp::bigint, 'a refused session set_actor keeps the previous actor');
SELECT cmp.clear_actor();
SELECT is(cmp.actor_id(), NULL, 'clear_actor() leaves no actor');
RESET ROLE;

-- ---- whoami for each kind of actor -----------------------------------------

SELECT results_eq(
	'SELECT * FROM cmp.whoami()',
	$$VALUES (NULL::bigint, NULL::text, 'SYSTEM'::text, NULL::bigint, NULL::bigint[])$$,
	'whoami: a superuser with no actor is the SYSTEM actor');
SELECT is(cmp.actor_id(), NULL, 'actor_id: the SYSTEM actor has no user id');

SET ROLE ro_act_app;
SELECT cmp.set_actor(:csp);
SELECT results_eq(
	'SELECT * FROM cmp.whoami()',
	format($$VALUES (%s::bigint, 'act_csp'::text, 'CSP'::text, NULL::bigint, NULL::bigint[])$$, :csp),
	'whoami: a CSP user has no account and no customers');
SELECT cmp.set_actor(:acc_r);
SELECT results_eq(
	'SELECT * FROM cmp.whoami()',
	format($$VALUES (%s::bigint, 'act_acc_r'::text, 'ACCOUNT'::text, %s::bigint, NULL::bigint[])$$,
	       :acc_r, :acct_r),
	'whoami: an ACCOUNT user has its account and no customers');
SELECT cmp.set_actor(:cu_a);
SELECT results_eq(
	'SELECT * FROM cmp.whoami()',
	format($$VALUES (%s::bigint, 'act_cu_a'::text, 'CUSTOMER'::text, %s::bigint, ARRAY[%s, %s]::bigint[])$$,
	       :cu_a, :acct_r, least(:r_active, :r_draft), greatest(:r_active, :r_draft)),
	'whoami: a CUSTOMER user has its account and its assigned customer ids, ascending');
SELECT cmp.clear_actor();
SELECT results_eq(
	'SELECT user_id, login, account_id, customer_ids FROM cmp.whoami()',
	$$VALUES (NULL::bigint, NULL::text, NULL::bigint, NULL::bigint[])$$,
	'whoami: a non-superuser with no actor and no mapping is nobody');
SELECT isnt((SELECT context_level FROM cmp.whoami()), 'SYSTEM',
	'whoami: a non-superuser with no actor is not the SYSTEM actor');
RESET ROLE;

-- a superuser with an actor acts as that user, with that user's rights
SELECT cmp.set_actor(:acc_r);
SELECT is((SELECT context_level FROM cmp.whoami()), 'ACCOUNT',
	'whoami: a superuser with an actor set is that actor, not SYSTEM');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'RO-ACT-SU', name => 'By an ACCOUNT user')$$,
	'42501', NULL,
	'a superuser acting as an ACCOUNT user is bound by that user''s rights');
SELECT cmp.clear_actor();

-- ---- db_role mapping ----------------------------------------------------------

SET ROLE ro_act_mapped;
SELECT is(cmp.actor_id(), :acc_s::bigint,
	'mapping: SET ROLE to a mapped role acts as the mapped user');
SELECT is((SELECT account_id FROM cmp.whoami()), :acct_s::bigint,
	'mapping: whoami of a mapped role is the mapped user');
RESET ROLE;
SET SESSION AUTHORIZATION ro_act_mapped;
SELECT is(cmp.actor_id(), :acc_s::bigint,
	'mapping: SET SESSION AUTHORIZATION to a mapped role acts as the mapped user');
RESET SESSION AUTHORIZATION;
SET ROLE ro_act_app;
SELECT is(cmp.actor_id(), NULL, 'mapping: an unmapped role with no actor is nobody');
RESET ROLE;

-- explicit actor beats the mapping: set by a superuser ...
SET LOCAL cmp.actor = :'csp';
SET ROLE ro_act_mapped;
SELECT is(cmp.actor_id(), :csp::bigint,
	'mapping: an actor set explicitly overrides the db_role mapping');
RESET ROLE;
SELECT cmp.clear_actor();
-- ... or by the mapped role itself, when it may call set_actor
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_act_mapped;
SET ROLE ro_act_mapped;
SELECT cmp.set_actor(:cu_a);
SELECT is(cmp.actor_id(), :cu_a::bigint,
	'mapping: set_actor by a mapped role overrides its mapping');
SELECT cmp.clear_actor();
SELECT is(cmp.actor_id(), :acc_s::bigint,
	'mapping: clear_actor() falls back to the mapping');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) FROM ro_act_mapped;

-- ---- subtransactions ------------------------------------------------------------
-- No assertion may run between SAVEPOINT and ROLLBACK TO (its result would
-- be rolled back too), so values are kept in psql variables.

SET ROLE ro_act_app;
SAVEPOINT s1;
SELECT cmp.set_actor(:csp);
SELECT coalesce(cmp.actor_id()::text, 'none') AS in_s1 \gset
ROLLBACK TO SAVEPOINT s1;
SELECT coalesce(cmp.actor_id()::text, 'none') AS after_s1 \gset

SELECT cmp.set_actor(:acc_r, false);
SAVEPOINT s2;
SELECT cmp.set_actor(:csp, false);
SELECT coalesce(cmp.actor_id()::text, 'none') AS in_s2 \gset
ROLLBACK TO SAVEPOINT s2;
SELECT coalesce(cmp.actor_id()::text, 'none') AS after_s2 \gset

SAVEPOINT s3;
SELECT cmp.set_actor(:cu_a);
RELEASE SAVEPOINT s3;
SELECT coalesce(cmp.actor_id()::text, 'none') AS after_s3 \gset

SAVEPOINT s4;
SELECT cmp.clear_actor();
SELECT coalesce(cmp.actor_id()::text, 'none') AS in_s4 \gset
ROLLBACK TO SAVEPOINT s4;
SELECT coalesce(cmp.actor_id()::text, 'none') AS after_s4 \gset
RESET ROLE;

SELECT is(:'in_s1'::text, :'csp', 'subtransaction: set_actor takes effect inside a savepoint');
SELECT is(:'after_s1'::text, 'none',
	'subtransaction: ROLLBACK TO SAVEPOINT undoes a set_actor made after it');
SELECT is(:'in_s2'::text, :'csp', 'subtransaction: a session set_actor takes effect inside a savepoint');
SELECT is(:'after_s2'::text, :'acc_r',
	'subtransaction: ROLLBACK TO SAVEPOINT restores the session actor set before it');
SELECT is(:'after_s3'::text, :'cu_a',
	'subtransaction: a local set_actor survives RELEASE SAVEPOINT');
SELECT is(:'in_s4'::text, 'none', 'subtransaction: clear_actor takes effect inside a savepoint');
SELECT is(:'after_s4'::text, :'cu_a',
	'subtransaction: ROLLBACK TO SAVEPOINT undoes clear_actor');

SET ROLE ro_act_app;
SELECT throws_ok(
	format('SELECT cmp.set_actor(%s), 1 / (random() * 0)::integer', :csp),
	'22012', NULL,
	'control: the statement that sets the actor fails after set_actor ran');
SELECT is(cmp.actor_id(), :cu_a::bigint,
	'an actor set by a statement that fails is undone with it');
SELECT cmp.clear_actor();
RESET ROLE;

-- ---- changes to what the actor was resolved from ----------------------------

SET ROLE ro_act_app;
SELECT cmp.set_actor(:csp2, false);
SELECT is((SELECT count(*) FROM cmp.account), 2::bigint,
	'cache: a CSP user sees both accounts (control)');
RESET ROLE;
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE user_id = :csp2;
SET ROLE ro_act_app;
SELECT is((SELECT count(*) FROM cmp.account), 0::bigint,
	'cache: a user locked while it is the actor sees nothing any more');
SELECT throws_ok(
	$$SELECT cmp.create_account(account_number => 'RO-ACT-LOCKED', name => 'By a locked user')$$,
	'42501', NULL,
	'cache: a user locked while it is the actor can change nothing any more');
SELECT is(cmp.actor_id(), NULL, 'cache: actor_id() of a locked actor is NULL');

SELECT cmp.set_actor(:cu_a, false);
SELECT set_eq('SELECT customer_id FROM cmp.customer', ARRAY[:r_active]::bigint[],
	'cache: a CUSTOMER user sees its ACTIVE customer, not its DRAFT one (control)');
RESET ROLE;
UPDATE cmp.customer SET status = 'ACTIVE', admin_user_id = :cu_a, activated_at = now()
 WHERE customer_id = :r_draft;
SET ROLE ro_act_app;
SELECT set_eq('SELECT customer_id FROM cmp.customer', ARRAY[:r_active, :r_draft]::bigint[],
	'cache: a customer activated while its user is the actor becomes visible at once');
RESET ROLE;
DELETE FROM cmp.user_customer WHERE user_id = :cu_a AND customer_id = :r_active;
SET ROLE ro_act_app;
SELECT set_eq('SELECT customer_id FROM cmp.customer', ARRAY[:r_draft]::bigint[],
	'cache: a customer unassigned while its user is the actor disappears at once');
SELECT is_empty('SELECT iccid FROM cmp.sim_card',
	'cache: the SIMs of an unassigned customer disappear at once');
RESET ROLE;
UPDATE cmp.customer SET status = 'SUSPENDED' WHERE customer_id = :r_draft;
UPDATE cmp.customer SET status = 'TERMINATED', terminated_at = now() WHERE customer_id = :r_draft;
SET ROLE ro_act_app;
SELECT is_empty('SELECT customer_id FROM cmp.customer',
	'cache: a customer terminated while its user is the actor disappears at once');
SELECT cmp.clear_actor();
RESET ROLE;

SET ROLE ro_act_mapped;
SELECT is((SELECT count(*) FROM cmp.account), 1::bigint,
	'cache: a mapped role sees its user''s account (control)');
PREPARE remap_q AS SELECT coalesce(pg_catalog.array_agg(account_id)::text, '{}') AS ids FROM cmp.account;
EXECUTE remap_q \gset remap1_
RESET ROLE;
-- the role is mapped to the ACCOUNT user of the other account instead
UPDATE cmp.app_user_data SET db_role = NULL WHERE user_id = :acc_s;
UPDATE cmp.app_user_data SET db_role = 'ro_act_mapped' WHERE user_id = :acc_r;
SET ROLE ro_act_mapped;
EXECUTE remap_q \gset remap2_
SELECT is(cmp.actor_id(), :acc_r::bigint,
	'cache: a role remapped while in use acts as its new user at once');
SELECT set_eq('SELECT account_id FROM cmp.account', ARRAY[:acct_r]::bigint[],
	'cache: a role remapped while in use sees its new user''s account at once');
RESET ROLE;
DEALLOCATE remap_q;
UPDATE cmp.app_user_data SET db_role = NULL WHERE user_id = :acc_r;
SET ROLE ro_act_mapped;
SELECT is(cmp.actor_id(), NULL, 'cache: a role unmapped while in use acts as nobody at once');
SELECT is((SELECT count(*) FROM cmp.account), 0::bigint,
	'cache: a role unmapped while in use sees nothing at once');
RESET ROLE;
UPDATE cmp.app_user_data SET db_role = 'ro_act_mapped' WHERE user_id = :acc_s;
SELECT is(:'remap1_ids'::text, '{' || :acct_s || '}',
	'cache: a statement prepared by a mapped role shows its user''s account (control)');
SELECT is(:'remap2_ids'::text, '{' || :acct_r || '}',
	'cache: a statement prepared by a mapped role shows the new user''s account once the role is remapped');

-- ---- a hostile search_path ------------------------------------------------------
-- Schema evil shadows what the extension uses (operators, lower, unnest,
-- count, now, nextval, length, to_jsonb) and the extension's own function
-- names.  With evil first and pg_catalog explicitly after it, any name the
-- extension leaves unqualified resolves to evil.  Nothing here may change.

CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.eq_int8(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
CREATE FUNCTION evil.eq_text(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
CREATE FUNCTION evil.ne_text(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.ne_text);
CREATE FUNCTION evil.eq_name(name, name) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.eq_name);
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT 'x'::text$$;
CREATE FUNCTION evil.length(text) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 0';
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql IMMUTABLE
	AS 'SELECT $1[1] WHERE false';
CREATE FUNCTION evil.count_step(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 0::bigint';
CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::timestamptz$$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$SELECT '{}'::jsonb$$;
CREATE FUNCTION evil.actor_id() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION evil.actor_sees(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.actor_is_csp() RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.actor_account_id() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION evil.actor_customer_id() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION evil.actor_sees_user(bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.actor_user_ids() RETURNS bigint[] LANGUAGE sql AS $$SELECT '{1,2,3}'::bigint[]$$;
CREATE FUNCTION evil.actor_sees(bigint, bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.actor_customer_ids() RETURNS bigint[] LANGUAGE sql AS $$SELECT '{1,2,3}'::bigint[]$$;
CREATE FUNCTION evil.actor_is_active() RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.iccid_is_valid(text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.email_is_valid(text) RETURNS boolean LANGUAGE sql AS 'SELECT true';

-- What each actor sees, as a count per relation, and who it is.  Written
-- with qualified names, so only the extension's own lookups are at stake.
CREATE TEMP VIEW seen_counts WITH (security_invoker = true) AS
SELECT pg_catalog.concat_ws(',',
	(SELECT pg_catalog.count(*) FROM cmp.account),
	(SELECT pg_catalog.count(*) FROM cmp.app_user),
	(SELECT pg_catalog.count(*) FROM cmp.customer),
	(SELECT pg_catalog.count(*) FROM cmp.user_customer),
	(SELECT pg_catalog.count(*) FROM cmp.sim_card),
	(SELECT pg_catalog.count(*) FROM cmp.customer_status_transition),
	(SELECT pg_catalog.count(*) FROM cmp.audit_log),
	(SELECT pg_catalog.count(*) FROM cmp.sim_grid),
	(SELECT pg_catalog.count(*) FROM cmp.customer_overview),
	(SELECT w.user_id FROM cmp.whoami() AS w),
	(SELECT w.context_level FROM cmp.whoami() AS w)) AS counts;
GRANT SELECT ON seen_counts TO PUBLIC;

-- The SQLSTATE of a statement (00000 when it succeeds), run as the caller
-- under the caller's search_path.  Uses no operator itself.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN '00000';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;

-- baseline, with the normal search_path
SET ROLE ro_act_app;
SELECT cmp.set_actor(:csp);
SELECT counts AS base_csp FROM seen_counts \gset
SELECT cmp.set_actor(:acc_r);
SELECT counts AS base_acc FROM seen_counts \gset
SELECT cmp.set_actor(:cu_a);
SELECT counts AS base_cu FROM seen_counts \gset
SELECT cmp.clear_actor();
SELECT counts AS base_none FROM seen_counts \gset
RESET ROLE;
SET ROLE ro_act_mapped;
SELECT counts AS base_map FROM seen_counts \gset
RESET ROLE;

-- an ICCID whose Luhn check digit is wrong
SELECT left(pg_temp.iccid(24), 18) || ((right(pg_temp.iccid(24), 1)::integer + 1) % 10) AS bad_iccid \gset

SET LOCAL search_path = evil, public, pg_catalog;
-- the shadowing is real for unqualified names
SELECT (1::bigint = 2::bigint)::text AS evil_eq, lower('ABC') AS evil_lower,
       (SELECT count(*) FROM (VALUES (1), (2)) AS v(x))::text AS evil_count \gset

SET ROLE ro_act_app;
SELECT cmp.set_actor(:csp);
SELECT counts AS evil_csp FROM seen_counts \gset
SELECT cmp.set_actor(:acc_r);
SELECT counts AS evil_acc FROM seen_counts \gset
SELECT cmp.set_actor(:cu_a);
SELECT counts AS evil_cu FROM seen_counts \gset
SELECT cmp.clear_actor();
SELECT counts AS evil_none FROM seen_counts \gset
SELECT pg_temp.sqlstate_of('SELECT cmp.set_actor(999999999)') AS evil_unknown \gset
SELECT pg_temp.sqlstate_of(pg_catalog.format('SELECT cmp.set_actor(%s)', :csp_lk)) AS evil_locked \gset
SELECT pg_temp.sqlstate_of(pg_catalog.format('SELECT cmp.set_actor(%s)', :csp)) AS evil_set_csp \gset
SELECT cmp.actor_id() AS evil_actor \gset
SELECT cmp.create_account(account_number => 'RO-ACT-EVIL-1', name => 'Evil One') AS evil_acct1 \gset
SELECT pg_temp.sqlstate_of(
	$$SELECT cmp.create_account(account_number => 'RO-ACT-EVIL-2', name => 'Evil Two')$$) AS evil_acct2 \gset
SELECT pg_temp.sqlstate_of(
	$$SELECT cmp.create_account(account_number => 'RO-ACT-EVIL-1', name => 'Evil Again')$$) AS evil_acct_dup \gset
SELECT cmp.create_user(login => 'Evil_Login_One', email => 'evil.one@example.com',
	context_level => 'ACCOUNT', account_id => :evil_acct1) AS evil_user1 \gset
SELECT pg_temp.sqlstate_of(
	$$SELECT cmp.create_user(login => 'evil_login_two', email => 'evil.two@example.com', context_level => 'CSP')$$) AS evil_user2 \gset
SELECT pg_temp.sqlstate_of(
	$$SELECT cmp.create_user(login => 'EVIL_LOGIN_ONE', email => 'evil.dup@example.com', context_level => 'CSP')$$) AS evil_user_dup \gset
SELECT pg_temp.sqlstate_of(
	$$SELECT cmp.create_user(login => 'evil_bad_email', email => 'not an email', context_level => 'CSP')$$) AS evil_bad_email \gset
SELECT cmp.provision_sims(account_id => :evil_acct1,
	iccids => ARRAY[pg_temp.iccid(21), pg_temp.iccid(22), pg_temp.iccid(23)]) AS evil_sims \gset
SELECT pg_temp.sqlstate_of(pg_catalog.format('SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L])',
	:evil_acct1, pg_temp.iccid(21))) AS evil_sims_dup \gset
SELECT pg_temp.sqlstate_of(pg_catalog.format('SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L])',
	:evil_acct1, :'bad_iccid')) AS evil_sims_bad \gset
SELECT cmp.clear_actor();
RESET ROLE;
SET ROLE ro_act_mapped;
SELECT counts AS evil_map FROM seen_counts \gset
RESET ROLE;
RESET search_path;

SELECT is(:'evil_eq' || ' ' || :'evil_lower' || ' ' || :'evil_count', 'true x 0',
	'search_path: evil really shadows =, lower() and count() for unqualified names (control)');
SELECT is(:'evil_csp'::text, :'base_csp', 'search_path: a CSP user sees the same rows under a hostile search_path');
SELECT is(:'evil_acc'::text, :'base_acc', 'search_path: an ACCOUNT user sees the same rows under a hostile search_path');
SELECT is(:'evil_cu'::text, :'base_cu', 'search_path: a CUSTOMER user sees the same rows under a hostile search_path');
SELECT is(:'evil_none'::text, :'base_none', 'search_path: no actor sees the same (nothing) under a hostile search_path');
SELECT is(:'evil_map'::text, :'base_map', 'search_path: a mapped role sees the same rows under a hostile search_path');
SELECT is(:'evil_unknown'::text, 'P0002', 'search_path: set_actor of an unknown user is still refused');
SELECT is(:'evil_locked'::text, '55000', 'search_path: set_actor of a LOCKED user is still refused');
SELECT is(:'evil_set_csp' || ' ' || :'evil_actor', '00000 ' || :'csp',
	'search_path: set_actor sets exactly the given user');
SELECT is(:'evil_acct2'::text, '00000', 'search_path: create_account of a new number succeeds');
SELECT is(:'evil_acct_dup'::text, '23505', 'search_path: create_account of an existing number is a duplicate');
SELECT is(:'evil_user2'::text, '00000', 'search_path: create_user of a new login succeeds');
SELECT is(:'evil_user_dup'::text, '23505',
	'search_path: create_user of an existing login in another case is a duplicate');
SELECT is(:'evil_bad_email'::text, '22023', 'search_path: create_user still validates the email');
SELECT is(:evil_sims::bigint, 3::bigint, 'search_path: provision_sims adds and counts every SIM');
SELECT is(:'evil_sims_dup'::text, '23505', 'search_path: provision_sims of an existing ICCID is a duplicate');
SELECT is(:'evil_sims_bad'::text, '22023', 'search_path: provision_sims still checks the Luhn digit');
SELECT results_eq(
	format($$SELECT iccid, account_id, customer_id FROM cmp.sim_card
	          WHERE account_id = %s ORDER BY iccid$$, :evil_acct1),
	format($$VALUES (%L, %s::bigint, NULL::bigint), (%L, %s, NULL), (%L, %s, NULL)$$,
	       pg_temp.iccid(21), :evil_acct1, pg_temp.iccid(22), :evil_acct1,
	       pg_temp.iccid(23), :evil_acct1),
	'search_path: the provisioned SIMs are stored as given');
SELECT results_eq(
	format($$SELECT login, context_level, account_id, created_by FROM cmp.app_user
	          WHERE user_id = %s$$, :evil_user1),
	format($$VALUES ('Evil_Login_One'::text, 'ACCOUNT'::text, %s::bigint, %s::bigint)$$,
	       :evil_acct1, :csp),
	'search_path: the created user is stored as given, created by the actor');
SELECT results_eq(
	format($$SELECT account_number, name, account_type, created_by,
	                created_at > '2000-01-02'::timestamptz
	           FROM cmp.account WHERE account_id = %s$$, :evil_acct1),
	format($$VALUES ('RO-ACT-EVIL-1'::text, 'Evil One'::text, 'STANDARD'::text, %s::bigint, true)$$, :csp),
	'search_path: the created account is stored as given, at the real time');
SELECT results_eq(
	format($$SELECT operation, actor_user_id, account_id, db_role::text COLLATE "default" FROM cmp.audit_log
	          WHERE account_id = %s ORDER BY event_id$$, :evil_acct1),
	format($$VALUES ('create_account'::text, %1$s::bigint, %2$s::bigint, 'ro_act_app'::text),
	                ('create_user', %1$s, %2$s, 'ro_act_app'),
	                ('provision_sims', %1$s, %2$s, 'ro_act_app')$$, :csp, :evil_acct1),
	'search_path: each call is audited once, with the actor and the database role');

SELECT * FROM finish();
ROLLBACK;
