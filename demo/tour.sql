-- A narrated tour of reseller_onboarding, run by tools/demo.sh as the
-- superuser postgres in a fresh database that has the extension.
\set ON_ERROR_STOP 1
\pset footer off
\set VERBOSITY default

\echo
\echo '=== 1. Set-up by the system actor (a superuser with no actor set) ==='
\echo 'Two accounts: a reseller with its reseller profile, and a standard account.'
SELECT cmp.create_account(account_number => 'R-1000', name => 'Northwind IoT Reseller',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS reseller_id \gset
SELECT cmp.create_account(account_number => 'S-2000', name => 'Contoso Logistics') AS standard_id \gset

\echo 'A CSP user, and an account admin for each account.'
SELECT cmp.create_user(login => 'csp.ops', email => 'ops@csp.example', context_level => 'CSP') AS csp_user \gset
SELECT cmp.create_user(login => 'nw.admin', email => 'admin@northwind.example', context_level => 'ACCOUNT',
	account_id => :reseller_id, is_admin => true, full_name => 'Northwind Admin') AS reseller_user \gset
SELECT cmp.create_user(login => 'contoso.admin', email => 'admin@contoso.example', context_level => 'ACCOUNT',
	account_id => :standard_id, is_admin => true) AS standard_user \gset

\echo 'ICCIDs are 19-20 digits starting with 89 and end in a Luhn check digit; this'
\echo 'helper (demo only) makes valid ones.'
CREATE SCHEMA demo;
CREATE FUNCTION demo.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT body || ((10 - (sum(d) % 10)) % 10)::text
	  FROM (SELECT '8949' || lpad(n::text, 14, '0') AS body) b,
	       LATERAL (SELECT CASE WHEN i % 2 = 1
	                            THEN (substr(reverse(body), i, 1)::int * 2) % 9
	                                 + CASE WHEN substr(reverse(body), i, 1) = '9' THEN 9 ELSE 0 END
	                            ELSE substr(reverse(body), i, 1)::int END AS d
	                  FROM generate_series(1, length(body)) AS i) AS digits
	 GROUP BY body
$$;

\echo 'The CSP provisions 12,000 SIMs into the reseller and 500 into the standard account:'
\echo 'one call each, all-or-nothing.'
SELECT cmp.provision_sims(:reseller_id, array_agg(demo.iccid(g))) AS provisioned
  FROM generate_series(1, 12000) AS g;
SELECT cmp.provision_sims(:standard_id, array_agg(demo.iccid(g))) AS provisioned
  FROM generate_series(20001, 20500) AS g;

\echo
\echo '=== 2. The application connects with its own role and names the actor ==='
CREATE ROLE demo_app LOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO demo_app;
GRANT USAGE ON SCHEMA demo TO demo_app;
GRANT EXECUTE ON FUNCTION demo.iccid(bigint) TO demo_app;
SET ROLE demo_app;
\echo 'Without an actor, the application sees nothing:'
SELECT count(*) AS visible_sims FROM cmp.sim_card;
\echo 'And it cannot forge one:'
\set ON_ERROR_STOP 0
SET cmp.actor = '1';
\set ON_ERROR_STOP 1

\echo
\echo '=== 3. The reseller onboards its customers ==='
SELECT cmp.set_actor(:reseller_user, is_local => false);
SELECT * FROM cmp.whoami();

\echo 'A billable customer with a complete address and its Customer Admin User,'
\echo 'created ACTIVE in one call:'
SELECT cmp.create_customer(account_id => :reseller_id, name => 'Fabrikam Fleet GmbH', billable => true,
	status => 'ACTIVE', external_customer_number => 'NW-C-0001',
	description => 'Telematics for 4,000 trucks', country => 'DE', state => 'Berlin',
	zip_code => '10115', city => 'Berlin', street => 'Invalidenstrasse 1',
	phone => '+4930123456', homepage => 'https://fabrikam.example',
	linkedin => 'https://www.linkedin.com/company/fabrikam-example',
	estimated_annual_revenue => 25000000, revenue_currency => 'EUR',
	admin_login => 'fabrikam.admin', admin_email => 'it@fabrikam.example',
	admin_full_name => 'Fabrikam IT') AS fabrikam \gset
\echo 'A simple (non-billable) customer, created as DRAFT:'
SELECT cmp.create_customer(account_id => :reseller_id, name => 'Tailspin Scooters',
	external_customer_number => 'NW-C-0002', country => 'AT', city => 'Vienna') AS tailspin \gset
\echo 'Customer numbers are per account: 1, 2, ...'
SELECT customer_id, customer_number, external_customer_number, name, billable, status
  FROM cmp.customer ORDER BY customer_number;

\echo 'Refusals carry a fixed SQLSTATE, a DETAIL and often a HINT:'
\set ON_ERROR_STOP 0
SELECT cmp.create_customer(account_id => :reseller_id, name => 'fabrikam fleet gmbh');
SELECT cmp.set_customer_status(:tailspin, 'ACTIVE');
\set ON_ERROR_STOP 1

\echo 'Tailspin gets an admin user, then becomes ACTIVE:'
SELECT cmp.create_customer_user(customer_ids => ARRAY[:tailspin]::bigint[], login => 'tailspin.admin',
	email => 'admin@tailspin.example', is_admin => true) AS tailspin_admin \gset
SELECT cmp.update_customer(:tailspin, jsonb_build_object('street', 'Ringstrasse 5', 'zip_code', '1010'));
SELECT cmp.set_customer_status(:tailspin, 'ACTIVE', reason => 'contract signed') AS previous_status;

\echo
\echo '=== 4. SIMs from the grid to customers ==='
\echo 'The account user assigns 10,000 SIMs to Fabrikam in one call,'
SELECT cmp.assign_sims(:fabrikam, array_agg(demo.iccid(g))) AS assigned
  FROM generate_series(1, 10000) AS g;
\echo 'then moves 300 of them to Tailspin (reassign => true, each move is in the history):'
SELECT cmp.assign_sims(:tailspin, array_agg(demo.iccid(g)), reassign => true) AS moved
  FROM generate_series(9701, 10000) AS g;
SELECT * FROM cmp.customer_overview ORDER BY customer_number;
\echo 'A SIM of another account is reported exactly like one that does not exist:'
\set ON_ERROR_STOP 0
SELECT cmp.assign_sims(:fabrikam, ARRAY[demo.iccid(20001)]);
\set ON_ERROR_STOP 1

\echo
\echo '=== 4b. Bulk onboarding: ICCID ranges, free SIMs, a customer import ==='
\echo 'SIMs arrive in ICCID ranges: the next 500 go to Tailspin by their first and last ICCID:'
SELECT cmp.assign_sim_range(:tailspin, demo.iccid(10001), demo.iccid(10500)) AS assigned;
\echo '"Give Tailspin 5 free SIMs": the lowest free ICCIDs; concurrent calls never share one:'
SELECT cmp.assign_free_sims(:tailspin, 5) AS iccids;
\echo 'Three customers from a spreadsheet, one of them with a bad country code; each row'
\echo 'is reported, and without all_or_nothing the good ones are created:'
SELECT * FROM cmp.import_customers(jsonb_build_array(
	jsonb_build_object('account_id', :reseller_id, 'name', 'Adatum'),
	jsonb_build_object('account_id', :reseller_id, 'name', 'Woodgrove', 'country', 'XX'),
	jsonb_build_object('account_id', :reseller_id, 'name', 'Litware', 'external_customer_number', 'LW-1')),
	all_or_nothing => false);
\echo 'A retried request (same request_id) returns the first result and creates nothing:'
SELECT cmp.create_customer(:reseller_id, 'Proseware',
	request_id => '6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f50') AS first_call;
SELECT cmp.create_customer(:reseller_id, 'Proseware',
	request_id => '6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f50') AS retry;
\echo 'Every change is also an event of the change feed, read in commit order:'
SELECT cmp.create_event_consumer('billing');
SELECT event_id, event_type, customer_id, left(payload::text, 60) AS payload
  FROM cmp.read_events('billing', 5);

\echo
\echo '=== 5. What a customer user sees ==='
\echo 'The Fabrikam admin invites a colleague; the colleague sees only Fabrikam.'
SELECT admin_user_id AS fabrikam_admin FROM cmp.customer WHERE customer_id = :fabrikam \gset
SELECT cmp.set_actor(:fabrikam_admin, is_local => false);
SELECT cmp.create_customer_user(customer_ids => ARRAY[:fabrikam]::bigint[], login => 'fabrikam.analyst',
	email => 'analyst@fabrikam.example', full_name => 'Fleet Analyst') AS analyst \gset
SELECT cmp.set_actor(:analyst, is_local => false);
SELECT * FROM cmp.whoami();
SELECT count(*) AS visible_sims FROM cmp.sim_card;
SELECT customer_number, customer_name, count(*) AS sims
  FROM cmp.sim_grid GROUP BY 1, 2;
\echo 'The first page of the SIM grid, by ICCID:'
SELECT iccid, account_number, customer_number, customer_name, customer_status
  FROM cmp.sim_grid ORDER BY iccid LIMIT 5;
\echo 'Accounts and other customers are invisible to it:'
SELECT count(*) AS visible_accounts FROM cmp.account;
SELECT count(*) AS visible_customers FROM cmp.customer;
\echo 'What the planner made of the policy for this user: its customer as a constant,'
\echo 'the same plan as the query written by hand, with one check on top that the plan'
\echo 'runs for the user it was made for:'
EXPLAIN (COSTS OFF) SELECT count(*) FROM cmp.sim_card;
\echo 'A customer user cannot assign SIMs:'
\set ON_ERROR_STOP 0
SELECT cmp.assign_sims(:fabrikam, ARRAY[demo.iccid(1)]);
\set ON_ERROR_STOP 1

\echo
\echo '=== 6. The lifecycle ==='
SELECT cmp.set_actor(:reseller_user, is_local => false);
SELECT cmp.set_customer_status(:tailspin, 'SUSPENDED', reason => 'unpaid invoice') AS previous_status;
SELECT cmp.set_customer_status(:tailspin, 'ACTIVE', reason => 'paid') AS previous_status;
\echo 'Terminating a customer that holds SIMs needs release_sims => true:'
\set ON_ERROR_STOP 0
SELECT cmp.set_customer_status(:tailspin, 'TERMINATED');
\set ON_ERROR_STOP 1
SELECT cmp.set_customer_status(:tailspin, 'TERMINATED', reason => 'contract ended',
	release_sims => true) AS previous_status;
\echo 'TERMINATED is final:'
\set ON_ERROR_STOP 0
SELECT cmp.set_customer_status(:tailspin, 'ACTIVE');
\set ON_ERROR_STOP 1
SELECT customer_id, from_status, to_status, changed_by, db_role, reason
  FROM cmp.customer_status_history ORDER BY history_id;
\echo 'The lifecycle as Graphviz DOT, built from cmp.customer_status_transition:'
SELECT cmp.customer_status_graph();

\echo
\echo '=== 7. The audit log (as the CSP user, who sees everything) ==='
SELECT cmp.set_actor(:csp_user, is_local => false);
SELECT event_id, actor_user_id, db_role, operation, resource_type, resource_id, customer_id
  FROM cmp.audit_log ORDER BY event_id;
RESET ROLE;

\echo
\echo '=== 8. Months: the histories, the audit log and the feed are partitioned ==='
\echo 'What a scheduler runs daily (here: make this month and the next two):'
SELECT cmp.clear_actor();
CALL cmp.maintain_partitions(months_ahead => 2);
SELECT i.inhparent::regclass AS partitioned_table, c.relname AS partition,
       pg_get_expr(c.relpartbound, c.oid) AS bounds,
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM cmp.%I', c.relname), false, true, '')))[1]::text::bigint AS row_count
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE c.relnamespace = 'cmp'::regnamespace
 ORDER BY 1, c.relname;
