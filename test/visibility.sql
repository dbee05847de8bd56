-- Who sees what (SPEC §5, §10 "reading across tenants"): for every kind of
-- actor, exactly the rows of the visibility table in every table and view;
-- the policies, RLS and grants that make it so; and the ways a reader could
-- try to get around them: cached plans, parallel workers, non-leakproof
-- functions in a WHERE clause, statistics.
--
-- The expected rows are computed as superuser (RLS does not apply) with
-- explicit WHERE clauses written from the SPEC, independently of the
-- policies, and stored before any role switch.  What each actor sees is
-- collected as a non-superuser role (RLS applies only to those).
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.

BEGIN;
SELECT plan(285);

-- pgTAP's own bookkeeping (plan() granted it to PUBLIC) and our scratch
-- tables live in this session's temporary schema; every test role can use
-- them.  Roles are created here, so they vanish with the ROLLBACK.
CREATE ROLE ro_vis_app NOLOGIN;            -- the application's connection role
CREATE ROLE ro_vis_mapped_acct NOLOGIN;    -- db_role of an ACCOUNT user
CREATE ROLE ro_vis_mapped_cust NOLOGIN;    -- db_role of a CUSTOMER user
CREATE ROLE ro_vis_mapped_locked NOLOGIN;  -- db_role of a LOCKED user
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_vis_app;

-- ---- fixture (as the system actor) -----------------------------------------

-- An ICCID: 89 + 16 digits + Luhn check digit.  Computed, not hard-coded.
\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('89490000' || lpad(n::text, 10, '0'))
$$;

SELECT cmp.create_account(account_number => 'RO-VIS-R', name => 'Reseller R',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 5) AS acct_r \gset
SELECT cmp.create_account(account_number => 'RO-VIS-S', name => 'Standard S') AS acct_s \gset

SELECT cmp.create_user(login => 'vis_csp', email => 'csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'vis_csp_locked', email => 'csp.locked@example.com',
	context_level => 'CSP') AS csp_lk \gset
SELECT cmp.create_user(login => 'vis_acc_r', email => 'acc.r@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, is_admin => true) AS acc_r \gset
SELECT cmp.create_user(login => 'vis_acc_s', email => 'acc.s@example.com',
	context_level => 'ACCOUNT', account_id => :acct_s,
	db_role => 'ro_vis_mapped_acct') AS acc_s \gset
SELECT cmp.create_user(login => 'vis_acc_locked', email => 'acc.locked@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r,
	db_role => 'ro_vis_mapped_locked') AS acc_lk \gset
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE user_id IN (:csp_lk, :acc_lk);

-- CUSTOMER users (no function creates them yet)
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('vis_cu_a', 'cu.a@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_r)
RETURNING user_id AS cu_a \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('vis_cu_s', 'cu.s@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_r)
RETURNING user_id AS cu_s \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id, db_role)
VALUES ('vis_cu_m', 'cu.m@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_r, 'ro_vis_mapped_cust')
RETURNING user_id AS cu_m \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('vis_cu_t', 'cu.t@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_r)
RETURNING user_id AS cu_t \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('vis_cu_o', 'cu.o@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_s)
RETURNING user_id AS cu_o \gset
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('vis_cu_o2', 'cu.o2@example.com', 'CUSTOMER', 'ENTERPRISE', :acct_s)
RETURNING user_id AS cu_o2 \gset

-- customers in every status, in both accounts
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
VALUES (:acct_r, 'RESELLER', 1, 'R Draft', 'DRAFT')
RETURNING customer_id AS r_draft \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_r, 'RESELLER', 2, 'R Active', 'ACTIVE', :cu_a, now())
RETURNING customer_id AS r_active \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_r, 'RESELLER', 3, 'R Suspended', 'SUSPENDED', :cu_s, now())
RETURNING customer_id AS r_susp \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, terminated_at)
VALUES (:acct_r, 'RESELLER', 4, 'R Terminated', 'TERMINATED', now())
RETURNING customer_id AS r_term \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_r, 'RESELLER', 5, 'R Active Two', 'ACTIVE', :cu_m, now())
RETURNING customer_id AS r_active2 \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
VALUES (:acct_s, 'STANDARD', 1, 'S Draft', 'DRAFT')
RETURNING customer_id AS s_draft \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_s, 'STANDARD', 2, 'S Active', 'ACTIVE', :cu_o, now())
RETURNING customer_id AS s_active \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (:acct_s, 'STANDARD', 3, 'S Suspended', 'SUSPENDED', :cu_o2, now())
RETURNING customer_id AS s_susp \gset
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, terminated_at)
VALUES (:acct_s, 'STANDARD', 4, 'S Terminated', 'TERMINATED', now())
RETURNING customer_id AS s_term \gset

-- cu_a: an ACTIVE and a DRAFT customer; cu_s: a SUSPENDED one; cu_m: an
-- ACTIVE one and the SUSPENDED one it shares with cu_s; cu_t: a TERMINATED
-- and a DRAFT one (sees no customer); cu_o, cu_o2: customers of the other
-- account.
INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES
	(:cu_a, :r_active, :acct_r), (:cu_a, :r_draft, :acct_r),
	(:cu_s, :r_susp, :acct_r),
	(:cu_m, :r_active2, :acct_r), (:cu_m, :r_susp, :acct_r),
	(:cu_t, :r_term, :acct_r), (:cu_t, :r_draft, :acct_r),
	(:cu_o, :s_active, :acct_s),
	(:cu_o2, :s_susp, :acct_s);

SELECT cmp.provision_sims(account_id => :acct_r,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 12) AS n)) AS n_r \gset
SELECT cmp.provision_sims(account_id => :acct_s,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(101, 108) AS n)) AS n_s \gset

UPDATE cmp.sim_card s SET customer_id = a.customer_id, assigned_at = now()
  FROM (VALUES (1, :r_active), (2, :r_active), (3, :r_susp), (4, :r_susp),
               (5, :r_draft), (6, :r_active2), (7, :r_active2),
               (101, :s_active), (102, :s_active), (103, :s_susp), (104, :s_draft))
       AS a(n, customer_id)
 WHERE s.iccid = pg_temp.iccid(a.n);

INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id)
SELECT iccid, account_id, NULL, customer_id FROM cmp.sim_card WHERE customer_id IS NOT NULL;
-- SIM 9 went r_active -> r_draft -> back to the account
INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, from_customer_id, to_customer_id) VALUES
	(pg_temp.iccid(9), :acct_r, NULL, :r_active),
	(pg_temp.iccid(9), :acct_r, :r_active, :r_draft),
	(pg_temp.iccid(9), :acct_r, :r_draft, NULL),
	(pg_temp.iccid(105), :acct_s, NULL, :s_active),
	(pg_temp.iccid(105), :acct_s, :s_active, NULL);

INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status, db_role)
SELECT c.customer_id, c.account_id, h.from_status, h.to_status, 'postgres'
  FROM cmp.customer c
  JOIN (VALUES ('DRAFT', NULL, 'DRAFT'),
               ('ACTIVE', NULL, 'DRAFT'), ('ACTIVE', 'DRAFT', 'ACTIVE'),
               ('SUSPENDED', NULL, 'ACTIVE'), ('SUSPENDED', 'ACTIVE', 'SUSPENDED'),
               ('TERMINATED', NULL, 'DRAFT'), ('TERMINATED', 'DRAFT', 'TERMINATED'))
       AS h(status, from_status, to_status) ON h.status = c.status;

-- audit rows of customers; the functions above wrote account-level ones
INSERT INTO cmp.audit_log (db_role, operation, resource_type, resource_id, account_id, customer_id)
SELECT 'postgres', op, 'customer', c.customer_id::text, c.account_id, c.customer_id
  FROM cmp.customer c CROSS JOIN (VALUES ('create_customer'), ('assign_sims')) AS o(op);

-- ---- what each actor should see, written from the SPEC ---------------------

CREATE TEMP TABLE actor_def (
	kind text PRIMARY KEY,
	ord integer NOT NULL,
	rule text NOT NULL,
	user_id bigint,
	level text NOT NULL,        -- CSP, ACCOUNT, CUSTOMER or NONE
	account_id bigint,
	cust bigint[]               -- CUSTOMER: assigned ACTIVE/SUSPENDED customers
);
INSERT INTO actor_def (kind, ord, rule, user_id, level, account_id) VALUES
	('csp', 1, 'a CSP user sees everything', :csp, 'CSP', NULL),
	('account_r', 2, 'an ACCOUNT user sees its (reseller) account and what belongs to it', :acc_r, 'ACCOUNT', :acct_r),
	('account_s', 3, 'an ACCOUNT user sees its (standard) account and what belongs to it', :acc_s, 'ACCOUNT', :acct_s),
	('customer_a', 4, 'a CUSTOMER user sees its ACTIVE customer, not its DRAFT one', :cu_a, 'CUSTOMER', :acct_r),
	('customer_s', 5, 'a CUSTOMER user sees its SUSPENDED customer', :cu_s, 'CUSTOMER', :acct_r),
	('customer_t', 6, 'a CUSTOMER user of only TERMINATED and DRAFT customers sees no customer data', :cu_t, 'CUSTOMER', :acct_r),
	('customer_o', 7, 'a CUSTOMER user of the other account sees only its own customer', :cu_o, 'CUSTOMER', :acct_s),
	('mapped_account', 8, 'a role mapped by db_role to an ACCOUNT user sees what that user sees', :acc_s, 'ACCOUNT', :acct_s),
	('mapped_customer', 9, 'a role mapped by db_role to a CUSTOMER user sees what that user sees', :cu_m, 'CUSTOMER', :acct_r),
	('mapped_customer_session', 10, 'SET SESSION AUTHORIZATION to a mapped role sees what the mapped CUSTOMER user sees', :cu_m, 'CUSTOMER', :acct_r),
	('none', 11, 'a non-superuser with no actor and no mapping sees nothing', NULL, 'NONE', NULL),
	('locked_csp', 12, 'a LOCKED CSP user set as actor sees nothing', :csp_lk, 'NONE', NULL),
	('locked_mapped', 13, 'a role mapped to a LOCKED user sees nothing', :acc_lk, 'NONE', NULL),
	('unknown_actor', 14, 'an actor id that names no user sees nothing', NULL, 'NONE', NULL);
UPDATE actor_def d
   SET cust = (SELECT coalesce(array_agg(uc.customer_id ORDER BY uc.customer_id), '{}')
                 FROM cmp.user_customer uc
                 JOIN cmp.customer c ON c.customer_id = uc.customer_id
                WHERE uc.user_id = d.user_id
                  AND c.status IN ('ACTIVE', 'SUSPENDED'))
 WHERE d.level = 'CUSTOMER';

CREATE TEMP TABLE rels (rel text PRIMARY KEY, ord integer NOT NULL);
INSERT INTO rels VALUES
	('cmp.account', 1), ('cmp.app_user', 2), ('cmp.customer', 3),
	('cmp.user_customer', 4), ('cmp.sim_card', 5),
	('cmp.customer_status_transition', 6), ('cmp.customer_status_history', 7),
	('cmp.sim_assignment_history', 8), ('cmp.audit_log', 9),
	('cmp.sim_grid', 10), ('cmp.customer_overview', 11);

-- One row per visible row: (relation, a key of the row).  sim_grid rows carry
-- the joined columns too (a CUSTOMER user does not see the account, so its
-- account_number is NULL), customer_overview rows their counts.
CREATE TEMP TABLE expected (kind text NOT NULL, rel text NOT NULL, id text NOT NULL);
INSERT INTO expected
SELECT d.kind, 'cmp.account', a.account_id::text
  FROM actor_def d JOIN cmp.account a
    ON d.level = 'CSP' OR (d.level = 'ACCOUNT' AND a.account_id = d.account_id)
UNION ALL
SELECT d.kind, 'cmp.app_user', u.user_id::text
  FROM actor_def d JOIN cmp.app_user u
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND u.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND EXISTS (
          SELECT 1 FROM cmp.user_customer uc
           WHERE uc.user_id = u.user_id AND uc.customer_id = ANY (d.cust)))
UNION ALL
SELECT d.kind, 'cmp.customer', c.customer_id::text
  FROM actor_def d JOIN cmp.customer c
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND c.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND c.customer_id = ANY (d.cust))
UNION ALL
SELECT d.kind, 'cmp.user_customer', uc.user_id || '/' || uc.customer_id
  FROM actor_def d JOIN cmp.user_customer uc
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND uc.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND uc.customer_id = ANY (d.cust))
UNION ALL
SELECT d.kind, 'cmp.sim_card', s.iccid
  FROM actor_def d JOIN cmp.sim_card s
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND s.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND s.customer_id = ANY (d.cust))
UNION ALL
SELECT d.kind, 'cmp.customer_status_transition', t.from_status || '>' || t.to_status
  FROM actor_def d JOIN cmp.customer_status_transition t ON d.level <> 'NONE'
