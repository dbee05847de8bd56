-- bench/actors.sql -- the actors the measurements run as, after
-- bench/generate.sql, as the system actor (superuser, no actor).
--
-- Each actor is a CMP user mapped to its own login role by db_role (the way
-- README.md maps a DBA or analyst): when that role connects and sets no
-- actor, it acts as that user.  So pgbench connects as the role and every
-- query runs with the actor already in place: no cmp.set_actor() call is
-- charged to the queries being measured, and the actor is resolved once per
-- connection, as in an application that sets its actor per session.
--
--   role          CMP user                 of
--   bench_csp     CSP user                 -
--   bench_acct    ACCOUNT user (admin)     the regular account with the most SIMs
--   bench_bulk    ACCOUNT user (admin)     the BULK account (assign_sims)
--   bench_cu_typ  CUSTOMER user            an ACTIVE customer with the median SIM count
--   bench_cu_big  CUSTOMER user            the biggest ACTIVE customer of the last RESELLER account
--
-- Also made here: 200 ACTIVE customers of bench_acct's account with
-- consecutive ids, toggled by the set_customer_status measurement, and an
-- ACTIVE customer of the BULK account that receives the bulk assignment.
-- Everything chosen is recorded in bench.ctx for bench/run.sh.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['bench_csp', 'bench_acct', 'bench_bulk', 'bench_cu_typ', 'bench_cu_big'] LOOP
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
		END IF;
	END LOOP;
END
$$;

-- the ICCID generator is used by the bulk measurement's sessions
GRANT USAGE ON SCHEMA bench TO PUBLIC;

CREATE TABLE bench.ctx (key text PRIMARY KEY, value text NOT NULL);

-- SIMs per customer, as they are now
CREATE TEMP TABLE sims_per_customer AS
SELECT s.customer_id, count(*) AS n
  FROM cmp.sim_card s JOIN cmp.customer c USING (customer_id)
 WHERE c.status = 'ACTIVE'
 GROUP BY s.customer_id;

INSERT INTO bench.ctx
SELECT 'acct_account_id', account_id::text FROM bench.plan_account
 WHERE NOT is_bulk ORDER BY n_sims DESC, k LIMIT 1;
INSERT INTO bench.ctx
SELECT 'bulk_account_id', account_id::text FROM bench.plan_account WHERE is_bulk;
INSERT INTO bench.ctx
SELECT 'typ_customer_id', customer_id::text FROM sims_per_customer
 WHERE n = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) FROM sims_per_customer)
 ORDER BY customer_id LIMIT 1;
-- the largest customer of the last RESELLER account: a big customer whose
-- ICCIDs lie late in the ICCID order, as most customers' do (the very
-- largest customer of all sits at the start of it, in the first account)
INSERT INTO bench.ctx
SELECT 'big_customer_id', s.customer_id::text
  FROM sims_per_customer s JOIN cmp.customer c USING (customer_id)
 WHERE c.account_id = (SELECT account_id FROM bench.plan_account
						WHERE is_reseller ORDER BY k DESC LIMIT 1)
 ORDER BY s.n DESC, s.customer_id LIMIT 1;

CREATE FUNCTION bench.ctx(k text) RETURNS text LANGUAGE sql STABLE AS
	$$ SELECT value FROM bench.ctx WHERE key = k $$;

INSERT INTO bench.ctx VALUES
	('csp_user_id', cmp.create_user(login => 'bench.csp', email => 'bench.csp@cmp.example',
		context_level => 'CSP', full_name => 'Benchmark CSP user', db_role => 'bench_csp')::text),
	('acct_user_id', cmp.create_user(login => 'bench.acct', email => 'bench.acct@accounts.example',
		context_level => 'ACCOUNT', account_id => bench.ctx('acct_account_id')::bigint,
		full_name => 'Benchmark account admin', is_admin => true, db_role => 'bench_acct')::text),
	('bulk_user_id', cmp.create_user(login => 'bench.bulk', email => 'bench.bulk@accounts.example',
		context_level => 'ACCOUNT', account_id => bench.ctx('bulk_account_id')::bigint,
		full_name => 'Benchmark bulk account admin', is_admin => true, db_role => 'bench_bulk')::text),
	('typ_user_id', cmp.create_customer_user(customer_ids => ARRAY[bench.ctx('typ_customer_id')::bigint],
		login => 'bench.cu.typical', email => 'bench.cu.typical@customers.example',
		full_name => 'Benchmark customer user (typical customer)', db_role => 'bench_cu_typ')::text),
	('big_user_id', cmp.create_customer_user(customer_ids => ARRAY[bench.ctx('big_customer_id')::bigint],
		login => 'bench.cu.big', email => 'bench.cu.big@customers.example',
		full_name => 'Benchmark customer user (largest customer)', db_role => 'bench_cu_big')::text);

-- the customer that receives the bulk assignment
INSERT INTO bench.ctx VALUES
	('bulk_customer_id', cmp.create_customer(account_id => bench.ctx('bulk_account_id')::bigint,
		name => 'Bulk target', status => 'ACTIVE', admin_login => 'bench.bulk.target.admin',
		admin_email => 'admin@bulk-target.example')::text);

-- 200 ACTIVE customers with consecutive ids for the status toggling
CREATE TEMP TABLE toggle AS
SELECT i, cmp.create_customer(account_id => bench.ctx('acct_account_id')::bigint,
		name => 'Toggle customer ' || i, status => 'ACTIVE',
		admin_login => 'bench.toggle' || i || '.admin',
		admin_email => 'admin@toggle' || i || '.example') AS customer_id
  FROM generate_series(1, 200) AS i ORDER BY i;
DO $$
BEGIN
	IF (SELECT max(customer_id) - min(customer_id) + 1 FROM toggle) <> 200 THEN
		RAISE EXCEPTION 'toggle customers do not have consecutive ids';
	END IF;
END
$$;
INSERT INTO bench.ctx
SELECT 'toggle_lo', min(customer_id)::text FROM toggle
UNION ALL SELECT 'toggle_n', count(*)::text FROM toggle;

-- what the chosen objects hold
INSERT INTO bench.ctx
SELECT 'typ_sims', count(*)::text FROM cmp.sim_card WHERE customer_id = bench.ctx('typ_customer_id')::bigint
UNION ALL
SELECT 'big_sims', count(*)::text FROM cmp.sim_card WHERE customer_id = bench.ctx('big_customer_id')::bigint
UNION ALL
SELECT 'acct_sims', count(*)::text FROM cmp.sim_card WHERE account_id = bench.ctx('acct_account_id')::bigint
UNION ALL
SELECT 'bulk_sims', count(*)::text FROM cmp.sim_card WHERE account_id = bench.ctx('bulk_account_id')::bigint
UNION ALL
SELECT 'bulk_free', count(*)::text FROM cmp.sim_card
 WHERE account_id = bench.ctx('bulk_account_id')::bigint AND customer_id IS NULL
UNION ALL
SELECT 'bulk_g_lo', sim_start::text FROM bench.plan_account WHERE is_bulk
UNION ALL
SELECT 'total_sims', count(*)::text FROM cmp.sim_card
UNION ALL
-- the second page of the largest customer's SIM grid starts after this ICCID
(SELECT 'big_page2_after', iccid FROM cmp.sim_card
  WHERE customer_id = bench.ctx('big_customer_id')::bigint ORDER BY iccid OFFSET 49 LIMIT 1);

SELECT key, value FROM bench.ctx ORDER BY key;
