-- bench/generate.sql -- the benchmark's data set, loaded through the
-- extension's own functions, as the system actor (a superuser with no actor).
--
--   psql -X -v ON_ERROR_STOP=1 -v scale=0.02 -v bulk_sims=100000 -v batch=100000 \
--        -d DB -f bench/generate.sql
--
-- Scale 1 is SPEC §9: 1,000 accounts (10 % RESELLER), 100,000 customers,
-- 200,000 users, 10,000,000 SIMs.  On top of that one extra account, BULK,
-- holds :bulk_sims unassigned SIMs for the assign_sims measurement.
--
-- Every entity goes through the extension's functions, as in production:
-- create_account, create_user, provision_sims (batches of :batch ICCIDs),
-- create_customer (with admin_login/admin_email), create_customer_user,
-- assign_sims (one call per customer) and set_customer_status.  Work is
-- committed per batch (procedures), so a full-scale load is not one huge
-- transaction and progress is printed as it goes.
--
-- Shape of the data (deterministic, no random()):
--   * accounts k = 1..A; k % 10 = 1 is a RESELLER (10 %), with a profile;
--     each account has an admin ACCOUNT user and an operator ACCOUNT user.
--   * customers: RESELLER accounts weigh 20, STANDARD ones 1 (times a
--     per-account factor 0.5..1.5), so resellers hold about 70 % of them.
--   * SIMs: RESELLER accounts weigh 5, STANDARD ones 1 (times a factor);
--     70 % of an account's SIMs are assigned, split over its customers by a
--     Zipf law (customer j gets weight j^-0.9): a few big customers, many
--     small ones.  SIMs of one account (and of one customer) are contiguous
--     ICCID ranges, as when SIMs are shipped in lots.
--   * customer status by position j in the account: j % 50 = 25 TERMINATED
--     (no SIMs), j % 16 = 9 DRAFT, j % 25 = 13 SUSPENDED, the rest ACTIVE.
--     Every customer has its Customer Admin User; the remaining users are
--     extra CUSTOMER users (one in ten assigned to two customers).
--   * ICCID = '894901' || 12-digit number || Luhn check digit (19 digits);
--     IMSI = '26201' || 10 digits; MSISDN = '491' || 10 digits.

\set ON_ERROR_STOP on
SET client_min_messages = notice;
\timing off

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- ---------------------------------------------------------------------------
-- ICCIDs at SQL speed.  A Luhn check digit needs the digit sum of the
-- payload with every second digit (starting with the rightmost) doubled.
-- The payload is a constant prefix plus a 12-digit number; the number splits
-- into three 4-digit chunks that all start at an even position, so one
-- 10,000-entry table of chunk sums (folded into the function as a constant)
-- gives the check digit with three array look-ups and no per-digit loop.
-- ---------------------------------------------------------------------------

-- the slow, obviously right version: only used to build the table
CREATE FUNCTION bench.luhn_sum(digits text) RETURNS integer
	LANGUAGE sql IMMUTABLE AS $$
	SELECT COALESCE(sum(CASE WHEN i % 2 = 0
							 THEN CASE WHEN d * 2 > 9 THEN d * 2 - 9 ELSE d * 2 END
							 ELSE d END), 0)::integer
	  FROM (SELECT i, substr(reverse(digits), i + 1, 1)::integer AS d
			  FROM generate_series(0, length(digits) - 1) AS i) AS t
$$;

DO $gen$
DECLARE
	chunk integer[];
	prefix_sum integer;
BEGIN
	SELECT array_agg(bench.luhn_sum(lpad(x::text, 4, '0')) ORDER BY x)
	  INTO chunk FROM generate_series(0, 9999) AS x;
	prefix_sum := bench.luhn_sum('894901' || repeat('0', 12));
	EXECUTE format($f$
		CREATE FUNCTION bench.iccid(g bigint) RETURNS text
			LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
			SELECT '894901' || lpad(g::text, 12, '0') ||
				   ((10 - (%s + (%L::integer[])[g %% 10000 + 1]
							  + (%L::integer[])[(g / 10000) %% 10000 + 1]
							  + (%L::integer[])[(g / 100000000) %% 10000 + 1]) %% 10) %% 10)::text
		$body$$f$, prefix_sum, chunk, chunk, chunk);