UNION ALL
SELECT d.kind, 'cmp.customer_status_history', h.history_id::text
  FROM actor_def d JOIN cmp.customer_status_history h
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND h.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND h.customer_id = ANY (d.cust))
UNION ALL
SELECT d.kind, 'cmp.sim_assignment_history', h.history_id::text
  FROM actor_def d JOIN cmp.sim_assignment_history h
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND h.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND (h.from_customer_id = ANY (d.cust)
                                  OR h.to_customer_id = ANY (d.cust)))
UNION ALL
SELECT d.kind, 'cmp.audit_log', l.event_id::text
  FROM actor_def d JOIN cmp.audit_log l
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND l.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND l.customer_id = ANY (d.cust))
UNION ALL
SELECT d.kind, 'cmp.sim_grid',
       concat_ws('|', s.iccid,
                 CASE WHEN d.level IN ('CSP', 'ACCOUNT') THEN a.account_number ELSE '-' END,
                 coalesce(c.customer_number::text, '-'), coalesce(c.name, '-'),
                 coalesce(c.status, '-'))
  FROM actor_def d
  JOIN cmp.sim_card s
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND s.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND s.customer_id = ANY (d.cust))
  JOIN cmp.account a ON a.account_id = s.account_id
  LEFT JOIN cmp.customer c ON c.customer_id = s.customer_id
UNION ALL
SELECT d.kind, 'cmp.customer_overview',
       concat_ws('|', c.customer_id,
                 (SELECT count(*) FROM cmp.sim_card s WHERE s.customer_id = c.customer_id),
                 (SELECT count(*) FROM cmp.user_customer uc WHERE uc.customer_id = c.customer_id))
  FROM actor_def d JOIN cmp.customer c
    ON d.level = 'CSP'
    OR (d.level = 'ACCOUNT' AND c.account_id = d.account_id)
    OR (d.level = 'CUSTOMER' AND c.customer_id = ANY (d.cust));

-- The same projection, read by whoever is acting.  security_invoker, so the
-- reader's policies apply.
CREATE TEMP VIEW visible_now WITH (security_invoker = true) AS
SELECT 'cmp.account' AS rel, account_id::text AS id FROM cmp.account
UNION ALL SELECT 'cmp.app_user', user_id::text FROM cmp.app_user
UNION ALL SELECT 'cmp.customer', customer_id::text FROM cmp.customer
UNION ALL SELECT 'cmp.user_customer', user_id || '/' || customer_id FROM cmp.user_customer
UNION ALL SELECT 'cmp.sim_card', iccid FROM cmp.sim_card
UNION ALL SELECT 'cmp.customer_status_transition', from_status || '>' || to_status
            FROM cmp.customer_status_transition
UNION ALL SELECT 'cmp.customer_status_history', history_id::text FROM cmp.customer_status_history
UNION ALL SELECT 'cmp.sim_assignment_history', history_id::text FROM cmp.sim_assignment_history
UNION ALL SELECT 'cmp.audit_log', event_id::text FROM cmp.audit_log
UNION ALL SELECT 'cmp.sim_grid',
                 concat_ws('|', iccid, coalesce(account_number, '-'),
                           coalesce(customer_number::text, '-'), coalesce(customer_name, '-'),
                           coalesce(customer_status, '-'))
            FROM cmp.sim_grid
UNION ALL SELECT 'cmp.customer_overview', concat_ws('|', customer_id, sim_count, user_count)
            FROM cmp.customer_overview;

CREATE TEMP TABLE seen (kind text NOT NULL, rel text NOT NULL, id text NOT NULL);
GRANT SELECT ON actor_def, rels, expected, visible_now TO PUBLIC;
GRANT SELECT, INSERT ON seen TO PUBLIC;

-- The fixture is what the tests below assume: without it they would prove
-- little (e.g. a CUSTOMER user that should see everything).
SELECT results_eq(
	$$SELECT kind, cust FROM actor_def WHERE level = 'CUSTOMER' ORDER BY ord$$,
	format($$VALUES ('customer_a', ARRAY[%s]::bigint[]), ('customer_s', ARRAY[%s]::bigint[]),
	                ('customer_t', '{}'::bigint[]), ('customer_o', ARRAY[%s]::bigint[]),
	                ('mapped_customer', ARRAY[%s, %s]::bigint[]),
	                ('mapped_customer_session', ARRAY[%s, %s]::bigint[])$$,
	       :r_active, :r_susp, :s_active,
	       least(:r_susp, :r_active2), greatest(:r_susp, :r_active2),
	       least(:r_susp, :r_active2), greatest(:r_susp, :r_active2)),
	'fixture: CUSTOMER users see only their ACTIVE and SUSPENDED customers (DRAFT, TERMINATED excluded)'
);
SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE cmp.iccid_is_valid(iccid)),
	20::bigint,
	'fixture: 20 SIMs with computed, valid ICCIDs were provisioned'
);

-- ---- what each actor sees ----------------------------------------------------

-- CSP user, through the application role
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:csp);
INSERT INTO seen SELECT 'csp', rel, id FROM visible_now;
RESET ROLE;

SET ROLE ro_vis_app;
SELECT cmp.set_actor(:acc_r);
INSERT INTO seen SELECT 'account_r', rel, id FROM visible_now;
SELECT cmp.set_actor(:acc_s);
INSERT INTO seen SELECT 'account_s', rel, id FROM visible_now;
SELECT cmp.set_actor(:cu_a);
INSERT INTO seen SELECT 'customer_a', rel, id FROM visible_now;
SELECT cmp.set_actor(:cu_s);
INSERT INTO seen SELECT 'customer_s', rel, id FROM visible_now;
SELECT cmp.set_actor(:cu_t);
INSERT INTO seen SELECT 'customer_t', rel, id FROM visible_now;
SELECT cmp.set_actor(:cu_o);
INSERT INTO seen SELECT 'customer_o', rel, id FROM visible_now;
SELECT cmp.clear_actor();
INSERT INTO seen SELECT 'none', rel, id FROM visible_now;
RESET ROLE;

-- roles mapped by db_role, no actor set
SET ROLE ro_vis_mapped_acct;
INSERT INTO seen SELECT 'mapped_account', rel, id FROM visible_now;
RESET ROLE;
SET ROLE ro_vis_mapped_cust;
INSERT INTO seen SELECT 'mapped_customer', rel, id FROM visible_now;
RESET ROLE;
SET SESSION AUTHORIZATION ro_vis_mapped_cust;
INSERT INTO seen SELECT 'mapped_customer_session', rel, id FROM visible_now;
RESET SESSION AUTHORIZATION;
SET ROLE ro_vis_mapped_locked;
INSERT INTO seen SELECT 'locked_mapped', rel, id FROM visible_now;
RESET ROLE;

