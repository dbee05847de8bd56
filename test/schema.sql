-- The schema as a contract (SPEC §1, §2, §3, §6, §7): tables, columns,
-- functions, pg_dump registration, the seeded lifecycle, and the rules of
-- §2 enforced declaratively, so that they hold even for a superuser writing
-- to the tables by hand.
--
-- Every refusal below is paired with an insert that differs only in the
-- value under test and succeeds, so a refusal cannot come from some other
-- mistake in the statement.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.

BEGIN;
SELECT plan(190);

-- ---- helpers ---------------------------------------------------------------

\ir fixtures/luhn.sql

-- The SQLSTATE a statement fails with, NULL when it succeeds (its effects
-- are rolled back either way).
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'succeeded';
EXCEPTION
	WHEN assert_failure THEN RETURN NULL;
	WHEN OTHERS THEN RETURN SQLSTATE;
END $$;

SELECT is(pg_temp.luhn('899110120000320451'), '8991101200003204514',
	'helper: the SQL Luhn helper reproduces the ITU-T E.118 example');

-- ---- tables and columns (SPEC §2, §6, §7) ---------------------------------

SELECT has_schema('cmp', 'schema cmp exists');

SELECT has_table('cmp', 'account', 'table cmp.account exists');
SELECT has_table('cmp', 'customer', 'table cmp.customer exists');
SELECT has_view('cmp', 'app_user', 'view cmp.app_user exists (over the table cmp.app_user_data)');
SELECT has_table('cmp', 'user_customer', 'table cmp.user_customer exists');
SELECT has_table('cmp', 'sim_card', 'table cmp.sim_card exists');
SELECT has_table('cmp', 'customer_status_transition', 'table cmp.customer_status_transition exists');
SELECT has_table('cmp', 'customer_status_history', 'table cmp.customer_status_history exists');
SELECT has_view('cmp', 'sim_assignment_history', 'view cmp.sim_assignment_history exists (over the table cmp.sim_assignment_history_data)');
SELECT has_table('cmp', 'audit_log', 'table cmp.audit_log exists');
SELECT has_view('cmp', 'sim_grid', 'view cmp.sim_grid exists');
SELECT has_view('cmp', 'customer_overview', 'view cmp.customer_overview exists');

-- One assertion per table: the missing columns are listed on failure.
CREATE TEMPORARY TABLE contract_column (tbl text, col text) ON COMMIT DROP;
INSERT INTO contract_column
SELECT 'account', unnest(ARRAY['account_id', 'account_number', 'name', 'account_type',
	'customer_invoice_creation', 'customer_invoice_type', 'customer_billing_cycle_day'])
UNION ALL
SELECT 'customer', unnest(ARRAY['customer_id', 'account_id', 'customer_number',
	'external_customer_number', 'name', 'description', 'country', 'state', 'zip_code',
	'city', 'street', 'phone', 'homepage', 'linkedin', 'estimated_annual_revenue',
	'revenue_currency', 'billable', 'status', 'admin_user_id', 'created_at',
	'updated_at', 'activated_at', 'terminated_at'])
UNION ALL
SELECT 'app_user', unnest(ARRAY['user_id', 'login', 'email', 'full_name', 'is_admin',
	'status', 'db_role', 'context_level', 'domain', 'account_id'])
UNION ALL
SELECT 'user_customer', unnest(ARRAY['user_id', 'customer_id', 'account_id',
	'assigned_at', 'assigned_by'])
UNION ALL
SELECT 'sim_card', unnest(ARRAY['iccid', 'imsi', 'msisdn', 'account_id', 'customer_id',
	'assigned_at'])
UNION ALL
SELECT 'customer_status_transition', unnest(ARRAY['from_status', 'to_status'])
UNION ALL
SELECT 'customer_status_history', unnest(ARRAY['customer_id', 'account_id',
	'from_status', 'to_status', 'changed_at', 'changed_by', 'db_role', 'reason'])
UNION ALL
SELECT 'sim_assignment_history', unnest(ARRAY['iccid', 'account_id', 'from_customer_id',
	'to_customer_id', 'changed_at', 'changed_by'])
UNION ALL
SELECT 'audit_log', unnest(ARRAY['event_id', 'occurred_at', 'actor_user_id', 'db_role',
	'operation', 'resource_type', 'resource_id', 'account_id', 'customer_id',
	'previous_value', 'new_value', 'reason'])
