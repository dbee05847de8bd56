-- Machine-readable refusals (SPEC §8, README "Errors"): every refusal of a
-- rule sets constraint_name to the rule's stable name (and schema_name to
-- cmp); every refusal about one argument sets schema_name, table_name and
-- column_name to the column the argument is stored in.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.  Everything happens in one transaction that is rolled back.
--
-- Each case is one call, run by ef.run() in its own subtransaction (a call
-- that succeeds is rolled back too, so every case meets the same fixture),
-- its error fields read with GET STACKED DIAGNOSTICS.  Cases run as the
-- system actor (the superuser with no actor) unless they name a CMP user,
-- who then acts through the non-superuser role ro_t_ef_app.
--
-- The rule names below are copied from the README's table of rules; the
-- tools-side check test/suites/rule_table.sh keeps the three in step: the
-- README's table, the errrule() names of src/*.c, and this file.

BEGIN;
SELECT plan(150);

SET client_min_messages = warning;

CREATE ROLE ro_t_ef_app NOLOGIN;
CREATE ROLE ro_t_ef_mapped NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_t_ef_app;
CREATE SCHEMA ef;
GRANT USAGE ON SCHEMA ef TO ro_t_ef_app;

-- ---- helpers ---------------------------------------------------------------

-- Ids by name, read past row-level security (SECURITY DEFINER, owned by the
-- superuser), so that a case can name an object its actor cannot see.
CREATE FUNCTION ef.aid(text) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT account_id FROM cmp.account WHERE account_number = $1$$;
CREATE FUNCTION ef.uid(text) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT user_id FROM cmp.app_user_data WHERE login = $1$$;
CREATE FUNCTION ef.cid(text) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT customer_id FROM cmp.customer WHERE name = $1$$;

-- A valid ICCID for every n: 19 digits, prefix 89, Luhn check digit.
\ir fixtures/luhn.sql
CREATE FUNCTION ef.iccid(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('894931' || lpad(n::text, 12, '0'))
$$;

-- An HS256 secret of 32 bytes, base64url without padding.
CREATE FUNCTION ef.secret(seed text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT rtrim(translate(encode(sha256(convert_to(seed, 'UTF8')), 'base64'), '+/', '-_'), '=')
$$;

CREATE TYPE ef.outcome AS (
	sqlstate text,			-- NULL: the call succeeded (and was rolled back)
	message text,
	constraint_name text,	-- NULL where the error field is not set
	schema_name text,
	table_name text,
	column_name text
);

-- Run stmt as actor (a login; NULL: the system actor) in a subtransaction
-- that is always rolled back; the error fields of its refusal.
CREATE FUNCTION ef.run(actor text, stmt text) RETURNS ef.outcome LANGUAGE plpgsql AS $$
DECLARE
	o ef.outcome;
BEGIN
	BEGIN
		IF actor IS NOT NULL THEN
			SET LOCAL ROLE ro_t_ef_app;
			PERFORM cmp.set_actor(ef.uid(actor));
		END IF;
		EXECUTE stmt;
		RAISE EXCEPTION USING ERRCODE = 'EF000', MESSAGE = 'error_fields: succeeded, rolled back';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS o.sqlstate = RETURNED_SQLSTATE, o.message = MESSAGE_TEXT,
			o.constraint_name = CONSTRAINT_NAME, o.schema_name = SCHEMA_NAME,
			o.table_name = TABLE_NAME, o.column_name = COLUMN_NAME;
	END;
	IF o.sqlstate = 'EF000' THEN
		o.sqlstate := NULL;
		o.message := NULL;
	END IF;
	o.constraint_name := nullif(o.constraint_name, '');
	o.schema_name := nullif(o.schema_name, '');
	o.table_name := nullif(o.table_name, '');
	o.column_name := nullif(o.column_name, '');
	RETURN o;
END $$;

-- ---- fixture (system actor) --------------------------------------------------

DO $fixture$
BEGIN
	PERFORM cmp.create_account(account_number => 'EF-R1', name => 'EF Reseller One',
		account_type => 'RESELLER', customer_invoice_creation => true,
		customer_invoice_type => 'PDF', customer_billing_cycle_day => 5);
	PERFORM cmp.create_account(account_number => 'EF-R2', name => 'EF Reseller Two',
		account_type => 'RESELLER', customer_invoice_creation => false,
		customer_invoice_type => 'RAW', customer_billing_cycle_day => 28);
	PERFORM cmp.create_account(account_number => 'EF-S1', name => 'EF Standard One');
	PERFORM cmp.create_account(account_number => 'EF-REQ', name => 'EF Request',
		request_id => 'a0000000-0000-4000-8000-00000000ef01');

	PERFORM cmp.create_user(login => 'ef_csp', email => 'ef.csp@example.com',
		context_level => 'CSP');
	PERFORM cmp.create_user(login => 'ef_mapped', email => 'ef.mapped@example.com',
		context_level => 'CSP', db_role => 'ro_t_ef_mapped');
	PERFORM cmp.create_user(login => 'ef_a1', email => 'ef.a1@example.com',
		context_level => 'ACCOUNT', account_id => ef.aid('EF-R1'), is_admin => true);
	PERFORM cmp.create_user(login => 'ef_locked', email => 'ef.locked@example.com',
		context_level => 'ACCOUNT', account_id => ef.aid('EF-R1'));
	PERFORM cmp.set_user_status(ef.uid('ef_locked'), 'LOCKED');

	-- customers of EF-R1: DRAFT with an admin and an external number; ACTIVE,
	-- billable, with an address; DRAFT without an admin; DRAFT billable without
	-- an address; SUSPENDED; TERMINATED.  One DRAFT customer of EF-R2 and of EF-S1.
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Draft',
		external_customer_number => 'EF-EXT-1',
		admin_login => 'ef_draft_admin', admin_email => 'ef.draft@example.com');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Active', status => 'ACTIVE',
		billable => true, country => 'DE', city => 'Berlin', street => 'Hauptstr. 1', zip_code => '10115',
		admin_login => 'ef_active_admin', admin_email => 'ef.active@example.com');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Bare');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Bill', billable => true,
		admin_login => 'ef_bill_admin', admin_email => 'ef.bill@example.com');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Susp', status => 'ACTIVE',
		admin_login => 'ef_susp_admin', admin_email => 'ef.susp@example.com');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R1'), name => 'EF Term', status => 'ACTIVE',
		admin_login => 'ef_term_admin', admin_email => 'ef.term@example.com');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-R2'), name => 'EF Other');
	PERFORM cmp.create_customer(account_id => ef.aid('EF-S1'), name => 'EF Std');

	-- customer users: ef_cu on EF Draft only; ef_susp_user on EF Susp only; the
	-- admin of EF Active also on EF Susp (it then sees a user it may not change)
	PERFORM cmp.create_customer_user(customer_ids => ARRAY[ef.cid('EF Draft')], login => 'ef_cu',
		email => 'ef.cu@example.com');
	PERFORM cmp.create_customer_user(customer_ids => ARRAY[ef.cid('EF Susp')], login => 'ef_susp_user',
		email => 'ef.susp.user@example.com');
	PERFORM cmp.assign_user_to_customers(ef.uid('ef_active_admin'), ARRAY[ef.cid('EF Susp')]);
	PERFORM cmp.set_customer_status(ef.cid('EF Susp'), 'SUSPENDED');
	PERFORM cmp.set_customer_status(ef.cid('EF Term'), 'TERMINATED');

	-- SIMs: 1-6 of EF-R1 (1 on EF Active, 2 on EF Draft), 11 of EF-R2
	PERFORM cmp.provision_sims(ef.aid('EF-R1'), ARRAY(SELECT ef.iccid(n) FROM generate_series(1, 6) AS n));
	PERFORM cmp.provision_sims(ef.aid('EF-R2'), ARRAY[ef.iccid(11)]);
	PERFORM cmp.assign_sims(ef.cid('EF Active'), ARRAY[ef.iccid(1)]);
	PERFORM cmp.assign_sims(ef.cid('EF Draft'), ARRAY[ef.iccid(2)]);

	PERFORM cmp.create_event_consumer('ef_feed');
	PERFORM cmp.add_identity_key('ef-key', 'https://idp.example', 'HS256', ef.secret('ef key one'));