-- set_actor refuses LOCKED and unknown users, so a superuser sets these
SET LOCAL cmp.actor = :'csp_lk';
SET ROLE ro_vis_app;
INSERT INTO seen SELECT 'locked_csp', rel, id FROM visible_now;
RESET ROLE;
SET LOCAL cmp.actor = '999999999';
SET ROLE ro_vis_app;
INSERT INTO seen SELECT 'unknown_actor', rel, id FROM visible_now;
RESET ROLE;
SELECT cmp.clear_actor();

SELECT bag_eq(
	format($$SELECT id FROM seen WHERE kind = %L AND rel = %L$$, d.kind, r.rel),
	format($$SELECT id FROM expected WHERE kind = %L AND rel = %L$$, d.kind, r.rel),
	format('%s: %s (%s)', d.kind, d.rule, r.rel))
  FROM actor_def d CROSS JOIN rels r
 ORDER BY d.ord, r.ord;

-- ---- policies, RLS and grants ----------------------------------------------

SELECT policies_are('cmp', t, ARRAY[replace(t, '_data', '') || '_visible']::name[],
	format('cmp.%s has exactly its read policy %s_visible', t, replace(t, '_data', '')))
  FROM unnest(ARRAY['account', 'app_user_data', 'customer', 'user_customer', 'sim_card',
                    'customer_status_transition', 'customer_status_history',
                    'sim_assignment_history_data', 'audit_log', 'event',
                    'event_consumer', 'identity_key']::name[]) WITH ORDINALITY AS u(t, o)
 ORDER BY o;
-- the change feed's internal tables: no policy, so nobody but the owner reads them
SELECT policies_are('cmp', t, ARRAY[]::name[], format('cmp.%s has no read policy', t))
  FROM unnest(ARRAY['event_commit_order', 'request']::name[]) WITH ORDINALITY AS u(t, o)
 ORDER BY o;

SELECT is_empty(
	$$SELECT polrelid::regclass, polname, polcmd FROM pg_policy
	   WHERE polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'cmp'::regnamespace)
	     AND polcmd <> 'r'$$,
	'every policy is FOR SELECT: no policy opens a write'
);

SELECT ok(c.relrowsecurity AND c.relforcerowsecurity,
	format('cmp.%s has row-level security enabled and forced', c.relname))
  FROM pg_class c
 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY c.relname;

SELECT is(
	(SELECT count(*) FROM pg_class
	  WHERE relnamespace = 'cmp'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition),
	14::bigint,
	'cmp has the fourteen tables whose policies are checked above'
);

-- A partition read directly is not bound by its parent's policies: each
-- has row-level security of its own (with no policy: nobody but a
-- superuser reads it) and no privilege for any role but the owner.
SELECT is_empty(
	$$SELECT c.oid::regclass FROM pg_class c
	   WHERE c.relnamespace = 'cmp'::regnamespace AND c.relispartition AND c.relkind = 'r'
	     AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity
	          OR EXISTS (SELECT FROM aclexplode(c.relacl) AS a WHERE a.grantee <> c.relowner)
	          OR EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid))$$,
	'every partition has row-level security enabled and forced and no privilege for another role'
);
SELECT is(
	(SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'cmp'::regnamespace AND c.relispartition AND c.relkind = 'r'),
	3::bigint,
	'a new installation has the three default partitions (sim history, audit log, events)');

-- The two masking views (test/masking.sql) run with the owner's rights and
-- carry their table's visibility condition themselves; the others are
-- security_invoker.
SELECT ok(
	CASE WHEN c.relname IN ('app_user', 'sim_assignment_history')
	     THEN c.reloptions = ARRAY['security_barrier=true']
	          AND pg_get_viewdef(c.oid) LIKE '%WHERE%cmp.actor_sees(%'
	     ELSE coalesce((SELECT o.option_value::boolean
	                      FROM pg_options_to_table(c.reloptions) AS o
	                     WHERE o.option_name = 'security_invoker'), false) END,
	format(CASE WHEN c.relname IN ('app_user', 'sim_assignment_history')
	            THEN 'view cmp.%s is a security barrier with the visibility condition inside'
	            ELSE 'view cmp.%s is security_invoker, so the reader''s policies apply' END, c.relname))
  FROM pg_class c
 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind = 'v'
 ORDER BY c.relname;

SELECT is_empty(
	$$SELECT c.oid::regclass, a.grantee, a.privilege_type
	    FROM pg_class c, aclexplode(c.relacl) AS a
	   WHERE c.relnamespace = 'cmp'::regnamespace
	     AND a.grantee <> c.relowner
	     AND ((c.relkind IN ('r', 'p', 'v') AND a.privilege_type <> 'SELECT')
	          OR c.relkind = 'S')$$,
	'no role but the owner holds a write privilege on a table or view, or any privilege on a sequence (its position would tell how many rows other tenants have)'
);

-- Even a CSP user, through the application role, cannot write directly.
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:csp);
SELECT throws_ok(format(s.stmt, t.tab, t.col), '42501', NULL,
	format(s.what, t.tab))
  FROM (VALUES (1, 'cmp.account', 'name'), (2, 'cmp.app_user_data', 'email'),
               (3, 'cmp.customer', 'name'), (4, 'cmp.user_customer', 'assigned_at'),
               (5, 'cmp.sim_card', 'assigned_at'), (6, 'cmp.customer_status_transition', 'to_status'),
               (7, 'cmp.customer_status_history', 'reason'),
               (8, 'cmp.sim_assignment_history_data', 'changed_at'), (9, 'cmp.audit_log', 'reason'))
       AS t(o, tab, col)
 CROSS JOIN (VALUES (1, 'INSERT INTO %s DEFAULT VALUES', 'a non-owner cannot INSERT into %s'),
                    (2, 'UPDATE %s SET %I = %2$I', 'a non-owner cannot UPDATE %s'),
                    (3, 'DELETE FROM %s', 'a non-owner cannot DELETE from %s'),
                    (4, 'TRUNCATE %s', 'a non-owner cannot TRUNCATE %s'))
       AS s(o, stmt, what)
 ORDER BY t.o, s.o;
RESET ROLE;

-- ---- cached plans are never reused across actors ----------------------------
-- The policies fold the actor's kind, account and customers into the plan,
-- so a cached plan belongs to one actor: every switch below, to another kind
-- or to another user of the same kind, must show the new actor its rows.

-- Expected counts, read before any role switch.
SELECT count(*) FILTER (WHERE kind = 'csp') AS n_csp,
       count(*) FILTER (WHERE kind = 'account_r') AS n_acc_r,
       count(*) FILTER (WHERE kind = 'account_s') AS n_acc_s,
       count(*) FILTER (WHERE kind = 'customer_a') AS n_cu_a,
       count(*) FILTER (WHERE kind = 'customer_s') AS n_cu_s,
       count(*) FILTER (WHERE kind = 'customer_o') AS n_cu_o,
       count(*) FILTER (WHERE kind = 'mapped_customer') AS n_cu_m
  FROM expected WHERE rel = 'cmp.sim_card' \gset