UNION ALL
SELECT 'sim_grid', unnest(ARRAY['iccid', 'account_id', 'account_number', 'customer_id',
	'customer_number'])
UNION ALL
SELECT 'customer_overview', unnest(ARRAY['customer_id', 'account_id', 'customer_number',
	'name', 'status']);

SELECT is_empty(
	format($$SELECT col FROM pg_temp.contract_column WHERE tbl = %L
	          EXCEPT
	          SELECT attname::text FROM pg_catalog.pg_attribute
	           WHERE attrelid = 'cmp.%I'::regclass AND attnum > 0 AND NOT attisdropped$$, t, t),
	format('cmp.%s has every column the spec names', t))
  FROM (VALUES ('account'), ('customer'), ('app_user'), ('user_customer'), ('sim_card'),
               ('customer_status_transition'), ('customer_status_history'),
               ('sim_assignment_history'), ('audit_log'), ('sim_grid'),
               ('customer_overview')) AS v (t)
 ORDER BY t;

-- The same, column by column, for the tables of §6/§7 whose columns the
-- spec lists one by one.
SELECT has_column('cmp', 'user_customer', c, format('cmp.user_customer.%s exists', c))
  FROM unnest(ARRAY['user_id', 'customer_id', 'account_id', 'assigned_at', 'assigned_by']) AS c;
SELECT has_column('cmp', 'customer_status_transition', c, format('cmp.customer_status_transition.%s exists', c))
  FROM unnest(ARRAY['from_status', 'to_status']) AS c;
SELECT has_column('cmp', 'customer_status_history', c, format('cmp.customer_status_history.%s exists', c))
  FROM unnest(ARRAY['customer_id', 'account_id', 'from_status', 'to_status', 'changed_at',
                    'changed_by', 'db_role', 'reason']) AS c;
SELECT has_column('cmp', 'sim_assignment_history', c, format('cmp.sim_assignment_history.%s exists', c))
  FROM unnest(ARRAY['iccid', 'account_id', 'from_customer_id', 'to_customer_id',
                    'changed_at', 'changed_by']) AS c;
SELECT has_column('cmp', 'audit_log', c, format('cmp.audit_log.%s exists', c))
  FROM unnest(ARRAY['event_id', 'occurred_at', 'actor_user_id', 'db_role', 'operation',
                    'resource_type', 'resource_id', 'account_id', 'customer_id',
                    'previous_value', 'new_value', 'reason']) AS c;

-- Ids are bigint (SPEC §6).
SELECT col_type_is('cmp', t, c, 'bigint', format('cmp.%s.%s is bigint', t, c))
  FROM (VALUES ('account', 'account_id'), ('customer', 'customer_id'),
               ('customer', 'account_id'), ('customer', 'admin_user_id'),
               ('app_user', 'user_id'), ('app_user', 'account_id'),
               ('user_customer', 'user_id'), ('user_customer', 'customer_id'),
               ('sim_card', 'account_id'), ('sim_card', 'customer_id'),
               ('audit_log', 'event_id'), ('audit_log', 'actor_user_id')) AS v (t, c);
SELECT col_type_is('cmp', 'audit_log', c, 'jsonb', format('cmp.audit_log.%s is jsonb', c))
  FROM unnest(ARRAY['previous_value', 'new_value']) AS c;

SELECT is(
	(SELECT array_agg(c.relname::text ORDER BY c.relname)
	   FROM pg_catalog.pg_class c
	  WHERE c.oid IN ('cmp.sim_grid'::regclass, 'cmp.customer_overview'::regclass)
	    AND 'security_invoker=true' = ANY (c.reloptions)),
	ARRAY['customer_overview', 'sim_grid'],
	'both views are security_invoker, so the reader''s row-level security applies');

-- ---- pg_dump registration (SPEC §1) ----------------------------------------

SELECT cmp_ok(
	(SELECT count(*) FROM pg_catalog.pg_class c
	   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	  WHERE n.nspname = 'cmp' AND c.relkind IN ('r', 'p')),
	'>=', 9::bigint,
	'schema cmp holds at least the nine tables of the spec');