END
$fixture$;

-- ---- the rules ---------------------------------------------------------------

-- The README's table of rules, name and SQLSTATE.  It must match the table
-- in README.md ("Errors"); test/suites/rule_table.sh checks that it does.
CREATE TABLE ef.rule (name text PRIMARY KEY, sqlstate text NOT NULL);
INSERT INTO ef.rule (name, sqlstate) VALUES
	('account_number_unique', '23505'),
	('reseller_profile_required', '22023'),
	('login_unique', '23505'),
	('db_role_unique', '23505'),
	('csp_user_has_no_account', '22023'),
	('customer_users_via_create_customer_user', '22023'),
	('actor_not_locked', '55000'),
	('customer_name_unique', '23505'),
	('external_customer_number_unique', '23505'),
	('customer_created_draft_or_active', '22023'),
	('billable_needs_reseller_account', '22023'),
	('billable_fixed_after_draft', '55000'),
	('billable_customer_needs_address', '55000'),
	('customer_terminated_read_only', '55000'),
	('customer_status_transition', '55000'),
	('customer_activation_needs_admin', '55000'),
	('terminated_customer_holds_no_sims', '55000'),
	('delete_only_draft_customer', '55000'),
	('delete_customer_holds_no_sims', '55000'),
	('customer_user_one_account', '22023'),
	('suspended_customer_read_only', '55000'),
	('customer_admin_stays_assigned', '55000'),
	('customer_user_keeps_a_customer', '55000'),
	('user_cannot_lock_itself', '55000'),
	('iccid_unique', '23505'),
	('sim_of_own_account', '22023'),
	('sim_on_other_customer', '55000'),
	('sims_to_draft_or_active_customer', '55000'),
	('free_sims_available', '55000'),
	('event_consumer_name_unique', '23505'),
	('identity_key_unique', '23505'),
	('request_id_same_call', '22023');

