--
-- Onboarding the customers of a reseller, as a DBA sees it in psql.
--
-- A reseller account and its account user; a billable and a simple customer
-- with their admin users; activation, suspension, resumption and termination
-- with release of the SIM cards; the refusals met on the way (default
-- verbosity: ERROR, DETAIL and HINT); and what history and audit keep.
-- Only stable columns are shown: no timestamps.
--

-- Start clean even if an earlier test left the extension in this database.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS reseller_onboarding CASCADE;
DROP ROLE IF EXISTS regress_ro_portal;
RESET client_min_messages;

CREATE EXTENSION reseller_onboarding;

-- The application's connection role; the DBA lets it name the acting CMP user.
CREATE ROLE regress_ro_portal;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO regress_ro_portal;

--
-- 1. The CSP sets up the reseller (as superuser: the system actor).
--
SELECT cmp.create_account(account_number => 'RS-1001', name => 'Nordic IoT Partners AB',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'BOTH', customer_billing_cycle_day => 1) AS account_id;
-- a reseller account needs its reseller profile
SELECT cmp.create_account(account_number => 'RS-1002', name => 'Half a Reseller',
	account_type => 'RESELLER');
SELECT cmp.create_account(account_number => 'ST-2001', name => 'Fjord Fisheries AS') AS account_id;
SELECT account_id, account_number, name, account_type, customer_invoice_creation,
       customer_invoice_type, customer_billing_cycle_day
  FROM cmp.account ORDER BY account_id;

SELECT cmp.create_user(login => 'ingrid.berg', email => 'ingrid.berg@nordic-iot.example',
	context_level => 'ACCOUNT', account_id => 1, full_name => 'Ingrid Berg',
	is_admin => true) AS user_id;
SELECT cmp.provision_sims(account_id => 1,
	iccids => ARRAY['8946012024000000010', '8946012024000000028', '8946012024000000036'],
	imsis => ARRAY['240011234500001', '240011234500002', '240011234500003'],
	msisdns => ARRAY['46701234501', '46701234502', '46701234503']) AS provisioned;

--
-- 2. The account user, through the portal's connection role.
--
SET ROLE regress_ro_portal;
SELECT cmp.set_actor(1, is_local => false);
SELECT * FROM cmp.whoami();

-- A billable customer with complete company information and its Customer
-- Admin User, created in one call.
SELECT cmp.create_customer(account_id => 1, name => 'Aurora Smart Metering AB',
	billable => true, external_customer_number => 'NIP-C-0042',
	description => 'Electricity smart meters in the Stockholm region',
	country => 'SE', state => 'Stockholm', zip_code => '111 52', city => 'Stockholm',
	street => 'Drottninggatan 12', phone => '+46812345678',
	homepage => 'https://aurora-metering.example',
	linkedin => 'https://www.linkedin.com/company/aurora-metering',
	estimated_annual_revenue => 12500000, revenue_currency => 'SEK',
	admin_login => 'lars.nilsson', admin_email => 'lars.nilsson@aurora-metering.example',
	admin_full_name => 'Lars Nilsson') AS customer_id;

-- A simple (non-billable) customer: a name is enough.
SELECT cmp.create_customer(account_id => 1, name => 'Gotland Bike Share') AS customer_id;

-- Refusals.
-- another reseller's (or any other) account is not even visible to the account user
SELECT cmp.create_customer(account_id => 2, name => 'Trawler Telemetry');
-- the tables are written only through the functions
UPDATE cmp.customer SET name = 'Gotland Bike Share AB' WHERE customer_id = 2;
-- without an actor the portal role may do nothing
SELECT cmp.clear_actor();
SELECT cmp.create_customer(account_id => 1, name => 'Trawler Telemetry');
-- billable customers only for RESELLER accounts (even the system actor)
RESET ROLE;
SELECT cmp.create_customer(account_id => 2, name => 'Trawler Telemetry', billable => true);
SET ROLE regress_ro_portal;
SELECT cmp.set_actor(1, is_local => false);
-- an ACTIVE billable customer needs a complete address
SELECT cmp.create_customer(account_id => 1, name => 'Baltic Cold Chain AB', billable => true,
	status => 'ACTIVE', country => 'SE', city => 'Malmö',
	admin_login => 'baltic.admin', admin_email => 'it@baltic-cold.example');
-- values are checked
SELECT cmp.create_customer(account_id => 1, name => 'Baltic Cold Chain AB', phone => '040-123456');
SELECT cmp.create_customer(account_id => 1, name => 'Baltic Cold Chain AB', country => 'UK');
SELECT cmp.create_customer(account_id => 1, name => 'Baltic Cold Chain AB',
	estimated_annual_revenue => 900000);
SELECT cmp.create_customer(account_id => 1, name => '   ');
-- names are unique in the account regardless of case; external numbers too
SELECT cmp.create_customer(account_id => 1, name => 'AURORA SMART METERING AB');
SELECT cmp.create_customer(account_id => 1, name => 'Aurora Heating AB',
	external_customer_number => 'NIP-C-0042');
-- logins are unique regardless of case
SELECT cmp.create_customer(account_id => 1, name => 'Baltic Cold Chain AB',
	admin_login => 'Lars.Nilsson', admin_email => 'lars@baltic-cold.example');

SELECT customer_id, customer_number, external_customer_number, name, status, billable,
       admin_user_id, sim_count, user_count
  FROM cmp.customer_overview ORDER BY customer_id;