SELECT is_empty(
	$$SELECT c.oid::regclass::text
	    FROM pg_catalog.pg_class c
	    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	   WHERE n.nspname = 'cmp' AND c.relkind IN ('r', 'p')
	     AND c.oid <> ALL (coalesce((SELECT e.extconfig FROM pg_catalog.pg_extension e
	                                  WHERE e.extname = 'reseller_onboarding'), '{}'))$$,
	'every cmp table is registered with pg_extension_config_dump, so pg_dump keeps its rows');

SELECT is_empty(
	$$SELECT c.oid::regclass::text
	    FROM pg_catalog.pg_class c
	    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	   WHERE n.nspname = 'cmp' AND c.relkind = 'S'
	     AND c.oid <> ALL (coalesce((SELECT e.extconfig FROM pg_catalog.pg_extension e
	                                  WHERE e.extname = 'reseller_onboarding'), '{}'))$$,
	'every cmp sequence is registered with pg_extension_config_dump, so restored ids continue');

SELECT is_empty(
	$$SELECT c.oid::regclass::text
	    FROM pg_catalog.pg_class c
	    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	   WHERE n.nspname = 'cmp' AND c.relkind IN ('r', 'p', 'v', 'S')
	     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
	                      WHERE d.classid = 'pg_catalog.pg_class'::regclass
	                        AND d.objid = c.oid AND d.deptype = 'e'
	                        AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension
	                                           WHERE extname = 'reseller_onboarding'))$$,
	'every relation in cmp belongs to the extension');

-- ---- the seeded lifecycle (SPEC §3) ----------------------------------------

SELECT set_eq(
	'SELECT from_status::text, to_status::text FROM cmp.customer_status_transition',
	$$VALUES ('DRAFT', 'ACTIVE'), ('DRAFT', 'TERMINATED'),
	         ('ACTIVE', 'SUSPENDED'), ('SUSPENDED', 'ACTIVE'),
	         ('ACTIVE', 'TERMINATED'), ('SUSPENDED', 'TERMINATED')$$,
	'the lifecycle table holds exactly the six transitions of SPEC §3');
SELECT is(
	(SELECT count(*) FROM cmp.customer_status_transition), 6::bigint,
	'the lifecycle table holds six rows, no duplicates');

-- ---- functions (SPEC §4, §6) -----------------------------------------------

SELECT has_function('cmp', f, a, format('function cmp.%s(%s) exists', f, array_to_string(a, ', ')))
  FROM (VALUES
	('create_account', ARRAY['text', 'text', 'text', 'boolean', 'text', 'integer', 'uuid']),
	('create_user', ARRAY['text', 'text', 'text', 'bigint', 'text', 'boolean', 'name', 'uuid']),
	('provision_sims', ARRAY['bigint', 'text[]', 'text[]', 'text[]']),
	('create_customer', ARRAY['bigint', 'text', 'boolean', 'text', 'text', 'text', 'text',
		'text', 'text', 'text', 'text', 'text', 'text', 'text', 'numeric', 'text', 'text',
		'text', 'text', 'uuid']),
	('update_customer', ARRAY['bigint', 'jsonb']),
	('delete_customer', ARRAY['bigint']),
	('set_customer_status', ARRAY['bigint', 'text', 'text', 'boolean']),
	('customer_status_graph', ARRAY[]::text[]),
	('set_actor', ARRAY['bigint', 'boolean']),
	('clear_actor', ARRAY[]::text[]),
	('actor_id', ARRAY[]::text[]),
	('whoami', ARRAY[]::text[])) AS v (f, a);

SELECT function_returns('cmp', f, a, r, format('cmp.%s returns %s', f, r))
  FROM (VALUES
	('create_account', ARRAY['text', 'text', 'text', 'boolean', 'text', 'integer', 'uuid'], 'bigint'),
	('create_user', ARRAY['text', 'text', 'text', 'bigint', 'text', 'boolean', 'name', 'uuid'], 'bigint'),
	('provision_sims', ARRAY['bigint', 'text[]', 'text[]', 'text[]'], 'bigint'),
	('create_customer', ARRAY['bigint', 'text', 'boolean', 'text', 'text', 'text', 'text',
		'text', 'text', 'text', 'text', 'text', 'text', 'text', 'numeric', 'text', 'text',
		'text', 'text', 'uuid'], 'bigint'),
	('update_customer', ARRAY['bigint', 'jsonb'], 'void'),
	('delete_customer', ARRAY['bigint'], 'void'),
	('set_customer_status', ARRAY['bigint', 'text', 'text', 'boolean'], 'text'),
	('customer_status_graph', ARRAY[]::text[], 'text'),
	('set_actor', ARRAY['bigint', 'boolean'], 'void'),
	('clear_actor', ARRAY[]::text[], 'void'),
	('actor_id', ARRAY[]::text[], 'bigint')) AS v (f, a, r);