-- One call per rule that breaks exactly that rule, and one per further
-- place a rule is enforced.  sqlstate: NULL means the README's; set where a
-- refusal of the rule is raised on the arguments alone (22023, SPEC §8).
CREATE TABLE ef.rule_case (
	ord serial PRIMARY KEY,
	rule text NOT NULL REFERENCES ef.rule,
	label text NOT NULL,
	actor text,
	stmt text NOT NULL,
	sqlstate text
);
INSERT INTO ef.rule_case (rule, label, actor, stmt, sqlstate) VALUES
	('account_number_unique', 'create_account with an existing account number', NULL,
		$$SELECT cmp.create_account('EF-R1', 'Again')$$, NULL),
	('reseller_profile_required', 'create_account RESELLER without its profile', NULL,
		$$SELECT cmp.create_account('EF-NEW', 'EF New', 'RESELLER')$$, NULL),
	('reseller_profile_required', 'create_account STANDARD with a reseller profile', NULL,
		$$SELECT cmp.create_account('EF-NEW', 'EF New', 'STANDARD', customer_invoice_type => 'PDF')$$, NULL),
	('login_unique', 'create_user with an existing login in other case', NULL,
		$$SELECT cmp.create_user('EF_CSP', 'ef.new@example.com', 'CSP')$$, NULL),
	('login_unique', 'create_customer with an existing admin_login', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', admin_login => 'ef_cu', admin_email => 'ef.new@example.com')$$, NULL),
	('db_role_unique', 'create_user with a db_role mapped to another user', NULL,
		$$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', db_role => 'ro_t_ef_mapped')$$, NULL),
	('csp_user_has_no_account', 'create_user CSP with an account', NULL,
		$$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', account_id => ef.aid('EF-R1'))$$, NULL),
	('customer_users_via_create_customer_user', 'create_user CUSTOMER', NULL,
		$$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CUSTOMER', account_id => ef.aid('EF-R1'))$$, NULL),
	('actor_not_locked', 'set_actor of a LOCKED user', NULL,
		$$SELECT cmp.set_actor(ef.uid('ef_locked'))$$, NULL),
	('customer_name_unique', 'create_customer with a used name in other case', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'ef draft')$$, NULL),
	('customer_name_unique', 'update_customer to a used name', NULL,
		$$SELECT cmp.update_customer(ef.cid('EF Bare'), '{"name": "EF DRAFT"}')$$, NULL),
	('external_customer_number_unique', 'create_customer with a used external number', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', external_customer_number => 'EF-EXT-1')$$, NULL),
	('customer_created_draft_or_active', 'create_customer SUSPENDED', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', status => 'SUSPENDED')$$, NULL),
	('billable_needs_reseller_account', 'create_customer billable on a STANDARD account', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-S1'), 'EF New', billable => true)$$, NULL),
	('billable_needs_reseller_account', 'update_customer billable on a STANDARD account', NULL,
		$$SELECT cmp.update_customer(ef.cid('EF Std'), '{"billable": true}')$$, NULL),
	('billable_fixed_after_draft', 'update_customer billable of an ACTIVE customer', NULL,
		$$SELECT cmp.update_customer(ef.cid('EF Active'), '{"billable": false}')$$, NULL),
	('billable_customer_needs_address', 'update_customer clears the city of a billable ACTIVE customer', NULL,
		$$SELECT cmp.update_customer(ef.cid('EF Active'), '{"city": null}')$$, NULL),
	('billable_customer_needs_address', 'set_customer_status ACTIVE of a billable customer without an address', NULL,
		$$SELECT cmp.set_customer_status(ef.cid('EF Bill'), 'ACTIVE')$$, NULL),
	('billable_customer_needs_address', 'create_customer ACTIVE billable without an address', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', billable => true, status => 'ACTIVE',
			admin_login => 'ef_new_admin', admin_email => 'ef.new.admin@example.com')$$, '22023'),
	('customer_terminated_read_only', 'update_customer of a TERMINATED customer', NULL,
		$$SELECT cmp.update_customer(ef.cid('EF Term'), '{"description": "x"}')$$, NULL),
	('customer_terminated_read_only', 'assign_user_to_customers to a TERMINATED customer', NULL,
		$$SELECT cmp.assign_user_to_customers(ef.uid('ef_cu'), ARRAY[ef.cid('EF Term')])$$, NULL),
	('customer_status_transition', 'set_customer_status TERMINATED -> ACTIVE', NULL,
		$$SELECT cmp.set_customer_status(ef.cid('EF Term'), 'ACTIVE')$$, NULL),
	('customer_activation_needs_admin', 'set_customer_status ACTIVE without an admin user', NULL,
		$$SELECT cmp.set_customer_status(ef.cid('EF Bare'), 'ACTIVE')$$, NULL),
	('customer_activation_needs_admin', 'create_customer ACTIVE without an admin user', NULL,
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', status => 'ACTIVE')$$, '22023'),
	('terminated_customer_holds_no_sims', 'set_customer_status TERMINATED of a customer holding SIMs', NULL,
		$$SELECT cmp.set_customer_status(ef.cid('EF Active'), 'TERMINATED')$$, NULL),
	('delete_only_draft_customer', 'delete_customer of an ACTIVE customer', NULL,
		$$SELECT cmp.delete_customer(ef.cid('EF Active'))$$, NULL),
	('delete_customer_holds_no_sims', 'delete_customer of a DRAFT customer holding SIMs', NULL,
		$$SELECT cmp.delete_customer(ef.cid('EF Draft'))$$, NULL),
	('customer_user_one_account', 'create_customer_user on customers of two accounts', NULL,
		$$SELECT cmp.create_customer_user(ARRAY[ef.cid('EF Draft'), ef.cid('EF Other')], 'ef_new_cu', 'ef.new.cu@example.com')$$, NULL),
	('customer_user_one_account', 'assign_user_to_customers to a customer of another account', NULL,
		$$SELECT cmp.assign_user_to_customers(ef.uid('ef_cu'), ARRAY[ef.cid('EF Other')])$$, NULL),
	('suspended_customer_read_only', 'a customer admin creates a user of its SUSPENDED customer', 'ef_susp_admin',
		$$SELECT cmp.create_customer_user(ARRAY[ef.cid('EF Susp')], 'ef_new_cu', 'ef.new.cu@example.com')$$, NULL),
	('suspended_customer_read_only', 'a customer admin locks a user of a SUSPENDED customer only', 'ef_active_admin',
		$$SELECT cmp.set_user_status(ef.uid('ef_susp_user'), 'LOCKED')$$, NULL),
	('customer_admin_stays_assigned', 'unassign_user_from_customers of a customer''s admin', NULL,
		$$SELECT cmp.unassign_user_from_customers(ef.uid('ef_draft_admin'), ARRAY[ef.cid('EF Draft')])$$, NULL),
	('customer_user_keeps_a_customer', 'unassign_user_from_customers of a user''s last customer', NULL,
		$$SELECT cmp.unassign_user_from_customers(ef.uid('ef_cu'), ARRAY[ef.cid('EF Draft')])$$, NULL),
	('user_cannot_lock_itself', 'set_user_status(own id, LOCKED)', 'ef_a1',
		$$SELECT cmp.set_user_status(ef.uid('ef_a1'), 'LOCKED')$$, NULL),
	('iccid_unique', 'provision_sims of an existing ICCID', NULL,
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(3)])$$, NULL),
	('iccid_unique', 'provision_sims of a repeated ICCID', NULL,
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(21), ef.iccid(21)])$$, NULL),
	('sim_of_own_account', 'the system actor assigns a SIM of another account', NULL,
		$$SELECT cmp.assign_sims(ef.cid('EF Draft'), ARRAY[ef.iccid(11)])$$, NULL),
	('sim_on_other_customer', 'assign_sims of a SIM on another customer', NULL,
		$$SELECT cmp.assign_sims(ef.cid('EF Draft'), ARRAY[ef.iccid(1)])$$, NULL),
	('sim_on_other_customer', 'assign_sim_range over a SIM on another customer', NULL,
		$$SELECT cmp.assign_sim_range(ef.cid('EF Draft'), ef.iccid(1), ef.iccid(1))$$, NULL),
	('sims_to_draft_or_active_customer', 'assign_sims to a SUSPENDED customer', NULL,
		$$SELECT cmp.assign_sims(ef.cid('EF Susp'), ARRAY[ef.iccid(3)])$$, NULL),
	('free_sims_available', 'assign_free_sims of more SIMs than are free', NULL,
		$$SELECT cmp.assign_free_sims(ef.cid('EF Draft'), 100)$$, NULL),
	('event_consumer_name_unique', 'create_event_consumer with a name the owner uses', NULL,
		$$SELECT cmp.create_event_consumer('ef_feed')$$, NULL),
	('identity_key_unique', 'add_identity_key with an existing key id', NULL,
		$$SELECT cmp.add_identity_key('ef-key', 'https://idp.example', 'HS256', ef.secret('ef key two'))$$, NULL),
	('request_id_same_call', 'a request_id used for other arguments', NULL,
		$$SELECT cmp.create_account('EF-REQ2', 'EF Request Two', request_id => 'a0000000-0000-4000-8000-00000000ef01')$$, NULL);

CREATE TABLE ef.rule_result AS
SELECT c.ord, c.rule, c.label, coalesce(c.sqlstate, r.sqlstate) AS want_state, o.*
  FROM ef.rule_case AS c JOIN ef.rule AS r ON r.name = c.rule,
	   LATERAL ef.run(c.actor, c.stmt) AS o
 ORDER BY c.ord;

-- 44 cases: SQLSTATE, constraint_name and schema_name of each
SELECT is(
	format('%s constraint=%s schema=%s', coalesce(x.sqlstate, 'succeeded'),
		coalesce(x.constraint_name, '(none)'), coalesce(x.schema_name, '(none)'))
	|| CASE WHEN x.sqlstate IS DISTINCT FROM x.want_state THEN ' -- ' || coalesce(x.message, '') ELSE '' END,
	format('%s constraint=%s schema=cmp', x.want_state, x.rule),
	format('rule %s: %s', x.rule, x.label))
  FROM ef.rule_result AS x ORDER BY x.ord;

SELECT is(
	(SELECT string_agg(r.name, ', ' ORDER BY r.name) FROM ef.rule AS r
	  WHERE NOT EXISTS (SELECT 1 FROM ef.rule_case AS c WHERE c.rule = r.name)),
	NULL,
	'every rule of the README''s table has a case here');

-- ---- refusals about one argument ---------------------------------------------

-- The column each argument is stored in (for arguments stored in no column:
-- the one src/fields.c maps them to).  col NULL: only schema_name and
-- table_name are checked (the argument is a whole row, or no column).
CREATE TABLE ef.field_case (
	ord serial PRIMARY KEY,
	fn text NOT NULL,
	label text NOT NULL,
	stmt text NOT NULL,
	sqlstate text NOT NULL,
	tbl text NOT NULL,
	col text
);
INSERT INTO ef.field_case (fn, label, stmt, sqlstate, tbl, col) VALUES
	-- create_account
	('create_account', 'account_number empty', $$SELECT cmp.create_account('', 'EF New')$$, '22004', 'account', 'account_number'),
	('create_account', 'name of 201 characters', $$SELECT cmp.create_account('EF-NEW', repeat('n', 201))$$, '22023', 'account', 'name'),
	('create_account', 'account_type unknown', $$SELECT cmp.create_account('EF-NEW', 'EF New', 'PARTNER')$$, '22023', 'account', 'account_type'),
	('create_account', 'customer_invoice_type unknown',
		$$SELECT cmp.create_account('EF-NEW', 'EF New', 'RESELLER', true, 'XML', 5)$$, '22023', 'account', 'customer_invoice_type'),
	('create_account', 'customer_billing_cycle_day 29',
		$$SELECT cmp.create_account('EF-NEW', 'EF New', 'RESELLER', true, 'PDF', 29)$$, '22023', 'account', 'customer_billing_cycle_day'),
	-- create_user
	('create_user', 'login NULL', $$SELECT cmp.create_user(NULL, 'ef.new@example.com', 'CSP')$$, '22004', 'app_user', 'login'),
	('create_user', 'login with a blank inside', $$SELECT cmp.create_user('ef new', 'ef.new@example.com', 'CSP')$$, '22023', 'app_user', 'login'),
	('create_user', 'email malformed', $$SELECT cmp.create_user('ef_new', 'not-an-email', 'CSP')$$, '22023', 'app_user', 'email'),
	('create_user', 'email with a control character', $$SELECT cmp.create_user('ef_new', E'ef\x01new@example.com', 'CSP')$$, '22023', 'app_user', 'email'),
	('create_user', 'context_level unknown', $$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'ROOT')$$, '22023', 'app_user', 'context_level'),
	('create_user', 'account_id NULL for an ACCOUNT user', $$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'ACCOUNT')$$, '22004', 'app_user', 'account_id'),
	('create_user', 'is_admin NULL', $$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', is_admin => NULL)$$, '22004', 'app_user', 'is_admin'),
	('create_user', 'full_name of 201 characters', $$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', full_name => repeat('f', 201))$$, '22023', 'app_user', 'full_name'),
	('create_user', 'db_role that does not exist', $$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', db_role => 'ro_t_ef_nosuch')$$, '22023', 'app_user', 'db_role'),
	('create_user', 'db_role a superuser',
		$$SELECT cmp.create_user('ef_new', 'ef.new@example.com', 'CSP', db_role => (SELECT rolname FROM pg_roles WHERE oid = 10))$$, '22023', 'app_user', 'db_role'),
	-- provision_sims
	('provision_sims', 'account_id NULL', $$SELECT cmp.provision_sims(NULL, ARRAY[ef.iccid(21)])$$, '22004', 'sim_card', 'account_id'),
	('provision_sims', 'iccids NULL', $$SELECT cmp.provision_sims(ef.aid('EF-R1'), NULL)$$, '22004', 'sim_card', 'iccid'),
	('provision_sims', 'iccids with a NULL element', $$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(21), NULL])$$, '22004', 'sim_card', 'iccid'),
	('provision_sims', 'iccids with a bad check digit',
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[left(ef.iccid(21), 18) || (right(ef.iccid(21), 1)::int + 1) % 10])$$, '22023', 'sim_card', 'iccid'),
	('provision_sims', 'iccids with letters', $$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY['89abcdefghijklmnopq'])$$, '22023', 'sim_card', 'iccid'),
	('provision_sims', 'iccids two-dimensional',
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[[ef.iccid(21)], [ef.iccid(22)]])$$, '22023', 'sim_card', 'iccid'),
	('provision_sims', 'imsis of 14 digits',
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(21)], imsis => ARRAY['26201000000002'])$$, '22023', 'sim_card', 'imsi'),
	('provision_sims', 'imsis one more than iccids',
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(21)], imsis => ARRAY['262010000000021', '262010000000022'])$$, '22023', 'sim_card', 'imsi'),
	('provision_sims', 'msisdns of 7 digits',
		$$SELECT cmp.provision_sims(ef.aid('EF-R1'), ARRAY[ef.iccid(21)], msisdns => ARRAY['4917000'])$$, '22023', 'sim_card', 'msisdn'),
	-- create_customer
	('create_customer', 'account_id NULL', $$SELECT cmp.create_customer(NULL, 'EF New')$$, '22004', 'customer', 'account_id'),
	('create_customer', 'name NULL', $$SELECT cmp.create_customer(ef.aid('EF-R1'), NULL)$$, '22004', 'customer', 'name'),
	('create_customer', 'name blanks only', $$SELECT cmp.create_customer(ef.aid('EF-R1'), E' \t ')$$, '22004', 'customer', 'name'),
	('create_customer', 'name with a control character', $$SELECT cmp.create_customer(ef.aid('EF-R1'), E'EF\x01New')$$, '22023', 'customer', 'name'),
	('create_customer', 'name with a zero-width space', $$SELECT cmp.create_customer(ef.aid('EF-R1'), E'EF\u200BNew')$$, '22023', 'customer', 'name'),
	('create_customer', 'description of 2001 characters',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', description => repeat('d', 2001))$$, '22023', 'customer', 'description'),
	('create_customer', 'zip_code of 21 characters',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', zip_code => repeat('9', 21))$$, '22023', 'customer', 'zip_code'),
	('create_customer', 'country XX', $$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', country => 'XX')$$, '22023', 'customer', 'country'),
	('create_customer', 'phone without +', $$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', phone => '4930123456')$$, '22023', 'customer', 'phone'),
	('create_customer', 'homepage javascript:',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', homepage => 'javascript:alert(1)')$$, '22023', 'customer', 'homepage'),
	('create_customer', 'linkedin ftp:',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', linkedin => 'ftp://example.com')$$, '22023', 'customer', 'linkedin'),
	('create_customer', 'revenue_currency EURO',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', estimated_annual_revenue => 5, revenue_currency => 'EURO')$$, '22023', 'customer', 'revenue_currency'),
	('create_customer', 'estimated_annual_revenue negative',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', estimated_annual_revenue => -1, revenue_currency => 'EUR')$$, '22023', 'customer', 'estimated_annual_revenue'),
	('create_customer', 'estimated_annual_revenue of 16 digits',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', estimated_annual_revenue => 1e16, revenue_currency => 'EUR')$$, '22023', 'customer', 'estimated_annual_revenue'),
	('create_customer', 'billable NULL', $$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', billable => NULL)$$, '22004', 'customer', 'billable'),
	('create_customer', 'status unknown', $$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', status => 'BOGUS')$$, '22023', 'customer', 'status'),
	('create_customer', 'status NULL', $$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', status => NULL)$$, '22004', 'customer', 'status'),
	('create_customer', 'admin_login of 129 characters',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', admin_login => repeat('l', 129), admin_email => 'ef.new@example.com')$$, '22023', 'app_user', 'login'),
	('create_customer', 'admin_login with a blank inside',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', admin_login => 'ef new', admin_email => 'ef.new@example.com')$$, '22023', 'app_user', 'login'),
	('create_customer', 'admin_email malformed',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', admin_login => 'ef_new', admin_email => 'a@@example.com')$$, '22023', 'app_user', 'email'),
	('create_customer', 'admin_full_name of 201 characters',
		$$SELECT cmp.create_customer(ef.aid('EF-R1'), 'EF New', admin_login => 'ef_new', admin_email => 'ef.new@example.com', admin_full_name => repeat('f', 201))$$, '22023', 'app_user', 'full_name'),
	-- update_customer
	('update_customer', 'customer_id NULL', $$SELECT cmp.update_customer(NULL, '{"city": "Hamburg"}')$$, '22004', 'customer', 'customer_id'),
	('update_customer', 'changes NULL', $$SELECT cmp.update_customer(ef.cid('EF Draft'), NULL)$$, '22004', 'customer', NULL),
	('update_customer', 'country XX', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"country": "XX"}')$$, '22023', 'customer', 'country'),
	('update_customer', 'phone malformed', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"phone": "abc"}')$$, '22023', 'customer', 'phone'),
	('update_customer', 'name blanks only', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"name": "   "}')$$, '22004', 'customer', 'name'),
	('update_customer', 'name JSON null', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"name": null}')$$, '22004', 'customer', 'name'),
	('update_customer', 'billable JSON null', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"billable": null}')$$, '22004', 'customer', 'billable'),
	('update_customer', 'description a JSON boolean', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"description": true}')$$, '22023', 'customer', 'description'),
	('update_customer', 'customer_number, which cannot change', $$SELECT cmp.update_customer(ef.cid('EF Draft'), '{"customer_number": 5}')$$, '22023', 'customer', 'customer_number'),
	-- delete_customer
	('delete_customer', 'customer_id NULL', $$SELECT cmp.delete_customer(NULL)$$, '22004', 'customer', 'customer_id'),
	-- set_customer_status
	('set_customer_status', 'customer_id NULL', $$SELECT cmp.set_customer_status(NULL, 'ACTIVE')$$, '22004', 'customer', 'customer_id'),
	('set_customer_status', 'status unknown', $$SELECT cmp.set_customer_status(ef.cid('EF Draft'), 'DELETED')$$, '22023', 'customer', 'status'),
	('set_customer_status', 'reason of 1001 characters',
		$$SELECT cmp.set_customer_status(ef.cid('EF Draft'), 'ACTIVE', reason => repeat('r', 1001))$$, '22023', 'customer_status_history', 'reason'),
	('set_customer_status', 'release_sims NULL',
		$$SELECT cmp.set_customer_status(ef.cid('EF Draft'), 'ACTIVE', release_sims => NULL)$$, '22004', 'sim_card', 'customer_id'),
	-- import_customers: customers holds whole rows (no one column)
	('import_customers', 'customers NULL', $$SELECT count(*) FROM cmp.import_customers(NULL)$$, '22004', 'customer', NULL),
	('import_customers', 'customers not a JSON array', $$SELECT count(*) FROM cmp.import_customers('{}')$$, '22023', 'customer', NULL),
	('import_customers', 'all_or_nothing NULL', $$SELECT count(*) FROM cmp.import_customers('[]', NULL)$$, '22004', 'customer', NULL),
	-- create_customer_user
	('create_customer_user', 'customer_ids NULL', $$SELECT cmp.create_customer_user(NULL, 'ef_new_cu', 'ef.new.cu@example.com')$$, '22004', 'user_customer', 'customer_id'),
	('create_customer_user', 'customer_ids empty', $$SELECT cmp.create_customer_user('{}', 'ef_new_cu', 'ef.new.cu@example.com')$$, '22023', 'user_customer', 'customer_id'),
	('create_customer_user', 'customer_ids with a NULL element',
		$$SELECT cmp.create_customer_user(ARRAY[ef.cid('EF Draft'), NULL], 'ef_new_cu', 'ef.new.cu@example.com')$$, '22004', 'user_customer', 'customer_id'),
	('create_customer_user', 'customer_ids two-dimensional',
		$$SELECT cmp.create_customer_user(ARRAY[[ef.cid('EF Draft')], [ef.cid('EF Bare')]], 'ef_new_cu', 'ef.new.cu@example.com')$$, '22023', 'user_customer', 'customer_id'),
	('create_customer_user', 'login with a blank inside',
		$$SELECT cmp.create_customer_user(ARRAY[ef.cid('EF Draft')], 'ef new', 'ef.new.cu@example.com')$$, '22023', 'app_user', 'login'),
	('create_customer_user', 'email NULL', $$SELECT cmp.create_customer_user(ARRAY[ef.cid('EF Draft')], 'ef_new_cu', NULL)$$, '22004', 'app_user', 'email'),
	-- assign_user_to_customers, unassign_user_from_customers
	('assign_user_to_customers', 'user_id NULL', $$SELECT cmp.assign_user_to_customers(NULL, ARRAY[ef.cid('EF Bare')])$$, '22004', 'app_user', 'user_id'),
	('assign_user_to_customers', 'customer_ids empty', $$SELECT cmp.assign_user_to_customers(ef.uid('ef_cu'), '{}')$$, '22023', 'user_customer', 'customer_id'),
	('unassign_user_from_customers', 'customer_ids NULL', $$SELECT cmp.unassign_user_from_customers(ef.uid('ef_cu'), NULL)$$, '22004', 'user_customer', 'customer_id'),
	('unassign_user_from_customers', 'customer_ids with a NULL element',
		$$SELECT cmp.unassign_user_from_customers(ef.uid('ef_cu'), ARRAY[NULL]::bigint[])$$, '22004', 'user_customer', 'customer_id'),
	-- set_user_status
	('set_user_status', 'user_id NULL', $$SELECT cmp.set_user_status(NULL, 'LOCKED')$$, '22004', 'app_user', 'user_id'),
	('set_user_status', 'status unknown', $$SELECT cmp.set_user_status(ef.uid('ef_cu'), 'DISABLED')$$, '22023', 'app_user', 'status'),
	('set_user_status', 'status empty', $$SELECT cmp.set_user_status(ef.uid('ef_cu'), '')$$, '22004', 'app_user', 'status'),
	-- assign_sims, unassign_sims
	('assign_sims', 'customer_id NULL', $$SELECT cmp.assign_sims(NULL, ARRAY[ef.iccid(3)])$$, '22004', 'sim_card', 'customer_id'),
	('assign_sims', 'iccids of the wrong length', $$SELECT cmp.assign_sims(ef.cid('EF Draft'), ARRAY['12345'])$$, '22023', 'sim_card', 'iccid'),
	('assign_sims', 'reassign NULL', $$SELECT cmp.assign_sims(ef.cid('EF Draft'), ARRAY[ef.iccid(3)], NULL)$$, '22004', 'sim_card', 'customer_id'),
	('unassign_sims', 'iccids NULL', $$SELECT cmp.unassign_sims(NULL)$$, '22004', 'sim_card', 'iccid'),
	('unassign_sims', 'iccids with an empty element', $$SELECT cmp.unassign_sims('{""}')$$, '22023', 'sim_card', 'iccid'),
	-- assign_sim_range
	('assign_sim_range', 'first_iccid NULL', $$SELECT cmp.assign_sim_range(ef.cid('EF Draft'), NULL, ef.iccid(6))$$, '22004', 'sim_card', 'iccid'),
	('assign_sim_range', 'first_iccid with letters', $$SELECT cmp.assign_sim_range(ef.cid('EF Draft'), '89abcdefghijklmnopq', ef.iccid(6))$$, '22023', 'sim_card', 'iccid'),
	('assign_sim_range', 'last_iccid of 12 digits', $$SELECT cmp.assign_sim_range(ef.cid('EF Draft'), ef.iccid(3), '894931000000')$$, '22023', 'sim_card', 'iccid'),
	-- assign_free_sims
	('assign_free_sims', 'count NULL', $$SELECT cmp.assign_free_sims(ef.cid('EF Draft'), NULL)$$, '22004', 'sim_card', 'customer_id'),
	('assign_free_sims', 'count 0', $$SELECT cmp.assign_free_sims(ef.cid('EF Draft'), 0)$$, '22023', 'sim_card', 'customer_id'),
	('assign_free_sims', 'iccid_prefix with letters', $$SELECT cmp.assign_free_sims(ef.cid('EF Draft'), 1, '89ab')$$, '22023', 'sim_card', 'iccid'),
	-- the change feed
	('create_event_consumer', 'name NULL', $$SELECT cmp.create_event_consumer(NULL)$$, '22004', 'event_consumer', 'name'),
	('create_event_consumer', 'name of 64 characters', $$SELECT cmp.create_event_consumer(repeat('c', 64))$$, '22023', 'event_consumer', 'name'),
	('drop_event_consumer', 'name empty', $$SELECT cmp.drop_event_consumer('')$$, '22004', 'event_consumer', 'name'),
	('read_events', 'consumer NULL', $$SELECT count(*) FROM cmp.read_events(NULL)$$, '22004', 'event_consumer', 'name'),
	('read_events', 'max_events 0', $$SELECT count(*) FROM cmp.read_events('ef_feed', 0)$$, '22023', 'event', 'event_id'),
	('ack_events', 'up_to_event_id NULL', $$SELECT cmp.ack_events('ef_feed', NULL)$$, '22004', 'event_consumer', 'acked_event_id'),
	('ack_events', 'up_to_event_id negative', $$SELECT cmp.ack_events('ef_feed', -1)$$, '22023', 'event_consumer', 'acked_event_id'),
	('ack_events', 'up_to_event_id beyond the newest event', $$SELECT cmp.ack_events('ef_feed', 999999999)$$, '22023', 'event_consumer', 'acked_event_id'),
	('purge_events', 'older_than NULL', $$SELECT cmp.purge_events(NULL)$$, '22004', 'event', 'occurred_at'),
	('purge_events', 'older_than negative', $$SELECT cmp.purge_events('-1 day')$$, '22023', 'event', 'occurred_at'),
	-- identity keys
	('add_identity_key', 'key_id empty', $$SELECT cmp.add_identity_key('', 'https://idp.example', 'HS256', ef.secret('k'))$$, '22004', 'identity_key', 'key_id'),
	('add_identity_key', 'algorithm unknown', $$SELECT cmp.add_identity_key('ef-k2', 'https://idp.example', 'XX256', ef.secret('k'))$$, '22023', 'identity_key', 'algorithm'),
	('add_identity_key', 'key NULL', $$SELECT cmp.add_identity_key('ef-k2', 'https://idp.example', 'HS256', NULL)$$, '22004', 'identity_key', 'key_material'),
	('add_identity_key', 'key an HS256 secret of 3 bytes', $$SELECT cmp.add_identity_key('ef-k2', 'https://idp.example', 'HS256', 'YWJj')$$, '22023', 'identity_key', 'key_material'),
	('add_identity_key', 'valid_until in the past',
		$$SELECT cmp.add_identity_key('ef-k2', 'https://idp.example', 'HS256', ef.secret('k'), valid_until => now() - interval '1 day')$$, '22023', 'identity_key', 'valid_until'),
	('revoke_identity_key', 'key_id NULL', $$SELECT cmp.revoke_identity_key(NULL)$$, '22004', 'identity_key', 'key_id'),
	-- the actor
	('set_actor', 'user_id NULL', $$SELECT cmp.set_actor(NULL)$$, '22004', 'app_user', 'user_id');

CREATE TABLE ef.field_result AS
SELECT c.ord, c.fn, c.label, c.sqlstate AS want_state, c.tbl, c.col, o.*
  FROM ef.field_case AS c, LATERAL ef.run(NULL, c.stmt) AS o
 ORDER BY c.ord;

-- 103 cases: SQLSTATE, schema_name and table_name.column_name of each
SELECT is(
	format('%s schema=%s %s', coalesce(x.sqlstate, 'succeeded'), coalesce(x.schema_name, '(none)'),
		CASE WHEN x.col IS NULL THEN 'table=' || coalesce(x.table_name, '(none)')
			 ELSE 'column=' || coalesce(x.table_name, '(none)') || '.' || coalesce(x.column_name, '(none)') END)
	|| CASE WHEN x.sqlstate IS DISTINCT FROM x.want_state THEN ' -- ' || coalesce(x.message, '') ELSE '' END,
	format('%s schema=cmp %s', x.want_state,
		CASE WHEN x.col IS NULL THEN 'table=' || x.tbl ELSE 'column=' || x.tbl || '.' || x.col END),
	format('field %s: %s', x.fn, x.label))
  FROM ef.field_result AS x ORDER BY x.ord;

-- every changing function (those cmp.actor_can knows) that takes arguments
-- has at least one case above
CREATE FUNCTION ef.changing_functions() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	f text;
BEGIN
	FOR f IN SELECT DISTINCT p.proname::text FROM pg_catalog.pg_proc AS p
			  WHERE p.pronamespace = 'cmp'::regnamespace AND p.pronargs > 0 ORDER BY 1 LOOP
		BEGIN
			PERFORM cmp.actor_can(f);
			RETURN NEXT f;
		EXCEPTION WHEN invalid_parameter_value THEN
			NULL;		-- not a changing function
		END;
	END LOOP;
END $$;
SELECT is(
	(SELECT string_agg(f, ', ' ORDER BY f) FROM ef.changing_functions() AS f
	  WHERE NOT EXISTS (SELECT 1 FROM ef.field_case AS c WHERE c.fn = f)),
	NULL,
	'every changing function with arguments has a field case');

-- what is reported is a real column: table_name.column_name of every refusal
-- above names a column of that relation of schema cmp
SELECT is(
	(SELECT string_agg(DISTINCT format('%s.%s (%s: %s)', x.table_name, x.column_name, x.fn, x.label), '; ')
	   FROM (SELECT table_name, column_name, fn, label FROM ef.field_result
			 UNION ALL
			 SELECT table_name, column_name, rule, label FROM ef.rule_result) AS x
	  WHERE x.column_name IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
						 WHERE a.attrelid = to_regclass(format('cmp.%I', x.table_name))
						   AND a.attname = x.column_name AND a.attnum > 0 AND NOT a.attisdropped)),
	NULL,
	'every column_name reported is a column of cmp.table_name');

SELECT * FROM finish();
ROLLBACK;