END
$gen$;

CREATE FUNCTION bench.imsi(g bigint) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '26201' || lpad(g::text, 10, '0') $$;
CREATE FUNCTION bench.msisdn(g bigint) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '491' || lpad(g::text, 10, '0') $$;

-- the fast ICCIDs agree with the extension's own check
DO $chk$
DECLARE
	bad bigint;
BEGIN
	SELECT count(*) INTO bad
	  FROM (SELECT g FROM generate_series(0, 20000) AS g
			UNION ALL SELECT (g::bigint * 7919 * 104729) % 999999999999 FROM generate_series(1, 20000) AS g) AS s
	 WHERE NOT cmp.iccid_is_valid(bench.iccid(g)) OR length(bench.iccid(g)) <> 19
		OR NOT cmp.imsi_is_valid(bench.imsi(g)) OR NOT cmp.msisdn_is_valid(bench.msisdn(g));
	IF bad > 0 THEN
		RAISE EXCEPTION 'bench.iccid produced % invalid values', bad;
	END IF;
END
$chk$;

-- ---------------------------------------------------------------------------
-- The plan: how many customers and SIMs each account gets.
-- ---------------------------------------------------------------------------

CREATE TABLE bench.params AS
SELECT greatest(2, round(1000 * :scale))::integer AS accounts,
	   greatest(10, round(100000 * :scale))::integer AS customers,
	   greatest(20, round(200000 * :scale))::integer AS users,
	   greatest(1000, round(10000000 * :scale))::bigint AS sims,
	   :bulk_sims::bigint AS bulk_sims,
	   :batch::integer AS batch;

CREATE TABLE bench.plan_account (
	k integer PRIMARY KEY,
	account_number text NOT NULL,
	is_reseller boolean NOT NULL,
	is_bulk boolean NOT NULL DEFAULT false,
	n_customers integer NOT NULL,
	n_sims bigint NOT NULL,
	sim_start bigint,				-- first SIM number g of the account
	account_id bigint
);

WITH a AS (
	SELECT k, k % 10 = 1 AS is_reseller,
		   (CASE WHEN k % 10 = 1 THEN 20 ELSE 1 END) * (0.5 + ((k * 7919) % 101) / 100.0) AS cw,
		   (CASE WHEN k % 10 = 1 THEN 5 ELSE 1 END) * (0.5 + ((k * 104729) % 101) / 100.0) AS sw
	  FROM bench.params, generate_series(1, accounts) AS k
), s AS (
	SELECT a.*, floor(p.customers * cw / sum(cw) OVER ())::integer AS nc,
		   floor(p.sims * sw / sum(sw) OVER ())::bigint AS ns
	  FROM a, bench.params p
)
INSERT INTO bench.plan_account (k, account_number, is_reseller, n_customers, n_sims)
SELECT k, 'ACC' || lpad(k::text, 5, '0'), is_reseller,
	   -- the rounding remainders go to the first account (a reseller)
	   nc + CASE WHEN k = 1 THEN p.customers - sum(nc) OVER () ELSE 0 END,
	   ns + CASE WHEN k = 1 THEN p.sims - sum(ns) OVER () ELSE 0 END
  FROM s, bench.params p;

INSERT INTO bench.plan_account (k, account_number, is_reseller, is_bulk, n_customers, n_sims)
SELECT accounts + 1, 'BULK', false, true, 0, bulk_sims FROM bench.params WHERE bulk_sims > 0;