-- Arguments are passed by name, so their names and which ones may be left
-- out are part of the contract.
SELECT is(
	(SELECT p.proargnames[1:p.pronargs] FROM pg_catalog.pg_proc p WHERE p.oid = sig::regprocedure),
	names, format('%s: argument names as in SPEC', sig))
  FROM (VALUES
	('cmp.create_account(text, text, text, boolean, text, integer, uuid)',
	 ARRAY['account_number', 'name', 'account_type', 'customer_invoice_creation',
	       'customer_invoice_type', 'customer_billing_cycle_day', 'request_id']),
	('cmp.create_user(text, text, text, bigint, text, boolean, name, uuid)',
	 ARRAY['login', 'email', 'context_level', 'account_id', 'full_name', 'is_admin', 'db_role',
	       'request_id']),
	('cmp.provision_sims(bigint, text[], text[], text[])',
	 ARRAY['account_id', 'iccids', 'imsis', 'msisdns']),
	('cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text, text, text, text, text, numeric, text, text, text, text, uuid)',
	 ARRAY['account_id', 'name', 'billable', 'status', 'external_customer_number',
	       'description', 'country', 'state', 'zip_code', 'city', 'street', 'phone',
	       'homepage', 'linkedin', 'estimated_annual_revenue', 'revenue_currency',
	       'admin_login', 'admin_email', 'admin_full_name', 'request_id']),
	('cmp.update_customer(bigint, jsonb)', ARRAY['customer_id', 'changes']),
	('cmp.delete_customer(bigint)', ARRAY['customer_id']),
	('cmp.set_customer_status(bigint, text, text, boolean)',
	 ARRAY['customer_id', 'status', 'reason', 'release_sims']),
	('cmp.set_actor(bigint, boolean)', ARRAY['user_id', 'is_local'])) AS v (sig, names);

SELECT is(
	(SELECT p.pronargdefaults::int FROM pg_catalog.pg_proc p WHERE p.oid = sig::regprocedure),
	n, format('%s: the last %s arguments have defaults', sig, n))
  FROM (VALUES
	('cmp.create_account(text, text, text, boolean, text, integer, uuid)', 5),
	('cmp.create_user(text, text, text, bigint, text, boolean, name, uuid)', 5),
	('cmp.provision_sims(bigint, text[], text[], text[])', 2),
	('cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text, text, text, text, text, numeric, text, text, text, text, uuid)', 18),
	('cmp.set_customer_status(bigint, text, text, boolean)', 2),
	('cmp.set_actor(bigint, boolean)', 1)) AS v (sig, n);

SELECT is(
	(SELECT array_agg(a ORDER BY a) FROM unnest(
		(SELECT p.proargnames FROM pg_catalog.pg_proc p WHERE p.oid = 'cmp.whoami()'::regprocedure)) AS a),
	ARRAY['account_id', 'context_level', 'customer_ids', 'login', 'user_id'],
	'cmp.whoami() returns user_id, login, context_level, account_id and customer_ids');

-- SPEC §4: EXECUTE on set_actor is not granted to PUBLIC; SPEC §5: no role
-- but the owner writes to the tables.
CREATE ROLE schema_probe_role NOLOGIN;
SELECT ok(
	NOT has_function_privilege('schema_probe_role', 'cmp.set_actor(bigint, boolean)', 'EXECUTE'),
	'a new role cannot execute cmp.set_actor (not granted to PUBLIC)');
SELECT ok(
	has_function_privilege('schema_probe_role', 'cmp.actor_id()', 'EXECUTE'),
	'a new role can execute cmp.actor_id (control for the set_actor check)');