SET ROLE ro_vis_app;
SELECT cmp.set_actor(:csp, false);
PREPARE pc_sims AS SELECT pg_catalog.count(*) AS n FROM cmp.sim_card;
EXECUTE pc_sims \g /dev/null
EXECUTE pc_sims \g /dev/null
EXECUTE pc_sims \g /dev/null
EXECUTE pc_sims \g /dev/null
EXECUTE pc_sims \g /dev/null
EXECUTE pc_sims \gset csp1_
SELECT generic_plans AS pc_generic FROM pg_prepared_statements WHERE name = 'pc_sims' \gset
SELECT cmp.set_actor(:cu_a, false);
EXECUTE pc_sims \gset cua_
SELECT cmp.set_actor(:csp, false);
EXECUTE pc_sims \gset csp2_
SELECT cmp.set_actor(:acc_r, false);
EXECUTE pc_sims \gset accr_
SELECT cmp.set_actor(:cu_s, false);
EXECUTE pc_sims \gset cus_
SELECT cmp.set_actor(:cu_o, false);
EXECUTE pc_sims \gset cuo_
SELECT cmp.clear_actor();
EXECUTE pc_sims \gset none_
SELECT cmp.set_actor(:acc_s, false);
EXECUTE pc_sims \gset accs_
SELECT cmp.set_actor(:acc_r, false);
EXECUTE pc_sims \gset accr2_
SELECT cmp.clear_actor();
RESET ROLE;

SELECT cmp_ok(:pc_generic::bigint, '>', 0::bigint,
	'plan cache: the prepared count ran on a cached generic plan as the CSP user');
SELECT is(:csp1_n::bigint, :n_csp::bigint, 'plan cache: CSP user counts every SIM');
SELECT is(:cua_n::bigint, :n_cu_a::bigint,
	'plan cache: a plan cached for a CSP user is not reused for a CUSTOMER user');
SELECT is(:csp2_n::bigint, :n_csp::bigint,
	'plan cache: a plan cached for a CUSTOMER user is not reused for a CSP user');
SELECT is(:accr_n::bigint, :n_acc_r::bigint,
	'plan cache: a plan cached for a CSP user is not reused for an ACCOUNT user');
SELECT is(:cus_n::bigint, :n_cu_s::bigint,
	'plan cache: a plan cached for an ACCOUNT user is not reused for a CUSTOMER user');
SELECT is(:cuo_n::bigint, :n_cu_o::bigint,
	'plan cache: a plan cached for one CUSTOMER user shows another CUSTOMER user only its own SIMs');
SELECT is(:none_n::bigint, 0::bigint,
	'plan cache: a plan cached for a CUSTOMER user shows nothing once the actor is cleared');
SELECT is(:accs_n::bigint, :n_acc_s::bigint,
	'plan cache: after no actor, an ACCOUNT user sees its own account''s SIMs');
SELECT is(:accr2_n::bigint, :n_acc_r::bigint,
	'plan cache: a plan cached for one ACCOUNT user shows another ACCOUNT user only its own account''s SIMs');

-- force_generic_plan, a parameter, a view; and a PL/pgSQL function, whose
-- statements are cached plans too.
CREATE FUNCTION pg_temp.visible_iccids(after text) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN QUERY SELECT s.iccid FROM cmp.sim_card s WHERE s.iccid > after;
END
$$;

SET LOCAL plan_cache_mode = force_generic_plan;
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:cu_a, false);
PREPARE pc_grid(text) AS SELECT pg_catalog.count(*) AS n FROM cmp.sim_grid WHERE iccid > $1;
EXECUTE pc_grid('') \g /dev/null
EXECUTE pc_grid('') \g /dev/null
EXECUTE pc_grid('') \g /dev/null
EXECUTE pc_grid('') \g /dev/null
EXECUTE pc_grid('') \g /dev/null
EXECUTE pc_grid('') \gset gcua_
SELECT count(*) FROM pg_temp.visible_iccids('') \g /dev/null
SELECT count(*) FROM pg_temp.visible_iccids('') \g /dev/null
SELECT count(*) FROM pg_temp.visible_iccids('') \g /dev/null
SELECT count(*) FROM pg_temp.visible_iccids('') \g /dev/null
SELECT count(*) FROM pg_temp.visible_iccids('') \g /dev/null
SELECT bag_eq($$SELECT pg_temp.visible_iccids('')$$,
	$$SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.sim_card'$$,
	'plan cache (generic): a PL/pgSQL function shows a CUSTOMER user exactly its SIMs');
SELECT cmp.set_actor(:csp, false);
EXECUTE pc_grid('') \gset gcsp_
SELECT bag_eq($$SELECT pg_temp.visible_iccids('')$$,
	$$SELECT id FROM expected WHERE kind = 'csp' AND rel = 'cmp.sim_card'$$,
	'plan cache (generic): the same function, planned for a CUSTOMER user, shows a CSP user every SIM');
SELECT cmp.set_actor(:acc_r, false);
EXECUTE pc_grid('') \gset gaccr_
SELECT bag_eq($$SELECT pg_temp.visible_iccids('')$$,
	$$SELECT id FROM expected WHERE kind = 'account_r' AND rel = 'cmp.sim_card'$$,
	'plan cache (generic): the same function shows an ACCOUNT user exactly its account''s SIMs');
SELECT cmp.set_actor(:cu_o, false);
EXECUTE pc_grid('') \gset gcuo_
SELECT bag_eq($$SELECT pg_temp.visible_iccids('')$$,
	$$SELECT id FROM expected WHERE kind = 'customer_o' AND rel = 'cmp.sim_card'$$,
	'plan cache (generic): the same function shows another account''s CUSTOMER user exactly its SIMs');
SELECT cmp.clear_actor();
RESET ROLE;
SET ROLE ro_vis_mapped_cust;
EXECUTE pc_grid('') \gset gcum_
SELECT bag_eq($$SELECT pg_temp.visible_iccids('')$$,
	$$SELECT id FROM expected WHERE kind = 'mapped_customer' AND rel = 'cmp.sim_card'$$,
	'plan cache (generic): the same function shows a mapped CUSTOMER role exactly its SIMs');
RESET ROLE;
RESET plan_cache_mode;