UPDATE bench.plan_account p SET sim_start = s.start
  FROM (SELECT k, COALESCE(sum(n_sims) OVER (ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS start
		  FROM bench.plan_account) AS s
 WHERE s.k = p.k;

SELECT accounts, customers, users, sims, bulk_sims, batch FROM bench.params;

-- ---------------------------------------------------------------------------
-- Accounts and their users; the CSP user.
-- ---------------------------------------------------------------------------

\echo generate: accounts
UPDATE bench.plan_account SET account_id = cmp.create_account(
	account_number => account_number,
	name => CASE WHEN is_bulk THEN 'Bulk SIM pool' ELSE 'Account ' || k END,
	account_type => CASE WHEN is_reseller THEN 'RESELLER' ELSE 'STANDARD' END,
	customer_invoice_creation => CASE WHEN is_reseller THEN k % 3 <> 0 END,
	customer_invoice_type => CASE WHEN is_reseller THEN (ARRAY['RAW', 'PDF', 'BOTH'])[1 + k % 3] END,
	customer_billing_cycle_day => CASE WHEN is_reseller THEN 1 + k % 28 END);

\echo generate: CSP and ACCOUNT users
SELECT cmp.create_user(login => 'csp.admin', email => 'csp.admin@cmp.example',
					   context_level => 'CSP', full_name => 'CSP Administrator', is_admin => true);
SELECT count(cmp.create_user(login => lower(account_number) || '.' || r.role,
							 email => lower(account_number) || '.' || r.role || '@accounts.example',
							 context_level => 'ACCOUNT', account_id => account_id,
							 full_name => initcap(r.role) || ' of ' || account_number,
							 is_admin => r.role = 'admin')) AS account_users
  FROM bench.plan_account, (VALUES ('admin'), ('ops')) AS r(role);

-- ---------------------------------------------------------------------------
-- SIMs: provision_sims in batches of at most :batch ICCIDs, one commit each.
-- ---------------------------------------------------------------------------

CREATE PROCEDURE bench.provision() LANGUAGE plpgsql AS $$
DECLARE
	r record;
	lo bigint;
	hi bigint;
	done bigint := 0;
	total bigint;
	step bigint;
	next_report bigint;
	batch integer;
	t0 timestamptz := clock_timestamp();
BEGIN
	SELECT sum(n_sims) INTO total FROM bench.plan_account;
	SELECT p.batch INTO batch FROM bench.params p;
	step := greatest(total / 10, 1);
	next_report := step;
	FOR r IN SELECT * FROM bench.plan_account WHERE n_sims > 0 ORDER BY k LOOP
		lo := r.sim_start;
		WHILE lo < r.sim_start + r.n_sims LOOP
			hi := least(lo + batch, r.sim_start + r.n_sims) - 1;
			PERFORM cmp.provision_sims(
				account_id => r.account_id,
				iccids => ARRAY(SELECT bench.iccid(g) FROM generate_series(lo, hi) AS g),
				imsis => ARRAY(SELECT bench.imsi(g) FROM generate_series(lo, hi) AS g),
				msisdns => ARRAY(SELECT bench.msisdn(g) FROM generate_series(lo, hi) AS g));
			COMMIT;
			done := done + (hi - lo + 1);
			IF done >= next_report OR done = total THEN
				RAISE NOTICE 'provision_sims: % of % SIMs (% s)', done, total,
					round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1);
				next_report := (done / step + 1) * step;
			END IF;
			lo := hi + 1;
		END LOOP;
	END LOOP;
END
$$;

\echo generate: SIMs (cmp.provision_sims)
CALL bench.provision();
-- as autovacuum would have done by now: the assignment below plans with
-- real statistics
ANALYZE cmp.sim_card;

-- ---------------------------------------------------------------------------
-- Customers, each with its Customer Admin User (create_customer), one
-- statement and one commit per account.
-- ---------------------------------------------------------------------------

CREATE TABLE bench.plan_customer (
	account_k integer NOT NULL,
	j integer NOT NULL,				-- position in the account (its j-th customer)
	customer_id bigint,
	target_status text NOT NULL,
	n_sims bigint NOT NULL DEFAULT 0,
	sim_first bigint,				-- first SIM number g
	PRIMARY KEY (account_k, j)
);

INSERT INTO bench.plan_customer (account_k, j, target_status)
SELECT a.k, j, CASE WHEN j % 50 = 25 THEN 'TERMINATED'
					WHEN j % 16 = 9 THEN 'DRAFT'
					WHEN j % 25 = 13 THEN 'SUSPENDED'
					ELSE 'ACTIVE' END
  FROM bench.plan_account a, generate_series(1, a.n_customers) AS j;

-- 70 % of an account's SIMs, Zipf-distributed over its customers that will
-- not be terminated; each customer gets a contiguous range of the account's
-- SIM numbers
CREATE TEMP TABLE plan_n AS
WITH w AS (
	SELECT c.account_k, c.j,
		   CASE WHEN c.target_status = 'TERMINATED' THEN 0 ELSE power(c.j, -0.9) END AS w,
		   floor(a.n_sims * 0.7) AS to_assign, a.sim_start
	  FROM bench.plan_customer c JOIN bench.plan_account a ON a.k = c.account_k
), n AS (
	SELECT account_k, j, sim_start, floor(to_assign * w / sum(w) OVER (PARTITION BY account_k))::bigint AS n
	  FROM w
)
SELECT account_k, j, n,
	   sim_start + COALESCE(sum(n) OVER (PARTITION BY account_k ORDER BY j
							ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS first
  FROM n;
UPDATE bench.plan_customer c SET n_sims = p.n, sim_first = p.first
  FROM plan_n p WHERE p.account_k = c.account_k AND p.j = c.j;

CREATE PROCEDURE bench.create_customers() LANGUAGE plpgsql AS $$
DECLARE
	r record;
	done bigint := 0;
	total bigint;
	step bigint;
	next_report bigint;
	t0 timestamptz := clock_timestamp();
BEGIN
	SELECT count(*) INTO total FROM bench.plan_customer;
	step := greatest(total / 10, 1);
	next_report := step;
	FOR r IN SELECT * FROM bench.plan_account WHERE n_customers > 0 ORDER BY k LOOP
		UPDATE bench.plan_customer c SET customer_id = cmp.create_customer(
			account_id => r.account_id,
			name => 'Customer ' || c.j || ' of ' || r.account_number,
			billable => r.is_reseller AND c.j % 3 <> 0,
			status => CASE WHEN c.target_status = 'DRAFT' THEN 'DRAFT' ELSE 'ACTIVE' END,
			external_customer_number => 'EXT-' || lpad(c.j::text, 6, '0'),
			description => 'IoT fleet customer',
			country => (ARRAY['DE', 'AT', 'CH', 'FR', 'NL'])[1 + c.j % 5],
			city => 'City ' || (c.j % 97),
			street => 'Main Street ' || c.j,
			zip_code => lpad((10000 + c.j % 89999)::text, 5, '0'),
			phone => '+4930' || lpad(c.j::text, 7, '0'),
			homepage => 'https://customer' || c.j || '.' || lower(r.account_number) || '.example',
			admin_login => lower(r.account_number) || '.c' || c.j || '.admin',
			admin_email => 'admin.c' || c.j || '@' || lower(r.account_number) || '.example',
			admin_full_name => 'Admin of customer ' || c.j)
		  FROM (SELECT account_k, j FROM bench.plan_customer
				 WHERE account_k = r.k ORDER BY j) AS o
		 WHERE c.account_k = o.account_k AND c.j = o.j;
		COMMIT;
		done := done + r.n_customers;
		IF done >= next_report OR done = total THEN
			RAISE NOTICE 'create_customer: % of % customers (% s)', done, total,
				round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1);
			next_report := (done / step + 1) * step;
		END IF;
	END LOOP;
END
$$;

\echo generate: customers with admin users (cmp.create_customer)
CALL bench.create_customers();
ANALYZE cmp.customer;
ANALYZE cmp.app_user_data;
ANALYZE cmp.user_customer;

-- ---------------------------------------------------------------------------
-- Extra CUSTOMER users up to the user count (create_customer_user).
-- ---------------------------------------------------------------------------

CREATE PROCEDURE bench.create_customer_users() LANGUAGE plpgsql AS $$
DECLARE
	extra bigint;
	ncust bigint;
	lo bigint := 1;
	hi bigint;
	chunk integer := 5000;
	t0 timestamptz := clock_timestamp();
BEGIN
	SELECT p.users - (SELECT count(*) FROM cmp.app_user_data) INTO extra FROM bench.params p;
	IF extra <= 0 THEN
		RAISE NOTICE 'create_customer_user: no extra users needed';
		RETURN;
	END IF;
	CREATE TEMP TABLE IF NOT EXISTS cu_target AS
	SELECT row_number() OVER (ORDER BY c.account_k, c.j) AS ord, c.customer_id,
		   lead(c.customer_id) OVER (PARTITION BY c.account_k ORDER BY c.j) AS next_customer_id,
		   a.account_number
	  FROM bench.plan_customer c JOIN bench.plan_account a ON a.k = c.account_k
	 WHERE c.target_status <> 'TERMINATED';
	SELECT count(*) INTO ncust FROM cu_target;
	WHILE lo <= extra LOOP
		hi := least(lo + chunk - 1, extra);
		PERFORM cmp.create_customer_user(
			customer_ids => CASE WHEN i % 10 = 0 AND t.next_customer_id IS NOT NULL
								 THEN ARRAY[t.customer_id, t.next_customer_id]
								 ELSE ARRAY[t.customer_id] END,
			login => lower(t.account_number) || '.u' || i,
			email => 'user' || i || '@' || lower(t.account_number) || '.example',
			full_name => 'Customer user ' || i,
			is_admin => i % 7 = 0)
		  FROM generate_series(lo, hi) AS i
		  JOIN cu_target t ON t.ord = (i - 1) % ncust + 1;
		COMMIT;
		RAISE NOTICE 'create_customer_user: % of % extra users (% s)', hi, extra,
			round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1);
		lo := hi + 1;
	END LOOP;
END
$$;

\echo generate: extra customer users (cmp.create_customer_user)
CALL bench.create_customer_users();

-- ---------------------------------------------------------------------------
-- SIM assignment: one assign_sims call per customer, commit per account.
-- ---------------------------------------------------------------------------

CREATE PROCEDURE bench.assign() LANGUAGE plpgsql AS $$
DECLARE
	r record;
	done bigint := 0;
	total bigint;
	step bigint;
	next_report bigint;
	t0 timestamptz := clock_timestamp();
BEGIN
	SELECT sum(n_sims) INTO total FROM bench.plan_customer;
	step := greatest(total / 10, 1);
	next_report := step;
	FOR r IN SELECT account_k, sum(n_sims) AS n FROM bench.plan_customer
			  WHERE n_sims > 0 GROUP BY account_k ORDER BY account_k LOOP
		PERFORM cmp.assign_sims(
			customer_id => c.customer_id,
			iccids => ARRAY(SELECT bench.iccid(g)
							  FROM generate_series(c.sim_first, c.sim_first + c.n_sims - 1) AS g))
		  FROM bench.plan_customer c
		 WHERE c.account_k = r.account_k AND c.n_sims > 0;
		COMMIT;
		done := done + r.n;
		IF done >= next_report OR done = total THEN
			RAISE NOTICE 'assign_sims: % of % SIMs (% s)', done, total,
				round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1);
			next_report := (done / step + 1) * step;
		END IF;
	END LOOP;
END
$$;

\echo generate: SIM assignment (cmp.assign_sims, one call per customer)
CALL bench.assign();

-- ---------------------------------------------------------------------------
-- Lifecycle: some customers are suspended, some terminated.
-- ---------------------------------------------------------------------------

\echo generate: suspensions and terminations (cmp.set_customer_status)
SELECT target_status, count(cmp.set_customer_status(customer_id => customer_id, status => target_status,
													reason => 'benchmark data set'))
  FROM bench.plan_customer
 WHERE target_status IN ('SUSPENDED', 'TERMINATED')
 GROUP BY target_status ORDER BY target_status;