SELECT is_empty(
	$$SELECT c.oid::regclass::text, p.priv
	    FROM pg_catalog.pg_class c
	    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
	         unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p (priv)
	   WHERE n.nspname = 'cmp' AND c.relkind IN ('r', 'p')
	     AND has_table_privilege('schema_probe_role', c.oid, p.priv)$$,
	'a new role has no INSERT, UPDATE, DELETE or TRUNCATE on any cmp table');

-- ---- fixtures, written by hand as a superuser -----------------------------
-- 901 STANDARD A, 902 RESELLER B, 903 RESELLER C.
INSERT INTO cmp.account (account_id, account_number, name, account_type,
		customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day)
VALUES (901, 'S-A', 'Standard A', 'STANDARD', NULL, NULL, NULL),
       (902, 'R-B', 'Reseller B', 'RESELLER', true, 'PDF', 15),
       (903, 'R-C', 'Reseller C', 'RESELLER', false, 'RAW', 1);

INSERT INTO cmp.app_user_data (user_id, login, email, context_level, domain, account_id, is_admin)
VALUES (911, 'csp.one', 'csp.one@example.com', 'CSP', 'CSP', NULL, true),
       (912, 'acct.b', 'acct.b@example.com', 'ACCOUNT', 'ENTERPRISE', 902, true),
       (913, 'cust.a', 'cust.a@example.com', 'CUSTOMER', 'ENTERPRISE', 901, true),
       (914, 'cust.b', 'cust.b@example.com', 'CUSTOMER', 'ENTERPRISE', 902, true),
       (915, 'cust.c', 'cust.c@example.com', 'CUSTOMER', 'ENTERPRISE', 903, true);

INSERT INTO cmp.customer (customer_id, account_id, account_type, customer_number, name, billable)
VALUES (921, 901, 'STANDARD', 1, 'Acme', false),
       (922, 902, 'RESELLER', 1, 'Beta', true),
       (923, 903, 'RESELLER', 1, 'Gamma', false);

-- ---- rule 5: SIMs go only to customers of their own account ---------------

SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id, customer_id, assigned_at)
	         VALUES (%L, 902, 921, now())$$, pg_temp.luhn('890000000000000001')),
	'23503', NULL,
	'rule 5: a SIM of account B pointing at a customer of account A is refused (23503)');
SELECT lives_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id, customer_id, assigned_at)
	         VALUES (%L, 902, 922, now())$$, pg_temp.luhn('890000000000000001')),
	'rule 5 control: the same SIM on a customer of its own account is accepted');
SELECT throws_ok(
	format($$UPDATE cmp.sim_card SET customer_id = 921 WHERE iccid = %L$$,
	       pg_temp.luhn('890000000000000001')),
	'23503', NULL,
	'rule 5: moving a SIM to another account''s customer by UPDATE is refused (23503)');
SELECT throws_ok(
	format($$UPDATE cmp.sim_card SET account_id = 901 WHERE iccid = %L$$,
	       pg_temp.luhn('890000000000000001')),
	'23503', NULL,
	'rule 5: moving an assigned SIM to another account while it keeps its customer is refused (23503)');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id) VALUES (%L, 999999)$$,
	       pg_temp.luhn('890000000000000002')),
	'23503', NULL,
	'a SIM of an account that does not exist is refused (23503)');

-- ---- rule 1: billable customers only on RESELLER accounts ----------------

SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
	  VALUES (901, 'STANDARD', 2, 'Billable On Standard', true)$$,
	'23514', NULL,
	'rule 1: a billable customer on a STANDARD account is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
	  VALUES (901, 'RESELLER', 2, 'Billable On Standard', true)$$,
	'23503', NULL,
	'rule 1: claiming account_type RESELLER for a STANDARD account is refused (23503)');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
	  VALUES (902, 'STANDARD', 2, 'Simple On Reseller', false)$$,
	'23503', NULL,
	'rule 1: claiming account_type STANDARD for a RESELLER account is refused (23503)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
	  VALUES (901, 'STANDARD', 2, 'Simple On Standard', false)$$,
	'rule 1 control: a non-billable customer on a STANDARD account is accepted');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
	  VALUES (902, 'RESELLER', 2, 'Billable On Reseller', true)$$,
	'rule 1 control: a billable customer on a RESELLER account is accepted');