-- Updates: only the given keys change; JSON null clears a field.
SELECT cmp.update_customer(1, '{"phone": "+46812345679", "description": null}');
SELECT cmp.update_customer(1, '{"status": "ACTIVE"}');
SELECT cmp.update_customer(1, '{"zip": "111 53"}');
SELECT cmp.update_customer(1, '{"city": 42}');
SELECT cmp.update_customer(1, '["city", "Uppsala"]');

--
-- 3. The lifecycle.
--
SELECT * FROM cmp.customer_status_transition ORDER BY from_status, to_status;

SELECT cmp.set_customer_status(1, 'ACTIVE', reason => 'contract NIP-2024-042 signed') AS previous_status;
-- billable is settled once the customer has left DRAFT
SELECT cmp.update_customer(1, '{"billable": false}');
-- and an ACTIVE billable customer keeps its address
SELECT cmp.update_customer(1, '{"street": null}');
SELECT cmp.assign_sims(1, ARRAY['8946012024000000010', '8946012024000000028', '8946012024000000036']) AS assigned;

-- The simple customer has no admin user yet.
SELECT cmp.set_customer_status(2, 'ACTIVE');
SELECT cmp.create_customer_user(customer_ids => ARRAY[2]::bigint[], login => 'sofia.gotland',
	email => 'sofia@gotland-bikes.example', full_name => 'Sofia Lind', is_admin => true) AS user_id;
SELECT cmp.set_customer_status(2, 'ACTIVE', reason => 'pilot starts') AS previous_status;
-- nothing returns to DRAFT, and setting the current status changes nothing
SELECT cmp.set_customer_status(2, 'DRAFT');
SELECT cmp.set_customer_status(2, 'ACTIVE') AS previous_status;
SELECT cmp.set_customer_status(2, 'PAUSED');

-- Suspension and resumption.
SELECT cmp.set_customer_status(1, 'SUSPENDED', reason => 'invoice 2024-117 overdue') AS previous_status;

-- The customer's admin still sees the SUSPENDED customer and its SIM cards.
SELECT cmp.set_actor(2, is_local => false);
SELECT login, context_level, customer_ids FROM cmp.whoami();
SELECT customer_number, name, status FROM cmp.customer;
SELECT iccid, account_number, customer_number, customer_name, customer_status FROM cmp.sim_grid ORDER BY iccid;
-- and may change nothing about it
SELECT cmp.set_customer_status(1, 'ACTIVE');

SELECT cmp.set_actor(1, is_local => false);
SELECT cmp.set_customer_status(1, 'ACTIVE', reason => 'invoice 2024-117 paid') AS previous_status;

-- Termination: the SIM cards must go back to the account first...
SELECT cmp.set_customer_status(1, 'TERMINATED', reason => 'contract ended');
-- ...or be released in the same call.
SELECT cmp.set_customer_status(1, 'TERMINATED', reason => 'contract ended', release_sims => true) AS previous_status;
-- TERMINATED is final, and a TERMINATED customer no longer changes.
SELECT cmp.set_customer_status(1, 'ACTIVE');
SELECT cmp.update_customer(1, '{"description": "archived"}');
-- Its name is free again.
SELECT cmp.create_customer(account_id => 1, name => 'Aurora Smart Metering AB') AS customer_id;

-- Only a DRAFT customer can be deleted; the new DRAFT one was a mistake.
SELECT cmp.delete_customer(2);
SELECT cmp.delete_customer(3);

SELECT cmp.clear_actor();
RESET ROLE;

--
-- 4. What is left, what happened, and who did it.
--
SELECT customer_id, account_id, customer_number, external_customer_number, name, status,
       billable, admin_user_id, created_by, activated_by, terminated_by, updated_by,
       activated_at IS NOT NULL AS activated, terminated_at IS NOT NULL AS terminated
  FROM cmp.customer ORDER BY customer_id;
SELECT customer_id, name, country, state, zip_code, city, street, phone, homepage,
       estimated_annual_revenue, revenue_currency
  FROM cmp.customer ORDER BY customer_id;
SELECT user_id, login, full_name, context_level, domain, is_admin, status, account_id
  FROM cmp.app_user ORDER BY user_id;
SELECT user_id, customer_id, account_id, assigned_by FROM cmp.user_customer ORDER BY user_id, customer_id;
SELECT iccid, account_id, customer_id, assigned_at IS NOT NULL AS assigned
  FROM cmp.sim_card ORDER BY iccid;

SELECT customer_id, from_status, to_status, changed_by, db_role, reason
  FROM cmp.customer_status_history ORDER BY history_id;
SELECT iccid, account_id, from_customer_id, to_customer_id, changed_by
  FROM cmp.sim_assignment_history ORDER BY history_id;

SELECT event_id, actor_user_id, db_role, operation, resource_type, resource_id,
       account_id, customer_id, reason
  FROM cmp.audit_log ORDER BY event_id;
-- what the changes were, for updates and status changes
SELECT event_id, operation, customer_id, previous_value, new_value
  FROM cmp.audit_log
 WHERE operation IN ('update_customer', 'set_customer_status')
 ORDER BY event_id;

SELECT cmp.customer_status_graph();

-- Leave the database as we found it.
DROP EXTENSION reseller_onboarding CASCADE;
DROP ROLE regress_ro_portal;