-- A SECURITY DEFINER function owned by a non-superuser: RLS applies to its
-- owner, the actor is the calling session's (cmp.whoami() follows the
-- session's role, not the function owner).  Its cached plans outlive a SET
-- ROLE (PostgreSQL replans RLS plans when the *current* user changes, and
-- inside the function that is always the owner), so a plan folded for one
-- mapped role must not be reused for the next.
CREATE ROLE ro_vis_owner NOLOGIN;
CREATE SCHEMA ro_vis_reports AUTHORIZATION ro_vis_owner;
GRANT USAGE ON SCHEMA ro_vis_reports TO PUBLIC;
SET ROLE ro_vis_owner;
CREATE FUNCTION ro_vis_reports.sims() RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
	RETURN QUERY SELECT s.iccid FROM cmp.sim_card s;
END
$$;
RESET ROLE;
SET ROLE ro_vis_mapped_acct;
SELECT count(*) FROM ro_vis_reports.sims() \g /dev/null
SELECT bag_eq($$SELECT ro_vis_reports.sims()$$,
	$$SELECT id FROM expected WHERE kind = 'mapped_account' AND rel = 'cmp.sim_card'$$,
	'plan cache (definer): a SECURITY DEFINER function shows a mapped ACCOUNT role its account''s SIMs');
RESET ROLE;
SET ROLE ro_vis_mapped_cust;
SELECT bag_eq($$SELECT ro_vis_reports.sims()$$,
	$$SELECT id FROM expected WHERE kind = 'mapped_customer' AND rel = 'cmp.sim_card'$$,
	'plan cache (definer): the same function, planned for an ACCOUNT role, shows a mapped CUSTOMER role its SIMs');
RESET ROLE;
SET ROLE ro_vis_mapped_acct;
SELECT bag_eq($$SELECT ro_vis_reports.sims()$$,
	$$SELECT id FROM expected WHERE kind = 'mapped_account' AND rel = 'cmp.sim_card'$$,
	'plan cache (definer): the same function, planned for a CUSTOMER role, shows the ACCOUNT role its SIMs again');
RESET ROLE;

SELECT is(:gcua_n::bigint, :n_cu_a::bigint,
	'plan cache (generic): the SIM grid shows a CUSTOMER user exactly its SIMs');
SELECT is(:gcsp_n::bigint, :n_csp::bigint,
	'plan cache (generic): a grid plan cached for a CUSTOMER user shows a CSP user every SIM');
SELECT is(:gaccr_n::bigint, :n_acc_r::bigint,
	'plan cache (generic): a grid plan cached for a CSP user shows an ACCOUNT user its account''s SIMs');
SELECT is(:gcuo_n::bigint, :n_cu_o::bigint,
	'plan cache (generic): a grid plan cached for an ACCOUNT user shows a CUSTOMER user only its SIMs');
SELECT is(:gcum_n::bigint, :n_cu_m::bigint,
	'plan cache (generic): a grid plan cached for another role shows a mapped CUSTOMER role only its SIMs');

-- ---- a plan that outlives a change of actor ---------------------------------
-- Plans are folded for a kind of actor and read the actor's values once per
-- execution, so a plan kept for a statement (a SQL function's) serves every
-- actor of its kind.  A plan folded for another kind, and a cursor opened
-- by one actor and first read by another, are refused (42501): they show
-- neither the other actor's rows nor, silently, none.

CREATE FUNCTION pg_temp.sims_seen() RETURNS bigint LANGUAGE sql
	AS 'SELECT pg_catalog.count(*) FROM cmp.sim_card';
SET ROLE ro_vis_app;
SELECT is(
	(SELECT pg_catalog.array_agg(n ORDER BY o) FROM (
		SELECT o, (cmp.set_actor(u) IS NULL) AS set, pg_temp.sims_seen() AS n
		  FROM unnest(ARRAY[:cu_a, :cu_a]::bigint[]) WITH ORDINALITY AS x(u, o)) AS s),
	ARRAY[:n_cu_a, :n_cu_a]::bigint[],
	'stale plans: a SQL function''s plan is reused within a statement for the same actor');
SELECT throws_ok(
	format($q$SELECT (cmp.set_actor(u) IS NULL), pg_temp.sims_seen()
			FROM unnest(ARRAY[%s, %s]::bigint[]) WITH ORDINALITY AS x(u, o) ORDER BY o$q$, :csp, :cu_a),
	'42501', 'permission denied: this plan was made for another kind of acting user',
	'stale plans: a SQL function''s plan made for a CSP user is refused to a CUSTOMER user in the same statement');
SELECT is(
	(SELECT pg_catalog.array_agg(n ORDER BY o) FROM (
		SELECT o, (cmp.set_actor(u) IS NULL) AS set, pg_temp.sims_seen() AS n
		  FROM unnest(ARRAY[:cu_a, :cu_o]::bigint[]) WITH ORDINALITY AS x(u, o)) AS s),
	ARRAY[:n_cu_a, :n_cu_o]::bigint[],
	'stale plans: a SQL function''s plan made for one CUSTOMER user shows another its own SIMs');
SELECT is(
	(SELECT pg_catalog.array_agg(n ORDER BY o) FROM (
		SELECT o, (cmp.set_actor(u) IS NULL) AS set, pg_temp.sims_seen() AS n
		  FROM unnest(ARRAY[:acc_r, :acc_s]::bigint[]) WITH ORDINALITY AS x(u, o)) AS s),
	ARRAY[:n_acc_r, :n_acc_s]::bigint[],
	'stale plans: a SQL function''s plan made for one ACCOUNT user shows another account''s user its own SIMs');
SELECT cmp.set_actor(:acc_r);
DECLARE stale_cursor CURSOR FOR SELECT pg_catalog.count(*) FROM cmp.sim_card;
SELECT cmp.set_actor(:cu_a);
SELECT throws_ok('FETCH stale_cursor', '42501', 'permission denied: this query was opened for another acting user',
	'stale plans: a cursor declared for an ACCOUNT user is refused to a CUSTOMER user');
CLOSE stale_cursor;
SELECT cmp.set_actor(:acc_r);
DECLARE stale_cursor CURSOR FOR SELECT pg_catalog.count(*) FROM cmp.sim_card;
SELECT cmp.clear_actor();
SELECT throws_ok('FETCH stale_cursor', '42501', 'permission denied: this query was opened for another acting user',
	'stale plans: a cursor declared for an ACCOUNT user is refused once the actor is cleared');
CLOSE stale_cursor;
SELECT cmp.set_actor(:cu_a);
SELECT is(pg_temp.sims_seen(), :n_cu_a::bigint,
	'stale plans: after a refusal, the statement run anew shows the actor its own rows');
DECLARE fresh_cursor CURSOR FOR SELECT pg_catalog.count(*) FROM cmp.sim_card;
FETCH fresh_cursor \gset fresh_
CLOSE fresh_cursor;
SELECT is(:fresh_count::bigint, :n_cu_a::bigint,
	'stale plans: a cursor declared and read by the same CUSTOMER user shows its SIMs');
SELECT cmp.clear_actor();
RESET ROLE;

-- A plan folded for a LOCKED user (nothing) is replanned once the user is
-- unlocked: it must not go on showing nothing.
SET ROLE ro_vis_mapped_locked;
PREPARE locked_sims AS SELECT pg_catalog.count(*) AS n FROM cmp.sim_card;
EXECUTE locked_sims \gset lk0_
RESET ROLE;
UPDATE cmp.app_user_data SET status = 'ACTIVE' WHERE user_id = :acc_lk;
SET ROLE ro_vis_mapped_locked;
EXECUTE locked_sims \gset lk1_
RESET ROLE;
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE user_id = :acc_lk;
DEALLOCATE locked_sims;
SELECT is(:lk0_n::bigint, 0::bigint, 'stale plans: a role mapped to a LOCKED user counts no SIMs');
SELECT is(:lk1_n::bigint,
	(SELECT pg_catalog.count(*) FROM cmp.sim_card s JOIN cmp.app_user u USING (account_id)
	  WHERE u.user_id = :acc_lk),
	'stale plans: once unlocked, the same prepared count shows its account''s SIMs');

-- The check is put only on plans that read a table, and keeps the plan's
-- columns as they were: PL/pgSQL evaluates a query without tables itself
-- (a simple expression), and an INSERT wants NULL constants for the
-- dropped columns of its target.
CREATE TEMP TABLE stale_sink (tag int, gone int, n bigint);
ALTER TABLE stale_sink DROP COLUMN gone;
GRANT SELECT, INSERT ON stale_sink TO PUBLIC;
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:cu_a);
SELECT lives_ok($q$DO $do$BEGIN IF cmp.actor_customer_ids() IS NULL THEN RAISE 'no customers'; END IF; END $do$$q$,
	'stale plans: a PL/pgSQL expression reading a policy function runs');