SELECT throws_ok(
	$$UPDATE cmp.customer SET billable = true WHERE customer_id = 921$$,
	'23514', NULL,
	'rule 1: making a customer of a STANDARD account billable by UPDATE is refused (23514)');
SELECT ok(
	pg_temp.sqlstate_of($$UPDATE cmp.account
	                         SET account_type = 'STANDARD', customer_invoice_creation = NULL,
	                             customer_invoice_type = NULL, customer_billing_cycle_day = NULL
	                       WHERE account_id = 902$$) IN ('23514', '23503'),
	'rule 1: a RESELLER account holding billable customers cannot become STANDARD (23514/23503)');
SELECT is_empty(
	$$SELECT c.customer_id FROM cmp.customer c JOIN cmp.account a USING (account_id)
	   WHERE c.billable AND a.account_type <> 'RESELLER'$$,
	'rule 1: no billable customer sits on a non-RESELLER account');

-- ---- rule 3: users of customer contexts are ENTERPRISE users --------------

SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('cust.csp.domain', 'x1@example.com', 'CUSTOMER', 'CSP', 901)$$,
	'23514', NULL,
	'rule 3: a CUSTOMER user with domain CSP is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('cust.csp.domain', 'x1@example.com', 'CUSTOMER', 'ENTERPRISE', 901)$$,
	'rule 3 control: the same CUSTOMER user with domain ENTERPRISE is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('acct.csp.domain', 'x2@example.com', 'ACCOUNT', 'CSP', 901)$$,
	'23514', NULL,
	'rule 3: an ACCOUNT user with domain CSP is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('csp.ent.domain', 'x3@example.com', 'CSP', 'ENTERPRISE', NULL)$$,
	'23514', NULL,
	'a CSP user has domain CSP: domain ENTERPRISE is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('csp.with.account', 'x4@example.com', 'CSP', 'CSP', 901)$$,
	'23514', NULL,
	'a CSP user with an account is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('cust.without.account', 'x5@example.com', 'CUSTOMER', 'ENTERPRISE', NULL)$$,
	'23514', NULL,
	'a CUSTOMER user without an account is refused (23514)');
SELECT throws_ok(
	$$UPDATE cmp.app_user_data SET domain = 'CSP' WHERE user_id = 914$$,
	'23514', NULL,
	'rule 3: changing a CUSTOMER user''s domain to CSP by UPDATE is refused (23514)');

-- ---- the reseller profile ---------------------------------------------------

SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type)
	  VALUES ('R-NOPROFILE', 'Reseller without profile', 'RESELLER')$$,
	'23514', NULL,
	'a RESELLER account without a reseller profile is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type,
	        customer_invoice_creation, customer_invoice_type)
	  VALUES ('R-NOPROFILE', 'Reseller with half a profile', 'RESELLER', true, 'PDF')$$,
	'23514', NULL,
	'a RESELLER account with an incomplete profile (no billing cycle day) is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type,
	        customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day)
	  VALUES ('R-NOPROFILE', 'Reseller with a profile', 'RESELLER', true, 'PDF', 28)$$,
	'reseller profile control: a RESELLER account with a full profile (cycle day 28) is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type, customer_invoice_type)
	  VALUES ('S-PROFILE', 'Standard with profile', 'STANDARD', 'PDF')$$,
	'23514', NULL,
	'a STANDARD account with a reseller profile is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type, customer_invoice_creation)
	  VALUES ('S-PROFILE', 'Standard with profile', 'STANDARD', false)$$,
	'23514', NULL,
	'a STANDARD account with only customer_invoice_creation set is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type)
	  VALUES ('S-PROFILE', 'Standard without profile', 'STANDARD')$$,
	'reseller profile control: a STANDARD account without a profile is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type,
	        customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day)
	  VALUES ('R-DAY29', 'Reseller day 29', 'RESELLER', true, 'PDF', 29)$$,
	'23514', NULL,
	'billing cycle day 29 is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type,
	        customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day)
	  VALUES ('R-DAY0', 'Reseller day 0', 'RESELLER', true, 'PDF', 0)$$,
	'23514', NULL,
	'billing cycle day 0 is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type,
	        customer_invoice_creation, customer_invoice_type, customer_billing_cycle_day)
	  VALUES ('R-XML', 'Reseller XML', 'RESELLER', true, 'XML', 1)$$,
	'23514', NULL,
	'invoice type XML is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name, account_type)
	  VALUES ('S-OTHER', 'Other type', 'PREMIUM')$$,
	'23514', NULL,
	'an account type other than STANDARD or RESELLER is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name) VALUES ('S-A', 'Same number')$$,
	'23505', NULL,
	'a duplicate account number is refused (23505)');
SELECT throws_ok(
	$$INSERT INTO cmp.account (account_number, name) VALUES (NULL, 'No number')$$,
	'23502', NULL,
	'an account without a number is refused (23502)');

-- ---- rule 4: customer users only on customers of their own account -------

SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (913, 922, 901)$$,
	'23503', NULL,
	'rule 4: a user of account A with a customer of account B (account_id A) is refused (23503)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (913, 922, 902)$$,
	'23503', NULL,
	'rule 4: a user of account A with a customer of account B (account_id B) is refused (23503)');
SELECT lives_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (914, 922, 902)$$,
	'rule 4 control: a customer user of account B with a customer of account B is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (912, 922, 902)$$,
	'23503', NULL,
	'only CUSTOMER users are assigned: an ACCOUNT user of the same account is refused (23503)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id, context_level)
	  VALUES (912, 922, 902, 'ACCOUNT')$$,
	'23514', NULL,
	'only CUSTOMER users are assigned: an ACCOUNT user claiming context ACCOUNT is refused (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (911, 922, 902)$$,
	'23503', NULL,
	'only CUSTOMER users are assigned: a CSP user is refused (23503)');
SELECT throws_ok(
	$$INSERT INTO cmp.user_customer (user_id, customer_id, account_id, context_level)
	  VALUES (911, 922, 902, 'CSP')$$,
	'23514', NULL,
	'only CUSTOMER users are assigned: a CSP user claiming context CSP is refused (23514)');
SELECT throws_ok(
	$$UPDATE cmp.app_user_data SET account_id = 901 WHERE user_id = 914$$,
	'23503', NULL,
	'rule 4: moving an assigned customer user to another account by UPDATE is refused (23503)');
SELECT throws_ok(
	$$UPDATE cmp.app_user_data SET context_level = 'ACCOUNT' WHERE user_id = 914$$,
	'23503', NULL,
	'an assigned customer user cannot become an ACCOUNT user by UPDATE (23503)');

-- ---- SIM values ------------------------------------------------------------

SELECT throws_ok(
	$$INSERT INTO cmp.sim_card (iccid, account_id) VALUES ('8991101200003204515', 901)$$,
	'23514', NULL,
	'an ICCID with a bad Luhn check digit is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.sim_card (iccid, account_id) VALUES ('8991101200003204514', 901)$$,
	'ICCID control: the same ICCID with the right check digit is accepted');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id) VALUES (%L, 901)$$,
	       pg_temp.luhn('880000000000000003')),
	'23514', NULL,
	'an ICCID not starting with 89 is refused even with a valid check digit (23514)');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id) VALUES (%L, 901)$$,
	       pg_temp.luhn('89000000000000004')),
	'23514', NULL,
	'an 18-digit ICCID is refused even with a valid check digit (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.sim_card (iccid, account_id) VALUES ('8991101200003204514', 902)$$,
	'23505', NULL,
	'a duplicate ICCID is refused (23505)');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, imsi, account_id) VALUES (%L, '26201123456789', 901)$$,
	       pg_temp.luhn('890000000000000005')),
	'23514', NULL,
	'a 14-digit IMSI is refused (23514)');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id, customer_id) VALUES (%L, 901, 921)$$,
	       pg_temp.luhn('890000000000000006')),
	'23514', NULL,
	'an assigned SIM without assigned_at is refused (23514)');
SELECT throws_ok(
	format($$INSERT INTO cmp.sim_card (iccid, account_id) VALUES (%L, NULL)$$,
	       pg_temp.luhn('890000000000000007')),
	'23502', NULL,
	'a SIM without an account is refused (23502)');

-- ---- customer lifecycle rules kept by CHECKs (SPEC §3) --------------------

SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
	  VALUES (902, 'RESELLER', 10, 'Active Without Admin', 'ACTIVE')$$,
	'23514', NULL,
	'a customer ACTIVE without an admin user is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id)
	  VALUES (902, 'RESELLER', 10, 'Active Without Admin', 'ACTIVE', 914)$$,
	'lifecycle control: the same customer ACTIVE with an admin user is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
	  VALUES (902, 'RESELLER', 11, 'Suspended Without Admin', 'SUSPENDED')$$,
	'23514', NULL,
	'a customer SUSPENDED without an admin user is refused (23514)');
SELECT throws_ok(
	$$UPDATE cmp.customer SET status = 'ACTIVE' WHERE customer_id = 923$$,
	'23514', NULL,
	'a DRAFT customer without an admin cannot be made ACTIVE by UPDATE (23514)');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable,
	        status, admin_user_id, country, city, zip_code)
	  VALUES (902, 'RESELLER', 12, 'Billable Without Street', true, 'ACTIVE', 914, 'DE', 'Berlin', '10115')$$,
	'23514', NULL,
	'a billable customer ACTIVE without a complete address is refused (23514)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable,
	        status, admin_user_id, country, city, zip_code, street)
	  VALUES (902, 'RESELLER', 12, 'Billable Without Street', true, 'ACTIVE', 914, 'DE', 'Berlin', '10115', 'Unter den Linden 1')$$,
	'lifecycle control: the same billable customer with a complete address is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
	  VALUES (902, 'RESELLER', 13, 'Unknown Status', 'PENDING')$$,
	'23514', NULL,
	'an unknown customer status is refused (23514)');

-- ---- uniqueness --------------------------------------------------------------

SELECT lives_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain)
	  VALUES ('Alice', 'alice@example.com', 'CSP', 'CSP')$$,
	'login control: login Alice is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain)
	  VALUES ('ALICE', 'alice2@example.com', 'CSP', 'CSP')$$,
	'23505', NULL,
	'a login differing only in case (ALICE vs Alice) is refused (23505)');
SELECT throws_ok(
	$$INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
	  VALUES ('alice', 'alice3@example.com', 'CUSTOMER', 'ENTERPRISE', 903)$$,
	'23505', NULL,
	'logins are unique across accounts and levels, regardless of case (23505)');

SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (902, 'RESELLER', 20, 'BETA')$$,
	'23505', NULL,
	'a second non-terminated customer named BETA next to Beta in the same account is refused (23505)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (901, 'STANDARD', 20, 'BETA')$$,
	'customer name control: the same name in another account is accepted');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
	  VALUES (902, 'RESELLER', 21, 'Delta', 'TERMINATED')$$,
	'customer name: a TERMINATED customer Delta is accepted');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (902, 'RESELLER', 22, 'DELTA')$$,
	'customer name: DELTA is accepted next to a TERMINATED Delta in the same account');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
	  VALUES (902, 'RESELLER', 23, 'delta', 'TERMINATED')$$,
	'customer name: a second TERMINATED delta is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (902, 'RESELLER', 24, 'Delta')$$,
	'23505', NULL,
	'customer name: a second non-terminated Delta is refused (23505)');

SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (902, 'RESELLER', 1, 'Number One Again')$$,
	'23505', NULL,
	'a duplicate customer_number within an account is refused (23505)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, external_customer_number)
	  VALUES (902, 'RESELLER', 30, 'Ext One', 'EXT-1')$$,
	'external number control: EXT-1 in account B is accepted');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, external_customer_number)
	  VALUES (902, 'RESELLER', 31, 'Ext Two', 'EXT-1')$$,
	'23505', NULL,
	'a duplicate external customer number within an account is refused (23505)');
SELECT lives_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name, external_customer_number)
	  VALUES (903, 'RESELLER', 31, 'Ext Two', 'EXT-1')$$,
	'external number control: the same external number in another account is accepted');

SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (902, 'RESELLER', 40, NULL)$$,
	'23502', NULL,
	'a customer without a name is refused (23502)');
SELECT throws_ok(
	$$INSERT INTO cmp.customer (account_id, account_type, customer_number, name)
	  VALUES (NULL, 'RESELLER', 41, 'No Account')$$,
	'23502', NULL,
	'a customer without an account is refused (23502)');

SELECT * FROM finish();
ROLLBACK;