SELECT lives_ok($$INSERT INTO stale_sink (tag, n) SELECT 1, pg_catalog.count(*) FROM cmp.sim_card$$,
	'stale plans: INSERT … SELECT into a table with a dropped column runs');
SELECT is((SELECT n FROM stale_sink WHERE tag = 1), :n_cu_a::bigint,
	'stale plans: and inserts the CUSTOMER user''s count');
SELECT cmp.clear_actor();
RESET ROLE;

-- ---- non-leakproof functions in a WHERE clause -----------------------------

-- What a hostile function sees: every argument it is called with.  One
-- records in a table (VOLATILE), one in a setting (STABLE, so the planner
-- is freer with it); both are cheap, to tempt the planner to run them first.
CREATE TEMP TABLE peeked (tag text NOT NULL, v text);
GRANT SELECT, INSERT ON peeked TO PUBLIC;
CREATE FUNCTION pg_temp.peek(tag text, v text) RETURNS boolean
LANGUAGE plpgsql VOLATILE COST 0.0001 AS $$
BEGIN
	RAISE NOTICE 'peek % %', tag, v;
	INSERT INTO pg_temp.peeked VALUES (tag, v);
	RETURN true;
END
$$;
CREATE FUNCTION pg_temp.peek_stable(v text) RETURNS boolean
LANGUAGE plpgsql STABLE COST 0.0001 AS $$
BEGIN
	PERFORM set_config('ro_test.peeked',
		current_setting('ro_test.peeked', true) || coalesce(v, '<null>') || ',', false);
	RETURN true;
END
$$;

-- Expected, read as superuser.
CREATE TEMP TABLE peek_expected AS
SELECT 'sim' AS tag, id AS v FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.sim_card'
UNION ALL
SELECT 'customer', c.name FROM cmp.customer c
 WHERE c.customer_id::text IN (SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.customer')
UNION ALL
SELECT 'user', u.login FROM cmp.app_user u
 WHERE u.user_id::text IN (SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.app_user')
UNION ALL
SELECT 'grid', c.name FROM cmp.sim_card s JOIN cmp.customer c ON c.customer_id = s.customer_id
 WHERE s.iccid IN (SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.sim_card')
UNION ALL
SELECT 'overview', c.name FROM cmp.customer c
 WHERE c.customer_id::text IN (SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.customer')
UNION ALL
SELECT 'audit', event_id::text FROM cmp.audit_log
 WHERE event_id::text IN (SELECT id FROM expected WHERE kind = 'customer_a' AND rel = 'cmp.audit_log');
GRANT SELECT ON peek_expected TO PUBLIC;
SELECT pg_temp.iccid(3) AS hidden_iccid \gset

SET LOCAL client_min_messages = warning;
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:cu_a);
SELECT count(*) FROM cmp.sim_card WHERE pg_temp.peek('sim', iccid) \g /dev/null
SELECT count(*) FROM cmp.sim_card WHERE iccid = :'hidden_iccid' AND pg_temp.peek('sim', iccid) \g /dev/null
SELECT count(*) FROM cmp.customer WHERE pg_temp.peek('customer', name) \g /dev/null
SELECT count(*) FROM cmp.customer WHERE lower(name) LIKE 'r%' AND pg_temp.peek('customer', name) \g /dev/null
SELECT count(*) FROM cmp.app_user WHERE pg_temp.peek('user', login) \g /dev/null
SELECT count(*) FROM cmp.sim_grid WHERE pg_temp.peek('grid', customer_name) \g /dev/null
SELECT count(*) FROM cmp.customer_overview WHERE pg_temp.peek('overview', name) \g /dev/null
SELECT count(*) FROM cmp.audit_log WHERE pg_temp.peek('audit', event_id::text) \g /dev/null
SELECT set_config('ro_test.peeked', '', false) \g /dev/null
SELECT count(*) FROM cmp.sim_card WHERE pg_temp.peek_stable(iccid) \g /dev/null
SELECT count(*) FROM cmp.customer WHERE pg_temp.peek_stable(name) \g /dev/null
SELECT current_setting('ro_test.peeked') AS peeked_stable \gset
SELECT lives_ok(
	format($$SELECT count(*) FROM cmp.sim_card
	          WHERE 1 / (CASE WHEN iccid = %L THEN 0 ELSE 1 END) = 1$$, :'hidden_iccid'),
	'a non-leakproof expression (division by zero on a hidden ICCID) is never evaluated on a hidden row');
SELECT throws_ok(
	format($$SELECT count(*) FROM cmp.sim_card
	          WHERE 1 / (CASE WHEN iccid = %L THEN 0 ELSE 1 END) = 1$$, pg_temp.iccid(1)),
	'22012', NULL, 'the same probe does fire on a row the CUSTOMER user can see (the probe works)');
SELECT cmp.clear_actor();
RESET ROLE;
RESET client_min_messages;

SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'sim'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'sim'$$,
	'a non-leakproof function in a WHERE clause on cmp.sim_card sees only the CUSTOMER user''s SIMs');
SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'customer'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'customer'$$,
	'a non-leakproof function in a WHERE clause on cmp.customer sees only the CUSTOMER user''s customers');
SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'user'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'user'$$,
	'a non-leakproof function in a WHERE clause on cmp.app_user sees only the users of the CUSTOMER user''s customers');
SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'grid'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'grid'$$,
	'a non-leakproof function in a WHERE clause on cmp.sim_grid sees only the CUSTOMER user''s customer names');
SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'overview'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'overview'$$,
	'a non-leakproof function in a WHERE clause on cmp.customer_overview sees only the CUSTOMER user''s customers');
SELECT set_eq($$SELECT v FROM peeked WHERE tag = 'audit'$$,
	$$SELECT v FROM peek_expected WHERE tag = 'audit'$$,
	'a non-leakproof function in a WHERE clause on cmp.audit_log sees only the CUSTOMER user''s audit rows');
SELECT set_eq(
	format($$SELECT v FROM unnest(string_to_array(rtrim(%L, ','), ',')) AS v$$, :'peeked_stable'),
	$$SELECT v FROM peek_expected WHERE tag IN ('sim', 'customer')$$,
	'a cheap STABLE non-leakproof function sees only the CUSTOMER user''s SIMs and customers');

-- ---- parallel workers --------------------------------------------------------

-- EXPLAIN ANALYZE, as the caller, of a statement.  RETURN QUERY, because a
-- FOR loop reads through a cursor, and cursors never use parallel plans.
CREATE FUNCTION pg_temp.explain_lines(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q;
END
$$;
CREATE FUNCTION pg_temp.explain(q text) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(l, E'\n') FROM pg_temp.explain_lines(q) AS l
$$;

-- Every query below runs in parallel workers, the leader only gathers.
-- Not by force_parallel_mode alone (which only wraps a finished plan in a
-- Gather): parallel plans are made free and index scans, which on these
-- tiny tables always win, are taken away, so the planner must itself be
-- able to choose a parallel plan under the policies.
SET LOCAL force_parallel_mode = on;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_indexonlyscan = off;
SET LOCAL enable_bitmapscan = off;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL min_parallel_index_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;

SET ROLE ro_vis_app;
SELECT cmp.set_actor(:csp);
SELECT pg_temp.explain('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS par_plan_csp \gset
CREATE TEMP TABLE par_csp AS SELECT rel, id FROM visible_now;
SELECT cmp.set_actor(:acc_r);
SELECT pg_temp.explain('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS par_plan_acc \gset
CREATE TEMP TABLE par_acc AS SELECT rel, id FROM visible_now;
SELECT cmp.set_actor(:cu_a);
SELECT pg_temp.explain('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS par_plan_cu \gset
CREATE TEMP TABLE par_cu AS SELECT rel, id FROM visible_now;
SELECT cmp.clear_actor();
RESET ROLE;
SET ROLE ro_vis_mapped_cust;
SELECT pg_temp.explain('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS par_plan_map \gset
CREATE TEMP TABLE par_map AS SELECT rel, id FROM visible_now;
RESET ROLE;
SET ROLE ro_vis_app;
SELECT pg_temp.explain('SELECT pg_catalog.count(*) FROM cmp.sim_card') AS par_plan_none \gset
CREATE TEMP TABLE par_none AS SELECT rel, id FROM visible_now;
RESET ROLE;
-- how the CTAS above was run, for one of them
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:cu_a);
SELECT pg_temp.explain('CREATE TEMP TABLE par_probe AS SELECT rel, id FROM pg_temp.visible_now') AS par_plan_view \gset
SELECT cmp.clear_actor();
RESET ROLE;
RESET force_parallel_mode;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

SELECT matches(:'par_plan_csp'::text, 'Gather.*Workers Launched: [1-9]',
	'parallel: the CSP user''s SIM count runs under a Gather in launched workers');
SELECT matches(:'par_plan_acc'::text, 'Gather.*Workers Launched: [1-9]',
	'parallel: the ACCOUNT user''s SIM count runs under a Gather in launched workers');
SELECT matches(:'par_plan_cu'::text, 'Gather.*Workers Launched: [1-9]',
	'parallel: the CUSTOMER user''s SIM count runs under a Gather in launched workers');
SELECT matches(:'par_plan_map'::text, 'Gather.*Workers Launched: [1-9]',
	'parallel: the mapped role''s SIM count runs under a Gather in launched workers');
SELECT matches(:'par_plan_view'::text, 'Gather.*Workers Launched: [1-9]',
	'parallel: reading every table and view at once runs under a Gather in launched workers');
SELECT bag_eq($$SELECT rel, id FROM par_csp$$,
	$$SELECT rel, id FROM expected WHERE kind = 'csp'$$,
	'parallel: workers show a CSP user exactly what it sees, in every table and view');
SELECT bag_eq($$SELECT rel, id FROM par_acc$$,
	$$SELECT rel, id FROM expected WHERE kind = 'account_r'$$,
	'parallel: workers show an ACCOUNT user exactly what it sees, in every table and view');
SELECT bag_eq($$SELECT rel, id FROM par_cu$$,
	$$SELECT rel, id FROM expected WHERE kind = 'customer_a'$$,
	'parallel: workers show a CUSTOMER user exactly what it sees, in every table and view');
SELECT bag_eq($$SELECT rel, id FROM par_map$$,
	$$SELECT rel, id FROM expected WHERE kind = 'mapped_customer'$$,
	'parallel: workers show a mapped role exactly what its user sees, in every table and view');
SELECT is_empty($$SELECT rel, id FROM par_none$$,
	'parallel: workers show a session with no actor nothing');

-- ---- statistics ------------------------------------------------------------

-- (After the parallel tests: with fresh statistics of these tiny tables the
-- planner would rightly prefer serial plans.)  Statistics hold sample values of every tenant; pg_stats must not show
-- them to a reader restricted by RLS.
ANALYZE cmp.customer, cmp.sim_card, cmp.app_user;
SET ROLE ro_vis_app;
SELECT cmp.set_actor(:cu_a);
SELECT is_empty($$SELECT tablename, attname FROM pg_stats WHERE schemaname = 'cmp'$$,
	'pg_stats shows no sampled values of cmp tables to a CUSTOMER user');
SELECT cmp.clear_actor();
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
